"""AdamW (Loshchilov & Hutter, 2019) as Keras 3 has it: Adam with weight decay on by default."""
from __future__ import annotations

from npnet.optimizers.adam import Adam
from npnet.optimizers.base import LearningRate


class AdamW(Adam):
    """Adam plus decoupled weight decay ``w -= w * weight_decay * lr`` before each update.

    The decay is the base optimizer's (any Keras optimizer takes ``weight_decay``);
    AdamW only makes it mandatory, 0.004 by default (PyTorch: 0.01, and
    ``w *= 1 - lr * wd``, the same step; the paper scales by the schedule
    multiplier, not by lr): docs/optimizers.md#adamw.
    """

    name = "adamw"

    def __init__(self, learning_rate: LearningRate = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None):
        if weight_decay is None:
            raise ValueError("weight_decay must be a float for AdamW, got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue,
                         global_clipnorm)
