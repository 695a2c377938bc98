"""BatchNormalization and LayerNormalization: finite differences (float64) and Keras's layers on the same weights.

Tolerance against Keras, derived rather than tuned: the statistics are sums
of n terms (n = the batch for batch norm, the features for layer norm) taken
in different orders by NumPy and TensorFlow, each within gamma_n = n u / (1 - n u)
of the exact sum in any order (tests/float_rounding.py); the rest of a formula
is a handful of roundings (TensorFlow's rsqrt is within 2 units in the last
place, then the products, the subtraction, the shift: 8 eps allowed). So every
entry must be within ``2 gamma_n + 8 eps`` of the *size of the terms that
produced it* (``scale`` below), not of the result, which can cancel.
Measured (N=32, I=6): at most 3.1 eps relative to max|result|.
"""
from __future__ import annotations


import numpy as np
import pytest

from npnet import gradcheck, initializers, regularizers
from npnet.layers import BatchNormalization, LayerNormalization

import float_rounding

TOLERANCE = 1e-5       # finite differences, as tests/unit/test_gradcheck.py; measured <= 2.2e-9
ROUNDINGS = 8


def built(layer, input_dim, dtype, rng):
    layer.build(input_dim, dtype)
    values = [rng.normal(size=w.shape) for w in layer.get_weights()]
    if isinstance(layer, BatchNormalization):
        values[-1] = np.abs(values[-1]) + 0.5          # a moving variance is positive
    layer.set_weights([v.astype(dtype) for v in values])
    return layer


def gradcheck_layer(layer, x, training, seed=0):
    """Analytic dx, dgamma, dbeta of L = sum(r * forward(x)) against central differences."""
    r = np.random.default_rng(seed).standard_normal(x.shape)
    loss = lambda: float(np.sum(r * layer.forward(x, training)))   # noqa: E731
    noise = gradcheck.rounding_noise(float(np.sum(np.abs(r * layer.forward(x, training)))), 1e-6)
    dx = layer.backward(r).copy()
    checks = [gradcheck.compare("input", dx, gradcheck.numerical_gradient(loss, x), noise)]
    for name, value, grad in (("gamma", layer.gamma, layer.dgamma), ("beta", layer.beta, layer.dbeta)):
        if grad is not None:
            grad = grad.copy()
            checks.append(gradcheck.compare(name, grad, gradcheck.numerical_gradient(loss, value), noise))
    return gradcheck.GradcheckReport(checks)


VARIANTS = [{}, {"scale": False}, {"center": False}, {"scale": False, "center": False}]


@pytest.mark.parametrize("options", VARIANTS, ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_backward_matches_finite_differences(options, training, rng):
    layer = built(BatchNormalization(**options), 5, np.float64, rng)
    x = rng.normal(1.0, 3.0, (7, 5))
    report = gradcheck_layer(layer, x, training)
    assert [c.name for c in report.checks] == ["input"] + [n for n, on in (("gamma", "scale"), ("beta", "center"))
                                                           if options.get(on, True)]
    report.assert_passed(TOLERANCE)


@pytest.mark.parametrize("options", VARIANTS, ids=str)
def test_layer_normalization_backward_matches_finite_differences(options, rng):
    layer = built(LayerNormalization(**options), 6, np.float64, rng)
    gradcheck_layer(layer, rng.normal(-2.0, 4.0, (5, 6)), training=True).assert_passed(TOLERANCE)


def test_a_wrong_batch_norm_backward_fails_the_check(rng, monkeypatch):
    # The affine backward (treating the batch statistics as constants) is what a slip leaves; it must fail.
    layer = built(BatchNormalization(), 4, np.float64, rng)
    x = rng.normal(size=(6, 4))
    gradcheck_layer(layer, x, True).assert_passed(TOLERANCE)
    original = BatchNormalization.backward
    monkeypatch.setattr(BatchNormalization, "backward",
                        lambda self, dy, need_dx=True: original(self, dy, False) or dy * self.inv)
    assert not gradcheck_layer(layer, x, True).passed(1e-2)


def assert_within(ours, theirs, scale, n, dtype, what):
    relative = 2 * float_rounding.gamma(n, dtype) + ROUNDINGS * np.finfo(dtype).eps
    bound = relative * np.broadcast_to(scale, np.shape(ours))
    error = np.abs(ours - theirs)
    assert (error <= bound).all(), f"{what}: {error.max():.3g} > bound at {np.unravel_index(np.argmax(error - bound), error.shape)}"


def keras_call(keras_layer, x, r, training):
    """Keras's output and the gradients of sum(r * output) w.r.t. x and the trainable weights."""
    import tensorflow as tf
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = keras_layer(x, training=training)
        loss = tf.reduce_sum(y * r)
    grads = tape.gradient(loss, [x] + keras_layer.trainable_weights)
    return y.numpy(), [g.numpy() for g in grads]


def scales(layer, x, dy, reduce_axis):
    """The sizes of the terms behind y, dx, dgamma, dbeta (see the module docstring)."""
    mean = x.mean(axis=reduce_axis, keepdims=True)
    inv_std = 1 / np.sqrt(x.var(axis=reduce_axis, keepdims=True) + layer.epsilon)
    x_hat = (x - mean) * inv_std
    gamma = layer.gamma if layer.gamma is not None else 1.0
    beta = layer.beta if layer.beta is not None else 0.0
    inv = np.abs(inv_std * gamma)
    y = np.abs(x) * inv + np.abs(mean) * inv + np.abs(beta)
    g = np.abs(dy * gamma) * inv_std
    dx = g + g.mean(axis=reduce_axis, keepdims=True) + np.abs(x_hat) * np.abs(g * x_hat).mean(axis=reduce_axis, keepdims=True)
    return y, dx, np.abs(dy * x_hat).sum(axis=0), np.abs(dy).sum(axis=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("options", VARIANTS[:2], ids=str)
def test_batch_normalization_matches_keras(dtype, training, options, keras, rng):
    n, features = 32, 6
    ours = built(BatchNormalization(**options), features, dtype, rng)
    theirs = keras.layers.BatchNormalization(dtype=dtype, **options)
    theirs.build((None, features))
    theirs.set_weights(ours.get_weights())
    for step in range(3):        # three batches: the moving statistics compound
        x = rng.normal(1.0, 3.0, (n, features)).astype(dtype)
        dy = rng.normal(size=(n, features)).astype(dtype)
        y_keras, grads_keras = keras_call(theirs, x, dy, training)
        moving_before = ours.get_weights()[-2:]
        y, dx = ours.forward(x, training).copy(), ours.backward(dy).copy()
        if training:
            y_scale, dx_scale, dgamma_scale, dbeta_scale = scales(ours, x, dy, 0)
        else:
            inv = np.abs(ours.inv)
            y_scale = np.abs(x) * inv + np.abs(ours.moving_mean * inv) + np.abs(ours.beta)
            dx_scale = np.abs(dy) * inv
            x_hat = (x - ours.moving_mean) / np.sqrt(ours.moving_variance + ours.epsilon)
            dgamma_scale, dbeta_scale = np.abs(dy * x_hat).sum(axis=0), np.abs(dy).sum(axis=0)
        assert_within(y, y_keras, y_scale, n, dtype, f"y, step {step}")
        assert_within(dx, grads_keras[0], dx_scale, n, dtype, f"dx, step {step}")
        trained = [("dgamma", ours.dgamma, dgamma_scale)] * ours.scale + [("dbeta", ours.dbeta, dbeta_scale)]
        for (name, grad, scale), grad_keras in zip(trained, grads_keras[1:]):
            assert_within(grad, grad_keras, scale, n, dtype, f"{name}, step {step}")
        # moving = moving * momentum + batch * (1 - momentum): the batch statistics' error, times 0.01,
        # on top of one rounding of each product and the sum.
        for name, ours_moving, keras_moving, before in zip(("moving_mean", "moving_variance"),
                                                          ours.get_weights()[-2:], theirs.get_weights()[-2:],
                                                          moving_before):
            if not training:
                assert np.array_equal(ours_moving, before)
            scale = np.abs(before) + np.abs(x).max(axis=0) ** (1 if name == "moving_mean" else 2)
            assert_within(ours_moving, keras_moving, scale, n, dtype, f"{name}, step {step}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", VARIANTS[:3], ids=str)
def test_layer_normalization_matches_keras(dtype, options, keras, rng):
    n, features = 16, 12
    ours = built(LayerNormalization(**options), features, dtype, rng)
    theirs = keras.layers.LayerNormalization(dtype=dtype, **options)
    theirs.build((None, features))
    theirs.set_weights(ours.get_weights())
    x = rng.normal(-1.0, 5.0, (n, features)).astype(dtype)
    dy = rng.normal(size=(n, features)).astype(dtype)
    for training in (True, False):
        y_keras, grads_keras = keras_call(theirs, x, dy, training)
        y, dx = ours.forward(x, training).copy(), ours.backward(dy).copy()
        y_scale, dx_scale, dgamma_scale, dbeta_scale = scales(ours, x, dy, 1)
        assert_within(y, y_keras, y_scale, features, dtype, "y")
        assert_within(dx, grads_keras[0], dx_scale, features, dtype, "dx")
        trained = [("dgamma", ours.dgamma, dgamma_scale)] * ours.scale + [("dbeta", ours.dbeta, dbeta_scale)] * ours.center
        for (name, grad, scale), grad_keras in zip(trained, grads_keras[1:]):
            assert_within(grad, grad_keras, scale, n, dtype, name)


def test_frozen_batch_normalization_uses_and_keeps_its_moving_statistics_in_training(keras, rng):
    ours = built(BatchNormalization(trainable=False), 4, "float32", rng)
    theirs = keras.layers.BatchNormalization()
    theirs.build((None, 4))
    theirs.set_weights(ours.get_weights())
    theirs.trainable = False
    x = rng.normal(size=(10, 4)).astype("float32")
    before = ours.get_weights()
    y_keras, _ = keras_call(theirs, x, np.ones((10, 4), "float32"), training=True)
    y = ours.forward(x, training=True)
    assert_within(y, y_keras, np.abs(x) * np.abs(ours.inv) + np.abs(ours.moving_mean * ours.inv) + np.abs(ours.beta),
                  10, "float32", "y")
    assert all(np.array_equal(a, b) for a, b in zip(ours.get_weights(), before))
    assert all(np.array_equal(a, b) for a, b in zip(theirs.get_weights(), before))
    np.testing.assert_array_equal(ours.forward(x, training=True), ours.forward(x, training=False))


def test_moving_statistics_follow_kerass_update_and_drive_inference(rng):
    layer = built(BatchNormalization(momentum=0.9), 3, np.float64, rng)
    mean, variance = layer.moving_mean.copy(), layer.moving_variance.copy()
    x = rng.normal(2.0, 0.5, (50, 3))
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.moving_mean, mean * 0.9 + x.mean(axis=0) * 0.1, rtol=1e-14)
    np.testing.assert_allclose(layer.moving_variance, variance * 0.9 + x.var(axis=0) * 0.1, rtol=1e-14)  # biased
    gamma, beta = layer.gamma, layer.beta
    expected = gamma * (x - layer.moving_mean) / np.sqrt(layer.moving_variance + 1e-3) + beta
    np.testing.assert_allclose(layer.forward(x, training=False), expected, rtol=1e-12, atol=1e-12)


def test_a_batch_of_one_normalizes_to_beta(rng):
    layer = built(BatchNormalization(), 3, np.float64, rng)
    x = rng.normal(size=(1, 3))
    y = layer.forward(x, training=True)
    # x * inv and mean * inv are the same product, so y = fl(fl(beta - m) + m) with m = x * inv: within 1 eps of
    # |beta| + |m| of beta.
    m = np.abs(x * layer.inv)
    assert (np.abs(y - layer.beta) <= np.finfo(np.float64).eps * (np.abs(layer.beta) + m)).all()


def test_weights_come_in_kerass_order_with_the_moving_statistics_non_trainable(keras):
    for options in VARIANTS:
        ours = [(w.name, w.shape, w.trainable) for w in BatchNormalization(**options).weights_spec(5)]
        theirs = keras.layers.BatchNormalization(**options)
        theirs.build((None, 5))
        assert ours == [(v.name, tuple(v.shape), v.trainable) for v in theirs.weights]
        ours = [(w.name, w.shape) for w in LayerNormalization(**options).weights_spec(5)]
        theirs = keras.layers.LayerNormalization(**options)
        theirs.build((None, 5))
        assert ours == [(v.name, tuple(v.shape)) for v in theirs.weights]


def test_initial_weights_are_kerass_defaults(rng):
    layer = BatchNormalization()
    layer.build(4, np.float32)
    assert [w.tolist() for w in layer.get_weights()] == [[1.0] * 4, [0.0] * 4, [0.0] * 4, [1.0] * 4]


@pytest.mark.parametrize("layer", [
    BatchNormalization(momentum=0.9, epsilon=1e-5, center=False, gamma_initializer="he_normal",
                       gamma_regularizer=regularizers.L2(0.1), moving_variance_initializer=initializers.Constant(2.0)),
    BatchNormalization(), LayerNormalization(epsilon=1e-6, scale=False, beta_regularizer="l1"), LayerNormalization()],
    ids=lambda layer: type(layer).__name__)
def test_config_round_trips_and_agrees_with_kerass(layer, keras):
    import json
    config = json.loads(json.dumps(layer.get_config()))
    again = type(layer)(**config)
    assert again.get_config() == config
    theirs = getattr(keras.layers, type(layer).__name__).from_config(config).get_config()
    for key, value in config.items():
        if isinstance(value, dict):
            # Keras adds "module" and "registered_name", and initializers' input_axes/output_axes (None)
            assert theirs[key]["class_name"] == value["class_name"], key
            assert {k: theirs[key]["config"][k] for k in value["config"]} == value["config"], key
        elif key != "name":
            assert theirs[key] == value, key


@pytest.mark.parametrize("make, error, message", [
    (lambda: BatchNormalization(axis=0), ValueError, r"axis must be -1"),
    (lambda: BatchNormalization(momentum=1.5), ValueError, r"momentum must be in"),
    (lambda: BatchNormalization(epsilon=0.0), ValueError, r"epsilon must be in"),
    (lambda: LayerNormalization(epsilon=-1e-3), ValueError, r"epsilon must be in"),
    (lambda: LayerNormalization(center=1), TypeError, r"center must be a bool"),
    (lambda: BatchNormalization(scale="yes"), TypeError, r"scale must be a bool"),
    (lambda: BatchNormalization(gamma_initializer="nope"), ValueError, r"unknown initializer 'nope'"),
    (lambda: LayerNormalization(beta_regularizer="l3"), ValueError, r"unknown regularizer 'l3'"),
])
def test_nonsense_arguments_are_refused_naming_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("make", [
    lambda: BatchNormalization(gamma_regularizer=regularizers.L2(0.1), beta_regularizer=regularizers.L1(0.05)),
    lambda: LayerNormalization(gamma_regularizer="l1_l2")], ids=["BatchNormalization", "LayerNormalization"])
def test_npnet_gradcheck_checks_the_normalizations_with_their_penalties(make, rng):
    layer = make()
    built(layer, 5, np.float64, rng)
    report = gradcheck.check_layer(layer, rng.normal(size=(8, 5)))
    assert {"gamma", "beta", "input"} <= {check.name.split("/")[1] for check in report.checks}
    report.assert_passed(TOLERANCE)
    assert layer.regularization_loss() > 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_outputs_are_normalized_per_feature_and_per_row(dtype, rng):
    x = rng.normal(5.0, 3.0, (200, 6)).astype(dtype)
    batch = BatchNormalization(epsilon=1e-12 if dtype == "float64" else 1e-3)
    batch.build(6, dtype)
    y = batch.forward(x, training=True).astype(np.float64)
    # gamma = 1, beta = 0: each feature's mean 0 and biased variance var / (var + eps)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=100 * np.finfo(dtype).eps)
    np.testing.assert_allclose(y.var(axis=0), x.var(axis=0) / (x.var(axis=0) + batch.epsilon), rtol=1e-5)
    layer = LayerNormalization(epsilon=1e-12 if dtype == "float64" else 1e-3)
    layer.build(6, dtype)
    z = layer.forward(x, training=False).astype(np.float64)
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=100 * np.finfo(dtype).eps)


@pytest.mark.parametrize("make", [BatchNormalization, LayerNormalization])
@pytest.mark.parametrize("scale", [1e-30, 1.0, 1e15])
def test_constant_features_and_extreme_magnitudes_stay_finite_and_match_keras(make, scale, keras, rng):
    # A constant column (batch norm) or row (layer norm) has variance 0: epsilon keeps 1/sqrt finite.
    x = (rng.normal(size=(16, 5)) * scale).astype("float32")
    x[:, 2] = 7.0 * np.float32(scale)
    x[3] = 7.0 * np.float32(scale)
    ours = make()
    ours.build(5, "float32")
    theirs = getattr(keras.layers, make.__name__)()
    theirs.build((None, 5))
    dy = rng.normal(size=(16, 5)).astype("float32")
    y_keras, grads_keras = keras_call(theirs, x, dy, training=True)
    y, dx = ours.forward(x, training=True).copy(), ours.backward(dy).copy()
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    # the same computations at any magnitude: within the module's bound, scaled to the largest term
    reduce_axis = 0 if make is BatchNormalization else 1
    y_scale, dx_scale, _, _ = scales(ours, x.astype(np.float64), dy, reduce_axis)
    n = x.shape[reduce_axis]
    assert_within(y, y_keras, y_scale, n, "float32", "y")
    assert_within(dx, grads_keras[0], dx_scale, n, "float32", "dx")
