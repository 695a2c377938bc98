"""RMSprop (Hinton's lecture 6e), with Keras 3's momentum and centered forms (keras/src/optimizers/rmsprop.py)."""
from __future__ import annotations

import numpy as np

from npnet._validation import check_bool, check_float
from npnet.optimizers.base import LearningRate, Optimizer, keras_exact


class RMSprop(Optimizer):
    """Divide the step by a running root mean square of the gradient.

        v = rho * v + (1 - rho) * g*g
        a = rho * a + (1 - rho) * g                  (centered only)
        increment = lr * g / sqrt(v - a*a + epsilon)  (uncentered: sqrt(v + epsilon))
        s = momentum * s + increment; w -= s         (momentum > 0; else w -= increment)
    epsilon sits inside the square root, unlike Adam's and PyTorch's RMSprop: docs/optimizers.md#rmsprop.
    """

    name = "rmsprop"
    hyperparameters = ("rho", "momentum", "epsilon", "centered")
    scratch_names = ("denominator",)

    def __init__(self, learning_rate: LearningRate = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None, global_clipnorm: float | None = None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.rho = check_float(rho, "rho", 0.0, 1.0, high_open=True)
        self.momentum = check_float(momentum, "momentum", 0.0, 1.0, high_open=True)
        self.epsilon = check_float(epsilon, "epsilon", 0.0, np.inf, low_open=True, high_open=True)
        self.centered = check_bool(centered, "centered")
        self.slot_names = ("velocity",) + (("momentum",) if self.momentum else ()) + (
            ("average_gradient",) if self.centered else ())

    def update_step(self, grad, param, slots, learning_rate):
        # rho, 1 - rho, momentum and epsilon are Python floats meeting tensors: the dtype, unrounded.
        dtype = param.dtype.type
        rho, one_minus_rho = keras_exact(self.rho, dtype), keras_exact(1 - self.rho, dtype)
        velocity, tmp, denominator = slots["velocity"], slots["tmp"], slots["denominator"]
        velocity *= rho
        np.square(grad, out=tmp)
        tmp *= one_minus_rho
        velocity += tmp                                   # v = rho * v + (1 - rho) * g*g
        if self.centered:
            average = slots["average_gradient"]
            average *= rho
            np.multiply(grad, one_minus_rho, out=tmp)
            average += tmp                                # a = rho * a + (1 - rho) * g
            np.square(average, out=denominator)
            np.subtract(velocity, denominator, out=denominator)
            denominator += keras_exact(self.epsilon, dtype)            # v - a*a + epsilon
        else:
            np.add(velocity, keras_exact(self.epsilon, dtype), out=denominator)
        np.sqrt(denominator, out=denominator)
        np.multiply(grad, learning_rate, out=tmp)
        tmp /= denominator                                # increment = lr * g / sqrt(...)
        if self.momentum:
            step = slots["momentum"]
            step *= keras_exact(self.momentum, dtype)
            step += tmp                                   # s = momentum * s + increment
            param -= step
        else:
            param -= tmp
