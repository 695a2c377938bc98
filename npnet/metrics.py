"""Metrics as Keras 3 defines them, as running state: binary, categorical, sparse categorical and
top-k accuracy, precision, recall, AUC and F1; mean squared and absolute error, RMSE and R2.

In ``compile(metrics=["accuracy"])`` the string means what the loss's
``accuracy_metric`` says: binary accuracy with binary crossentropy (what the
tutorial's 0.856 measures), categorical accuracy with categorical
crossentropy, sparse categorical accuracy with its sparse form. Keras 3
instead picks by the output's shape and reports categorical accuracy for
multi-column targets (README, "accuracy in Keras 3").

Every metric keeps running state (counts), so ``result()`` after several
``update_state`` calls equals one call on all the data. ``result()`` is a
float, or a float64 array for ``Precision``/``Recall`` with several
thresholds and ``F1Score(average=None)`` (as Keras; ``History`` stores the
array and the progress bar shows its mean, as Keras's does). Results are
computed in float64 from exact counts; Keras computes them in float32, so
values agree to float32 rounding (tests/unit/test_metrics.py measures it).

Keras sources cited below: keras/src/metrics/confusion_metrics.py,
f_score_metrics.py, metrics_utils.py, accuracy_metrics.py and
regression_metrics.py (Keras 3.15).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence, Union

import numpy as np

from npnet import backend, losses
from npnet._validation import (as_class_ids, as_float_array, as_real_array, check_bool, check_float, check_int,
                               check_unit_interval)

# keras.backend.epsilon(): the end points of AUC's grid and F1Score's smoothing term.
_EPSILON = 1e-7


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """``(y_pred > threshold) == y_true`` as floats, shape of y_true (no mean, as Keras >= 3.4)."""
    threshold = check_float(threshold, "threshold", 0.0, 1.0)
    y_true, y_pred = _check_targets(y_true, y_pred, unit_interval=False)
    return (np.greater(y_pred, threshold) == y_true).astype(backend.float_dtype())


def _check_targets(y_true: Any, y_pred: Any, unit_interval: bool = True,
                   ndim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """y_true and y_pred as float arrays of one shape (``ndim`` dimensions if given, else y_pred's)."""
    if ndim is None:
        ndim = max(as_real_array(y_pred, "y_pred").ndim, 1)
    y_pred = as_float_array(y_pred, "y_pred", backend.float_dtype(), ndim=ndim)
    y_true = as_float_array(y_true, "y_true", backend.float_dtype(), ndim=ndim)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    if unit_interval:
        check_unit_interval(y_true, "y_true", "(labels or probabilities)")
        check_unit_interval(y_pred, "y_pred", "(probabilities)")
    return y_true, y_pred


def _divide_no_nan(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (keras.ops.divide_no_nan)."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def _as_result(values: np.ndarray) -> float | np.ndarray:
    """A Python float for one value, else the float64 array."""
    return float(values) if np.ndim(values) == 0 else np.asarray(values, np.float64)


class Metric:
    """Running state over the batches seen since ``reset_state``: update, read, reset.

    ``update_state`` validates its arguments; ``update`` is the same for arrays
    the model has already checked (y_true, y_pred both (N, K), probabilities).
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
        raise NotImplementedError

    def result(self) -> float | np.ndarray:
        raise NotImplementedError

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        raise NotImplementedError

    def update_state(self, y_true: Any, y_pred: Any) -> None:
        """Validate y_true and y_pred (same shape, values in [0, 1]) and add them to the state."""
        self.update(*_check_targets(y_true, y_pred))

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, named as Keras names them (npnet.interop rebuilds the Keras twin)."""
        return {"name": self.name}

    def __call__(self, y_true: Any, y_pred: Any) -> float | np.ndarray:
        """Update with one batch and return the running result, as a Keras metric."""
        self.update_state(y_true, y_pred)
        return self.result()


class BinaryAccuracy(Metric):
    """Fraction of entries where ``(y_pred > threshold) == y_true``, over all batches seen."""

    direction = "up"

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5):
        self.threshold = check_float(threshold, "threshold", 0.0, 1.0)
        super().__init__(name)

    def reset_state(self) -> None:
        self.total, self.count = 0.0, 0

    def result(self) -> float:
        """The mean so far (0.0 before any update, as Keras)."""
        return float(self.total / self.count) if self.count else 0.0

    def update_state(self, y_true: Any, y_pred: Any) -> None:
        values = binary_accuracy(y_true, y_pred, self.threshold)
        self.total += float(values.sum())
        self.count += values.size

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        self.total += np.count_nonzero(np.greater(y_pred, self.threshold) == y_true)
        self.count += y_true.size

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": self.threshold}


# -- confusion counts at a list of thresholds ------------------------------------------------

class _ThresholdCounts(Metric):
    """TP, FP, TN, FN at each of T thresholds: "positive" means ``y_pred > threshold``, ``y_true != 0``.

    State: ``true_positives`` etc., (T,) summed over every entry, or (T, K)
    per label when ``per_label`` (AUC's multi_label). As Keras
    (metrics_utils.update_confusion_matrix_variables), evenly spaced
    thresholds are bucketed by ``ceil(y_pred * (T - 1))`` computed in the
    predictions' dtype, which can differ from ``y_pred > t`` by one rounding
    at a bucket edge; other thresholds are compared directly, cast to the
    predictions' dtype. Either way a batch costs O(N K + T), no (T, N, K) array.
    """

    direction = "up"   # precision, recall and AUC: larger is better

    def __init__(self, name: str, thresholds: Sequence[float], per_label: bool = False, evenly: bool | None = None):
        self.thresholds = np.asarray(thresholds, np.float64)   # (T,) in the caller's order
        self.per_label = per_label
        self._order = np.argsort(self.thresholds, kind="stable")
        self._sorted = self.thresholds[self._order]
        t = len(self.thresholds)
        # metrics_utils.is_evenly_distributed_thresholds: the caller's order, np.allclose's tolerances.
        self._evenly = evenly if evenly is not None else (
            t >= 3 and np.allclose(self.thresholds, np.arange(t, dtype=np.float32) / (t - 1), atol=_EPSILON))
        # AUC's grid has end points -eps and 1 + eps: every prediction passes the first.
        self._with_epsilon = bool(self._sorted[0] < 0.0 or self._sorted[-1] > 1.0)
        super().__init__(name)

    def reset_state(self) -> None:
        # Per-label state takes its K from the first batch after a reset.
        shape = None if self.per_label else (len(self.thresholds),)
        self.true_positives = self.false_positives = self.true_negatives = self.false_negatives = (
            None if shape is None else np.zeros(shape, np.int64))

    def _levels(self, y_pred: np.ndarray) -> np.ndarray:
        """How many of the sorted thresholds each prediction exceeds, shape of y_pred."""
        t = len(self._sorted)
        if self._evenly:
            # _update_confusion_matrix_variables_optimized: bucket ceil(p (T-1)) - 1, raised to 0 with epsilon ends.
            levels = np.ceil(np.clip(y_pred, 0, 1) * y_pred.dtype.type(t - 1)).astype(np.intp)
            return np.maximum(levels, 1) if self._with_epsilon else levels
        return np.searchsorted(self._sorted.astype(y_pred.dtype), y_pred, side="left")

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        # Keras casts y_true to bool.
        counts = confusion_at_levels(y_true != 0, self._levels(y_pred), len(self._sorted), self.per_label)
        # Back to the caller's threshold order.
        inverse = np.empty_like(self._order)
        inverse[self._order] = np.arange(len(self._order))
        counts = [c[inverse] for c in counts]
        if self.true_positives is None:
            self.true_positives, self.false_positives, self.true_negatives, self.false_negatives = counts
        else:
            self.true_positives = self.true_positives + counts[0]
            self.false_positives = self.false_positives + counts[1]
            self.true_negatives = self.true_negatives + counts[2]
            self.false_negatives = self.false_negatives + counts[3]


def confusion_at_levels(positive: np.ndarray, levels: np.ndarray, num_thresholds: int,
                        per_label: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(TP, FP, TN, FN) at each of T sorted thresholds, from each entry's level.

    positive: bool, shape of levels (N, K) or any; levels: int in [0, T], how
    many thresholds the entry's prediction exceeds. Each count is (T,) over
    every entry, or (T, K) per label when ``per_label``. O(N K + T K): one
    histogram of levels, then a reversed cumulative sum (an entry at level l
    is predicted positive at thresholds 0 .. l-1).
    """
    t = num_thresholds
    if per_label:
        k = levels.shape[-1]
        levels = levels.reshape(-1, k) + (t + 1) * np.arange(k)       # one block of T+1 bins per label
        positive = positive.reshape(-1, k)
        bins = (k, t + 1)
    else:
        bins = (t + 1,)
    size = int(np.prod(bins))
    hist_all = np.bincount(levels.ravel(), minlength=size).reshape(bins)
    hist_pos = np.bincount(levels[positive], minlength=size).reshape(bins)
    above_all = np.cumsum(hist_all[..., ::-1], axis=-1)[..., ::-1][..., 1:]   # (T,) or (K, T)
    tp = np.cumsum(hist_pos[..., ::-1], axis=-1)[..., ::-1][..., 1:]
    fp = above_all - tp
    n_pos, n_all = hist_pos.sum(axis=-1, keepdims=True), hist_all.sum(axis=-1, keepdims=True)
    fn, tn = n_pos - tp, (n_all - n_pos) - fp
    return tp.T, fp.T, tn.T, fn.T


def _check_thresholds(thresholds: Any) -> list[float]:
    """A number or a non-empty list of numbers in [0, 1] as a list of floats (Keras's parse_init_thresholds)."""
    values = list(thresholds) if np.ndim(thresholds) else [thresholds]
    if not values:
        raise ValueError("thresholds must not be empty")
    return [check_float(value, f"thresholds[{i}]", 0.0, 1.0) for i, value in enumerate(values)]


class _PrecisionRecall(_ThresholdCounts):
    def __init__(self, thresholds: float | Sequence[float] | None, name: str | None, default_name: str):
        checked = [0.5] if thresholds is None else _check_thresholds(thresholds)
        # As given (None, one number or a list), in plain floats so a saved model's JSON holds it.
        self.init_thresholds = None if thresholds is None else checked if np.ndim(thresholds) else checked[0]
        super().__init__(default_name if name is None else name, checked)

    def _result(self, ratio: np.ndarray) -> float | np.ndarray:
        return _as_result(ratio[0] if len(self.thresholds) == 1 else ratio)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "thresholds": self.init_thresholds}


class Precision(_PrecisionRecall):
    """TP / (TP + FP) over every entry (micro), 0 without predicted positives (keras.metrics.Precision).

    ``thresholds``: a number or a list (default 0.5, "positive" means
    ``y_pred > threshold``); with a list ``result()`` is one value per threshold.
    """

    def __init__(self, thresholds: float | Sequence[float] | None = None, name: str | None = None):
        super().__init__(thresholds, name, "precision")

    def result(self) -> float | np.ndarray:
        return self._result(_divide_no_nan(self.true_positives, self.true_positives + self.false_positives))


class Recall(_PrecisionRecall):
    """TP / (TP + FN) over every entry (micro), 0 without actual positives (keras.metrics.Recall)."""

    def __init__(self, thresholds: float | Sequence[float] | None = None, name: str | None = None):
        super().__init__(thresholds, name, "recall")

    def result(self) -> float | np.ndarray:
        return self._result(_divide_no_nan(self.true_positives, self.true_positives + self.false_negatives))


def _riemann_heights(y: np.ndarray, summation_method: str) -> np.ndarray:
    """Heights of the T-1 rectangles between successive thresholds, from y (T, ...)."""
    return {"interpolation": lambda: (y[:-1] + y[1:]) / 2.0,
            "minoring": lambda: np.minimum(y[:-1], y[1:]),
            "majoring": lambda: np.maximum(y[:-1], y[1:])}[summation_method]()


class AUC(_ThresholdCounts):
    """Area under the ROC or PR curve from confusion counts on a fixed threshold grid (keras.metrics.AUC).

    The grid is ``[-eps, 1/(T-1), ..., (T-2)/(T-1), 1 + eps]`` with
    T = ``num_thresholds`` and eps = 1e-7, so every prediction in [0, 1] is
    above the first threshold and none above the last. ROC: trapezoids of
    recall over false-positive rate ("interpolation"), or the lower/upper
    step ("minoring"/"majoring"). PR with "interpolation" integrates the
    Davis-Goadrich interpolation of precision (AUC.interpolate_pr_auc).
    Without ``multi_label`` all entries count as one binary problem (micro);
    with it, the mean of the K per-label AUCs (macro).
    """

    # The spellings Keras's AUCCurve.from_str and AUCSummationMethod.from_str accept.
    _CURVES = {spelling: curve for curve in ("ROC", "PR", "PRGAIN") for spelling in (curve, curve.lower())}
    _SUMMATIONS = {spelling: method for method in ("interpolation", "majoring", "minoring")
                   for spelling in (method, method.capitalize())}

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 multi_label: bool = False, name: str | None = None):
        num_thresholds = check_int(num_thresholds, "num_thresholds", minimum=2)
        if not isinstance(curve, str) or curve not in self._CURVES:
            raise ValueError(f"curve must be one of {sorted(self._CURVES)}, got {curve!r}")
        if not isinstance(summation_method, str) or summation_method not in self._SUMMATIONS:
            raise ValueError(f"summation_method must be one of {sorted(self._SUMMATIONS)}, got {summation_method!r}")
        self.num_thresholds = num_thresholds
        self.curve = self._CURVES[curve]
        self.summation_method = self._SUMMATIONS[summation_method]
        self.multi_label = check_bool(multi_label, "multi_label")
        inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        super().__init__("auc" if name is None else name, [0.0 - _EPSILON] + inner + [1.0 + _EPSILON],
                         per_label=self.multi_label, evenly=True)

    def update_state(self, y_true: Any, y_pred: Any) -> None:
        self.update(*_check_targets(y_true, y_pred, ndim=2 if self.multi_label else None))

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        if self.multi_label and self.true_positives is not None and y_pred.shape[1] != self.true_positives.shape[1]:
            raise ValueError(f"y_pred has {y_pred.shape[1]} labels; earlier batches had "
                             f"{self.true_positives.shape[1]} (reset_state first)")
        super().update(y_true, y_pred)

    def result(self) -> float:
        """The area (0.0 before any update); per-label areas averaged when ``multi_label``."""
        if self.true_positives is None:
            return 0.0
        tp, fp, tn, fn = (c.astype(np.float64) for c in (self.true_positives, self.false_positives,
                                                          self.true_negatives, self.false_negatives))
        if self.curve == "PR" and self.summation_method == "interpolation":
            areas = self._interpolated_pr_area(tp, fp, fn)
        else:
            x, y = self._curve(tp, fp, tn, fn)
            areas = np.sum((x[:-1] - x[1:]) * _riemann_heights(y, self.summation_method), axis=0)
        return float(np.mean(areas))

    def _curve(self, tp, fp, tn, fn) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) at each threshold, (T,) or (T, K): ROC (FPR, recall), PR (recall, precision), or PR gain."""
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            return _divide_no_nan(fp, fp + tn), recall
        if self.curve == "PR":
            return recall, _divide_no_nan(tp, tp + fp)
        # PR gain (Flach & Kull 2015), with Keras's fixes: no true positives gives gains (0, 1);
        # negative recall gains are raised to 0.
        scale = _divide_no_nan(tp + fn, tn + fp)
        recall_gain = np.where(tp == 0, 0.0, 1.0 - scale * _divide_no_nan(fn, tp))
        precision_gain = np.where(tp == 0, 1.0, 1.0 - scale * _divide_no_nan(fp, tp))
        return np.maximum(recall_gain, 0.0), precision_gain

    @staticmethod
    def _interpolated_pr_area(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
        """Davis & Goadrich's PR area: TP and TP + FP linear between thresholds, precision not.

        Per interval: slope * (dTP + intercept * log(P_A / P_B)) / (TP_B + FN_B),
        slope = dTP / dP, intercept = TP_B - slope * P_B, P = TP + FP
        (Keras's AUC.interpolate_pr_auc derives it).
        """
        p = tp + fp
        dtp, dp = tp[:-1] - tp[1:], p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both_positive = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both_positive, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        return np.sum(_divide_no_nan(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0)),
                      axis=0)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "multi_label": self.multi_label}


class F1Score(Metric):
    """F1 per label from running TP, FP, FN sums (keras.metrics.F1Score), K labels.

    Prediction: ``y_pred > threshold``; with ``threshold=None`` (Keras's
    default) each row's maximum alone is positive (ties all are; an all-zero
    row none) -- single-label semantics: for multilabel outputs pass
    ``threshold=0.5``. Unlike Precision/Recall, y_true enters as a number,
    not cast to bool: TP = sum(pred * y_true), FP = sum(pred * (1 - y_true)).

    precision = TP / (TP + FP + eps), recall = TP / (TP + FN + eps),
    F1 = 2 precision recall / (precision + recall + eps), eps = 1e-7.
    ``average``: None -> the (K,) array; "micro" -> F1 of the counts summed
    over labels; "macro" -> mean of the K values; "weighted" -> their mean
    weighted by support sum(y_true) per label.
    """

    direction = "up"

    _AVERAGES = (None, "micro", "macro", "weighted")

    def __init__(self, average: str | None = None, threshold: float | None = None, name: str = "f1_score"):
        if average not in self._AVERAGES:
            raise ValueError(f"average must be one of {self._AVERAGES}, got {average!r}")
        self.average = average
        # Keras: 0 < threshold <= 1.
        self.threshold = None if threshold is None else check_float(threshold, "threshold", 0.0, 1.0, low_open=True)
        super().__init__(name)

    def reset_state(self) -> None:
        self.true_positives = self.false_positives = self.false_negatives = self.support = None

    def update_state(self, y_true: Any, y_pred: Any) -> None:
        y_true, y_pred = _check_targets(y_true, y_pred, ndim=2)
        if self.support is not None and np.ndim(self.support) and y_pred.shape[1] != len(self.support):
            raise ValueError(f"y_pred has {y_pred.shape[1]} labels; earlier batches had {len(self.support)} "
                             "(reset_state first)")
        self.update(y_true, y_pred)

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        if self.threshold is None:
            predicted = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        axis = None if self.average == "micro" else 0
        tp = np.sum(y_true, axis=axis, where=predicted, dtype=np.float64)
        support = np.sum(y_true, axis=axis, dtype=np.float64)
        # FP = sum(pred (1 - y_true)) and FN = sum((1 - pred) y_true), from three sums instead of four products.
        sums = [tp, np.count_nonzero(predicted, axis=axis) - tp, support - tp, support]
        if self.support is None:
            self.true_positives, self.false_positives, self.false_negatives, self.support = sums
        else:
            self.true_positives = self.true_positives + sums[0]
            self.false_positives = self.false_positives + sums[1]
            self.false_negatives = self.false_negatives + sums[2]
            self.support = self.support + sums[3]

    def result(self) -> float | np.ndarray:
        """F1 as ``average`` asks (0.0 before any update)."""
        if self.support is None:
            return 0.0
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + _EPSILON)
        recall = tp / (tp + self.false_negatives + _EPSILON)
        f1 = precision * recall / (precision + recall + _EPSILON) * 2.0
        if self.average == "weighted":
            return float(np.sum(f1 * (self.support / (np.sum(self.support) + _EPSILON))))
        return _as_result(f1 if self.average is None else np.mean(f1))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "average": self.average, "threshold": self.threshold}


# -- multiclass accuracy -----------------------------------------------------------------------

def _check_class_scores(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """y_true (N, K) one-hot rows (any finite reals: only their argmax counts) and scores y_pred (N, K)."""
    y_pred = as_float_array(y_pred, "y_pred", backend.float_dtype(), ndim=2)
    y_true = as_float_array(y_true, "y_true", backend.float_dtype(), ndim=2)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    return y_true, y_pred


def _check_class_ids(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Class ids (N,) in [0, K) from (N,) or (N, 1), and scores y_pred (N, K)."""
    y_pred = as_float_array(y_pred, "y_pred", backend.float_dtype(), ndim=2)
    ids = as_class_ids(y_true, "y_true", num_classes=y_pred.shape[1])
    if ids.shape != (len(y_pred),):
        raise ValueError(f"y_true must hold one class id per row of y_pred ({len(y_pred)}), "
                         f"shape (N,) or (N, 1), got {np.shape(y_true)}")
    return ids, y_pred


def _top_k_hits(ids: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Whether each row's target class is among its k highest scores: bool (N,).

    As tf.math.in_top_k, a tie counts in the target's favour: the target is in
    the top k when fewer than k classes score strictly higher.
    """
    target = np.take_along_axis(scores, ids[:, None], axis=1)   # (N, 1)
    return np.count_nonzero(scores > target, axis=1) < k


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """``argmax(y_true) == argmax(y_pred)`` per row as floats (N,); y_pred may be probabilities or logits."""
    y_true, y_pred = _check_class_scores(y_true, y_pred)
    return (y_true.argmax(axis=1) == y_pred.argmax(axis=1)).astype(backend.float_dtype())


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """``y_true == argmax(y_pred)`` per row as floats (N,), for class ids y_true (N,) or (N, 1)."""
    ids, y_pred = _check_class_ids(y_true, y_pred)
    return (ids == y_pred.argmax(axis=1)).astype(backend.float_dtype())


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """1.0 where argmax(y_true) is among the k highest scores of y_pred (ties count as hits), per row (N,)."""
    k = check_int(k, "k", minimum=1)
    y_true, y_pred = _check_class_scores(y_true, y_pred)
    return _top_k_hits(y_true.argmax(axis=1), y_pred, k).astype(backend.float_dtype())


class _MeanMetric(Metric):
    """The running mean of one value per sample (Keras's MeanMetricWrapper): ``values`` says which."""

    def reset_state(self) -> None:
        self.total, self.count = 0.0, 0

    def result(self) -> float:
        """The mean so far (0.0 before any update, as Keras)."""
        return float(self.total / self.count) if self.count else 0.0

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """One value per sample (or per entry), for checked arrays."""
        raise NotImplementedError

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        values = self.values(y_true, y_pred)
        self.total += float(np.add.reduce(values, axis=None, dtype=np.float64))
        self.count += values.size


class CategoricalAccuracy(_MeanMetric):
    """Fraction of rows whose argmax matches the one-hot target's (keras.metrics.CategoricalAccuracy).

    Ties go to the first maximal class, in the target as in the prediction (argmax).
    """

    direction = "up"

    def __init__(self, name: str = "categorical_accuracy"):
        super().__init__(name)

    def update_state(self, y_true: Any, y_pred: Any) -> None:
        self.update(*_check_class_scores(y_true, y_pred))

    def values(self, y_true, y_pred):
        return y_true.argmax(axis=1) == y_pred.argmax(axis=1)


class SparseCategoricalAccuracy(_MeanMetric):
    """Fraction of rows whose argmax is the class id y_true (keras.metrics.SparseCategoricalAccuracy)."""

    direction = "up"

    def __init__(self, name: str = "sparse_categorical_accuracy"):
        super().__init__(name)

    def update_state(self, y_true: Any, y_pred: Any) -> None:
        self.update(*_check_class_ids(y_true, y_pred))

    def values(self, y_true, y_pred):
        return y_true == y_pred.argmax(axis=1)


class TopKCategoricalAccuracy(_MeanMetric):
    """Fraction of rows whose target class is among the k highest scores (keras.metrics.TopKCategoricalAccuracy)."""

    direction = "up"

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy"):
        self.k = check_int(k, "k", minimum=1)
        super().__init__(name)

    def update_state(self, y_true: Any, y_pred: Any) -> None:
        self.update(*_check_class_scores(y_true, y_pred))

    def values(self, y_true, y_pred):
        return _top_k_hits(y_true.argmax(axis=1), y_pred, self.k)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k}


# -- regression ----------------------------------------------------------------------------------

def _check_regression(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Finite (y_true, y_pred) of one 2-D shape (N, K); y_true (N,) goes with y_pred (N, 1)."""
    y_true, y_pred = losses.regression.checked_regression_pair(y_true, y_pred)
    if y_pred.ndim != 2:
        raise ValueError(f"y_pred must be 2-dimensional (N, K), got shape {y_pred.shape}")
    return y_true, y_pred


class _RegressionMetric(_MeanMetric):
    direction = "down"

    def update_state(self, y_true: Any, y_pred: Any) -> None:
        self.update(*_check_regression(y_true, y_pred))


class MeanSquaredError(_RegressionMetric):
    """The mean over samples of mean((y_true - y_pred)^2) over outputs (keras.metrics.MeanSquaredError, "mse")."""

    def __init__(self, name: str = "mean_squared_error"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        return np.square(y_true - y_pred).mean(axis=1)


class MeanAbsoluteError(_RegressionMetric):
    """The mean over samples of mean(|y_true - y_pred|) over outputs (keras.metrics.MeanAbsoluteError, "mae")."""

    def __init__(self, name: str = "mean_absolute_error"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        return np.abs(y_true - y_pred).mean(axis=1)


class RootMeanSquaredError(MeanSquaredError):
    """sqrt of the running mean squared error (keras.metrics.RootMeanSquaredError)."""

    def __init__(self, name: str = "root_mean_squared_error"):
        super().__init__(name)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class R2Score(Metric):
    """The coefficient of determination per output, 1 - SS_res / SS_tot, from running sums (keras.metrics.R2Score).

    State per output k (K,): sum y, sum y^2, sum (y - y_pred)^2, count; so
    SS_tot = sum y^2 - (sum y)^2 / count. ``class_aggregation``: "uniform_average"
    (mean over outputs), "variance_weighted_average" (weighted by SS_tot) or
    None (the (K,) array). An output with SS_tot = 0 scores 0 where Keras's
    division gives inf, and NaN where it gives 0/0, as Keras. With
    ``num_regressors`` p > 0, the adjusted score 1 - (1 - R2)(n - 1)/(n - p - 1),
    n the number of entries seen, unless n - 1 <= p (then the plain score, as Keras warns).
    """

    direction = "up"
    _AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")

    def __init__(self, class_aggregation: str | None = "uniform_average", num_regressors: int = 0,
                 name: str = "r2_score"):
        if class_aggregation not in self._AGGREGATIONS:
            raise ValueError(f"class_aggregation must be one of {self._AGGREGATIONS}, got {class_aggregation!r}")
        self.class_aggregation = class_aggregation
        self.num_regressors = check_int(num_regressors, "num_regressors", minimum=0)
        super().__init__(name)

    def reset_state(self) -> None:
        self.sum = self.squared_sum = self.residual = self.count = None
        self.num_samples = 0

    def update_state(self, y_true: Any, y_pred: Any) -> None:
        y_true, y_pred = _check_regression(y_true, y_pred)
        if self.sum is not None and y_pred.shape[1] != len(self.sum):
            raise ValueError(f"y_pred has {y_pred.shape[1]} outputs; earlier batches had {len(self.sum)} "
                             "(reset_state first)")
        self.update(y_true, y_pred)

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        y, residual = y_true.astype(np.float64), np.square(y_true - y_pred, dtype=np.float64)
        sums = [y.sum(axis=0), np.square(y).sum(axis=0), residual.sum(axis=0), np.full(y.shape[1], len(y), float)]
        if self.sum is None:
            self.sum, self.squared_sum, self.residual, self.count = sums
        else:
            self.sum, self.squared_sum, self.residual, self.count = (
                old + new for old, new in zip((self.sum, self.squared_sum, self.residual, self.count), sums))
        self.num_samples += y.size

    def result(self) -> float | np.ndarray:
        """R2 aggregated as ``class_aggregation`` asks (0.0 before any update)."""
        if self.sum is None:
            return 0.0
        total = self.squared_sum - self.sum * (self.sum / self.count)   # SS_tot (K,)
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = 1 - self.residual / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation is None:
            score = raw
        elif self.class_aggregation == "uniform_average":
            score = np.mean(raw)
        else:
            score = np.sum(total * raw) / np.sum(total)
        n, p = self.num_samples, self.num_regressors
        if 0 < p < n - 1:
            score = 1 - (1 - score) * (n - 1) / (n - p - 1)
        return _as_result(score)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "class_aggregation": self.class_aggregation, "num_regressors": self.num_regressors}


MetricLike = Union[str, Metric, Callable]

# The strings compile accepts: Keras's registry names (class and snake case) of these metrics, and its
# short aliases.
_METRICS_BY_NAME: dict[str, type] = {
    alias: cls
    for cls, snake, *short in (
        (BinaryAccuracy, "binary_accuracy"), (Precision, "precision"), (Recall, "recall"), (AUC, "auc"),
        (F1Score, "f1_score"), (CategoricalAccuracy, "categorical_accuracy"),
        (SparseCategoricalAccuracy, "sparse_categorical_accuracy"),
        (TopKCategoricalAccuracy, "top_k_categorical_accuracy"), (MeanSquaredError, "mean_squared_error", "mse"),
        (MeanAbsoluteError, "mean_absolute_error", "mae"), (RootMeanSquaredError, "root_mean_squared_error"),
        (R2Score, "r2_score"))
    for alias in (cls.__name__, snake, *short)
}

mean_squared_error = losses.mean_squared_error     # Keras's metric functions are its loss functions
mean_absolute_error = losses.mean_absolute_error

# The metric functions compile accepts, as Keras wraps them in a running mean.
_METRICS_BY_FUNCTION: dict[Callable, type] = {
    binary_accuracy: BinaryAccuracy, categorical_accuracy: CategoricalAccuracy,
    sparse_categorical_accuracy: SparseCategoricalAccuracy, top_k_categorical_accuracy: TopKCategoricalAccuracy,
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
}


def serialize(metric: Metric) -> dict[str, Any]:
    """``{"class_name": "AUC", "config": {...}}``: what a saved model stores, and ``get`` rebuilds."""
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def _deserialize(identifier: dict[str, Any]) -> Metric:
    cls = _METRICS_BY_NAME.get(identifier.get("class_name"))
    config = identifier.get("config")
    if cls is None or cls.__name__ != identifier["class_name"] or not isinstance(config, dict):
        class_names = sorted({c.__name__ for c in _METRICS_BY_NAME.values()})
        raise ValueError(f"a metric config must be {{'class_name': one of {class_names}, 'config': {{...}}}}, "
                         f"got {identifier!r}")
    try:
        return cls(**config)
    except TypeError as error:   # keys the constructor does not take
        raise ValueError(f"metric config {identifier!r}: {error}") from None


def get(identifier: MetricLike | dict[str, Any], loss: losses.Loss) -> Metric:
    """A fresh Metric for ``compile(metrics=[identifier])`` given the compiled ``loss``.

    Strings name the metric after themselves, as Keras's compile does
    (``"AUC"`` reports as "AUC", ``"auc"`` as "auc"); dicts are ``serialize``'s output.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return _deserialize(identifier)
    if isinstance(identifier, str) and identifier in ("accuracy", "acc"):
        # What "accuracy" means is the loss's to say (the contract's rule; Keras 3 differs, see module doc).
        if getattr(loss, "accuracy_metric", None) in _METRICS_BY_NAME:
            return _METRICS_BY_NAME[loss.accuracy_metric](name=identifier)
        raise ValueError(f"'accuracy' is not defined for the loss {loss!r} (its accuracy_metric is "
                         f"{getattr(loss, 'accuracy_metric', None)!r}); for regression use 'mae' or 'mse'")
    if isinstance(identifier, str) and identifier in _METRICS_BY_NAME:
        return _METRICS_BY_NAME[identifier](name=identifier)
    if callable(identifier) and identifier in _METRICS_BY_FUNCTION:
        return _METRICS_BY_FUNCTION[identifier]()
    raise ValueError(f"unknown metric {identifier!r}; expected 'accuracy', 'acc', one of "
                     f"{sorted(_METRICS_BY_NAME)}, one of npnet.metrics' functions or an npnet.metrics.Metric")
