"""fit(initial_epoch, validation_freq), evaluate(return_dict), test_on_batch, predict_on_batch: as Keras 3's.

Each is run on an npnet model and on its Keras twin (``interop.to_keras``, same
weights), with shuffle=False so both see the same batches. Values agree to the
tolerances of tests/parity/test_tutorial_model.py (float32 rounding of the same sums, in
other orders: measured there 5.7e-8 on losses, 1.8e-7 on accuracies); keys,
epochs and which epochs validate agree exactly.
"""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import callbacks, interop
from npnet.layers import Dense

LOSS_ATOL = 1e-6   # test_tutorial_model.py's bound on epoch losses, measured 5.7e-8 there


def data(n=60):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype(np.float32), (rng.random((n, 2)) < 0.5).astype(np.float32)


def twins(keras, metrics=("accuracy",), optimizer="adam"):
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu"), Dense(2, activation="sigmoid")])
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=list(metrics) or None)
    return model, interop.to_keras(model)


def assert_same_history(ours, theirs):
    assert ours.epoch == theirs.epoch
    assert ours.history.keys() == theirs.history.keys()
    for key in ours.history:
        assert len(ours.history[key]) == len(theirs.history[key]), key
        np.testing.assert_allclose(ours.history[key], theirs.history[key], rtol=0, atol=LOSS_ATOL, err_msg=key)


@pytest.mark.parametrize("initial_epoch, epochs", [(0, 3), (2, 5), (4, 4), (6, 3)])
@pytest.mark.parametrize("validation_freq", [1, 2, [1, 3, 4]], ids=["every", "every-2nd", "list"])
def test_fit_runs_the_epochs_and_validations_keras_runs(keras, initial_epoch, epochs, validation_freq):
    model, twin = twins(keras)
    x, y = data()
    arguments = dict(batch_size=16, epochs=epochs, initial_epoch=initial_epoch, validation_freq=validation_freq,
                     validation_split=0.25, shuffle=False, verbose=0)
    assert_same_history(model.fit(x, y, **arguments), twin.fit(x, y, **arguments))
    assert model.optimizer.iterations == int(twin.optimizer.iterations.numpy()) == 3 * max(0, epochs - initial_epoch)


def test_resuming_with_initial_epoch_continues_the_same_run(keras):
    """fit(epochs=2) then fit(initial_epoch=2, epochs=4) trains as fit(epochs=4): same batches, same state."""
    model, _ = twins(keras)
    straight, _ = twins(keras)
    x, y = data()
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    resumed = model.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, shuffle=False, verbose=0)
    whole = straight.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    assert resumed.epoch == [2, 3]
    assert resumed.history["loss"] == whole.history["loss"][2:]
    for a, b in zip(model.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("metrics", [("accuracy",), (), ("accuracy", "precision")], ids=["accuracy", "none", "two"])
def test_evaluate_and_test_on_batch_return_what_keras_returns(keras, metrics):
    model, twin = twins(keras, metrics)
    x, y = data()
    ours, theirs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True), \
        twin.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert ours.keys() == theirs.keys()
    np.testing.assert_allclose(list(ours.values()), [theirs[k] for k in ours], rtol=0, atol=LOSS_ATOL)
    as_list = model.evaluate(x, y, batch_size=16, verbose=0)
    assert as_list == (list(ours.values()) if metrics else ours["loss"])
    batch = model.test_on_batch(x[:16], y[:16], return_dict=True)
    keras_batch = twin.test_on_batch(x[:16], y[:16], return_dict=True)
    assert batch.keys() == keras_batch.keys()
    np.testing.assert_allclose(list(batch.values()), [keras_batch[k] for k in batch], rtol=0, atol=LOSS_ATOL)
    # one batch is evaluate() with the batch as its only batch: the same calls, bit for bit
    assert model.test_on_batch(x[:16], y[:16]) == model.evaluate(x[:16], y[:16], batch_size=16, verbose=0)
    assert model.optimizer.iterations == 0 and not model.optimizer.built   # nothing trained, no slots made


def test_train_on_batch_can_return_a_dict(keras):
    model, _ = twins(keras)
    x, y = data()
    logs = model.train_on_batch(x[:16], y[:16], return_dict=True)
    assert list(logs) == ["loss", "accuracy"] and model.optimizer.iterations == 1


def test_predict_on_batch_is_one_batch_of_predict_and_keras_s(keras):
    model, twin = twins(keras)
    x, _ = data()
    ours = model.predict_on_batch(x)
    np.testing.assert_array_equal(ours, model.predict(x, batch_size=len(x), verbose=0))   # the same calls
    np.testing.assert_allclose(ours, twin.predict_on_batch(x), rtol=5e-6, atol=0)   # test_tutorial_model's forward rtol


def test_learning_rate_callbacks_in_fit_give_keras_s_history(keras):
    """ReduceLROnPlateau and LearningRateScheduler inside fit: the learning rates, and History's
    "learning_rate" column (History comes after the given callbacks, as in Keras), equal Keras's."""
    model, twin = twins(keras, optimizer="sgd")
    x, y = data(200)
    arguments = dict(batch_size=20, epochs=12, validation_split=0.25, shuffle=False, verbose=0)
    ours = model.fit(x, y, callbacks=[callbacks.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=0.002),
                                      callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9)], **arguments)
    theirs = twin.fit(x, y, callbacks=[keras.callbacks.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=0.002),
                                       keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9)],
                      **arguments)
    assert ours.history["learning_rate"] == theirs.history["learning_rate"]
    assert len(set(ours.history["learning_rate"])) == 12
    assert_same_history(ours, theirs)


def test_csv_logger_and_lambda_callback_in_fit(keras, tmp_path):
    model, twin = twins(keras)
    x, y = data()
    epochs_seen = []
    for net, module, path in ((model, callbacks, tmp_path / "ours.csv"), (twin, keras.callbacks, tmp_path / "k.csv")):
        net.fit(x, y, batch_size=16, epochs=3, validation_split=0.25, shuffle=False, verbose=0,
                callbacks=[module.CSVLogger(str(path)),
                           module.LambdaCallback(on_epoch_end=lambda epoch, logs: epochs_seen.append(epoch))])
    ours, theirs = (np.genfromtxt(path, delimiter=",", names=True) for path in (tmp_path / "ours.csv",
                                                                                 tmp_path / "k.csv"))
    assert ours.dtype.names == theirs.dtype.names == ("epoch", "accuracy", "loss", "val_accuracy", "val_loss")
    for name in ours.dtype.names:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=0, atol=LOSS_ATOL, err_msg=name)
    assert epochs_seen == [0, 1, 2, 0, 1, 2]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"initial_epoch": -1}, ValueError, "initial_epoch must be >= 0"),
    ({"initial_epoch": 1.5}, TypeError, "initial_epoch must be an int"),
    ({"validation_freq": 0}, ValueError, "validation_freq must be >= 1"),
    ({"validation_freq": "2"}, TypeError, "validation_freq must be an int or a list of epochs"),
    ({"validation_freq": (1, 2)}, TypeError, "validation_freq must be an int or a list of epochs"),
    ({"validation_freq": [1, 0]}, ValueError, r"validation_freq\[i\] must be >= 1"),
])
def test_fit_refuses_bad_initial_epoch_and_validation_freq_before_training(keras, kwargs, error, message):
    model, _ = twins(keras)
    x, y = data()
    before = model.get_weights()
    with pytest.raises(error, match=message):
        model.fit(x, y, epochs=2, verbose=0, **kwargs)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


@pytest.mark.parametrize("call", ["evaluate", "test_on_batch", "train_on_batch"])
def test_return_dict_must_be_a_bool(keras, call):
    model, _ = twins(keras)
    x, y = data()
    with pytest.raises(TypeError, match="return_dict must be a bool"):
        getattr(model, call)(x, y, return_dict="yes")
