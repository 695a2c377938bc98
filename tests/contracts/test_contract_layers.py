"""The contract every registered layer keeps (issue 12): parametrized over ``layers.names()``.

Each layer is put in a small model, tanh Dense -> the layer -> sigmoid Dense, so
that its backward's dx reaches a gradient that is checked too. Then: the model's
gradients against finite differences in float64 (training=True, with every
random draw the same in each evaluation); forward, loss, gradients and one
``train_on_batch`` against its Keras twin (``npnet.testing.assert_matches_keras``);
a save/load round trip bit for bit; the config through the registry and JSON;
bad input refused with the model unchanged; a frozen layer never changing.

``CONTRACTS`` holds constructor arguments for each registered class and nothing
else; a layer registered without an entry fails the first test, so no layer
joins npnet without these checks.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest

import npnet
from npnet import gradcheck, layers, testing, utils
from npnet.layers import Activation, Dense
from npnet.models import load_model

I, H, K, N = 4, 5, 2, 8   # inputs, the width around the layer, outputs, batch


@dataclass(frozen=True)
class Contract:
    """How to make the layer under test; ``deterministic`` overrides arguments for the Keras training check.

    A layer that draws random numbers in training (Dropout) cannot share its draws with
    Keras, whose masks come from its own generator: its training step is compared with
    Keras under ``deterministic`` arguments, its random path by finite differences with
    its draws held fixed, and its inference with the arguments of ``make``.
    """

    make: Callable[..., layers.Layer]
    deterministic: dict[str, Any] = field(default_factory=dict)


CONTRACTS: dict[str, Contract] = {
    "Dense": Contract(lambda **kw: Dense(3, activation="tanh", kernel_regularizer="l2", **kw)),
    "Activation": Contract(lambda **kw: Activation("tanh", **kw)),
    "Dropout": Contract(lambda **kw: layers.Dropout(**{"rate": 0.4, "seed": 3, **kw}), deterministic={"rate": 0.0}),
    "BatchNormalization": Contract(lambda **kw: layers.BatchNormalization(**kw)),
    "LayerNormalization": Contract(lambda **kw: layers.LayerNormalization(**kw)),
}

NAMES = layers.names()


def test_every_registered_layer_has_a_contract_entry():
    missing = sorted(set(layers.names()) - set(CONTRACTS))
    assert not missing, f"layers registered without contract coverage: {missing}; add them to CONTRACTS in {__name__}"
    assert not set(CONTRACTS) - set(layers.names()), "CONTRACTS names a layer that is not registered"


def model_around(name: str, dtype=np.float64, deterministic: bool = False, optimizer: Any = "sgd",
                 trainable: bool = True) -> npnet.Sequential:
    contract = CONTRACTS[name]
    utils.set_random_seed(0)
    layer = contract.make(**(contract.deterministic if deterministic else {}))
    layer.trainable = trainable
    model = npnet.Sequential([npnet.Input(shape=(I,)), Dense(H, activation="tanh"), layer,
                              Dense(K, activation="sigmoid")], dtype=np.dtype(dtype).name)
    model.compile(optimizer=optimizer, loss="binary_crossentropy")
    return model


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, I)), (rng.random((N, K)) < 0.5).astype(np.float64)


@contextlib.contextmanager
def same_random_draws(owner: Any, method: str, stack: list[layers.Layer]):
    """Within the block, each call of ``owner.<method>`` draws the same random numbers (dropout masks).

    Before every call the global stream and every generator a layer of ``stack``
    holds are put back to their state on entry, so that the method computes one
    deterministic function of the weights and inputs, as finite differences need.
    """
    generators = [utils.random_generator()] + [value for layer in stack for value in vars(layer).values()
                                               if isinstance(value, np.random.Generator)]
    states = [generator.bit_generator.state for generator in generators]
    original = getattr(owner, method)

    def replayed(*args, **kwargs):
        for generator, state in zip(generators, states):
            generator.bit_generator.state = state
        return original(*args, **kwargs)

    setattr(owner, method, replayed)   # gradcheck calls the method on the object it is given
    try:
        yield
    finally:
        delattr(owner, method)


@pytest.mark.parametrize("name", NAMES)
def test_model_gradients_match_finite_differences_in_float64(name):
    model = model_around(name)
    x, y = data()
    with same_random_draws(model, "loss_and_gradients", model.layers):
        report = gradcheck.check_model(model, x, y)
    assert len(report.checks) == sum(len(layer.trainable_weights) for layer in model.layers)
    report.assert_passed(tolerance=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_standalone_backward_matches_finite_differences_in_float64(name):
    """dx, and the layer's own weights and penalties, straight from ``backward`` (gradcheck.check_layer)."""
    layer = CONTRACTS[name].make()
    layer.build(H, np.float64)
    x = np.random.default_rng(4).standard_normal((N, H))
    with same_random_draws(layer, "forward", [layer]):
        report = gradcheck.check_layer(layer, x)
    assert report.checks[-1].name.endswith("/input")
    report.assert_passed(tolerance=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_forward_gradients_and_one_step_match_keras(keras, name, dtype):
    x, y = data()
    testing.assert_matches_keras(model_around(name, dtype, deterministic=True), x, y, steps=1)
    # Inference with the layer's own arguments (a dropout rate above 0 included), against the same tolerance.
    model = model_around(name, dtype)
    theirs = np.asarray(npnet.interop.to_keras(model)(x.astype(dtype)))   # Keras's predict would cast to float32
    rtol = testing.DEFAULT_TOLERANCES[np.dtype(dtype)].forward_rtol
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs, rtol=rtol, atol=0)


def trained(name: str) -> npnet.Sequential:
    """A model one Adam step in: slots and any moving statistics are not at their initial values."""
    model = model_around(name, optimizer="adam")
    model.train_on_batch(*data())
    return model


@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_round_trip_bit_for_bit(name, tmp_path):
    model = trained(name)
    model.save(tmp_path / "model.npz")
    loaded = load_model(tmp_path / "model.npz")
    assert loaded.get_config() == model.get_config()
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    for ours, theirs in zip(loaded.get_weights(), model.get_weights(), strict=True):
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    state, loaded_state = model.optimizer.get_state(), loaded.optimizer.get_state()
    assert set(loaded_state) == set(state) and int(state["iterations"]) == 1
    for key, value in state.items():
        np.testing.assert_array_equal(loaded_state[key], value)
    x, y = data(1)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))   # same batch, same calls
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("name", NAMES)
def test_the_config_round_trips_through_the_registry_and_json(name):
    layer = model_around(name).layers[1]
    data = json.loads(json.dumps(layers.serialize(layer)))
    assert data["class_name"] == name
    rebuilt = layers.deserialize(data)
    assert type(rebuilt) is layers.get(name) and rebuilt.get_config() == layer.get_config()
    assert not rebuilt.built


@pytest.mark.parametrize("name", NAMES)
def test_the_layer_counts_and_orders_its_weights_as_keras(keras, name):
    model = model_around(name)
    layer, twin = model.layers[1], npnet.interop.to_keras(model).layers[1]
    assert layer.count_params() == twin.count_params()
    assert [w.shape for w in layer.get_weights()] == [tuple(w.shape) for w in twin.get_weights()]
    assert [w.shape for w in layer.trainable_weights] == [tuple(w.shape) for w in twin.trainable_weights]


def bad_inputs(x: np.ndarray) -> list[tuple[np.ndarray, str]]:
    nan, inf = x.copy(), x.copy()
    nan[2, 1], inf[0, 3] = np.nan, np.inf
    return [(x[:, :-1], f"must have {I} columns"), (np.hstack([x, x[:, :1]]), f"must have {I} columns"),
            (nan, "non-finite"), (inf, "non-finite"), (x[0], "2-dimensional")]


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_refused_naming_x_with_the_model_unchanged(name):
    model = trained(name)
    x, y = data(2)
    weights, iterations = model.get_weights(), model.optimizer.iterations
    for bad, message in bad_inputs(x):
        for call in (lambda: model.train_on_batch(bad, y), lambda: model.fit(bad, y, epochs=1, verbose=0),
                     lambda: model.evaluate(bad, y, verbose=0), lambda: model.predict(bad, verbose=0),
                     lambda: model.loss_and_gradients(bad, y)):
            with pytest.raises(ValueError, match=f"x.*{message}"):
                call()
        for ours, before in zip(model.get_weights(), weights, strict=True):
            np.testing.assert_array_equal(ours, before)
        assert model.optimizer.iterations == iterations
    with pytest.raises(ValueError, match="y"):
        model.train_on_batch(x, np.where(y == 1, np.nan, y))


@pytest.mark.parametrize("name", NAMES)
def test_a_standalone_layer_refuses_bad_input_naming_x(name):
    layer = model_around(name).layers[1]
    x = np.random.default_rng(3).standard_normal((N, H))
    for bad, message in bad_inputs(x):
        with pytest.raises(ValueError, match=f"x.*{message.replace(str(I), str(H))}"):
            layer(bad)


@pytest.mark.parametrize("name", NAMES)
def test_a_frozen_layer_never_changes(name):
    model = model_around(name, optimizer="adam", trainable=False)
    frozen = model.layers[1]
    before = frozen.get_weights()
    assert frozen.trainable_weights == []
    model.fit(*data(), batch_size=4, epochs=2, verbose=0)
    for ours, theirs in zip(frozen.get_weights(), before, strict=True):
        np.testing.assert_array_equal(ours, theirs)
