"""Dropout: inverted dropout, as Keras's ``Dropout`` layer (derivation: docs/backprop.md#dropout)."""
from __future__ import annotations

from typing import Any

import numpy as np

from npnet import utils
from npnet._validation import check_float, check_int
from npnet.layers.base import Layer
from npnet.params import WorkArrays


def _check_noise_shape(noise_shape: Any) -> tuple[int | None, int | None] | None:
    """None, or (rows, columns) of the mask, each an int >= 1 or None (= the input's size), as Keras."""
    if noise_shape is None:
        return None
    if not isinstance(noise_shape, (tuple, list)) or len(noise_shape) != 2:
        raise ValueError(f"noise_shape must be None or a pair (rows, columns) of ints or None, got {noise_shape!r}")
    return tuple(None if size is None else check_int(size, f"noise_shape[{i}]", minimum=1)
                 for i, size in enumerate(noise_shape))


class Dropout(Layer):
    """In training, ``y = x * m / (1 - rate)`` with m[n, i] = 1 with probability 1 - rate, else 0; else ``y = x``.

    x, y (N, I). The mask m is drawn anew at every training forward pass, of
    shape ``noise_shape`` (default (N, I); a 1 repeats one draw along that
    axis, as Keras's noise_shape) and kept for backward, which applies the
    same scaled mask: ``dx = dy * m / (1 - rate)``. At inference (predict,
    evaluate, validation) and with rate 0 the layer is the identity; with
    rate 1 its output is 0, as Keras's. An int ``seed`` gives the layer a
    generator of its own (a different mask each step, the same sequence each
    run); with ``seed=None`` masks come from npnet's global stream
    (``npnet.utils.set_random_seed``). Why 1/(1 - rate): docs/backprop.md#dropout.
    """

    def __init__(self, rate: float, noise_shape: tuple[int | None, int | None] | None = None,
                 seed: int | None = None, name: str | None = None, trainable: bool = True,
                 input_dim: int | None = None, input_shape: tuple[int] | None = None):
        super().__init__(name=name, trainable=trainable, input_dim=input_dim, input_shape=input_shape)
        self.rate = check_float(rate, "rate", 0.0, 1.0)
        self.noise_shape = _check_noise_shape(noise_shape)
        self.seed = None if seed is None else check_int(seed, "seed", minimum=0)
        self._rng = None if seed is None else np.random.default_rng(self.seed)
        # TensorFlow's scale: 1 / (1 - rate) in Python's float64, then rounded to the data's dtype.
        self._scale = 0.0 if self.rate == 1.0 else 1.0 / (1.0 - self.rate)
        self.mask = None

    def bind(self, input_dim: int, values: list[np.ndarray], grads: list[np.ndarray | None]) -> None:
        super().bind(input_dim, values, grads)
        self._work = None          # made at the first training pass, in the data's dtype

    def _rows(self, x: np.ndarray) -> list[np.ndarray]:
        if self._work is None or self._work.dtype != x.dtype:
            self._work = WorkArrays(x.dtype, y=self.input_dim, dx=self.input_dim)
        return self._work.rows(len(x))

    def mask_shape(self, x_shape: tuple[int, int]) -> tuple[int, int]:
        """The mask's shape for x of ``x_shape``: ``noise_shape`` with each None replaced by x's size."""
        if self.noise_shape is None:
            return x_shape
        shape = tuple(x_size if size is None else size for size, x_size in zip(self.noise_shape, x_shape))
        if any(size not in (1, x_size) for size, x_size in zip(shape, x_shape)):
            raise ValueError(f"noise_shape {self.noise_shape} does not broadcast to the input's shape {x_shape}")
        return shape

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """x (N, I) -> y (N, I): x itself unless training with rate > 0."""
        if not training or self.rate == 0.0:
            self.mask = None                     # backward is the identity too
            return x
        y, _ = self._rows(x)
        rng = self._rng if self._rng is not None else utils.random_generator()
        # Keras keeps a unit where a uniform draw in [0, 1) (in x's dtype) is >= rate.
        mask = rng.random(self.mask_shape(x.shape), dtype=x.dtype)     # noise_shape, in [0, 1)
        np.greater_equal(mask, x.dtype.type(self.rate), out=mask)      # noise_shape: 1.0 kept, 0.0 dropped
        mask *= x.dtype.type(self._scale)                               # noise_shape: 1/(1-rate) or 0
        self.mask = mask
        return np.multiply(x, mask, out=y)      # (N, I) = (N, I) * noise_shape, broadcast

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """dy (N, I) -> dx = dy * mask / (1 - rate) (N, I), the forward pass's own mask."""
        if not need_dx:
            return None
        if self.mask is None:
            return dy
        _, dx = self._rows(dy)
        return np.multiply(dy, self.mask, out=dx)   # (N, I) = (N, I) * noise_shape, broadcast

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
                "seed": self.seed, **super().get_config()}
