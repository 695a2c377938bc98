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

from npnet._validation import as_float_array

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


def check_png_path(path: str | os.PathLike) -> str:
    """``path`` as a str, refused unless it ends with .png (every plot here writes a PNG)."""
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
    path = check_png_path(path)
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
    path = check_png_path(path)
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
