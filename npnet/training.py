"""The training loop's parts, each owning its arguments (as keras/src/trainers/epoch_iterator.py does):

``Sequential.fit`` (orchestration, in npnet.models):
    - epochs, verbose, argument order and checking of x, y
``split_validation`` / ``check_validation_data``:
    - validation_split, validation_data
``class_weights_as_sample_weights``:
    - class_weight
``EpochIterator``:
    - batch_size, shuffle, sample_weight (split and shuffled with x and y)
``CallbackList``:
    - callbacks, History, the progress bar (verbose), which hooks fire and with what logs
``DivergenceGuard``:
    - what happens when a batch's loss or the weights become NaN or infinite
``Step``:
    - one batch's forward, loss, backward and update; ``evaluate_batches`` the evaluation loop

Shapes: x (N, I), y (N, K), sample weights (N,); glossary in ``npnet.layers.base``.
"""
from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from npnet import utils
from npnet._validation import as_float_array, check_float, check_int
from npnet.callbacks import Callback, History, ProgbarLogger
from npnet.layers.base import Layer
from npnet.progbar import Progbar


def check_verbose(verbose: Any) -> int:
    """``verbose`` as 0, 1 or 2 ("auto" means 1, as Keras with arrays)."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` as an int >= 1 (None means 32, as Keras)."""
    return 32 if batch_size is None else check_int(batch_size, "batch_size", minimum=1)


# -- data: validation split, class weights, batches -------------------------------------------

def split_validation(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None,
                     validation_split: float) -> tuple[tuple, tuple]:
    """((x, y, w), (x_val, y_val, w_val)): the LAST fraction held out before shuffling, as Keras.

    split_at = floor(N * (1 - validation_split)); both parts must hold a sample.
    """
    split_at = math.floor(len(x) * (1.0 - validation_split))
    if split_at == 0 or split_at == len(x):
        raise ValueError(f"validation_split={validation_split} leaves {split_at} of {len(x)} "
                         "samples for training; both parts need at least one")
    w, w_val = (None, None) if sample_weight is None else (sample_weight[:split_at], sample_weight[split_at:])
    return (x[:split_at], y[:split_at], w), (x[split_at:], y[split_at:], w_val)


def class_weights_as_sample_weights(class_weight: Any, y: np.ndarray, sample_weight: np.ndarray | None,
                                    dtype: np.dtype) -> np.ndarray:
    """Keras's class_weight for a one-unit output: sample n weighs class_weight[round(y_n)] (default 1)."""
    if sample_weight is not None:
        raise ValueError("class_weight and sample_weight cannot be used together (as in Keras)")
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class: weight}}, got {type(class_weight).__name__}")
    if y.shape[1] != 1:
        raise ValueError(
            f"class_weight needs a one-unit output; this model has {y.shape[1]} labels, and Keras's "
            "class_weight would weigh each sample by its argmax label alone. For per-label weights use "
            "loss=npnet.losses.BinaryCrossentropy(pos_weight=...) (see losses.balanced_pos_weight)")
    for key, value in class_weight.items():
        check_int(key, "class_weight key", minimum=0)
        check_float(value, f"class_weight[{key}]", 0.0, math.inf, high_open=True)
    per_class = as_float_array([class_weight.get(0, 1.0), class_weight.get(1, 1.0)], "class_weight",
                               dtype, ndim=1)   # refuses weights that overflow the model's dtype
    return per_class[np.round(y[:, 0]).astype(np.int64)]   # targets lie in [0, 1]: classes 0 and 1


class EpochIterator:
    """Mini-batches of (x, y, sample_weight) for each epoch: contiguous slices of one shuffled copy per epoch.

    ``shuffle`` draws each epoch's order from ``npnet.utils.random_generator()``;
    the shuffled copies are allocated once, so an epoch allocates nothing.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None, batch_size: int,
                 shuffle: bool):
        self.x, self.y, self.sample_weight, self.batch_size, self.shuffle = x, y, sample_weight, batch_size, shuffle
        self.num_samples, self.num_batches = len(x), math.ceil(len(x) / batch_size)
        self._x, self._y = (np.empty_like(x), np.empty_like(y)) if shuffle else (x, y)
        self._w = sample_weight.copy() if shuffle and sample_weight is not None else sample_weight

    def epoch(self) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray | None]]:
        """Yields (step, end, x_batch, y_batch, w_batch), ``end`` = samples seen this epoch after this batch."""
        if self.shuffle:
            order = utils.random_generator().permutation(self.num_samples)
            np.take(self.x, order, axis=0, out=self._x)
            np.take(self.y, order, axis=0, out=self._y)
            if self.sample_weight is not None:
                np.take(self.sample_weight, order, out=self._w)
        for step in range(self.num_batches):
            start, end = step * self.batch_size, min((step + 1) * self.batch_size, self.num_samples)
            yield (step, end, self._x[start:end], self._y[start:end],
                   None if self._w is None else self._w[start:end])


# -- one step, and the evaluation loop --------------------------------------------------------

class Step:
    """A compiled, built model's batch computations on trusted arrays: forward, loss, backward, update.

    Reads only the model's public surface: ``layers``, ``training_loss()``,
    ``metrics``, ``optimizer`` and ``parameters`` (the flat buffers).
    """

    def __init__(self, model: Any):
        self.layers: list[Layer] = model.layers
        self.loss, self.logits = model.training_loss()
        self.metrics, self.optimizer, self.parameters = model.metrics, model.optimizer, model.parameters
        self.regularized = [layer for layer in self.layers
                            if type(layer).regularization_loss is not Layer.regularization_loss]

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """x (N, I) -> the output (N, K): the last layer's logits when the loss is fused with its activation."""
        last = self.layers[-1]
        for layer in self.layers:
            x = layer.forward(x, training, activate=False) if self.logits and layer is last \
                else layer.forward(x, training)
        return x

    def backward(self, doutput: np.ndarray) -> None:
        """The chain rule, last layer first: each layer turns dL/d(its output) into dL/d(its input).

        docs/backprop.md#the-chain-rule-layer-by-layer writes it out for the tutorial's network.
        """
        d = doutput
        for layer in reversed(self.layers[1:]):
            d = layer.backward(d)
        self.layers[0].backward(d, need_dx=False)   # nothing upstream needs dL/d(data)

    def forward_loss(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None, training: bool,
                     update_metrics: bool = True) -> float:
        """Forward and loss of one batch; updates the metrics from the probabilities.

        ``sample_weight`` (N,) weighs the loss only: compiled metrics stay
        unweighted, as Keras's ``metrics`` (it weighs only ``weighted_metrics``).
        """
        output = self.forward(x, training)
        value = self.loss.forward(y, output, sample_weight)
        for layer in self.regularized:
            value += layer.regularization_loss()
        if update_metrics and self.metrics:
            probabilities = self.loss.probabilities if self.logits else output
            for metric in self.metrics:
                metric.update(y, probabilities)
        return value

    def __call__(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """One training step: forward, loss, backward, update. Returns the loss before the update."""
        value = self.forward_loss(x, y, sample_weight, training=True)
        self.backward(self.loss.backward())
        self.optimizer.apply([self.parameters.trainable_pair()])
        return value

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def metric_logs(self) -> dict[str, float]:
        return {metric.name: metric.result() for metric in self.metrics}


def evaluate_batches(step: Step, x: np.ndarray, y: np.ndarray, batch_size: int,
                     sample_weight: np.ndarray | None, callbacks: "CallbackList",
                     progbar: Progbar | None = None) -> dict[str, float]:
    """Batch-size-weighted mean loss and the metrics over checked arrays, firing the ``on_test_*`` hooks."""
    step.reset_metrics()
    callbacks.on_test_begin()
    loss_sum, n, logs = 0.0, len(x), {}
    for index, start in enumerate(range(0, n, batch_size)):
        stop = min(start + batch_size, n)
        callbacks.on_test_batch_begin(index)
        weights = None if sample_weight is None else sample_weight[start:stop]
        loss_sum += (stop - start) * step.forward_loss(x[start:stop], y[start:stop], weights, training=False)
        if progbar or callbacks.wants("on_test_batch_end"):
            logs = {"loss": loss_sum / stop, **step.metric_logs()}
            callbacks.on_test_batch_end(index, logs)
            if progbar:
                progbar.update(index + 1, logs)
    logs = {"loss": loss_sum / n, **step.metric_logs()}
    callbacks.on_test_end(logs)
    return logs


# -- callbacks ------------------------------------------------------------------------------

# Keras 3's Callback.on_train_batch_begin/end call on_batch_begin/end: either override earns the call.
_ALSO_OVERRIDDEN_AS = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}
HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
         "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")


def _overrides(callback: Callback, hook: str) -> bool:
    names = (hook, _ALSO_OVERRIDDEN_AS[hook]) if hook in _ALSO_OVERRIDDEN_AS else (hook,)
    return any(getattr(type(callback), name) is not getattr(Callback, name) for name in names)


class CallbackList:
    """Calls every hook of a list of callbacks (keras/src/callbacks/callback_list.py), History and progress bar included.

    ``add_history`` puts a fresh ``History`` first (``history``); ``progbar``, a
    ``ProgbarLogger``, second. Each hook goes only to the callbacks that
    override it, so a batch costs nothing when no callback listens.
    """

    def __init__(self, callbacks: Any, model: Any, add_history: bool = False,
                 progbar: ProgbarLogger | None = None):
        callbacks = [] if callbacks is None else callbacks
        if not isinstance(callbacks, (list, tuple)) or not all(isinstance(c, Callback) for c in callbacks):
            raise TypeError("callbacks must be a list of npnet.callbacks.Callback")
        self.history = History() if add_history else None
        self.callbacks = [c for c in (self.history, progbar) if c is not None] + list(callbacks)
        for callback in self.callbacks:
            callback.set_model(model)
        self._listeners = {hook: [c for c in self.callbacks if _overrides(c, hook)] for hook in HOOKS}

    def wants(self, hook: str) -> bool:
        """Whether any callback listens to ``hook`` (so its logs are worth computing)."""
        return bool(self._listeners[hook])

    def _fire(self, hook: str, *args: Any) -> None:
        """Call ``hook`` on its listeners; the last argument is the logs, ``{}`` for None as Keras passes them."""
        if self._listeners[hook]:
            args = (*args[:-1], {} if args[-1] is None else args[-1])
            for callback in self._listeners[hook]:
                getattr(callback, hook)(*args)

    def on_train_begin(self, logs=None): self._fire("on_train_begin", logs)
    def on_train_end(self, logs=None): self._fire("on_train_end", logs)
    def on_epoch_begin(self, epoch, logs=None): self._fire("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._fire("on_epoch_end", epoch, logs)
    def on_train_batch_begin(self, batch, logs=None): self._fire("on_train_batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None): self._fire("on_train_batch_end", batch, logs)
    def on_test_begin(self, logs=None): self._fire("on_test_begin", logs)
    def on_test_end(self, logs=None): self._fire("on_test_end", logs)
    def on_test_batch_begin(self, batch, logs=None): self._fire("on_test_batch_begin", batch, logs)
    def on_test_batch_end(self, batch, logs=None): self._fire("on_test_batch_end", batch, logs)
    def on_predict_begin(self, logs=None): self._fire("on_predict_begin", logs)
    def on_predict_end(self, logs=None): self._fire("on_predict_end", logs)
    def on_predict_batch_begin(self, batch, logs=None): self._fire("on_predict_batch_begin", batch, logs)
    def on_predict_batch_end(self, batch, logs=None): self._fire("on_predict_batch_end", batch, logs)


# -- divergence -----------------------------------------------------------------------------

class TrainingDivergedError(FloatingPointError):
    """Raised by ``fit`` when a batch's loss is NaN or infinite and no callback stopped training.

    ``epoch`` and ``batch`` (counted from 0, as callbacks see them) locate the
    batch, ``loss`` is its value, ``last_finite_loss`` the loss of the batch
    before it (None if there was none). The model's weights are those that
    batch before was computed on: the last weights with a finite loss (or, if
    the very first batch diverged, the weights fit started with). The optimizer
    is reset (``Optimizer.reset``): its moments had taken in the non-finite step.
    """

    def __init__(self, message: str, epoch: int, batch: int, loss: float, last_finite_loss: float | None):
        super().__init__(message)
        self.epoch, self.batch, self.loss, self.last_finite_loss = epoch, batch, loss, last_finite_loss


class DivergenceGuard:
    """Keeps the last weights whose batch loss was finite, and puts them back when training diverges.

    Each step's loss is computed on the weights *before* its update, and the
    update is already applied when ``fit`` sees the loss: so the weights are
    copied before every step (one copy of P values, small next to the step's
    matrix products), and the copy is kept when that step's loss is finite.
    """

    def __init__(self, values: np.ndarray, optimizer: Any, epochs: int, steps: int):
        self.values, self.optimizer, self.epochs, self.steps = values, optimizer, epochs, steps   # values (P,)
        self.before_step, self.last_finite = np.empty_like(values), None
        self.last_finite_batch: tuple[int, int, float] | None = None

    def before(self) -> None:
        np.copyto(self.before_step, self.values)

    def after(self, epoch: int, step: int, loss: float, stopped: bool) -> None:
        """Record a finite loss; raise for a non-finite one unless a callback stopped training (TerminateOnNaN)."""
        if math.isfinite(loss):
            if self.last_finite is None:
                self.last_finite = np.empty_like(self.values)
            self.last_finite, self.before_step = self.before_step, self.last_finite
            self.last_finite_batch = (epoch, step, loss)
        elif not stopped:
            self.fail(epoch, step, loss, f"the loss of epoch {epoch + 1}/{self.epochs}, batch "
                                         f"{step + 1}/{self.steps} is {loss}")

    def after_epoch(self, epoch: int, step: int, loss: float) -> None:
        """The epoch's last update may have overflowed the weights although its loss was finite."""
        if math.isfinite(loss) and not np.isfinite(self.values).all():
            self.fail(epoch, step, loss, f"the update of epoch {epoch + 1}/{self.epochs}, batch "
                                         f"{step + 1}/{self.steps} (loss {loss:.6g}) made the weights non-finite")

    def fail(self, epoch: int, step: int, loss: float, what: str) -> None:
        np.copyto(self.values, self.before_step if self.last_finite is None else self.last_finite)
        self.optimizer.reset()
        if self.last_finite_batch is None:
            before = "no batch before it had a finite loss; the weights are those fit started with"
        else:
            e, b, value = self.last_finite_batch
            before = (f"the last finite batch loss was {value:.6g} (epoch {e + 1}/{self.epochs}, batch "
                      f"{b + 1}/{self.steps}); the weights are restored to those it was computed on")
        raise TrainingDivergedError(
            f"training diverged: {what}; {before}, and the optimizer starts afresh (its moments took in the "
            "non-finite step). Lower the learning rate, or pass callbacks=[npnet.callbacks.TerminateOnNaN()] "
            "to stop without an error.", epoch, step, loss,
            None if self.last_finite_batch is None else self.last_finite_batch[2])


# -- the epochs -----------------------------------------------------------------------------

def run_epochs(model: Any, data: EpochIterator, epochs: int, callbacks: CallbackList,
               validation: tuple | None, batch_size: int) -> None:
    """Train for ``epochs`` passes of ``data``, validating on ``validation`` (x, y, w) after each.

    Stops: a callback setting ``model.stop_training`` in a batch hook ends the
    epoch after that batch, in ``on_epoch_end`` ends training. On divergence and
    on KeyboardInterrupt, ``on_train_end`` runs before the exception propagates.
    """
    step = Step(model)
    guard = DivergenceGuard(model.parameters.values, model.optimizer, epochs, data.num_batches)
    batch_begin, batch_logs = callbacks.wants("on_train_batch_begin"), callbacks.wants("on_train_batch_end")
    model.stop_training, epoch_logs = False, None
    callbacks.on_train_begin()
    # A KeyboardInterrupt lands between two Python statements. The weight update is one
    # in-place NumPy operation on the whole buffer, which Python cannot interrupt midway, so
    # the weights are always those after a whole step (the last one completed, or the one
    # the interrupt arrived in if it came after its update); only the optimizer's slots and
    # iteration count can be caught part-way through a step.
    try:
        for epoch in range(epochs):
            callbacks.on_epoch_begin(epoch)
            step.reset_metrics()
            loss_sum = 0.0
            for index, seen, x, y, w in data.epoch():
                if batch_begin:
                    callbacks.on_train_batch_begin(index)
                guard.before()
                value = step(x, y, w)
                loss_sum += len(x) * value
                if batch_logs:
                    callbacks.on_train_batch_end(index, {"loss": loss_sum / seen, **step.metric_logs()})
                guard.after(epoch, index, value, model.stop_training)
                if model.stop_training:
                    break
            guard.after_epoch(epoch, index, value)
            epoch_logs = {"loss": loss_sum / seen, **step.metric_logs()}
            if validation is not None:
                val = evaluate_batches(step, *validation[:2], batch_size, validation[2], callbacks)
                epoch_logs.update({"val_" + key: v for key, v in val.items()})
            callbacks.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
    except (KeyboardInterrupt, TrainingDivergedError):
        # Both leave consistent weights, so checkpoints and restored weights still apply.
        callbacks.on_train_end(epoch_logs)
        raise
    callbacks.on_train_end(epoch_logs)
