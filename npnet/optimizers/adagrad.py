"""Adagrad (Duchi, Hazan & Singer, 2011) in Keras 3's form (keras/src/optimizers/adagrad.py)."""
from __future__ import annotations

import numpy as np

from npnet._validation import check_float
from npnet.optimizers.base import LearningRate, Optimizer, keras_exact, keras_rounded


class Adagrad(Optimizer):
    """Scale each step by the root of all squared gradients so far.

        a += g*g                    (a starts at initial_accumulator_value)
        w -= lr * g / sqrt(a + epsilon)
    docs/optimizers.md#adagrad: PyTorch starts a at 0 and puts eps outside the root.
    """

    name = "adagrad"
    hyperparameters = ("initial_accumulator_value", "epsilon")
    slot_names = ("accumulator",)
    scratch_names = ("denominator",)

    def __init__(self, learning_rate: LearningRate = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
        self.initial_accumulator_value = check_float(initial_accumulator_value, "initial_accumulator_value", 0.0,
                                                     np.inf, high_open=True)
        self.epsilon = check_float(epsilon, "epsilon", 0.0, np.inf, high_open=True)

    def initial_slot_value(self, name, dtype):
        # Keras's Constant initializer casts the Python float with ops.cast: float32 rounding.
        return keras_rounded(self.initial_accumulator_value, dtype)

    def update_step(self, grad, param, slots, learning_rate):
        accumulator, tmp, denominator = slots["accumulator"], slots["tmp"], slots["denominator"]
        np.square(grad, out=tmp)
        accumulator += tmp                                # a += g*g
        np.add(accumulator, keras_exact(self.epsilon, param.dtype.type), out=denominator)
        np.sqrt(denominator, out=denominator)
        np.multiply(grad, learning_rate, out=tmp)
        tmp /= denominator
        param -= tmp                                      # w -= lr * g / sqrt(a + epsilon)
