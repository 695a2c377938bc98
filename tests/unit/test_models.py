"""Sequential's training semantics, checked against what the contract (API.md) and Keras say."""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import gradcheck
from npnet.layers import Dense
from npnet.losses import BinaryCrossentropy, binary_crossentropy
from npnet.metrics import binary_accuracy

from finite_differences import TOLERANCE
from float_rounding import assert_equal_to_rounding
from small_models import data, small_model


# -- the "accuracy" rule -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_means_binary_accuracy_with_binary_crossentropy(name):
    x, y = data(n=40)
    model = small_model(metrics=(name,))
    loss, accuracy = model.evaluate(x, y, verbose=0)
    by_hand = np.mean((model.predict(x, verbose=0) > 0.5) == y)   # over all N*K entries
    assert accuracy == pytest.approx(by_hand, abs=1e-12)
    assert model.metrics_names == ["loss", name]


# -- evaluate, predict, train_on_batch, loss_and_gradients -------------------------------------------

def test_evaluate_returns_loss_and_metrics_or_the_bare_loss(float64):
    x, y = data(n=25)
    with_metrics, bare = small_model(), small_model(metrics=())
    loss, accuracy = with_metrics.evaluate(x, y, batch_size=7, verbose=0)
    assert isinstance(bare.evaluate(x, y, verbose=0), float)
    assert bare.evaluate(x, y, verbose=0) == pytest.approx(loss, rel=1e-12)
    probabilities = with_metrics.predict(x, verbose=0)
    assert loss == pytest.approx(binary_crossentropy(y, probabilities).mean(), rel=1e-9)
    assert accuracy == pytest.approx(binary_accuracy(y, probabilities).mean())


def test_predict_depends_on_the_batch_size_only_through_float_rounding():
    x, _ = data(n=23)
    model = small_model()
    whole = model.predict(x, batch_size=100, verbose=0)
    assert whole.shape == (23, 3) and whole.dtype == np.float32
    # Batches of 5 against one of 23: BLAS may sum each row's products in another order.
    assert_equal_to_rounding(model.predict(x, batch_size=5, verbose=0), whole, model, x)
    np.testing.assert_array_equal(model(x), whole)   # one batch of 23 on both sides: the same bits
    assert np.all((whole > 0) & (whole < 1))


def test_predict_is_the_forward_pass_written_out():
    x, _ = data(n=6)
    model = small_model(hidden=(5, 4))
    h = x.astype(np.float32)
    weights = model.get_weights()
    for index in range(0, len(weights) - 2, 2):
        h = np.maximum(h @ weights[index] + weights[index + 1], 0)
    expected = 1 / (1 + np.exp(-(h @ weights[-2] + weights[-1])))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6)


def test_train_on_batch_returns_the_loss_before_its_update():
    x, y = data(n=8)
    model = small_model(metrics=())
    before = model.evaluate(x, y, batch_size=8, verbose=0)
    weights = model.get_weights()
    assert model.train_on_batch(x, y) == pytest.approx(before, rel=1e-6)
    assert any(not np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    assert model.optimizer.iterations == 1


def test_loss_and_gradients_changes_nothing():
    x, y = data(n=8)
    model = small_model()
    weights = model.get_weights()
    loss, grads = model.loss_and_gradients(x, y)
    assert [g.shape for g in grads] == [w.shape for w in weights]
    assert loss == pytest.approx(model.evaluate(x, y, batch_size=8, verbose=0)[0], rel=1e-6)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0
    grads[0][...] = 0   # a copy: the model's gradient buffer is not exposed
    assert np.any(model.loss_and_gradients(x, y)[1][0])


def test_one_unit_output_accepts_one_dimensional_targets():
    x, y = data(n=12, n_out=1)
    model = small_model(n_out=1)
    assert model.evaluate(x, y[:, 0], verbose=0) == model.evaluate(x, y, verbose=0)


# -- building and weights ---------------------------------------------------------------------

@pytest.mark.parametrize("first", [lambda: [Dense(5, activation="relu", input_dim=4)],
                                   lambda: [Dense(5, activation="relu", input_shape=(4,))],
                                   lambda: [npnet.Input(shape=(4,)), Dense(5, activation="relu")],
                                   lambda: [npnet.layers.Input((4,)), Dense(5, activation="relu")]])
def test_the_input_size_can_be_declared_in_every_keras_way(first):
    model = npnet.Sequential(first() + [Dense(3, activation="sigmoid")])
    assert [w.shape for w in model.get_weights()] == [(4, 5), (5,), (5, 3), (3,)]


def test_without_a_declared_input_the_first_data_builds_the_model():
    model = npnet.Sequential([Dense(5, activation="relu"), Dense(3, activation="sigmoid")])
    assert model.get_weights() == [] and not model.built
    model.compile(loss="binary_crossentropy")
    x, y = data(n=6, n_in=7)
    model.fit(x, y, verbose=0)
    assert model.layers[0].kernel.shape == (7, 5)


def test_get_weights_returns_copies_and_set_weights_round_trips():
    model = small_model()
    weights = model.get_weights()
    weights[0][...] = 7
    assert not np.any(model.get_weights()[0] == 7)
    model.set_weights(weights)
    np.testing.assert_array_equal(model.get_weights()[0], 7)


def test_set_weights_builds_an_unbuilt_model_from_the_first_kernel():
    source = small_model()
    target = npnet.Sequential([Dense(5, activation="relu"), Dense(3, activation="sigmoid")])
    target.set_weights(source.get_weights())
    x, _ = data(n=4)
    np.testing.assert_array_equal(target.predict(x, verbose=0), source.predict(x, verbose=0))


# -- shuffling and seeding ----------------------------------------------------------------------


def test_layers_are_initialised_as_they_are_added_like_keras():
    """Weights are drawn when a layer's input size is known, so seed-then-build is reproducible."""
    def build(seed, one_by_one):
        npnet.utils.set_random_seed(seed)
        layers = [Dense(5, activation="relu", input_dim=4), Dense(3, activation="sigmoid")]
        if not one_by_one:
            return npnet.Sequential(layers)
        model = npnet.Sequential()
        for layer in layers:
            model.add(layer)
        return model
    first, second, third = build(0, True), build(0, False), build(1, True)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.get_weights()[0], third.get_weights()[0])


def test_adding_a_layer_keeps_the_existing_weights_and_refuses_after_training():
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu")])
    before = model.get_weights()
    model.add(Dense(3, activation="sigmoid"))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.compile(loss="binary_crossentropy")
    model.fit(*data(n=8), verbose=0)
    with pytest.raises(ValueError, match="trained"):
        model.add(Dense(2))


# == Finite differences of whole models ==============================================================

@pytest.mark.parametrize("hidden, activation", [((), "relu"), ((5,), "tanh"), ((8, 4), "relu"),
                                                ((32, 16, 8), "relu"), ((4, 4, 4, 4), "tanh"), ((6,), "sigmoid")])
@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_whole_model_gradients_match_finite_differences(hidden, activation, output, float64, rng):
    npnet.utils.set_random_seed(1)
    model = npnet.Sequential([npnet.Input(shape=(6,))] + [Dense(u, activation=activation) for u in hidden]
                             + [Dense(3, activation=output)])
    # A linear output with from_logits=True is the same mathematics as the fused sigmoid path,
    # reached through the generic (unfused) code.
    model.compile(optimizer="adam", loss=BinaryCrossentropy(from_logits=output == "linear"))
    x, y = rng.normal(size=(10, 6)), (rng.random((10, 3)) > 0.5).astype(float)
    report = gradcheck.check_model(model, x, y)
    assert len(report.checks) == 2 * (len(hidden) + 1)
    report.assert_passed(TOLERANCE)


def test_fused_sigmoid_model_equals_linear_output_with_logits_loss(float64, rng):
    """A sigmoid-output model trains on its logits: same loss and gradients as linear output + from_logits."""
    npnet.utils.set_random_seed(2)
    fused = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu"), Dense(2, activation="sigmoid")])
    fused.compile(loss="binary_crossentropy")
    logits = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu"), Dense(2)])
    logits.compile(loss=BinaryCrossentropy(from_logits=True))
    logits.set_weights(fused.get_weights())
    x, y = rng.normal(size=(9, 4)), (rng.random((9, 2)) > 0.5).astype(float)
    loss_fused, grads_fused = fused.loss_and_gradients(x, y)
    loss_logits, grads_logits = logits.loss_and_gradients(x, y)
    assert loss_fused == loss_logits
    for a, b in zip(grads_fused, grads_logits):
        np.testing.assert_array_equal(a, b)
