"""Sample weights, Keras's class_weight, and per-label positive weights: the same losses and gradients as Keras/TF.

Tolerances are the parity suite's (npnet.testing.DEFAULT_TOLERANCES), measured
for unweighted losses; weighting by numbers of order 1 does not change them.
"""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import gradcheck, interop, losses, testing
from npnet.layers import Dense
from npnet.losses import BinaryCrossentropy

RNG = np.random.default_rng(11)
X = RNG.normal(size=(64, 5))
Y = (RNG.random((64, 3)) < 0.3).astype(float)
W = RNG.uniform(0.0, 3.0, size=64)
POS_WEIGHT = [4.0, 0.5, 2.0]
RTOL_FIT = 1e-6   # measured 1.1e-7 (sample_weight and class_weight, 3 epochs, float32)


def network(dtype="float32", units=3, loss="binary_crossentropy", seed=0):
    npnet.utils.set_random_seed(seed)
    model = npnet.Sequential([npnet.Input(shape=(5,)), Dense(8, activation="relu"),
                              Dense(units, activation="sigmoid")], dtype=dtype)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


def keras_loss_and_gradients(keras_model, x, y, sample_weight=None, pos_weight=None):
    """Keras's loss and gradients; with ``pos_weight`` the loss is TF's weighted_cross_entropy_with_logits."""
    import tensorflow as tf
    with tf.GradientTape() as tape:
        h = tf.constant(x, dtype=keras_model.layers[0].dtype)
        for layer in keras_model.layers[:-1]:
            h = layer(h)
        last = keras_model.layers[-1]
        if pos_weight is None:
            loss = keras_model.loss(y, last(h), sample_weight=sample_weight)
        else:
            z = tf.matmul(h, last.kernel) + last.bias
            per_entry = tf.nn.weighted_cross_entropy_with_logits(tf.constant(y, z.dtype), z,
                                                                 tf.constant(pos_weight, z.dtype))
            per_sample = tf.reduce_mean(per_entry, axis=-1)
            weights = 1.0 if sample_weight is None else tf.constant(sample_weight, z.dtype)
            loss = tf.reduce_sum(per_sample * weights) / len(x)
    return float(loss), [g.numpy() for g in tape.gradient(loss, keras_model.trainable_weights)]


def assert_close_to_keras(model, loss, gradients, keras_loss, keras_gradients):
    tol = testing.DEFAULT_TOLERANCES[model.dtype]
    assert loss == pytest.approx(keras_loss, rel=tol.loss_rtol)
    for ours, theirs in zip(gradients, keras_gradients):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=tol.gradient_atol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sample_weighted_loss_and_gradients_equal_keras(keras, dtype):
    model = network(dtype)
    loss, gradients = model.loss_and_gradients(X, Y, sample_weight=W)
    assert_close_to_keras(model, loss, gradients, *keras_loss_and_gradients(interop.to_keras(model), X, Y, W))
    # Keras divides by N, not by the sum of the weights
    assert loss == pytest.approx(np.sum(W * losses.binary_crossentropy(Y, model.predict(X, verbose=0))) / 64,
                                 rel=1e-5 if dtype == "float32" else 1e-12)


# Keras reports fit's and evaluate's loss through a float32 Mean metric even for a float64
# model, so these compare float32 models at float32 tolerances.

def test_sample_weighted_evaluate_and_train_on_batch_equal_keras(keras):
    model = network("float32")
    keras_model = interop.to_keras(model)
    ours = model.evaluate(X, Y, batch_size=16, verbose=0, sample_weight=W)
    theirs = keras_model.evaluate(X, Y, batch_size=16, verbose=0, sample_weight=W)
    np.testing.assert_allclose(ours, theirs, rtol=testing.DEFAULT_TOLERANCES[model.dtype].loss_rtol)
    for _ in range(5):
        model.train_on_batch(X, Y, sample_weight=W)
        keras_model.train_on_batch(X, Y, sample_weight=W)
    for a, b in zip(model.get_weights(), keras_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=testing.DEFAULT_TOLERANCES[model.dtype].weight_atol)


def test_fit_with_sample_weight_and_validation_split_follows_keras(keras):
    model = network("float32")
    keras_model = interop.to_keras(model)
    options = dict(batch_size=16, epochs=3, validation_split=0.25, shuffle=False, verbose=0)
    ours = model.fit(X, Y, sample_weight=W, **options).history
    theirs = keras_model.fit(X, Y, sample_weight=W, **options).history
    for key in ("loss", "val_loss"):   # the last quarter's weights weigh the validation loss, as in Keras
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL_FIT)


def test_class_weight_of_a_one_unit_output_follows_keras(keras):
    y = Y[:, :1]
    model = network("float32", units=1)
    keras_model = interop.to_keras(model)
    options = dict(batch_size=16, epochs=3, validation_split=0.25, shuffle=False, verbose=0,
                   class_weight={0: 0.5, 1: 3.0})
    ours, theirs = model.fit(X, y, **options).history, keras_model.fit(X, y, **options).history
    for key in ("loss", "val_loss"):   # class weights weigh the training part only, as in Keras
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL_FIT)


def test_sample_weights_scale_each_samples_gradient(float64):
    model = network("float64")
    weights = np.zeros(64)
    weights[:8] = 64 / 8          # all the weight on the first 8 samples, rescaled: the same mean
    _, on_eight = model.loss_and_gradients(X, Y, sample_weight=weights)
    _, eight_alone = model.loss_and_gradients(X[:8], Y[:8])
    for a, b in zip(on_eight, eight_alone):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pos_weight_in_a_sigmoid_model_is_tfs_weighted_cross_entropy_with_logits(keras, dtype):
    model = network(dtype, loss=BinaryCrossentropy(pos_weight=POS_WEIGHT))
    keras_model = interop.to_keras(network(dtype))        # same seed: the same weights
    for weights in (None, W):
        loss, gradients = model.loss_and_gradients(X, Y, sample_weight=weights)
        assert_close_to_keras(model, loss, gradients,
                              *keras_loss_and_gradients(keras_model, X, Y, weights, POS_WEIGHT))


def test_pos_weight_loss_function_equals_tf_from_logits_and_clips_probabilities(keras):
    import tensorflow as tf
    z = RNG.normal(size=(20, 3)) * 4
    expected = float(tf.reduce_mean(tf.nn.weighted_cross_entropy_with_logits(Y[:20], z, np.array(POS_WEIGHT))))
    assert BinaryCrossentropy(from_logits=True, pos_weight=POS_WEIGHT)(Y[:20], z) == pytest.approx(expected,
                                                                                                   rel=1e-6)
    p = 1 / (1 + np.exp(-z))
    assert BinaryCrossentropy(pos_weight=POS_WEIGHT)(Y[:20], p) == pytest.approx(expected, rel=1e-5)
    saturated = BinaryCrossentropy(pos_weight=[2.0])(np.array([[1.0]]), np.array([[0.0]]))
    assert saturated == pytest.approx(-2 * np.log(np.float32(1e-7)), rel=1e-6)   # clipped, then weighted


@pytest.mark.parametrize("from_logits", [True, False])
def test_weighted_loss_gradients_match_finite_differences(float64, from_logits):
    loss = BinaryCrossentropy(from_logits=from_logits, pos_weight=POS_WEIGHT)
    y_pred = RNG.normal(size=(6, 3)) if from_logits else RNG.uniform(0.05, 0.95, size=(6, 3))
    gradcheck.check_loss(loss, Y[:6], y_pred).assert_passed(1e-6)
    model = network("float64", loss=BinaryCrossentropy(pos_weight=POS_WEIGHT))
    gradcheck.check_model(model, X[:16], Y[:16], sample_weight=W[:16]).assert_passed(1e-5)


def test_balanced_pos_weight_is_negatives_over_positives():
    y = np.array([[1, 0], [0, 0], [0, 1], [0, 1]])
    np.testing.assert_array_equal(losses.balanced_pos_weight(y), [3.0, 1.0])
    with pytest.raises(ValueError, match="every label needs both positive and negative samples"):
        losses.balanced_pos_weight(np.array([[1, 0], [1, 1]]))


def test_pos_weight_is_checked_saved_and_refused_where_keras_has_none(tmp_path, keras):
    with pytest.raises(ValueError, match="pos_weight must be finite and > 0"):
        BinaryCrossentropy(pos_weight=[1.0, -2.0])
    with pytest.raises(TypeError, match="pos_weight must be a positive number or a 1-D list"):
        BinaryCrossentropy(pos_weight="heavy")
    model = network(loss=BinaryCrossentropy(pos_weight=[1.0, 2.0]))
    with pytest.raises(ValueError, match=r"pos_weight must hold one weight per label \(3\), got 2"):
        model.fit(X, Y, epochs=1, verbose=0)
    model = network(loss=BinaryCrossentropy(pos_weight=POS_WEIGHT))
    model.save(tmp_path / "weighted.npz")
    loaded = npnet.models.load_model(tmp_path / "weighted.npz")
    np.testing.assert_array_equal(loaded.loss.pos_weight, POS_WEIGHT)
    assert loaded.loss_and_gradients(X, Y)[0] == model.loss_and_gradients(X, Y)[0]
    with pytest.raises(ValueError, match="pos_weight, which Keras's BinaryCrossentropy does not offer"):
        interop.to_keras(model)


def test_class_weight_is_refused_for_multilabel_outputs_with_the_reason():
    model = network()
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"argmax label alone.*BinaryCrossentropy\(pos_weight=\.\.\.\)"):
        model.fit(X, Y, class_weight={0: 1.0, 1: 2.0}, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weights_that_overflow_the_models_dtype_are_refused_before_any_state_changes():
    model = network("float32", units=1)
    before = model.get_weights()
    with pytest.raises(ValueError, match="class_weight has non-finite values after conversion to float32"):
        model.fit(X, Y[:, :1], class_weight={0: 1.0, 1: 1e39}, verbose=0)
    big = network("float32", loss=BinaryCrossentropy(pos_weight=1e39))
    with pytest.raises(ValueError, match="pos_weight has non-finite values after conversion to float32"):
        big.fit(X, Y, verbose=0)
    assert model.optimizer.iterations == big.optimizer.iterations == 0
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_pos_weight_keeps_a_float32_model_in_float32():
    loss = BinaryCrossentropy(pos_weight=POS_WEIGHT)
    y, p = Y[:6].astype(np.float32), RNG.uniform(0.1, 0.9, size=(6, 3)).astype(np.float32)
    loss.forward(y, p)
    assert loss.backward().dtype == np.float32
    model = network("float32", loss=BinaryCrossentropy(pos_weight=POS_WEIGHT))
    assert all(g.dtype == np.float32 for g in model.loss_and_gradients(X, Y)[1])


def test_a_subclass_of_binary_crossentropy_keeps_its_own_forward_and_backward():
    class Halved(BinaryCrossentropy):
        def forward(self, y_true, y_pred, sample_weight=None):
            return super().forward(y_true, y_pred, sample_weight) / 2

        def backward(self):
            return super().backward() / 2

    plain, halved = network("float64"), network("float64", loss=Halved())
    loss, gradients = plain.loss_and_gradients(X, Y)
    half, half_gradients = halved.loss_and_gradients(X, Y)
    assert half == pytest.approx(loss / 2, rel=1e-6)       # the subclass runs (through clipped probabilities)
    np.testing.assert_allclose(half_gradients[0], gradients[0] / 2, rtol=1e-5, atol=1e-12)
