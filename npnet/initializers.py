"""Weight initializers: ``init(shape, dtype) -> ndarray``, as in Keras."""
from __future__ import annotations

from typing import Callable, Union

import numpy as np

from npnet import backend, utils
from npnet._validation import check_int


class Initializer:
    """Base class: calling an initializer returns a new array of ``shape``."""

    def __call__(self, shape: tuple[int, ...], dtype=None) -> np.ndarray:
        raise NotImplementedError


class GlorotUniform(Initializer):
    """Uniform on [-limit, limit] with limit = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010).

    For a kernel of shape (I, O), fan_in = I and fan_out = O; for a vector of
    length n both are n, as in Keras. With an int ``seed`` every call draws the
    same values; with ``seed=None`` draws come from npnet's global generator
    (see ``npnet.utils.set_random_seed``).
    """

    def __init__(self, seed: int | None = None):
        self.seed = None if seed is None else check_int(seed, "seed", minimum=0)

    def __call__(self, shape: tuple[int, ...], dtype=None) -> np.ndarray:
        shape = tuple(shape)
        fan_in, fan_out = (shape[0], shape[-1]) if shape else (1, 1)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        rng = utils.random_generator() if self.seed is None else np.random.default_rng(self.seed)
        return rng.uniform(-limit, limit, size=shape).astype(dtype or backend.float_dtype())


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape: tuple[int, ...], dtype=None) -> np.ndarray:
        return np.zeros(shape, dtype=dtype or backend.float_dtype())


_REGISTRY: dict[str, type[Initializer]] = {"glorot_uniform": GlorotUniform, "zeros": Zeros}

InitializerLike = Union[str, Initializer, Callable[..., np.ndarray]]


def get(identifier: InitializerLike) -> Callable[..., np.ndarray]:
    """An initializer from its name (``"glorot_uniform"``, ``"zeros"``), an instance or a callable."""
    if isinstance(identifier, str):
        if identifier not in _REGISTRY:
            raise ValueError(f"unknown initializer {identifier!r}; expected one of {sorted(_REGISTRY)}")
        return _REGISTRY[identifier]()
    if callable(identifier):
        return identifier
    raise TypeError(f"initializer must be a name, an Initializer or a callable, got {identifier!r}")
