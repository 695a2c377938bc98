"""SGD, with Keras 3's momentum and Nesterov forms (keras/src/optimizers/sgd.py)."""
from __future__ import annotations

import numpy as np

from npnet._validation import check_bool, check_float
from npnet.optimizers.base import LearningRate, Optimizer, keras_rounded


class SGD(Optimizer):
    """Stochastic gradient descent: ``w -= lr * g``; with momentum, Keras's velocity form (below).

    docs/optimizers.md#sgd puts it next to PyTorch's form, which differs.
    """

    name = "sgd"
    hyperparameters = ("momentum", "nesterov")

    def __init__(self, learning_rate: LearningRate = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float | None = None, clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.momentum = check_float(momentum, "momentum", 0.0, 1.0, high_open=True)
        self.nesterov = check_bool(nesterov, "nesterov")
        self.slot_names = ("momentum",) if self.momentum else ()
        self.scratch_names = ("nesterov",) if self.momentum and self.nesterov else ()

    def update_step(self, grad, param, slots, learning_rate):
        """``v = momentum * v - lr * g``; ``w += v`` (Nesterov: ``w += momentum * v - lr * g``).

        Keras casts momentum with ``ops.cast``, so it carries float32 rounding (``keras_rounded``).
        """
        tmp = slots["tmp"]
        np.multiply(grad, learning_rate, out=tmp)            # lr * g
        if not self.momentum:
            param -= tmp
            return
        velocity, momentum = slots["momentum"], keras_rounded(self.momentum, param.dtype.type)
        velocity *= momentum
        velocity -= tmp                                      # v = momentum * v - lr * g
        if self.nesterov:
            step = slots["nesterov"]
            np.multiply(velocity, momentum, out=step)
            step -= tmp
            param += step                                    # w += momentum * v - lr * g
        else:
            param += velocity
