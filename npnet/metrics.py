"""Binary accuracy, as a Keras function (per entry) and as a running metric.

In ``compile(metrics=["accuracy"])`` the string means binary accuracy when the
loss is binary crossentropy: that is what the tutorial's 0.856 measures.
Keras 3 instead picks by the output's shape and reports categorical accuracy
for multi-column targets (README, "accuracy in Keras 3").
"""
from __future__ import annotations

from typing import Any, Callable, Union

import numpy as np

from npnet import backend, losses
from npnet._validation import as_float_array, as_real_array, check_float


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """``(y_pred > threshold) == y_true`` as floats, shape of y_true (no mean, as Keras >= 3.4)."""
    threshold = check_float(threshold, "threshold", 0.0, 1.0)
    y_pred_array = as_real_array(y_pred, "y_pred")
    ndim = max(y_pred_array.ndim, 1)
    y_pred = as_float_array(y_pred_array, "y_pred", backend.float_dtype(), ndim=ndim)
    y_true = as_float_array(y_true, "y_true", backend.float_dtype(), ndim=ndim)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    return (np.greater(y_pred, threshold) == y_true).astype(backend.float_dtype())


class Metric:
    """A running mean over the batches seen since ``reset_state``: update, read, reset.

    ``direction`` is "up" when larger is better, "down" when smaller is, None
    if unknown; callbacks with ``mode="auto"`` read it (Keras's ``_direction``).
    """

    direction: str | None = None

    def __init__(self, name: str):
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {name!r}")
        self.name = name
        self.reset_state()

    def reset_state(self) -> None:
        self.total, self.count = 0.0, 0

    def result(self) -> float:
        """The mean so far (0.0 before any update, as Keras)."""
        return self.total / self.count if self.count else 0.0

    def update_state(self, y_true: Any, y_pred: Any) -> None:
        raise NotImplementedError

    def __call__(self, y_true: Any, y_pred: Any) -> float:
        """Update with one batch and return the running result, as a Keras metric."""
        self.update_state(y_true, y_pred)
        return self.result()


class BinaryAccuracy(Metric):
    """Fraction of entries where ``(y_pred > threshold) == y_true``, over all batches seen."""

    direction = "up"

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5):
        self.threshold = check_float(threshold, "threshold", 0.0, 1.0)
        super().__init__(name)

    def update_state(self, y_true: Any, y_pred: Any) -> None:
        values = binary_accuracy(y_true, y_pred, self.threshold)
        self.total += float(values.sum())
        self.count += values.size

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """``update_state`` for arrays already checked (the model's hot path): y_true, y_pred (N, K)."""
        self.total += np.count_nonzero(np.greater(y_pred, self.threshold) == y_true)
        self.count += y_true.size


MetricLike = Union[str, Metric, Callable]

# What "accuracy" means for each loss (the contract's rule; Keras 3 differs, see module doc).
_ACCURACY_FOR_LOSS: dict[type, Callable[[str], Metric]] = {
    losses.BinaryCrossentropy: lambda name: BinaryAccuracy(name=name),
}


def get(identifier: MetricLike, loss: losses.Loss) -> Metric:
    """A fresh Metric for ``compile(metrics=[identifier])`` given the compiled ``loss``."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier in ("accuracy", "acc"):
        for loss_type, make in _ACCURACY_FOR_LOSS.items():
            if isinstance(loss, loss_type):
                return make(identifier)
        raise ValueError(f"'accuracy' is defined here for binary crossentropy only, not {loss!r}")
    if (isinstance(identifier, str) and identifier == "binary_accuracy") or identifier is binary_accuracy:
        return BinaryAccuracy()
    raise ValueError(f"unknown metric {identifier!r}; expected 'accuracy', 'acc', 'binary_accuracy', "
                     "npnet.metrics.binary_accuracy or an npnet.metrics.Metric")
