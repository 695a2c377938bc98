"""One flat buffer for all of a model's parameters, one for their gradients.

Each layer's ``W``, ``b``, ``dW``, ``db`` are reshaped *views* into these
buffers, handed out in ``get_weights()`` order (W1, b1, W2, b2, ...); the
trainable ones lie first, as one slice. So the optimizer
updates every parameter with a few whole-array statements, gradient checks
perturb one flat array, and ``set_weights`` writes through the views
(``view[...] = w``; rebinding a name would detach it from the buffer).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


class ParameterBuffer:
    """Contiguous ``values`` (P,) and ``grads`` (P,) with per-tensor views into both.

    ``shapes`` lists every parameter tensor's shape in ``get_weights()`` order;
    ``trainable`` (default: all) says which ones the optimizer updates. The
    trainable tensors are laid out first, in order, as one leading slice
    ``values[:T]`` (``grads[:T]``), the non-trainable ones after it: so the
    optimizer sees exactly one pair ``(grads[:T], values[:T])`` and a frozen
    weight costs it nothing. ``value_views`` and ``grad_views`` stay in the given
    order whatever the layout; the grad view of a non-trainable tensor is None.
    ``grads`` is the first row of a (2, P) array whose second row an optimizer
    may write into (``with_row_below``: Adam squares the gradient there).
    """

    def __init__(self, shapes: list[tuple[int, ...]], dtype: np.dtype, trainable: list[bool] | None = None):
        self.shapes = [tuple(shape) for shape in shapes]
        self.trainable = [True] * len(self.shapes) if trainable is None else [bool(t) for t in trainable]
        size = sum(math.prod(shape) for shape in self.shapes)
        self.values = np.zeros(size, dtype=dtype)            # (P,)
        self.grads = np.zeros((2, size), dtype=dtype)[0]     # (P,); grads[T:] stay zero
        self._make_views()

    def _make_views(self) -> None:
        sizes = [math.prod(shape) for shape in self.shapes]
        order = ([i for i, t in enumerate(self.trainable) if t] + [i for i, t in enumerate(self.trainable) if not t])
        self._starts, offset = [0] * len(sizes), 0
        for i in order:
            self._starts[i], offset = offset, offset + sizes[i]
        self.trainable_size = sum(size for size, t in zip(sizes, self.trainable) if t)   # T
        self.value_views = self.views(self.values)
        self.grad_views = [view if t else None for view, t in zip(self.views(self.grads), self.trainable)]

    def views(self, flat: np.ndarray) -> list[np.ndarray]:
        """Per-tensor views, in the given order, of any (P,) array laid out like ``values``."""
        return [flat[a:a + math.prod(s)].reshape(s) for a, s in zip(self._starts, self.shapes)]

    # pickle and copy.deepcopy copy every array on its own, which would turn the
    # views into detached copies; only the flat buffers travel, the views are re-cut.
    def __getstate__(self) -> dict:
        return {"shapes": self.shapes, "trainable": self.trainable, "values": self.values, "grads": self.grads}

    def __setstate__(self, state: dict) -> None:
        self.shapes, self.values = state["shapes"], state["values"]
        self.grads = np.zeros((2, self.values.size), self.values.dtype)[0]   # pickle copies grads without its row below
        self.grads[...] = state["grads"]
        self.trainable = state.get("trainable", [True] * len(self.shapes))
        self._make_views()

    @property
    def size(self) -> int:
        """P, the number of scalar parameters."""
        return self.values.size

    def trainable_pair(self) -> tuple[np.ndarray, np.ndarray]:
        """``(grads[:T], values[:T])``: what the optimizer updates, as one pair of flat arrays."""
        t = self.trainable_size
        return (self.grads, self.values) if t == self.size else (self.grads[:t], self.values[:t])

    def trainable_sizes(self) -> list[int]:
        """The sizes of the trainable tensors as laid end to end in ``values[:T]`` (they sum to T)."""
        return [math.prod(shape) for shape, trainable in zip(self.shapes, self.trainable) if trainable]


# -- a stack of layers over one buffer (layers follow npnet.layers.base.Layer's protocol) --------------

def weight_specs(layers: Sequence[Any], input_dim: int) -> list[list[Any]]:
    """Each layer's ``weights_spec`` for a stack fed ``input_dim`` features, in order."""
    specs = []
    for layer in layers:
        specs.append(layer.weights_spec(input_dim))
        input_dim = layer.output_dim(input_dim)
    return specs


def output_dim(layers: Sequence[Any], input_dim: int) -> int:
    """The width of the stack's output for ``input_dim`` input features."""
    for layer in layers:
        input_dim = layer.output_dim(input_dim)
    return input_dim


def trainable_flags(layers: Sequence[Any], input_dim: int) -> list[bool]:
    """Per weight tensor: does the optimizer update it (its spec and its layer's ``trainable`` both say so)."""
    return [w.trainable and layer.trainable for layer, specs in zip(layers, weight_specs(layers, input_dim))
            for w in specs]


def allocate(layers: Sequence[Any], input_dim: int, dtype: np.dtype, old: ParameterBuffer | None) -> ParameterBuffer:
    """A buffer for the stack, laid out trainable first, holding ``old``'s values and bound to every layer.

    ``old`` (the buffer of the same stack before layers were appended or
    frozen) is copied view by view: tensors keep their place in ``get_weights()`` order.
    """
    buffer = ParameterBuffer([w.shape for specs in weight_specs(layers, input_dim) for w in specs], dtype,
                             trainable_flags(layers, input_dim))
    for new, previous in zip(buffer.value_views, old.value_views if old is not None else []):
        new[...] = previous
    bind_layers(layers, input_dim, buffer)
    return buffer


def bind_layers(layers: Sequence[Any], input_dim: int, buffer: ParameterBuffer) -> None:
    """Hand every layer its views of ``buffer`` (values are kept)."""
    first = 0   # index of each layer's first tensor in the buffer's view lists
    for layer, specs in zip(layers, weight_specs(layers, input_dim)):
        last = first + len(specs)
        layer.bind(input_dim, buffer.value_views[first:last], buffer.grad_views[first:last])
        first, input_dim = last, layer.output_dim(input_dim)


class WorkArrays:
    """Arrays reused from batch to batch: each call hands out (n, width) arrays for a batch of n rows.

    ``columns`` maps a name to the width of that array, so a training loop
    allocates nothing per step. The arrays are kept for each of the last
    ``SIZES_KEPT`` batch sizes (a fit has its full batches, its last one and its
    validation pass). Those named in ``column_major`` are stored column by
    column (Fortran order; ``npnet.layers.dense`` says why), the others row by
    row; those named in ``ones_column`` get their last column filled with ones
    once, when they are allocated (the bias trick, ``npnet.layers.dense``).
    ``ones(n)`` is a read-only vector of ones, for sums over the batch written
    as products (``db = 1^T dz``): BLAS sums the rows of a (250, 32) array about
    five times faster than ``np.sum(axis=0)``.
    """

    SIZES_KEPT = 4

    def __init__(self, dtype: np.dtype, ones_column: tuple[str, ...] = (), column_major: tuple[str, ...] = (),
                 **columns: int):
        self.dtype, self.columns = dtype, columns
        self._layout = [("F" if name in column_major else "C", name in ones_column) for name in columns]
        self._n, self._views, self._by_size, self._ones = -1, [], {}, {}

    def rows(self, n: int) -> list[np.ndarray]:
        """Arrays (n, width), in the order of ``columns``."""
        if n != self._n:   # most steps reuse the last batch size and its arrays
            if n not in self._by_size:
                if len(self._by_size) == self.SIZES_KEPT:
                    evicted = next(iter(self._by_size))
                    del self._by_size[evicted], self._ones[evicted]
                self._by_size[n] = self._allocate(n)
                self._ones[n] = np.ones(n, self.dtype)
                self._ones[n].flags.writeable = False
            self._n, self._views = n, self._by_size[n]
        return self._views

    def _allocate(self, n: int) -> list[np.ndarray]:
        arrays = [np.empty((n, width), self.dtype, order=order)
                  for width, (order, _) in zip(self.columns.values(), self._layout)]
        for array, (_, with_ones) in zip(arrays, self._layout):
            if with_ones:
                array[:, -1] = 1
        return arrays

    def ones(self, n: int) -> np.ndarray:
        """A read-only (n,) vector of ones, one per n, the same object every time (npnet.calls.LastBinding
        says why); ``rows(n)`` must have been called first."""
        return self._ones[n]


def stacked(top: np.ndarray, row: np.ndarray) -> np.ndarray | None:
    """``[top; row]``, shape (I+1, O), as one view of the buffer, when the row (O,) directly follows top (I, O).

    A Dense layer's kernel W and bias b are laid out one after the other, so
    ``[W; b]`` is a view too: the bias trick (``npnet.layers.dense``) multiplies
    by it. None when the two are not adjacent in one contiguous buffer.
    """
    base = top.base
    if (base is None or not base.flags.c_contiguous or not top.flags.c_contiguous
            or row.base is not base or top.ndim != 2 or row.shape != (top.shape[1],)):
        return None
    start = (top.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // base.itemsize
    if row.__array_interface__["data"][0] != top.__array_interface__["data"][0] + top.nbytes:
        return None
    return base.reshape(-1)[start:start + top.size + row.size].reshape(top.shape[0] + 1, top.shape[1])


def with_row_below(row: np.ndarray) -> np.ndarray | None:
    """``[row; the row below it]`` (2, n) as one view, when ``row`` (n,) starts the first row of a C-contiguous
    (2, m) array, as a model's gradient buffer does (``ParameterBuffer``); None otherwise."""
    base = row.base
    if (base is None or base.ndim != 2 or base.shape[0] != 2 or not base.flags.c_contiguous or row.ndim != 1
            or row.strides != (base.itemsize,)
            or row.__array_interface__["data"][0] != base.__array_interface__["data"][0]):
        return None
    return base[:, :row.size]
