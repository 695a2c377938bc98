"""Sequential's training semantics, checked against what the contract (API.md) and Keras say."""
from __future__ import annotations

import copy
import pickle
import re

import numpy as np
import pytest

import npnet
from npnet import activations
from npnet.callbacks import Callback
from npnet.layers import Dense
from npnet.losses import BinaryCrossentropy, binary_crossentropy
from npnet.metrics import BinaryAccuracy, binary_accuracy
from npnet.optimizers import SGD, Adam
from npnet.progbar import format_logs

from float_rounding import assert_equal_to_rounding


def small_model(n_in=4, n_out=3, hidden=(5,), optimizer="adam", metrics=("accuracy",), seed=0):
    npnet.utils.set_random_seed(seed)
    model = npnet.Sequential([npnet.Input(shape=(n_in,))] + [Dense(u, activation="relu") for u in hidden]
                             + [Dense(n_out, activation="sigmoid")])
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=list(metrics))
    return model


def data(n=20, n_in=4, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in))
    return x, (rng.random((n, n_out)) < 0.5).astype(np.int64)


# -- the "accuracy" rule -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_means_binary_accuracy_with_binary_crossentropy(name):
    x, y = data(n=40)
    model = small_model(metrics=(name,))
    loss, accuracy = model.evaluate(x, y, verbose=0)
    by_hand = np.mean((model.predict(x, verbose=0) > 0.5) == y)   # over all N*K entries
    assert accuracy == pytest.approx(by_hand, abs=1e-12)
    assert model.metrics_names == ["loss", name]


def test_accuracy_is_not_categorical_accuracy():
    """On one row the two differ: labels [1, 0, 1], predictions [0.9, 0.2, 0.1] -> binary 2/3, categorical 1."""
    y, p = np.array([[1, 0, 1]]), np.array([[0.9, 0.2, 0.1]], np.float32)
    assert binary_accuracy(y, p).mean() == pytest.approx(2 / 3)
    metric = BinaryAccuracy()
    metric.update_state(y, p)
    assert metric.result() == pytest.approx(2 / 3)


def test_binary_accuracy_is_unreduced_and_uses_a_strict_threshold():
    y = np.array([[1, 0], [0, 1]])
    p = np.array([[0.5, 0.5], [0.2, 0.7]])
    np.testing.assert_array_equal(binary_accuracy(y, p), [[0, 1], [1, 1]])     # 0.5 is not > 0.5
    np.testing.assert_array_equal(binary_accuracy(y, p, threshold=0.4), [[1, 0], [1, 1]])


def test_binary_accuracy_metric_accumulates_over_batches():
    metric = BinaryAccuracy()
    metric.update_state([[1, 1]], [[0.9, 0.1]])
    metric.update_state([[0, 0], [1, 1]], [[0.1, 0.1], [0.9, 0.9]])
    assert metric.result() == pytest.approx(5 / 6)
    metric.reset_state()
    assert metric.result() == 0.0


# -- validation split and epoch loss ------------------------------------------------------------

@pytest.mark.parametrize("n, split, n_train", [(10, 0.25, 7), (20, 0.2, 16), (9, 0.5, 4)])
def test_validation_split_holds_out_the_last_fraction_before_shuffling(n, split, n_train):
    """Training on x[:split_at] (split_at = floor(n * (1 - split))) and validating on the rest."""
    x, y = data(n=n)
    model, twin = small_model(optimizer=SGD(0.1)), small_model(optimizer=SGD(0.1))
    history = model.fit(x, y, batch_size=n, epochs=1, validation_split=split, shuffle=True, verbose=0)
    twin.train_on_batch(x[:n_train], y[:n_train])   # one full-batch step: batch order does not matter
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)    # summation order may differ after shuffling
    val_loss, val_accuracy = model.evaluate(x[n_train:], y[n_train:], verbose=0)
    assert history.history["val_loss"] == [pytest.approx(val_loss, rel=1e-6)]
    assert history.history["val_accuracy"] == [pytest.approx(val_accuracy)]


def test_validation_data_is_used_as_given():
    x, y = data(n=30)
    model = small_model()
    history = model.fit(x[:20], y[:20], validation_data=(x[20:], y[20:]), epochs=2, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x[20:], y[20:], verbose=0)[0])


def test_epoch_loss_is_the_batch_size_weighted_mean_of_pre_update_batch_losses():
    x, y = data(n=10)
    model, twin = small_model(), small_model()
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    # one-batch fits take the same steps (fit's step, bias trick included), and report each batch's loss
    batch_losses = [twin.fit(x[a:a + 4], y[a:a + 4], batch_size=4, epochs=1, shuffle=False,
                             verbose=0).history["loss"][0] for a in (0, 4, 8)]
    # fit computes the mean over all 30 entries at once (float32): within gamma_30 of the exact
    # sum, the batch means within gamma_12, plus one rounding each for the divisions (u = 2^-24).
    assert history.history["loss"][0] == pytest.approx((4 * batch_losses[0] + 4 * batch_losses[1]
                                                        + 2 * batch_losses[2]) / 10, rel=(30 + 12 + 2) * 2.0**-24)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_history_has_one_entry_per_epoch_for_loss_metrics_and_validation():
    x, y = data(n=20)
    history = small_model().fit(x, y, epochs=3, validation_split=0.25, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(values) == 3 for values in history.history.values())
    assert history.epoch == [0, 1, 2]


def test_training_reduces_the_loss_on_a_learnable_problem():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 4))
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0, x[:, 3] < 0.5], axis=1)
    model = small_model(hidden=(16,), optimizer=Adam(0.01))
    history = model.fit(x, y, batch_size=50, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.95


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


def test_weights_are_glorot_uniform_kernels_and_zero_biases():
    model = npnet.Sequential([npnet.Input(shape=(300,)), Dense(200), Dense(3)])
    kernel, bias = model.get_weights()[:2]
    limit = np.sqrt(6 / (300 + 200))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.99 * limit
    assert abs(kernel.std() - limit / np.sqrt(3)) < 0.01 * limit    # the std of U(-a, a) is a / sqrt(3)
    np.testing.assert_array_equal(bias, 0)


def assert_views_into_the_buffers(model):
    buffer = model._params
    assert buffer.values.shape == buffer.grads.shape == (model.count_params(),)
    for layer in model.layers:
        for value, grad in ((layer.kernel, layer.dW), (layer.bias, layer.db)):
            assert np.shares_memory(value, buffer.values) and np.shares_memory(grad, buffer.grads)


def test_parameters_and_gradients_stay_views_into_one_buffer_each(tmp_path):
    model = small_model(hidden=(5, 4))
    x, y = data(n=5)
    assert_views_into_the_buffers(model)
    _, grads = model.loss_and_gradients(x, y)
    np.testing.assert_array_equal(np.concatenate([g.ravel() for g in grads]), model._params.grads)
    np.testing.assert_array_equal(np.concatenate([w.ravel() for w in model.get_weights()]), model._params.values)
    model.fit(x, y, epochs=2, verbose=0)
    assert_views_into_the_buffers(model)
    model.set_weights(model.get_weights())
    assert_views_into_the_buffers(model)
    model.save_weights(tmp_path / "w.npz")
    model.load_weights(tmp_path / "w.npz")
    assert_views_into_the_buffers(model)
    model.save(tmp_path / "m.npz")
    assert_views_into_the_buffers(npnet.models.load_model(tmp_path / "m.npz"))


@pytest.mark.parametrize("duplicate", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
                         ids=["deepcopy", "pickle"])
def test_a_copied_model_keeps_its_views_and_trains_exactly_as_the_original(duplicate):
    # Copies each view as a detached array unless the model re-binds them, and
    # copies the sigmoid unless activations stay singletons (the fused output then
    # silently switches to clipped probabilities): both changed the next update.
    model = small_model(hidden=(5, 4))
    x, y = data(n=8)
    model.fit(x, y, epochs=2, verbose=0)
    twin = duplicate(model)
    assert_views_into_the_buffers(twin)
    assert twin.layers[-1].activation is activations.sigmoid
    for m in (model, twin):
        m.fit(x, y, epochs=2, verbose=0, shuffle=False)
    for ours, theirs in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


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


def test_float64_models_compute_in_float64():
    x, y = data(n=10)
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(3, activation="sigmoid")], dtype="float64")
    model.compile(loss="binary_crossentropy")
    model.fit(x, y, verbose=0)
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(x, verbose=0).dtype == np.float64


def test_set_floatx_changes_the_default_dtype(float64):
    assert npnet.Sequential([Dense(2, input_dim=2)]).get_weights()[0].dtype == np.float64


def test_save_and_load_weights_round_trip_bit_exactly(tmp_path):
    model, other = small_model(seed=0), small_model(seed=1)
    model.fit(*data(n=20), epochs=2, verbose=0)
    model.save_weights(tmp_path / "w.npz")
    other.load_weights(tmp_path / "w.npz")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_saved_model_loads_with_its_layers_compile_settings_and_weights(tmp_path):
    model = small_model(optimizer=Adam(learning_rate=0.02))
    x, y = data(n=20)
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "model.npz")
    loaded = npnet.models.load_model(tmp_path / "model.npz")
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.metrics_names == model.metrics_names
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_summary_lists_layers_shapes_and_parameter_counts():
    model = npnet.Sequential([Dense(32, activation="relu", input_dim=6), Dense(16, activation="relu"),
                              Dense(8, activation="relu"), Dense(3, activation="sigmoid")], name="tutorial")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "tutorial"' in text and "(None, 32)" in text and "(None, 3)" in text
    assert "Total params: 915" in text      # 6*32+32 + 32*16+16 + 16*8+8 + 8*3+3
    assert [str(n) in text for n in (224, 528, 136, 27)] == [True] * 4


# -- verbosity and callbacks ----------------------------------------------------------------

def test_verbose_0_prints_nothing_and_2_prints_a_line_per_epoch(capsys):
    x, y = data(n=20)
    small_model().fit(x, y, epochs=2, verbose=0, validation_split=0.2)
    assert capsys.readouterr().out == ""
    small_model().fit(x, y, epochs=2, verbose=2, validation_split=0.2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert re.fullmatch(r"1/1 - \d+s - \d+(us|ms|s)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}"
                        r" - val_loss: \d\.\d{4} - val_accuracy: \d\.\d{4}", lines[1]), lines[1]


def test_progress_logs_use_keras_number_formats():
    assert format_logs({"loss": 0.31174, "accuracy": 0.5, "tiny": 1.23456e-4}) == (
        " - loss: 0.3117 - accuracy: 0.5000 - tiny: 1.2346e-04")


def test_verbose_1_draws_a_progress_bar_per_epoch(capsys):
    x, y = data(n=20)
    small_model().fit(x, y, batch_size=5, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert out.count("4/4 ━━━━━━━━━━━━━━━━━━━━") == 2 and "Epoch 2/2" in out and "accuracy: " in out


def test_callbacks_see_every_epoch_and_can_stop_training():
    class StopAfterTwo(Callback):
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, epoch, logs=None):
            self.seen.append((epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

    callback = StopAfterTwo()
    history = small_model().fit(*data(n=20), epochs=5, verbose=0, callbacks=[callback])
    assert callback.seen == [(0, ["accuracy", "loss"]), (1, ["accuracy", "loss"])]
    assert len(history.history["loss"]) == 2


def test_batch_callbacks_get_running_logs():
    class Batches(Callback):
        def __init__(self):
            self.steps = []

        def on_train_batch_end(self, batch, logs=None):
            self.steps.append((batch, logs["loss"]))

    callback = Batches()
    history = small_model().fit(*data(n=10), batch_size=4, epochs=1, verbose=0, callbacks=[callback])
    assert [step for step, _ in callback.steps] == [0, 1, 2]
    assert callback.steps[-1][1] == pytest.approx(history.history["loss"][0])


# -- shuffling and seeding ----------------------------------------------------------------------

def test_shuffle_changes_the_batches_and_the_seed_fixes_them():
    x, y = data(n=40)
    runs = {}
    for key, shuffle, seed in [("a", True, 5), ("b", True, 5), ("c", True, 6), ("plain", False, 5)]:
        model = small_model()
        npnet.utils.set_random_seed(seed)
        runs[key] = model.fit(x, y, batch_size=8, epochs=3, shuffle=shuffle, verbose=0).history["loss"]
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"] and runs["a"] != runs["plain"]


def test_activation_functions_are_usable_on_arrays():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(activations.relu(x), [0, 0, 3])
    np.testing.assert_allclose(activations.sigmoid(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(activations.tanh(x), np.tanh(x))
    np.testing.assert_array_equal(activations.linear(x), x)
    assert activations.get(None) is activations.linear and activations.get("relu") is activations.relu


def test_binary_crossentropy_function_clips_probabilities_like_keras():
    y = np.array([[1.0, 0.0]])
    per_sample = binary_crossentropy(y, np.array([[0.0, 1.0]]))
    assert per_sample.shape == (1,)
    assert per_sample[0] == pytest.approx(-np.log(1e-7), rel=1e-5)   # clip to [1e-7, 1 - 1e-7], then log
    p = np.array([[0.8, 0.3]])
    assert binary_crossentropy(y, p)[0] == pytest.approx(-(np.log(0.8) + np.log(0.7)) / 2, rel=1e-6)
    assert BinaryCrossentropy()(np.vstack([y, y]), np.vstack([p, p])) == pytest.approx(
        binary_crossentropy(y, p)[0], rel=1e-6)
    z = np.log(p / (1 - p))
    assert binary_crossentropy(y, z, from_logits=True)[0] == pytest.approx(binary_crossentropy(y, p)[0], rel=1e-6)


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
