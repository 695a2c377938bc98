"""Nadam (Dozat, 2016): Adam with Nesterov momentum, in Keras 3's form (keras/src/optimizers/nadam.py)."""
from __future__ import annotations

import numpy as np

from npnet.optimizers.base import LearningRate, Optimizer, check_moments, keras_exact, keras_rounded


class Nadam(Optimizer):
    """Adam whose first moment looks one step ahead, with Dozat's momentum schedule.

        u_t = beta_1 * (1 - 0.5 * 0.96**t)            (and u_{t+1} likewise)
        P_t = P_{t-1} * u_t                           (P_0 = 1, kept in ``u_product``)
        m += (g - m) * (1 - beta_1); v += (g*g - v) * (1 - beta_2)
        m_hat = u_{t+1} * m / (1 - P_t * u_{t+1}) + (1 - u_t) * g / (1 - P_t)
        w -= lr * m_hat / (sqrt(v / (1 - beta_2**t)) + epsilon)
    PyTorch's NAdam is the same rule with eps outside the root of v_hat and momentum_decay 0.004.
    docs/optimizers.md#nadam.
    """

    name = "nadam"
    hyperparameters = ("beta_1", "beta_2", "epsilon")
    slot_names = ("momentum", "velocity")
    scratch_names = ("denominator",)

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.beta_1, self.beta_2, self.epsilon = check_moments(beta_1, beta_2, epsilon)

    def build_globals(self, dtype):
        self._u_product = np.ones((), dtype)   # Keras: one Variable in the first parameter's dtype

    def _global_state(self):
        return {"u_product": self._u_product} if self._slots is not None else {}

    def prepare_step(self):
        # Keras updates the product once per step with beta_1 and 0.96 as Python floats (unrounded),
        # while update_step casts them with ops.cast (float32-rounded): both kept as Keras has them.
        dtype = self._u_product.dtype.type
        self._u_product *= keras_exact(self.beta_1, dtype)
        self._u_product *= 1 - keras_exact(0.5, dtype) * keras_exact(0.96, dtype) ** dtype(self.iterations + 1)

    def update_step(self, grad, param, slots, learning_rate):
        dtype = param.dtype.type
        beta_1, beta_2, decay = (keras_rounded(value, dtype) for value in (self.beta_1, self.beta_2, 0.96))
        t = dtype(self.iterations + 1)
        u_t = beta_1 * (1 - keras_exact(0.5, dtype) * decay ** t)
        u_t_1 = beta_1 * (1 - keras_exact(0.5, dtype) * decay ** (t + 1))
        u_product_t = dtype(self._u_product)
        u_product_t_1 = u_product_t * u_t_1
        m, v, tmp, denominator = slots["momentum"], slots["velocity"], slots["tmp"], slots["denominator"]

        np.subtract(grad, m, out=tmp)
        tmp *= 1 - beta_1                                 # here 1 - beta_1 is computed from the rounded beta_1
        m += tmp                                          # m += (g - m) * (1 - beta_1)
        np.square(grad, out=tmp)
        tmp -= v
        tmp *= 1 - beta_2
        v += tmp                                          # v += (g*g - v) * (1 - beta_2)
        np.multiply(m, u_t_1, out=tmp)
        tmp /= 1 - u_product_t_1
        np.multiply(grad, 1 - u_t, out=denominator)
        denominator /= 1 - u_product_t
        tmp += denominator                                # m_hat
        tmp *= learning_rate
        np.divide(v, 1 - beta_2 ** t, out=denominator)
        np.sqrt(denominator, out=denominator)
        denominator += keras_exact(self.epsilon, dtype)
        tmp /= denominator
        param -= tmp                                      # w -= lr * m_hat / (sqrt(v_hat) + epsilon)
