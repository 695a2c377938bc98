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

# Arrays recorded for each layer, in the order they are computed and printed: the forward ones, then
# dy, dz (a Dense layer), and the gradient and update of each trainable weight, named "d" + the
# weight's short name and "update_" + it (Dense: dW, db, update_W, update_b; BatchNormalization:
# dgamma, dbeta, update_gamma, update_beta).
FORWARD = ("x", "z", "y")
# Dense's weights keep their short names in the trace (dW, update_W), as in the equations.
SHORT = {"kernel": "W", "bias": "b"}


def _short(weight_name: str) -> str:
    return SHORT.get(weight_name, weight_name)


@dataclass
class LayerTrace:
    """One layer's arrays in one step; ``dy`` is None for a sigmoid output trained from its logits.

    ``activation`` is the layer's activation name, or its class name for a layer without one.
    """

    name: str
    activation: str
    arrays: dict[str, np.ndarray | None] = field(default_factory=dict)


@dataclass
class StepTrace:
    """The whole step: the batch loss (before the update), each layer's ``LayerTrace``, the optimizer used."""

    loss: float
    loss_name: str
    fused: bool
    logits_gradient: str   # the fused loss's dL/dz as a template ({n}: N, {nk}: N*K); "" when not fused
    optimizer: str
    layers: list[LayerTrace]
    model: Any = field(repr=False)
    batch: tuple[np.ndarray, np.ndarray] = field(repr=False)

    def __str__(self) -> str:
        n = len(self.batch[1])
        lines = [f"One training step of {self.model.name!r} on a batch of {n}: loss {self.loss:.6g} "
                 f"({self.loss_name}){', computed from the logits' if self.fused else ''}",
                 "", "forward: y = f(z), z = x @ W + b"]
        for layer in self.layers:
            lines.append(f"  {layer.name} ({layer.activation})")
            lines += [_describe(name, layer.arrays[name]) for name in FORWARD if name in layer.arrays]
        lines += ["", "backward, last layer first: dz = dy * f'(z), dW = x^T dz, db = dz^T 1, "
                      "dx = dz W^T (the dy of the layer below)"]
        for layer in reversed(self.layers):
            lines.append(f"  {layer.name} ({layer.activation})")
            if layer.arrays["dy"] is None:
                gradient = self.logits_gradient.format(n=n, nk=layer.arrays["z"].size)
                lines.append(f"    dz = {gradient}: {layer.activation} and the loss differentiated together")
            lines += [_describe(name, array) for name, array in layer.arrays.items()
                      if array is not None and name not in FORWARD and not name.startswith("update_")]
        lines += ["", f"update ({self.optimizer}, step {self.model.optimizer.iterations + 1}): w_new - w"]
        for layer in self.layers:
            lines += [_describe(f"{layer.name} {name[len('update_'):]}", array)
                      for name, array in layer.arrays.items() if name.startswith("update_") and array is not None]
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
    (the update is applied to copies; a BatchNormalization's moving statistics,
    which a training forward pass moves, are put back). Call it through ``Sequential.trace``.
    """
    loss, fused = model.training_loss()
    layers = model.layers
    records = [LayerTrace(layer.name, getattr(getattr(layer, "activation", None), "name", type(layer).__name__))
               for layer in layers]
    before = model.parameters.values.copy()
    h = x
    for layer, record in zip(layers, records):
        activate = not (fused and layer is layers[-1])
        record.arrays["x"] = h.copy()
        z = h                                   # what an activation acts on: an Activation layer's input
        if hasattr(layer, "kernel"):
            z = record.arrays["z"] = h @ layer.kernel + (layer.bias if layer.use_bias else 0)   # (N, O), recomputed
        out = layer.forward(h, True, activate=activate) if hasattr(layer, "activation") else layer.forward(h, True)
        record.arrays["y"] = layer.activation(z) if not activate else out.copy()
        h = out
    value = loss.forward(y, h)
    d = loss.backward().copy()
    for index in reversed(range(len(layers))):
        layer, arrays = layers[index], records[index].arrays
        activated = not (fused and index == len(layers) - 1)
        arrays["dy"] = d if activated else None
        if "z" in arrays:
            # A Dense layer adds its activity penalty's gradient R'(y)/N to what arrives
            # (docs/backprop.md#weight-penalties); its backward does that itself, from d.
            penalty = getattr(layer, "activity_regularizer", None)
            dpenalty = (np.zeros_like(d) if penalty is None
                        else penalty.gradient(arrays["y"], np.zeros_like(d)) / len(d))             # (N, O)
            needs_z = {"z": arrays["z"]} if layer.activation.needs_input else {}   # gelu, silu
            if activated:
                arrays["dy"] = d + dpenalty
                arrays["dz"] = layer.activation.backward(arrays["y"], arrays["dy"], np.empty_like(d), **needs_z)
            else:   # the loss took the logits: d is dL/dz, and the penalty's gradient joins through f
                arrays["dz"] = d + layer.activation.backward(arrays["y"], dpenalty, np.empty_like(d), **needs_z)
        dx = layer.backward(d, need_dx=index > 0)
        for spec, grad in zip(layer.weights_spec(layer.input_dim), layer.grads):
            if spec.trainable:
                arrays["d" + _short(spec.name)] = None if grad is None else grad.copy()   # None: a frozen layer
        d = None if dx is None else dx.copy()
    buffer = model.parameters
    buffer.values[...] = before   # a training forward moves BatchNormalization's moving statistics: put them back
    grads, values = buffer.trainable_pair()
    after = before.copy()
    optimizer = copy.deepcopy(model.optimizer)
    optimizer.build_for(buffer)   # as the real step builds it: clipnorm clips each weight on its own
    optimizer.apply([(grads, after[:len(values)])])
    updates = iter(buffer.views(after - before))   # (P,) laid out as the buffer: per-weight views
    for layer, record in zip(layers, records):
        for spec in layer.weights_spec(layer.input_dim):
            update = next(updates)
            if spec.trainable:
                record.arrays["update_" + _short(spec.name)] = update
    return StepTrace(value, model.loss.name, fused, getattr(loss, "logits_gradient", "") if fused else "",
                     model.optimizer.name, records, model, (x, y))
