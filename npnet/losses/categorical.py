"""Categorical and sparse categorical crossentropy, and softmax + crossentropy from the logits.

Shapes: probabilities p and logits z (N, K) over K classes; targets y (N, K)
one-hot or probability rows (categorical), or class ids (N,) in [0, K)
(sparse). The per-sample loss (N,) is a *sum* over the K classes (not a mean,
as binary crossentropy's is), and the batch loss its mean over N, so the
fused gradient is dz = (p - y) / N. Keras's formulas, from
keras/src/losses/losses.py and keras/src/backend/tensorflow/nn.py.
Derivations: docs/backprop.md#categorical-crossentropy,
docs/backprop.md#softmax-and-categorical-crossentropy,
docs/backprop.md#sparse-categorical-crossentropy, docs/backprop.md#label-smoothing.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from npnet import activations, backend
from npnet._validation import as_class_ids, as_float_array, check_bool, check_unit_interval
from npnet.losses.base import Loss, check_units, checked_prediction, mean_over_batch, same_shape, weighted_rows
from npnet.losses.binary import check_label_smoothing
from npnet.params import WorkArrays


def smooth_categorical_labels(y: np.ndarray, label_smoothing: float) -> np.ndarray:
    """y (1 - s) + s / K over the K classes of the last axis, as Keras (y itself for s = 0)."""
    if not label_smoothing:
        return y
    return y * (1.0 - label_smoothing) + label_smoothing / y.shape[-1]


def _check_distribution_rows(y: np.ndarray, name: str) -> None:
    """One-hot or probability rows: entries in [0, 1] that sum to 1 along the last axis.

    TensorFlow's softmax_cross_entropy_with_logits returns the gradient p - y,
    which is the gradient only when each row of y sums to 1, so npnet refuses
    other rows rather than train on a wrong gradient. Tolerance: 1e-3, far above
    the rounding of K summands (K * 6e-8 in float32) and below any real mislabelling.
    """
    check_unit_interval(y, name, "(one-hot or probability rows)")
    sums = y.sum(axis=-1, dtype=np.float64)
    if np.abs(sums - 1.0).max() > 1e-3:
        raise ValueError(f"each row of {name} must sum to 1 (one-hot or class probabilities), "
                         f"got row sums in [{sums.min()}, {sums.max()}]; for class ids use "
                         "sparse_categorical_crossentropy")


def _check_probabilities(y_pred: np.ndarray) -> None:
    """y_pred when from_logits=False: non-negative, each row with a positive sum (Keras divides by it)."""
    if y_pred.min() < 0 or (y_pred.sum(axis=-1) <= 0).any():
        raise ValueError("y_pred must be non-negative class probabilities with a positive sum per row when "
                         f"from_logits=False (got values in [{y_pred.min()}, {y_pred.max()}]); "
                         "pass from_logits=True for logits")


def _checked_categorical(y_true: Any, y_pred: Any, from_logits: bool) -> tuple[np.ndarray, np.ndarray]:
    y_pred = checked_prediction(y_pred)
    y_true = as_float_array(y_true, "y_true", y_pred.dtype, ndim=y_pred.ndim)
    same_shape(y_true, y_pred)
    _check_distribution_rows(y_true, "y_true")
    if not from_logits:
        _check_probabilities(y_pred)
    return y_true, y_pred


def _checked_sparse(y_true: Any, y_pred: Any, from_logits: bool) -> tuple[np.ndarray, np.ndarray]:
    y_pred = checked_prediction(y_pred)
    ids = as_class_ids(y_true, "y_true", num_classes=y_pred.shape[-1])
    if ids.shape != y_pred.shape[:-1]:
        raise ValueError(f"y_true must hold one class id per row of y_pred: shape {y_pred.shape[:-1]} "
                         f"(or with a trailing 1), got {np.shape(y_true)}")
    if not from_logits:
        _check_probabilities(y_pred)
    return ids, y_pred


def _log_softmax_parts(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shifted, log_sum_exp): z minus its row max (N, K), and log sum exp(shifted) (N, 1).

    log softmax(z) = shifted - log_sum_exp; every exp is of a number <= 0, so
    nothing overflows, as in TensorFlow's softmax_cross_entropy_with_logits.
    """
    shifted = z - z.max(axis=-1, keepdims=True)                       # (N, K)
    return shifted, np.log(np.exp(shifted).sum(axis=-1, keepdims=True))   # (N, 1)


def _categorical_per_sample(y: np.ndarray, y_pred: np.ndarray, from_logits: bool) -> np.ndarray:
    """-sum_k y_k log p_k per row, shape y_pred.shape[:-1], for checked (smoothed) targets y.

    From logits: sum_k y_k (log_sum_exp - shifted_k), TensorFlow's order of terms.
    From probabilities, as Keras: p / sum(p), clipped to [eps, 1 - eps], eps = 1e-7.
    """
    if from_logits:
        shifted, log_sum_exp = _log_softmax_parts(y_pred)
        return (y * (log_sum_exp - shifted)).sum(axis=-1)
    eps = backend.epsilon()
    q = np.clip(y_pred / y_pred.sum(axis=-1, keepdims=True), eps, 1 - eps)
    return -(y * np.log(q)).sum(axis=-1)


def _sparse_per_sample(ids: np.ndarray, y_pred: np.ndarray, from_logits: bool) -> np.ndarray:
    """-log p[id] per row, shape ids.shape.

    From logits: log_sum_exp - shifted[id]. From probabilities Keras takes
    z = log(clip(p, eps, 1 - eps)) as logits, so the clipped row is renormalised:
    log sum(p~) - log p~[id].
    """
    if not from_logits:
        eps = backend.epsilon()
        y_pred = np.log(np.clip(y_pred, eps, 1 - eps))
    shifted, log_sum_exp = _log_softmax_parts(y_pred)
    picked = np.take_along_axis(shifted, ids[..., None], axis=-1)   # (..., 1) = shifted[id]
    return (log_sum_exp - picked)[..., 0]


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                             label_smoothing: float = 0.0) -> np.ndarray:
    """Per-sample categorical crossentropy -sum_k y_k log p_k, shape y_pred.shape[:-1].

    y_true: one-hot or probability rows, y_pred: probabilities (normalised
    and clipped to [1e-7, 1 - 1e-7] as Keras does) or, with ``from_logits=True``,
    logits. ``label_smoothing`` s replaces y by y (1 - s) + s / K.
    """
    label_smoothing = check_label_smoothing(label_smoothing)
    from_logits = check_bool(from_logits, "from_logits")
    y_true, y_pred = _checked_categorical(y_true, y_pred, from_logits)
    return _categorical_per_sample(smooth_categorical_labels(y_true, label_smoothing), y_pred, from_logits)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> np.ndarray:
    """Per-sample crossentropy -log p[y] with integer class ids y_true (N,) or (N, 1); shape (N,).

    y_pred (N, K): probabilities (clipped to [1e-7, 1 - 1e-7] as Keras does) or,
    with ``from_logits=True``, logits. Ids outside [0, K) are refused.
    """
    from_logits = check_bool(from_logits, "from_logits")
    ids, y_pred = _checked_sparse(y_true, y_pred, from_logits)
    return _sparse_per_sample(ids, y_pred, from_logits)


class SoftmaxCrossentropy(Loss):
    """Softmax and (sparse) categorical crossentropy as one step, from the logits z (N, K).

    What a model trains with when its output is a softmax and its loss
    categorical or sparse categorical crossentropy, and what those losses use
    with ``from_logits=True``: the loss is finite for any finite logit and the
    gradient at the logits is dz = (p - y) / N, p = softmax(z)
    (docs/backprop.md#softmax-and-categorical-crossentropy). ``forward`` leaves
    p in ``probabilities`` for the metrics. y (N, K) rows summing to 1, or with
    ``sparse`` class ids (N,); ``label_smoothing`` applies to dense targets.
    Sample weights s (N,) scale row n of dz by s_n. Arrays are reused from batch to batch.
    """

    logits_gradient = "(softmax(z) - y) / N = (p - y) / {n}"   # npnet.trace prints it, N filled in

    def __init__(self, sparse: bool = False, label_smoothing: float = 0.0) -> None:
        self.sparse, self.label_smoothing = sparse, label_smoothing
        self.name = "softmax_" + ("sparse_" if sparse else "") + "categorical_crossentropy"
        self._work: WorkArrays | None = None

    def _rows(self, z: np.ndarray) -> list[np.ndarray]:
        if self._work is None or self._work.dtype != z.dtype or self._work.columns["p"] != z.shape[1]:
            self._work = WorkArrays(z.dtype, shifted=z.shape[1], p=z.shape[1], dz=z.shape[1])
        return self._work.rows(len(z))

    def _softmax(self, z: np.ndarray) -> np.ndarray:
        """p = softmax(z) (N, K) into a work array, z - max(z) left in another; returns sum(exp) (N, 1)."""
        shifted, p, _ = self._rows(z)
        np.subtract(z, z.max(axis=-1, keepdims=True), out=shifted)   # (N, K) - (N, 1)
        np.exp(shifted, out=p)
        sum_exp = p.sum(axis=-1, keepdims=True)                       # (N, 1)
        p /= sum_exp                                                  # softmax(z), (N, K)
        self.probabilities = p
        return sum_exp

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Loss over targets, logits y_pred (N, K) and weights (N,) or None; sets ``probabilities`` (N, K)."""
        sum_exp = self._softmax(y_pred)
        shifted, p, _ = self._rows(y_pred)
        log_sum_exp = np.log(sum_exp)                                 # (N, 1)
        if self.sparse:
            picked = np.take_along_axis(shifted, y_true[:, None], axis=-1)    # (N, 1)
            per_sample = (log_sum_exp - picked)[:, 0]                          # (N,)
        else:
            y_true = smooth_categorical_labels(y_true, self.label_smoothing)
            np.subtract(log_sum_exp, shifted, out=shifted)            # -log p, (N, K)
            shifted *= y_true
            per_sample = shifted.sum(axis=-1)                         # (N,)
        self.y_true, self.sample_weight = y_true, sample_weight
        return mean_over_batch(per_sample, sample_weight)

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """dL/dz (N, K) from the logits y_pred without the loss value: p = softmax(z), then ``backward``."""
        self._softmax(y_pred)
        self.y_true = y_true if self.sparse else smooth_categorical_labels(y_true, self.label_smoothing)
        self.sample_weight = sample_weight
        return self.backward()

    def gradient_array(self, y_pred: np.ndarray) -> np.ndarray:
        """dz (N, K): the work array ``gradient`` returns for logits like y_pred."""
        return self._rows(y_pred)[2]

    def backward(self) -> np.ndarray:
        """dL/dz = (p - y) / N, shape (N, K), for the last ``forward`` (valid until the next call)."""
        n = len(self.y_true)
        _, _, dz = self._work.rows(n)
        dz[...] = self.probabilities
        if self.sparse:
            dz[np.arange(n), self.y_true] -= 1                        # p - one_hot(y)
        else:
            dz -= self.y_true
        dz *= 1.0 / n
        return weighted_rows(dz, self.sample_weight)


class _Crossentropy(Loss):
    """What the two categorical losses share: the logits path, the fused form, the batch reduction."""

    sparse = False

    def __init__(self, from_logits: bool, label_smoothing: float) -> None:
        self.from_logits = check_bool(from_logits, "from_logits")
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self._logits = SoftmaxCrossentropy(self.sparse, self.label_smoothing)

    def fused(self, activation: Any) -> Loss | None:
        """Softmax + crossentropy from the logits, for a softmax output, as Keras.

        With ``from_logits=True`` on a softmax output Keras, too, takes the
        softmax's logits (its output carries them as ``_keras_logits``) and warns.
        """
        if activation is not activations.softmax:
            return None
        if self.from_logits:
            warnings.warn(f"{self.name} has from_logits=True but the output is a softmax, whose output is not "
                          "logits; as Keras, the loss is computed from the softmax's logits", stacklevel=2)
        return SoftmaxCrossentropy(self.sparse, self.label_smoothing)

    def forward(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Loss of a batch of checked targets and y_pred (N, K) (logits if ``from_logits``), weights (N,) or None."""
        if self.from_logits:
            return self._logits.forward(y_true, y_pred, sample_weight)
        self.y_true, self.y_pred, self.sample_weight = y_true, y_pred, sample_weight
        return mean_over_batch(self.per_sample(y_true, y_pred), sample_weight)

    def backward(self) -> np.ndarray:
        """dL/dy_pred (N, K) for the last ``forward``; from logits (p - y) / N."""
        if self.from_logits:
            return self._logits.backward()
        return weighted_rows(self._dprobabilities(), self.sample_weight)

    def _dprobabilities(self) -> np.ndarray:
        raise NotImplementedError


class CategoricalCrossentropy(_Crossentropy):
    """Categorical crossentropy averaged over the batch (Keras's class): a scalar.

    ``CategoricalCrossentropy()(y_true, y_pred, sample_weight)`` is the
    weighted sum of ``categorical_crossentropy`` over the batch divided by N.
    Targets (N, K): one-hot or probability rows.
    """

    name = "categorical_crossentropy"
    accuracy_metric = "categorical_accuracy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0):
        super().__init__(from_logits, label_smoothing)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}

    def checked_pair(self, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
        return _checked_categorical(y_true, y_pred, self.from_logits)

    def per_sample(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return _categorical_per_sample(smooth_categorical_labels(y_true, self.label_smoothing), y_pred,
                                       self.from_logits)

    def check_targets(self, y: Any, units: int, dtype: np.dtype, name: str) -> np.ndarray:
        """Targets (N, K = units): one-hot or probability rows."""
        y = as_float_array(y, name, dtype, ndim=2)
        check_units(y, units, name)
        _check_distribution_rows(y, name)
        return y

    def sample_classes(self, y: np.ndarray) -> np.ndarray:
        """The argmax of each target row, as Keras's class_weight reads one-hot targets."""
        return y.argmax(axis=1)

    def _dprobabilities(self) -> np.ndarray:
        """dL/dp (N, K) through Keras's normalisation q = p / sum(p) and clip (docs/backprop.md#categorical-crossentropy).

        With g = dL/dq = -y / q~ where q was not clipped (0 where it was):
        dL/dp_j = (g_j - sum_k g_k q_k) / sum(p), over N for the batch mean.
        """
        y, p = smooth_categorical_labels(self.y_true, self.label_smoothing), self.y_pred
        eps = backend.epsilon()
        total = p.sum(axis=-1, keepdims=True)                          # (N, 1)
        q = p / total                                                  # (N, K)
        inside = (q >= eps) & (q <= 1 - eps)
        g = -y / np.clip(q, eps, 1 - eps) * inside                     # (N, K) = dL_n/dq
        return (g - (g * q).sum(axis=-1, keepdims=True)) / total / len(p)


class SparseCategoricalCrossentropy(_Crossentropy):
    """Sparse categorical crossentropy averaged over the batch (Keras's class): a scalar.

    Targets: class ids (N,) or (N, 1) in [0, K). Keras's ``ignore_class`` is not supported.
    """

    name = "sparse_categorical_crossentropy"
    accuracy_metric = "sparse_categorical_accuracy"
    sparse = True

    def __init__(self, from_logits: bool = False):
        super().__init__(from_logits, 0.0)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "from_logits": self.from_logits}

    def checked_pair(self, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
        return _checked_sparse(y_true, y_pred, self.from_logits)

    def per_sample(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return _sparse_per_sample(y_true, y_pred, self.from_logits)

    def check_targets(self, y: Any, units: int, dtype: np.dtype, name: str) -> np.ndarray:
        """Class ids (N,) in [0, units), from (N,) or (N, 1) integers (or floats holding integers)."""
        ids = as_class_ids(y, name, num_classes=units)
        if ids.ndim != 1:
            raise ValueError(f"{name} must hold one class id per sample, shape (N,) or (N, 1), got {np.shape(y)}")
        return ids

    def sample_classes(self, y: np.ndarray) -> np.ndarray:
        """The class ids themselves."""
        return y

    def _dprobabilities(self) -> np.ndarray:
        """dL/dp (N, K) through Keras's clip and renormalisation (docs/backprop.md#sparse-categorical-crossentropy).

        L_n = log sum(p~) - log p~[y_n]: dL_n/dp_k = 1/sum(p~) - [k = y_n]/p~_k where
        p was not clipped, 0 where it was; over N for the batch mean.
        """
        ids, p = self.y_true, self.y_pred
        n, eps = len(p), backend.epsilon()
        clipped = np.clip(p, eps, 1 - eps)                             # (N, K)
        inside = (p >= eps) & (p <= 1 - eps)
        dp = np.broadcast_to(1.0 / clipped.sum(axis=-1, keepdims=True), p.shape).astype(p.dtype)   # (N, K)
        dp[np.arange(n), ids] -= 1.0 / clipped[np.arange(n), ids]
        return dp * inside / n
