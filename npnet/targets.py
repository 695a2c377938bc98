"""What a data file's targets are, and the output layer, report and predictions that fit them (``npnet train``).

Three tasks, Keras's three standard heads:

- multilabel: K columns of 0/1 labels (or probabilities) -> K sigmoid units,
  binary crossentropy; "accuracy" is binary accuracy. One 0/1 column is the binary case.
- multiclass: one column of class names or integer ids -> a softmax over the
  C classes (sorted), sparse categorical crossentropy, "accuracy".
- regression: columns of real numbers -> linear units, mean squared error, "mae".

``infer`` reads the task from the values when it is "auto": text, or one
column of integers other than 0/1, is multiclass; 0/1 (or values in [0, 1]
over several columns) is multilabel; other real numbers are refused with a
pointer to ``--task regression``, since a real-valued label column is as often a
mistake as a regression target. Scikit-learn (the reports) is imported lazily.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from npnet import datasets

TASKS = ("auto", "multilabel", "multiclass", "regression")
# task -> (output activation, loss, metrics): the head a Keras user writes for it
HEADS = {"multilabel": ("sigmoid", "binary_crossentropy", ["accuracy"]),
         "multiclass": ("softmax", "sparse_categorical_crossentropy", ["accuracy"]),
         "regression": ("linear", "mse", ["mae"])}


class Targets(NamedTuple):
    task: str
    y: np.ndarray        # multilabel, regression: (N, K) float64; multiclass: (N,) class ids (intp)
    names: list[str]     # multilabel, regression: the K column names; multiclass: the C class names
    column: str | None   # multiclass: the label column's name (None otherwise)


def infer(y: np.ndarray, column_names: Sequence[str], task: str, source: str) -> Targets:
    """The targets of a file's label columns y (N, K) (numbers, or text for class names) for ``task``."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if task == "auto":
        task = _guess(y, source)
    if task == "multiclass":
        if y.shape[1] != 1:
            raise datasets.DataError(f"{source}: a multiclass target is one column of class names or ids, "
                                     f"got {y.shape[1]} label columns")
        classes, ids = np.unique(_class_labels(y[:, 0]), return_inverse=True)
        if len(classes) < 2:
            raise datasets.DataError(f"{source}: the label column {column_names[0]!r} holds one class only")
        return Targets(task, ids, [str(name) for name in classes], column_names[0])
    values = _numbers(y, column_names, source)
    if task == "multilabel" and (values.min() < 0 or values.max() > 1):
        column = int(np.flatnonzero((values < 0).any(axis=0) | (values > 1).any(axis=0))[0])
        raise datasets.DataError(f"{source}: label column {column_names[column]!r} has values outside [0, 1]; "
                                 "labels must lie in [0, 1] (for class ids use --task multiclass, for real "
                                 "targets --task regression)")
    return Targets(task, values, list(column_names), None)


def _guess(y: np.ndarray, source: str) -> str:
    """Text, or one column of the ids 0, 1, ..., C-1 (each present, C > 2): multiclass; values in [0, 1]: multilabel.

    Other integers (25 to 346, say) are as likely a count to regress on as class
    ids, so they are refused with both options named.
    """
    if y.dtype.kind in "US":
        return "multiclass"
    if y.shape[1] == 1 and (y == np.round(y)).all() and y.min() == 0 and y.max() > 1 \
            and len(np.unique(y)) == y.max() + 1:
        return "multiclass"
    if y.min() >= 0 and y.max() <= 1:
        return "multilabel"
    raise datasets.DataError(f"{source}: the labels are numbers outside [0, 1] that are not the class ids "
                             "0, 1, ..., C-1; for a regression pass --task regression, for class ids "
                             "--task multiclass")


def _class_labels(column: np.ndarray) -> np.ndarray:
    """A column of class names (text) or ids (integral numbers) as one sortable array."""
    if column.dtype.kind in "US":
        return column
    if not (column == np.round(column)).all():
        raise datasets.DataError("class ids must be integers (or the label column text)")
    return column.astype(np.int64)


def _numbers(y: np.ndarray, column_names: Sequence[str], source: str) -> np.ndarray:
    if y.dtype.kind in "US":
        raise datasets.DataError(f"{source}: the label columns hold text; text labels are class names "
                                 "(one column, --task multiclass)")
    return y.astype(np.float64)


def encode(y: np.ndarray, task: str, names: Sequence[str], source: str) -> np.ndarray:
    """Labels read for a trained model: multiclass names/ids as ids into ``names`` (its classes), else numbers."""
    if task != "multiclass":
        return infer(y, [f"label_{k}" for k in range(y.shape[1])], task, source).y
    labels = _class_labels(y[:, 0]).astype(str)
    unknown = sorted(set(labels.tolist()) - set(names))
    if unknown:
        raise datasets.DataError(f"{source}: classes {unknown[:5]} were not in the training data "
                                 f"(the model knows {list(names)})")
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[label] for label in labels.tolist()], dtype=np.intp)


def report(task: str, y: np.ndarray, outputs: np.ndarray, names: Sequence[str]) -> str:
    """What fits the task, as text: scikit-learn's per-class report (multiclass), MAE/RMSE/R2 per target."""
    from sklearn import metrics
    if task == "multiclass":
        return metrics.classification_report(y, outputs.argmax(axis=1), labels=np.arange(len(names)),
                                             target_names=list(names), digits=4, zero_division=0)
    rows = [f"{'target':<20}{'MAE':>12}{'RMSE':>12}{'R2':>10}"]
    for k, name in enumerate(names):
        error = outputs[:, k] - y[:, k]
        rows.append(f"{name:<20}{np.mean(np.abs(error)):>12.6g}{np.sqrt(np.mean(error ** 2)):>12.6g}"
                    f"{metrics.r2_score(y[:, k], outputs[:, k]):>10.4f}")
    return "\n".join(rows)


def prediction_rows(task: str, outputs: np.ndarray, names: Sequence[str], threshold: float,
                    proba: bool) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) for ``npnet predict``: class names, 0/1 labels or values; probabilities with ``proba``.

    %.9g round-trips float32 exactly.
    """
    if task == "multiclass" and not proba:
        return ["class"], [[names[i]] for i in outputs.argmax(axis=1)]
    if task == "multilabel" and not proba:
        return list(names), (outputs > threshold).astype(int).tolist()
    return list(names), [[f"{value:.9g}" for value in row] for row in outputs.tolist()]
