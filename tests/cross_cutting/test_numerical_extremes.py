"""Extreme values: huge logits, probabilities of exactly 0 and 1, huge inputs, constant labels, divergence.

Where the mathematics gives a finite answer npnet gives it (and the analytic
value); where float32 runs out, npnet does exactly what Keras does on the same
weights, NaN for NaN; ``fit`` then stops with ``TrainingDivergedError`` (tests/unit/test_callbacks.py
covers its message and options; here, only where it stops on a network Keras also overflows on).
"""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import interop
from npnet.layers import Dense
from npnet.losses import BinaryCrossentropy, binary_crossentropy
from npnet.models import TrainingDivergedError
from npnet.optimizers import SGD, Adam

from float_rounding import forward_error_bound


def model_with(weights, layers, dtype="float32", optimizer="sgd"):
    model = npnet.Sequential(layers, dtype=dtype)
    model.compile(optimizer=optimizer, loss="binary_crossentropy")
    model.set_weights(weights)
    return model


# -- logits of +-1e4 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_crossentropy_from_logits_of_1e4_equals_its_analytic_limits(dtype):
    # loss(z, y) -> max(z, 0) - z y exactly once exp(-|z|) underflows: |z| for a wrong sign, 0 for a right one.
    y = np.array([[0.0], [1.0], [0.0], [1.0], [0.25]], dtype)
    z = np.array([[1e4], [1e4], [-1e4], [-1e4], [1e4]], dtype)
    np.testing.assert_array_equal(binary_crossentropy(y, z, from_logits=True),
                                  np.array([1e4, 0.0, 0.0, 1e4, 7500.0], dtype))
    assert BinaryCrossentropy(from_logits=True)(y, z) == pytest.approx((1e4 + 1e4 + 7500.0) / 5, rel=0, abs=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_model_loss_and_gradient_at_logits_of_1e4_are_the_analytic_limits(dtype):
    """z = x W = [[1e4, -1e4], [-1e4, 1e4]] against y = [[0, 1], [1, 0]]: every entry is wrong by 1e4.

    Loss = mean(|z|) = 1e4; dL/dz = (sigmoid(z) - y) / (N*K) = +-1/4; dW = x^T dz; db = sum dz = 0.
    """
    model = model_with([np.array([[1e4, -1e4]]), np.zeros(2)], [Dense(2, activation="sigmoid", input_dim=1)],
                       dtype)
    x, y = np.array([[1.0], [-1.0]]), np.array([[0.0, 1.0], [1.0, 0.0]])
    loss, (d_kernel, d_bias) = model.loss_and_gradients(x, y)
    assert loss == 1e4
    np.testing.assert_array_equal(d_kernel, np.array([[0.5, -0.5]], dtype))
    np.testing.assert_array_equal(d_bias, np.zeros(2, dtype))
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.array([[1.0, 0.0], [0.0, 1.0]], dtype))


def test_a_sigmoid_output_at_logits_of_1e4_gives_the_same_loss_as_keras(keras):
    model = model_with([np.array([[1e4]]), np.zeros(1)], [Dense(1, activation="sigmoid", input_dim=1)])
    x, y = np.array([[1.0], [-1.0]], np.float32), np.array([[0.0], [0.0]], np.float32)
    # Keras also takes the loss from the logits (not from clipped probabilities, which would give 8.06).
    assert model.evaluate(x, y, verbose=0) == interop.to_keras(model).evaluate(x, y, verbose=0) == 5000.0


# -- probabilities of exactly 0 and 1 ---------------------------------------------------------------------------

def test_probabilities_of_exactly_0_and_1_are_clipped_to_finite_losses_as_in_keras(keras):
    y_true = np.array([[1.0], [0.0], [1.0], [0.0]], np.float32)
    y_pred = np.array([[0.0], [1.0], [1.0], [0.0]], np.float32)
    losses = binary_crossentropy(y_true, y_pred)
    theirs = keras.losses.binary_crossentropy(y_true, y_pred).numpy()
    # Wrong and certain: p = 0 for y = 1 costs -log(1e-7); in float32 1 - 1e-7 rounds to 1 - 2**-23,
    # so p = 1 for y = 0 costs -log(2**-23) = 23 log 2, not -log(1e-7).
    np.testing.assert_array_equal(losses[:2], np.array([-np.log(np.float64(np.float32(1e-7))), 23 * np.log(2)],
                                                       np.float32))
    np.testing.assert_array_equal(losses[:2], theirs[:2])
    # Right and certain: -log(1 - 2**-23) = 2**-23 + 2**-47 + ..., just above a float32 tie: NumPy's
    # array log rounds it up, TensorFlow's down -- one float32 ulp apart, the libraries' log, not npnet.
    np.testing.assert_array_max_ulp(losses[2:], np.full(2, 2.0 ** -23 + 2.0 ** -47, np.float32), maxulp=1)
    np.testing.assert_array_max_ulp(losses, theirs, maxulp=1)


def test_probabilities_of_exactly_0_and_1_in_float64_cost_minus_log_1e_7():
    losses = binary_crossentropy(np.array([[1.0], [0.0]]), np.array([[0.0], [1.0]]))
    np.testing.assert_allclose(losses, -np.log(1e-7), rtol=1e-9)   # 1 - (1 - 1e-7) is 1e-7 up to 1e-9
    assert np.isfinite(losses).all()


# -- inputs of 1e30 and beyond ----------------------------------------------------------------------------------------

def tutorial_like(seed=0):
    npnet.utils.set_random_seed(seed)
    model = npnet.Sequential([npnet.Input(shape=(6,)), Dense(8, activation="relu"), Dense(3, activation="sigmoid")])
    model.compile(optimizer=Adam(), loss="binary_crossentropy")
    return model


def huge_batch(scale):
    x = np.full((4, 6), scale, np.float32)
    x[1] *= -1
    return x, np.array([[0, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1]], np.float32)


# Beyond |z| = 104 float32's sigmoid is exactly 0 or 1, however it is evaluated: 1/(1 + e^-z)
# rounds to 1 once e^-z < 2**-25 (z > 17.4), and e^z is below half the smallest subnormal
# (2**-150) once z < -104.
SIGMOID_SATURATES = 104.0


@pytest.mark.parametrize("scale", [1e30, 1e37])
def test_predictions_for_huge_inputs_are_what_keras_predicts(keras, scale):
    """Logits of 1e31-1e38. Bit equality holds on any CPU here, and the test checks why: no float32
    sum can overflow (headroom > 1), and every logit is further from 0 than its rounding error plus
    the sigmoid's saturation point, so every summation order rounds to the same 0 or 1."""
    model = tutorial_like()
    x, _ = huge_batch(scale)
    z, z_error, headroom = forward_error_bound(model, x, logits=True)
    assert headroom > 1 and np.all(np.abs(z) - z_error > SIGMOID_SATURATES)
    ours = model.predict(x, verbose=0)
    np.testing.assert_array_equal(ours, (z > 0).astype(np.float32))
    np.testing.assert_array_equal(ours, interop.to_keras(model).predict(x, verbose=0))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_at_3e38_the_sums_overflow_in_an_order_dependent_way_and_npnet_computes_what_numpy_does():
    """The products x_i w_i are finite, but their sums exceed float32's range in some orders and not
    in others (exact hidden unit 6: 0.99 of the largest float32, its terms 1.6 times it). Which
    logits end +-inf, NaN or finite then depends on the BLAS kernel's order: Keras itself predicts
    differently with oneDNN on AVX2 and on AVX-512 (ONEDNN_MAX_CPU_ISA=AVX2 flips a column from 1 to
    0), so no comparison with Keras holds on every CPU. What does: npnet gives, bit for bit, what
    the same NumPy calls on the same arrays give, overflow included."""
    model = tutorial_like()
    x, _ = huge_batch(3e38)
    assert forward_error_bound(model, x)[2] < 1   # the premise: some order overflows
    h = x
    for layer in model.layers:   # Dense.forward's calls, written out
        z = h @ layer.kernel + layer.bias
        h = np.maximum(z, 0) if layer.activation.name == "relu" else 1 / (1 + np.exp(-z))
    np.testing.assert_array_equal(model.predict(x, verbose=0), h)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_adam_on_inputs_of_1e30_does_exactly_what_keras_does_nan_kernels_on_the_second_step(keras):
    """npnet matches Keras here rather than refusing: x = 1e30 is finite float32 data, and Keras trains on it.

    Step 1: gradients ~1e30 square to inf in v, so those weights move by m / inf = 0; the loss (1.4e29,
    from the logits) is finite. Step 2: v += (g*g - v) * (1 - beta_2) is inf - inf = NaN for exactly
    those entries, 36 of 48 and 18 of 24 kernel entries, in both. Step 3: the loss is NaN and so is
    every weight. NumPy's RuntimeWarnings ("overflow encountered in square") are the only signal.
    """
    model = tutorial_like()
    keras_model = interop.to_keras(model)
    x, y = huge_batch(1e30)
    for step in range(3):
        ours, theirs = model.train_on_batch(x, y), float(keras_model.train_on_batch(x, y))
        assert np.isnan(ours) == np.isnan(theirs) == (step == 2)
        if step < 2:
            assert ours == pytest.approx(theirs, rel=1e-6)   # the float32 sum order: measured 1.0e-7
        for ours_w, theirs_w in zip(model.get_weights(), keras_model.get_weights()):
            np.testing.assert_array_equal(np.isnan(ours_w), np.isnan(theirs_w))
        if step == 1:
            assert [int(np.isnan(w).sum()) for w in model.get_weights()] == [36, 0, 18, 0]
    assert all(np.isnan(w).all() for w in model.get_weights())


def test_inputs_beyond_float32_are_refused_not_turned_into_inf():
    model = tutorial_like()
    x, y = huge_batch(1.0)
    with pytest.raises(ValueError, match="x has non-finite values after conversion to float32"):
        model.predict(x.astype(np.float64) * 1e39, verbose=0)


# -- constant label columns ------------------------------------------------------------------------------------------

def test_all_zero_and_all_one_label_columns_train_to_finite_losses_and_the_right_side():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6))
    y = np.stack([np.zeros(64), np.ones(64), (x[:, 0] > 0).astype(float)], axis=1)
    model = tutorial_like()
    before = model.predict(x, verbose=0).mean(axis=0)
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    after = model.predict(x, verbose=0).mean(axis=0)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after[0] < before[0] and after[1] > before[1]   # the constant columns move toward their label
    assert np.isfinite(model.evaluate(x, y, verbose=0))


# -- learning rates that diverge ---------------------------------------------------------------------------------------

def unscaled_data(n=64):
    rng = np.random.default_rng(0)
    return rng.normal(scale=100.0, size=(n, 6)), (rng.random((n, 3)) > 0.5).astype(float)


def test_a_sigmoid_output_keeps_a_finite_loss_and_finite_weights_at_learning_rate_1e6():
    """Logistic regression: each SGD step moves a weight by at most lr * |x| (|dL/dz| <= 1), so
    after 40 steps the logits are ~1e13, far inside float32, and the loss from logits is finite."""
    x, y = unscaled_data()
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(6,)), Dense(3, activation="sigmoid")])
    model.compile(optimizer=SGD(learning_rate=1e6), loss="binary_crossentropy")
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and min(history.history["loss"]) > 1e6
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_a_relu_net_at_learning_rate_1e6_overflows_on_the_same_step_as_keras(keras):
    """Each step multiplies the weights' scale (the relu layer's gradient carries the next kernel):
    losses 31, 5e15, 8.8e29, then logits overflow to inf and the loss, inf - inf, is NaN. Keras too."""
    x, y = unscaled_data(16)
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(6,)), Dense(8, activation="relu"), Dense(3, activation="sigmoid")])
    model.compile(optimizer=SGD(learning_rate=1e6), loss="binary_crossentropy")
    keras_model = interop.to_keras(model)
    losses = []
    for step in range(4):
        ours, theirs = model.train_on_batch(x, y), float(keras_model.train_on_batch(x, y))
        assert np.isnan(ours) == np.isnan(theirs)
        if not np.isnan(ours):
            assert ours == pytest.approx(theirs, rel=1e-6)   # measured 8.6e-8 (float32 sums)
        losses.append(ours)
    assert np.isfinite(losses[:3]).all() and np.isnan(losses[3])
    assert losses[0] < losses[1] < losses[2] and losses[2] > 1e29


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_fit_on_that_relu_net_stops_at_the_batch_whose_loss_is_nan_and_keeps_the_weights_before_it():
    x, y = unscaled_data(16)

    def model():
        npnet.utils.set_random_seed(0)
        made = npnet.Sequential([npnet.Input(shape=(6,)), Dense(8, activation="relu"),
                                 Dense(3, activation="sigmoid")])
        made.compile(optimizer=SGD(learning_rate=1e6), loss="binary_crossentropy")
        return made
    stepped = model()   # one batch per epoch: epoch t's loss is step t's, from fit's own step
    losses = stepped.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history["loss"]
    third_step_weights = stepped.get_weights()   # what the 3rd (last finite) loss is computed on
    losses += stepped.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history["loss"]
    fitted = model()
    with pytest.raises(TrainingDivergedError, match=r"the loss of epoch 4/6, batch 1/1 is nan") as raised:
        fitted.fit(x, y, batch_size=16, epochs=6, shuffle=False, verbose=0)
    assert raised.value.last_finite_loss == losses[2]
    for ours, expected in zip(fitted.get_weights(), third_step_weights):
        assert ours.tobytes() == expected.tobytes()
