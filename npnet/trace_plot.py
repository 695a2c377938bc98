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


def _color(row: int, difference: float | None, colormap: Any, norm: Any) -> Any:
    if difference is None:
        return ROW_COLORS[row] if norm is None else "#eeeeee"   # compared, but Keras has no such array
    return colormap(norm(max(difference, DIFFERENCE_RANGE[0])))


def plot_trace(trace: StepTrace, path: str | os.PathLike,
               differences: Mapping[str, float] | None = None, dpi: int = 110) -> None:
    """Draw ``trace`` (a ``model.trace(x, y)``) as a graph of its arrays and write it to ``path`` (a .png).

    ``differences`` maps "layer/array" to max |npnet − Keras| (what
    ``npnet.testing.compare_trace_with_keras`` returns); with it each box is
    colored by its difference on a log scale from 1e-9 to 1e-1, and the
    largest is named in the title. Without it, boxes are colored by row.
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
    Figure = require_matplotlib()
    from matplotlib.colors import LinearSegmentedColormap, LogNorm
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    positions = _layout(trace)
    right = max(x for boxes in positions for x, _ in boxes.values()) + BOX_WIDTH
    loss_box = (right + COLUMN_GAP, -(BOX_HEIGHT + ROW_GAP) / 2)
    width_units, height_units = loss_box[0] + BOX_WIDTH + 0.2, 4 * (BOX_HEIGHT + ROW_GAP)
    figure = Figure(figsize=(1.05 * width_units + 1.6, 1.2 * height_units + 0.6))
    axes = figure.add_axes((0.1, 0.02, 0.89 if differences is None else 0.82, 0.84))
    axes.set_xlim(-0.1, width_units)
    axes.set_ylim(-3 * (BOX_HEIGHT + ROW_GAP) - 0.15, BOX_HEIGHT + 0.4)
    axes.axis("off")
    # pale green (rounding) through yellow to red (wrong): light enough for black text everywhere
    colormap = LinearSegmentedColormap.from_list("difference", ["#d9f0d3", "#fff2a8", "#f6b26b", "#e06666"])
    norm = None if differences is None else LogNorm(*DIFFERENCE_RANGE)

    def box(x: float, y: float, text: str, color: Any, bold: bool = False) -> None:
        axes.add_patch(FancyBboxPatch((x, y), BOX_WIDTH, BOX_HEIGHT, boxstyle="round,pad=0.02,rounding_size=0.06",
                                      facecolor=color, edgecolor="#333333", linewidth=1.6 if bold else 0.7))
        axes.text(x + BOX_WIDTH / 2, y + BOX_HEIGHT / 2, text, ha="center", va="center", fontsize=7.5,
                  linespacing=1.25)

    def arrow(start: tuple[float, float], end: tuple[float, float], color: str = "#555555") -> None:
        axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=8, color=color,
                                       linewidth=0.8, shrinkA=1, shrinkB=1))

    def centre(corner: tuple[float, float], side: str) -> tuple[float, float]:
        x, y = corner
        return {"left": (x, y + BOX_HEIGHT / 2), "right": (x + BOX_WIDTH, y + BOX_HEIGHT / 2),
                "top": (x + BOX_WIDTH / 2, y + BOX_HEIGHT), "bottom": (x + BOX_WIDTH / 2, y)}[side]

    def describe(name: str, array: np.ndarray, key: str) -> str:
        text = f"{_label(name)}  {tuple(array.shape)}\nnorm {np.linalg.norm(array):.3g}"
        if differences is not None and key in differences:
            text += f"\nvs Keras {differences[key]:.1g}"
        return text

    first = trace.layers[0]
    x_key = f"{first.name}/x"
    x_corner = (0.0, 0.0)
    box(*x_corner, describe("x", first.arrays["x"], x_key),
        _color(0, None if differences is None else differences.get(x_key), colormap, norm))
    previous_output = centre(x_corner, "right")
    for index, (layer, boxes) in enumerate(zip(trace.layers, positions)):
        for name, corner in boxes.items():
            key = f"{layer.name}/{name}"
            difference = None if differences is None else differences.get(key)
            box(*corner, describe(name, layer.arrays[name], key),
                _color(_row_and_slot(name, layer.arrays)[0], difference, colormap, norm),
                bold=difference is not None and difference > 1e-4)
        title_x = min(x for x, _ in boxes.values())
        # a Dense layer's activation in brackets; another layer's name already says what it is
        title = layer.name if layer.activation[:1].isupper() else f"{layer.name} ({layer.activation})"
        axes.text(title_x, BOX_HEIGHT + 0.12, title, fontsize=8.5, weight="bold")
        entry = boxes.get("z", boxes.get("y"))
        if entry is not None:
            arrow(previous_output, centre(entry, "left"))
        if "z" in boxes and "y" in boxes:
            arrow(centre(boxes["z"], "right"), centre(boxes["y"], "left"))
        if "dy" in boxes and "dz" in boxes:
            arrow(centre(boxes["dy"], "left"), centre(boxes["dz"], "right"))
        source = boxes.get("dz", boxes.get("dy"))
        for name, corner in boxes.items():
            if source is not None and _row_and_slot(name, layer.arrays)[0] == 2:
                arrow(centre(source, "bottom"), centre(corner, "top"))
                update = boxes.get("update_" + name[1:])
                if update is not None:
                    arrow(centre(corner, "bottom"), centre(update, "top"))
        if index > 0 and source is not None:   # dx of this layer is the dy of the one below
            below = positions[index - 1]
            target = below.get("dy", below.get("dz"))
            if target is not None:
                arrow(centre(source, "left"), centre(target, "right"), color="#b45f06")
        previous_output = centre(boxes.get("y", entry) if boxes else x_corner, "right")
    last = positions[-1]
    box(*loss_box, f"loss\n{trace.loss_name}\n{trace.loss:.4g}", "#ffffff", bold=True)
    arrow(previous_output, (loss_box[0], loss_box[1] + BOX_HEIGHT * 0.75))
    top_backward = last.get("dy", last.get("dz"))
    if top_backward is not None:
        arrow((loss_box[0], loss_box[1] + BOX_HEIGHT * 0.25), centre(top_backward, "right"), color="#b45f06")
    for row, label in enumerate(ROW_LABELS):
        axes.text(-0.12, -row * (BOX_HEIGHT + ROW_GAP) + BOX_HEIGHT / 2, label, ha="right", va="center", fontsize=7.5, color="#444444")
    n = len(trace.batch[0])
    title = (f"One training step of {trace.model.name!r}: batch of {n}, loss {trace.loss:.4g} "
             f"({trace.loss_name}{', from the logits' if trace.fused else ''}), {trace.optimizer}")
    if differences:
        worst = max(differences, key=differences.get)
        title += f"\nKeras on the same weights: {len(differences)} arrays, largest |npnet − Keras| " \
                 f"{differences[worst]:.2g} ({worst})"
        bar = figure.colorbar(_scalar_mappable(colormap, norm), ax=axes, fraction=0.025, pad=0.01)
        bar.set_label("max |npnet − Keras|", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    figure.suptitle(title, fontsize=9.5, y=0.985)
    figure.savefig(path, dpi=dpi)


def _scalar_mappable(colormap: Any, norm: Any) -> Any:
    from matplotlib.cm import ScalarMappable
    return ScalarMappable(norm=norm, cmap=colormap)
