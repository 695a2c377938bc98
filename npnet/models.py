"""``Sequential``: a stack of layers with Keras's compile/fit/evaluate/predict API.

The model holds the structure (layers and the flat parameter buffer of
``npnet.params``), the compile settings, prediction, weights and files. It
inherits fit/evaluate/train_on_batch from ``npnet.training.Trainer``, as Keras's
Model inherits its Trainer: ``fit`` checks its arguments and orchestrates the
parts of ``npnet.training``. One step (``npnet.training.Step``) is the whole
algorithm: forward through the layers, loss, backward through the layers in
reverse (the chain rule made literal), one optimizer update on the trainable
slice of the buffer. Shapes: x (N, I), y (N, K); glossary in ``npnet.layers.base``.
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable

import numpy as np

from npnet import backend, layers as layers_module, losses, metrics as metrics_module, optimizers, params, saving
from npnet import trace as trace_module
from npnet import training
from npnet._validation import as_float_array, check_int, check_sample_weight, check_weights_list
from npnet.callbacks import Callback, History
from npnet.layers import InputLayer, Layer, unique_name
from npnet.params import ParameterBuffer
from npnet.progbar import Progbar
from npnet.summary import summary_text
from npnet.training import Trainer
from npnet.training import TrainingDivergedError  # noqa: F401 -- public here since before npnet.training


class NotCompiledError(ValueError, RuntimeError):
    """Raised when training or evaluating a model that was never compiled.

    A ValueError as npnet's other argument errors, and a RuntimeError as Keras raises.
    """


class Sequential(Trainer):
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

    def _allocate(self, input_dim: int, new_layers: list[Layer]) -> None:
        """(Re)allocate the flat buffers for all layers (``params.allocate``), initialise ``new_layers``."""
        self._params = params.allocate(self._layers, input_dim, self.dtype, self._params)
        self._input_dim = input_dim
        for layer in new_layers:
            layer.initialize()

    def __setstate__(self, state: dict[str, Any]) -> None:
        """After pickle or ``copy.deepcopy``: re-bind the layers to the copied buffer's views.

        Both copy each layer's views as detached arrays; training the copy would
        then update a buffer that no layer reads.
        """
        self.__dict__.update(state)
        if self._params is not None:
            params.bind_layers(self._layers, self._input_dim, self._params)

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
        return self.built and self._params.trainable != params.trainable_flags(self._layers, self._input_dim)

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
        if y is None:   # y defaults to None, as in Keras, so that x's own error (a dataset?) comes first
            raise TypeError(f"{prefix}y is missing: the targets, an array of shape (N, "
                            f"{params.output_dim(self._layers, x.shape[1])}) or what the loss takes")
        y = self.loss.check_targets(y, params.output_dim(self._layers, x.shape[1]), self.dtype, prefix + "y")
        if len(y) != len(x):
            raise ValueError(f"{prefix}x and {prefix}y must have the same number of samples, "
                             f"got {len(x)} and {len(y)}")
        return x, y

    def _check_sample_weight(self, sample_weight: Any, n: int, prefix: str = "") -> np.ndarray | None:
        return None if sample_weight is None else check_sample_weight(sample_weight, n, self.dtype,
                                                                      prefix + "sample_weight")

    def check_data(self, x: Any, y: Any, sample_weight: Any = None, method: str = "check_data", prefix: str = "",
                   build: bool = True) -> tuple:
        """(x, y, sample_weight) checked against this compiled model and its loss, as arrays.

        Errors name ``method`` and the arguments (``prefix + "x"``); with ``build``
        an unbuilt model is then built for x's width.
        """
        self._require_compiled(method)
        self._require_current_layout(method)
        x, y = self._check_xy(x, y, prefix)
        sample_weight = self._check_sample_weight(sample_weight, len(x), prefix)
        if build:
            self._build(x.shape[1])
        return x, y, sample_weight

    # -- training: fit, evaluate, train_on_batch, loss_and_gradients (npnet.training.Trainer) ----------



    def trace(self, x: Any, y: Any) -> trace_module.StepTrace:
        """One training step on the batch (x, y), recorded layer by layer; the model is left unchanged.

        ``print(model.trace(x, y))`` shows each layer's z, y, dy, dz, dW, db and the
        optimizer's update (``npnet.trace``; docs/backprop.md#tracing-a-step).
        """
        x, y, _ = self.check_data(x, y, method="trace")
        return trace_module.trace_step(self, x, y)

    # -- inference ---------------------------------------------------------------------------

    def predict(self, x: Any, batch_size: int | None = 32, verbose: int | str = "auto",
                callbacks: list[Callback] | None = None) -> np.ndarray:
        """Outputs for x (N, I): a new (N, K) array (probabilities for a sigmoid output).

        ``callbacks`` receive the ``on_predict_*`` hooks (batch logs ``{"outputs": ...}``), as in Keras.
        """
        batch_size, verbose = training.check_batch_size(batch_size), training.check_verbose(verbose)
        callback_list = training.CallbackList(callbacks, self)
        x = self._check_x(x)
        self._build(x.shape[1])
        out = np.empty((len(x), params.output_dim(self._layers, x.shape[1])), self.dtype)
        progbar = Progbar(math.ceil(len(x) / batch_size), verbose) if verbose else None
        return training.predict_batches(self.layers, x, batch_size, out, callback_list, progbar)

    def __call__(self, x: Any) -> np.ndarray:
        """``predict(x)`` in one batch, silently."""
        x = self._check_x(x)
        return self.predict(x, batch_size=len(x), verbose=0)

    def predict_on_batch(self, x: Any) -> np.ndarray:
        """The outputs for x (N, I) computed as one batch (N, K), without callbacks, as Keras's."""
        return self(x)

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
        expected = [np.broadcast_to(np.zeros((), self.dtype), w.shape)
                    for specs in params.weight_specs(self._layers, input_dim) for w in specs]
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

        ``npnet.models.load_model(path)`` gives back an equal model; weights and the optimizer's
        state (iterations and slots) round-trip bit-exactly, so training resumes where it stopped.
        """
        path = _npz_path(path)
        self._require_built("save")
        config = {"model": self.get_config(), "compile": self._compile_config()}
        state = {} if self.optimizer is None else saving.optimizer_state_to_arrays(self.optimizer.get_state())
        saving.write_archive(path, {"config": saving.config_to_array(config),
                                    **saving.weights_to_arrays(self._params.value_views), **state})

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
        """Print a table of layers, output shapes and parameter counts, as Keras does (``npnet.summary``)."""
        print_fn(summary_text(self))


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
    optimizer_state = saving.arrays_to_optimizer_state(arrays)
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
        if optimizer_state:
            if model.optimizer is None:
                raise ValueError("it holds optimizer state but no compile settings")
            model.optimizer.build_for(model.parameters)
            model.optimizer.set_state(optimizer_state)
        if model_config.get("input_dim") not in (None, model.input_shape[1]):
            raise ValueError(f"the config declares {model_config['input_dim']!r} input features, "
                             f"the weights have {model.input_shape[1]}")
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path!r} does not describe a valid npnet model: {error}") from None
    return model
