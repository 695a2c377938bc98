"""Adamax (Kingma & Ba, 2015, section 7.1) in Keras 3's form (keras/src/optimizers/adamax.py)."""
from __future__ import annotations

import numpy as np

from npnet.optimizers.base import LearningRate, Optimizer, check_moments, keras_exact, keras_rounded


class Adamax(Optimizer):
    """Adam with the infinity norm in place of the second moment.

        m += (g - m) * (1 - beta_1)
        u = max(beta_2 * u, |g|)
        w -= lr * m / ((1 - beta_1**t) * (u + epsilon))
    The paper has no epsilon (u > 0 once any gradient is): docs/optimizers.md#adamax.
    """

    name = "adamax"
    hyperparameters = ("beta_1", "beta_2", "epsilon")
    slot_names = ("momentum", "norm")
    scratch_names = ("denominator",)

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.beta_1, self.beta_2, self.epsilon = check_moments(beta_1, beta_2, epsilon)

    def update_step(self, grad, param, slots, learning_rate):
        # Only beta_1 goes through ops.cast (for its power); beta_2 and 1 - beta_1 meet tensors as Python floats.
        dtype = param.dtype.type
        beta_1_power = keras_rounded(self.beta_1, dtype) ** dtype(self.iterations + 1)
        m, u, tmp, denominator = slots["momentum"], slots["norm"], slots["tmp"], slots["denominator"]
        np.subtract(grad, m, out=tmp)
        tmp *= keras_exact(1 - self.beta_1, dtype)
        m += tmp                                          # m += (g - m) * (1 - beta_1)
        u *= keras_exact(self.beta_2, dtype)
        np.abs(grad, out=tmp)
        np.maximum(u, tmp, out=u)                         # u = max(beta_2 * u, |g|)
        np.add(u, keras_exact(self.epsilon, dtype), out=denominator)
        denominator *= 1 - beta_1_power
        np.multiply(m, learning_rate, out=tmp)
        tmp /= denominator
        param -= tmp                                      # w -= lr * m / ((1 - beta_1**t) * (u + epsilon))
