"""Weight penalties L1, L2 and L1L2, added to the training loss as Keras adds them.

``penalty(w)`` is the scalar a layer adds to the loss; ``gradient(w, out)`` adds
its derivative dpenalty/dw into ``out`` (a gradient array of w's shape, in
place), so a layer writes its data gradient first and then its penalty's.
Derivations: docs/backprop.md#weight-penalties.

Keras's arithmetic (TensorFlow backend), which npnet follows:
- Every factor is used rounded to float32, even on float64 weights: Keras
  writes ``ops.cast(self.l2, w.dtype)``, and ``tf.cast`` of a Python float
  makes a float32 tensor first. So a float64 ``L2(0.01)`` penalizes with
  0.009999999776482582. L1 also *stores* its factor as a float32 tensor, so
  its config says 0.009999999776482582; L2's and L1L2's configs keep 0.01.
- The penalty is computed in the weights' dtype: ``l1 * sum(|w|)``, ``l2 * sum(w**2)``.
- L1's derivative at w = 0 is 0, TensorFlow's gradient of ``abs`` (``sign(0) = 0``).
"""
from __future__ import annotations

import math
from typing import Any, Union

import numpy as np

from npnet import _registry
from npnet._validation import as_tensor_like, check_float


def _check_factor(value: Any, name: str) -> float:
    # Keras's validate_float_arg: a finite float >= 0, None meaning the default.
    return check_float(value, name, 0.0, math.inf, high_open=True)


class Regularizer:
    """A penalty on a weight array: ``penalty(w) -> float`` and its gradient."""

    def __call__(self, w: Any) -> float:
        """The penalty of ``w`` (any shape), as Keras's ``regularizer(w)``.

        A float array keeps its dtype; lists, bools and ints become float32, as TensorFlow converts them.
        """
        return self.penalty(as_tensor_like(w, "w"))

    def penalty(self, w: np.ndarray) -> float:
        """The scalar this regularizer adds to the loss, computed in w's dtype."""
        raise NotImplementedError

    def gradient(self, w: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out += dpenalty/dw`` (same shape and dtype as w), in place; returns ``out``."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Regularizer":
        """The regularizer that ``get_config`` describes."""
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


def factor(value: float, dtype: np.dtype):
    """A penalty factor as Keras's TensorFlow backend uses it: rounded to float32, then to ``dtype``."""
    return dtype.type(np.float32(value))


def l1_penalty(l1: float, w: np.ndarray) -> float:
    """l1 * sum(|w|), in w's dtype."""
    return float(factor(l1, w.dtype) * np.sum(np.abs(w)))


def l1_gradient(l1: float, w: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out += l1 * sign(w): the subgradient with sign(0) = 0 (docs/backprop.md#weight-penalties)."""
    out += factor(l1, w.dtype) * np.sign(w)    # w's shape
    return out


def l2_penalty(l2: float, w: np.ndarray) -> float:
    """l2 * sum(w**2), in w's dtype."""
    return float(factor(l2, w.dtype) * np.sum(np.square(w)))


def l2_gradient(l2: float, w: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out += l2 * 2 w (TensorFlow's order: 2 w is exact, then one rounding for the product)."""
    out += factor(l2, w.dtype) * (2 * w)       # w's shape
    return out


class L1(Regularizer):
    """``l1 * sum(|w|)``; Keras's default l1=0.01, stored rounded to float32 as Keras stores it."""

    def __init__(self, l1: float = 0.01):
        self.l1 = float(np.float32(_check_factor(0.01 if l1 is None else l1, "l1")))

    def penalty(self, w):
        return l1_penalty(self.l1, w)

    def gradient(self, w, out):
        return l1_gradient(self.l1, w, out)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(w**2)``; Keras's default l2=0.01."""

    def __init__(self, l2: float = 0.01):
        self.l2 = _check_factor(0.01 if l2 is None else l2, "l2")

    def penalty(self, w):
        return l2_penalty(self.l2, w)

    def gradient(self, w, out):
        return l2_gradient(self.l2, w, out)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``; a factor of 0 leaves its term out, as in Keras.

    The class's defaults are Keras's l1=0.0, l2=0.0; the string ``"l1_l2"``
    gives l1=l2=0.01 (see ``get``).
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _check_factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _check_factor(0.0 if l2 is None else l2, "l2")

    def penalty(self, w):
        # Keras adds the terms to a 0 of w's dtype; adding 0.0 changes no value.
        total = w.dtype.type(0.0)
        if self.l1 != 0.0:
            total += w.dtype.type(l1_penalty(self.l1, w))
        if self.l2 != 0.0:
            total += w.dtype.type(l2_penalty(self.l2, w))
        return float(total)

    def gradient(self, w, out):
        if self.l1 != 0.0:
            l1_gradient(self.l1, w, out)
        if self.l2 != 0.0:
            l2_gradient(self.l2, w, out)
        return out

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


_CLASSES: dict[str, type[Regularizer]] = {"L1": L1, "L2": L2, "L1L2": L1L2}
# Strings: Keras 3's class names and snake_case names ("l1l2" is L1L2() with both factors 0),
# and "l1_l2", Keras's documented string and tf.keras 2's l1_l2(), with l1 = l2 = 0.01.
# (Keras 3.15's get() refuses "l1_l2" although its L1L2 docstring shows it; npnet takes it.)
_STRINGS: dict[str, Any] = {"L1": L1, "l1": L1, "L2": L2, "l2": L2, "L1L2": L1L2, "l1l2": L1L2,
                            "l1_l2": lambda: L1L2(l1=0.01, l2=0.01)}

RegularizerLike = Union[None, str, dict, Regularizer]


def serialize(regularizer: Regularizer | None) -> dict[str, Any] | None:
    """``{"class_name": "L2", "config": {"l2": 0.01}}`` (None for None), JSON-able."""
    return None if regularizer is None else _registry.serialize(regularizer, _CLASSES, "regularizer")


def from_config(data: dict[str, Any]) -> Regularizer:
    """The regularizer that ``serialize`` described."""
    return _registry.deserialize(data, _CLASSES, "regularizer")


deserialize = from_config


def get(identifier: RegularizerLike) -> Regularizer | None:
    """A regularizer from None, a name (``"l2"``, ``"L1L2"``, ``"l1_l2"``), a serialized dict or an instance."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _STRINGS:
            raise ValueError(f"unknown regularizer {identifier!r}; expected one of {sorted(_STRINGS)}")
        return _STRINGS[identifier]()
    if isinstance(identifier, dict):
        return from_config(identifier)
    raise TypeError(f"regularizer must be None, a name, a serialized dict or a Regularizer, got {identifier!r}")
