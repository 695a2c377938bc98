"""The contract every registered loss keeps (issue 12): parametrized over the classes ``losses.names()`` reaches,
with their defaults and with each Keras option they take.

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


# Every registered class with its defaults, and once with each Keras option it takes that changes
# its mathematics (set to this value); keyed "Huber" or "Huber(delta=0.5)".
OPTIONS = {"from_logits": True, "label_smoothing": 0.1, "delta": 0.5}
CLASSES = {type(losses.get(name)).__name__: type(losses.get(name)) for name in losses.names()}
SETTINGS = {f"{setting}{f'({key}={value})' if key else ''}": (cls, {key: value} if key else {})
            for setting, cls in CLASSES.items()
            for key, value in [(None, None), *((k, v) for k, v in OPTIONS.items() if k in cls().get_config())]}
LOSSES = sorted(SETTINGS)


def fresh(setting: str) -> losses.Loss:
    cls, options = SETTINGS[setting]
    return cls(**options)


def output_activation(loss: losses.Loss) -> str:
    """What the model's output applies before this loss: nothing if the loss takes logits."""
    return "linear" if getattr(loss, "from_logits", False) else kind_of(loss).activation


@dataclass
class Batch:
    """One batch in float64: targets as a user passes them, logits, sample weights."""

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
    return activations.get(output_activation(loss))(logits)


def fused_pairs() -> list[tuple[str, str]]:
    """(loss setting, activation name) for every activation a registered loss offers a fused form for.

    Settings with from_logits=True are left out: their output is not an activation's (with a
    softmax output npnet, as Keras, takes its logits anyway, and warns; heads' tests cover that).
    """
    return [(setting, name) for setting in LOSSES for name in activations.names()
            if not getattr(fresh(setting), "from_logits", False)
            and fresh(setting).fused(activations.get(name)) is not None]


def keras_loss(loss: losses.Loss, dtype) -> object:
    """The Keras loss ``interop.to_keras`` gives a one-layer model compiled with ``loss``."""
    model = npnet.Sequential([npnet.Input(shape=(2,)), npnet.layers.Dense(K, activation=output_activation(loss))],
                             dtype=np.dtype(dtype).name)
    model.compile(optimizer="sgd", loss=loss)
    return interop.to_keras(model).loss


def keras_value_and_gradient(keras, keras_fn, targets, inputs, weights, activation: str | None = None):
    """Keras's batch loss and its gradient with respect to ``inputs``: predictions, or logits through ``activation``."""
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
    scale = loss + np.sum(np.abs(gradcheck.numerical_gradient(lambda: value_of(targets, inputs), inputs))
                          * reach(inputs))
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
@pytest.mark.parametrize("setting", LOSSES)
def test_value_and_gradient_match_keras(keras, setting, dtype, weighted):
    loss, data = fresh(setting), batch(fresh(setting))
    pred = predictions(loss, data.logits).astype(dtype)
    weights = data.weights.astype(dtype) if weighted else None
    checked = checked_targets(loss, data.raw, dtype)
    public = loss(data.raw.astype(dtype), pred, sample_weight=weights)
    value, gradient = run(loss, checked, pred, weights)
    theirs, keras_gradient = keras_value_and_gradient(keras, keras_loss(loss, dtype), data.raw, pred, weights)

    exact_w = None if weights is None else weights.astype(np.float64)
    checked64 = checked_targets(fresh(setting), data.raw, np.float64)
    value_of = lambda t, p: fresh(setting).forward(t, p, exact_w)   # noqa: E731
    bound = value_bound(value_of, checked64, pred, dtype)
    assert_within(value, theirs, bound, f"{setting} forward in {np.dtype(dtype).name}")
    assert_within(public, theirs, bound, f"{setting}(y_true, y_pred) in {np.dtype(dtype).name}")
    assert gradient.dtype == dtype
    assert_within(gradient, keras_gradient, gradient_bound(lambda t, p: run(fresh(setting), t, p, exact_w)[1],
                                                           checked64, pred, dtype),
                  f"{setting} backward in {np.dtype(dtype).name}")


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting, activation", fused_pairs())
def test_the_fused_form_matches_keras_from_the_logits(keras, setting, activation, dtype, weighted):
    loss, data = fresh(setting), batch(fresh(setting))
    fused = loss.fused(activations.get(activation))
    logits = np.concatenate([data.logits[:-1], [[-1e4, 0.0, 1e4]]]).astype(dtype)   # and saturated logits
    weights = data.weights.astype(dtype) if weighted else None
    checked = checked_targets(loss, data.raw, dtype)
    value, gradient = run(fused, checked, logits, weights)
    theirs, keras_gradient = keras_value_and_gradient(keras, keras_loss(loss, dtype), data.raw, logits, weights,
                                                      activation)
    # The metrics see the output activation's values (to rounding: the fused form may compute them its own way).
    forward = activations.get(activation)
    exact = logits.astype(np.float64)
    assert_within(fused.probabilities, forward(logits),
                  agreement_bound(perturbation_scale(forward, exact, forward(exact)), dtype),
                  f"{setting} fused with {activation}: probabilities")

    exact_w = None if weights is None else weights.astype(np.float64)
    checked64 = checked_targets(fresh(setting), data.raw, np.float64)
    fused64 = lambda: fresh(setting).fused(activations.get(activation))   # noqa: E731
    bound = value_bound(lambda t, z: fused64().forward(t, z, exact_w), checked64, logits, dtype)
    assert_within(value, theirs, bound, f"{setting} fused with {activation} in {np.dtype(dtype).name}")
    assert np.isfinite(value) and np.isfinite(gradient).all()
    assert_within(gradient, keras_gradient, gradient_bound(lambda t, z: run(fused64(), t, z, exact_w)[1],
                                                           checked64, logits, dtype),
                  f"{setting} fused with {activation}: dL/dz in {np.dtype(dtype).name}")


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


@pytest.mark.parametrize("setting", LOSSES)
def test_backward_matches_finite_differences_in_float64(setting):
    loss, data = fresh(setting), batch(fresh(setting))
    checked = checked_targets(loss, data.raw, np.float64)
    assert_gradient_matches_finite_differences(loss, checked, predictions(loss, data.logits), data.weights)


@pytest.mark.parametrize("setting, activation", fused_pairs())
def test_fused_backward_matches_finite_differences_in_float64(setting, activation):
    loss, data = fresh(setting), batch(fresh(setting))
    checked = checked_targets(loss, data.raw, np.float64)
    assert_gradient_matches_finite_differences(loss.fused(activations.get(activation)), checked, data.logits,
                                               data.weights)


# -- refusals and configs -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting", LOSSES)
def test_check_targets_refuses_what_the_loss_cannot_take_naming_the_argument(setting, dtype):
    loss = fresh(setting)
    good = batch(loss).raw
    generic = [(np.where(np.arange(good.size).reshape(good.shape) == 1, np.nan, good), "non-finite"),
               (np.full(good.shape, "a"), "real numbers"),
               (np.zeros((N, K + 1)), "")]
    for targets, message in (*generic, *kind_of(loss).refused):
        with pytest.raises((ValueError, TypeError), match=f"val_y.*{message}"):
            loss.check_targets(targets, K, np.dtype(dtype), "val_y")


@pytest.mark.parametrize("setting", LOSSES)
def test_the_public_call_refuses_non_finite_predictions_naming_y_pred(setting):
    loss, data = fresh(setting), batch(fresh(setting))
    pred = predictions(loss, data.logits)
    pred[1, 1] = np.nan
    with pytest.raises(ValueError, match="y_pred"):
        loss(data.raw, pred)


@pytest.mark.parametrize("setting", LOSSES)
def test_the_config_round_trips_through_json_and_from_config(setting):
    loss = fresh(setting)
    config = json.loads(json.dumps(losses.serialize(loss)))
    rebuilt = losses.from_config(config)
    assert type(rebuilt) is type(loss) and rebuilt.get_config() == loss.get_config()
    assert type(losses.get(config["name"])) is type(loss)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting", LOSSES)
def test_a_model_compiled_with_the_loss_trains_as_its_keras_twin(keras, setting, dtype):
    """Through the model: targets checked by the loss, the fused form where the output offers one, one step."""
    loss, data = fresh(setting), batch(fresh(setting))
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(2,)), npnet.layers.Dense(K, activation=output_activation(loss))],
                             dtype=np.dtype(dtype).name)
    model.compile(optimizer="sgd", loss=loss)
    x = np.random.default_rng(1).standard_normal((N, 2))
    testing.assert_matches_keras(model, x, data.raw, steps=1)
