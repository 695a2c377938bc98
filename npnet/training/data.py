"""The training data: the validation split, class weights as sample weights, and the epoch iterator's batches.

Owns ``validation_split``, ``class_weight``, ``batch_size``, ``shuffle`` and the
split and shuffling of ``sample_weight`` (keras/src/trainers/data_adapters/).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from npnet import utils
from npnet._validation import as_float_array, check_float, check_int


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` as an int >= 1 (None means 32, as Keras)."""
    return 32 if batch_size is None else check_int(batch_size, "batch_size", minimum=1)


def split_validation(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None,
                     validation_split: float) -> tuple[tuple, tuple]:
    """((x, y, w), (x_val, y_val, w_val)): the LAST fraction held out before shuffling, as Keras.

    split_at = floor(N * (1 - validation_split)); both parts must hold a sample.
    """
    split_at = math.floor(len(x) * (1.0 - validation_split))
    if split_at == 0 or split_at == len(x):
        raise ValueError(f"validation_split={validation_split} leaves {split_at} of {len(x)} "
                         "samples for training; both parts need at least one")
    w, w_val = (None, None) if sample_weight is None else (sample_weight[:split_at], sample_weight[split_at:])
    return (x[:split_at], y[:split_at], w), (x[split_at:], y[split_at:], w_val)


def class_weights_as_sample_weights(class_weight: Any, y: np.ndarray, sample_weight: np.ndarray | None,
                                    dtype: np.dtype, loss: Any) -> np.ndarray:
    """Keras's class_weight: sample n weighs class_weight[c_n] (1 for a class not in the dict).

    c_n is the one class of sample n, as the loss reads it from its targets
    (``Loss.sample_classes``: the 0/1 target of a one-unit sigmoid output, the
    argmax of a one-hot row, a sparse class id); losses without one refuse.
    """
    if sample_weight is not None:
        raise ValueError("class_weight and sample_weight cannot be used together (as in Keras)")
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class: weight}}, got {type(class_weight).__name__}")
    classes = loss.sample_classes(y)                       # (N,) ints, or a ValueError saying why not
    for key, value in class_weight.items():
        check_int(key, "class_weight key", minimum=0)
        check_float(value, f"class_weight[{key}]", 0.0, math.inf, high_open=True)
    per_class = np.ones(max([int(classes.max()), *class_weight]) + 1)
    per_class[list(class_weight)] = list(class_weight.values())
    # refuses weights that overflow the model's dtype
    return as_float_array(per_class, "class_weight", dtype, ndim=1)[classes]


class EpochIterator:
    """Mini-batches of (x, y, sample_weight) for each epoch: contiguous slices of one shuffled copy per epoch.

    ``shuffle`` draws each epoch's order from ``npnet.utils.random_generator()``;
    the shuffled copies are allocated once, so an epoch allocates nothing. With
    ``ones_column`` the x batches carry a last column of ones, [x 1] (N, I+1),
    for a first layer that folds its bias into its kernel's product (the bias
    trick, ``npnet.layers.dense``). ``y`` and ``sample_weight`` hold the
    current epoch's order, and so does ``x`` unless ``gathers``.

    ``gathers``: x takes more than ``GATHER_BYTES``, so it is not shuffled as a
    whole; each step gathers its batch's rows into a small array of its own,
    which the first layer then reads while it is still in the cache (the
    whole-epoch copy is written to memory and read back from it). Single-threaded
    on the compute-bound problem of benchmarks/scaling.py (100,000 x 100, batches
    of 1,024) that took an epoch of the floor's arithmetic 4% faster; below a few
    MB the epoch's copy stays in the cache, and one call per epoch beats one per step.
    Gathering, x is not widened either: the rows go next to the batch array's
    column of ones. Memory the process touches for the first time costs the
    kernel a page fault and a cleared page: on this repository's VM 1.9 ms per
    MB, so the 40 MB widened copy of that problem's x took 90 ms, 9% of its
    epoch, against 2.5 ms for 98 gathers into a strided view.
    """

    GATHER_BYTES = 4 * 2**20

    def __init__(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None, batch_size: int,
                 shuffle: bool, ones_column: bool = False):
        self.gathers = shuffle and x.nbytes > self.GATHER_BYTES
        if ones_column and not self.gathers:   # a widened copy to shuffle from: np.take into a strided view is 3x slower
            x = with_ones_column(x)
        self.source, self.batch_size, self.shuffle = (x, y, sample_weight), batch_size, shuffle
        self.num_samples, self.num_batches = len(x), math.ceil(len(x) / batch_size)
        # this epoch's order of the rows, drawn into ``order`` from the identity (when shuffling)
        self.order = np.arange(self.num_samples) if shuffle else None
        self._identity = np.arange(self.num_samples) if shuffle else None
        self.x = np.empty_like(x) if shuffle and not self.gathers else x
        self.y = np.empty_like(y) if shuffle else y
        self.sample_weight = sample_weight.copy() if shuffle and sample_weight is not None else sample_weight
        # Every batch is a view of the epoch's arrays, which are reshuffled in place: cut once.
        w, gathered = self.sample_weight, {}
        self._batches = []
        for step, start in enumerate(range(0, self.num_samples, batch_size)):
            stop = min(start + batch_size, self.num_samples)
            if self.gathers:   # one array per batch size (its column of ones set once), filled by the step's first call
                if stop - start not in gathered:
                    gathered[stop - start] = np.ones((stop - start, x.shape[1] + ones_column), x.dtype)
                xb = gathered[stop - start]
                x_calls = [partial(np.take, x, self.order[start:stop], axis=0, out=xb[:, :x.shape[1]], mode="clip")]
            else:
                xb, x_calls = self.x[start:stop], []
            self._batches.append((step, stop, x_calls, xb, self.y[start:stop], None if w is None else w[start:stop]))

    def epoch(self) -> list[tuple[int, int, list, np.ndarray, np.ndarray, np.ndarray | None]]:
        """Shuffles (if asked), then the batches (``batches``), in order.

        The order is ``Generator.permutation``'s, drawn in place into ``order``
        (``shuffle`` of the identity is the same permutation, from the same draws).
        ``mode="clip"`` lets ``np.take`` write straight into ``out`` (its default,
        "raise", buffers the whole result first: 2x slower); ``order`` is a
        permutation, so no index is ever clipped.
        """
        if self.shuffle:
            x, y, sample_weight = self.source
            np.copyto(self.order, self._identity)
            utils.random_generator().shuffle(self.order)
            if not self.gathers:
                np.take(x, self.order, axis=0, out=self.x, mode="clip")
            np.take(y, self.order, axis=0, out=self.y, mode="clip")
            if sample_weight is not None:
                np.take(sample_weight, self.order, out=self.sample_weight, mode="clip")
        return self._batches

    def gather_calls(self, index: int, rows: slice) -> list:
        """The calls that gather rows ``rows`` of batch ``index`` into its array (a block of what its
        ``x_calls`` gather; none unless ``gathers``), for fit's split step (npnet.training.split)."""
        if not self.gathers:
            return []
        _, stop, _, xb, _, _ = self._batches[index]
        x = self.source[0]
        order = self.order[stop - len(xb):stop]
        return [partial(np.take, x, order[rows], axis=0, out=xb[rows, :x.shape[1]], mode="clip")]

    def batches(self, count: int | None = None) -> list[tuple[int, int, list, np.ndarray, np.ndarray, np.ndarray | None]]:
        """The current epoch's first ``count`` batches (all by default), in order, not reshuffled: each
        (step, end, x_calls, x_batch, y_batch, w_batch), ``end`` the number of samples seen after it and
        ``x_calls`` the calls that gather x_batch's rows (none unless ``gathers``)."""
        return self._batches[:count]


def with_ones_column(x: np.ndarray) -> np.ndarray:
    """[x 1] (N, I+1): a copy of x (N, I) with a last column of ones (the bias trick, ``npnet.layers.dense``)."""
    widened = np.ones((len(x), x.shape[1] + 1), x.dtype)
    widened[:, :-1] = x
    return widened
