"""Callbacks: hooks that ``fit`` calls around training, epochs and batches, as in Keras.

``History`` records every epoch's logs and is returned by ``fit``;
``ProgbarLogger`` draws the progress display for ``verbose`` 1 and 2.
``EarlyStopping``, ``ModelCheckpoint``, ``TerminateOnNaN``, ``ReduceLROnPlateau``,
``LearningRateScheduler``, ``CSVLogger`` and ``LambdaCallback`` follow Keras 3
(keras/src/callbacks/), argument for argument; where npnet differs, the
class docstring says so.
"""
from __future__ import annotations

import collections.abc
import csv
import inspect
import math
import os
import sys
import warnings
from typing import Any, Callable

import numpy as np

from npnet._validation import check_bool, check_float, check_int
from npnet.progbar import Progbar


class Callback:
    """Base class: override the hooks you need. ``self.model`` is set before training starts.

    Keras 3's hooks, fired where Keras fires them (epochs and batches count from 0):

    ``fit``:
    - ``on_train_begin(logs=None)``: once, after fit's arguments are checked and the model is built.
    - ``on_epoch_begin(epoch, logs=None)``.
    - ``on_train_batch_begin(batch, logs=None)``, then one training step on that batch.
    - ``on_train_batch_end(batch, logs)``: ``logs["loss"]`` and each metric are running
      values over this epoch's batches so far (as Keras 3 passes them).
    - with validation data, the validation pass fires ``on_test_begin``,
      ``on_test_batch_begin/end`` and ``on_test_end`` (Keras's fit calls evaluate with its callbacks).
    - ``on_epoch_end(epoch, logs)``: the epoch's ``"loss"``, the metrics and, with validation
      data, ``"val_loss"`` and ``"val_<metric>"``; the same dict ``History`` records, after
      the given callbacks (as Keras: what they add to it, such as ``"learning_rate"``, is recorded).
    - ``on_train_end(logs)``: once, with the last epoch's logs (``{}`` if no epoch ended).
      Unlike Keras, also when fit is interrupted (KeyboardInterrupt) or diverges
      (``npnet.training.TrainingDivergedError``), before that exception propagates.
    ``on_batch_begin/end`` are called by the default ``on_train_batch_begin/end``, as in Keras 3.
    ``evaluate(callbacks=...)``: ``on_test_begin``, ``on_test_batch_begin/end`` (running logs), ``on_test_end(logs)``.
    ``predict(callbacks=...)``: ``on_predict_begin``, ``on_predict_batch_begin``,
    ``on_predict_batch_end(batch, {"outputs": ...})``, ``on_predict_end``.

    Hooks without logs of their own receive ``logs={}``, as Keras's CallbackList passes them.
    Setting ``self.model.stop_training = True`` in a batch hook ends the epoch after that
    batch (its partial logs still reach ``on_epoch_end``); in ``on_epoch_end`` it ends training.
    """

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_begin(batch, logs=logs)   # as Keras 3: the old name still fires in training

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class History(Callback):
    """``history[key]`` is the list of per-epoch values of ``key`` ("loss", metrics, "val_"...).

    It becomes ``model.history`` when training begins, so the epochs that
    completed are there even when fit ends with an exception.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.model.history = self

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a progress bar (``verbose=1``) or one line per epoch (``verbose=2``)."""

    def __init__(self, verbose: int, epochs: int, steps: int, stream=None):
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self.stream = stream or sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        self.stream.write(f"Epoch {epoch + 1}/{self.epochs}\n")
        self.progbar = Progbar(self.steps, self.verbose, self.stream)

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 < self.steps:   # the last step is drawn with the validation logs
            self.progbar.update(batch + 1, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self.progbar.update(self.steps, logs or {})


def _check_mode(mode: Any) -> str:
    # Keras warns and falls back to "auto" for an unknown mode; npnet refuses it.
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


def _optional_float(value: Any, name: str) -> float | None:
    return None if value is None else check_float(value, name, -math.inf, math.inf, True, True)


class MonitorCallback(Callback):
    """Base of callbacks that watch one logged quantity (Keras's ``MonitorCallback``).

    ``mode="min"``/``"max"``: smaller/larger is better. ``"auto"``: the name
    without its ``"val_"`` prefix decides: ``"loss"`` is minimised, a compiled
    metric is maximised or minimised by its ``direction``; any other name is a
    ValueError when training begins (Keras raises it at the first epoch end).
    ``value`` improves on ``reference`` when ``value + min_delta < reference``
    (min) or ``value - min_delta > reference`` (max), compared in float32:
    Keras's ``ops.less``/``ops.greater`` turn the Python floats into float32
    tensors, so a change below float32 resolution is no improvement there either.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline: float | None = None,
                 min_delta: float = 0.0):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a str, got {type(monitor).__name__} {monitor!r}")
        self.monitor, self.mode = monitor, _check_mode(mode)
        # Keras takes abs(min_delta); a negative one is refused rather than flipped.
        self.min_delta = check_float(min_delta, "min_delta", 0.0, math.inf, high_open=True)
        self.best = _optional_float(baseline, "baseline")
        self.monitor_op = None

    def _set_monitor_op(self) -> None:
        if self.mode in ("min", "max"):
            self.monitor_op = np.less if self.mode == "min" else np.greater
            return
        name = self.monitor.removeprefix("val_")
        directions = {metric.name: metric.direction for metric in getattr(self.model, "metrics", ())}
        direction = "down" if name == "loss" else directions.get(name)
        if direction not in ("up", "down"):
            raise ValueError(f"{type(self).__name__} callback received monitor={self.monitor}, but npnet "
                             "cannot tell whether that quantity should be maximized or minimized. "
                             "Pass mode='max' or mode='min'.")
        self.monitor_op = np.greater if direction == "up" else np.less

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        shift = self.min_delta if self.monitor_op is np.greater else -self.min_delta
        return bool(self.monitor_op(np.float32(value - shift), np.float32(reference)))


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs (Keras 3 semantics).

    Per epoch from ``start_from_epoch`` on, with the monitored value present:
    ``wait += 1``; an improvement on the best so far (by more than
    ``min_delta``) records it as ``best``/``best_epoch`` and resets ``wait`` to
    0, but only if it also improves on ``baseline`` when one is given;
    otherwise, once ``wait >= patience`` (and ``epoch > 0``), it sets
    ``model.stop_training`` and ``stopped_epoch = epoch``. So ``patience=2``
    stops after the second epoch in a row without improvement.

    With ``restore_best_weights``, the weights at the end of the best epoch
    (the first monitored epoch's if none improved) are put back in
    ``on_train_end``: at the end of every fit, whether or not it stopped early
    (Keras 3.15 does the same; earlier Keras restored only when stopping).
    A missing ``monitor`` key warns (``UserWarning``) and skips that epoch, as Keras.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = check_int(patience, "patience", minimum=0)
        self.verbose = check_int(verbose, "verbose", minimum=0)
        self.baseline = _optional_float(baseline, "baseline")
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights")
        self.start_from_epoch = check_int(start_from_epoch, "start_from_epoch", minimum=0)
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights = 0, 0, 0, None

    def on_train_begin(self, logs=None):
        # Reset, so that one instance can serve several fits.
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0
        self._set_monitor_op()

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: dict | None) -> float | None:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs)}", stacklevel=2)
        return value


class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save``) or its weights (``model.save_weights``) during training.

    ``filepath`` (str or PathLike, ending in ``.npz``; Keras wants ``.keras`` /
    ``.weights.h5``) may hold format fields filled from ``epoch`` (counting
    from 1, as Keras), the logs (``{val_loss:.2f}``) and, with an int
    ``save_freq``, ``batch`` (from 1): ``"ckpt-{epoch:02d}-{val_loss:.2f}.npz"``.
    A field missing from the logs is a KeyError naming the filepath, as Keras.
    ``save_freq="epoch"`` saves at each epoch end; an int n saves every n
    batches (counted across epochs). With ``save_best_only``, a file is written
    only when ``monitor`` improves on the best seen (initially
    ``initial_value_threshold``; kept across fits, as Keras); a missing monitor
    warns and saves anyway. Files are written atomically (``npnet.saving``);
    missing directories are created.
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str | int = "epoch", initial_value_threshold: float | None = None):
        if not isinstance(filepath, (str, os.PathLike)):
            raise TypeError(f"filepath must be a str or os.PathLike, got {type(filepath).__name__}")
        filepath = os.fspath(filepath)
        if not isinstance(filepath, str) or not filepath.endswith(".npz"):
            raise ValueError(f"filepath must end with '.npz' (npnet's file format), got {filepath!r}")
        super().__init__(monitor, mode, _optional_float(initial_value_threshold, "initial_value_threshold"))
        self.filepath = filepath
        self.verbose = check_int(verbose, "verbose", minimum=0)
        self.save_best_only = check_bool(save_best_only, "save_best_only")
        self.save_weights_only = check_bool(save_weights_only, "save_weights_only")
        if save_freq != "epoch":
            save_freq = check_int(save_freq, "save_freq (an int or 'epoch')", minimum=1)
        self.save_freq = save_freq
        self._batches_since_saving, self._current_epoch = 0, 0

    def on_train_begin(self, logs=None):
        self._set_monitor_op()

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_saving += 1
        if self._batches_since_saving >= self.save_freq:
            self._batches_since_saving = 0
            self._save_model(self._current_epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs or {})

    def _file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields = {"epoch": epoch + 1, **logs}
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as error:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". '
                           f"Reason: {error}") from None

    def _should_save(self, epoch: int, logs: dict, filepath: str) -> bool:
        if not self.save_best_only:
            self._say(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            self._say(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                      f"saving model to {filepath}")
            self.best = current
            return True
        self._say(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch: int, batch: int | None, logs: dict) -> None:
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError("Please specify a non-directory filepath for ModelCheckpoint. "
                                    f"Filepath used is an existing directory: {filepath}")
        directory = os.path.dirname(filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)
        self._say(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _say(self, message: str) -> None:
        if self.verbose > 0:
            print(message)


class TerminateOnNaN(Callback):
    """Stop training when a batch's logged loss is NaN or infinite (Keras 3).

    Prints ``Batch <batch>: Invalid loss, terminating training`` (batch counted
    from 0) and sets ``model.stop_training``: the epoch ends after that batch,
    ``on_epoch_end`` and ``on_train_end`` still run, and fit returns normally
    with the weights as they are (non-finite, most likely). With
    ``raise_error=True`` it raises a RuntimeError at once instead, skipping
    ``on_train_end``. Without this callback, ``fit`` raises
    ``npnet.models.TrainingDivergedError`` (Keras would train on silently).
    """

    def __init__(self, raise_error: bool = False):
        self.raise_error = check_bool(raise_error, "raise_error")

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. "
                               f"Loss value: {loss}. Terminating training immediately.")
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience`` epochs.

    As Keras 3: ``min_delta`` 1e-4 by default; after a reduction, ``cooldown``
    epochs pass before counting resumes; never below ``min_lr``; the rate is
    read as Keras holds it (float32, ``optimizer.learning_rate``) and each
    epoch's logs get ``"learning_rate"``. A model whose optimizer has a
    schedule cannot be reduced (TypeError at the first reduction, as Keras).
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.factor = check_float(factor, "factor", 0.0, 1.0, high_open=True)
        self.patience = check_int(patience, "patience", minimum=0)
        self.verbose = check_int(verbose, "verbose", minimum=0)
        self.cooldown = check_int(cooldown, "cooldown", minimum=0)
        self.min_lr = check_float(min_lr, "min_lr", 0.0, math.inf, high_open=True)
        self.cooldown_counter, self.wait = 0, 0

    def on_train_begin(self, logs=None):
        self.best, self.cooldown_counter, self.wait = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        logs["learning_rate"] = self.model.optimizer.learning_rate
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience and self._reduce(epoch):
                self.cooldown_counter, self.wait = self.cooldown, 0

    def _reduce(self, epoch: int) -> bool:
        old_lr = self.model.optimizer.learning_rate
        if old_lr <= np.float32(self.min_lr):
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        self.model.optimizer.learning_rate = new_lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
        return True


class LearningRateScheduler(Callback):
    """At each epoch's start, set the learning rate to ``schedule(epoch, lr)`` (or ``schedule(epoch)``).

    As Keras 3: ``lr`` is the current rate as Keras holds it (float32); a
    schedule that takes one argument is called with the epoch alone (Keras
    tries two and falls back on TypeError; npnet asks the signature, so a
    TypeError inside the schedule is not swallowed); the result must be a
    float (Python, NumPy float32 or float64), else ValueError; each epoch's
    logs get ``"learning_rate"``.
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0):
        if not callable(schedule):
            raise TypeError(f"schedule must be callable, got {type(schedule).__name__}")
        self.schedule, self.verbose = schedule, check_int(verbose, "verbose", minimum=0)
        self._takes_lr = _accepts_two_arguments(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        learning_rate = self.schedule(epoch, optimizer.learning_rate) if self._takes_lr else self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


def _accepts_two_arguments(function: Callable) -> bool:
    try:
        inspect.signature(function).bind(0, 0.0)
    except TypeError:
        return False
    except ValueError:   # a builtin without a signature: assume Keras's current API
        return True
    return True


class CSVLogger(Callback):
    """Write each epoch's logs as a row of ``filename``: ``epoch`` then the log keys, sorted (Keras 3's format).

    The first epoch's keys fix the columns; without validation keys, ``val_``
    columns are added all the same (filled with ``NA``), as Keras does.
    ``append=True`` adds to an existing file (no second header).
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"filename must be a str or os.PathLike, got {type(filename).__name__}")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator must be one character, got {separator!r}")
        self.filename, self.sep, self.append = os.fspath(filename), separator, check_bool(append, "append")
        self.csv_file, self.writer, self.keys, self.append_header = None, None, None, True

    def on_train_begin(self, logs=None):
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as handle:
                self.append_header = not handle.readline()
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer, self.keys = None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
        if self.writer is None:
            dialect = type("Dialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, dialect=dialect)
            if self.append_header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: _csv_value(logs.get(key, "NA")) for key in self.keys}})
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value: Any) -> Any:
    """Keras's cell format: strings and scalars as they are, other iterables as "[a, b]"."""
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value
    if isinstance(value, collections.abc.Iterable):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    As Keras 3: the six training hooks by name; any other keyword (another
    hook such as ``on_test_end``, or any attribute) is set on the object.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs: Any):
        self.__dict__.update(kwargs)
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end, "on_train_begin": on_train_begin,
                 "on_train_end": on_train_end, "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end}
        for name, hook in hooks.items():
            if hook is not None:
                if not callable(hook):
                    raise TypeError(f"{name} must be callable, got {type(hook).__name__}")
                setattr(self, name, hook)
