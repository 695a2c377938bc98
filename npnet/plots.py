"""PNG plots of training: ``plot_history`` (loss and accuracy curves) and ``plot_label_metrics`` (per-label bars).

Needs the ``plots`` extra (matplotlib), imported inside the functions. The
figures are drawn on ``matplotlib.figure.Figure`` objects, not through
``pyplot``: no backend is switched and no global figure registry is touched,
so these functions are safe inside a notebook or a GUI program.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

from npnet._validation import as_class_ids, as_float_array

# The bars of plot_label_metrics when it is given a plain (3, K) array.
LABEL_METRICS = ("precision", "recall", "F1")


def require_matplotlib() -> type:
    """matplotlib's ``Figure`` class, or an ImportError naming the extra to install."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("npnet.plots needs matplotlib: pip install 'npnet[plots]'") from None
    return Figure


def _figure(width: float, height: float, columns: int = 1) -> tuple[Any, Any]:
    figure = require_matplotlib()(figsize=(width, height))
    return figure, figure.subplots(1, columns, squeeze=False)[0]


def _check_path(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    if not isinstance(path, str) or not path.lower().endswith(".png"):
        raise ValueError(f"path must end with '.png', got {path!r}")
    return path


def plot_history(history: Any, path: str | os.PathLike) -> None:
    """Two panels, loss and accuracy per epoch, training solid and validation dashed, written to ``path``.

    ``history`` is a ``History`` (what ``fit`` returns) or its ``.history``
    dict: per-epoch lists under "loss", a metric name, and their "val_" twins.
    The accuracy panel shows the first metric that is not a loss.
    """
    curves = getattr(history, "history", history)
    if not isinstance(curves, Mapping) or not curves.get("loss"):
        raise ValueError("history must be a History or a dict with a non-empty 'loss' list")
    path = _check_path(path)
    metric = next((key for key in curves if key != "loss" and not key.startswith("val_")), None)
    figure, axes = _figure(10, 4, columns=2)
    for panel, key in zip(axes, ("loss", metric)):
        if key is None:
            panel.set_visible(False)
            continue
        for name, style in ((key, "-"), ("val_" + key, "--")):
            if name in curves:
                values = as_float_array(curves[name], f"history[{name!r}]", np.dtype(np.float64), ndim=1)
                panel.plot(np.arange(1, len(values) + 1), values, style,
                           label="validation" if name.startswith("val_") else "training")
        panel.set(xlabel="epoch", ylabel=key, title=key)
        panel.grid(alpha=0.3)
        panel.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def plot_label_metrics(per_label: Mapping[str, Any] | Any, label_names: Sequence[str],
                       path: str | os.PathLike) -> None:
    """A grouped bar chart, one group per label and one bar per metric, written to ``path``.

    ``per_label`` maps metric names to K values each (e.g. ``{"precision":
    p, "recall": r, "F1": f}``), or is a plain (M, K) array whose rows are
    precision, recall and F1 when M = 3. Values must lie in [0, 1].
    """
    if isinstance(per_label, Mapping):
        names = [str(name) for name in per_label]
        values = as_float_array([np.asarray(v, dtype=np.float64) for v in per_label.values()], "per_label",
                                np.dtype(np.float64), ndim=2)
    else:
        values = as_float_array(per_label, "per_label", np.dtype(np.float64), ndim=2)
        if len(values) != len(LABEL_METRICS):
            raise ValueError(f"a per_label array must have {len(LABEL_METRICS)} rows {LABEL_METRICS}, "
                             f"got shape {values.shape}; pass a dict to name other metrics")
        names = list(LABEL_METRICS)
    label_names = [str(name) for name in label_names]
    if values.shape[1] != len(label_names):
        raise ValueError(f"per_label has {values.shape[1]} values per metric, label_names has {len(label_names)}")
    if values.min() < 0 or values.max() > 1:
        raise ValueError(f"per_label values must lie in [0, 1], got [{values.min()}, {values.max()}]")
    path = _check_path(path)
    figure, (axes,) = _figure(max(5.0, 1.2 * len(label_names) + 2), 4)
    width = 0.8 / len(names)
    positions = np.arange(len(label_names))
    for index, (name, row) in enumerate(zip(names, values)):
        bars = axes.bar(positions + (index - (len(names) - 1) / 2) * width, row, width, label=name)
        axes.bar_label(bars, fmt="%.2f", fontsize=7)
    axes.set_xticks(positions, label_names)
    axes.set(ylim=(0, 1.25), ylabel="score", title="per-label scores")
    axes.legend(loc="upper center", ncol=len(names))   # above the bars, which reach at most 1
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def plot_confusion_matrix(y_true: Any, y_pred: Any, class_names: Sequence[str], path: str | os.PathLike) -> None:
    """The C x C confusion matrix of class ids y_true and y_pred (N,), rows true and columns predicted, as a PNG.

    Each cell shows its count, shaded by the fraction of its row (the recall of the true class).
    """
    class_names = [str(name) for name in class_names]
    truth = as_class_ids(y_true, "y_true", len(class_names))
    predicted = as_class_ids(y_pred, "y_pred", len(class_names))
    if truth.shape != predicted.shape or truth.ndim != 1:
        raise ValueError(f"y_true and y_pred must be (N,) class ids of one length, got {truth.shape} and "
                         f"{predicted.shape}")
    counts = np.zeros((len(class_names),) * 2, np.int64)                    # (C, C)
    np.add.at(counts, (truth, predicted), 1)
    path = _check_path(path)
    size = max(4.0, 0.45 * len(class_names) + 2)
    figure, (axes,) = _figure(size + 1, size)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(counts):
        axes.text(column, row, str(count), ha="center", va="center", fontsize=7,
                  color="white" if shares[row, column] > 0.5 else "black")
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=90)
    axes.set_yticks(ticks, class_names)
    axes.set(xlabel="predicted class", ylabel="true class", title="confusion matrix (shade: share of the row)")
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def plot_predicted_vs_true(y_true: Any, y_pred: Any, target_names: Sequence[str], path: str | os.PathLike) -> None:
    """Predicted against true values (N, K), one panel per target with the line y = x, as a PNG."""
    target_names = [str(name) for name in target_names]
    truth = as_float_array(y_true, "y_true", np.dtype(np.float64), ndim=2)
    predicted = as_float_array(y_pred, "y_pred", np.dtype(np.float64), ndim=2)
    if truth.shape != predicted.shape or truth.shape[1] != len(target_names):
        raise ValueError(f"y_true and y_pred must be (N, {len(target_names)}), got {truth.shape} and "
                         f"{predicted.shape}")
    path = _check_path(path)
    figure, panels = _figure(4.5 * len(target_names), 4.5, columns=len(target_names))
    for panel, name, true, guess in zip(panels, target_names, truth.T, predicted.T):
        low, high = min(true.min(), guess.min()), max(true.max(), guess.max())
        panel.plot([low, high], [low, high], color="grey", linewidth=1, label="y = x")
        panel.scatter(true, guess, s=10, alpha=0.6)
        panel.set(xlabel=f"true {name}", ylabel=f"predicted {name}", title=name)
        panel.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
