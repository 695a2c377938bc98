"""A trace of one training step: every layer's forward output and backward gradient, with real numbers.

``model.trace(x, y)`` runs the step that ``fit`` would run on one batch and
records, layer by layer, the logits z, the output y = f(z), the gradient dy
arriving from above, dz = dy * f'(z), dW, db and the update the optimizer
would make — then leaves the model exactly as it was. ``str(trace)`` prints
it; ``trace.compare_with_keras()`` recomputes every recorded array with Keras
(``tf.GradientTape`` on the same weights) and reports the largest difference.
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

    def compare_with_keras(self) -> dict[str, float]:
        """Max |npnet - Keras| for every recorded array, keyed "layer/array" (needs the reference extra).

        Keras gets the same weights and optimizer state (``npnet.interop.to_keras``);
        its arrays come from calling each layer in turn under ``tf.GradientTape``,
        and its update from one ``apply_gradients`` of that optimizer.
        Keras's sigmoid output has no dy either: its loss also reads the logits.
        """
        theirs = _keras_arrays(self.model, *self.batch)
        return {f"{layer.name}/{name}": float(np.max(np.abs(np.asarray(ours, np.float64) - theirs[i][name])))
                for i, layer in enumerate(self.layers) for name, ours in layer.arrays.items()
                if ours is not None and name in theirs[i]}


def _describe(name: str, array: np.ndarray) -> str:
    """``name (shape) [first values] norm ...``: what a learner needs to follow one array."""
    first = np.array2string(array.reshape(-1)[:4], precision=4, suppress_small=False, separator=" ")
    zeros = f"  zeros {np.mean(array == 0):.0%}" if array.ndim == 2 else ""
    return (f"    {name:<11}{str(array.shape):<11}{first[:-1]} ...]  norm {np.linalg.norm(array):.4g}"
            f"  max|.| {np.max(np.abs(array)):.4g}{zeros}")


def trace_step(model: Any, x: np.ndarray, y: np.ndarray) -> StepTrace:
    """Record one training step of a compiled, built model on checked arrays x (N, I), y (N, K).

    The step is the one ``Sequential._train_step`` runs, taken apart so each
    intermediate can be kept; the model's weights and optimizer are untouched
    (the update is applied to copies). Call it through ``Sequential.trace``.
    """
    loss, fused = model._training_loss()
    layers = model.layers
    records = [LayerTrace(layer.name, layer.activation.name) for layer in layers]
    h = x
    for layer, record in zip(layers, records):
        z = h @ layer.W + (layer.b if layer.use_bias else 0)          # (N, O), recomputed to keep z
        activate = not (fused and layer is layers[-1])
        out = layer.forward(h, activate=activate)
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
        arrays["dW"] = layer.dW.copy()
        arrays["db"] = layer.db.copy() if layer.use_bias else None
        d = None if dx is None else dx.copy()
    new_values = model._params.values.copy()
    model._build_optimizer()   # the copy clips per layer weight, as the real step (clipnorm)
    copy.deepcopy(model.optimizer).apply([(model._params.grads, new_values)])
    update = new_values - model._params.values
    offset = 0
    for layer, record in zip(layers, records):
        for name, size in (("update_W", layer.W.size), ("update_b", layer.units if layer.use_bias else 0)):
            record.arrays[name] = update[offset:offset + size].reshape(layer.W.shape if name == "update_W" else -1) \
                if size else None
            offset += size
    return StepTrace(value, model.loss.name, fused, model.optimizer.name, records, model, (x, y))


def _keras_arrays(model: Any, x: np.ndarray, y: np.ndarray) -> list[dict[str, np.ndarray]]:
    """The same arrays as ``trace_step`` records, computed by Keras on the same weights (float64 copies)."""
    import tensorflow as tf

    from npnet import interop

    keras_model = interop.to_keras(model)
    keras_layers = keras_model.layers
    with tf.GradientTape(persistent=True) as tape:
        h = tf.constant(x)
        inputs, logits, outputs = [], [], []
        for layer in keras_layers:
            inputs.append(h)
            z = tf.matmul(h, layer.kernel) + (layer.bias if layer.use_bias else 0)
            tape.watch(z)
            h = layer.activation(z)
            logits.append(z)
            outputs.append(h)
        loss = keras_model.loss(y, h)
    weights = [w for layer in keras_layers for w in layer.trainable_weights]
    gradients = tape.gradient(loss, weights)
    d_outputs, d_logits = tape.gradient(loss, outputs), tape.gradient(loss, logits)
    before = [w.numpy() for w in weights]
    keras_model.optimizer.apply_gradients(zip(gradients, weights))
    updates = iter([w.numpy() - b for w, b in zip(weights, before)])
    grads = iter(gradients)
    arrays = []
    for i, layer in enumerate(keras_layers):
        record = {"x": inputs[i], "z": logits[i], "y": outputs[i], "dy": d_outputs[i], "dz": d_logits[i],
                  "dW": next(grads), "update_W": next(updates)}
        if layer.use_bias:
            record.update(db=next(grads), update_b=next(updates))
        arrays.append({name: np.asarray(value, np.float64) for name, value in record.items()
                       if value is not None})
    return arrays
