"""fit's split step (npnet.training.split): where it applies, that it computes the whole step's gradient
(to float64 rounding), that its workers agree with themselves when one is slowed, and what happens on an
error, an interrupt and divergence. The tests force the split on small models (``SPLIT_MIN`` 0, two or
three workers), so that they run on any machine."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import float_rounding
import npnet
from npnet import optimizers
from npnet.layers import Dense, Dropout
from npnet.training import split
from npnet.training.data import EpochIterator
from npnet.training.divergence import TrainingDivergedError
from npnet.training.step import Step

ROWS, INPUTS, LABELS = 120, 6, 3


@pytest.fixture
def workers(monkeypatch):
    """The split on from the smallest step, with ``count`` workers (two by default)."""
    def use(count: int = 2) -> None:
        monkeypatch.setattr(Step, "SPLIT_MIN", 0)
        monkeypatch.setattr(split, "blas_threads", lambda: count)
    use()
    return use


def data(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(ROWS, INPUTS)), (rng.random((ROWS, LABELS)) < 0.4).astype(float)


def model(hidden=(7, 5), dtype="float32", output="sigmoid", loss="binary_crossentropy", optimizer="adam",
          layers=None, seed=0) -> npnet.Sequential:
    npnet.utils.set_random_seed(seed)
    body = layers if layers is not None else [Dense(units, activation="relu") for units in hidden]
    built = npnet.Sequential([npnet.Input(shape=(INPUTS,)), *body, Dense(LABELS, activation=output)], dtype=dtype)
    built.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return built


def test_the_split_applies_where_every_part_binds_blocks_and_blas_has_threads(workers, monkeypatch):
    assert Step(model(), bias_trick=True).splits(32)
    assert not Step(model(), bias_trick=False).splits(32)                          # not outside fit
    others = {
        "softmax head": model(output="softmax", loss="categorical_crossentropy"),
        "tanh hidden layer": model(layers=[Dense(7, activation="relu"), Dense(5, activation="tanh")]),
        "dropout": model(layers=[Dense(7, activation="relu"), Dropout(0.2, seed=1), Dense(5, activation="relu")]),
        "weight penalty": model(layers=[Dense(7, activation="relu", kernel_regularizer="l2")]),
        "no bias": model(layers=[Dense(7, activation="relu", use_bias=False)]),
        "sgd": model(optimizer="sgd"),
        "clipnorm": model(optimizer=optimizers.Adam(clipnorm=1.0)),
        "label smoothing": model(loss=npnet.losses.BinaryCrossentropy(label_smoothing=0.1)),
    }
    frozen = model()
    frozen.layers[0].trainable = False
    frozen.compile(optimizer="adam", loss="binary_crossentropy")
    others["a frozen layer"] = frozen
    for name, other in others.items():
        assert not Step(other, bias_trick=True).splits(32), name
    monkeypatch.setattr(Step, "SPLIT_MIN", 32 * model().parameters.size + 1)     # a step too small
    assert not Step(model(), bias_trick=True).splits(32)
    workers(1)                                                                    # BLAS on one thread
    monkeypatch.setattr(Step, "SPLIT_MIN", 0)
    assert not Step(model(), bias_trick=True).splits(32)


def test_the_gather_calls_of_a_block_fill_its_rows_of_the_batch(monkeypatch):
    """A split step gathers each block of a batch's rows on its own (large x): together they are the
    rows the whole batch's gather takes, in its order, next to the column of ones."""
    monkeypatch.setattr(EpochIterator, "GATHER_BYTES", 0)
    x, y = data()
    iterator = EpochIterator(x, y, None, 50, shuffle=True, ones_column=True)
    for index, stop, x_calls, xb, _, _ in iterator.epoch():
        for block in split.blocks(len(xb), 3):
            for call in iterator.gather_calls(index, block):
                call()
        order = iterator.order[stop - len(xb):stop]
        np.testing.assert_array_equal(xb, np.hstack([x[order], np.ones((len(xb), 1))]))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample-weights"])
@pytest.mark.parametrize("count", [2, 3])
def test_the_split_step_computes_the_whole_steps_gradient_to_float64_rounding(workers, monkeypatch, count, weighted):
    """In float64, the gradient of the second step (rows 40-79: no shuffle), split or whole, within the
    rounding bound of the exact gradient at the weights that step started from (tests/float_rounding.py),
    so the two are within twice the bound of each other; a block of rows, of parameters or of sample
    weights bound wrong is off by far more. Then the update: Adam's second step of that gradient from
    the optimizer's state before it, elementwise, so the same bits however it is cut."""
    x, y = data()
    weights = np.random.default_rng(5).uniform(0.5, 2.0, ROWS) if weighted else None
    rows = slice(40, 80)
    for label in ("split", "whole"):
        if label == "whole":
            monkeypatch.setattr(Step, "SPLIT_MIN", np.inf)
        else:
            workers(count)
        trained, seen = model(dtype="float64"), {}

        def before(batch, logs):
            if batch == 1:
                seen.update(weights=[w.copy() for w in trained.get_weights()], values=trained.parameters.values.copy(),
                            state=trained.optimizer.get_state())

        def after(batch, logs):
            if batch == 1:
                seen.update(gradient=trained.parameters.grads.copy(), updated=trained.parameters.values.copy())
        trained.fit(x, y, batch_size=40, epochs=1, verbose=0, shuffle=False, sample_weight=weights,
                    callbacks=[npnet.callbacks.LambdaCallback(on_train_batch_begin=before, on_train_batch_end=after)])
        start = seen["weights"]
        kernels = [np.vstack([w, b[None]]) for w, b in zip(start[::2], start[1::2])]
        exact, bound = float_rounding.first_gradient_bound(np.hstack([x[rows], np.ones((40, 1))]), y[rows], kernels,
                                                           np.float64, None if weights is None else weights[rows])
        assert np.all(np.abs(seen["gradient"] - exact) <= 2 * bound), label
        assert np.median(bound / np.maximum(np.abs(exact), 1e-300)) < 1e-6         # the bound is not vacuous
        adam = optimizers.Adam()
        adam.build([seen["values"]])
        adam.set_state(seen["state"])
        adam.apply([(seen["gradient"].copy(), seen["values"])])
        np.testing.assert_array_equal(seen["updated"], seen["values"])


def test_the_workers_agree_with_themselves_when_the_caller_is_slowed(workers, monkeypatch):
    """Bit for bit, three workers, float32, several epochs with a validation split: the same calls on the
    same arrays. The calling worker sleeps before each of its phases, so that a phase read before the
    other workers finished the one before (a barrier missing) would show."""
    workers(3)
    monkeypatch.setattr(EpochIterator, "GATHER_BYTES", 0)          # the gathers are split too
    x, y = data()
    results, slept = [], []
    for slowed in (False, True):
        if slowed:
            run = split.run

            def slow_run(calls):
                if threading.current_thread() is threading.main_thread():
                    time.sleep(0.001)
                    slept.append(1)
                run(calls)
            monkeypatch.setattr(split, "run", slow_run)
        trained = model()
        history = trained.fit(x, y, batch_size=32, epochs=3, verbose=0, validation_split=0.2).history
        results.append((history, trained.get_weights()))
    (history, weights), (slowed_history, slowed_weights) = results
    assert len(slept) == 3 * 3 * 2                                                 # 3 epochs of 3 steps, 2 phases
    assert history == slowed_history
    for ours, theirs in zip(weights, slowed_weights):
        np.testing.assert_array_equal(ours, theirs)
    assert history["loss"][-1] < history["loss"][0]


def test_batch_hooks_see_the_split_steps_of_the_epoch_path(workers):
    """With a batch callback fit runs the same split steps one at a time: the same weights to the bit, and
    the same accuracy, which the epoch's path counts from the probabilities its steps left and the
    batch hooks' path from the outputs."""
    x, y = data()
    weights, accuracies = [], []
    for callbacks in ([], [npnet.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: None)]):
        trained = model()
        history = trained.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=callbacks).history
        weights.append(trained.get_weights())
        accuracies.append(history["accuracy"])
    for ours, theirs in zip(*weights):
        np.testing.assert_array_equal(ours, theirs)
    assert accuracies[0] == accuracies[1]


def test_the_workers_agree_with_themselves_when_their_calls_interleave(workers, monkeypatch):
    """Bit for bit: every worker sleeps before each of its calls, so that their calls interleave; work
    arrays that two workers shared would be written by one between another's calls."""
    workers(2)
    x, y = data()
    results, calls_made = [], []
    for interleaved in (False, True):
        if interleaved:
            def sleepy_run(calls):
                for call in calls:
                    time.sleep(0.0001)
                    calls_made.append(1)
                    call()
            monkeypatch.setattr(split, "run", sleepy_run)
        trained = model(hidden=(24, 16))
        trained.fit(x, y, batch_size=60, epochs=2, verbose=0)
        results.append(trained.get_weights())
    assert calls_made
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_a_workers_error_reaches_fit_and_the_workers_and_blas_threads_end(workers, monkeypatch):
    run = split.run

    def failing(calls):
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("a worker failed")
        run(calls)
    monkeypatch.setattr(split, "run", failing)
    before = split._openblas()[0]() if split._openblas() else None
    x, y = data()
    with pytest.raises(RuntimeError, match="a worker failed"):
        model().fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("npnet-step")]
    if before is not None:
        assert split._openblas()[0]() == before


@pytest.mark.skipif(sys.platform == "win32", reason="os.kill with SIGINT ends the process on Windows")
def test_ctrl_c_during_a_split_step_lands_after_it(workers, monkeypatch):
    """SIGINT sent while a step's phases run is raised once the step is whole: the weights then are those
    of a fit stopped after the same number of steps (by a callback, at that batch's end), to the bit."""
    x, y = data()
    run, calls_made = split.run, []

    def interrupting(calls):
        if threading.current_thread() is not threading.main_thread():
            calls_made.append(1)
            if len(calls_made) == 5:   # the third step's rows: in the middle of a step, from another worker
                os.kill(os.getpid(), signal.SIGINT)
        run(calls)
    monkeypatch.setattr(split, "run", interrupting)
    interrupted = model()
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(x, y, batch_size=32, epochs=2, verbose=0)
    steps = interrupted.optimizer.iterations
    assert steps >= 1
    monkeypatch.setattr(split, "run", run)

    def stop_after(batch, logs):
        stopped.stop_training = stopped.optimizer.iterations == steps
    stopped = model()
    stopped.fit(x, y, batch_size=32, epochs=2, verbose=0,
                callbacks=[npnet.callbacks.LambdaCallback(on_train_batch_end=stop_after)])
    assert stopped.optimizer.iterations == steps
    for ours, theirs in zip(interrupted.get_weights(), stopped.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_a_diverging_split_fit_is_stopped_with_finite_weights(workers):
    x, y = data()
    x[5] = 1e30                                                                    # one row makes the loss inf
    diverging = model(optimizer=optimizers.Adam(learning_rate=1.0))
    with pytest.raises(TrainingDivergedError):
        diverging.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False)
    assert all(np.isfinite(w).all() for w in diverging.get_weights())
