"""npnet.training.trainer: epoch losses, History, training progress, callbacks stopping fit."""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet.callbacks import Callback
from npnet.layers import Dense
from npnet.optimizers import Adam

from small_models import data, small_model


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


def activity_regularized_model():
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu", activity_regularizer="l2"),
                              Dense(3, activation="sigmoid", activity_regularizer="l1")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


@pytest.mark.parametrize("n, validation_rows", [(10, 0), (8, 1)])
def test_activity_penalties_follow_each_batch_of_the_compiled_steps(n, validation_rows):
    # The penalty and its gradient must read the activations of the batch being stepped: not those of the
    # last batch bound (10 rows in batches of 4 end with 2), nor those of the validation pass (bound after
    # the steps; one row broadcasts silently).
    x, y = data(n=n)
    model, twin = activity_regularized_model(), activity_regularized_model()
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0,
                        validation_data=(x[:validation_rows], y[:validation_rows]) if validation_rows else None)
    starts = range(0, n, 4)
    batch_losses = [[twin.fit(x[a:a + 4], y[a:a + 4], batch_size=4, epochs=1, shuffle=False,
                              verbose=0).history["loss"][0] for a in starts] for _ in range(2)]
    for fitted, losses in zip(history.history["loss"], batch_losses):
        # as in test_epoch_loss_is_the_batch_size_weighted_mean_of_pre_update_batch_losses
        expected = sum(len(x[a:a + 4]) * loss for a, loss in zip(starts, losses)) / n
        assert fitted == pytest.approx(expected, rel=(3 * n + 12 + 2) * 2.0**-24)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "binary_crossentropy"])
def test_evaluating_other_batch_sizes_between_epochs_leaves_training_as_it_was(loss):
    # The loss keeps work arrays for a few batch sizes; evaluating on more sizes between epochs evicts
    # those of fit's batches, and the compiled steps must not go on reading the evicted ones.
    x, y = data(n=10)
    y = np.eye(3)[y.argmax(axis=1)] if loss == "categorical_crossentropy" else y

    class EvaluateOthers(Callback):
        def on_epoch_end(self, epoch, logs=None):
            for n in range(1, 7):
                self.model.evaluate(x[:n], y[:n], batch_size=n, verbose=0)

    def fitted(callbacks):
        npnet.utils.set_random_seed(0)
        model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu"),
                                  Dense(3, activation="softmax" if loss.startswith("categorical") else "sigmoid")])
        smoothed = (npnet.losses.CategoricalCrossentropy if loss.startswith("categorical")
                    else npnet.losses.BinaryCrossentropy)(label_smoothing=0.1)
        model.compile(optimizer="adam", loss=smoothed)
        return model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=callbacks).history["loss"], model

    (plain, model), (evaluated, twin) = fitted([]), fitted([EvaluateOthers()])
    assert plain == evaluated
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_fused_loss_subclass_s_own_forward_gives_fit_s_epoch_loss(monkeypatch):
    # fit's epoch end takes the loss's ``value`` (without the sigmoid, whose p the steps kept) only when
    # no subclass rewrote ``forward``: a learner's own forward must still be the loss fit reports.
    from npnet.losses.binary import SigmoidBinaryCrossentropy

    class Doubled(SigmoidBinaryCrossentropy):
        def forward(self, y_true, y_pred, sample_weight=None):
            return 2 * super().forward(y_true, y_pred, sample_weight)

    assert SigmoidBinaryCrossentropy().computes_value_alone and not Doubled().computes_value_alone
    x, y = data(n=40)
    plain, doubled = small_model(), small_model()
    doubled.set_weights(plain.get_weights())
    monkeypatch.setattr(doubled, "training_loss", lambda: (Doubled(), True))   # the fused loss fit trains with
    ours = plain.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history["loss"]
    theirs = doubled.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history["loss"]
    assert theirs == [2 * value for value in ours]


def test_a_fused_loss_subclass_s_own_value_without_losses_gives_fit_s_epoch_loss(monkeypatch):
    # fit's epoch end hands ``losses`` (the probabilities, taken by the metrics by then) only to a value
    # that takes it: a learner's own value(y_true, y_pred, sample_weight) must still be called, and its
    # number reported; npnet's own value writes each entry's loss over the probabilities.
    from npnet.losses.binary import SigmoidBinaryCrossentropy

    class Halved(SigmoidBinaryCrossentropy):
        def value(self, y_true, y_pred, sample_weight=None):
            return super().value(y_true, y_pred, sample_weight) / 2

    x, y = data(n=40)
    plain, halved = small_model(), small_model()
    halved.set_weights(plain.get_weights())
    monkeypatch.setattr(halved, "training_loss", lambda: (Halved(), True))
    ours = plain.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.25).history
    theirs = halved.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.25).history
    assert theirs["loss"] == [value / 2 for value in ours["loss"]]
    assert theirs["val_loss"] == [value / 2 for value in ours["val_loss"]]
    assert theirs["accuracy"] == ours["accuracy"] and theirs["val_accuracy"] == ours["val_accuracy"]   # taken first


def test_a_fused_loss_subclass_s_own_gradient_trains_and_fit_reports_its_probabilities():
    # A subclass's own gradient runs as one call (SigmoidBinaryCrossentropy.gradient_calls) and need not
    # leave p in ``probabilities``: fit's epoch end must still get p = sigmoid(z) for its metrics.
    from npnet.losses.binary import SigmoidBinaryCrossentropy

    class OwnGradient(SigmoidBinaryCrossentropy):
        def gradient(self, y_true, y_pred, sample_weight=None):   # (p - y) / (N K), from scratch
            p = np.reciprocal(np.exp(-y_pred) + 1)
            return (p - y_true) * np.array(1.0 / y_true.size, p.dtype)   # the same operations as the loss's

    x, y = data(n=40)
    plain, own = small_model(), small_model()
    own.set_weights(plain.get_weights())
    own.training_loss = lambda: (OwnGradient(), True)   # the fused loss fit trains with
    ours = plain.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    theirs = own.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    assert theirs == ours   # the same arithmetic on the same numbers: the same bits


def test_step_sizes_prepared_per_epoch_equal_a_learning_rate_set_before_every_batch():
    # Without batch hooks fit computes alpha_t of an epoch's steps before it (Adam.prepare_steps), here
    # from a schedule that halves the rate every 3 steps, within epochs of 4; with a batch hook that
    # sets the same rates before each batch, fit prepares each step after the hook. Same steps,
    # same arrays: the same weights to the bit.
    schedule = npnet.optimizers.schedules.ExponentialDecay(0.01, decay_steps=3, decay_rate=0.5, staircase=True)

    class SetRate(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.model.optimizer.learning_rate = 0.01 * 0.5 ** (self.model.optimizer.iterations // 3)

    prepared = small_model(optimizer=Adam(schedule))   # (reseeds: the same weights and shuffles)
    prepared.fit(*data(n=20), batch_size=5, epochs=3, verbose=0)
    per_batch = small_model(optimizer=Adam(0.01))
    per_batch.fit(*data(n=20), batch_size=5, epochs=3, verbose=0, callbacks=[SetRate()])
    assert prepared.optimizer.iterations == per_batch.optimizer.iterations == 12
    assert per_batch.optimizer.learning_rate == np.float32(0.01 * 0.5 ** 3)   # the rates did change
    for a, b in zip(prepared.get_weights(), per_batch.get_weights()):
        np.testing.assert_array_equal(a, b)
    constant = small_model(optimizer=Adam(0.01))
    constant.fit(*data(n=20), batch_size=5, epochs=3, verbose=0)
    assert not np.array_equal(constant.get_weights()[0], prepared.get_weights()[0])


def test_fit_flushes_subnormal_optimizer_slots_to_zero_after_each_epoch():
    # A dead ReLU unit's weights get a gradient of exactly 0, so their Adam moments only decay, by beta_1
    # and beta_2 a step, through the subnormal range (below 1.2e-38) on their way to 0. TensorFlow
    # flushes such values to zero (Keras's moments are 0); fit does so after each epoch. Here the
    # dead unit's moments are set subnormal before each epoch; 4 steps later they still would be.
    model = small_model(hidden=(5,))
    kernel, bias = model.layers[0].get_weights()
    kernel[:, 0], bias[0] = 0.0, -1.0        # unit 0 outputs max(-1, 0) = 0 for every input: dead
    model.layers[0].set_weights([kernel, bias])
    tiny = np.finfo(np.float32).smallest_normal
    dead = np.zeros((4 + 1) * 5 + (5 + 1) * 3, bool)
    dead[[0, 5, 10, 15, 20]] = True           # kernel[:, 0] and bias[0] in the flat (W1, b1, W2, b2) order
    seen = []

    class Moments(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            state = self.model.optimizer.get_state()
            for name in ("momentum_0", "velocity_0"):
                assert not state[name][dead].any()
                state[name][dead] = tiny / 3
            self.model.optimizer.set_state(state)

        def on_epoch_end(self, epoch, logs=None):   # after fit's flush
            state = self.model.optimizer.get_state()
            seen.append([state[name][dead].tolist() for name in ("momentum_0", "velocity_0")])
            assert state["momentum_0"][~dead].any()   # the live weights' moments are not touched

    model.fit(*data(n=20), batch_size=5, epochs=3, verbose=0, callbacks=[Moments()])
    assert seen == [[[0.0] * 5] * 2] * 3


def test_flush_subnormals_zeroes_exactly_the_subnormal_slot_values():
    optimizer = Adam()
    optimizer.build([np.zeros(6, np.float32)])
    tiny = np.finfo(np.float32).smallest_normal
    values = np.array([tiny / 2, -tiny / 4, tiny, -tiny, 1e-45, 0.3], np.float32)
    state = optimizer.get_state()
    state["momentum_0"], state["velocity_0"] = values, np.abs(values)
    optimizer.set_state(state)
    optimizer.flush_subnormals()
    expected = np.array([0, 0, tiny, -tiny, 0, 0.3], np.float32)
    np.testing.assert_array_equal(optimizer.get_state()["momentum_0"], expected)
    np.testing.assert_array_equal(optimizer.get_state()["velocity_0"], np.abs(expected))


@pytest.mark.parametrize("head", ["sigmoid", "softmax", "linear"])
def test_the_bound_validation_pass_equals_evaluating_the_validation_batch(head, monkeypatch):
    # fit's validation pass, its calls bound once (ValidationPass), against fit's evaluate path on the same
    # one batch with the same calls (made the other path by VALIDATION_ROWS = 0): the same arrays through
    # the same calls, so the same bits, with validation sample weights. Sigmoid + binary crossentropy
    # leaves its probabilities to the pass (``probability_calls``); softmax and MSE compute them in
    # their forward.
    loss, metrics = {"sigmoid": ("binary_crossentropy", ["accuracy", "auc"]),
                     "softmax": ("categorical_crossentropy", ["accuracy"]),
                     "linear": ("mse", ["mae"])}[head]
    rng = np.random.default_rng(5)
    x, x_val = rng.normal(size=(40, 4)), rng.normal(size=(17, 4))
    targets = np.eye(3)[rng.integers(0, 3, 57)] if head == "softmax" else rng.random((57, 3))
    y, y_val = targets[:40], targets[40:]
    w_val = rng.random(17) + 0.5

    def fitted():
        npnet.utils.set_random_seed(0)
        model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(6, activation="relu"), Dense(3, activation=head)])
        model.compile(optimizer="adam", loss=loss, metrics=metrics)
        return model.fit(x, y, batch_size=20, epochs=3, verbose=0, validation_data=(x_val, y_val, w_val)).history

    bound = fitted()
    monkeypatch.setattr(npnet.training.trainer, "VALIDATION_ROWS", 0)
    assert fitted() == bound
    assert len(bound["val_loss"]) == 3


def test_a_callable_learning_rate_is_read_as_each_step_begins_as_keras_reads_it():
    # Keras calls a callable learning rate at every step, and it may read the optimizer's state: here a
    # decay by the step count. fit without batch hooks (whose other step sizes are computed before each
    # epoch) must train as fit with a batch hook, which prepares each step after the hook: the same
    # steps on the same arrays, so the same weights to the bit.
    def fitted(callbacks):
        optimizer = Adam()
        optimizer.learning_rate = lambda: 0.01 * 0.8 ** optimizer.iterations
        model = small_model(optimizer=optimizer)
        model.fit(*data(n=24), batch_size=8, epochs=3, verbose=0, shuffle=False, callbacks=callbacks)
        return model.get_weights()

    class BatchHook(Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    compiled, per_batch = fitted([]), fitted([BatchHook()])
    for a, b in zip(compiled, per_batch):
        np.testing.assert_array_equal(a, b)
    constant = small_model(optimizer=Adam(0.01))
    constant.fit(*data(n=24), batch_size=8, epochs=3, verbose=0, shuffle=False)
    assert not np.array_equal(constant.get_weights()[0], compiled[0])   # the rate did decay


def test_an_optimizer_s_own_apply_calls_of_the_pairs_alone_still_trains():
    # An optimizer written against apply_calls(pairs), before fit passed each step's index (Adam's step
    # sizes): fit binds its calls for every step as before.
    class CountingSGD(npnet.optimizers.SGD):
        compiled = 0

        def apply_calls(self, pairs):
            self.compiled += 1
            return super().apply_calls(pairs)

    model = small_model(optimizer=CountingSGD(0.1))
    history = model.fit(*data(n=24), batch_size=8, epochs=2, verbose=0)
    assert model.optimizer.compiled == 3 and model.optimizer.iterations == 6
    twin = small_model(optimizer=npnet.optimizers.SGD(0.1))
    assert twin.fit(*data(n=24), batch_size=8, epochs=2, verbose=0).history == history.history


def test_an_adam_pickled_before_it_had_step_sizes_still_fits():
    import pickle

    model = small_model()
    state = vars(model.optimizer)
    del state["_step_sizes"], state["_rate_each_step"]   # as an Adam pickled by an npnet without them
    model = pickle.loads(pickle.dumps(model))
    model.fit(*data(n=24), batch_size=8, epochs=2, verbose=0)
    assert model.optimizer.iterations == 6


def test_a_metric_that_keeps_its_predictions_until_its_result_reports_them_not_the_loss():
    # fit's epoch end writes each entry's loss over the probabilities once the metrics have their results
    # (outputs_logs): a metric that keeps the array it was given must read probabilities, not losses.
    class MeanPrediction(npnet.metrics.Metric):
        def reset_state(self):
            self.kept = []

        def update(self, y_true, y_pred):
            self.kept.append(y_pred)   # the array itself, read only in result()

        def update_state(self, y_true, y_pred):
            self.update(y_true, y_pred)

        def result(self):
            return float(np.mean(np.concatenate(self.kept)))

    x, y = data(n=40)
    model = small_model(metrics=())
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[MeanPrediction("mean_p")])
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.25).history
    assert all(0 < value < 1 for value in history["mean_p"] + history["val_mean_p"])
    p = model.predict(x[30:], verbose=0)
    assert history["val_mean_p"][-1] == pytest.approx(float(np.mean(p)), rel=1e-6)
