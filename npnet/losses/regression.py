"""Regression losses: mean squared error, mean absolute error, Huber.

Shapes: y_true and y_pred (N, K) real targets; e = y_pred - y_true. Each is an
elementwise loss l(e), averaged over the K outputs of a sample (the function,
(N,)) and then over the N samples (the class), so dL/dy_pred = l'(e) / (N K).
A linear output needs no fused form: dL/dz is this gradient itself.
Derivations: docs/backprop.md#squared-and-absolute-error and docs/backprop.md#huber.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from npnet._validation import as_float_array, as_real_array, check_float
from npnet.losses.base import Loss, checked_prediction, mean_over_batch, same_shape, weighted_rows


def checked_regression_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Finite (y_true, y_pred) of one shape; y_true (N,) with y_pred (N, 1) becomes (N, 1), as Keras's
    squeeze_or_expand_to_same_rank (where NumPy would broadcast them to (N, N))."""
    y_pred = checked_prediction(y_pred)
    y_true_array = as_real_array(y_true, "y_true")
    if y_pred.ndim == 2 and y_pred.shape[1] == 1 and np.ndim(y_true_array) == 1:
        y_true_array = np.reshape(y_true_array, (-1, 1))
    y_true = as_float_array(y_true_array, "y_true", y_pred.dtype, ndim=y_pred.ndim)
    same_shape(y_true, y_pred)
    return y_true, y_pred


class _Regression(Loss):
    """An elementwise loss l(e) of the error e = y_pred - y_true: per sample the mean over K, per batch over N.

    Targets: finite reals (N, K), or (N,) for a one-unit output (``Loss.check_targets``).
    """

    def elementwise(self, error: np.ndarray) -> np.ndarray:
        """l(e), same shape as e."""
        raise NotImplementedError

    def derivative(self, error: np.ndarray) -> np.ndarray:
        """l'(e), same shape as e, as TensorFlow's gradient takes it at the kinks."""
        raise NotImplementedError

    def checked_pair(self, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
        return checked_regression_pair(y_true, y_pred)

    def per_sample(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return self.elementwise(y_pred - y_true).mean(axis=-1)

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Loss of a batch: y_true, y_pred (N, K), sample_weight (N,) or None -> float. Caches the error."""
        self.error, self.sample_weight = y_pred - y_true, sample_weight   # (N, K)
        return mean_over_batch(self.elementwise(self.error).mean(axis=-1), sample_weight)

    def backward(self) -> np.ndarray:
        """dL/dy_pred = l'(e) / (N K), shape (N, K), rows scaled by the sample weights."""
        return weighted_rows(self.derivative(self.error) * (1.0 / self.error.size), self.sample_weight)


class MeanSquaredError(_Regression):
    """mean((y_true - y_pred)^2) over outputs and batch (Keras's MeanSquaredError, "mse").

    l(e) = e^2, l'(e) = 2 e (docs/backprop.md#squared-and-absolute-error).
    """

    name = "mean_squared_error"

    def elementwise(self, error):
        return np.square(error)

    def derivative(self, error):
        return 2.0 * error


class MeanAbsoluteError(_Regression):
    """mean(|y_true - y_pred|) over outputs and batch (Keras's MeanAbsoluteError, "mae").

    l(e) = |e|, l'(e) = sign(e), 0 at e = 0 as TensorFlow's gradient of abs
    (docs/backprop.md#squared-and-absolute-error).
    """

    name = "mean_absolute_error"

    def elementwise(self, error):
        return np.abs(error)

    def derivative(self, error):
        return np.sign(error)


class Huber(_Regression):
    """Huber loss: e^2 / 2 for |e| <= delta, delta |e| - delta^2 / 2 beyond (Keras's Huber).

    l'(e) = clip(e, -delta, delta): the two pieces meet with equal slopes at
    |e| = delta, where Keras takes the quadratic piece (docs/backprop.md#huber).
    Keras names the class's instances "huber_loss".
    """

    name = "huber_loss"

    def __init__(self, delta: float = 1.0):
        self.delta = check_float(delta, "delta", 0.0, np.inf, high_open=True)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "delta": self.delta}

    def elementwise(self, error):
        delta = error.dtype.type(self.delta)   # as Keras converts delta to y_pred's dtype
        absolute = np.abs(error)
        return np.where(absolute <= delta, 0.5 * np.square(error), delta * absolute - 0.5 * np.square(delta))

    def derivative(self, error):
        delta = error.dtype.type(self.delta)
        return np.clip(error, -delta, delta)


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample mean over the last axis of (y_true - y_pred)^2, shape y_pred.shape[:-1]."""
    return MeanSquaredError().per_sample(*checked_regression_pair(y_true, y_pred))


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample mean over the last axis of |y_true - y_pred|, shape y_pred.shape[:-1]."""
    return MeanAbsoluteError().per_sample(*checked_regression_pair(y_true, y_pred))


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> np.ndarray:
    """Per-sample mean over the last axis of the Huber loss of y_pred - y_true, shape y_pred.shape[:-1]."""
    return Huber(delta).per_sample(*checked_regression_pair(y_true, y_pred))
