"""Per-label decision thresholds (opt-in): tune each label's cut on validation data, then apply it.

A sigmoid output is turned into labels by ``y_prob > 0.5`` (Keras's binary
accuracy). When labels are rare or the model is miscalibrated, another cut
per label can raise that label's F1. ``tune_thresholds`` picks, for each
label separately, the grid value that maximizes the chosen score on the data
it is given -- tune on validation data, not on the test set, or the gain is
optimistic. ``apply_thresholds`` uses the same strict ``>``.

Shapes: N samples, K labels, G grid values.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from npnet._validation import as_float_array, check_float, check_multilabel, check_unit_interval
from npnet.metrics import confusion_at_levels

# 0.01, 0.02, ..., 0.99: exact 0.5 included, so the default cut is always a candidate.
DEFAULT_GRID = np.arange(1, 100) / 100


def _f1(tp: np.ndarray, fp: np.ndarray, tn: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """2 TP / (2 TP + FP + FN), 0 when a label has no positives and none are predicted (sklearn's zero_division=0)."""
    denominator = 2 * tp + fp + fn
    return np.where(denominator == 0, 0.0, 2 * tp / np.maximum(denominator, 1))


def _accuracy(tp: np.ndarray, fp: np.ndarray, tn: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """(TP + TN) / N per label: maximizing it minimizes the label's share of the Hamming loss."""
    return (tp + tn) / (tp + fp + tn + fn)


_SCORES: dict[str, Callable[..., np.ndarray]] = {"f1": _f1, "accuracy": _accuracy}


def tune_thresholds(y_true: Any, y_prob: Any, metric: str = "f1", grid: Any = None) -> np.ndarray:
    """Each label's threshold from ``grid`` that maximizes ``metric`` on (y_true, y_prob): (K,) float64.

    y_true (N, K) 0/1 labels, y_prob (N, K) probabilities; metric "f1" (the
    label's F1) or "accuracy" (its binary accuracy); grid: 1-D thresholds in
    [0, 1] (default 0.01 .. 0.99). Ties go to the grid value nearest 0.5, then
    the lower one, so a label the grid cannot improve keeps 0.5 when 0.5 is
    in the grid.
    """
    y_true, y_prob = check_multilabel(y_true, y_prob)
    if not isinstance(metric, str) or metric not in _SCORES:
        raise ValueError(f"metric must be one of {sorted(_SCORES)}, got {metric!r}")
    grid = DEFAULT_GRID if grid is None else as_float_array(grid, "grid", np.float64, ndim=1)
    check_unit_interval(grid, "grid", "(thresholds)")
    grid = np.unique(grid)                                                # sorted, (G,)
    levels = np.searchsorted(grid, y_prob, side="left")                   # grid values below each p: (N, K)
    scores = _SCORES[metric](*confusion_at_levels(y_true == 1, levels, len(grid), per_label=True))  # (G, K)
    best = scores == scores.max(axis=0)
    preference = np.argsort(np.abs(grid - 0.5), kind="stable")            # nearest 0.5 first, lower on ties
    return grid[preference[np.argmax(best[preference], axis=0)]]


def per_label(threshold: Any, labels: int, name: str = "threshold") -> np.ndarray:
    """One cut per label, (K,) float64 in [0, 1]: a number (the same for every label) or K numbers."""
    if np.ndim(threshold) == 0:
        return np.full(labels, check_float(threshold, name, 0.0, 1.0))
    thresholds = as_float_array(threshold, name, np.float64, ndim=1)
    if thresholds.shape != (labels,):
        raise ValueError(f"{name} must be a number or one value per label ({labels}), got shape {thresholds.shape}")
    check_unit_interval(thresholds, name, "(thresholds)")
    return thresholds


def apply_thresholds(y_prob: Any, thresholds: Any) -> np.ndarray:
    """Labels ``y_prob > thresholds`` per column: y_prob (N, K) in [0, 1], thresholds (K,) -> (N, K) int64."""
    y_prob = as_float_array(y_prob, "y_prob", np.float64, ndim=2)
    check_unit_interval(y_prob, "y_prob", "(probabilities)")
    return (y_prob > per_label(thresholds, y_prob.shape[1], "thresholds")).astype(np.int64)
