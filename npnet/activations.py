"""Activation functions, each with its derivative taken from its own output.

Shapes: every function is elementwise, so ``z``, ``y``, ``dy`` and ``dz`` all
share one shape, (N, O) inside a Dense layer. ``y = f(z)``; ``dz = dL/dz``.
Derivations: docs/backprop.md#activations.

Calling an activation (``activations.relu(x)``) returns a new array, like the
Keras functions. Dense uses ``forward``/``backward``, which write into arrays
the layer owns so that a training step allocates nothing.
"""
from __future__ import annotations

import functools
from typing import Callable, Union

import numpy as np

from npnet._validation import as_tensor_like


class Activation:
    """``y = f(z)`` and its backward ``dz = dy * f'(z)``, with ``f'`` written in terms of ``y``."""

    name = "activation"
    # f(1) == 1, elementwise: the activation may run over a whole buffer that carries a
    # column of ones for the next layer's bias (the bias trick, npnet.layers.dense) and leave it.
    keeps_ones = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``f(x)`` as a new array: a float array keeps its dtype; lists, bools and ints become float32 (as TensorFlow)."""
        array = as_tensor_like(x, "x")
        return self.forward(array, np.empty_like(array))

    def forward(self, z: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write ``f(z)`` into ``out`` (may be ``z`` itself) and return it."""
        raise NotImplementedError

    def backward(self, y: np.ndarray, dy: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Return ``dz = dy * f'(z)`` computed from the output ``y``, written into ``out``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<activation {self.name}>"

    def __reduce__(self) -> str | tuple:
        # npnet recognises its activations by identity (the fused sigmoid + binary
        # crossentropy output, saving by name), so pickle and copy.deepcopy give
        # back the registered object itself rather than an equal copy.
        if _REGISTRY.get(self.name) is self:
            return self.name   # pickle/copy look up this module-level name: the singleton
        return super().__reduce__()


class Linear(Activation):
    """``y = z``; ``dz = dy``. Returns its input unchanged, no copy."""

    name = "linear"
    keeps_ones = True

    def forward(self, z, out):
        return z

    def backward(self, y, dy, out):
        return dy


@functools.lru_cache(maxsize=64)
def zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A read-only array of zeros, made once per shape and dtype.

    ReLU compares against it: with a Python scalar 0 NumPy converts and
    broadcasts the scalar on every call, 1.6x slower for a (250, 33) float32
    array (and a 0-d array is slower still: no vector loop for a stride-0 operand).
    """
    array = np.zeros(shape, dtype)
    array.flags.writeable = False
    return array


class ReLU(Activation):
    """``y = max(z, 0)``; ``dz = dy * [y > 0]`` (the derivative at 0 is taken as 0, as in TensorFlow)."""

    name = "relu"
    keeps_ones = True

    def forward(self, z, out):
        return np.maximum(z, zeros(z.shape, z.dtype), out=out)

    def backward(self, y, dy, out):
        np.greater(y, zeros(y.shape, y.dtype), out=out)   # the mask [y > 0] as 0.0/1.0
        out *= dy
        return out


class Sigmoid(Activation):
    """``y = 1 / (1 + exp(-z))``; ``dz = dy * y * (1 - y)``.

    For z below about -88 (float32) exp(-z) overflows to inf and y becomes 0,
    the correctly rounded result; the overflow warning is silenced for that reason.
    """

    name = "sigmoid"

    def forward(self, z, out):
        np.negative(z, out=out)
        with np.errstate(over="ignore"):
            np.exp(out, out=out)
        out += 1
        return np.reciprocal(out, out=out)

    def backward(self, y, dy, out):
        np.subtract(1, y, out=out)
        out *= y
        out *= dy
        return out


class Tanh(Activation):
    """``y = tanh(z)``; ``dz = dy * (1 - y**2)``."""

    name = "tanh"

    def forward(self, z, out):
        return np.tanh(z, out=out)

    def backward(self, y, dy, out):
        np.square(y, out=out)
        np.subtract(1, out, out=out)
        out *= dy
        return out


linear = Linear()
relu = ReLU()
sigmoid = Sigmoid()
tanh = Tanh()

_REGISTRY: dict[str, Activation] = {a.name: a for a in (linear, relu, sigmoid, tanh)}

ActivationLike = Union[None, str, Activation, Callable]


def names() -> list[str]:
    """The registered activation names, sorted."""
    return sorted(_REGISTRY)


def serialize(activation: Activation, owner: str) -> str:
    """The registered name of ``activation``, for configs; refuses an unregistered one, naming ``owner``."""
    if _REGISTRY.get(activation.name) is not activation:
        raise ValueError(f"{owner}: activation {activation.name!r} is not one of npnet's registered activations "
                         f"({', '.join(names())}), so it cannot be saved by name")
    return activation.name


def get(identifier: ActivationLike) -> Activation:
    """The activation named ``identifier`` (``None`` means linear), or the given instance.

    Only ``Activation`` objects are accepted besides names: npnet needs each
    activation's backward, which an arbitrary callable does not provide.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        if identifier not in _REGISTRY:
            raise ValueError(f"unknown activation {identifier!r}; expected one of {sorted(_REGISTRY)} or None")
        return _REGISTRY[identifier]
    if isinstance(identifier, Activation):
        return identifier
    raise TypeError("activation must be None, a name or an npnet.activations.Activation "
                    f"(npnet needs its backward), got {identifier!r}")
