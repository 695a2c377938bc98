"""``Sequential``: a stack of Dense layers trained by hand-written backprop.

One training step (``_train_step``) is the whole algorithm:
forward through the layers, loss, backward through the layers in reverse
(the chain rule made literal), one optimizer update on the flat parameter
buffer. Shapes: x (N, I), y (N, K); see ``npnet.layers`` for the glossary.
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable

import numpy as np

from npnet import activations, backend, losses, metrics as metrics_module, optimizers, saving, utils
from npnet import trace as trace_module
from npnet._validation import (as_float_array, as_real_array, check_bool, check_float, check_int,
                               check_sample_weight, check_unit_interval, check_weights_list)
from npnet.callbacks import Callback, History, ProgbarLogger
from npnet.layers import Dense, InputLayer, unique_name
from npnet.params import ParameterBuffer
from npnet.progbar import Progbar


class NotCompiledError(ValueError, RuntimeError):
    """Raised when training or evaluating a model that was never compiled.

    A ValueError as npnet's other argument errors, and a RuntimeError as Keras raises.
    """


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


class _LastFiniteWeights:
    """Keeps a copy of the last weights whose batch loss was finite, for ``fit`` to fall back on.

    Each step's loss is computed on the weights *before* its update, and the
    update is already applied when ``fit`` sees the loss: so the weights are
    copied before every step (one copy of P values, small next to the step's
    matrix products), and the copy is kept when that step's loss is finite.
    """

    def __init__(self, values: np.ndarray):
        self.values = values                                       # (P,) the live parameter buffer
        self.before_step, self.last_finite = np.empty_like(values), None

    def save(self) -> None:
        np.copyto(self.before_step, self.values)

    def step_was_finite(self) -> None:
        if self.last_finite is None:
            self.last_finite = np.empty_like(self.values)
        self.last_finite, self.before_step = self.before_step, self.last_finite

    def restore(self) -> None:
        np.copyto(self.values, self.before_step if self.last_finite is None else self.last_finite)


def _check_verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _batch_size(batch_size: Any) -> int:
    return 32 if batch_size is None else check_int(batch_size, "batch_size", minimum=1)


def _diverged(epoch: int, epochs: int, step: int, steps: int, loss: float,
              last_finite: tuple[int, int, float] | None, what: str | None = None) -> TrainingDivergedError:
    what = what or f"the loss of epoch {epoch + 1}/{epochs}, batch {step + 1}/{steps} is {loss}"
    if last_finite is None:
        before = "no batch before it had a finite loss; the weights are those fit started with"
    else:
        e, b, value = last_finite
        before = (f"the last finite batch loss was {value:.6g} (epoch {e + 1}/{epochs}, batch {b + 1}/{steps}); "
                  "the weights are restored to those it was computed on")
    return TrainingDivergedError(
        f"training diverged: {what}; {before}, and the optimizer starts afresh (its moments took in the "
        "non-finite step). Lower the learning rate, or pass callbacks=[npnet.callbacks.TerminateOnNaN()] "
        "to stop without an error.", epoch, step, loss, None if last_finite is None else last_finite[2])


class Sequential:
    """A linear stack of ``Dense`` layers with Keras's compile/fit/evaluate/predict API.

    All parameters live in one flat buffer (``npnet.params``); each layer's W,
    b, dW, db are views into it. The input size comes from the first layer's
    ``input_dim``/``input_shape``, a leading ``npnet.Input``, or the first data seen.
    ``dtype`` ("float32" or "float64") defaults to ``npnet.backend.floatx()``.
    """

    def __init__(self, layers: list | None = None, name: str | None = None, dtype: str | None = None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, got {name!r}")
        if layers is not None and not isinstance(layers, (list, tuple)):
            raise TypeError(f"layers must be a list of layers, got {type(layers).__name__}")
        self.name = name or unique_name("sequential")
        self.dtype = backend.float_dtype() if dtype is None else backend.float_dtype(dtype)
        self._layers: list[Dense] = []
        self._input_dim: int | None = None
        self._params: ParameterBuffer | None = None
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: losses.Loss | None = None
        self._metrics: list[metrics_module.Metric] = []
        self.stop_training = False
        self.history: History | None = None   # the History of the latest fit, set when it begins
        for layer in layers or []:
            self.add(layer)

    # -- structure ---------------------------------------------------------------------

    def add(self, layer: Dense | InputLayer) -> None:
        """Append a layer (or, first, an ``npnet.Input``).

        As in Keras, a layer gets its initial weights as soon as its input size
        is known, so the draws follow the order in which layers are added.
        """
        if isinstance(layer, InputLayer):
            if self._layers or self._input_dim is not None:
                raise ValueError("npnet.Input must come first and only once")
            self._input_dim = layer.input_dim
            return
        if not isinstance(layer, Dense):
            raise TypeError(f"layer must be an npnet Dense or Input, got {type(layer).__name__}")
        if any(layer is existing for existing in self._layers):
            raise ValueError(f"layer {layer.name!r} is already in this model")
        if layer.built:
            raise ValueError(f"layer {layer.name!r} already has weights of its own; add an unbuilt layer")
        if not self._layers and self._input_dim is None:
            self._input_dim = layer.input_dim
        elif layer.input_dim is not None and self._layers:
            raise ValueError(f"only the first layer may set input_dim (layer {layer.name!r})")
        if self.optimizer is not None and self.optimizer.iterations:
            raise ValueError("cannot add layers to a model that has been trained; build a new Sequential")
        self._layers.append(layer)
        if self._input_dim is not None:
            self._allocate(self._input_dim, new_layers=[layer] if self.built else self._layers)

    @property
    def layers(self) -> list[Dense]:
        """The Dense layers, in order (an ``Input`` is not a layer here, as in Keras)."""
        return list(self._layers)

    @property
    def built(self) -> bool:
        return self._params is not None

    @property
    def input_shape(self) -> tuple[None, int | None]:
        return (None, self._input_dim)

    def build(self, input_shape: Any = None) -> None:
        """Create the parameters: ``input_shape`` is ``(None, I)`` or ``(I,)``; omit it if the size is known."""
        if input_shape is None:
            input_dim = self._input_dim
        elif isinstance(input_shape, (tuple, list)) and (len(input_shape) == 1 or (
                len(input_shape) == 2 and input_shape[0] is None)):
            input_dim = check_int(input_shape[-1], "input_shape[-1]", minimum=1)
        else:
            raise ValueError(f"input_shape must be (None, n_features) or (n_features,), got {input_shape!r}")
        if input_dim is None:
            raise ValueError("the input size is unknown: pass input_shape, or give the first layer input_dim")
        self._build(input_dim)

    def _build(self, input_dim: int) -> None:
        """Create the parameters of a model whose input size was unknown until now (state changes here)."""
        if self.built:
            return
        if not self._layers:
            raise ValueError("the model has no layers; add Dense layers first")
        if self._input_dim is not None and input_dim != self._input_dim:
            raise ValueError(f"the model expects {self._input_dim} input features, got {input_dim}")
        self._allocate(input_dim, new_layers=self._layers)

    def _allocate(self, input_dim: int, new_layers: list[Dense]) -> None:
        """(Re)allocate the flat buffers for all layers, bind each layer's views, initialise ``new_layers``.

        Values already in the old buffer are copied over: new layers only ever
        come last, so every earlier tensor keeps its offset.
        """
        sizes = [input_dim] + [layer.units for layer in self._layers]
        shapes = [layer.parameter_shapes(n_in) for layer, n_in in zip(self._layers, sizes)]
        old, self._params = self._params, ParameterBuffer([s for layer_shapes in shapes for s in layer_shapes],
                                                          self.dtype)
        if old is not None:
            self._params.values[:old.size] = old.values
        self._bind_layers(input_dim)
        for layer in new_layers:
            layer.initialize()
        self._input_dim = input_dim

    def _bind_layers(self, input_dim: int) -> None:
        """Point every layer's W, b, dW, db at its views of the flat buffers (values are kept)."""
        sizes = [input_dim] + [layer.units for layer in self._layers]
        first = 0   # index of each layer's first tensor in the buffer's view lists
        for layer, n_in in zip(self._layers, sizes):
            last = first + len(layer.parameter_shapes(n_in))
            layer.bind(n_in, self._params.value_views[first:last], self._params.grad_views[first:last])
            first = last

    def __setstate__(self, state: dict[str, Any]) -> None:
        """After pickle or ``copy.deepcopy``: re-bind the layers to the copied buffer's views.

        Both copy each layer's W, b, dW, db as a detached array; training the
        copy would then update a buffer that no layer reads.
        """
        self.__dict__.update(state)
        if self._params is not None:
            self._bind_layers(self._input_dim)

    def count_params(self) -> int:
        """P, the number of scalar parameters (the model must be built)."""
        self._require_built("count_params")
        return self._params.size

    # -- compile -----------------------------------------------------------------------

    def compile(self, optimizer: optimizers.OptimizerLike = "adam", loss: losses.LossLike = None,
                metrics: list | None = None) -> None:
        """Choose the optimizer, the loss and the metrics reported by fit/evaluate.

        ``metrics=["accuracy"]`` means binary accuracy with binary crossentropy
        (npnet.metrics explains how Keras 3 differs).
        """
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='binary_crossentropy'")
        optimizer, loss = optimizers.get(optimizer), losses.get(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"metrics must be a list, got {type(metrics).__name__}")
        metric_objects = [metrics_module.get(m, loss) for m in metrics or []]
        names = [m.name for m in metric_objects]
        if len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"metric names must be distinct and not 'loss', got {names}")
        self.optimizer, self.loss, self._metrics = optimizer, loss, metric_objects
        self._fused_loss = losses.SigmoidBinaryCrossentropy(getattr(loss, "pos_weight", None),
                                                            getattr(loss, "label_smoothing", 0.0))

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + [m.name for m in self._metrics]

    def _training_loss(self) -> tuple[losses.Loss, bool]:
        """The loss the training step uses, and whether the output layer then stops at its logits.

        With a sigmoid output and binary crossentropy, Keras (and npnet) compute
        the loss from the logits: finite for any logit, gradient (p - y) / (N*K)
        (docs/backprop.md#sigmoid-and-binary-crossentropy).
        """
        plain = (isinstance(self.loss, losses.BinaryCrossentropy)   # a subclass's own forward/backward is kept
                 and type(self.loss).forward is losses.BinaryCrossentropy.forward
                 and type(self.loss).backward is losses.BinaryCrossentropy.backward)
        fused = plain and not self.loss.from_logits and self._layers[-1].activation is activations.sigmoid
        return (self._fused_loss if fused else self.loss), fused

    # -- checks at the boundary -------------------------------------------------------------

    def _require_compiled(self, method: str) -> None:
        if self.loss is None:
            raise NotCompiledError(f"call compile() before {method}()")

    def _require_built(self, method: str) -> None:
        if not self.built:
            raise ValueError(f"{method}(): the model has no weights yet; build it or fit it first")

    def _check_x(self, x: Any, name: str = "x") -> np.ndarray:
        if not self._layers:
            raise ValueError("the model has no layers; add Dense layers first")
        x = as_float_array(x, name, self.dtype, ndim=2)
        if self._input_dim is not None and x.shape[1] != self._input_dim:
            raise ValueError(f"{name} must have {self._input_dim} columns (features), got shape {x.shape}")
        return x

    def _check_xy(self, x: Any, y: Any, prefix: str = "") -> tuple[np.ndarray, np.ndarray]:
        x = self._check_x(x, prefix + "x")
        units = self._layers[-1].units
        y_array = as_real_array(y, prefix + "y")
        if y_array.ndim == 1 and units == 1:   # Keras accepts (N,) targets for a one-unit output
            y_array = y_array.reshape(-1, 1)
        y = as_float_array(y_array, prefix + "y", self.dtype, ndim=2)
        if y.shape[1] != units:
            raise ValueError(f"{prefix}y must have {units} columns (one per output unit), got shape {y.shape}")
        if len(y) != len(x):
            raise ValueError(f"{prefix}x and {prefix}y must have the same number of samples, "
                             f"got {len(x)} and {len(y)}")
        if isinstance(self.loss, losses.BinaryCrossentropy):
            check_unit_interval(y, prefix + "y")
            pos_weight = losses.check_pos_weight(self.loss.pos_weight, units)
            if pos_weight is not None:
                as_float_array(pos_weight, "pos_weight", self.dtype, ndim=1)   # must fit the model's dtype
        return x, y

    def _check_sample_weight(self, sample_weight: Any, n: int, prefix: str = "") -> np.ndarray | None:
        return None if sample_weight is None else check_sample_weight(sample_weight, n, self.dtype,
                                                                      prefix + "sample_weight")

    # -- forward, backward, one step ---------------------------------------------------------

    def _forward(self, x: np.ndarray, logits: bool = False) -> np.ndarray:
        """x (N, I) -> the output (N, K): probabilities, or the last layer's logits if ``logits``."""
        last = self._layers[-1]
        for layer in self._layers:
            x = layer.forward(x, activate=not (logits and layer is last))
        return x

    def _backward(self, doutput: np.ndarray) -> None:
        """The chain rule, last layer first: each layer turns dL/d(its output) into dL/d(its input).

        docs/backprop.md#the-chain-rule-layer-by-layer writes it out for the tutorial's network.
        """
        d = doutput
        for layer in reversed(self._layers[1:]):
            d = layer.backward(d)
        self._layers[0].backward(d, need_dx=False)   # nothing upstream needs dL/d(data)

    def _forward_loss(self, x: np.ndarray, y: np.ndarray, loss: losses.Loss, logits: bool,
                      metric_objects: list, sample_weight: np.ndarray | None = None) -> float:
        """Forward and loss of one batch; updates ``metric_objects`` from the probabilities.

        ``sample_weight`` (N,) weighs the loss only: compiled metrics stay
        unweighted, as Keras's ``metrics`` (it weighs only ``weighted_metrics``).
        """
        output = self._forward(x, logits)
        value = loss.forward(y, output, sample_weight)
        if metric_objects:
            probabilities = loss.probabilities if logits else output
            for metric in metric_objects:
                metric.update(y, probabilities)
        return value

    def _train_step(self, x: np.ndarray, y: np.ndarray, loss: losses.Loss, logits: bool,
                    sample_weight: np.ndarray | None = None) -> float:
        """One step on a batch: forward, loss, backward, update. Returns the loss before the update."""
        value = self._forward_loss(x, y, loss, logits, self._metrics, sample_weight)
        self._backward(loss.backward())
        self.optimizer.apply([(self._params.grads, self._params.values)])
        return value

    def _reset_metrics(self) -> None:
        for metric in self._metrics:
            metric.reset_state()

    def _metric_logs(self) -> dict[str, float]:
        return {metric.name: metric.result() for metric in self._metrics}

    # -- training --------------------------------------------------------------------------

    def fit(self, x: Any, y: Any, batch_size: int | None = 32, epochs: int = 1, verbose: int | str = "auto",
            validation_split: float = 0.0, validation_data: tuple | None = None, shuffle: bool = True,
            callbacks: list[Callback] | None = None, sample_weight: Any = None,
            class_weight: dict | None = None) -> History:
        """Train for ``epochs`` passes over x (N, I), y (N, K) in mini-batches; returns a ``History``.

        ``validation_split`` holds out the LAST fraction of the samples before
        shuffling (split_at = floor(N * (1 - validation_split))), as Keras.
        Each epoch's "loss" is the batch-size-weighted mean of the batch losses,
        each computed before its update.

        ``sample_weight`` (N,) weighs each sample's loss, split and shuffled with
        x and y; ``validation_data`` may be (x_val, y_val, sample_weight_val).
        ``class_weight`` {class: weight} turns a one-unit output's 0/1 targets into
        sample weights, as Keras does, for the training data only. For several
        labels Keras's class_weight uses argmax(y) -- one class per sample -- which
        misweights multilabel targets, so npnet refuses it there: per-label
        weights are ``BinaryCrossentropy(pos_weight=...)`` (docs/backprop.md#weighted-losses).

        Stops: a callback setting ``stop_training`` in a batch hook ends the epoch
        after that batch, in ``on_epoch_end`` ends training (``npnet.callbacks``).
        A batch loss that is NaN or inf raises ``TrainingDivergedError`` naming
        the epoch and batch, with the weights put back to the last ones whose loss
        was finite, unless a callback stopped training at that batch
        (``TerminateOnNaN``). On that error and on KeyboardInterrupt, the callbacks'
        ``on_train_end`` runs before the exception propagates, and ``model.history``
        holds the epochs that completed.
        """
        self._require_compiled("fit")
        batch_size = _batch_size(batch_size)
        epochs = check_int(epochs, "epochs", minimum=0)
        verbose = _check_verbose(verbose)
        validation_split = check_float(validation_split, "validation_split", 0.0, 1.0, high_open=True)
        shuffle = check_bool(shuffle, "shuffle")
        callbacks = [] if callbacks is None else callbacks
        if not isinstance(callbacks, (list, tuple)) or not all(isinstance(c, Callback) for c in callbacks):
            raise TypeError("callbacks must be a list of npnet.callbacks.Callback")
        x, y = self._check_xy(x, y)
        sample_weight = self._check_sample_weight(sample_weight, len(x))
        w_val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise TypeError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight_val)")
            x_val, y_val = self._check_xy(*validation_data[:2], prefix="validation_data ")
            if len(validation_data) == 3:
                w_val = self._check_sample_weight(validation_data[2], len(x_val), "validation_data ")
            if x_val.shape[1] != x.shape[1]:
                raise ValueError(f"validation_data x has {x_val.shape[1]} columns, x has {x.shape[1]}")
        elif validation_split:
            split_at = math.floor(len(x) * (1.0 - validation_split))
            if split_at == 0 or split_at == len(x):
                raise ValueError(f"validation_split={validation_split} leaves {split_at} of {len(x)} "
                                 "samples for training; both parts need at least one")
            x, x_val, y, y_val = x[:split_at], x[split_at:], y[:split_at], y[split_at:]
            if sample_weight is not None:
                sample_weight, w_val = sample_weight[:split_at], sample_weight[split_at:]
        else:
            x_val = y_val = None
        if class_weight is not None:
            sample_weight = self._class_weights_as_sample_weights(class_weight, y, sample_weight)
        # -- every argument is valid: from here on, state changes --
        self._build(x.shape[1])
        loss, logits = self._training_loss()
        n, steps = len(x), math.ceil(len(x) / batch_size)
        history = History()
        all_callbacks = [history] + ([ProgbarLogger(verbose, epochs, steps)] if verbose else []) + list(callbacks)
        begin_hooks = [c for c in all_callbacks
                       if type(c).on_train_batch_begin is not Callback.on_train_batch_begin]
        batch_hooks = [c for c in all_callbacks if type(c).on_train_batch_end is not Callback.on_train_batch_end]
        self.stop_training = False
        guard, last_finite, epoch_logs = _LastFiniteWeights(self._params.values), None, None
        for c in all_callbacks:
            c.set_model(self)
            c.on_train_begin()
        # A KeyboardInterrupt lands between two Python statements. The weight update is one
        # in-place NumPy operation on the whole buffer, which Python cannot interrupt midway, so
        # the weights are always those after a whole step (the last one completed, or the one
        # the interrupt arrived in if it came after its update); only the optimizer's slots and
        # iteration count can be caught part-way through a step.
        try:
            # One shuffled copy per epoch, so every batch is a contiguous slice.
            x_epoch, y_epoch = (np.empty_like(x), np.empty_like(y)) if shuffle else (x, y)
            w_epoch = sample_weight.copy() if shuffle and sample_weight is not None else sample_weight
            for epoch in range(epochs):
                for c in all_callbacks:
                    c.on_epoch_begin(epoch)
                if shuffle:
                    order = utils.random_generator().permutation(n)
                    np.take(x, order, axis=0, out=x_epoch)
                    np.take(y, order, axis=0, out=y_epoch)
                    if sample_weight is not None:
                        np.take(sample_weight, order, out=w_epoch)
                self._reset_metrics()
                loss_sum, seen = 0.0, 0
                for step in range(steps):
                    start, seen = step * batch_size, min((step + 1) * batch_size, n)
                    for c in begin_hooks:
                        c.on_train_batch_begin(step)
                    guard.save()
                    value = self._train_step(x_epoch[start:seen], y_epoch[start:seen], loss, logits,
                                             None if w_epoch is None else w_epoch[start:seen])
                    loss_sum += (seen - start) * value
                    if batch_hooks:
                        logs = {"loss": loss_sum / seen, **self._metric_logs()}
                        for c in batch_hooks:
                            c.on_train_batch_end(step, logs)
                    if math.isfinite(value):
                        guard.step_was_finite()
                        last_finite = (epoch, step, value)
                    elif not self.stop_training:   # a callback that stops here (TerminateOnNaN) goes first
                        guard.restore()
                        self.optimizer.reset()
                        raise _diverged(epoch, epochs, step, steps, value, last_finite)
                    if self.stop_training:
                        break
                if math.isfinite(value) and not np.isfinite(self._params.values).all():   # its last update overflowed
                    guard.restore()
                    self.optimizer.reset()
                    raise _diverged(epoch, epochs, step, steps, value, last_finite,
                                    f"the update of epoch {epoch + 1}/{epochs}, batch {step + 1}/{steps} "
                                    f"(loss {value:.6g}) made the weights non-finite")
                epoch_logs = {"loss": loss_sum / seen, **self._metric_logs()}
                if x_val is not None:
                    val = self._evaluate_arrays(x_val, y_val, batch_size, loss, logits, sample_weight=w_val)
                    epoch_logs.update({"val_" + key: value for key, value in val.items()})
                for c in all_callbacks:
                    c.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
        except (KeyboardInterrupt, TrainingDivergedError):
            # Both leave consistent weights, so checkpoints and restored weights still apply.
            for c in all_callbacks:
                c.on_train_end(epoch_logs)
            raise
        for c in all_callbacks:
            c.on_train_end(epoch_logs)
        return history

    def _class_weights_as_sample_weights(self, class_weight: Any, y: np.ndarray,
                                         sample_weight: np.ndarray | None) -> np.ndarray:
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
                                   self.dtype, ndim=1)   # refuses weights that overflow the model's dtype
        return per_class[np.round(y[:, 0]).astype(np.int64)]   # targets lie in [0, 1]: classes 0 and 1

    def train_on_batch(self, x: Any, y: Any, sample_weight: Any = None) -> float | list[float]:
        """One update on one batch; returns that batch's loss (and metrics), computed before the update.

        Keras 3 instead returns running means since the last ``reset_metrics``
        (README, "where npnet differs from Keras"). ``sample_weight`` (N,) as in ``fit``.
        """
        self._require_compiled("train_on_batch")
        x, y = self._check_xy(x, y)
        sample_weight = self._check_sample_weight(sample_weight, len(x))
        self._build(x.shape[1])
        self._reset_metrics()
        value = self._train_step(x, y, *self._training_loss(), sample_weight)
        return [value, *self._metric_logs().values()] if self._metrics else value

    def loss_and_gradients(self, x: Any, y: Any, sample_weight: Any = None) -> tuple[float, list[np.ndarray]]:
        """(loss, [dW1, db1, dW2, ...]) on one batch, in ``get_weights()`` order, without updating."""
        self._require_compiled("loss_and_gradients")
        x, y = self._check_xy(x, y)
        sample_weight = self._check_sample_weight(sample_weight, len(x))
        self._build(x.shape[1])
        loss, logits = self._training_loss()
        value = self._forward_loss(x, y, loss, logits, [], sample_weight)
        self._backward(loss.backward())
        return value, [g.copy() for g in self._params.grad_views]

    def trace(self, x: Any, y: Any) -> trace_module.StepTrace:
        """One training step on the batch (x, y), recorded layer by layer; the model is left unchanged.

        ``print(model.trace(x, y))`` shows each layer's z, y, dy, dz, dW, db and the
        optimizer's update (``npnet.trace``; docs/backprop.md#tracing-a-step).
        """
        self._require_compiled("trace")
        x, y = self._check_xy(x, y)
        self._build(x.shape[1])
        return trace_module.trace_step(self, x, y)

    # -- inference ---------------------------------------------------------------------------

    def _evaluate_arrays(self, x: np.ndarray, y: np.ndarray, batch_size: int, loss: losses.Loss,
                         logits: bool, progbar: Progbar | None = None,
                         sample_weight: np.ndarray | None = None) -> dict[str, float]:
        """Batch-size-weighted mean loss and the metrics over checked arrays."""
        self._reset_metrics()
        loss_sum, n = 0.0, len(x)
        for step, start in enumerate(range(0, n, batch_size)):
            stop = min(start + batch_size, n)
            weights = None if sample_weight is None else sample_weight[start:stop]
            loss_sum += (stop - start) * self._forward_loss(x[start:stop], y[start:stop], loss, logits,
                                                            self._metrics, weights)
            if progbar:
                progbar.update(step + 1, {"loss": loss_sum / stop, **self._metric_logs()})
        return {"loss": loss_sum / n, **self._metric_logs()}

    def evaluate(self, x: Any, y: Any, batch_size: int | None = 32, verbose: int | str = "auto",
                 sample_weight: Any = None) -> float | list[float]:
        """``[loss, *metrics]`` on (x, y), or the bare loss without metrics; ``sample_weight`` (N,) as in ``fit``."""
        self._require_compiled("evaluate")
        batch_size, verbose = _batch_size(batch_size), _check_verbose(verbose)
        x, y = self._check_xy(x, y)
        sample_weight = self._check_sample_weight(sample_weight, len(x))
        self._build(x.shape[1])
        progbar = Progbar(math.ceil(len(x) / batch_size), verbose) if verbose else None
        logs = self._evaluate_arrays(x, y, batch_size, *self._training_loss(), progbar=progbar,
                                     sample_weight=sample_weight)
        return list(logs.values()) if self._metrics else logs["loss"]

    def predict(self, x: Any, batch_size: int | None = 32, verbose: int | str = "auto") -> np.ndarray:
        """Outputs for x (N, I): a new (N, K) array (probabilities for a sigmoid output)."""
        batch_size, verbose = _batch_size(batch_size), _check_verbose(verbose)
        x = self._check_x(x)
        self._build(x.shape[1])
        out = np.empty((len(x), self._layers[-1].units), self.dtype)
        progbar = Progbar(math.ceil(len(x) / batch_size), verbose) if verbose else None
        for step, start in enumerate(range(0, len(x), batch_size)):
            out[start:start + batch_size] = self._forward(x[start:start + batch_size])
            if progbar:
                progbar.update(step + 1, {})
        return out

    def __call__(self, x: Any) -> np.ndarray:
        """``predict(x)`` in one batch, silently."""
        x = self._check_x(x)
        return self.predict(x, batch_size=len(x), verbose=0)

    # -- weights ---------------------------------------------------------------------------

    def get_weights(self) -> list[np.ndarray]:
        """Copies [W1, b1, W2, b2, ...], the order and shapes of Keras's ``get_weights``."""
        return [w.copy() for w in self._params.value_views] if self.built else []

    def set_weights(self, weights: list[Any]) -> None:
        """Write weights in ``get_weights()`` order through the views into the buffer.

        An unbuilt model takes its input size from the first kernel and is built.
        """
        if not self.built:
            if not isinstance(weights, (list, tuple)) or not weights or np.ndim(weights[0]) != 2:
                raise ValueError("set_weights on an unbuilt model needs a list starting with a 2-D kernel")
            self._check_buildable(np.shape(weights[0])[0], weights)
            self._build(np.shape(weights[0])[0])
        checked = check_weights_list(weights, self._params.value_views, "weights")
        for view, value in zip(self._params.value_views, checked):
            view[...] = value

    def _check_buildable(self, input_dim: int, weights: list[Any]) -> None:
        """Refuse, before building, weights that would not fit the model built for ``input_dim``."""
        if not self._layers:
            raise ValueError("the model has no layers; add Dense layers first")
        if self._input_dim is not None and input_dim != self._input_dim:
            raise ValueError(f"weights[0] has {input_dim} rows, the model expects {self._input_dim} inputs")
        sizes = [input_dim] + [layer.units for layer in self._layers]
        # Read-only zero-stride stand-ins: a config claiming 10**15 units allocates nothing here.
        expected = [np.broadcast_to(np.zeros((), self.dtype), s) for layer, n_in in zip(self._layers, sizes)
                    for s in layer.parameter_shapes(n_in)]
        check_weights_list(weights, expected, "weights")

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write the weights to an ``.npz`` file (no pickle), atomically (``npnet.saving``)."""
        path = _npz_path(path)
        self._require_built("save_weights")
        saving.write_archive(path, saving.weights_to_arrays(self._params.value_views))

    def load_weights(self, path: str | os.PathLike) -> None:
        """Read weights written by ``save_weights``; refuses pickles and weights of other shapes."""
        path = os.fspath(path)
        self.set_weights(saving.arrays_to_weights(saving.read_archive(path), path))

    def save(self, path: str | os.PathLike) -> None:
        """Write architecture, compile settings and weights to one file (atomically, no pickle).

        ``npnet.models.load_model(path)`` gives back an equal model; weights round-trip bit-exactly.
        """
        path = _npz_path(path)
        self._require_built("save")
        config = {"model": self.get_config(), "compile": self._compile_config()}
        saving.write_archive(path, {"config": saving.config_to_array(config),
                                    **saving.weights_to_arrays(self._params.value_views)})

    # -- configs -------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """The architecture as plain JSON-able data: name, dtype, input size and each layer's config."""
        return {"name": self.name, "dtype": self.dtype.name, "input_dim": self._input_dim,
                "layers": [layer.get_config() for layer in self._layers]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        """A new, unbuilt model from ``get_config()`` data (names are kept)."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("config must be a dict with a 'layers' list")
        model = cls(name=config.get("name"), dtype=config.get("dtype"))
        if config.get("input_dim") is not None:
            model.add(InputLayer((config["input_dim"],)))
        for layer_config in config["layers"]:
            if not isinstance(layer_config, dict):
                raise ValueError(f"each layer config must be a dict, got {layer_config!r}")
            model.add(Dense(**layer_config))
        return model

    def _compile_config(self) -> dict[str, Any] | None:
        if self.loss is None:
            return None
        return {"loss": self.loss.get_config(), "optimizer": self.optimizer.get_config(),
                "metrics": [metrics_module.serialize(metric) for metric in self._metrics]}

    def _compile_from_config(self, config: dict[str, Any]) -> None:
        if not isinstance(config, dict):
            raise ValueError(f"compile config must be a dict, got {config!r}")
        self.compile(optimizer=optimizers.from_config(config.get("optimizer")),
                     loss=losses.from_config(config.get("loss")), metrics=config.get("metrics") or None)

    # -- display -----------------------------------------------------------------------------

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print a table of layers, output shapes and parameter counts, as Keras does."""
        rule = "_" * 65
        lines = [f'Model: "{self.name}"', rule, f" {'Layer (type)':<28}{'Output Shape':<26}Param #", "=" * 65]
        for layer in self._layers:
            params = layer.count_params() if layer.built else "0 (unbuilt)"
            lines.append(f" {layer.name + ' (Dense)':<28}{str((None, layer.units)):<26}{params}")
        lines.append("=" * 65)
        if self.built:
            size = self._params.values.nbytes
            lines.append(f"Total params: {self._params.size} ({size / 1024:.2f} KB)")
        else:
            lines.append("Total params: unknown until the model is built (input size not yet known)")
        lines.append(rule)
        print_fn("\n".join(lines))


def _npz_path(path: str | os.PathLike) -> str:
    """``path`` as a str ending in ".npz", the only format npnet writes (NumPy's archive, read without pickle)."""
    path = os.fspath(path)
    if not isinstance(path, str) or not path.endswith(".npz"):
        raise ValueError(f"path must end with '.npz', got {path!r}")
    return path


def load_model(path: str | os.PathLike) -> Sequential:
    """A model written by ``Sequential.save``: same layers, names, compile settings and weights.

    Refuses pickles, other formats and versions, and any file whose config
    and weights disagree, with a ValueError naming the file.
    """
    path = os.fspath(path)
    arrays = saving.read_archive(path)
    if "config" not in arrays:
        raise ValueError(f"{path!r} holds weights only (written by save_weights?); use load_weights")
    config = saving.array_to_config(arrays.pop("config"), path)
    weights = saving.arrays_to_weights(arrays, path)
    try:
        saving.check_keys(config, ("model", "compile"), "the file's config")
        model_config = config.get("model")
        if not isinstance(model_config, dict):
            raise ValueError("config must be a dict with a 'layers' list")
        saving.check_keys(model_config, ("name", "dtype", "input_dim", "layers"), "the model config")
        for index, layer_config in enumerate(model_config.get("layers") or []):
            if isinstance(layer_config, dict):
                saving.check_keys(layer_config, ("units", "activation", "use_bias", "name"),
                                  f"layer config {index}")
        if config.get("compile") is not None:
            saving.check_keys(config["compile"], ("loss", "optimizer", "metrics"), "the compile config")
        # Built from the weights' shapes, not the config's sizes: a file cannot make npnet
        # allocate more than it holds. The declared input size must then agree.
        model = Sequential.from_config({**model_config, "input_dim": None})
        if config.get("compile") is not None:
            model._compile_from_config(config["compile"])
        model.set_weights(weights)
        if model_config.get("input_dim") not in (None, model.input_shape[1]):
            raise ValueError(f"the config declares {model_config['input_dim']!r} input features, "
                             f"the weights have {model.input_shape[1]}")
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path!r} does not describe a valid npnet model: {error}") from None
    return model
