"""The contract every registered optimizer keeps (issue 12): parametrized over ``optimizers.names()``.

Each optimizer, with its default settings, takes three steps on the same weights
and gradients as the Keras optimizer of the same class name and configuration,
in float32 and float64, within a bound derived from rounding; its config goes
through JSON and ``from_config`` to an optimizer that steps bit for bit the
same; its string names resolve as Keras's do; bad gradients are refused with
the weights unchanged.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from float_rounding import agreement_bound, assert_within
from npnet import optimizers

NAMES = optimizers.names()
SHAPES = [(3, 4), (4,)]
STEPS = 3


def weights_and_gradients(dtype, seed: int = 0) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Weights of ``SHAPES``, and one gradient list per step (normal draws: no entry is near 0 or tiny)."""
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    return weights, [[rng.standard_normal(shape).astype(dtype) for shape in SHAPES] for _ in range(STEPS)]


def npnet_steps(optimizer: optimizers.Optimizer, weights, gradients) -> list[list[np.ndarray]]:
    """The weights after each step (copies)."""
    params = [w.copy() for w in weights]
    history = []
    for step in gradients:
        optimizer.apply_gradients(list(zip(step, params)))
        history.append([p.copy() for p in params])
    return history


def keras_steps(keras, optimizer: optimizers.Optimizer, weights, gradients) -> list[list[np.ndarray]]:
    config = {key: value for key, value in optimizer.get_config().items() if key != "name"}
    keras_optimizer = getattr(keras.optimizers, type(optimizer).__name__)(**config)
    variables = [keras.Variable(w, dtype=w.dtype.name) for w in weights]
    history = []
    for step in gradients:
        keras_optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in step], variables))
        history.append([np.asarray(v) for v in variables])
    return history


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_three_steps_match_keras_on_the_same_weights_and_gradients(keras, name, dtype):
    weights, gradients = weights_and_gradients(dtype)
    ours = npnet_steps(optimizers.get(name), weights, gradients)
    theirs = keras_steps(keras, optimizers.get(name), weights, gradients)
    # Each step computes w - update in a few elementwise operations on slots of the same size:
    # the update within about 32u of itself (some ten roundings and a float32 power in the bias
    # corrections), w - update within u of its result. In agreement_bound's units (8u per side and
    # term): |w| + 4 |update| per step, and the errors of the steps (carried on by w and the
    # slots) add up.
    scale = [np.zeros(shape) for shape in SHAPES]
    previous = [w.astype(np.float64) for w in weights]
    for step, (mine, keras_weights) in enumerate(zip(ours, theirs), start=1):
        for index, (a, b, before) in enumerate(zip(mine, keras_weights, previous)):
            scale[index] += np.abs(a.astype(np.float64)) + 4 * np.abs(a.astype(np.float64) - before)
            assert a.dtype == dtype
            assert_within(a, b, agreement_bound(scale[index], dtype),
                          f"{name} in {np.dtype(dtype).name}, step {step}, weight {index}")
        previous = [a.astype(np.float64) for a in mine]


@pytest.mark.parametrize("name", NAMES)
def test_the_config_round_trips_to_an_optimizer_that_steps_bit_for_bit_the_same(name):
    optimizer = optimizers.get(name)
    config = json.loads(json.dumps(optimizer.get_config()))
    rebuilt = optimizers.from_config(config)
    assert type(rebuilt) is type(optimizer) and rebuilt.get_config() == optimizer.get_config()
    weights, gradients = weights_and_gradients(np.float32)
    for ours, theirs in zip(npnet_steps(optimizer, weights, gradients), npnet_steps(rebuilt, weights, gradients)):
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_the_state_round_trips_to_an_optimizer_that_steps_on_bit_for_bit(name):
    """get_state after two steps, set_state into a fresh optimizer of the same config: the third step agrees."""
    weights, gradients = weights_and_gradients(np.float32)
    optimizer, params = optimizers.get(name), [w.copy() for w in weights]
    for step in gradients[:2]:
        optimizer.apply_gradients(list(zip(step, params)))
    state = optimizer.get_state()
    assert int(state["iterations"]) == 2
    resumed, resumed_params = optimizers.from_config(optimizer.get_config()), [p.copy() for p in params]
    resumed.build(resumed_params)
    resumed.set_state({key: value.copy() for key, value in state.items()})
    assert resumed.iterations == 2
    for key, value in resumed.get_state().items():
        np.testing.assert_array_equal(value, state[key])
    optimizer.apply_gradients(list(zip(gradients[2], params)))
    resumed.apply_gradients(list(zip(gradients[2], resumed_params)))
    for a, b in zip(params, resumed_params):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_string_names_resolve_as_keras_resolves_them(keras, name):
    optimizer = optimizers.get(name)
    class_name = type(optimizer).__name__
    assert type(keras.optimizers.get(name)).__name__ == class_name
    for spelling in (name, class_name):
        assert type(optimizers.get(spelling)) is type(optimizer)
    assert optimizers.get(optimizer) is optimizer


@pytest.mark.parametrize("name", NAMES)
def test_bad_gradients_are_refused_with_the_weights_and_step_count_unchanged(name):
    optimizer = optimizers.get(name)
    weights, gradients = weights_and_gradients(np.float64)
    npnet_steps(optimizer, weights, gradients[:1])
    params = [w.copy() for w in weights]
    nan = [g.copy() for g in gradients[1]]
    nan[1][2] = np.nan
    for bad, error in ((nan, ValueError), ([gradients[1][0], gradients[1][0]], ValueError),
                       ([g.astype(str) for g in gradients[1]], ValueError)):
        with pytest.raises(error, match="gradient"):
            optimizer.apply_gradients(list(zip(bad, params)))
        for p, w in zip(params, weights):
            np.testing.assert_array_equal(p, w)
        assert optimizer.iterations == 1
