"""The training data: the validation split, class weights as sample weights, and the epoch iterator's batches.

Owns ``validation_split``, ``class_weight``, ``batch_size``, ``shuffle`` and the
split and shuffling of ``sample_weight`` (keras/src/trainers/data_adapters/).
"""
from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from npnet import utils
from npnet._validation import as_float_array, check_float, check_int


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` as an int >= 1 (None means 32, as Keras)."""
    return 32 if batch_size is None else check_int(batch_size, "batch_size", minimum=1)


def split_validation(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None,
                     validation_split: float) -> tuple[tuple, tuple]:
    """((x, y, w), (x_val, y_val, w_val)): the LAST fraction held out before shuffling, as Keras.

    split_at = floor(N * (1 - validation_split)); both parts must hold a sample.
    """
    split_at = math.floor(len(x) * (1.0 - validation_split))
    if split_at == 0 or split_at == len(x):
        raise ValueError(f"validation_split={validation_split} leaves {split_at} of {len(x)} "
                         "samples for training; both parts need at least one")
    w, w_val = (None, None) if sample_weight is None else (sample_weight[:split_at], sample_weight[split_at:])
    return (x[:split_at], y[:split_at], w), (x[split_at:], y[split_at:], w_val)


def class_weights_as_sample_weights(class_weight: Any, y: np.ndarray, sample_weight: np.ndarray | None,
                                    dtype: np.dtype) -> np.ndarray:
    """Keras's class_weight for a one-unit output: sample n weighs class_weight[round(y_n)] (default 1)."""
    if sample_weight is not None:
        raise ValueError("class_weight and sample_weight cannot be used together (as in Keras)")
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class: weight}}, got {type(class_weight).__name__}")
    if y.shape[1] != 1:
        raise ValueError(
            f"class_weight needs a one-unit output; this model has {y.shape[1]} labels, and Keras's "
            "class_weight would weigh each sample by its argmax label alone. For per-label weights use "
            "loss=npnet.losses.BinaryCrossentropy(pos_weight=...) (see losses.balanced_pos_weight)")
    for key, value in class_weight.items():
        check_int(key, "class_weight key", minimum=0)
        check_float(value, f"class_weight[{key}]", 0.0, math.inf, high_open=True)
    per_class = as_float_array([class_weight.get(0, 1.0), class_weight.get(1, 1.0)], "class_weight",
                               dtype, ndim=1)   # refuses weights that overflow the model's dtype
    return per_class[np.round(y[:, 0]).astype(np.int64)]   # targets lie in [0, 1]: classes 0 and 1


class EpochIterator:
    """Mini-batches of (x, y, sample_weight) for each epoch: contiguous slices of one shuffled copy per epoch.

    ``shuffle`` draws each epoch's order from ``npnet.utils.random_generator()``;
    the shuffled copies are allocated once, so an epoch allocates nothing.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None, batch_size: int,
                 shuffle: bool):
        self.x, self.y, self.sample_weight, self.batch_size, self.shuffle = x, y, sample_weight, batch_size, shuffle
        self.num_samples, self.num_batches = len(x), math.ceil(len(x) / batch_size)
        self._x, self._y = (np.empty_like(x), np.empty_like(y)) if shuffle else (x, y)
        self._w = sample_weight.copy() if shuffle and sample_weight is not None else sample_weight

    def epoch(self) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray | None]]:
        """Yields (step, end, x_batch, y_batch, w_batch), ``end`` = samples seen this epoch after this batch."""
        if self.shuffle:
            order = utils.random_generator().permutation(self.num_samples)
            np.take(self.x, order, axis=0, out=self._x)
            np.take(self.y, order, axis=0, out=self._y)
            if self.sample_weight is not None:
                np.take(self.sample_weight, order, out=self._w)
        for step in range(self.num_batches):
            start, end = step * self.batch_size, min((step + 1) * self.batch_size, self.num_samples)
            yield (step, end, self._x[start:end], self._y[start:end],
                   None if self._w is None else self._w[start:end])
