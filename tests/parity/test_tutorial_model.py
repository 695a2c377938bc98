"""npnet against Keras 3 (TensorFlow backend), number by number, on the same weights and data.

Every tolerance below was measured first (Keras 3.15.1, TensorFlow 2.21.0,
NumPy 2.4, this 2-core CPU); the measured value is written next to it.
In CI these tests run with TensorFlow installed and never skip.
"""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import interop, testing, tutorial
from npnet.layers import Dense
from npnet.losses import binary_crossentropy
from npnet.optimizers import SGD, Adam

NETWORKS = [((32, 16, 8), "relu"), ((), "relu"), ((20,), "tanh"), ((10, 10, 10, 10), "relu"),
            ((8, 4), "sigmoid"), ((5,), "linear")]


@pytest.fixture(scope="module")
def data(sklearn):
    return tutorial.tutorial_data()


@pytest.fixture(scope="module")
def reference(keras):
    from reference import keras_model
    return keras_model


def network(hidden, activation, dtype="float32", seed=0, optimizer="adam"):
    npnet.utils.set_random_seed(seed)
    model = npnet.Sequential([npnet.Input(shape=(6,))] + [Dense(u, activation=activation) for u in hidden]
                             + [Dense(3, activation="sigmoid")], dtype=dtype)
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return model


def batch(data, n=250):
    """A batch of the tutorial's data, standardised so that tanh/sigmoid units do not saturate.

    Saturated units have gradients at float32 noise level, which Adam turns
    into steps of up to lr in either direction (npnet.testing explains).
    """
    x = data.x_train[:n]
    return (x - data.x_train.mean(0)) / data.x_train.std(0), data.y_train[:n]


# -- 1. forward ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, rtol", [("float32", 5e-6), ("float64", 1e-12)])   # measured 4.8e-7, 8.8e-15
@pytest.mark.parametrize("hidden, activation", NETWORKS)
def test_forward_pass_equals_keras_on_the_same_weights(keras, data, hidden, activation, dtype, rtol):
    model = network(hidden, activation, dtype)
    keras_model = interop.to_keras(model)
    x = data.x_train[:1000]      # raw counts: the tutorial's own inputs
    np.testing.assert_allclose(model.predict(x, verbose=0), keras_model.predict(x, verbose=0), rtol=rtol, atol=0)


# -- 2. gradients -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, loss_rtol, atol", [("float32", 1e-6, 1e-5),      # measured 7.5e-8, 7.2e-7
                                                     ("float64", 1e-14, 1e-13)])  # measured 1.9e-16, 1.3e-15
@pytest.mark.parametrize("hidden, activation", NETWORKS)
def test_every_gradient_equals_gradient_tape(keras, data, hidden, activation, dtype, loss_rtol, atol):
    model = network(hidden, activation, dtype)
    keras_model = interop.to_keras(model)
    x, y = data.x_train[:250].astype(dtype), data.y_train[:250].astype(dtype)
    loss, grads = model.loss_and_gradients(x, y)
    keras_loss, keras_grads = testing._keras_loss_and_gradients(keras_model, x, y)
    assert loss == pytest.approx(keras_loss, rel=loss_rtol)
    assert len(grads) == len(keras_grads)
    for ours, theirs in zip(grads, keras_grads):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=atol)


# -- 3. optimizer steps ---------------------------------------------------------------------------

@pytest.mark.parametrize("make_optimizer", [Adam, lambda: Adam(learning_rate=0.01, epsilon=0.1),
                                            lambda: SGD(0.1), lambda: SGD(0.05, momentum=0.9, nesterov=True)],
                         ids=["adam", "adam-large-epsilon", "sgd", "sgd-nesterov"])
@pytest.mark.parametrize("dtype, atol", [("float32", 1e-6), ("float64", 1e-15)])   # measured 6e-8, 5.6e-17
def test_ten_train_on_batch_steps_give_keras_weights(keras, data, make_optimizer, dtype, atol):
    model = network((32, 16, 8), "relu", dtype, optimizer=make_optimizer())
    keras_model = interop.to_keras(model)
    x, y = batch(data)
    for step in range(10):
        ours = model.train_on_batch(x, y)[0]
        theirs = keras_model.train_on_batch(x, y)[0]
        if step == 0:   # later Keras returns running means; npnet returns each batch's loss (README)
            assert ours == pytest.approx(theirs, rel=1e-6)   # measured 1.8e-7 (Keras's loss tracker is float32)
        for a, b in zip(model.get_weights(), keras_model.get_weights()):
            np.testing.assert_allclose(a, b, rtol=0, atol=atol)


def test_float64_adam_is_bit_identical_to_keras(keras):
    """The float64 lead: Keras rounds lr, beta_1 and beta_2 to float32 (npnet.optimizers.keras_rounded).

    Measured with exact float64 constants instead: a uniform 6.6e-9 after one step
    (relative 6.6e-6 of the lr-sized first step). With Keras's rounding: 0.
    """
    rng = np.random.default_rng(0)
    variable = keras.Variable(rng.normal(size=1000), dtype="float64")
    ours = variable.numpy().copy()
    keras_adam, adam = keras.optimizers.Adam(), Adam()
    for _ in range(10):
        g = rng.normal(size=1000)
        keras_adam.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
        adam.apply_gradients([(g, ours)])
    np.testing.assert_array_equal(ours, variable.numpy())


# -- 4. whole training runs --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def same_start_runs(data, reference):
    """50 epochs of the tutorial config on both, from the same initial weights, shuffle=False."""
    npnet.utils.set_random_seed(0)
    model = tutorial.tutorial_model()
    keras_run = reference.train(seed=0, initial_weights=model.get_weights(), shuffle=False, data=data)
    history = model.fit(data.x_train, data.y_train, batch_size=tutorial.BATCH_SIZE, epochs=tutorial.N_EPOCHS,
                        verbose=0, validation_split=tutorial.VALIDATION_SPLIT, shuffle=False)
    test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=tutorial.BATCH_SIZE, verbose=0)
    return model, history.history, test_loss, test_accuracy, keras_run


@pytest.mark.parametrize("key, atol", [("loss", 1e-6), ("val_loss", 1e-6),           # measured 5.7e-8, 7.4e-8
                                       ("accuracy", 1e-5), ("val_accuracy", 1e-5)])  # measured 1.8e-7, 1.1e-7
def test_fifty_epoch_curves_equal_keras(same_start_runs, key, atol):
    """Also proves the validation split (last 20%) and the batch-size-weighted epoch loss are Keras's."""
    _, history, _, _, keras_run = same_start_runs
    assert len(history[key]) == len(keras_run.history[key]) == tutorial.N_EPOCHS
    np.testing.assert_allclose(history[key], keras_run.history[key], rtol=0, atol=atol)


def test_fifty_epoch_run_ends_with_keras_weights_and_test_scores(same_start_runs):
    model, _, test_loss, test_accuracy, keras_run = same_start_runs
    assert abs(test_accuracy - keras_run.test_accuracy) <= 0.005          # the bar; measured 3.4e-10
    assert test_loss == pytest.approx(keras_run.test_loss, rel=1e-6)       # measured 5.4e-8
    for ours, theirs in zip(model.get_weights(), keras_run.weights):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-6)        # measured 3.0e-7 after 1,100 steps


def test_mean_test_accuracy_over_five_seeds_equals_keras(data, reference):
    """Independent seeds, shuffling on: npnet 0.8597, Keras 0.8609 (seeds 0-4, measured)."""
    ours, theirs = [], []
    for seed in range(5):
        npnet.utils.set_random_seed(seed)
        model = tutorial.tutorial_model()
        model.fit(data.x_train, data.y_train, batch_size=tutorial.BATCH_SIZE, epochs=tutorial.N_EPOCHS,
                  verbose=0, validation_split=tutorial.VALIDATION_SPLIT)
        ours.append(model.evaluate(data.x_test, data.y_test, verbose=0)[1])
        theirs.append(reference.train(seed=seed, data=data).test_accuracy)
    assert abs(np.mean(ours) - np.mean(theirs)) <= 0.005
    assert min(theirs) >= 0.85 and np.mean(ours) >= 0.85


# -- 6. semantics -------------------------------------------------------------------------------------

def test_evaluate_returns_what_keras_evaluate_returns(keras, data):
    model = network((32, 16, 8), "relu")
    keras_model = interop.to_keras(model)
    ours = model.evaluate(data.x_test, data.y_test, batch_size=100, verbose=0)
    theirs = keras_model.evaluate(data.x_test, data.y_test, batch_size=100, verbose=0)
    assert len(ours) == len(theirs) == 2
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)     # measured 1.2e-7


def test_accuracy_string_is_binary_accuracy_in_npnet_and_categorical_in_keras(keras, data, reference):
    """The contract's "accuracy" rule, and the number Keras 3 prints for the tutorial's script instead."""
    model = network((32, 16, 8), "relu")
    model.fit(data.x_train, data.y_train, batch_size=250, epochs=5, verbose=0)
    as_written = reference.build_model(binary_accuracy=False)
    as_written.set_weights(model.get_weights())
    _, keras_accuracy = as_written.evaluate(data.x_test, data.y_test, verbose=0)
    _, npnet_accuracy = model.evaluate(data.x_test, data.y_test, verbose=0)
    p = model.predict(data.x_test, verbose=0)
    binary = float(np.mean(keras.metrics.binary_accuracy(data.y_test, p)))
    categorical = float(np.mean(np.argmax(p, 1) == np.argmax(data.y_test, 1)))
    assert npnet_accuracy == pytest.approx(binary, abs=1e-6)
    assert keras_accuracy == pytest.approx(categorical, abs=1e-6)
    assert abs(npnet_accuracy - keras_accuracy) > 0.05


def test_binary_crossentropy_clips_as_keras_does(keras):
    y = np.array([[1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 1, 0]], np.float32)
    p = np.array([[0.0, 1.0, 1e-9, 1 - 1e-9, 0.5, 1e-7], [0.3, 0.7, 1.0, 0.0, 0.999, 0.001]], np.float32)
    np.testing.assert_allclose(binary_crossentropy(y, p), keras.losses.binary_crossentropy(y, p), rtol=1e-6)
    z = np.array([[1e4, -1e4, 30, -30, 0, 2]] * 2, np.float32)
    np.testing.assert_allclose(binary_crossentropy(y, z, from_logits=True),
                               keras.losses.binary_crossentropy(y, z, from_logits=True), rtol=1e-6)


# -- the reference script and the parity report -----------------------------------------------------

@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")   # Keras 3 on the script's input_dim
def test_the_reference_tutorial_script_runs_as_published_on_keras(keras, capsys):
    import re
    import runpy
    keras.utils.set_random_seed(42)
    runpy.run_module("reference.tutorial", run_name="__main__")
    out = capsys.readouterr().out
    loss, accuracy = map(float, re.search(r"Test loss: (\S+) / Test accuracy: (\S+)", out).groups())
    assert 0.28 < loss < 0.32            # the note's six runs: 0.295-0.309
    assert accuracy < 0.7                 # categorical accuracy on Keras 3 (note: 0.51-0.63), not 0.856


def test_parity_report_prints_the_table_and_writes_the_png(keras, tmp_path, capsys):
    from reference import parity
    assert parity.main(["--epochs", "2", "--png", str(tmp_path / "parity.png")]) == 0
    out = capsys.readouterr().out
    assert "| 2 | " in out and "| test binary accuracy |" in out and "| final weights |" in out
    assert (tmp_path / "parity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
