"""Adadelta (Zeiler, 2012) in Keras 3's form, with a learning rate (keras/src/optimizers/adadelta.py)."""
from __future__ import annotations

import numpy as np

from npnet._validation import check_float
from npnet.optimizers.base import LearningRate, Optimizer, keras_exact


class Adadelta(Optimizer):
    """Step by the ratio of running RMS of past steps to running RMS of gradients.

        G = rho * G + (1 - rho) * g*g
        d = -sqrt(D + epsilon) * g / sqrt(G + epsilon)
        D = rho * D + (1 - rho) * d*d
        w += lr * d
    The paper has no learning rate (lr = 1, PyTorch's default); Keras's default is 0.001,
    which makes it crawl: docs/optimizers.md#adadelta.
    """

    name = "adadelta"
    hyperparameters = ("rho", "epsilon")
    slot_names = ("accumulated_grad", "accumulated_delta_var")
    scratch_names = ("delta",)

    def __init__(self, learning_rate: LearningRate = 0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 weight_decay: float | None = None, clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.rho = check_float(rho, "rho", 0.0, 1.0, high_open=True)
        self.epsilon = check_float(epsilon, "epsilon", 0.0, np.inf, low_open=True, high_open=True)

    def update_step(self, grad, param, slots, learning_rate):
        dtype = param.dtype.type
        rho, one_minus_rho = keras_exact(self.rho, dtype), keras_exact(1 - self.rho, dtype)
        epsilon = keras_exact(self.epsilon, dtype)
        grads, deltas = slots["accumulated_grad"], slots["accumulated_delta_var"]
        tmp, delta = slots["tmp"], slots["delta"]
        grads *= rho
        np.square(grad, out=tmp)
        tmp *= one_minus_rho
        grads += tmp                                      # G = rho * G + (1 - rho) * g*g
        np.add(deltas, epsilon, out=delta)
        np.sqrt(delta, out=delta)
        delta *= grad
        np.add(grads, epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        delta /= tmp
        np.negative(delta, out=delta)                     # d = -sqrt(D + eps) * g / sqrt(G + eps)
        deltas *= rho
        np.square(delta, out=tmp)
        tmp *= one_minus_rho
        deltas += tmp                                     # D = rho * D + (1 - rho) * d*d
        np.multiply(delta, learning_rate, out=tmp)
        param += tmp                                      # w += lr * d
