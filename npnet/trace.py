"""A trace of one training step: every layer's forward output and backward gradient, with real numbers.

``model.trace(x, y)`` runs the step that ``fit`` would run on one batch and
records, layer by layer, the logits z, the output y = f(z), the gradient dy
arriving from above, dz = dy * f'(z), dW, db and the update the optimizer
would make — then leaves the model exactly as it was. ``str(trace)`` prints
it. Pure NumPy, and it reads only the model's public surface (``layers``,
``training_loss()``, ``parameters``, ``optimizer``); comparing a trace with
Keras is ``npnet.testing.compare_trace_with_keras``.
The equations behind each line: docs/backprop.md#tracing-a-step.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Arrays recorded for each layer, in the order they are computed and printed.
FORWARD = ("x", "z", "y")
BACKWARD = ("dy", "dz", "dW", "db")
UPDATES = ("update_W", "update_b")


@dataclass
class LayerTrace:
    """One Dense layer's arrays in one step; ``dy`` is None for a sigmoid output trained from its logits."""

    name: str
    activation: str
    arrays: dict[str, np.ndarray | None] = field(default_factory=dict)


@dataclass
class StepTrace:
    """The whole step: the batch loss (before the update), each layer's ``LayerTrace``, the optimizer used."""

    loss: float
    loss_name: str
    fused: bool
    optimizer: str
    layers: list[LayerTrace]
    model: Any = field(repr=False)
    batch: tuple[np.ndarray, np.ndarray] = field(repr=False)

    def __str__(self) -> str:
        n, k = self.batch[1].shape
        lines = [f"One training step of {self.model.name!r} on a batch of {n}: loss {self.loss:.6g} "
                 f"({self.loss_name}){', computed from the logits' if self.fused else ''}",
                 "", "forward: y = f(z), z = x @ W + b"]
        for layer in self.layers:
            lines.append(f"  {layer.name} ({layer.activation})")
            lines += [_describe(name, layer.arrays[name]) for name in FORWARD]
        lines += ["", "backward, last layer first: dz = dy * f'(z), dW = x^T dz, db = dz^T 1, "
                      "dx = dz W^T (the dy of the layer below)"]
        for layer in reversed(self.layers):
            lines.append(f"  {layer.name} ({layer.activation})")
            if layer.arrays["dy"] is None:
                lines.append(f"    dz = (sigmoid(z) - y) / (N*K) = (p - y) / {n * k}: sigmoid and the loss "
                             "differentiated together")
            lines += [_describe(name, layer.arrays[name]) for name in BACKWARD if layer.arrays[name] is not None]
        lines += ["", f"update ({self.optimizer}, step {self.model.optimizer.iterations + 1}): w_new - w"]
        for layer in self.layers:
            lines += [_describe(f"{layer.name} {name[-1]}", layer.arrays[name])
                      for name in UPDATES if layer.arrays[name] is not None]
        return "\n".join(lines)


def _describe(name: str, array: np.ndarray) -> str:
    """``name (shape) [first values] norm ...``: what a learner needs to follow one array."""
    first = np.array2string(array.reshape(-1)[:4], precision=4, suppress_small=False, separator=" ")
    zeros = f"  zeros {np.mean(array == 0):.0%}" if array.ndim == 2 else ""
    return (f"    {name:<11}{str(array.shape):<11}{first[:-1]} ...]  norm {np.linalg.norm(array):.4g}"
            f"  max|.| {np.max(np.abs(array)):.4g}{zeros}")


def trace_step(model: Any, x: np.ndarray, y: np.ndarray) -> StepTrace:
    """Record one training step of a compiled, built model on checked arrays x (N, I), y (N, K).

    The step is the one ``npnet.training.Step`` runs, taken apart so each
    intermediate can be kept; the model's weights and optimizer are untouched
    (the update is applied to copies). Call it through ``Sequential.trace``.
    Every layer must be a Dense layer (it records z, W and b).
    """
    loss, fused = model.training_loss()
    layers = model.layers
    if not all(hasattr(layer, "kernel") for layer in layers):
        raise ValueError("a trace records z, W and b of Dense layers; this model also has "
                         f"{sorted({type(layer).__name__ for layer in layers if not hasattr(layer, 'kernel')})}")
    records = [LayerTrace(layer.name, layer.activation.name) for layer in layers]
    h = x
    for layer, record in zip(layers, records):
        z = h @ layer.W + (layer.b if layer.use_bias else 0)          # (N, O), recomputed to keep z
        activate = not (fused and layer is layers[-1])
        out = layer.forward(h, True, activate=activate)
        record.arrays.update(x=h.copy(), z=z, y=layer.activation(z) if fused and not activate else out.copy())
        h = out
    value = loss.forward(y, h)
    d = loss.backward().copy()
    for index in reversed(range(len(layers))):
        layer, arrays = layers[index], records[index].arrays
        activated = not (fused and index == len(layers) - 1)
        arrays["dy"] = d if activated else None
        arrays["dz"] = layer.activation.backward(arrays["y"], d, out=np.empty_like(d)) if activated else d
        dx = layer.backward(d, need_dx=index > 0)
        arrays["dW"] = None if layer.dW is None else layer.dW.copy()   # None: a frozen layer
        arrays["db"] = layer.db.copy() if layer.use_bias and layer.db is not None else None
        d = None if dx is None else dx.copy()
    buffer = model.parameters
    grads, values = buffer.trainable_pair()
    after = buffer.values.copy()
    copy.deepcopy(model.optimizer).apply([(grads, after[:len(values)])])
    updates = iter(buffer.views(after - buffer.values))   # (P,) laid out as the buffer: per-weight views
    for layer, record in zip(layers, records):
        record.arrays["update_W"] = next(updates)
        record.arrays["update_b"] = next(updates) if layer.use_bias else None
    return StepTrace(value, model.loss.name, fused, model.optimizer.name, records, model, (x, y))
