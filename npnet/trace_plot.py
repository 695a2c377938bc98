"""A picture of one training step: ``plot_trace(trace, "step.png")`` draws a ``StepTrace`` as a graph of its arrays.

One column per layer, the data on the left and the loss on the right. Each
layer's column holds four rows of boxes, one box per array the trace
recorded: the forward pass (z, y), the backward pass (dz, dy), the weights'
gradients (dW, db, ...) and the optimizer's update (ΔW = w_new − w, ...).
Each box gives the array's shape and norm; arrows follow the computation
(x → z → y → the next layer's z; the loss → dz → dW, db and the dy of the
layer below; dW → ΔW). Given ``differences`` (``npnet.testing.compare_trace_with_keras``)
each box is colored by max |npnet − Keras| on a log scale, so a wrong array
and everything computed from it light up. Needs the ``plots`` extra
(matplotlib, imported by ``npnet.plots.require_matplotlib``).
Reading the picture: docs/backprop.md#tracing-a-step.
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping

import numpy as np

from npnet.plots import check_png_path, require_matplotlib
from npnet.trace import StepTrace

# Rows of a layer's column, top to bottom, and what each holds (the row's label on the left).
ROWS = ("forward", "backward", "gradient", "update")
ROW_LABELS = ("forward\nz = xW + b, y = f(z)", "backward\ndz = dy ⊙ f′(z)", "gradients\ndW = xᵀdz, db = Σ dz",
              "update\nw_new − w")
# Colors without a comparison: one per row.
ROW_COLORS = ("#cfe2f3", "#fce5cd", "#d9ead3", "#e6dff0")
# The color scale of |npnet − Keras|: float32 rounding at the low end, a wrong array at the high end.
DIFFERENCE_RANGE = (1e-9, 1e-1)
# A box gets a bold border beyond this difference: float32 rounding stays below 1e-5 (testing.DEFAULT_TOLERANCES).
WRONG = 1e-4
BOX_WIDTH, BOX_HEIGHT, COLUMN_GAP, ROW_GAP = 1.0, 0.62, 0.35, 0.45


def _row_and_slot(name: str, arrays: Mapping[str, Any]) -> tuple[int, int] | None:
    """Where an array of a layer's trace goes: (row, slot within the layer's column), or None (not drawn).

    z before y and dz before dy when the layer has them (Dense); a layer
    without (Dropout, BatchNormalization) has y and dy in its first slot.
    x is drawn once, as the network's input; a Dropout's mask is not drawn.
    """
    fixed = {"z": (0, 0), "y": (0, 1 if "z" in arrays else 0), "dz": (1, 0), "dy": (1, 1 if "dz" in arrays else 0)}
    if name in fixed:
        return fixed[name]
    if name.startswith("update_"):
        return 3, -1          # slot assigned in weight order below
    if name.startswith("d"):
        return 2, -1
    return None


def _label(name: str) -> str:
    return "Δ" + name[len("update_"):] if name.startswith("update_") else name


def _layout(trace: StepTrace) -> list[dict[str, tuple[float, float]]]:
    """Each layer's {array name: (x, y) of its box's lower-left corner}; layer l's column starts after layer l-1's."""
    positions, left = [], BOX_WIDTH + COLUMN_GAP * 2        # the input box x is alone in the first column
    for layer in trace.layers:
        slots = [0, 0, 0, 0]
        boxes = {}
        for name, array in layer.arrays.items():
            place = _row_and_slot(name, layer.arrays)
            if array is None or place is None:
                continue
            row, slot = place
            if slot < 0:
                slot = slots[row]
            slots[row] = max(slots[row], slot + 1)
            boxes[name] = (left + slot * (BOX_WIDTH + 0.1), -row * (BOX_HEIGHT + ROW_GAP))
        width = max(slots) * (BOX_WIDTH + 0.1)
        positions.append(boxes)
        left += width + COLUMN_GAP
    return positions


def _centre(corner: tuple[float, float], side: str) -> tuple[float, float]:
    """The middle of one side of the box whose lower-left corner is ``corner``."""
    x, y = corner
    return {"left": (x, y + BOX_HEIGHT / 2), "right": (x + BOX_WIDTH, y + BOX_HEIGHT / 2),
            "top": (x + BOX_WIDTH / 2, y + BOX_HEIGHT), "bottom": (x + BOX_WIDTH / 2, y)}[side]


class _Drawing:
    """The axes being drawn on, and how a box is labelled and colored (by row, or by its difference from Keras)."""

    def __init__(self, axes: Any, differences: Mapping[str, float] | None):
        from matplotlib.colors import LinearSegmentedColormap, LogNorm

        self.axes, self.differences = axes, differences
        # pale green (rounding) through yellow to red (wrong): light enough for black text everywhere
        self.colormap = LinearSegmentedColormap.from_list("difference", ["#d9f0d3", "#fff2a8", "#f6b26b", "#e06666"])
        self.norm = None if differences is None else LogNorm(*DIFFERENCE_RANGE)

    def box(self, corner: tuple[float, float], text: str, color: Any, bold: bool = False) -> None:
        from matplotlib.patches import FancyBboxPatch

        self.axes.add_patch(FancyBboxPatch(corner, BOX_WIDTH, BOX_HEIGHT, boxstyle="round,pad=0.02,rounding_size=0.06",
                                           facecolor=color, edgecolor="#333333", linewidth=1.6 if bold else 0.7))
        self.axes.text(corner[0] + BOX_WIDTH / 2, corner[1] + BOX_HEIGHT / 2, text, ha="center", va="center",
                       fontsize=7.5, linespacing=1.25)

    def array_box(self, corner: tuple[float, float], layer: Any, name: str, row: int) -> None:
        """The box of ``layer.arrays[name]``: its name, shape and norm, and its difference from Keras if known."""
        array, key = layer.arrays[name], f"{layer.name}/{name}"
        text = f"{_label(name)}  {tuple(array.shape)}\nnorm {np.linalg.norm(array):.3g}"
        difference = None if self.differences is None else self.differences.get(key)
        if difference is None:   # no comparison, or one Keras has no such array for
            color = ROW_COLORS[row] if self.norm is None else "#eeeeee"
        else:
            text += f"\nvs Keras {difference:.1g}"
            color = self.colormap(self.norm(max(difference, DIFFERENCE_RANGE[0])))
        self.box(corner, text, color, bold=difference is not None and difference > WRONG)

    def arrow(self, start: tuple[float, float], end: tuple[float, float], backward: bool = False) -> None:
        from matplotlib.patches import FancyArrowPatch

        self.axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=8, linewidth=0.8,
                                            color="#b45f06" if backward else "#555555", shrinkA=1, shrinkB=1))

    def layer(self, layer: Any, boxes: dict[str, tuple[float, float]], below: dict[str, tuple[float, float]] | None,
              previous_output: tuple[float, float]) -> tuple[float, float]:
        """One layer's boxes and arrows; returns where its output leaves (the right side of y)."""
        for name, corner in boxes.items():
            self.array_box(corner, layer, name, _row_and_slot(name, layer.arrays)[0])
        # a Dense layer's activation in brackets; another layer's name already says what it is
        title = layer.name if layer.activation[:1].isupper() else f"{layer.name} ({layer.activation})"
        self.axes.text(min(x for x, _ in boxes.values()), BOX_HEIGHT + 0.12, title, fontsize=8.5, weight="bold")
        entry = boxes.get("z", boxes.get("y"))
        self.arrow(previous_output, _centre(entry, "left"))
        if "z" in boxes and "y" in boxes:
            self.arrow(_centre(boxes["z"], "right"), _centre(boxes["y"], "left"))
        if "dy" in boxes and "dz" in boxes:
            self.arrow(_centre(boxes["dy"], "left"), _centre(boxes["dz"], "right"), backward=True)
        source = boxes.get("dz", boxes.get("dy"))
        for name, corner in boxes.items():
            if source is not None and _row_and_slot(name, layer.arrays)[0] == 2:   # a weight's gradient
                self.arrow(_centre(source, "bottom"), _centre(corner, "top"))
                if "update_" + name[1:] in boxes:
                    self.arrow(_centre(corner, "bottom"), _centre(boxes["update_" + name[1:]], "top"))
        target = None if below is None else below.get("dy", below.get("dz"))
        if source is not None and target is not None:   # dx of this layer is the dy of the one below
            self.arrow(_centre(source, "left"), _centre(target, "right"), backward=True)
        return _centre(boxes.get("y", entry), "right")


def plot_trace(trace: StepTrace, path: str | os.PathLike,
               differences: Mapping[str, float] | None = None, dpi: int = 110) -> None:
    """Draw ``trace`` (a ``model.trace(x, y)``) as a graph of its arrays and write it to ``path`` (a .png).

    ``differences`` maps "layer/array" to max |npnet − Keras| (what
    ``npnet.testing.compare_trace_with_keras`` returns); with it each box is
    colored by its difference on a log scale from 1e-9 to 1e-1 (a bold border
    beyond 1e-4), and the largest is named in the title. Without it, boxes are colored by row.
    """
    if not isinstance(trace, StepTrace):
        raise TypeError(f"trace must be an npnet.trace.StepTrace (model.trace(x, y)), got {type(trace).__name__}")
    path = check_png_path(path)
    if differences is not None:
        if not isinstance(differences, Mapping):
            raise TypeError(f"differences must be a mapping 'layer/array' -> float, got {type(differences).__name__}")
        bad = {key: value for key, value in differences.items()
               if not isinstance(value, (int, float, np.floating)) or not value >= 0}
        if bad:
            raise ValueError(f"differences must be numbers >= 0, got {bad}")
    positions = _layout(trace)
    loss_box = (max(x for boxes in positions for x, _ in boxes.values()) + BOX_WIDTH + COLUMN_GAP,
                -(BOX_HEIGHT + ROW_GAP) / 2)
    width_units, height_units = loss_box[0] + BOX_WIDTH + 0.2, 4 * (BOX_HEIGHT + ROW_GAP)
    figure = require_matplotlib()(figsize=(1.05 * width_units + 1.6, 1.2 * height_units + 0.6))
    axes = figure.add_axes((0.1, 0.02, 0.89 if differences is None else 0.82, 0.84))
    axes.set(xlim=(-0.1, width_units), ylim=(-3 * (BOX_HEIGHT + ROW_GAP) - 0.15, BOX_HEIGHT + 0.4))
    axes.axis("off")
    drawing = _Drawing(axes, differences)

    first = trace.layers[0]
    drawing.array_box((0.0, 0.0), first, "x", 0)   # the data, drawn once
    output = _centre((0.0, 0.0), "right")
    for index, (layer, boxes) in enumerate(zip(trace.layers, positions)):
        output = drawing.layer(layer, boxes, positions[index - 1] if index else None, output)
    drawing.box(loss_box, f"loss\n{trace.loss_name}\n{trace.loss:.4g}", "#ffffff", bold=True)
    drawing.arrow(output, (loss_box[0], loss_box[1] + BOX_HEIGHT * 0.75))
    top_backward = positions[-1].get("dy", positions[-1].get("dz"))
    drawing.arrow((loss_box[0], loss_box[1] + BOX_HEIGHT * 0.25), _centre(top_backward, "right"), backward=True)
    for row, label in enumerate(ROW_LABELS):
        axes.text(-0.12, -row * (BOX_HEIGHT + ROW_GAP) + BOX_HEIGHT / 2, label, ha="right", va="center",
                  fontsize=7.5, color="#444444")
    title = (f"One training step of {trace.model.name!r}: batch of {len(trace.batch[0])}, loss {trace.loss:.4g} "
             f"({trace.loss_name}{', from the logits' if trace.fused else ''}), {trace.optimizer}")
    if differences:
        worst = max(differences, key=differences.get)
        title += (f"\nKeras on the same weights: {len(differences)} arrays, largest |npnet − Keras| "
                  f"{differences[worst]:.2g} ({worst})")
        from matplotlib.cm import ScalarMappable
        bar = figure.colorbar(ScalarMappable(norm=drawing.norm, cmap=drawing.colormap), ax=axes, fraction=0.025,
                              pad=0.01)
        bar.set_label("max |npnet − Keras|", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    figure.suptitle(title, fontsize=9.5, y=0.985)
    figure.savefig(path, dpi=dpi)
