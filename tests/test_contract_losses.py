"""The contract every registered loss keeps (issue 12): parametrized over the classes ``losses.names()`` reaches.

A loss is tested here the moment it is registered: value and gradient against
its Keras twin (the loss ``interop.to_keras`` gives a model compiled with it) in
float32 and float64, with and without sample weights, within a bound derived
from rounding (tests/float_rounding.py); the same for its fused form with every
activation ``fused()`` accepts (Keras then reads the logits too, as its
activations tag their output with them); finite differences in float64; targets
``check_targets`` must refuse; the config round trip; and every registered
name meaning what Keras means by it.

What data a loss takes follows from what ``"accuracy"`` means with it
(``accuracy_metric``): the one table below, which fails loudly for a kind of
loss it does not know.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import npnet
from float_rounding import agreement_bound, assert_within, gamma, perturbation_scale
from npnet import activations, gradcheck, interop, losses, testing

N, K = 4, 3


def rows(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, K, size=N)


@dataclass(frozen=True)
class Kind:
    """What a kind of loss takes: its output activation, a target maker, and targets it must refuse."""

    activation: str
    targets: Callable[[np.random.Generator], np.ndarray]
    refused: tuple[tuple[object, str], ...]   # (targets, what the message says besides the argument's name)


KINDS = {
    "binary_accuracy": Kind(
        "sigmoid", lambda rng: np.concatenate([[[0.0, 1.0, 0.3]], rng.integers(0, 2, (N - 1, K))]),
        (([[0.0, 2.0, 1.0]] * N, r"must lie in \[0, 1\]"), ([[-0.5, 0.0, 1.0]] * N, r"must lie in \[0, 1\]"))),
    "categorical_accuracy": Kind(
        "softmax", lambda rng: np.eye(K)[rows(rng)],
        (([[1.0, 1.0, 0.0]] * N, "sum to 1"), ([[1.5, -0.5, 0.0]] * N, ""))),
    "sparse_categorical_accuracy": Kind(
        "softmax", rows,
        (([0, 1, K, 2], ""), ([0, -1, 1, 2], ""), ([0.0, 1.5, 1.0, 2.0], ""), (np.eye(K)[[0, 1, 2, 0]], ""))),
    None: Kind("linear", lambda rng: rng.standard_normal((N, K)), ()),
}


def kind_of(loss: losses.Loss) -> Kind:
    assert loss.accuracy_metric in KINDS, (
        f"{type(loss).__name__} has accuracy_metric {loss.accuracy_metric!r}, which this contract does not "
        f"know: add what such a loss takes to KINDS in {__name__}")
    return KINDS[loss.accuracy_metric]


# One instance per registered class, with its default settings (every name of it is checked below).
CLASSES = {type(losses.get(name)).__name__: name for name in losses.names()}
LOSSES = sorted(CLASSES)


def fresh(class_name: str) -> losses.Loss:
    return losses.get(CLASSES[class_name])


@dataclass
class Batch:
    """One batch in float64: raw targets (what a user passes), checked targets, logits, predictions, weights."""

    raw: np.ndarray
    logits: np.ndarray       # (N, K)
    weights: np.ndarray      # (N,)


def batch(loss: losses.Loss, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    # Logits of spread 1.5 keep sigmoid/softmax probabilities inside [0.02, 0.98], away from the
    # clip at 1e-7 where the probability form's gradient jumps to 0 (and finite differences fail).
    logits = np.clip(1.5 * rng.standard_normal((N, K)), -3.5, 3.5)
    return Batch(np.asarray(kind_of(loss).targets(rng), np.float64), logits, rng.uniform(0.0, 2.0, N))


def predictions(loss: losses.Loss, logits: np.ndarray) -> np.ndarray:
    return activations.get(kind_of(loss).activation)(logits)


def fused_pairs() -> list[tuple[str, str]]:
    """(loss class, activation name) for every activation a registered loss offers a fused form for."""
    return [(class_name, name) for class_name in LOSSES for name in activations.names()
            if fresh(class_name).fused(activations.get(name)) is not None]


def keras_loss(loss: losses.Loss, dtype) -> object:
    """The Keras loss ``interop.to_keras`` gives a one-layer model compiled with ``loss``."""
    model = npnet.Sequential([npnet.Input(shape=(2,)), npnet.layers.Dense(K, activation=kind_of(loss).activation)],
                             dtype=np.dtype(dtype).name)
    model.compile(optimizer="sgd", loss=loss)
    return interop.to_keras(model).loss


def keras_value_and_gradient(keras, keras_fn, targets, inputs, weights, activation: str | None = None):
    """Keras's batch loss and its gradient with respect to ``inputs`` (predictions, or logits through ``activation``)."""
    import tensorflow as tf

    x = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        output = x if activation is None else keras.activations.get(activation)(x)
        value = keras_fn(tf.constant(targets.astype(inputs.dtype) if targets.dtype.kind == "f" else targets), output,
                         sample_weight=None if weights is None else tf.constant(weights))
    return float(value), np.asarray(tape.gradient(value, x))


def value_bound(value_of: Callable, targets: np.ndarray, inputs: np.ndarray, dtype) -> float:
    """How far npnet's and Keras's batch loss may be apart (``agreement_bound``), plus their sums' rounding.

    ``value_of(targets, inputs)`` is the float64 loss. Every loss's terms are >= 0,
    so sum_i |term_i| / N is the loss itself and each side's sum of N K terms is
    within gamma_{NK} of it. Derivatives per entry by central differences
    (numerical_gradient); target derivatives where targets are reals of the inputs' shape.
    """
    inputs = inputs.astype(np.float64).copy()
    targets = targets.astype(np.float64).copy() if targets.dtype.kind == "f" else targets
    loss = abs(value_of(targets, inputs))
    reach = lambda a: np.maximum(np.abs(a), 1.0)   # noqa: E731
    scale = loss + np.sum(np.abs(gradcheck.numerical_gradient(lambda: value_of(targets, inputs), inputs)) * reach(inputs))
    if targets.shape == inputs.shape:
        scale += np.sum(np.abs(gradcheck.numerical_gradient(lambda: value_of(targets, inputs), targets))
                        * reach(targets))
    return float(agreement_bound(np.float64(scale), dtype)) + 2 * gamma(inputs.size, dtype) * loss


def gradient_bound(gradient_of: Callable, targets: np.ndarray, inputs: np.ndarray, dtype) -> np.ndarray:
    """``agreement_bound`` for dL/d(inputs) (N, K); ``gradient_of(targets, inputs)`` in float64."""
    inputs = inputs.astype(np.float64)
    scale = perturbation_scale(lambda v: gradient_of(targets, v), inputs, gradient_of(targets, inputs))
    if targets.dtype.kind == "f" and targets.shape == inputs.shape:
        scale = scale + perturbation_scale(lambda t: gradient_of(t, inputs), targets.astype(np.float64), 0.0)
    return agreement_bound(scale, dtype)


def run(loss: losses.Loss, checked: np.ndarray, inputs: np.ndarray, weights) -> tuple[float, np.ndarray]:
    """The protocol's hot path: forward on checked targets, then backward (copied: it is a work array)."""
    value = loss.forward(checked, inputs, weights)
    return value, loss.backward().copy()


def checked_targets(loss: losses.Loss, raw: np.ndarray, dtype) -> np.ndarray:
    return loss.check_targets(raw, K, np.dtype(dtype), "y")


# -- Keras parity ---------------------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("class_name", LOSSES)
def test_value_and_gradient_match_keras(keras, class_name, dtype, weighted):
    loss, data = fresh(class_name), batch(fresh(class_name))
    pred = predictions(loss, data.logits).astype(dtype)
    weights = data.weights.astype(dtype) if weighted else None
    checked = checked_targets(loss, data.raw, dtype)
    public = loss(data.raw.astype(dtype), pred, sample_weight=weights)
    value, gradient = run(loss, checked, pred, weights)
    theirs, keras_gradient = keras_value_and_gradient(keras, keras_loss(loss, dtype), data.raw, pred, weights)

    exact_w = None if weights is None else weights.astype(np.float64)
    checked64 = checked_targets(fresh(class_name), data.raw, np.float64)
    value_of = lambda t, p: fresh(class_name).forward(t, p, exact_w)   # noqa: E731
    bound = value_bound(value_of, checked64, pred, dtype)
    assert_within(value, theirs, bound, f"{class_name} forward in {np.dtype(dtype).name}")
    assert_within(public, theirs, bound, f"{class_name}(y_true, y_pred) in {np.dtype(dtype).name}")
    assert gradient.dtype == dtype
    assert_within(gradient, keras_gradient, gradient_bound(lambda t, p: run(fresh(class_name), t, p, exact_w)[1],
                                                           checked64, pred, dtype),
                  f"{class_name} backward in {np.dtype(dtype).name}")


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("class_name, activation", fused_pairs())
def test_the_fused_form_matches_keras_from_the_logits(keras, class_name, activation, dtype, weighted):
    loss, data = fresh(class_name), batch(fresh(class_name))
    fused = loss.fused(activations.get(activation))
    logits = np.concatenate([data.logits[:-1], [[-1e4, 0.0, 1e4]]]).astype(dtype)   # and saturated logits
    weights = data.weights.astype(dtype) if weighted else None
    checked = checked_targets(loss, data.raw, dtype)
    value, gradient = run(fused, checked, logits, weights)
    theirs, keras_gradient = keras_value_and_gradient(keras, keras_loss(loss, dtype), data.raw, logits, weights,
                                                      activation)
    probabilities = activations.get(activation)(logits)
    np.testing.assert_array_equal(fused.probabilities, probabilities)   # the metrics see the output layer's own values

    exact_w = None if weights is None else weights.astype(np.float64)
    checked64 = checked_targets(fresh(class_name), data.raw, np.float64)
    fused64 = lambda: fresh(class_name).fused(activations.get(activation))   # noqa: E731
    bound = value_bound(lambda t, z: fused64().forward(t, z, exact_w), checked64, logits, dtype)
    assert_within(value, theirs, bound, f"{class_name} fused with {activation} in {np.dtype(dtype).name}")
    assert np.isfinite(value) and np.isfinite(gradient).all()
    assert_within(gradient, keras_gradient, gradient_bound(lambda t, z: run(fused64(), t, z, exact_w)[1],
                                                           checked64, logits, dtype),
                  f"{class_name} fused with {activation}: dL/dz in {np.dtype(dtype).name}")


@pytest.mark.parametrize("name", losses.names())
def test_every_registered_name_means_what_keras_means_by_it(keras, name):
    """In float32: a name can give a Keras class instance, which computes in floatx whatever it is fed."""
    loss, data = losses.get(name), batch(losses.get(name))
    try:
        keras_fn = keras.losses.get(name)
    except ValueError:
        # The one name Keras need not know: the loss's own config name, which from_config reads
        # ("huber_loss" is Keras's Huber instance's default name, not a get() spelling).
        assert name == loss.name, f"npnet accepts the loss name {name!r}, which Keras's losses.get refuses"
        return
    raw, pred = data.raw.astype(np.float32), predictions(loss, data.logits).astype(np.float32)
    theirs = float(np.mean(keras_fn(raw, pred)))   # a Keras function gives per-sample losses
    value_of = lambda t, p: losses.get(name).forward(t, p)   # noqa: E731
    assert_within(loss(raw, pred), theirs,
                  value_bound(value_of, checked_targets(loss, data.raw, np.float64), pred, np.float32),
                  f"losses.get({name!r}) vs keras.losses.get({name!r})")


# -- gradients by finite differences ----------------------------------------------------------------

def assert_gradient_matches_finite_differences(loss: losses.Loss, checked: np.ndarray, inputs: np.ndarray,
                                               weights: np.ndarray) -> None:
    inputs = inputs.copy()
    value = lambda: loss.forward(checked, inputs, weights)   # noqa: E731 - reads the perturbed inputs
    analytic = run(loss, checked, inputs, weights)[1]
    noise = gradcheck.rounding_noise(abs(value()), 1e-6)     # every term is >= 0: the loss is their scale
    report = gradcheck.GradcheckReport([gradcheck.compare(f"{loss.name}/inputs", analytic,
                                                          gradcheck.numerical_gradient(value, inputs), noise)])
    report.assert_passed(tolerance=1e-6)


@pytest.mark.parametrize("class_name", LOSSES)
def test_backward_matches_finite_differences_in_float64(class_name):
    loss, data = fresh(class_name), batch(fresh(class_name))
    checked = checked_targets(loss, data.raw, np.float64)
    assert_gradient_matches_finite_differences(loss, checked, predictions(loss, data.logits), data.weights)


@pytest.mark.parametrize("class_name, activation", fused_pairs())
def test_fused_backward_matches_finite_differences_in_float64(class_name, activation):
    loss, data = fresh(class_name), batch(fresh(class_name))
    checked = checked_targets(loss, data.raw, np.float64)
    assert_gradient_matches_finite_differences(loss.fused(activations.get(activation)), checked, data.logits,
                                               data.weights)


# -- refusals and configs -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("class_name", LOSSES)
def test_check_targets_refuses_what_the_loss_cannot_take_naming_the_argument(class_name, dtype):
    loss = fresh(class_name)
    good = batch(loss).raw
    generic = [(np.where(np.arange(good.size).reshape(good.shape) == 1, np.nan, good), "non-finite"),
               (np.full(good.shape, "a"), "real numbers"),
               (np.zeros((N, K + 1)), "")]
    for targets, message in (*generic, *kind_of(loss).refused):
        with pytest.raises((ValueError, TypeError), match=f"val_y.*{message}"):
            loss.check_targets(targets, K, np.dtype(dtype), "val_y")


@pytest.mark.parametrize("class_name", LOSSES)
def test_the_public_call_refuses_non_finite_predictions_naming_y_pred(class_name):
    loss, data = fresh(class_name), batch(fresh(class_name))
    pred = predictions(loss, data.logits)
    pred[1, 1] = np.nan
    with pytest.raises(ValueError, match="y_pred"):
        loss(data.raw, pred)


@pytest.mark.parametrize("class_name", LOSSES)
def test_the_config_round_trips_through_json_and_from_config(class_name):
    loss = fresh(class_name)
    config = json.loads(json.dumps(losses.serialize(loss)))
    rebuilt = losses.from_config(config)
    assert type(rebuilt) is type(loss) and rebuilt.get_config() == loss.get_config()
    assert type(losses.get(config["name"])) is type(loss)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("class_name", LOSSES)
def test_a_model_compiled_with_the_loss_trains_as_its_keras_twin(keras, class_name, dtype):
    """Through the model: targets checked by the loss, the fused form where the output offers one, one step."""
    loss, data = fresh(class_name), batch(fresh(class_name))
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(2,)), npnet.layers.Dense(K, activation=kind_of(loss).activation)],
                             dtype=np.dtype(dtype).name)
    model.compile(optimizer="sgd", loss=loss)
    x = np.random.default_rng(1).standard_normal((N, 2))
    testing.assert_matches_keras(model, x, data.raw, steps=1)
