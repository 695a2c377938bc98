"""A multilabel classification report computed with scikit-learn: ``multilabel_report`` and ``format_report``.

Predictions are ``y_prob > threshold`` (one cut, or one per label from
``npnet.thresholds.tune_thresholds``), as Keras's binary accuracy cuts.
scikit-learn (the ``demo`` extra) computes every number; it is imported
only when a report is made.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from npnet._validation import check_multilabel
from npnet.thresholds import apply_thresholds, per_label

_PER_LABEL = ("precision", "recall", "f1", "support", "roc_auc")
_AVERAGES = ("micro", "macro", "weighted")


def _sklearn_metrics():
    try:
        from sklearn import metrics
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("npnet.report needs scikit-learn: pip install 'npnet[demo]' "
                          "(or 'npnet[reference]')") from None
    return metrics


def _label_names(label_names: Any, k: int) -> list[str]:
    if label_names is None:
        return [f"label_{j}" for j in range(k)]
    if not isinstance(label_names, (list, tuple)) or not all(isinstance(name, str) for name in label_names):
        raise TypeError(f"label_names must be a list of str, got {label_names!r}")
    if len(label_names) != k or len(set(label_names)) != k:
        raise ValueError(f"label_names must be {k} distinct names, one per label, got {list(label_names)}")
    return list(label_names)


def _roc_auc(sk: Any, y_true: np.ndarray, y_prob: np.ndarray, **kwargs: Any) -> float | None:
    """roc_auc_score, or None where it is undefined (a label, or all entries, of one class only).

    scikit-learn raises ValueError there (< 1.6) or warns and returns NaN (>= 1.6).
    """
    from sklearn.exceptions import UndefinedMetricWarning   # sklearn is importable: sk came from it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            value = float(sk.roc_auc_score(y_true, y_prob, **kwargs))
    except ValueError:
        return None
    return None if np.isnan(value) else value


def multilabel_report(y_true: Any, y_prob: Any, threshold: Any = 0.5, label_names: Any = None) -> dict[str, Any]:
    """Set-level scores, per-label precision/recall/F1/support/ROC AUC, and their averages.

    y_true (N, K) 0/1 labels; y_prob (N, K) probabilities; threshold a number
    in [0, 1] or a (K,) array of per-label cuts; label_names K distinct strings
    (default label_0 ..). Returns a dict::

        {"n_samples", "n_labels", "thresholds": [K floats],
         "hamming_loss", "subset_accuracy", "binary_accuracy",
         "labels": {name: {"precision", "recall", "f1", "support", "roc_auc"}},
         "micro" / "macro" / "weighted": {same keys, support summed}}

    subset_accuracy counts rows with every label right (sklearn's accuracy_score
    on label matrices); binary_accuracy is 1 - hamming_loss, Keras's "accuracy".
    Precision/F1 of a label never predicted positive are 0 (zero_division=0).
    roc_auc is None where undefined (a label with one class only); the macro
    average needs every label's. One label (K = 1) is scored as any label is,
    by its positives; every average then equals its row.
    """
    y_true, y_prob = check_multilabel(y_true, y_prob)
    k = y_true.shape[1]
    names = _label_names(label_names, k)
    thresholds = per_label(threshold, k)
    y_pred = apply_thresholds(y_prob, thresholds)
    sk = _sklearn_metrics()
    report: dict[str, Any] = {
        "n_samples": int(y_true.shape[0]), "n_labels": k, "thresholds": thresholds.tolist(),
        "hamming_loss": float(sk.hamming_loss(y_true, y_pred)),
        "subset_accuracy": float(sk.accuracy_score(y_true, y_pred)),
        "binary_accuracy": float(sk.accuracy_score(y_true.ravel(), y_pred.ravel())),
    }
    # scikit-learn reads an (N, 1) 0/1 array as a binary target with classes 0 and 1, and would score
    # (and average over) the negative class as well; labels=[1] keeps the label's own positives.
    # From K = 2 columns on it is a multilabel indicator, whose every column is a label.
    positives = {"labels": [1]} if k == 1 else {}
    precision, recall, f1, support = sk.precision_recall_fscore_support(y_true, y_pred, average=None,
                                                                        zero_division=0, **positives)
    per_label_auc = [_roc_auc(sk, y_true[:, j], y_prob[:, j]) for j in range(k)]
    report["labels"] = {name: dict(zip(_PER_LABEL, (float(precision[j]), float(recall[j]), float(f1[j]),
                                                    int(support[j]), per_label_auc[j])))
                        for j, name in enumerate(names)}
    for average in _AVERAGES:
        p, r, f, _ = sk.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0,
                                                        **positives)
        report[average] = dict(zip(_PER_LABEL, (float(p), float(r), float(f), int(support.sum()),
                                                _roc_auc(sk, y_true, y_prob, average=average))))
    return report


def format_report(report: dict[str, Any], digits: int = 4) -> str:
    """``multilabel_report``'s dict as a text table, one row per label and per average, then the set scores."""
    if not isinstance(report, dict) or "labels" not in report:
        raise TypeError("report must be the dict multilabel_report returns")
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits must be an int >= 1, got {digits!r}")
    rows = [(name, scores) for name, scores in report["labels"].items()]
    rows += [(f"{average} avg", report[average]) for average in _AVERAGES]
    width = max(len("subset accuracy"), *(len(name) for name in report["labels"]))
    column = max(digits + 2, 9)

    def number(value: Any) -> str:
        return "n/a".rjust(column) if value is None else f"{value:{column}.{digits}f}"

    lines = [" " * width + "".join(header.rjust(column + 1) for header in
                                    ("precision", "recall", "f1-score", "support", "roc-auc"))]
    for index, (name, scores) in enumerate(rows):
        if index == len(report["labels"]):
            lines.append("")
        lines.append(name.rjust(width) + " " + " ".join(
            [number(scores["precision"]), number(scores["recall"]), number(scores["f1"]),
             str(scores["support"]).rjust(column), number(scores["roc_auc"])]))
    lines.append("")
    for key in ("hamming_loss", "subset_accuracy", "binary_accuracy"):
        lines.append(key.replace("_", " ").rjust(width) + " " + number(report[key]))
    return "\n".join(lines)
