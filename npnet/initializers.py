"""Weight initializers: ``init(shape, dtype) -> ndarray``, with Keras 3's names, arguments and defaults.

Randomness: an initializer built with an int ``seed`` draws the same values at
every call (a fresh ``np.random.default_rng(seed)`` each time, as Keras's
integer seeds behave); with ``seed=None`` it draws from npnet's global stream,
which ``npnet.utils.set_random_seed`` seeds. NumPy cannot reproduce
TensorFlow's random streams, so the *distributions* match Keras's, not the
values (tests/unit/test_initializers.py checks them statistically against Keras).

Fans follow Keras's ``compute_fans``: a kernel (I, O) has fan_in = I and
fan_out = O; a vector (n,) has fan_in = fan_out = n; a scalar 1 and 1.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Union

import numpy as np

from npnet import _registry, backend, utils
from npnet._validation import check_float, check_int

Shape = tuple[int, ...]

# The standard deviation of a standard normal truncated to [-2, 2]:
# sqrt(1 - 4 phi(2) / (2 Phi(2) - 1)). VarianceScaling divides by it so that the
# *truncated* draws have variance `scale / n`, as Keras does.
TRUNCATED_NORMAL_STDDEV = 0.87962566103423978
_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


def _check_shape(shape: Any) -> Shape:
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"shape must be a tuple of ints, got {type(shape).__name__} {shape!r}")
    return tuple(check_int(size, f"shape[{i}]", minimum=0) for i, size in enumerate(shape))


def _check_dtype(dtype: Any) -> np.dtype:
    if dtype is None:
        return backend.float_dtype()
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    return backend.float_dtype(name)   # float32 or float64; anything else is refused


def _check_real(value: Any, name: str) -> float:
    return check_float(value, name, -math.inf, math.inf)


def compute_fans(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape``, as Keras's ``compute_fans``.

    () -> (1, 1); (n,) -> (n, n); (I, O) -> (I, O); (..., I, O) -> I and O times
    the product of the leading (receptive field) sizes.
    """
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def truncated_normal(rng: np.random.Generator, shape: Shape, mean: float, stddev: float,
                     dtype: np.dtype) -> np.ndarray:
    """Normal(mean, stddev) draws, every one more than 2 stddev from the mean drawn again.

    As TensorFlow's ``truncated_normal``: the result lies in
    [mean - 2 stddev, mean + 2 stddev] and its standard deviation is
    ``TRUNCATED_NORMAL_STDDEV * stddev``.
    """
    z = rng.standard_normal(shape)                       # shape, float64
    outside = np.abs(z) > 2.0
    while outside.any():
        z[outside] = rng.standard_normal(np.count_nonzero(outside))
        outside = np.abs(z) > 2.0
    return (mean + stddev * z).astype(dtype)


class Initializer:
    """Base class: calling an initializer returns a new ``dtype`` array of ``shape``."""

    def __call__(self, shape: Shape, dtype: Any = None) -> np.ndarray:
        return self.draw(_check_shape(shape), _check_dtype(dtype))

    def draw(self, shape: Shape, dtype: np.dtype) -> np.ndarray:
        """The values for a checked ``shape`` and ``dtype``."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments: ``type(self)(**config)`` is an equal initializer."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Initializer":
        """The initializer that ``get_config`` describes."""
        return cls(**config)


class RandomInitializer(Initializer):
    """An initializer that draws random values: from its own seed, or from npnet's global stream."""

    def __init__(self, seed: int | None = None):
        self.seed = None if seed is None else check_int(seed, "seed", minimum=0)

    def generator(self) -> np.random.Generator:
        """A fresh generator from ``seed`` (the same draws every call), or npnet's global one."""
        return utils.random_generator() if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class Zeros(Initializer):
    """All zeros."""

    def draw(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    """All ones."""

    def draw(self, shape, dtype):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    """Every value ``value`` (a finite real scalar), rounded to the dtype."""

    def __init__(self, value: float = 0.0):
        self.value = _check_real(value, "value")

    def draw(self, shape, dtype):
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(RandomInitializer):
    """Normal(mean, stddev) draws; Keras's defaults mean=0.0, stddev=0.05."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean = _check_real(mean, "mean")
        self.stddev = check_float(stddev, "stddev", 0.0, math.inf, high_open=True)
        super().__init__(seed)

    def draw(self, shape, dtype):
        return self.generator().normal(self.mean, self.stddev, size=shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomNormal):
    """Normal(mean, stddev) draws, those beyond 2 stddev from the mean drawn again (``truncated_normal``)."""

    def draw(self, shape, dtype):
        return truncated_normal(self.generator(), shape, self.mean, self.stddev, dtype)


class RandomUniform(RandomInitializer):
    """Uniform draws on [minval, maxval); Keras's defaults -0.05 and 0.05."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval = _check_real(minval, "minval")
        self.maxval = _check_real(maxval, "maxval")
        if self.maxval < self.minval:
            raise ValueError(f"maxval must be >= minval, got minval={self.minval}, maxval={self.maxval}")
        super().__init__(seed)

    def draw(self, shape, dtype):
        return self.generator().uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class VarianceScaling(RandomInitializer):
    """Draws of variance ``scale / n``, n = fan_in, fan_out or their mean (``mode``).

    ``distribution="uniform"``: Uniform(-limit, limit), limit = sqrt(3 scale / n).
    ``"truncated_normal"`` (also ``"normal"``): a normal truncated at 2 stddev
    with stddev = sqrt(scale / n) / 0.8796..., so the truncated draws have
    variance scale / n. ``"untruncated_normal"``: Normal(0, sqrt(scale / n)).
    The arithmetic (``scale /= max(1, n)``, then the square root) is Keras's.
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None):
        self.scale = check_float(scale, "scale", 0.0, math.inf, low_open=True, high_open=True)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {list(_MODES)}, got {mode!r}")
        if not isinstance(distribution, str):
            raise TypeError(f"distribution must be a str, got {distribution!r}")
        distribution = {"normal": "truncated_normal"}.get(distribution.lower(), distribution.lower())
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {list(_DISTRIBUTIONS)}, got {distribution!r}")
        self.mode, self.distribution = mode, distribution
        super().__init__(seed)

    def variance(self, shape: Shape) -> float:
        """scale / max(1, n): the variance of the draws for a weight of ``shape``."""
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def draw(self, shape, dtype):
        scale, rng = self.variance(shape), self.generator()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * scale)
            return rng.uniform(-limit, limit, size=shape).astype(dtype)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(scale), size=shape).astype(dtype)
        return truncated_normal(rng, shape, 0.0, math.sqrt(scale) / TRUNCATED_NORMAL_STDDEV, dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                **super().get_config()}


class _Preset(VarianceScaling):
    """A VarianceScaling with fixed ``PRESET`` arguments; its only argument is ``seed`` (as Keras's presets)."""

    PRESET: dict[str, Any] = {}

    def __init__(self, seed: int | None = None):
        super().__init__(**self.PRESET, seed=seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_Preset):
    """Uniform(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""

    PRESET = {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform"}


class GlorotNormal(_Preset):
    """Truncated normal of variance 2 / (fan_in + fan_out)."""

    PRESET = {"scale": 1.0, "mode": "fan_avg", "distribution": "truncated_normal"}


class HeUniform(_Preset):
    """Uniform(-limit, limit), limit = sqrt(6 / fan_in) (He et al., 2015)."""

    PRESET = {"scale": 2.0, "mode": "fan_in", "distribution": "uniform"}


class HeNormal(_Preset):
    """Truncated normal of variance 2 / fan_in (He et al., 2015)."""

    PRESET = {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"}


class LecunUniform(_Preset):
    """Uniform(-limit, limit), limit = sqrt(3 / fan_in)."""

    PRESET = {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"}


class LecunNormal(_Preset):
    """Truncated normal of variance 1 / fan_in."""

    PRESET = {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"}


def _snake_case(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


_CLASSES = (Zeros, Ones, Constant, RandomNormal, TruncatedNormal, RandomUniform, VarianceScaling,
            GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal)
# Keras's names: each class name, its snake_case function name, and Keras's aliases.
_REGISTRY: dict[str, type[Initializer]] = {
    **{cls.__name__: cls for cls in _CLASSES}, **{_snake_case(cls.__name__): cls for cls in _CLASSES},
    "normal": RandomNormal, "uniform": RandomUniform, "one": Ones, "zero": Zeros}

InitializerLike = Union[str, dict, Initializer, Callable[..., np.ndarray]]


def serialize(initializer: Initializer) -> dict[str, Any]:
    """``{"class_name": "HeNormal", "config": {"seed": None}}``: Keras's form, JSON-able."""
    return _registry.serialize(initializer, _REGISTRY, "initializer")


def deserialize(data: dict[str, Any]) -> Initializer:
    """The initializer that ``serialize`` described."""
    return _registry.deserialize(data, _REGISTRY, "initializer")


def get(identifier: InitializerLike) -> Callable[..., np.ndarray]:
    """An initializer from a name (``"he_normal"``, ``"HeNormal"``), a serialized dict, a class, an instance or a callable."""
    if isinstance(identifier, str):
        if identifier not in _REGISTRY:
            raise ValueError(f"unknown initializer {identifier!r}; expected one of {sorted(_REGISTRY)}")
        return _REGISTRY[identifier]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier) and not isinstance(identifier, type):
        return identifier
    raise TypeError(f"initializer must be a name, a serialized dict, an Initializer or a callable, "
                    f"got {identifier!r}")
