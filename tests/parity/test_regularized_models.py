"""Dropout, BatchNormalization, LayerNormalization and the regularizers inside whole models, against Keras.

The layer-level checks (finite differences, Keras's layers called directly)
are in tests/unit/layers/ and tests/unit/test_regularizers.py; here the same
layers run through ``fit``, ``train_on_batch``, ``evaluate`` and interop.
Tolerances are npnet.testing's defaults unless a test says otherwise; what
was measured (Keras 3.15.1, TensorFlow 2.21, this CPU) is written next to it.
"""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import interop, regularizers, testing
from npnet.layers import Activation, BatchNormalization, Dense, Dropout, LayerNormalization

import float_rounding


def regularized_model(dtype: str, frozen_batchnorm: bool = False, seed: int = 0) -> npnet.Sequential:
    """Every new piece at once: weight and activity penalties, both normalizations, a Dropout of rate 0."""
    npnet.utils.set_random_seed(seed)
    batchnorm = BatchNormalization(momentum=0.9, trainable=not frozen_batchnorm)
    model = npnet.Sequential([
        npnet.Input(shape=(12,)),
        Dense(16, activation="relu", kernel_regularizer=regularizers.L2(0.01), bias_regularizer=regularizers.L1(0.005)),
        batchnorm,
        Dense(8, activation="tanh", activity_regularizer=regularizers.L2(1e-3)),
        LayerNormalization(),
        Dropout(0.0),
        Dense(3, activation="sigmoid", kernel_regularizer=regularizers.L1L2(1e-3, 1e-3), activity_regularizer="l1"),
    ], dtype=dtype)
    weights = model.get_weights()
    rng = np.random.default_rng(seed)
    weights[2:6] = [rng.normal(size=16), rng.normal(size=16), rng.normal(size=16), rng.random(16) + 0.5]
    model.set_weights(weights)     # gamma, beta and moving statistics away from their initial 1, 0, 0, 1
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(1.0, 2.0, (64, 12)), (rng.random((64, 3)) > 0.5).astype(float)


# measured float32: forward 8.1e-7, loss 7.6e-8, gradients 3.0e-8, every weight after 10 steps 2.4e-7 (a
# moving variance near 3, one unit in the last place); float64: forward 1.1e-15, loss 1.1e-16, weights 1e-14.
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("frozen_batchnorm", [False, True])
def test_a_regularized_normalized_model_matches_keras_step_by_step(dtype, frozen_batchnorm, batch, keras):
    # forward (inference), loss with its penalties and every gradient (training mode, GradientTape), then
    # 10 steps with every weight compared after each, BatchNormalization's moving statistics included
    testing.assert_matches_keras(regularized_model(dtype, frozen_batchnorm), *batch, steps=10)


def test_the_reported_loss_includes_the_penalties_as_kerass(batch, keras):
    x, y = batch
    model = regularized_model("float32")
    twin = interop.to_keras(model)
    tolerance = testing.DEFAULT_TOLERANCES[np.dtype("float32")].loss_rtol
    for _ in range(5):
        ours, theirs = model.train_on_batch(x, y), float(twin.train_on_batch(x, y))
        assert abs(ours - theirs) <= tolerance * theirs
    ours, theirs = model.evaluate(x, y, verbose=0), float(twin.evaluate(x, y, verbose=0))
    assert abs(ours - theirs) <= tolerance * theirs
    # ... and what they add is exactly the weight penalties plus the activity penalties at inference / N
    data_loss = float(model.loss(y, model.predict(x, verbose=0)))
    layers = model.layers
    weight_penalties = (regularizers.L2(0.01).penalty(layers[0].kernel) + regularizers.L1(0.005).penalty(layers[0].bias)
                        + regularizers.L1L2(1e-3, 1e-3).penalty(layers[5].kernel))
    h, activities = x.astype("float32"), 0.0
    for layer in layers:
        h = layer(h)
        if getattr(layer, "activity_regularizer", None) is not None:
            activities += layer.activity_regularizer.penalty(h) / len(h)
    assert abs(ours - (data_loss + weight_penalties + activities)) <= 1e-6 * ours
    assert weight_penalties + activities > 0.01 * ours


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_training_mode_forward_and_moving_statistics_match_keras(dtype, batch, keras):
    x, _ = batch
    model = regularized_model(dtype)
    twin = interop.to_keras(model)
    h = x.astype(dtype)
    for layer in model.layers:
        h = layer.forward(h, training=True)
    theirs = np.asarray(twin(x.astype(dtype), training=True))
    tolerances = testing.DEFAULT_TOLERANCES[np.dtype(dtype)]
    assert np.max(np.abs(h - theirs) / np.abs(theirs)) <= tolerances.forward_rtol   # measured 8e-7 / 1e-15
    for ours, keras_weight in zip(model.get_weights(), twin.get_weights()):
        assert np.max(np.abs(ours - keras_weight)) <= tolerances.weight_atol


def test_dropout_in_a_model_matches_keras_under_the_same_mask(keras, rng):
    import tensorflow as tf
    npnet.utils.set_random_seed(3)
    model = npnet.Sequential([npnet.Input(shape=(5,)), Dense(32, activation="relu"), Dropout(0.5, seed=1),
                              Dense(2, activation="sigmoid")], dtype="float64")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x, y = rng.normal(size=(40, 5)), (rng.random((40, 2)) > 0.5).astype(float)
    loss, gradients = model.loss_and_gradients(x, y)
    mask = model.layers[1].mask                             # (40, 32): 0 or 2.0, the step's own
    twin = interop.to_keras(model)
    with tf.GradientTape() as tape:
        h = tf.constant(x)
        for layer in twin.layers:
            h = h * mask if isinstance(layer, keras.layers.Dropout) else layer(h, training=True)
        keras_loss = twin.loss(y, h)
    keras_gradients = tape.gradient(keras_loss, twin.trainable_weights)
    tolerances = testing.DEFAULT_TOLERANCES[np.dtype("float64")]
    assert abs(loss - float(keras_loss)) <= tolerances.loss_rtol * float(keras_loss)
    for ours, theirs in zip(gradients, keras_gradients):
        assert np.max(np.abs(ours - theirs.numpy())) <= tolerances.gradient_atol
    # at inference Dropout is the identity on both sides
    np.testing.assert_allclose(model.predict(x, verbose=0), twin(x, training=False), rtol=tolerances.forward_rtol)
    # and the mask the step drew is binomial: 40 * 32 units kept with probability 1/2
    kept = np.count_nonzero(mask)
    assert abs(kept - 640) <= 5 * np.sqrt(1280 * 0.25)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_run_on_digits_with_batch_normalization_matches_keras_epoch_by_epoch(dtype, keras, sklearn):
    from sklearn.datasets import load_digits
    digits = load_digits()
    x, y = digits.data / 16.0, np.eye(10)[digits.target]     # one-hot targets, sigmoid + binary crossentropy
    npnet.utils.set_random_seed(0)
    # The kernel before batch norm has no bias, as usual: batch norm subtracts the batch mean, so such a bias
    # has a zero gradient, and Adam turns its float32 rounding noise into steps of ~lr that differ from Keras's
    # (measured with a bias: that bias 8e-4 apart after 10 epochs, validation losses 1.5e-5).
    # Keras 3.15 cannot fit a float64 model with a regularizer (its compute_loss adds the float64 penalty to
    # the float32 compiled loss and fails), so the float64 run leaves L2 out.
    l2 = "l2" if dtype == "float32" else None
    model = npnet.Sequential([npnet.Input(shape=(64,)), Dense(32, use_bias=False, kernel_regularizer=l2),
                              BatchNormalization(), Activation("relu"), Dropout(0.0),
                              Dense(10, activation="sigmoid")], dtype=dtype)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    twin = interop.to_keras(model)
    settings = {"batch_size": 64, "epochs": 10, "shuffle": False, "validation_split": 0.2, "verbose": 0}
    ours = model.fit(x, y, **settings).history
    theirs = twin.fit(x.astype(dtype), y.astype(dtype), **settings).history
    if dtype == "float32":
        # measured: losses 1.8e-7 and validation losses 1.3e-7 relative, weights 1.5e-7 apart after 10 epochs
        rtol, weight_atol = 2e-6, 1.5e-6
    else:
        # weights agree to 4e-16; Keras's reported losses are float32 means over the epoch's 23 batches
        # (its loss tracker sums in float32): each sum rounds, so up to 23 * 2^-24 relative (measured 1.6e-7)
        rtol, weight_atol = 23 * 2.0 ** -24, 1e-13
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=rtol, err_msg=key)
    assert ours["loss"][-1] < 0.25 * ours["loss"][0]           # it learned
    for name, a, b in zip(("kernel", "gamma", "beta", "moving_mean", "moving_variance", "kernel", "bias"),
                          model.get_weights(), twin.get_weights()):
        assert np.max(np.abs(a - b)) <= weight_atol, name


def test_every_new_layer_moves_to_keras_and_back_with_its_config_and_weights(keras, rng):
    model = regularized_model("float32", seed=4)
    twin = interop.to_keras(model)
    assert [type(layer).__name__ for layer in twin.layers] == [type(layer).__name__ for layer in model.layers]
    for ours, theirs in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(ours, theirs)            # the moving statistics included
    for layer, keras_layer in zip(model.layers, twin.layers):
        keras_config = keras_layer.get_config()     # (Keras leaves activity_regularizer out when it is None)
        for key, value in layer.get_config().items():
            if isinstance(value, dict):
                assert keras_config[key]["class_name"] == value["class_name"], key
            elif key not in ("name", "axis"):
                assert keras_config.get(key) == (tuple(value) if key == "noise_shape" and value else value), key
    back = interop.from_keras(twin)
    assert [serialize_without_name(layer) for layer in back.layers] == \
        [serialize_without_name(layer) for layer in model.layers]
    for ours, again in zip(model.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(ours, again)
    x = rng.normal(size=(9, 12)).astype("float32")
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))   # same code, same weights


def serialize_without_name(layer):
    data = npnet.layers.serialize(layer)
    return data["class_name"], {key: value for key, value in data["config"].items() if key != "name"}


def test_a_saved_model_keeps_every_new_layer_and_its_moving_statistics(tmp_path, batch):
    x, y = batch
    model = regularized_model("float32")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = str(tmp_path / "model.npz")
    model.save(path)
    loaded = npnet.models.load_model(path)
    assert [serialize_without_name(layer) for layer in loaded.layers] == \
        [serialize_without_name(layer) for layer in model.layers]
    for ours, again in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(ours, again)
    np.testing.assert_array_equal(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_trace_records_every_new_layer_leaves_the_model_as_it_was_and_matches_keras(dtype, keras, rng):
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([
        npnet.Input(shape=(4,)), Dense(5, use_bias=False, activity_regularizer="l2"),
        BatchNormalization(gamma_regularizer="l2"), Activation("relu"), Dropout(0.0), LayerNormalization(),
        Dense(2, activation="sigmoid", kernel_regularizer="l2", activity_regularizer="l1")], dtype=dtype)
    model.compile(loss="binary_crossentropy", optimizer="adam")
    x, y = rng.normal(size=(8, 4)), (rng.random((8, 2)) > 0.5).astype(float)
    before = model.get_weights()
    trace = model.trace(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))   # moving statistics too
    assert {"x", "y", "dy", "dgamma", "dbeta", "update_gamma", "update_beta"} <= set(trace.layers[1].arrays)
    assert "batch_normalization" in str(trace) and "dgamma" in str(trace)
    differences = testing.compare_trace_with_keras(trace)
    assert len(differences) == 35
    # measured: 2.4e-7 (float32), 6.7e-16 (float64), every array of every layer
    assert max(differences.values()) <= testing.DEFAULT_TOLERANCES[np.dtype(dtype)].gradient_atol


def test_a_frozen_layers_penalties_drop_out_of_the_loss_as_in_keras(batch, keras):
    # Keras sums the regularizers of trainable weights only; the activity penalty stays (it is the output's).
    x, y = batch
    npnet.utils.set_random_seed(5)
    frozen = Dense(6, activation="tanh", kernel_regularizer=regularizers.L2(0.5), trainable=False)
    model = npnet.Sequential([npnet.Input(shape=(12,)), frozen, Dense(3, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    data_loss = float(model.loss(y, model.predict(x, verbose=0)))
    # evaluate sums the same 64 * 3 float32 terms in batches of 32: any order is within gamma_192 of the
    # exact sum, so the two within twice that; the L2 penalty (0.5 * sum W^2, about 3) would be far outside
    assert model.evaluate(x, y, verbose=0) == pytest.approx(data_loss, rel=2 * float(float_rounding.gamma(192, "float32")))
    twin = interop.to_keras(model)
    rtol = testing.DEFAULT_TOLERANCES[np.dtype("float32")].loss_rtol
    assert abs(model.train_on_batch(x, y) - float(twin.train_on_batch(x, y))) <= rtol * data_loss
