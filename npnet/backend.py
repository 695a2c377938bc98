"""The float type every npnet model computes in, and the fuzz factor epsilon.

Keras computes in float32 by default and so does npnet; gradient checks switch
to float64 with ``set_floatx("float64")`` before building a model.
"""
from __future__ import annotations

import numpy as np

_FLOATX = {"float32": np.float32, "float64": np.float64}
_floatx = "float32"
_EPSILON = 1e-7  # Keras's backend.epsilon(): the BCE clip and Adam's default epsilon


def floatx() -> str:
    """The default float type of new models, as a string: ``"float32"`` or ``"float64"``."""
    return _floatx


def set_floatx(value: str) -> None:
    """Set the float type of models built from now on (``"float32"`` or ``"float64"``)."""
    global _floatx
    float_dtype(value)   # refuses anything else
    _floatx = value


def float_dtype(name: str | None = None) -> np.dtype:
    """The NumPy dtype named ``name`` ("float32"/"float64"), by default ``floatx()``'s."""
    name = _floatx if name is None else name
    if name not in _FLOATX:
        raise ValueError(f"dtype must be one of {sorted(_FLOATX)}, got {name!r}")
    return np.dtype(_FLOATX[name])


def epsilon() -> float:
    """The fuzz factor 1e-7 that Keras uses to clip probabilities."""
    return _EPSILON
