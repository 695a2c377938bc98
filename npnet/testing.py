"""Parity checks against Keras for your own tests: ``assert_matches_keras(model, x, y)``.

Needs the ``reference`` extra (TensorFlow); Keras is imported only when a
check runs. The pytest plugin ``npnet.pytest_plugin`` (registered as a pytest
entry point) offers the same check as the ``keras_parity`` fixture.

The default tolerances are the largest differences measured between npnet
and Keras 3.15 / TensorFlow 2.21 over six networks (tests/parity/test_tutorial_model.py),
times a margin of 10x or more. One caveat, measured: Adam divides by
sqrt(v) + epsilon, so a weight whose gradient is float32 rounding noise
(say 1e-9 against Keras's 1e-8, as for a saturated tanh) takes a step of up
to lr in a direction that noise decides; check such models in float64,
where npnet and Keras agree to 1e-13.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from npnet import interop, losses
from npnet._validation import check_int
from npnet.models import Sequential
from npnet.trace import SHORT, StepTrace


@dataclass(frozen=True)
class Tolerances:
    """How far npnet may differ from Keras: relative for outputs and loss, absolute for arrays."""

    forward_rtol: float
    loss_rtol: float
    gradient_atol: float
    weight_atol: float


DEFAULT_TOLERANCES = {
    # measured: forward 4.8e-7, loss 7.5e-8, gradients 7.2e-7, weights 6e-8 after 10 Adam steps
    np.dtype(np.float32): Tolerances(forward_rtol=5e-6, loss_rtol=1e-6, gradient_atol=1e-5, weight_atol=1e-6),
    # measured: forward 8.8e-15, loss 1.9e-16, gradients 1.3e-15, weights 3.7e-13 after 10 Adam steps
    np.dtype(np.float64): Tolerances(forward_rtol=1e-12, loss_rtol=1e-14, gradient_atol=1e-13, weight_atol=1e-11),
}

# Probabilities at and near the clip of the crossentropies, for checking the loss function itself:
# binary (one row of six labels), categorical (rows of three classes) with their targets.
_SATURATED = np.array([[0.0, 1.0, 1e-9, 1 - 1e-9, 0.5, 1e-7]])
_SATURATED_ROWS = np.array([[1.0, 0.0, 0.0], [1 - 1e-9, 1e-9, 0.0], [0.5, 0.5 - 1e-7, 1e-7]])
_CLIP_PROBES = {
    losses.BinaryCrossentropy: (np.tile([[1.0, 0.0]], (1, 3)), _SATURATED),
    losses.CategoricalCrossentropy: (np.eye(3)[[1, 0, 2]], _SATURATED_ROWS),
    losses.SparseCategoricalCrossentropy: (np.array([1, 0, 2]), _SATURATED_ROWS),
}


def _clip_probe(loss: losses.Loss, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray] | None:
    """(targets, probabilities at the clip) for a loss that clips its probabilities; None for the others."""
    probe = next((_CLIP_PROBES[cls] for cls in type(loss).__mro__ if cls in _CLIP_PROBES), None)
    if probe is None or loss.from_logits:
        return None
    y_probe, p_probe = probe
    return (y_probe if y_probe.dtype.kind == "i" else y_probe.astype(dtype)), p_probe.astype(dtype)


def _parameter_names(model: Sequential, trainable_only: bool = False) -> list[str]:
    """"layer/weight" for every weight in ``get_weights()`` order, or for the trainable ones (the gradients' order)."""
    return [f"{layer.name}/{spec.name}" for layer in model.layers
            for spec, grad in zip(layer.weights_spec(layer.input_dim), layer.grads)
            if grad is not None or not trainable_only]


def _first_mismatch(names: list[str], ours: list[np.ndarray], theirs: list[np.ndarray],
                    atol: float) -> tuple[str, float] | None:
    for name, a, b in zip(names, ours, theirs):
        difference = float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
        if not difference <= atol:   # also catches NaN
            return name, difference
    return None


def _keras_loss_and_gradients(keras_model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
    import tensorflow as tf
    with tf.GradientTape() as tape:
        output = keras_model(x, training=True)
        loss = keras_model.loss(y, output)
        # plus the layers' losses (regularizers), as Keras's compute_loss adds them (in the model's dtype
        # here: compute_loss itself would round a float64 model's loss to float32)
        loss += sum(keras_model.losses)
    gradients = tape.gradient(loss, keras_model.trainable_weights)
    return float(loss), [g.numpy() for g in gradients]


def _keras_train_step(keras_model: Any, x: np.ndarray, y: np.ndarray) -> None:
    """Keras's ``train_on_batch(x, y)``; for a float64 model with regularizers, its train step written out.

    Keras 3.15's own step fails there (``compute_loss`` sums the float32 compiled
    loss with the float64 penalties), so the same step runs eagerly: the forward
    pass in training mode (which updates BatchNormalization's moving statistics),
    the loss plus the layers' losses, ``tf.GradientTape``, ``apply_gradients``.
    """
    if x.dtype != np.float64 or not keras_model.losses:
        keras_model.train_on_batch(x, y)
        return
    import tensorflow as tf
    with tf.GradientTape() as tape:
        loss = keras_model.loss(y, keras_model(x, training=True)) + sum(keras_model.losses)
    gradients = tape.gradient(loss, keras_model.trainable_weights)
    keras_model.optimizer.apply_gradients(zip(gradients, keras_model.trainable_weights))


def assert_matches_keras(model: Sequential, x: Any, y: Any, steps: int = 10,
                         tolerances: Tolerances | None = None) -> None:
    """Assert that a compiled npnet model computes what its Keras twin (``interop.to_keras``) computes.

    Checks, in order, and raises AssertionError at the first difference beyond
    its tolerance, naming the layer/parameter (or step) and the size:
    1. the forward pass on x (N, I): predictions, relative;
    2. the loss on (x, y) and the gradient of every parameter (``tf.GradientTape``);
    3. the loss function itself on probabilities at and beyond its clip;
    4. ``steps`` optimizer steps, ``train_on_batch(x, y)`` on both: every weight after each step.
    Both sides start step 4 from the model's optimizer state (step count and
    slots, which ``interop.to_keras`` gives the twin), so a trained model is
    checked where it stands. The checks run on a copy: ``model`` comes back
    bit for bit as it went in (weights, optimizer step count and slots; an
    unbuilt model stays unbuilt). ``tolerances`` defaults to ``DEFAULT_TOLERANCES[model.dtype]``.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be an npnet Sequential, got {type(model).__name__}")
    steps = check_int(steps, "steps", minimum=0)
    x, y, _ = model.check_data(x, y, method="assert_matches_keras", build=False)
    if tolerances is not None and not isinstance(tolerances, Tolerances):
        raise TypeError(f"tolerances must be an npnet.testing.Tolerances, got {type(tolerances).__name__}")
    tol = tolerances or DEFAULT_TOLERANCES[model.dtype]
    model = copy.deepcopy(model)   # optimizer and all: the steps below train it
    model.build((None, x.shape[1]))
    keras_model = interop.to_keras(model)
    names = _parameter_names(model)

    ours, theirs = model.predict(x, verbose=0), np.asarray(keras_model(x))
    # Relative to each output, with the outputs' root mean square as the floor: a regression output
    # that crosses 0 carries the rounding of terms of the outputs' size, not of its own.
    floor = max(float(np.sqrt(np.mean(np.square(theirs, dtype=np.float64)))), np.finfo(ours.dtype).tiny)
    relative = float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), floor)))
    if not relative <= tol.forward_rtol:
        raise AssertionError(f"forward pass differs from Keras: max relative difference {relative:.3g} "
                             f"> {tol.forward_rtol:g} (output of layer {model.layers[-1].name!r})")

    loss, gradients = model.loss_and_gradients(x, y)
    keras_loss, keras_gradients = _keras_loss_and_gradients(keras_model, x, y)
    if not abs(loss - keras_loss) <= tol.loss_rtol * abs(keras_loss):
        raise AssertionError(f"loss differs from Keras: {loss!r} vs {keras_loss!r} (rtol {tol.loss_rtol:g})")
    mismatch = _first_mismatch(_parameter_names(model, trainable_only=True), gradients, keras_gradients,
                               tol.gradient_atol)
    if mismatch:
        raise AssertionError(f"gradient of {mismatch[0]} differs from Keras by {mismatch[1]:.3g} "
                             f"> {tol.gradient_atol:g}")

    probe = _clip_probe(model.loss, model.dtype)
    if probe is not None:
        y_probe, p_probe = probe
        ours_loss, keras_probe = model.loss(y_probe, p_probe), float(keras_model.loss(y_probe, p_probe))
        if not abs(ours_loss - keras_probe) <= tol.loss_rtol * abs(keras_probe):
            raise AssertionError(f"loss function differs from Keras on saturated probabilities "
                                 f"(clipping to [1e-7, 1 - 1e-7]?): {ours_loss!r} vs {keras_probe!r}")

    for step in range(1, steps + 1):
        model.train_on_batch(x, y)
        _keras_train_step(keras_model, x, y)
        mismatch = _first_mismatch(names, model.get_weights(), keras_model.get_weights(), tol.weight_atol)
        if mismatch:
            raise AssertionError(f"after optimizer step {step}, {mismatch[0]} differs from Keras by "
                                 f"{mismatch[1]:.3g} > {tol.weight_atol:g}")


def compare_trace_with_keras(trace: StepTrace) -> dict[str, float]:
    """Max |npnet - Keras| for every array a ``model.trace(x, y)`` recorded, keyed "layer/array".

    Keras gets the same weights and optimizer state (``npnet.interop.to_keras``);
    its arrays come from calling each layer in turn under ``tf.GradientTape``,
    and its update from one ``apply_gradients`` of that optimizer.
    Keras's sigmoid output has no dy either: its loss also reads the logits.
    A Dropout layer applies the mask npnet drew (the trace records it), so
    both sides drop the same units. Needs the reference extra.
    """
    theirs = _keras_arrays(trace.model, *trace.batch, [layer.arrays.get("mask") for layer in trace.layers])
    return {f"{layer.name}/{name}": float(np.max(np.abs(np.asarray(ours, np.float64) - theirs[i][name])))
            for i, layer in enumerate(trace.layers) for name, ours in layer.arrays.items()
            if ours is not None and name in theirs[i]}


def _keras_arrays(model: Any, x: np.ndarray, y: np.ndarray,
                  masks: list[np.ndarray | None]) -> list[dict[str, np.ndarray]]:
    """The same arrays as ``trace_step`` records, computed by Keras on the same weights (float64 copies).

    A Dense layer is taken apart (z = x W + b, then its activation) to expose z;
    a layer with a recorded mask (Dropout) multiplies by it, as Keras's Dropout
    does by its own scaled mask; every other layer is called in training mode.
    """
    import keras
    import tensorflow as tf

    keras_model = interop.to_keras(model)
    keras_layers = keras_model.layers
    with tf.GradientTape(persistent=True) as tape:
        h = tf.constant(x)
        inputs, logits, outputs, activity = [], [], [], []
        for layer, mask in zip(keras_layers, masks):
            inputs.append(h)
            z = None
            if isinstance(layer, keras.layers.Dense):
                z = tf.matmul(h, layer.kernel) + (layer.bias if layer.use_bias else 0)
                tape.watch(z)
                h = layer.activation(z)
                if layer.activity_regularizer is not None:   # what calling the layer would have added
                    activity.append(layer.activity_regularizer(h) / h.shape[0])
            elif mask is not None:
                h = h * tf.constant(mask)   # Keras's Dropout (stateless_dropout): x * kept / (1 - rate)
            else:
                h = layer(h, training=True)
            logits.append(z)
            outputs.append(h)
        loss = keras_model.loss(y, h) + sum(sum(layer.losses) for layer in keras_layers) + sum(activity)
    weights = [[w for w in layer.trainable_weights] for layer in keras_layers]
    gradients = tape.gradient(loss, weights)
    d_outputs = tape.gradient(loss, outputs)
    d_logits = [None if z is None else tape.gradient(loss, z) for z in logits]
    flat = [w for layer_weights in weights for w in layer_weights]
    before = [w.numpy() for w in flat]
    keras_model.optimizer.apply_gradients(zip([g for layer_grads in gradients for g in layer_grads], flat))
    updates = iter([w.numpy() - b for w, b in zip(flat, before)])
    arrays = []
    for i, layer in enumerate(keras_layers):
        record = {"x": inputs[i], "z": logits[i], "y": outputs[i], "dy": d_outputs[i], "dz": d_logits[i]}
        for weight, gradient in zip(weights[i], gradients[i]):
            short = _short_name(weight.name)
            record.update({"d" + short: gradient, "update_" + short: next(updates)})
        arrays.append({name: np.asarray(value, np.float64) for name, value in record.items()
                       if value is not None})
    return arrays


def _short_name(weight_name: str) -> str:
    """A Keras weight's name as npnet's trace names it: kernel -> W, bias -> b, gamma -> gamma."""
    return SHORT.get(weight_name.split("/")[-1], weight_name.split("/")[-1])
