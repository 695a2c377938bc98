"""EarlyStopping, ModelCheckpoint, TerminateOnNaN, and how fit stops: by callback, divergence, interrupt."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

import npnet
from npnet.callbacks import Callback, EarlyStopping, ModelCheckpoint, TerminateOnNaN
from npnet.layers import Dense, Dropout
from npnet.models import TrainingDivergedError, load_model
from npnet.optimizers import SGD

# SGD at this rate on model() and data() gives a finite epoch 1 and a NaN loss at epoch 2, batch 2.
DIVERGING_SGD = 1e6


def model(optimizer="adam", seed=0):
    npnet.utils.set_random_seed(seed)
    m = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu"), Dense(3, activation="sigmoid")])
    m.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return m


def data(n=20):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)), (rng.random((n, 3)) < 0.5).astype(np.int64)


class StubModel:
    """Just what EarlyStopping touches: ``stop_training`` and weights (here: the epoch number)."""

    def __init__(self):
        self.stop_training, self.weights = False, [np.zeros(1)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


def drive(callback, values, monitor="val_loss"):
    """Run ``callback`` over epochs whose ``monitor`` takes ``values``, as fit would; returns the stub."""
    stub = StubModel()
    callback.set_model(stub)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        stub.weights = [np.array([float(epoch)])]      # "the weights at the end of this epoch"
        callback.on_epoch_end(epoch, {monitor: value})
        if stub.stop_training:
            break
    callback.on_train_end()
    stub.epochs_run = epoch + 1
    return stub


class Score(Callback):
    """Adds ``score = scores[epoch]`` to the epoch logs (for the callbacks after it); keeps each epoch's weights."""

    def __init__(self, scores):
        self.scores, self.weights = scores, []

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.scores[epoch]
        self.weights.append(self.model.get_weights())


class Events(Callback):
    """Records which hooks ran, and the weights at the start of each batch."""

    def __init__(self):
        self.events, self.batch_start_weights = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.batch_start_weights.append(self.model.get_weights())

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch))

    def on_train_end(self, logs=None):
        self.events.append(("train_end", logs))


def assert_same_weights(a, b):
    assert len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


# -- EarlyStopping ------------------------------------------------------------------------------

def test_patience_counts_consecutive_epochs_without_improvement():
    callback = EarlyStopping(patience=2)
    stub = drive(callback, [1.0, 0.9, 0.95, 0.8, 0.85, 0.86, 0.7])
    assert (stub.epochs_run, callback.stopped_epoch, callback.best, callback.best_epoch) == (6, 5, 0.8, 3)


def test_patience_0_stops_at_the_first_epoch_without_improvement():
    callback = EarlyStopping()
    assert drive(callback, [1.0, 0.9, 0.9, 0.5]).epochs_run == 3 and callback.stopped_epoch == 2


def test_min_delta_requires_an_improvement_larger_than_it():
    assert drive(EarlyStopping(min_delta=0.1, patience=1), [1.0, 0.95, 0.5]).epochs_run == 2
    assert drive(EarlyStopping(min_delta=0.01, patience=1), [1.0, 0.95, 0.5, 0.5]).epochs_run == 4


def test_mode_max_stops_when_the_quantity_stops_increasing():
    callback = EarlyStopping(monitor="val_auc", mode="max", patience=1)
    assert drive(callback, [0.5, 0.6, 0.55, 0.9], monitor="val_auc").epochs_run == 3 and callback.best == 0.6


def test_mode_auto_maximizes_a_compiled_accuracy_and_minimizes_loss():
    accuracy, loss = EarlyStopping(monitor="val_accuracy"), EarlyStopping(monitor="loss")
    for callback in (accuracy, loss):
        callback.set_model(model())
        callback.on_train_begin()
    assert accuracy.monitor_op is np.greater and loss.monitor_op is np.less


def test_mode_auto_refuses_an_unknown_quantity_before_any_training_step():
    m = model()
    before = m.get_weights()
    with pytest.raises(ValueError, match="monitor=val_f1.*mode='max' or mode='min'"):
        m.fit(*data(), epochs=2, verbose=0, callbacks=[EarlyStopping(monitor="val_f1")])
    assert_same_weights(m.get_weights(), before)


def test_a_missing_monitor_warns_like_keras_and_never_stops():
    with pytest.warns(UserWarning, match=r"Early stopping conditioned on metric `val_loss` which is not "
                                         r"available. Available metrics are: loss,accuracy"):
        history = model().fit(*data(), epochs=3, verbose=0, callbacks=[EarlyStopping()])
    assert len(history.history["loss"]) == 3


def test_baseline_lets_epochs_that_do_not_beat_it_count_toward_patience():
    # As Keras: an improvement above the baseline becomes `best` but does not reset `wait`.
    callback = EarlyStopping(baseline=0.5, patience=2)
    stub = drive(callback, [0.9, 0.8, 0.85, 0.6])
    assert stub.epochs_run == 3 and callback.stopped_epoch == 2 and callback.best == 0.8
    assert drive(EarlyStopping(patience=2), [0.9, 0.8, 0.85, 0.6]).epochs_run == 4


def test_start_from_epoch_ignores_the_warm_up_epochs():
    callback = EarlyStopping(start_from_epoch=3)
    stub = drive(callback, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert stub.epochs_run == 5 and callback.best == 4.0 and callback.best_epoch == 3


def test_early_stopping_can_be_reused_across_fits():
    callback = EarlyStopping(patience=1)
    drive(callback, [1.0, 2.0])
    second = drive(callback, [5.0, 4.0, 3.0])
    assert second.epochs_run == 3 and callback.stopped_epoch == 0 and callback.best == 3.0


def test_restore_best_weights_restores_the_best_epoch_bit_for_bit_when_stopping():
    score = Score([3.0, 1.0, 2.0, 2.5, 0.0, 0.0])
    stopper = EarlyStopping(monitor="score", mode="min", patience=2, restore_best_weights=True)
    m = model()
    history = m.fit(*data(), batch_size=5, epochs=6, verbose=0, callbacks=[score, stopper])
    assert len(history.history["loss"]) == 4 and stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    assert_same_weights(m.get_weights(), score.weights[1])
    assert not np.array_equal(score.weights[1][0], score.weights[3][0])


def test_restore_best_weights_also_restores_when_training_ends_without_stopping():
    # Keras 3.15 restores in on_train_end whenever best weights were recorded.
    score = Score([3.0, 1.0, 2.0])
    m = model()
    m.fit(*data(), batch_size=5, epochs=3, verbose=0,
          callbacks=[score, EarlyStopping(monitor="score", patience=5, mode="min", restore_best_weights=True)])
    assert_same_weights(m.get_weights(), score.weights[1])


def test_early_stopping_verbose_prints_keras_messages(capsys):
    drive(EarlyStopping(patience=1, verbose=1, restore_best_weights=True), [1.0, 0.5, 0.7, 0.8])
    assert capsys.readouterr().out == ("Epoch 3: early stopping\n"
                                       "Restoring model weights from the end of the best epoch: 2.\n")


@pytest.mark.parametrize("kwargs, error, match", [
    ({"monitor": 3}, TypeError, "monitor must be a str"),
    ({"min_delta": -0.1}, ValueError, "min_delta must be in"),
    ({"patience": -1}, ValueError, "patience must be >= 0"),
    ({"patience": 1.5}, TypeError, "patience must be an int"),
    ({"mode": "best"}, ValueError, "mode must be 'auto', 'min' or 'max'"),
    ({"baseline": float("nan")}, ValueError, "baseline must be in"),
    ({"restore_best_weights": 1}, TypeError, "restore_best_weights must be a bool"),
    ({"start_from_epoch": -2}, ValueError, "start_from_epoch must be >= 0"),
])
def test_early_stopping_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        EarlyStopping(**kwargs)


# -- parity with Keras's own EarlyStopping ------------------------------------------------------

class KerasStub:
    """The same stub for Keras's callback (Keras reads ``model.metrics`` only in mode 'auto')."""

    def __init__(self):
        self.stop_training, self.weights, self.metrics = False, [np.zeros(1)], []

    get_weights, set_weights = StubModel.get_weights, StubModel.set_weights


def drive_keras(callback, values, monitor):
    stub = KerasStub()
    callback.set_model(stub)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        stub.weights = [np.array([float(epoch)])]
        callback.on_epoch_end(epoch, {monitor: value})
        if stub.stop_training:
            break
    callback.on_train_end()
    return epoch + 1, callback.stopped_epoch, callback.best, callback.best_epoch, stub.weights[0][0]


VAL_LOSSES = [0.9, 0.7, 0.71, 0.69, 0.6901, 0.695, 0.5, 0.52, 0.53, 0.54, 0.51, 0.55]


@pytest.mark.parametrize("kwargs", [
    {}, {"patience": 2}, {"patience": 1, "min_delta": 0.005}, {"patience": 2, "baseline": 0.65},
    {"patience": 1, "start_from_epoch": 4}, {"patience": 3, "min_delta": 0.02, "restore_best_weights": True},
    {"patience": 0, "baseline": 0.95, "restore_best_weights": True},
])
def test_early_stopping_matches_keras_on_the_same_val_losses(keras, kwargs):
    ours = EarlyStopping(**kwargs)
    stub = drive(ours, VAL_LOSSES)
    expected = drive_keras(keras.callbacks.EarlyStopping(**kwargs), VAL_LOSSES, "val_loss")
    assert (stub.epochs_run, ours.stopped_epoch, ours.best, ours.best_epoch, stub.weights[0][0]) == expected


@pytest.mark.parametrize("values", [[0.5, 0.6, 0.6, 0.59, 0.7, 0.65, 0.64, 0.64],
                                    [0.3, 0.3000000001, 0.3000000002, 0.31, 0.2]])
def test_early_stopping_matches_keras_in_mode_max_including_float32_comparison(keras, values):
    # The second series improves only below float32 resolution: Keras compares in float32, so does npnet.
    kwargs = {"monitor": "val_accuracy", "mode": "max", "patience": 1, "restore_best_weights": True}
    ours = EarlyStopping(**kwargs)
    stub = drive(ours, values, monitor="val_accuracy")
    expected = drive_keras(keras.callbacks.EarlyStopping(**kwargs), values, "val_accuracy")
    assert (stub.epochs_run, ours.stopped_epoch, ours.best, ours.best_epoch, stub.weights[0][0]) == expected


# -- ModelCheckpoint ----------------------------------------------------------------------------

def test_checkpoint_writes_one_file_per_epoch_named_from_epoch_and_logs(tmp_path):
    m = model()
    checkpoint = ModelCheckpoint(tmp_path / "w-{epoch:02d}-{loss:.3f}.npz", save_weights_only=True)
    history = m.fit(*data(), batch_size=5, epochs=3, verbose=0, callbacks=[checkpoint])
    names = sorted(os.listdir(tmp_path))
    assert names == [f"w-{e + 1:02d}-{loss:.3f}.npz" for e, loss in enumerate(history.history["loss"])]
    restored = model(seed=1)
    restored.load_weights(tmp_path / names[-1])
    assert_same_weights(restored.get_weights(), m.get_weights())


def test_save_best_only_writes_only_when_the_monitor_improves(tmp_path):
    score = Score([3.0, 1.0, 2.0, 0.5, 0.7])
    checkpoint = ModelCheckpoint(str(tmp_path / "best-{epoch}.npz"), monitor="score", mode="min",
                                 save_best_only=True, save_weights_only=True)
    m = model()
    m.fit(*data(), batch_size=5, epochs=5, verbose=0, callbacks=[score, checkpoint])
    assert sorted(os.listdir(tmp_path)) == ["best-1.npz", "best-2.npz", "best-4.npz"]
    m.load_weights(tmp_path / "best-2.npz")
    assert_same_weights(m.get_weights(), score.weights[1])
    assert checkpoint.best == 0.5


def test_save_best_only_to_one_path_keeps_the_best_model(tmp_path):
    score = Score([3.0, 1.0, 2.0])
    path = tmp_path / "best.npz"
    m = model()
    m.fit(*data(), batch_size=5, epochs=3, verbose=0,
          callbacks=[score, ModelCheckpoint(path, monitor="score", mode="min", save_best_only=True)])
    best = load_model(path)
    assert best.loss is not None and best.metrics_names == ["loss", "accuracy"]
    assert_same_weights(best.get_weights(), score.weights[1])


def test_initial_value_threshold_is_the_first_best(tmp_path):
    score = Score([3.0, 1.0])
    m = model()
    checkpoint = ModelCheckpoint(tmp_path / "best.npz", monitor="score", mode="min", save_best_only=True,
                                 initial_value_threshold=0.5)
    m.fit(*data(), epochs=2, verbose=0, callbacks=[score, checkpoint])
    assert os.listdir(tmp_path) == [] and checkpoint.best == 0.5


def test_checkpoint_with_integer_save_freq_saves_every_n_batches_across_epochs(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "sub" / "e{epoch}-b{batch}.npz", save_freq=3, save_weights_only=True)
    model().fit(*data(), batch_size=5, epochs=2, verbose=0, callbacks=[checkpoint])    # 4 batches an epoch
    assert sorted(os.listdir(tmp_path / "sub")) == ["e1-b3.npz", "e2-b2.npz"]


def test_checkpoint_save_best_only_warns_and_saves_without_the_monitor(tmp_path):
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        model().fit(*data(), epochs=1, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "m.npz",
                                                                              save_best_only=True)])
    assert os.listdir(tmp_path) == ["m.npz"]


def test_checkpoint_verbose_prints_keras_messages(tmp_path, capsys):
    score = Score([2.0, 3.0])
    path = tmp_path / "m.npz"
    model().fit(*data(), epochs=2, verbose=0, callbacks=[
        score, ModelCheckpoint(path, monitor="score", mode="min", save_best_only=True, verbose=1)])
    assert capsys.readouterr().out == (f"\nEpoch 1: score improved from None to 2.00000, saving model to {path}\n"
                                       f"\nEpoch 1: finished saving model to {path}\n"
                                       "\nEpoch 2: score did not improve from 2.00000\n")


def test_checkpoint_filepath_with_an_unknown_field_is_a_key_error_naming_it(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "{val_f1:.2f}.npz")
    with pytest.raises(KeyError, match=r"Failed to format this callback filepath.*val_f1"):
        model().fit(*data(), epochs=1, verbose=0, callbacks=[checkpoint])


def test_checkpoint_refuses_an_existing_directory(tmp_path):
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(IsADirectoryError, match="non-directory filepath"):
        model().fit(*data(), epochs=1, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "d.npz")])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"filepath": 3}, TypeError, "filepath must be a str or os.PathLike"),
    ({"filepath": "model.keras"}, ValueError, r"filepath must end with '\.npz'"),
    ({"filepath": b"w.npz"}, TypeError, "filepath must be a str or os.PathLike"),
    ({"filepath": "w.npz", "save_freq": "batch"}, TypeError, "save_freq"),
    ({"filepath": "w.npz", "save_freq": 0}, ValueError, "save_freq"),
    ({"filepath": "w.npz", "save_best_only": "yes"}, TypeError, "save_best_only must be a bool"),
    ({"filepath": "w.npz", "mode": "maximum"}, ValueError, "mode must be"),
    ({"filepath": "w.npz", "initial_value_threshold": "0.5"}, TypeError, "initial_value_threshold"),
])
def test_checkpoint_refuses_bad_arguments_when_constructed(kwargs, error, match):
    with pytest.raises(error, match=match):
        ModelCheckpoint(**kwargs)


# -- stopping from a batch, TerminateOnNaN, divergence ------------------------------------------

def test_a_batch_callback_stopping_ends_the_epoch_after_that_batch_with_its_partial_logs():
    class StopAtBatch1(Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.logs = dict(logs)
            self.model.stop_training = batch == 1

    stopper = StopAtBatch1()
    history = model().fit(*data(), batch_size=5, epochs=3, verbose=0, callbacks=[stopper])
    assert history.history["loss"] == [stopper.logs["loss"]]        # the mean over the 2 batches run
    assert history.history["accuracy"] == [stopper.logs["accuracy"]]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_terminate_on_nan_stops_cleanly_at_the_first_non_finite_batch(capsys):
    events = Events()
    m = model(SGD(learning_rate=DIVERGING_SGD))
    history = m.fit(*data(), batch_size=5, epochs=4, verbose=0, callbacks=[TerminateOnNaN(), events])
    assert capsys.readouterr().out == "Batch 1: Invalid loss, terminating training\n"
    assert len(history.history["loss"]) == 2 and np.isnan(history.history["loss"][1])
    assert events.events[-2:] == [("epoch_end", 1), ("train_end", {k: v[1] for k, v in history.history.items()})]
    assert len(events.batch_start_weights) == 6     # 4 batches, then 2 in epoch 2


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_terminate_on_nan_with_raise_error_raises_and_skips_on_train_end():
    events = Events()
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 1"):
        model(SGD(learning_rate=DIVERGING_SGD)).fit(*data(), batch_size=5, epochs=4, verbose=0,
                                                    callbacks=[TerminateOnNaN(raise_error=True), events])
    assert events.events == [("epoch_end", 0)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_raises_naming_epoch_batch_and_last_finite_loss_and_keeps_finite_weights():
    events = Events()
    m = model(SGD(learning_rate=DIVERGING_SGD))
    with pytest.raises(TrainingDivergedError) as raised:
        m.fit(*data(), batch_size=5, epochs=4, verbose=0, callbacks=[events])
    error = raised.value
    assert (error.epoch, error.batch, np.isnan(error.loss)) == (1, 1, True)
    assert re.match(r"training diverged: the loss of epoch 2/4, batch 2/4 is nan; the last finite batch loss "
                    r"was \S+ \(epoch 2/4, batch 1/4\)", str(error)), str(error)
    assert f"{error.last_finite_loss:.6g}" in str(error) and np.isfinite(error.last_finite_loss)
    # The weights batch 1 of epoch 2 was computed on: the last ones with a finite loss.
    assert_same_weights(m.get_weights(), events.batch_start_weights[4])
    assert all(np.isfinite(w).all() for w in m.get_weights())
    assert m.history.epoch == [0] and len(m.history.history["loss"]) == 1
    assert events.events == [("epoch_end", 0), ("train_end", {k: v[0] for k, v in m.history.history.items()})]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("learning_rate, epoch, batch", [(DIVERGING_SGD, 1, 1), (1e5, 1, 3), (3e3, 2, 2)])
def test_divergence_without_batch_hooks_restores_the_weights_that_batch_hooks_see(learning_rate, epoch, batch):
    # Without a batch hook fit learns the batch losses at the epoch's end, and rebuilds the
    # weights the last finite batch was computed on by replaying the epoch's first steps
    # (batch - 1 of them): the same steps as with a hook, so the same bits.
    events, with_hooks = Events(), model(SGD(learning_rate))
    with pytest.raises(TrainingDivergedError) as expected:
        with_hooks.fit(*data(), batch_size=5, epochs=6, verbose=0, callbacks=[events])
    without = model(SGD(learning_rate))   # seeds the shuffles again: the same batches
    with pytest.raises(TrainingDivergedError) as raised:
        without.fit(*data(), batch_size=5, epochs=6, verbose=0)
    assert (raised.value.epoch, raised.value.batch) == (expected.value.epoch, expected.value.batch) == (epoch, batch)
    assert str(raised.value) == str(expected.value)
    assert_same_weights(without.get_weights(), events.batch_start_weights[4 * epoch + batch - 1])
    assert_same_weights(without.get_weights(), with_hooks.get_weights())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("seed, batch", [(None, 2), (7, 3)])
def test_the_divergence_replay_draws_the_same_dropout_masks(seed, batch):
    # The replay restores npnet's generator (seed=None) and a seeded Dropout's own with the weights.
    def dropout_model():
        npnet.utils.set_random_seed(0)
        m = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu"), Dropout(0.3, seed=seed),
                              Dense(3, activation="sigmoid")])
        m.compile(optimizer=SGD(1e5), loss="binary_crossentropy")
        return m
    with_hooks = dropout_model()
    with pytest.raises(TrainingDivergedError) as expected:
        with_hooks.fit(*data(), batch_size=5, epochs=6, verbose=0, callbacks=[Events()])
    without = dropout_model()
    with pytest.raises(TrainingDivergedError) as raised:
        without.fit(*data(), batch_size=5, epochs=6, verbose=0)
    assert (raised.value.epoch, raised.value.batch) == (expected.value.epoch, expected.value.batch) == (1, batch)
    assert str(raised.value) == str(expected.value)
    assert_same_weights(without.get_weights(), with_hooks.get_weights())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_at_the_first_batch_leaves_the_starting_weights():
    m = model()
    start = [w * np.float32(1e30) for w in m.get_weights()]     # the logits overflow to inf - inf
    m.set_weights(start)
    with pytest.raises(TrainingDivergedError, match="batch 1/4 is (nan|inf); no batch before it had a finite"):
        m.fit(*data(), batch_size=5, epochs=1, verbose=0)
    assert_same_weights(m.get_weights(), start)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_after_divergence_the_optimizer_starts_afresh_so_a_lower_learning_rate_trains():
    m = model(SGD(learning_rate=DIVERGING_SGD, momentum=0.9))
    start = m.get_weights()
    with pytest.raises(TrainingDivergedError, match="the optimizer starts afresh"):
        m.fit(*data(), batch_size=5, epochs=4, verbose=0)
    assert m.optimizer.iterations == 0                      # its velocity had taken in the NaN step
    m.set_weights(start)
    m.optimizer.learning_rate = 1e-3
    history = m.fit(*data(), batch_size=5, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_an_overflowing_last_update_is_caught_although_its_loss_was_finite():
    m = model(SGD(learning_rate=1e38))
    start = m.get_weights()
    with pytest.raises(TrainingDivergedError, match=r"the update of epoch 1/1, batch 1/1 \(loss \S+\) made "
                                                    r"the weights non-finite"):
        m.fit(data()[0] * 1e3, data()[1], batch_size=20, epochs=1, verbose=0)
    assert_same_weights(m.get_weights(), start)            # the weights its (finite) loss was computed on


# -- KeyboardInterrupt --------------------------------------------------------------------------

class InterruptAt(Callback):
    """Raises KeyboardInterrupt (or only stops training) after step ``batch`` of epoch ``epoch``."""

    def __init__(self, epoch, batch, interrupt=True):
        self.at, self.interrupt, self.ended = (epoch, batch), interrupt, False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            if self.interrupt:
                raise KeyboardInterrupt
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.ended = True


def test_keyboard_interrupt_keeps_the_last_completed_step_runs_on_train_end_and_propagates():
    interrupted, callback = model(), InterruptAt(1, 2)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(*data(), batch_size=5, epochs=3, verbose=0, callbacks=[callback])
    reference = model()                          # reseeds: the same initial weights and shuffles
    reference.fit(*data(), batch_size=5, epochs=3, verbose=0, callbacks=[InterruptAt(1, 2, interrupt=False)])
    assert_same_weights(interrupted.get_weights(), reference.get_weights())
    assert interrupted.optimizer.iterations == reference.optimizer.iterations == 4 + 3
    assert callback.ended and interrupted.history.epoch == [0]
    assert interrupted.history.history["loss"] == reference.history.history["loss"][:1]


def test_keyboard_interrupt_still_lets_early_stopping_restore_the_best_weights():
    score = Score([1.0, 2.0, 3.0])
    m = model()
    with pytest.raises(KeyboardInterrupt):
        m.fit(*data(), batch_size=5, epochs=3, verbose=0, callbacks=[
            score, EarlyStopping(monitor="score", mode="min", patience=5, restore_best_weights=True),
            InterruptAt(2, 1)])
    assert_same_weights(m.get_weights(), score.weights[0])


def test_an_interrupt_inside_a_step_before_its_update_leaves_the_previous_step():
    interrupted = model()
    count_step, calls = interrupted.optimizer._count_step, []

    def count_or_interrupt(*arguments):   # Adam's first work in a compiled step's update: count the step
        calls.append(len(calls))
        if len(calls) == 7:                 # the 7th step: epoch 2, batch 3 (of 4)
            raise KeyboardInterrupt
        count_step(*arguments)

    interrupted.optimizer._count_step = count_or_interrupt
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(*data(), batch_size=5, epochs=3, verbose=0)
    reference = model()
    reference.fit(*data(), batch_size=5, epochs=3, verbose=0, callbacks=[InterruptAt(1, 1, interrupt=False)])
    assert_same_weights(interrupted.get_weights(), reference.get_weights())
    assert interrupted.optimizer.iterations == reference.optimizer.iterations == 6
