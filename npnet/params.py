"""One flat buffer for all of a model's parameters, one for their gradients.

Each layer's ``W``, ``b``, ``dW``, ``db`` are reshaped *views* into these
buffers, in ``get_weights()`` order (W1, b1, W2, b2, ...). So the optimizer
updates every parameter with a few whole-array statements, gradient checks
perturb one flat array, and ``set_weights`` writes through the views
(``view[...] = w``; rebinding a name would detach it from the buffer).
"""
from __future__ import annotations

import math

import numpy as np


class ParameterBuffer:
    """Contiguous ``values`` (P,) and ``grads`` (P,) with per-tensor views into both.

    ``shapes`` lists every parameter tensor's shape in order; P is the sum of
    their sizes.
    """

    def __init__(self, shapes: list[tuple[int, ...]], dtype: np.dtype):
        self.shapes = [tuple(shape) for shape in shapes]
        size = sum(math.prod(shape) for shape in self.shapes)
        self.values = np.zeros(size, dtype=dtype)   # (P,)
        self.grads = np.zeros_like(self.values)     # (P,)
        self._make_views()

    def _make_views(self) -> None:
        ends = np.cumsum([math.prod(shape) for shape in self.shapes], dtype=np.int64)
        starts = ends - [math.prod(shape) for shape in self.shapes]
        self.value_views = [self.values[a:b].reshape(s) for a, b, s in zip(starts, ends, self.shapes)]
        self.grad_views = [self.grads[a:b].reshape(s) for a, b, s in zip(starts, ends, self.shapes)]

    # pickle and copy.deepcopy copy every array on its own, which would turn the
    # views into detached copies; only the flat buffers travel, the views are re-cut.
    def __getstate__(self) -> dict:
        return {"shapes": self.shapes, "values": self.values, "grads": self.grads}

    def __setstate__(self, state: dict) -> None:
        self.shapes, self.values, self.grads = state["shapes"], state["values"], state["grads"]
        self._make_views()

    @property
    def size(self) -> int:
        """P, the number of scalar parameters."""
        return self.values.size


class WorkArrays:
    """Arrays reused from batch to batch: each call hands out views of their first N rows.

    ``columns`` maps a name to the width of that array; storage grows only when
    a larger batch arrives, so a training loop allocates nothing per step.
    ``ones(n)`` is a read-only vector of ones, for sums over the batch written
    as products (``db = 1^T dz``): BLAS sums the rows of a (250, 32) array about
    five times faster than ``np.sum(axis=0)``.
    """

    def __init__(self, dtype: np.dtype, **columns: int):
        self.dtype, self.columns, self.capacity = dtype, columns, 0
        self._n, self._views = -1, []

    def rows(self, n: int) -> list[np.ndarray]:
        """Views (n, width) of every array, in the order of ``columns``."""
        if n != self._n:   # most steps reuse the last batch size and its views
            if n > self.capacity:
                self.arrays = [np.empty((n, width), self.dtype) for width in self.columns.values()]
                self._ones = np.ones(n, self.dtype)
                self._ones.flags.writeable = False
                self.capacity = n
            self._n, self._views = n, [array[:n] for array in self.arrays]
        return self._views

    def ones(self, n: int) -> np.ndarray:
        """A read-only (n,) vector of ones; ``rows(n)`` must have been called first."""
        return self._ones[:n]
