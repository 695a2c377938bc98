"""ReduceLROnPlateau, LearningRateScheduler, CSVLogger and LambdaCallback against Keras 3's own, hook by hook.

Each test drives npnet's callback and Keras's with the same calls and the same
logs, on a stand-in model that has only an optimizer (npnet's SGD / Keras's SGD),
and compares what each did: the learning rate after every epoch (exactly: both
hold it as float32), the logs, the file written.
"""
from __future__ import annotations

import types

import numpy as np
import pytest

from npnet import callbacks, optimizers

VAL_LOSSES = [1.0, 0.9, 0.9, 0.95, 0.91, 0.8999, 0.89995, 0.7, 0.7, 0.7, 0.7, 0.7, 0.71, 0.72, 0.5, 0.5, 0.5,
              0.5, 0.5, 0.5, 0.5, 0.5]


def _pair(keras, make_ours, make_theirs, learning_rate=0.1):
    """(npnet callback on a stand-in npnet model, Keras callback on a stand-in Keras model)."""
    ours, theirs = make_ours(), make_theirs()
    ours.set_model(types.SimpleNamespace(optimizer=optimizers.SGD(learning_rate=learning_rate), metrics=[],
                                         _metrics=[]))
    theirs.set_model(types.SimpleNamespace(optimizer=keras.optimizers.SGD(learning_rate=learning_rate)))
    return ours, theirs


def _keras_lr(model):
    return float(model.optimizer.learning_rate.numpy())


@pytest.mark.parametrize("arguments", [
    {"factor": 0.5, "patience": 2},
    {"factor": 0.5, "patience": 1, "cooldown": 2},
    {"factor": 0.1, "patience": 1, "min_lr": 0.0025},
    {"factor": 0.3, "patience": 2, "min_delta": 0.0},
    {"factor": 0.5, "patience": 1, "min_delta": 0.05, "cooldown": 1},
    {"factor": 0.5, "patience": 2, "monitor": "val_accuracy", "mode": "max"},
], ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()))
def test_reduce_lr_on_plateau_reduces_when_keras_s_does(keras, arguments):
    ours, theirs = _pair(keras, lambda: callbacks.ReduceLROnPlateau(**arguments),
                         lambda: keras.callbacks.ReduceLROnPlateau(**arguments))
    ours.on_train_begin(), theirs.on_train_begin()
    rates = []
    for epoch, loss in enumerate(VAL_LOSSES):
        logs = {"loss": loss, "val_loss": loss, "val_accuracy": 1 - loss}
        our_logs, their_logs = dict(logs), dict(logs)
        ours.on_epoch_end(epoch, our_logs)
        theirs.on_epoch_end(epoch, their_logs)
        assert our_logs == their_logs, epoch                      # "learning_rate" added, as the float32 reads
        assert ours.model.optimizer.learning_rate == _keras_lr(theirs.model), epoch
        assert (ours.wait, ours.cooldown_counter) == (theirs.wait, theirs.cooldown_counter), epoch
        rates.append(ours.model.optimizer.learning_rate)
    assert len(set(rates)) > 2                                    # it did reduce, more than once


@pytest.mark.parametrize("schedule", [lambda epoch, lr: lr * 0.9, lambda epoch: 0.1 / (epoch + 1),
                                      lambda epoch, lr: np.float32(lr - 0.01),
                                      lambda epoch, lr=None: 0.05 * epoch + 0.01],
                         ids=["times-0.9", "epoch-only", "float32", "default-lr"])
def test_learning_rate_scheduler_sets_the_rates_keras_s_sets(keras, schedule):
    ours, theirs = _pair(keras, lambda: callbacks.LearningRateScheduler(schedule),
                         lambda: keras.callbacks.LearningRateScheduler(schedule))
    for epoch in range(8):
        ours.on_epoch_begin(epoch), theirs.on_epoch_begin(epoch)
        assert ours.model.optimizer.learning_rate == _keras_lr(theirs.model), epoch
        our_logs, their_logs = {"loss": 0.5}, {"loss": 0.5}
        ours.on_epoch_end(epoch, our_logs), theirs.on_epoch_end(epoch, their_logs)
        assert our_logs == their_logs


@pytest.mark.parametrize("result", [1, "0.1", None])
def test_learning_rate_scheduler_refuses_what_keras_refuses(keras, result):
    ours, theirs = _pair(keras, lambda: callbacks.LearningRateScheduler(lambda epoch, lr: result),
                         lambda: keras.callbacks.LearningRateScheduler(lambda epoch, lr: result))
    with pytest.raises(ValueError, match="should be a float"):
        theirs.on_epoch_begin(0)
    with pytest.raises(ValueError, match="should be a float"):
        ours.on_epoch_begin(0)
    assert ours.model.optimizer.learning_rate == _keras_lr(theirs.model)


EPOCH_LOGS = [[{"loss": 0.7, "accuracy": 0.5}, {"loss": 0.6, "accuracy": 0.625}],
              [{"loss": 0.7, "val_loss": 0.8, "accuracy": 0.5, "val_accuracy": 0.25},
               {"loss": 0.6, "val_loss": 0.7, "accuracy": 0.625, "val_accuracy": 0.5}],
              [{"loss": 0.7, "note": "first", "per_label": [0.5, 0.25]}, {"loss": 0.6, "per_label": [1.0, 0.75]}]]


@pytest.mark.parametrize("separator", [",", ";"])
@pytest.mark.parametrize("runs", EPOCH_LOGS, ids=["train-only", "with-validation", "strings-and-lists"])
def test_csv_logger_writes_the_file_keras_s_writes(keras, tmp_path, runs, separator):
    paths = {"ours": tmp_path / "ours.csv", "theirs": tmp_path / "theirs.csv"}
    for append in (False, True):   # a second fit with append=True continues the file without a header
        pair = (callbacks.CSVLogger(paths["ours"], separator=separator, append=append),
                keras.callbacks.CSVLogger(str(paths["theirs"]), separator=separator, append=append))
        for callback in pair:
            callback.on_train_begin()
            for epoch, logs in enumerate(runs):
                callback.on_epoch_end(epoch, dict(logs))
            callback.on_train_end()
        assert paths["ours"].read_bytes() == paths["theirs"].read_bytes()
    assert paths["ours"].read_text().count("epoch") == 1


def test_lambda_callback_sets_the_hooks_and_attributes_keras_s_sets(keras):
    calls = []
    hooks = {name: (lambda name: lambda *args: calls.append((name, args)))(name)
             for name in ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end",
                          "on_train_batch_begin", "on_train_batch_end")}
    ours = callbacks.LambdaCallback(**hooks, on_test_end=hooks["on_train_end"], note="kept")
    theirs = keras.callbacks.LambdaCallback(**hooks, on_test_end=hooks["on_train_end"], note="kept")
    for callback in (ours, theirs):
        callback.on_train_begin({"a": 1})
        callback.on_epoch_begin(0)
        callback.on_train_batch_begin(0)
        callback.on_train_batch_end(0, {"loss": 1.0})
        callback.on_epoch_end(0, {"loss": 1.0})
        callback.on_test_end({"loss": 2.0})
        callback.on_train_end()
        callback.on_predict_begin()   # not given: the base class's no-op
    assert calls[:7] == calls[7:] and len(calls) == 14
    assert ours.note == theirs.note == "kept"
    with pytest.raises(TypeError, match="on_epoch_end must be callable"):
        callbacks.LambdaCallback(on_epoch_end=3)


@pytest.mark.parametrize("make, error, message", [
    (lambda: callbacks.ReduceLROnPlateau(factor=1.0), ValueError, r"factor must be in \[0.0, 1.0\)"),
    (lambda: callbacks.ReduceLROnPlateau(patience=-1), ValueError, "patience must be >= 0"),
    (lambda: callbacks.ReduceLROnPlateau(cooldown=1.5), TypeError, "cooldown must be an int"),
    (lambda: callbacks.ReduceLROnPlateau(min_lr=-1.0), ValueError, "min_lr must be in"),
    (lambda: callbacks.ReduceLROnPlateau(mode="best"), ValueError, "mode must be 'auto', 'min' or 'max'"),
    (lambda: callbacks.LearningRateScheduler(0.1), TypeError, "schedule must be callable"),
    (lambda: callbacks.CSVLogger(3), TypeError, "filename must be a str or os.PathLike"),
    (lambda: callbacks.CSVLogger("log.csv", separator=";;"), ValueError, "separator must be one character"),
    (lambda: callbacks.CSVLogger("log.csv", append="yes"), TypeError, "append must be a bool"),
])
def test_the_new_callbacks_refuse_bad_arguments_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_reduce_lr_on_plateau_refuses_to_reduce_a_schedule(keras):
    ours = callbacks.ReduceLROnPlateau(patience=0)
    ours.set_model(types.SimpleNamespace(
        optimizer=optimizers.SGD(learning_rate=optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)), _metrics=[]))
    ours.on_train_begin()
    ours.on_epoch_end(0, {"val_loss": 1.0})
    with pytest.raises(TypeError, match="cannot be set to a number"):
        ours.on_epoch_end(1, {"val_loss": 1.0})
