"""``Trainer``: fit, evaluate, train_on_batch and loss_and_gradients, the part of a model that trains it.

As Keras's ``Model`` inherits its ``Trainer`` (keras/src/trainers/trainer.py),
``Sequential`` inherits this class; it calls only the model's public surface
(``check_data``, ``training_loss()``, ``metrics``, ``optimizer``, ``parameters``,
``layers``). ``fit`` owns ``epochs``, ``verbose``, ``validation_data`` and the
order of events, and orchestrates the parts of this package.
"""
from __future__ import annotations

import inspect
import math
from functools import lru_cache, partial
from typing import Any, Callable

import numpy as np

from npnet._validation import check_bool, check_float, check_int
from npnet.calls import run
from npnet.callbacks import Callback, History, ProgbarLogger
from npnet.progbar import Progbar
from npnet.training.callback_list import CallbackList
from npnet.training.data import (EpochIterator, check_batch_size, class_weights_as_sample_weights, split_validation,
                                 with_ones_column)
from npnet.training.divergence import DivergenceGuard, TrainingDivergedError
from npnet.training.step import Step, evaluate_batches


def check_verbose(verbose: Any) -> int:
    """``verbose`` as 0, 1 or 2 ("auto" means 1, as Keras with arrays)."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


class Trainer:
    """The training methods of ``Sequential`` (``npnet.models``); see that class for the model itself."""

    def fit(self, x: Any, y: Any = None, batch_size: int | None = 32, epochs: int = 1, verbose: int | str = "auto",
            validation_split: float = 0.0, validation_data: tuple | None = None, shuffle: bool = True,
            callbacks: list[Callback] | None = None, sample_weight: Any = None,
            class_weight: dict | None = None, initial_epoch: int = 0,
            validation_freq: int | list[int] = 1) -> History:
        """Train for ``epochs`` passes over x (N, I), y (N, K) in mini-batches; returns a ``History``.

        As Keras: training runs epochs ``initial_epoch`` .. ``epochs - 1`` (so
        ``epochs`` is the index to stop at, not a count: resume a run with
        ``fit(..., initial_epoch=5, epochs=10)``); with validation data,
        ``validation_freq`` n validates after epochs n, 2n, ... (counted from 1),
        a list after the epochs it names. The epochs without validation have no
        ``val_`` keys, so History's ``val_`` lists are shorter.

        ``validation_split`` holds out the LAST fraction of the samples before
        shuffling, as Keras. Each epoch's "loss" is the batch-size-weighted mean
        of the batch losses, each computed before its update. ``sample_weight``
        (N,) weighs each sample's loss, split and shuffled with x and y;
        ``validation_data`` may be (x_val, y_val, sample_weight_val).
        ``class_weight`` {class: weight} turns a one-unit output's 0/1 targets into
        sample weights, as Keras does, for the training data only; for several
        labels npnet refuses it (Keras would weigh by argmax): per-label weights
        are ``BinaryCrossentropy(pos_weight=...)`` (docs/backprop.md#weighted-losses).

        Stops and failures (``run_epochs``): a callback setting ``stop_training``
        in a batch hook ends the epoch after that batch, in ``on_epoch_end`` ends
        training. A batch loss that is NaN or inf raises ``TrainingDivergedError``
        naming the epoch and batch, with the weights put back to the last ones
        whose loss was finite, unless a callback stopped training at that batch
        (``TerminateOnNaN``). On that error and on KeyboardInterrupt, the
        callbacks' ``on_train_end`` runs before the exception propagates, and
        ``model.history`` holds the epochs that completed.
        """
        batch_size, verbose = check_batch_size(batch_size), check_verbose(verbose)
        epochs = check_int(epochs, "epochs", minimum=0)
        validation_split = check_float(validation_split, "validation_split", 0.0, 1.0, high_open=True)
        shuffle = check_bool(shuffle, "shuffle")
        initial_epoch = check_int(initial_epoch, "initial_epoch", minimum=0)
        validation_freq = check_validation_freq(validation_freq)
        x, y, sample_weight = self.check_data(x, y, sample_weight, "fit", build=False)
        validation = None
        if validation_data is not None:
            validation = self._check_validation_data(validation_data, x.shape[1])
        elif validation_split:
            (x, y, sample_weight), validation = split_validation(x, y, sample_weight, validation_split)
        if class_weight is not None:
            sample_weight = class_weights_as_sample_weights(class_weight, y, sample_weight, self.dtype, self.loss)
        callback_list = CallbackList(callbacks, self, add_history=True,
                                     progbar=ProgbarLogger(verbose, epochs, math.ceil(len(x) / batch_size))
                                     if verbose else None)
        # -- every argument is valid: from here on, state changes --
        self.build((x.shape[1],))
        data = EpochIterator(x, y, sample_weight, batch_size, shuffle,
                             ones_column=Step(self, bias_trick=True).wants_ones_column)
        run_epochs(self, data, range(initial_epoch, epochs), callback_list, validation, batch_size, validation_freq)
        return callback_list.history

    def _check_validation_data(self, validation_data: Any, columns: int) -> tuple:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight_val)")
        checked = self.check_data(*validation_data, method="fit", prefix="validation_data ", build=False)
        if checked[0].shape[1] != columns:
            raise ValueError(f"validation_data x has {checked[0].shape[1]} columns, x has {columns}")
        return checked

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       return_dict: bool = False) -> float | list[float] | dict[str, float]:
        """One update on one batch; returns that batch's loss (and metrics), computed before the update.

        Keras 3 instead returns running means since the last ``reset_metrics``
        (README, "where npnet differs from Keras"). ``sample_weight`` (N,) as in ``fit``;
        ``return_dict`` as in ``evaluate``.
        """
        return_dict = check_bool(return_dict, "return_dict")
        x, y, sample_weight = self.check_data(x, y, sample_weight, "train_on_batch")
        step = Step(self)
        step.reset_metrics()
        return _results({"loss": step(x, y, sample_weight), **step.metric_logs()}, return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False) -> float | list[float] | dict[str, float]:
        """The loss (and metrics) on one batch, without updating: ``evaluate`` with the batch as one batch.

        As Keras 3: metrics start afresh; ``sample_weight`` (N,) and ``return_dict`` as in ``evaluate``.
        """
        return_dict = check_bool(return_dict, "return_dict")
        x, y, sample_weight = self.check_data(x, y, sample_weight, "test_on_batch")
        step = Step(self)
        step.reset_metrics()
        value = step.forward_loss(x, y, sample_weight, training=False)
        return _results({"loss": value, **step.metric_logs()}, return_dict)

    def loss_and_gradients(self, x: Any, y: Any = None, sample_weight: Any = None) -> tuple[float, list[np.ndarray]]:
        """(loss, gradients) on one batch without updating: a copy of the gradient of every trainable
        weight, in ``get_weights()`` order (all of them unless layers are frozen)."""
        x, y, sample_weight = self.check_data(x, y, sample_weight, "loss_and_gradients")
        step = Step(self)
        value = step.forward_loss(x, y, sample_weight, training=True, update_metrics=False)
        step.backward(step.loss.backward())
        return value, [g.copy() for layer in step.layers for g in layer.grads if g is not None]

    def evaluate(self, x: Any, y: Any = None, batch_size: int | None = 32, verbose: int | str = "auto",
                 sample_weight: Any = None, callbacks: list[Callback] | None = None,
                 return_dict: bool = False) -> float | list[float] | dict[str, float]:
        """``[loss, *metrics]`` on (x, y), or the bare loss without metrics; ``sample_weight`` (N,) as in ``fit``.

        ``return_dict=True``: ``{"loss": ..., <metric name>: ...}`` instead, as Keras.
        ``callbacks`` receive the ``on_test_*`` hooks, as in Keras.
        """
        batch_size, verbose = check_batch_size(batch_size), check_verbose(verbose)
        return_dict = check_bool(return_dict, "return_dict")
        callback_list = CallbackList(callbacks, self)
        x, y, sample_weight = self.check_data(x, y, sample_weight, "evaluate")
        progbar = Progbar(math.ceil(len(x) / batch_size), verbose) if verbose else None
        step = Step(self)
        logs = evaluate_batches(step, x, y, batch_size, sample_weight, callback_list, progbar)
        return _results(logs, return_dict)


def _results(logs: dict[str, float], return_dict: bool) -> float | list[float] | dict[str, float]:
    """What Keras's evaluate/train_on_batch/test_on_batch return: the logs, the loss alone, or [loss, *metrics]."""
    if return_dict:
        return dict(logs)
    return list(logs.values()) if len(logs) > 1 else logs["loss"]


def check_validation_freq(validation_freq: Any) -> int | list[int]:
    """An int >= 1 or a list of epochs (ints >= 1, counted from 1), as Keras's ``fit`` takes it."""
    if isinstance(validation_freq, list):
        return [check_int(epoch, "validation_freq[i]", minimum=1) for epoch in validation_freq]
    if isinstance(validation_freq, bool) or not isinstance(validation_freq, int):
        raise TypeError(f"validation_freq must be an int or a list of epochs, got "
                        f"{type(validation_freq).__name__} {validation_freq!r}")
    return check_int(validation_freq, "validation_freq", minimum=1)


def _validates_after(epoch: int, validation_freq: int | list[int]) -> bool:
    """Keras's ``_should_eval``: after epoch (0-based) ``epoch``, counted from 1."""
    if isinstance(validation_freq, int):
        return (epoch + 1) % validation_freq == 0
    return epoch + 1 in validation_freq


def run_epochs(model: Any, data: EpochIterator, epochs: range, callbacks: CallbackList,
               validation: tuple | None, batch_size: int, validation_freq: int | list[int] = 1) -> None:
    """Train for the ``epochs`` given (indices, from ``initial_epoch``), validating on ``validation``
    (x, y, w) after those ``validation_freq`` picks.

    Without batch hooks each epoch runs the compiled steps (``Step.compile``), which compute no
    loss value and no metrics: ``EpochOutputs`` computes both once, at the epoch's
    end, and the validation pass runs as one batch (up to ``VALIDATION_ROWS``
    rows). A callback with a batch hook gets the running loss and metrics after
    every batch, batch by batch as Keras computes them. Stops: a callback
    setting ``model.stop_training`` in a batch hook ends the epoch after that
    batch, in ``on_epoch_end`` ends training. On divergence and on
    KeyboardInterrupt, ``on_train_end`` runs before the exception propagates.
    """
    step = Step(model, bias_trick=True)
    guard = DivergenceGuard(step, data, epochs.stop)
    per_batch = callbacks.wants("on_train_batch_begin") or callbacks.wants("on_train_batch_end")
    try:   # the split step's workers, if compile starts them, end with fit (npnet.training.split)
        outputs = EpochOutputs(step, data)   # compiles the steps; the guard replays them after batch hooks too
        validation_batch, validation_pass = batch_size, None
        if validation is not None and not (callbacks.wants("on_test_batch_begin") or callbacks.wants("on_test_batch_end")):
            x_val, y_val, w_val = validation
            validation_batch = max(batch_size, min(len(x_val), VALIDATION_ROWS))
            validation = (with_ones_column(x_val) if step.wants_ones_column else x_val, y_val, w_val)
            if len(x_val) <= VALIDATION_ROWS and not step.regularized:
                validation_pass = ValidationPass(step, *validation)
        model.stop_training, epoch_logs = False, None
        callbacks.on_train_begin()
        # A KeyboardInterrupt lands between two Python statements. The weight update is one
        # in-place NumPy operation on the whole buffer, which Python cannot interrupt midway, so
        # the weights are always those after a whole step (the last one completed, or the one
        # the interrupt arrived in if it came after its update); only the optimizer's slots and
        # iteration count can be caught part-way through a step. (A split step, updated by several
        # threads, holds an interrupt back until it is whole: npnet.training.split.)
        try:
            for epoch in epochs:
                callbacks.on_epoch_begin(epoch)
                if per_batch:
                    epoch_logs, index, value = _epoch_batch_by_batch(model, step, data, outputs, callbacks, guard, epoch)
                else:
                    epoch_logs, index, value = _epoch(step, data, outputs, guard, epoch)
                guard.after_epoch(epoch, index, value)
                model.optimizer.flush_subnormals()   # as TensorFlow's flush-to-zero; see there why
                if validation is not None and _validates_after(epoch, validation_freq):
                    val = (validation_pass(callbacks) if validation_pass is not None else
                           evaluate_batches(step, *validation[:2], validation_batch, validation[2], callbacks))
                    epoch_logs.update({"val_" + key: v for key, v in val.items()})
                callbacks.on_epoch_end(epoch, epoch_logs)
                if model.stop_training:
                    break
        except (KeyboardInterrupt, TrainingDivergedError):
            # Both leave consistent weights, so checkpoints and restored weights still apply.
            callbacks.on_train_end(epoch_logs)
            raise
        callbacks.on_train_end(epoch_logs)
    finally:
        step.close()


# fit's validation pass runs in batches of up to this many rows (Keras's: batch_size rows). A batch's
# activations take rows x (widest layer) values: 64 MB in float32 for 65,536 rows of 256 units.
VALIDATION_ROWS = 65_536


def outputs_logs(step: Step, y: np.ndarray, sample_weight: np.ndarray | None, outputs: np.ndarray,
                 probabilities: np.ndarray | None, penalty: float = 0.0) -> dict[str, float]:
    """The loss and metrics (reset here) of a pass whose outputs (N, K) were kept: the loss over all
    N K entries at once, plus ``penalty``; the metrics from ``probabilities`` (N, K) when the pass left
    them (``Loss.computes_value_alone``), else from the loss's forward.

    Probabilities left by the pass are not needed once the metrics have their results, so the loss's
    value (when it takes ``losses``) writes each entry's loss over them rather than into a work array
    of N rows: on large data, memory written for the first time in each fit
    (``SigmoidBinaryCrossentropy._value``). The results are taken first: a metric may keep the array
    it was given until then."""
    left = probabilities is not None
    if not left:
        value = step.loss.forward(y, outputs, sample_weight)
        probabilities = step.loss.probabilities if step.logits else outputs
    step.reset_metrics()
    for metric in step.metrics:
        metric.update(y, probabilities)
    metric_logs = step.metric_logs()
    if left:
        losses = {"losses": probabilities} if _value_takes_losses(type(step.loss)) else {}
        value = step.loss.value(y, outputs, sample_weight, **losses)
    return {"loss": value + penalty, **metric_logs}


@lru_cache(maxsize=None)
def _value_takes_losses(loss_type: type) -> bool:
    """Whether the loss's ``value`` takes ``losses`` (a subclass's own value(y_true, y_pred, sample_weight)
    does not), found once per class."""
    return "losses" in inspect.signature(loss_type.value).parameters


class ValidationPass:
    """fit's validation pass as one batch, bound once: the forward pass of x_val (N, I) (with its column
    of ones for the bias trick) writes the logits, a fused loss's activation the probabilities
    (``Loss.probability_calls``), and the loss and metrics come from both, as the training epoch's.

    For a model without regularizers (whose penalties ``Step.forward_loss`` adds per batch) and without
    ``on_test_batch_*`` hooks; the same NumPy calls on the same arrays as ``evaluate_batches`` with one
    batch, without rebuilding the loss's and the activation's calls every epoch.
    """

    def __init__(self, step: Step, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None):
        self.step, self.x, self.y, self.sample_weight, self.calls = step, x, y, sample_weight, None

    def _bind(self) -> None:
        """The calls, bound at the first validation (an epoch may never validate: ``validation_freq``)."""
        step = self.step
        self.calls, self.outputs = step.forward_calls(self.x, False)
        self.probabilities = None
        if step.logits and step.loss.computes_value_alone:
            self.probabilities = np.empty_like(self.outputs)
            self.calls += step.loss.probability_calls(self.outputs, self.probabilities)

    def __call__(self, callbacks: CallbackList) -> dict[str, float]:
        """The validation logs (loss and metrics) with the weights now, firing ``on_test_begin/end``."""
        if self.calls is None:
            self._bind()
        callbacks.on_test_begin()
        with np.errstate(over="ignore"):   # as in fit's steps: sigmoid's exp(-z) may overflow to inf, rightly
            run(self.calls)
        logs = outputs_logs(self.step, self.y, self.sample_weight, self.outputs, self.probabilities)
        callbacks.on_test_end(logs)
        return logs


class EpochOutputs:
    """The outputs (N, K) of one epoch's steps, kept so that its loss and metrics are computed once, at its end.

    The epoch's loss is the mean over all its N K entries (each sample's weight
    included): Keras's batch-size-weighted mean of the batch losses, computed
    per epoch instead of per batch (about 10 NumPy calls for the tutorial's
    N K = 16,080 entries; in blocks of rows on large data,
    ``SigmoidBinaryCrossentropy._value``). The metrics count over the whole
    epoch, as they would batch by batch. A single batch's loss stays at hand
    (``batch_loss``), for the divergence guard.
    """

    def __init__(self, step: Step, data: EpochIterator):
        self.step, self.data = step, data
        # (N, K): each compiled step writes its output into its rows (and its probabilities, or None)
        self.outputs, self.probabilities = step.compile(data)

    def last_batch_loss(self) -> Callable[[], float]:
        """The loss of this epoch's last batch, as a function of copies of its outputs and targets taken
        now: the divergence guard names that loss only in an error message, and copying its few rows
        every epoch costs less than computing it."""
        start = (self.data.num_batches - 1) * self.data.batch_size
        w = self.data.sample_weight
        return partial(self.step.loss.value, self.data.y[start:].copy(), self.outputs[start:].copy(),
                       None if w is None else w[start:].copy())

    def batch_loss(self, index: int, update_metrics: bool = False) -> float:
        """The loss of batch ``index`` of this epoch, from its kept output; also counts it in the metrics."""
        start, stop = index * self.data.batch_size, min((index + 1) * self.data.batch_size, self.data.num_samples)
        w, y = self.data.sample_weight, self.data.y[start:stop]
        value = self.step.loss.forward(y, self.outputs[start:stop], None if w is None else w[start:stop])
        if update_metrics:
            probabilities = self.step.loss.probabilities if self.step.logits else self.outputs[start:stop]
            for metric in self.step.metrics:
                metric.update(y, probabilities)
        return value

    def logs(self) -> dict[str, float]:
        """The epoch's loss (its regularizers' penalties included) and metrics, from all its outputs."""
        return outputs_logs(self.step, self.data.y, self.data.sample_weight, self.outputs, self.probabilities,
                            self.step.penalty_sum / self.data.num_samples)


def _epoch(step: Step, data: EpochIterator, outputs: EpochOutputs, guard: DivergenceGuard,
           epoch: int) -> tuple[dict[str, float], int, Callable[[], float]]:
    """One epoch of the compiled steps; its loss and metrics from ``outputs`` at the end, then the guard's checks."""
    last = data.num_batches - 1
    step.penalty_sum = 0.0
    data.epoch()   # shuffles, in place: the compiled steps read the new order
    guard.begin_epoch()
    step.optimizer.prepare_steps(0, data.num_batches)
    # Overflow warnings are off while the steps run: sigmoid's exp(-z) overflows to inf for z < -88 and
    # gives the right 0 (its calls here are bare, a context per call costs 1 us). Any other overflow makes
    # the loss or the weights inf or NaN within a step or two, which the guard reports as an error.
    with np.errstate(over="ignore"):
        for index, program in enumerate(step.programs):
            if index == last:
                guard.before_last_step()
            for call in program:
                call()
    step.release()   # BLAS's threads back for the rest of the epoch, if its steps were split (npnet.training.split)
    logs = outputs.logs()
    if not math.isfinite(logs["loss"]):   # find the first batch whose loss is not finite
        for index in range(data.num_batches):
            value = outputs.batch_loss(index)
            if not math.isfinite(value):
                guard.diverged(epoch, index, value)
            guard.finite(epoch, index, value)
    value = outputs.last_batch_loss()   # finite, as the epoch's loss is
    guard.finite(epoch, last, value)
    return logs, last, value


def _epoch_batch_by_batch(model: Any, step: Step, data: EpochIterator, outputs: EpochOutputs, callbacks: CallbackList,
                          guard: DivergenceGuard, epoch: int) -> tuple[dict[str, float], int, float]:
    """One epoch of the compiled steps for batch hooks: the running loss and metrics after every batch.

    Each batch's loss comes from the output its step kept, computed before
    its update, plus the regularizers' penalty the step took, as Keras's
    running mean over the batches.
    """
    step.reset_metrics()
    loss_sum = 0.0
    data.epoch()   # shuffles, in place: the compiled steps read the new order
    guard.begin_epoch()
    for index, program in enumerate(step.programs):
        callbacks.on_train_batch_begin(index)
        step.optimizer.prepare_steps(index, 1)   # after the hook: it may change the learning rate
        guard.before_last_step()   # any batch may be the last: a callback may stop the epoch
        with np.errstate(over="ignore"):   # as in ``_epoch``
            run(program)
        step.release()
        value = outputs.batch_loss(index, update_metrics=True) + step.penalty
        end = min((index + 1) * data.batch_size, data.num_samples)
        loss_sum += (end - index * data.batch_size) * value
        callbacks.on_train_batch_end(index, {"loss": loss_sum / end, **step.metric_logs()})
        if math.isfinite(value):
            guard.finite(epoch, index, value)
        elif not model.stop_training:   # a callback that stops here (TerminateOnNaN) goes first
            guard.diverged(epoch, index, value)
        if model.stop_training:
            break
    return {"loss": loss_sum / end, **step.metric_logs()}, index, value
