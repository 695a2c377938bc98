"""``Sequential``: a stack of layers with Keras's compile/fit/evaluate/predict API.

The model holds the structure (layers and the flat parameter buffer of
``npnet.params``), the compile settings, prediction, weights and files. The
training loop is ``npnet.training``'s: ``fit`` checks its arguments and
orchestrates that module's parts; one step (``npnet.training.Step``) is the
whole algorithm: forward through the layers, loss, backward through the
layers in reverse (the chain rule made literal), one optimizer update on the
trainable slice of the buffer. Shapes: x (N, I), y (N, K); glossary in ``npnet.layers.base``.
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable

import numpy as np

from npnet import backend, layers as layers_module, losses, metrics as metrics_module, optimizers, saving
from npnet import trace as trace_module
from npnet import training
from npnet._validation import as_float_array, check_bool, check_float, check_int, check_sample_weight, \
    check_weights_list
from npnet.callbacks import Callback, History, ProgbarLogger
from npnet.layers import InputLayer, Layer, unique_name
from npnet.params import ParameterBuffer
from npnet.progbar import Progbar
from npnet.training import TrainingDivergedError  # noqa: F401 -- public here since before npnet.training


class NotCompiledError(ValueError, RuntimeError):
    """Raised when training or evaluating a model that was never compiled.

    A ValueError as npnet's other argument errors, and a RuntimeError as Keras raises.
    """


class Sequential:
    """A linear stack of layers (``npnet.layers``) with Keras's compile/fit/evaluate/predict API.

    All parameters live in one flat buffer (``parameters``, ``npnet.params``);
    each layer's weights are views into it, the trainable ones first. The input
    size comes from the first layer's ``input_dim``/``input_shape``, a leading
    ``npnet.Input``, or the first data seen. ``dtype`` ("float32" or "float64")
    defaults to ``npnet.backend.floatx()``.
    """

    def __init__(self, layers: list | None = None, name: str | None = None, dtype: str | None = None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, got {name!r}")
        if layers is not None and not isinstance(layers, (list, tuple)):
            raise TypeError(f"layers must be a list of layers, got {type(layers).__name__}")
        self.name = name or unique_name("sequential")
        self.dtype = backend.float_dtype() if dtype is None else backend.float_dtype(dtype)
        self._layers: list[Layer] = []
        self._input_dim: int | None = None
        self._params: ParameterBuffer | None = None
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: losses.Loss | None = None
        self._metrics: list[metrics_module.Metric] = []
        self._fused: tuple[Any, losses.Loss | None] | None = None   # (output activation, its fused loss)
        self.stop_training = False
        self.history: History | None = None   # the History of the latest fit, set when it begins
        for layer in layers or []:
            self.add(layer)

    # -- structure ---------------------------------------------------------------------

    def add(self, layer: Layer | InputLayer) -> None:
        """Append a layer (or, first, an ``npnet.Input``).

        As in Keras, a layer gets its initial weights as soon as its input size
        is known, so the draws follow the order in which layers are added.
        """
        if isinstance(layer, InputLayer):
            if self._layers or self._input_dim is not None:
                raise ValueError("npnet.Input must come first and only once")
            self._input_dim = layer.input_dim
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"layer must be an npnet layer ({', '.join(layers_module.names())}, or a "
                            f"npnet.layers.Layer of your own) or Input, got {type(layer).__name__}")
        if layer.wants_ones_column:
            raise ValueError(f"layer {layer.name!r} asks for a constant-1 input column, which Sequential "
                             "does not provide yet")
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
    def layers(self) -> list[Layer]:
        """The layers, in order (an ``Input`` is not a layer here, as in Keras)."""
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

    def _specs(self, input_dim: int) -> list[list[layers_module.Weight]]:
        """Each layer's ``weights_spec`` for the model's input size, in order."""
        specs = []
        for layer in self._layers:
            specs.append(layer.weights_spec(input_dim))
            input_dim = layer.output_dim(input_dim)
        return specs

    def _allocate(self, input_dim: int, new_layers: list[Layer]) -> None:
        """(Re)allocate the flat buffers for all layers, bind each layer's views, initialise ``new_layers``.

        A weight is trainable when its spec and its layer say so (``layer.trainable``);
        the old buffer's values are copied over view by view.
        """
        specs = self._specs(input_dim)
        old, self._params = self._params, ParameterBuffer(
            [w.shape for s in specs for w in s], self.dtype,
            [w.trainable and layer.trainable for layer, s in zip(self._layers, specs) for w in s])
        for new, previous in zip(self._params.value_views, old.value_views if old is not None else []):
            new[...] = previous   # new layers only ever come last: earlier tensors keep their place in the order
        self._input_dim = input_dim
        self._bind_layers()
        for layer in new_layers:
            layer.initialize()

    def _bind_layers(self) -> None:
        """Point every layer at its views of the flat buffers (values are kept)."""
        first, input_dim = 0, self._input_dim   # index of each layer's first tensor in the buffer's view lists
        for layer, specs in zip(self._layers, self._specs(self._input_dim)):
            last = first + len(specs)
            layer.bind(input_dim, self._params.value_views[first:last], self._params.grad_views[first:last])
            first, input_dim = last, layer.output_dim(input_dim)

    def _output_dim(self, input_dim: int) -> int:
        for layer in self._layers:
            input_dim = layer.output_dim(input_dim)
        return input_dim

    def __setstate__(self, state: dict[str, Any]) -> None:
        """After pickle or ``copy.deepcopy``: re-bind the layers to the copied buffer's views.

        Both copy each layer's views as detached arrays; training the copy would
        then update a buffer that no layer reads.
        """
        self.__dict__.update(state)
        if self._params is not None:
            self._bind_layers()

    def count_params(self) -> int:
        """P, the number of scalar parameters (the model must be built)."""
        self._require_built("count_params")
        return self._params.size

    @property
    def parameters(self) -> ParameterBuffer:
        """The flat ``values``/``grads`` buffers (P,) and their views; the trainable slice is ``[:trainable_size]``."""
        self._require_built("parameters")
        return self._params

    @property
    def weights(self) -> list[np.ndarray]:
        """Views of every weight, in ``get_weights()`` order (Keras's ``model.weights``)."""
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    # -- compile -----------------------------------------------------------------------

    def compile(self, optimizer: optimizers.OptimizerLike = "adam", loss: losses.LossLike = None,
                metrics: list | None = None) -> None:
        """Choose the optimizer, the loss and the metrics reported by fit/evaluate.

        ``metrics=["accuracy"]`` means the loss's ``accuracy_metric`` (binary
        accuracy with binary crossentropy; npnet.metrics explains how Keras 3
        differs). Layers frozen (``trainable = False``) before compile stay
        frozen: their weights move out of the optimizer's slice.
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
        self.optimizer, self.loss, self._metrics, self._fused = optimizer, loss, metric_objects, None
        if self._trainable_changed():
            self._allocate(self._input_dim, new_layers=[])

    def _trainable_changed(self) -> bool:
        """Whether some ``layer.trainable`` differs from the buffer's layout (set since it was made)."""
        return self.built and self._params.trainable != [
            w.trainable and layer.trainable for layer, s in zip(self._layers, self._specs(self._input_dim)) for w in s]

    @property
    def metrics(self) -> list[metrics_module.Metric]:
        """The compiled metric objects, in order."""
        return list(self._metrics)

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + [m.name for m in self._metrics]

    def training_loss(self) -> tuple[losses.Loss, bool]:
        """The loss the training step uses, and whether the output layer then stops at its logits.

        The compiled loss offers a fused version for the output layer's activation
        (``Loss.fused``): sigmoid + binary crossentropy work from the logits, as in
        Keras (docs/backprop.md#sigmoid-and-binary-crossentropy).
        """
        self._require_compiled("training_loss")
        activation = getattr(self._layers[-1], "activation", None)
        if self._fused is None or self._fused[0] is not activation:
            self._fused = (activation, self.loss.fused(activation))
        return (self.loss, False) if self._fused[1] is None else (self._fused[1], True)

    # -- checks at the boundary -------------------------------------------------------------

    def _require_compiled(self, method: str) -> None:
        if self.loss is None:
            raise NotCompiledError(f"call compile() before {method}()")

    def _require_current_layout(self, method: str) -> None:
        if self._trainable_changed():
            raise ValueError(f"a layer's trainable flag changed after compile(); call compile() again before "
                             f"{method}() (as Keras requires) so that frozen weights leave the optimizer's slice")

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
        y = self.loss.check_targets(y, self._output_dim(x.shape[1]), self.dtype, prefix + "y")
        if len(y) != len(x):
            raise ValueError(f"{prefix}x and {prefix}y must have the same number of samples, "
                             f"got {len(x)} and {len(y)}")
        return x, y

    def _check_sample_weight(self, sample_weight: Any, n: int, prefix: str = "") -> np.ndarray | None:
        return None if sample_weight is None else check_sample_weight(sample_weight, n, self.dtype,
                                                                      prefix + "sample_weight")

    def check_data(self, x: Any, y: Any, sample_weight: Any = None, method: str = "check_data") -> tuple:
        """(x, y, sample_weight) checked against this compiled model and its loss, as arrays; builds the model."""
        self._require_compiled(method)
        self._require_current_layout(method)
        x, y = self._check_xy(x, y)
        sample_weight = self._check_sample_weight(sample_weight, len(x))
        self._build(x.shape[1])
        return x, y, sample_weight

    # -- training --------------------------------------------------------------------------

    def fit(self, x: Any, y: Any, batch_size: int | None = 32, epochs: int = 1, verbose: int | str = "auto",
            validation_split: float = 0.0, validation_data: tuple | None = None, shuffle: bool = True,
            callbacks: list[Callback] | None = None, sample_weight: Any = None,
            class_weight: dict | None = None) -> History:
        """Train for ``epochs`` passes over x (N, I), y (N, K) in mini-batches; returns a ``History``.

        ``validation_split`` holds out the LAST fraction of the samples before
        shuffling, as Keras. Each epoch's "loss" is the batch-size-weighted mean
        of the batch losses, each computed before its update. ``sample_weight``
        (N,) weighs each sample's loss, split and shuffled with x and y;
        ``validation_data`` may be (x_val, y_val, sample_weight_val).
        ``class_weight`` {class: weight} turns a one-unit output's 0/1 targets into
        sample weights, as Keras does, for the training data only; for several
        labels npnet refuses it (Keras would weigh by argmax): per-label weights
        are ``BinaryCrossentropy(pos_weight=...)`` (docs/backprop.md#weighted-losses).

        Stops and failures (``npnet.training.run_epochs``): a callback setting
        ``stop_training`` in a batch hook ends the epoch after that batch, in
        ``on_epoch_end`` ends training. A batch loss that is NaN or inf raises
        ``TrainingDivergedError`` naming the epoch and batch, with the weights put
        back to the last ones whose loss was finite, unless a callback stopped
        training at that batch (``TerminateOnNaN``). On that error and on
        KeyboardInterrupt, the callbacks' ``on_train_end`` runs before the
        exception propagates, and ``model.history`` holds the epochs that completed.
        """
        self._require_compiled("fit")
        self._require_current_layout("fit")
        batch_size, verbose = training.check_batch_size(batch_size), training.check_verbose(verbose)
        epochs = check_int(epochs, "epochs", minimum=0)
        validation_split = check_float(validation_split, "validation_split", 0.0, 1.0, high_open=True)
        shuffle = check_bool(shuffle, "shuffle")
        x, y = self._check_xy(x, y)
        sample_weight, validation = self._check_sample_weight(sample_weight, len(x)), None
        if validation_data is not None:
            validation = self._check_validation_data(validation_data, x.shape[1])
        elif validation_split:
            (x, y, sample_weight), validation = training.split_validation(x, y, sample_weight, validation_split)
        if class_weight is not None:
            sample_weight = training.class_weights_as_sample_weights(class_weight, y, sample_weight, self.dtype)
        data = training.EpochIterator(x, y, sample_weight, batch_size, shuffle)
        callback_list = training.CallbackList(
            callbacks, self, add_history=True,
            progbar=ProgbarLogger(verbose, epochs, data.num_batches) if verbose else None)
        # -- every argument is valid: from here on, state changes --
        self._build(x.shape[1])
        training.run_epochs(self, data, epochs, callback_list, validation, batch_size)
        return callback_list.history

    def _check_validation_data(self, validation_data: Any, columns: int) -> tuple:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight_val)")
        x_val, y_val = self._check_xy(*validation_data[:2], prefix="validation_data ")
        w_val = None if len(validation_data) == 2 else self._check_sample_weight(
            validation_data[2], len(x_val), "validation_data ")
        if x_val.shape[1] != columns:
            raise ValueError(f"validation_data x has {x_val.shape[1]} columns, x has {columns}")
        return x_val, y_val, w_val

    def train_on_batch(self, x: Any, y: Any, sample_weight: Any = None) -> float | list[float]:
        """One update on one batch; returns that batch's loss (and metrics), computed before the update.

        Keras 3 instead returns running means since the last ``reset_metrics``
        (README, "where npnet differs from Keras"). ``sample_weight`` (N,) as in ``fit``.
        """
        x, y, sample_weight = self.check_data(x, y, sample_weight, "train_on_batch")
        step = training.Step(self)
        step.reset_metrics()
        value = step(x, y, sample_weight)
        return [value, *step.metric_logs().values()] if self._metrics else value

    def loss_and_gradients(self, x: Any, y: Any, sample_weight: Any = None) -> tuple[float, list[np.ndarray]]:
        """(loss, gradients) on one batch without updating: a copy of the gradient of every trainable weight,
        in ``get_weights()`` order (all of them unless layers are frozen)."""
        x, y, sample_weight = self.check_data(x, y, sample_weight, "loss_and_gradients")
        step = training.Step(self)
        value = step.forward_loss(x, y, sample_weight, training=True, update_metrics=False)
        step.backward(step.loss.backward())
        return value, [g.copy() for g in self._params.grad_views if g is not None]

    def trace(self, x: Any, y: Any) -> trace_module.StepTrace:
        """One training step on the batch (x, y), recorded layer by layer; the model is left unchanged.

        ``print(model.trace(x, y))`` shows each layer's z, y, dy, dz, dW, db and the
        optimizer's update (``npnet.trace``; docs/backprop.md#tracing-a-step).
        """
        x, y, _ = self.check_data(x, y, method="trace")
        return trace_module.trace_step(self, x, y)

    # -- inference ---------------------------------------------------------------------------

    def evaluate(self, x: Any, y: Any, batch_size: int | None = 32, verbose: int | str = "auto",
                 sample_weight: Any = None, callbacks: list[Callback] | None = None) -> float | list[float]:
        """``[loss, *metrics]`` on (x, y), or the bare loss without metrics; ``sample_weight`` (N,) as in ``fit``.

        ``callbacks`` receive the ``on_test_*`` hooks, as in Keras.
        """
        self._require_compiled("evaluate")
        batch_size, verbose = training.check_batch_size(batch_size), training.check_verbose(verbose)
        callback_list = training.CallbackList(callbacks, self)
        x, y, sample_weight = self.check_data(x, y, sample_weight, "evaluate")
        progbar = Progbar(math.ceil(len(x) / batch_size), verbose) if verbose else None
        logs = training.evaluate_batches(training.Step(self), x, y, batch_size, sample_weight, callback_list,
                                         progbar)
        return list(logs.values()) if self._metrics else logs["loss"]

    def predict(self, x: Any, batch_size: int | None = 32, verbose: int | str = "auto",
                callbacks: list[Callback] | None = None) -> np.ndarray:
        """Outputs for x (N, I): a new (N, K) array (probabilities for a sigmoid output).

        ``callbacks`` receive the ``on_predict_*`` hooks (batch logs ``{"outputs": ...}``), as in Keras.
        """
        batch_size, verbose = training.check_batch_size(batch_size), training.check_verbose(verbose)
        callback_list = training.CallbackList(callbacks, self)
        x = self._check_x(x)
        self._build(x.shape[1])
        out = np.empty((len(x), self._output_dim(x.shape[1])), self.dtype)
        progbar = Progbar(math.ceil(len(x) / batch_size), verbose) if verbose else None
        callback_list.on_predict_begin()
        for step, start in enumerate(range(0, len(x), batch_size)):
            callback_list.on_predict_batch_begin(step)
            batch = x[start:start + batch_size]
            for layer in self._layers:
                batch = layer.forward(batch, False)
            out[start:start + batch_size] = batch
            callback_list.on_predict_batch_end(step, {"outputs": out[start:start + batch_size]})
            if progbar:
                progbar.update(step + 1, {})
        callback_list.on_predict_end()
        return out

    def __call__(self, x: Any) -> np.ndarray:
        """``predict(x)`` in one batch, silently."""
        x = self._check_x(x)
        return self.predict(x, batch_size=len(x), verbose=0)

    # -- weights ---------------------------------------------------------------------------

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight ([W1, b1, W2, b2, ...]), the order and shapes of Keras's ``get_weights``."""
        return [w.copy() for w in self._params.value_views] if self.built else []

    def set_weights(self, weights: list[Any]) -> None:
        """Write weights in ``get_weights()`` order through the views into the buffer.

        An unbuilt model takes its input size from the first weight's leading
        dimension (a Dense kernel (I, O), a per-feature (I,) vector) and is built
        if every weight then has the shape the layers declare.
        """
        if not self.built:
            if not isinstance(weights, (list, tuple)) or not weights or np.ndim(weights[0]) < 1:
                raise ValueError("set_weights on an unbuilt model needs a list of weights starting with an array "
                                 "whose first dimension is the number of input features (a Dense kernel (I, O))")
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
        # Read-only zero-stride stand-ins: a config claiming 10**15 units allocates nothing here.
        expected = [np.broadcast_to(np.zeros((), self.dtype), w.shape) for s in self._specs(input_dim) for w in s]
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
        """The architecture as plain JSON-able data: name, dtype, input size and each layer's class and config."""
        return {"name": self.name, "dtype": self.dtype.name, "input_dim": self._input_dim,
                "layers": [layers_module.serialize(layer) for layer in self._layers]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        """A new, unbuilt model from ``get_config()`` data (names are kept).

        A layer config without ``class_name`` is a Dense config, as files of format version 1 hold.
        """
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("config must be a dict with a 'layers' list")
        model = cls(name=config.get("name"), dtype=config.get("dtype"))
        if config.get("input_dim") is not None:
            model.add(InputLayer((config["input_dim"],)))
        for index, layer_config in enumerate(config["layers"]):
            if not isinstance(layer_config, dict):
                raise ValueError(f"each layer config must be a dict, got {layer_config!r}")
            if "class_name" not in layer_config:
                layer_config = {"class_name": "Dense", "config": layer_config}
            model.add(layers_module.deserialize(layer_config, f"layer config {index}"))
        return model

    def _compile_config(self) -> dict[str, Any] | None:
        if self.loss is None:
            return None
        return {"loss": losses.serialize(self.loss), "optimizer": self.optimizer.get_config(),
                "metrics": [metrics_module.serialize(metric) for metric in self._metrics]}

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Compile with the settings ``_compile_config`` saved (Keras's ``compile_from_config``)."""
        if not isinstance(config, dict):
            raise ValueError(f"compile config must be a dict, got {config!r}")
        self.compile(optimizer=optimizers.from_config(config.get("optimizer")),
                     loss=losses.from_config(config.get("loss")), metrics=config.get("metrics") or None)

    # -- display -----------------------------------------------------------------------------

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print a table of layers, output shapes and parameter counts, as Keras does."""
        rule = "_" * 65
        lines = [f'Model: "{self.name}"', rule, f" {'Layer (type)':<28}{'Output Shape':<26}Param #", "=" * 65]
        width = self._input_dim
        for layer in self._layers:
            width = None if width is None else layer.output_dim(width)
            shape = (None, width if width is not None else getattr(layer, "units", None))
            params = layer.count_params() if layer.built else "0 (unbuilt)"
            lines.append(f" {f'{layer.name} ({type(layer).__name__})':<28}{str(shape):<26}{params}")
        lines.append("=" * 65)
        if self.built:
            itemsize, trainable = self.dtype.itemsize, self._params.trainable_size
            for label, count in (("Total", self._params.size), ("Trainable", trainable),
                                 ("Non-trainable", self._params.size - trainable)):
                lines.append(f"{label} params: {count} ({_readable_size(count * itemsize)})")
        else:
            lines.append("Total params: unknown until the model is built (input size not yet known)")
        lines.append(rule)
        print_fn("\n".join(lines))


def _readable_size(size: float) -> str:
    """Bytes as Keras's summary shows them: "3.57 KB", "0.00 B"."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"

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
        if config.get("compile") is not None:
            saving.check_keys(config["compile"], ("loss", "optimizer", "metrics"), "the compile config")
        # Built from the weights' shapes, not the config's sizes: a file cannot make npnet
        # allocate more than it holds. The declared input size must then agree.
        model = Sequential.from_config({**model_config, "input_dim": None})
        if config.get("compile") is not None:
            model.compile_from_config(config["compile"])
        model.set_weights(weights)
        if model_config.get("input_dim") not in (None, model.input_shape[1]):
            raise ValueError(f"the config declares {model_config['input_dim']!r} input features, "
                             f"the weights have {model.input_shape[1]}")
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path!r} does not describe a valid npnet model: {error}") from None
    return model
