"""Dropout: exact against Keras where the masks can be made equal, binomial bounds where they cannot.

Each unit is kept independently with probability p = 1 - rate, so the number
kept among n is Binomial(n, p): within 5 standard deviations sqrt(n p (1 - p))
of n p. (TensorFlow compares a float32 uniform with float32(rate); the 2^-24
difference this makes to p is far below these bounds.) The draws are seeded,
so every test is deterministic.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import npnet
from npnet.layers import Dropout


def built(layer, input_dim=5, dtype="float32"):
    layer.build(input_dim, dtype)
    return layer


class FixedUniforms:
    """A stand-in generator whose uniform draws are given: it makes a chosen mask."""

    def __init__(self, uniforms):
        self.uniforms = uniforms

    def random(self, shape, dtype):
        assert shape == self.uniforms.shape
        return self.uniforms.astype(dtype)


def assert_binomial(kept: int, n: int, p: float) -> None:
    assert abs(kept - n * p) <= 5 * math.sqrt(n * p * (1 - p)), (kept, n, p)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_the_same_mask_gives_kerass_output_and_gradient_bit_for_bit(dtype, rate, keras, rng):
    import tensorflow as tf
    x = (rng.normal(size=(40, 7)) + 10).astype(dtype)        # no zeros: a zero output means dropped
    dy = rng.normal(size=(40, 7)).astype(dtype)
    theirs = keras.layers.Dropout(rate, seed=1, dtype=dtype)
    x_tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        y_keras = theirs(x_tensor, training=True)
        loss = tf.reduce_sum(y_keras * dy)
    dx_keras = tape.gradient(loss, x_tensor).numpy()
    y_keras = y_keras.numpy()
    kept = y_keras != 0
    ours = built(Dropout(rate), 7, dtype)
    ours._rng = FixedUniforms(np.where(kept, (1 + rate) / 2, rate / 2))    # >= rate exactly where Keras kept
    # Kept: x * float(1 / (1 - rate)) on both sides, one product of the same two numbers, which IEEE 754
    # rounds the same everywhere (no sum, no BLAS; |x| near 10, far from the subnormals TensorFlow
    # flushes to zero); dropped: 0. So equal to the bit, as the gradient dy * mask.
    np.testing.assert_array_equal(ours.forward(x, training=True), y_keras)
    np.testing.assert_array_equal(ours.backward(dy), dx_keras)
    assert_binomial(int(kept.sum()), kept.size, 1 - rate)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inference_and_rate_0_are_the_identity_as_in_keras(dtype, keras, rng):
    x, dy = rng.normal(size=(6, 5)).astype(dtype), rng.normal(size=(6, 5)).astype(dtype)
    for rate, training in ((0.5, False), (0.0, True), (0.0, False)):
        layer = built(Dropout(rate), 5, dtype)
        assert layer.forward(x, training) is x and layer.backward(dy) is dy
        np.testing.assert_array_equal(keras.layers.Dropout(rate, dtype=dtype)(x, training=training), x)


def test_rate_1_drops_everything_as_keras(keras, rng):
    x = rng.normal(size=(6, 5)).astype("float32")
    layer = built(Dropout(1.0))
    assert not layer.forward(x, training=True).any() and not layer.backward(np.ones_like(x)).any()
    assert not np.asarray(keras.layers.Dropout(1.0)(x, training=True)).any()


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.9])
def test_kept_counts_are_binomial_for_npnet_and_keras_and_the_mean_is_kept(rate, keras):
    n_rows, n_columns = 400, 250              # 100,000 units
    x = np.ones((n_rows, n_columns), "float32")
    npnet.utils.set_random_seed(int(rate * 10))
    ours = built(Dropout(rate), n_columns).forward(x, training=True)
    theirs = np.asarray(keras.layers.Dropout(rate, seed=3)(x, training=True))
    p, scale = 1 - rate, np.float32(1 / (1 - rate))
    for y in (ours, theirs):
        assert set(np.unique(y)) == {0.0, scale}
        assert_binomial(int((y != 0).sum()), y.size, p)
        # inverted dropout keeps E[y] = x: the mean of y is scale * kept / n, of standard error scale sqrt(p(1-p)/n)
        assert abs(y.mean() - 1.0) <= 5 * scale * math.sqrt(p * (1 - p) / y.size)
        # units are dropped independently: each row's count is Binomial(250, p) too (checked on its mean and spread)
        per_row = (y != 0).sum(axis=1)
        assert abs(per_row.var() - n_columns * p * (1 - p)) <= 5 * n_columns * p * (1 - p) * math.sqrt(2 / n_rows)


def test_backward_applies_the_forward_passs_own_mask_and_masks_change_between_steps(rng):
    layer = built(Dropout(0.5, seed=0), 8, "float64")
    x = rng.normal(size=(20, 8)) + 10
    first = layer.forward(x, training=True).copy()
    dy = rng.normal(size=(20, 8))
    np.testing.assert_array_equal(layer.backward(dy), np.where(first != 0, dy * 2.0, 0.0))
    second = layer.forward(x, training=True)
    assert not np.array_equal(first != 0, second != 0)
    np.testing.assert_array_equal(layer.backward(dy), np.where(second != 0, dy * 2.0, 0.0))


@pytest.mark.parametrize("noise_shape, repeated_axis", [((1, 6), 0), ((None, 1), 1), ((30, 1), 1), ((1, None), 0)])
def test_noise_shape_repeats_one_draw_along_its_unit_axes_as_keras(noise_shape, repeated_axis, keras, rng):
    x = rng.normal(size=(30, 6)).astype("float32") + 10
    layer = built(Dropout(0.5, noise_shape=noise_shape, seed=2), 6)
    for y in (layer.forward(x, training=True), np.asarray(keras.layers.Dropout(0.5, noise_shape=noise_shape, seed=2)(
            x, training=True))):
        kept = y != 0
        assert (kept == kept.take([0], axis=repeated_axis)).all()
    dx = layer.backward(np.ones_like(x))
    assert (dx != 0).any() and ((dx != 0) == (dx != 0).take([0], axis=repeated_axis)).all()


def test_a_seed_repeats_its_sequence_and_seed_none_follows_set_random_seed(rng):
    x = rng.normal(size=(10, 8)) + 10
    masks = lambda layer: [layer.forward(x, training=True) != 0 for _ in range(3)]   # noqa: E731
    first, again = masks(built(Dropout(0.5, seed=7), 8)), masks(built(Dropout(0.5, seed=7), 8))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[1])
    npnet.utils.set_random_seed(5)
    unseeded = masks(built(Dropout(0.5), 8))
    npnet.utils.set_random_seed(5)
    assert all(np.array_equal(a, b) for a, b in zip(unseeded, masks(built(Dropout(0.5), 8))))


def test_config_round_trips_and_agrees_with_kerass(keras):
    import json
    for layer in (Dropout(0.25), Dropout(0.5, noise_shape=(None, 1), seed=3)):
        config = json.loads(json.dumps(layer.get_config()))
        assert Dropout(**config).get_config() == config
        theirs = keras.layers.Dropout.from_config(config).get_config()
        assert {key: theirs[key] for key in ("rate", "seed")} == {key: config[key] for key in ("rate", "seed")}
        assert theirs["noise_shape"] == (None if config["noise_shape"] is None else tuple(config["noise_shape"]))


@pytest.mark.parametrize("make, error, message", [
    (lambda: Dropout(1.5), ValueError, r"rate must be in \[0.0, 1.0\]"),
    (lambda: Dropout(-0.1), ValueError, r"rate must be in"),
    (lambda: Dropout("0.5"), TypeError, r"rate must be a real number"),
    (lambda: Dropout(0.5, seed=-1), ValueError, r"seed must be >= 0"),
    (lambda: Dropout(0.5, noise_shape=(1,)), ValueError, r"noise_shape must be None or a pair"),
    (lambda: Dropout(0.5, noise_shape=(1, 0)), ValueError, r"noise_shape\[1\] must be >= 1"),
    (lambda: Dropout(0.5, noise_shape="1, 2"), ValueError, r"noise_shape must be None or a pair"),
])
def test_nonsense_arguments_are_refused_naming_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_noise_shape_that_does_not_fit_the_input_is_refused():
    layer = built(Dropout(0.5, noise_shape=(3, None)), 4)
    with pytest.raises(ValueError, match=r"noise_shape \(3, None\) does not broadcast to the input's shape \(5, 4\)"):
        layer.forward(np.ones((5, 4), "float32"), training=True)


def test_npnet_gradcheck_checks_dropout_under_a_fixed_mask(rng):
    from npnet import gradcheck
    layer = built(Dropout(0.4), 6, "float64")
    layer._rng = FixedUniforms(rng.random((7, 6)))          # the same mask at every forward pass
    report = gradcheck.check_layer(layer, rng.normal(size=(7, 6)))
    report.assert_passed(1e-5)
    assert (report.checks[0].analytic == 0).any() and (report.checks[0].analytic != 0).any()


def test_a_seeded_fit_with_dropout_and_batch_norm_repeats_bit_for_bit(rng):
    # the same NumPy calls on the same arrays in the same shapes: equal to the last bit
    from npnet.layers import BatchNormalization, Dense
    x, y = rng.normal(size=(60, 5)), (rng.random((60, 2)) > 0.5).astype(float)

    def run():
        npnet.utils.set_random_seed(9)
        model = npnet.Sequential([npnet.Input(shape=(5,)), Dense(8, activation="relu"), BatchNormalization(),
                                  Dropout(0.3), Dense(2, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0).history
        return history, model.get_weights()

    (first, weights), (again, weights_again) = run(), run()
    assert first == again
    assert all(np.array_equal(a, b) for a, b in zip(weights, weights_again))
