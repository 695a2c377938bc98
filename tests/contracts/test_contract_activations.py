"""The contract every registered activation keeps (issue 12): parametrized over ``activations.names()``.

An activation is tested here the moment it is registered: its backward against
finite differences in float64 (on random inputs and around 0, where relu, leaky
relu and elu have their kinks), its forward and gradient against
``keras.activations.get(name)`` under ``tf.GradientTape`` in float32 and float64
within a bound derived from rounding (tests/float_rounding.py), finite results
at +-1e4, and refusal of input that is not real numbers.
"""
from __future__ import annotations

import numpy as np
import pytest

from float_rounding import agreement_bound, assert_within, perturbation_scale
import npnet
from npnet import activations, gradcheck
from npnet.layers import Activation, Dense

NAMES = activations.names()


def inputs(seed: int = 0) -> np.ndarray:
    """z (6, 5) in float64: normal draws of spread 3, and a row and a column close to 0 on both sides.

    Close, not at: a central difference of step 1e-6 across a kink measures neither side's slope.
    """
    z = 3 * np.random.default_rng(seed).standard_normal((6, 5))
    z[0] = [-1e-3, 1e-3, -2e-2, 2e-2, 0.5]
    z[:, 1] = [1e-3, -1e-4, 1e-4, -1e-3, 3e-2, -3e-2]
    return z


def npnet_forward(activation, z: np.ndarray) -> np.ndarray:
    return activation.forward(z, out=np.empty_like(z))


def npnet_gradient(activation, z: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dL/dz for L = sum(dy * f(z)), through the protocol's backward (given z where it ``needs_input``)."""
    y = npnet_forward(activation, z)
    given_z = {"z": z} if getattr(activation, "needs_input", False) else {}
    return activation.backward(y, dy.astype(z.dtype), out=np.empty_like(z), **given_z)


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_finite_differences_in_float64(name):
    report = gradcheck.check_activation(name, inputs())
    report.assert_passed(tolerance=1e-6)


def keras_forward_and_gradient(keras, name: str, z: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf

    function = keras.activations.get(name)
    z_tensor = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(z_tensor)
        y = function(z_tensor)
        loss = tf.reduce_sum(tf.constant(dy.astype(z.dtype)) * y)
    return np.asarray(y), np.asarray(tape.gradient(loss, z_tensor))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_forward_and_gradient_match_keras(keras, name, dtype):
    activation = activations.get(name)
    z64 = np.concatenate([inputs(), [[-1e4, -30.0, 0.0, 30.0, 1e4]]])   # and the extremes, row by row
    dy = np.random.default_rng(1).standard_normal(z64.shape)
    z = z64.astype(dtype)                                                # the values both sides see
    exact_z = z.astype(np.float64)
    y, dz = npnet_forward(activation, z.copy()), npnet_gradient(activation, z.copy(), dy)
    keras_y, keras_dz = keras_forward_and_gradient(keras, name, z, dy)
    assert y.dtype == keras_y.dtype == dz.dtype == keras_dz.dtype == dtype

    forward = lambda v: npnet_forward(activation, v)   # noqa: E731 - float64 magnitudes for the bound
    assert_within(y, keras_y, agreement_bound(perturbation_scale(forward, exact_z, forward(exact_z)), dtype),
                  f"{name} forward in {np.dtype(dtype).name}")
    # The gradient is computed from y by one side or both (sigmoid: y (1 - y)), and y carries its
    # own rounding: a relative change of y moves dz by at most 3 |y| max|dy| over the row (sigmoid,
    # tanh, softplus, elu: |d f'/dy| |y| <= 2 |y|; softmax: y_k (|dy_k| + 2 sum_j |dy_j| y_j)).
    gradient = lambda v: npnet_gradient(activation, v, dy)   # noqa: E731
    y_term = 3 * np.abs(forward(exact_z)) * np.abs(dy).max(axis=-1, keepdims=True)
    scale = perturbation_scale(gradient, exact_z, gradient(exact_z)) + y_term
    assert_within(dz, keras_dz, agreement_bound(scale, dtype), f"{name} gradient in {np.dtype(dtype).name}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs_give_finite_values_and_gradients_without_warnings(name, dtype):
    activation = activations.get(name)
    z = np.array([[-1e4, -1e3, 0.0, 1e3, 1e4], [1e4, 1e4, 1e4, -1e4, -1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow to 0 is the right answer
        y, dz = npnet_forward(activation, z.copy()), npnet_gradient(activation, z.copy(), np.ones_like(z))
    assert np.isfinite(y).all() and np.isfinite(dz).all(), f"{name}: f = {y}, f' = {dz} at {z}"


@pytest.mark.parametrize("bad, error, message", [
    ([["a", "b"]], TypeError, "x must hold real numbers"),
    (np.array([[1 + 2j]]), TypeError, "x must hold real numbers"),
    ([[1.0, 2.0], [3.0]], ValueError, "x must be a rectangular array"),
    (np.array([[0.5, np.nan]]), ValueError, "x has non-finite values"),
])
@pytest.mark.parametrize("name", NAMES)
def test_input_that_is_not_finite_real_numbers_is_refused_naming_x(name, bad, error, message):
    with pytest.raises(error, match=message):
        activations.get(name)(bad)


@pytest.mark.parametrize("name", NAMES)
def test_the_name_round_trips_through_serialize_and_get(name):
    activation = activations.get(name)
    assert activations.get(activations.serialize(activation, "test")) is activation


@pytest.mark.parametrize("name", NAMES)
def test_inside_dense_and_activation_layers_model_gradients_match_finite_differences(name, float64):
    """The layers hand the activation what its backward needs (z kept apart where ``needs_input``)."""
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(3,)), Dense(4, activation=name), Activation(name),
                              Dense(2, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    rng = np.random.default_rng(2)
    gradcheck.check_model(model, rng.standard_normal((5, 3)), (rng.random((5, 2)) < 0.5) * 1.0).assert_passed(1e-6)
