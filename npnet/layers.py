"""Layers: ``Dense`` (the only layer with parameters) and ``Input`` (a shape declaration).

Shape glossary, used across npnet: N samples in a batch, I inputs of a layer,
O units of a layer, K labels (units of the last layer), P scalar parameters.

The layer contract: ``forward(x)`` caches exactly what ``backward`` needs;
``backward(dy)`` writes the parameter gradients into ``dW``/``db`` (views into
the model's gradient buffer) and *returns* ``dx``. Both write their results
into work arrays the layer owns, so a returned array is valid until the
layer's next call. Both trust their inputs; ``layer(x)`` is the checked entry.
"""
from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import numpy as np

from npnet import activations, backend, initializers
from npnet._validation import as_float_array, check_bool, check_int, check_weights_list
from npnet.params import ParameterBuffer, WorkArrays

_name_counters: dict[str, itertools.count] = defaultdict(itertools.count)


def unique_name(prefix: str) -> str:
    """``prefix``, then ``prefix_1``, ``prefix_2``, ... as Keras names layers and models."""
    index = next(_name_counters[prefix])
    return prefix if index == 0 else f"{prefix}_{index}"


def _check_input_dim(input_dim: Any, input_shape: Any) -> int | None:
    if input_shape is not None:
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 1:
            raise ValueError(f"input_shape must be a 1-tuple (n_features,), got {input_shape!r}")
        from_shape = check_int(input_shape[0], "input_shape[0]", minimum=1)
        if input_dim is not None and check_int(input_dim, "input_dim", minimum=1) != from_shape:
            raise ValueError(f"input_dim={input_dim} disagrees with input_shape={tuple(input_shape)}")
        return from_shape
    return None if input_dim is None else check_int(input_dim, "input_dim", minimum=1)


class InputLayer:
    """Declares the number of input features of a ``Sequential`` model; has no parameters."""

    def __init__(self, shape: tuple[int] | list[int], name: str | None = None):
        self.input_dim = _check_input_dim(None, shape)
        self.name = name or unique_name("input_layer")


def Input(shape: tuple[int] | list[int], name: str | None = None) -> InputLayer:
    """``npnet.Input(shape=(n_features,))``, to place first in a ``Sequential``."""
    return InputLayer(shape, name=name)


class Dense:
    """A fully connected layer: ``y = activation(x @ W + b)``.

    x (N, I), W (I, O) "kernel", b (O,) "bias", y (N, O). Gradients are derived
    in docs/backprop.md#dense.
    """

    def __init__(self, units: int, activation: activations.ActivationLike = None, use_bias: bool = True,
                 kernel_initializer: initializers.InitializerLike = "glorot_uniform",
                 bias_initializer: initializers.InitializerLike = "zeros",
                 input_dim: int | None = None, input_shape: tuple[int] | None = None,
                 name: str | None = None):
        self.units = check_int(units, "units", minimum=1)
        self.activation = activations.get(activation)
        self.use_bias = check_bool(use_bias, "use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.input_dim = _check_input_dim(input_dim, input_shape)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, got {name!r}")
        self.name = name or unique_name("dense")
        self.built = False

    # -- parameters -----------------------------------------------------------------

    def parameter_shapes(self, input_dim: int) -> list[tuple[int, ...]]:
        """Shapes of this layer's parameters for ``input_dim`` inputs: [(I, O), (O,)]."""
        return [(input_dim, self.units), (self.units,)][: 2 if self.use_bias else 1]

    def bind(self, input_dim: int, values: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Adopt parameter and gradient views (from a ``ParameterBuffer``); their values are kept."""
        self.input_dim = input_dim
        self.W, self.dW = values[0], grads[0]                       # (I, O)
        if self.use_bias:
            self.b, self.db = values[1], grads[1]                   # (O,)
        self.built = True
        self._work = WorkArrays(self.W.dtype, y=self.units, dz=self.units, dx=input_dim)

    def initialize(self) -> None:
        """Draw the initial kernel and bias from the layer's initializers, into the buffer."""
        self.W[...] = self.kernel_initializer(self.W.shape, self.W.dtype)
        if self.use_bias:
            self.b[...] = self.bias_initializer(self.b.shape, self.b.dtype)

    def build(self, input_dim: int, dtype: Any = None) -> None:
        """Create this layer's parameters in a buffer of its own (a model binds views of its buffer instead)."""
        input_dim = check_int(input_dim, "input_dim", minimum=1)
        own = ParameterBuffer(self.parameter_shapes(input_dim), np.dtype(dtype or backend.float_dtype()))
        self.bind(input_dim, own.value_views, own.grad_views)
        self.initialize()

    @property
    def kernel(self) -> np.ndarray:
        """W, shape (I, O): a view into the parameter buffer."""
        return self.W

    @property
    def bias(self) -> np.ndarray | None:
        """b, shape (O,), or None without a bias."""
        return self.b if self.use_bias else None

    def count_params(self) -> int:
        """Number of scalar parameters: I*O (+ O with a bias)."""
        return self.input_dim * self.units + (self.units if self.use_bias else 0)

    # -- forward and backward -----------------------------------------------------

    def forward(self, x: np.ndarray, activate: bool = True) -> np.ndarray:
        """x (N, I) -> y (N, O). With ``activate=False`` returns the logits z = x @ W + b.

        The output layer of a sigmoid + binary crossentropy model runs with
        ``activate=False`` in training: the loss then works on the logits
        (docs/backprop.md#sigmoid-and-binary-crossentropy).
        """
        z, _, _ = self._work.rows(len(x))
        np.matmul(x, self.W, out=z)                     # (N, O) = (N, I) @ (I, O)
        if self.use_bias:
            z += self.b                                 # (N, O) += (O,), broadcast over rows
        self.x, self.activated = x, activate            # backward needs x for dW, y for f'
        self.y = self.activation.forward(z, out=z) if activate else z   # (N, O), in place
        return self.y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """dy (N, O) -> dx (N, I); writes dW (I, O) and db (O,).

        dz = dy * f'(z); dW = x^T dz; db = dz^T 1 (the sum over the batch); dx = dz W^T
        (docs/backprop.md#dense). The first layer passes ``need_dx=False``:
        nothing upstream needs dL/dx of the data, so its matmul is skipped.
        """
        _, dz, dx = self._work.rows(len(dy))
        if self.activated:
            dz = self.activation.backward(self.y, dy, out=dz)   # (N, O)
        else:
            dz = dy                                             # dy is already dL/dz
        np.matmul(self.x.T, dz, out=self.dW)                    # (I, O) = (I, N) @ (N, O)
        if self.use_bias:
            np.matmul(self._work.ones(len(dy)), dz, out=self.db)   # (O,) = (N,) @ (N, O)
        if not need_dx:
            return None
        return np.matmul(dz, self.W.T, out=dx)                  # (N, I) = (N, O) @ (O, I)

    def __call__(self, x: Any) -> np.ndarray:
        """Checked forward pass on a batch: x (N, I) -> a new array (N, O). Builds on first call."""
        dtype = self.W.dtype if self.built else backend.float_dtype()
        x = as_float_array(x, "x", dtype, ndim=2)
        if not self.built:
            self.build(self.input_dim or x.shape[1], dtype)
        if x.shape[1] != self.input_dim:
            raise ValueError(f"x must have {self.input_dim} columns (layer {self.name!r}), got shape {x.shape}")
        return self.forward(x).copy()

    # -- weights as arrays -------------------------------------------------------------

    def get_weights(self) -> list[np.ndarray]:
        """Copies of [W] or [W, b]."""
        return [w.copy() for w in self._parameters()]

    def set_weights(self, weights: list[Any]) -> None:
        """Write [W] or [W, b] into the parameter buffer (shapes must match exactly)."""
        targets = self._parameters()
        for target, value in zip(targets, check_weights_list(weights, targets, "weights")):
            target[...] = value

    def _parameters(self) -> list[np.ndarray]:
        if not self.built:
            raise ValueError(f"layer {self.name!r} has no weights yet: build it or add it to a model and build that")
        return [self.W, self.b] if self.use_bias else [self.W]

    def get_config(self) -> dict[str, Any]:
        """``Dense(**config)`` rebuilds this layer (without its weights)."""
        if activations.get(self.activation.name) is not self.activation:
            raise ValueError(f"layer {self.name!r}: activation {self.activation.name!r} is not one of npnet's "
                             "registered activations, so it cannot be saved by name")
        return {"units": self.units, "activation": self.activation.name, "use_bias": self.use_bias,
                "name": self.name}

    def __repr__(self) -> str:
        return f"<Dense {self.name!r} units={self.units} activation={self.activation.name}>"
