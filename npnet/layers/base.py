"""The layer protocol: ``Layer`` (what every layer implements) and ``Weight`` (one parameter tensor it declares).

Shape glossary, used across npnet: N samples in a batch, I inputs of a layer,
O outputs of a layer, K labels (outputs of the last layer), P scalar parameters.

A layer declares its parameters (``weights_spec``) and the model lays them out
in its flat buffers (``npnet.params``), then hands each layer views of its own
tensors (``bind``). ``forward(x, training)`` caches exactly what ``backward``
needs; ``backward(dy)`` writes the parameter gradients into the layer's grad
views and *returns* ``dx``. Both write into work arrays the layer owns, so a
returned array is valid until the layer's next call, and both trust their
inputs; ``layer(x)`` is the checked entry. A new layer is one subclass plus
``npnet.layers.register`` (examples/custom_layer.py).
"""
from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import numpy as np

from npnet import backend
from npnet._validation import as_float_array, check_bool, check_int, check_weights_list
from npnet.calls import Calls, LastBinding
from npnet.params import ParameterBuffer

_name_counters: dict[str, itertools.count] = defaultdict(itertools.count)


def unique_name(prefix: str) -> str:
    """``prefix``, then ``prefix_1``, ``prefix_2``, ... as Keras names layers and models."""
    index = next(_name_counters[prefix])
    return prefix if index == 0 else f"{prefix}_{index}"


def check_input_dim(input_dim: Any, input_shape: Any) -> int | None:
    """The input size from Keras's ``input_dim``/``input_shape`` layer arguments (None if neither is given)."""
    if input_shape is not None:
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 1:
            raise ValueError(f"input_shape must be a 1-tuple (n_features,), got {input_shape!r}")
        from_shape = check_int(input_shape[0], "input_shape[0]", minimum=1)
        if input_dim is not None and check_int(input_dim, "input_dim", minimum=1) != from_shape:
            raise ValueError(f"input_dim={input_dim} disagrees with input_shape={tuple(input_shape)}")
        return from_shape
    return None if input_dim is None else check_int(input_dim, "input_dim", minimum=1)


@dataclass(frozen=True)
class Weight:
    """One parameter tensor a layer declares: its name ("kernel"), shape, initializer and whether it trains.

    ``initializer(shape, dtype) -> array`` draws the initial value; a
    non-trainable weight (BatchNormalization's moving statistics, or any weight of
    a frozen layer) gets no gradient view and the optimizer never sees it.
    """

    name: str
    shape: tuple[int, ...]
    initializer: Callable[..., np.ndarray]
    trainable: bool = True
    regularizer: Any = None


class Layer:
    """Base class of npnet's layers: the protocol the model calls, and the bookkeeping every layer shares.

    Subclasses implement ``forward`` and ``backward``, and if they have
    parameters ``weights_spec`` and ``bind`` (calling ``super().bind`` first);
    ``output_dim`` if they change the width; ``get_config`` adding their own
    constructor arguments. ``trainable`` may be set before ``compile``: a frozen
    layer's weights become non-trainable, and never change.
    """

    # The bias trick (npnet.layers.dense): a layer that wants a column of ones gets x (N, I+1)
    # whose last column is 1 and returns dx (N, I+1) from backward, when the layer below
    # gives one: its forward(x, training, ones_column=True) returns y (N, O+1) whose last
    # column is 1, and its backward then takes dy (N, O+1) and ignores the last column.
    wants_ones_column: bool = False
    gives_ones_column: bool = False
    # A Dense layer whose activation is ReLU itself: fit's step may hand it the array for its
    # output [y 1] and its mask [y > 0], to take all such masks in one call (npnet.training.relu_masks).
    relu_output: bool = False
    # A layer whose forward and backward calls can be bound for a block of a batch's rows, and its
    # weights' gradient for a block of its kernel's rows over the whole batch (``forward_calls(...,
    # rows=)``, ``backward_calls(..., rows=, weights=False)``, ``weight_gradient_calls``): fit's split
    # step (npnet.training.split). Each row of its output depends on that row of its input alone.
    splits_rows: bool = False

    def __init__(self, name: str | None = None, trainable: bool = True,
                 input_dim: int | None = None, input_shape: tuple[int] | None = None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, got {name!r}")
        self.name = name or unique_name(re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower())
        self.trainable = check_bool(trainable, "trainable")
        self.input_dim = check_input_dim(input_dim, input_shape)
        self.built = False
        self.values: list[np.ndarray] = []
        self.grads: list[np.ndarray | None] = []

    # -- what the model asks of a layer ----------------------------------------------

    def output_dim(self, input_dim: int) -> int:
        """O for I inputs: the same width unless the layer says otherwise."""
        return input_dim

    def weights_spec(self, input_dim: int) -> list[Weight]:
        """The parameter tensors for ``input_dim`` inputs, in Keras's ``get_weights()`` order."""
        return []

    def bind(self, input_dim: int, values: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        """Adopt views of the model's buffers, in ``weights_spec`` order (their values are kept)."""
        self.input_dim, self.values, self.grads, self.built = input_dim, list(values), list(grads), True
        # the calls forward_calls and backward_calls bound last, given back for the same arrays (npnet.calls);
        # none yet for these weights
        self._forward_bound, self._backward_bound = LastBinding(), LastBinding()
        self._regularized = [(spec.regularizer, value, grad)   # kept: regularization runs at every step
                             for spec, value, grad in zip(self.weights_spec(input_dim), values, grads)
                             if spec.regularizer is not None and spec.trainable]

    def initialize(self) -> None:
        """Draw every weight from its initializer, into the buffer (through the views)."""
        for spec, value in zip(self.weights_spec(self.input_dim), self.values):
            value[...] = spec.initializer(value.shape, value.dtype)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """x (N, I) -> y (N, O); caches what ``backward`` needs."""
        raise NotImplementedError

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """dy (N, O) -> dx (N, I) (None when not ``need_dx``); writes this layer's gradients."""
        raise NotImplementedError

    def forward_calls(self, x: np.ndarray, training: bool = False, **options: Any) -> tuple[Calls, np.ndarray]:
        """The calls that compute ``forward(x, training)``, bound to x (N, I), and the array (N, O) they fill:
        ``out`` if given (fit hands the last layer the rows of its epoch's outputs), else one of their own.

        For a layer that writes ``forward`` itself (Dense writes calls instead):
        one call that runs it and copies its result into that array, since a
        layer may return a new array each time.
        """
        key = (x, training, *options, *options.values())   # (option names from the caller's literals)
        if (bound := self._forward_bound.get(key)) is not None:   # the same arrays as last time
            calls, y = bound
        else:
            width = self.output_dim(self.input_dim) + bool(options.get("ones_column"))   # [y 1]: the bias trick
            out = options.pop("out", None)
            y = np.empty((len(x), width), x.dtype) if out is None else out
            calls = [partial(_forward_into, self, x, training, options, y)]
            self._forward_bound.set(key, (calls, y))
        self._bound_input = x
        return list(calls), y

    def backward_calls(self, dy: np.ndarray, need_dx: bool = True) -> tuple[Calls, np.ndarray | None]:
        """The calls that compute ``backward(dy)``, bound to dy (N, O), and the array dx they fill (or None):
        (N, I), or (N, I+1) when ``forward_calls`` was bound to an input that carries the ones."""
        key = (dy, need_dx, self._bound_input)
        if (bound := self._backward_bound.get(key)) is None:   # not the same arrays as last time
            dx = np.empty_like(self._bound_input) if need_dx else None
            bound = [partial(_backward_into, self, dy, need_dx, dx)], dx
            self._backward_bound.set(key, bound)
        calls, dx = bound
        return list(calls), dx

    def regularization_loss(self) -> float:
        """The penalty this layer adds to the loss (its gradient is added inside ``backward``): by default its
        weights' (``weight_penalty``), 0 without regularizers."""
        return self.weight_penalty()

    @property
    def penalized(self) -> bool:
        """Whether this layer may add a penalty to the loss (a training step skips the others): a weight
        has a regularizer, or its class writes a ``regularization_loss`` of its own."""
        return type(self).regularization_loss is not Layer.regularization_loss or bool(self.penalized_weights())

    def penalized_weights(self) -> list[tuple[Any, np.ndarray, np.ndarray | None]]:
        """(regularizer, value view, grad view) of each trainable weight whose ``Weight`` has a regularizer.

        Keras penalizes only trainable weights: a frozen layer's regularizers add nothing.
        """
        return self._regularized if self.trainable else []

    def weight_penalty(self) -> float:
        """Σ regularizer.penalty(w) over ``penalized_weights`` (docs/backprop.md#weight-penalties)."""
        return sum((regularizer.penalty(value) for regularizer, value, _ in self.penalized_weights()), 0.0)

    def add_weight_penalty_gradients(self) -> None:
        """grad += dpenalty/dw for each of ``penalized_weights``: a backward's last step, after its data gradients."""
        for regularizer, value, grad in self.penalized_weights():
            if grad is not None:
                regularizer.gradient(value, grad)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON-able data; ``npnet.layers.serialize`` adds the class name."""
        return {"name": self.name, "trainable": self.trainable}

    # -- standalone use and weights as arrays -------------------------------------------

    def build(self, input_dim: int, dtype: Any = None) -> None:
        """Create this layer's parameters in a buffer of its own (a model binds views of its buffer instead)."""
        input_dim = check_int(input_dim, "input_dim", minimum=1)
        specs = self.weights_spec(input_dim)
        own = ParameterBuffer([s.shape for s in specs], np.dtype(dtype or backend.float_dtype()),
                              [True] * len(specs))   # standalone, every gradient is computed (gradcheck)
        self.bind(input_dim, own.value_views, own.grad_views)
        self.initialize()

    def __call__(self, x: Any) -> np.ndarray:
        """Checked forward pass on a batch (inference mode): x (N, I) -> a new array (N, O). Builds on first call."""
        dtype = self.values[0].dtype if self.values else backend.float_dtype()
        x = as_float_array(x, "x", dtype, ndim=2)
        if not self.built:
            self.build(self.input_dim or x.shape[1], dtype)
        if x.shape[1] != self.input_dim:
            raise ValueError(f"x must have {self.input_dim} columns (layer {self.name!r}), got shape {x.shape}")
        return self.forward(x, training=False).copy()

    def count_params(self) -> int:
        """Number of scalar parameters, trainable or not."""
        return sum(value.size for value in self._require_weights())

    @property
    def weights(self) -> list[np.ndarray]:
        """Views of every weight, in ``get_weights()`` order."""
        return list(self.values)

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return [v for v, s in zip(self.values, self._specs()) if s.trainable and self.trainable]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return [v for v, s in zip(self.values, self._specs()) if not (s.trainable and self.trainable)]

    def _specs(self) -> list[Weight]:
        return self.weights_spec(self.input_dim) if self.built else []

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in ``weights_spec`` order."""
        return [w.copy() for w in self._require_weights()]

    def set_weights(self, weights: list[Any]) -> None:
        """Write weights in ``get_weights()`` order into the buffer (shapes must match exactly)."""
        targets = self._require_weights()
        for target, value in zip(targets, check_weights_list(weights, targets, "weights")):
            target[...] = value

    def _require_weights(self) -> list[np.ndarray]:
        if not self.built:
            raise ValueError(f"layer {self.name!r} has no weights yet: build it or add it to a model and build that")
        return self.values

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _forward_into(layer: Layer, x: np.ndarray, training: bool, options: dict, y: np.ndarray) -> None:
    np.copyto(y, layer.forward(x, training, **options))


def _backward_into(layer: Layer, dy: np.ndarray, need_dx: bool, dx: np.ndarray | None) -> None:
    result = layer.backward(dy, need_dx)
    if dx is not None:
        np.copyto(dx, result)
