"""Large elementwise NumPy calls split into contiguous row blocks across a persistent pool of threads.

An experiment of issue 16, kept with its measurements (benchmarks/compute_bound_ops.py,
benchmarks/RESULTS.md): on a 2-core machine it lost time in the compute-bound
epoch, so npnet does not use it.

    split_threads.elementwise(np.multiply, dx, mask, out=dx)     # as np.multiply(dx, mask, out=dx)

Why this works: NumPy releases the GIL inside a ufunc's inner loop (for
numeric dtypes and more than a few hundred elements), so T threads that each
run the same ufunc on one block of the operands run on T cores at once. Why
it is exact: an elementwise ufunc computes each output element from the
input elements at the same index only, with the same inner loop whatever the
block (SIMD or not, the result of an element does not depend on its
neighbours), so the split call writes the very bits the plain call writes
(tests/repo/test_split_threads.py proves it for odd sizes, aliasing, 2-D row
blocks, float32 and float64). Reductions (``np.add.reduce``) are NOT
elementwise: a split sum adds in another order; never pass one here.

The split: along axis 0 into ``threads()`` near-equal blocks, each a
contiguous slice of a C-contiguous array. An operand whose leading extent is
1 (after NumPy's broadcasting pads its shape), or a scalar, is passed whole
to every block (it broadcasts the same way in each). ``out`` is required and
must have the full broadcast shape; it may be an input itself (the blocks of
``out`` and of that input coincide, so no block reads what another writes);
an input that overlaps ``out`` any other way gets the plain call.

What it costs: handing a block to a worker and waiting for it is a thread
wake-up each way (a queue put, a futex, the GIL taken once by the worker):
measured 70-90 us per split call on a 2-core VM (a bare queue round trip
between two threads: 40-70 us there), against 220 us for a plain 2 MB
float32 ``np.maximum``; and an elementwise call is mostly memory-bound, so
two threads give at most about 1.5x (2M float32 elements: 870 -> 595 us).
Split and plain break even near 600,000-800,000 elements (float32, 2
threads; ``python -m benchmarks.compute_bound_ops --threshold``), hence
SPLIT_THRESHOLD; below it, and with one thread, ``elementwise`` is the plain
call and creates no pool. Splitting the compute-bound epoch's per-step calls
(at most 920,000 elements) lost 3-14% of the epoch, so npnet's hot path does
not use it there; see benchmarks/compute_bound_ops.py.

How it learns the thread count, in order: ``set_threads(n)``; else the
smallest of OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS that is set
(a user who caps BLAS wants this capped too); else the cores this process
may run on (``os.sched_getaffinity``). A threadpoolctl limit set at run time
is invisible from here: call ``set_threads`` with it as well (the benchmarks
do so for ``--threads``).
"""
from __future__ import annotations

import os
import queue
import threading
from typing import Any

import numpy as np

SPLIT_THRESHOLD = 1 << 20   # elements of ``out``: below it a split lost (module docstring)
_LIMIT_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_threads: int | None = None   # set_threads's value; None: from the environment, on first use
_pool: _Pool | None = None


def default_threads() -> int:
    """The smallest positive OMP/OPENBLAS/MKL_NUM_THREADS set, else the number of usable cores."""
    limits = [int(os.environ[name]) for name in _LIMIT_VARIABLES if os.environ.get(name, "").strip().isdigit()]
    limits = [limit for limit in limits if limit > 0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(limits) if limits else cores


def threads() -> int:
    """How many threads ``elementwise`` splits a large call across (1: never split)."""
    global _threads
    if _threads is None:
        _threads = default_threads()
    return _threads


def set_threads(n: int | None) -> None:
    """Split large elementwise calls across ``n`` threads (1: plain calls); None: back to ``default_threads()``."""
    global _threads, _pool
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive int or None, got {n!r}")
    if _pool is not None and _pool.size != (n or default_threads()):
        _pool.close()
        _pool = None
    _threads = n


def elementwise(ufunc: np.ufunc, *operands: Any, out: np.ndarray) -> np.ndarray:
    """``ufunc(*operands, out=out)``, split into row blocks across ``threads()`` threads when ``out`` is large.

    ``ufunc`` is an elementwise NumPy ufunc with one output; ``out`` (the
    broadcast shape of the operands) receives the result and is returned.
    """
    if not isinstance(ufunc, np.ufunc) or ufunc.nout != 1:
        raise TypeError(f"ufunc must be a NumPy ufunc with one output, got {ufunc!r}")
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array, got {type(out).__name__}")
    n = threads()
    if n == 1 or out.size < SPLIT_THRESHOLD or out.ndim == 0 or any(_overlaps_shifted(o, out) for o in operands):
        return ufunc(*operands, out=out)
    rows = out.shape[0]
    blocks = min(n, rows)
    bounds = [rows * index // blocks for index in range(blocks + 1)]
    calls = [(ufunc, [_block(operand, out.ndim, a, b) for operand in operands], out[a:b])
             for a, b in zip(bounds, bounds[1:])]
    _get_pool(n).run(calls)
    return out


def _overlaps_shifted(operand: Any, out: np.ndarray) -> bool:
    """Whether ``operand`` may share memory with ``out`` other than as the very same view.

    Then one block could read what another block writes; the plain call
    (which NumPy makes safe by buffering) is used instead.
    """
    if not isinstance(operand, np.ndarray) or not np.may_share_memory(operand, out):
        return False
    same = (operand.__array_interface__["data"][0] == out.__array_interface__["data"][0]
            and operand.shape == out.shape and operand.strides == out.strides)
    return not same


def _block(operand: Any, ndim: int, start: int, stop: int) -> Any:
    """Rows start:stop of ``operand`` as broadcast against an ``ndim``-D output, or all of it if it broadcasts."""
    array = np.asarray(operand)
    if array.ndim < ndim or array.shape[0] == 1:   # padded with a leading 1, or of extent 1: same in every block
        return operand
    return array[start:stop]


def _get_pool(n: int) -> _Pool:
    global _pool
    if _pool is None:
        _pool = _Pool(n)
    return _pool


class _Pool:
    """``size - 1`` daemon workers; the calling thread runs the first block itself."""

    def __init__(self, size: int):
        self.size = size
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._workers = [threading.Thread(target=self._work, name=f"npnet-parallel-{index}", daemon=True)
                         for index in range(size - 1)]
        for worker in self._workers:
            worker.start()

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            (ufunc, operands, out), done, errors = task
            try:
                with np.errstate(**errors):   # the caller's: NumPy's error state is per thread
                    ufunc(*operands, out=out)
                done.put(None)
            except BaseException as error:   # handed to the caller, which raises it
                done.put(error)

    def run(self, calls: list[tuple]) -> None:
        """Run every (ufunc, operands, out) call, the first here and the others on the workers; raise the first error.

        The workers run under the caller's ``np.errstate`` (a "raise" raises, an "ignore" stays quiet).
        """
        done: queue.SimpleQueue = queue.SimpleQueue()   # this call's own: callers on several threads may share the pool
        for call in calls[1:]:
            self._tasks.put((call, done, np.geterr()))
        ufunc, operands, out = calls[0]
        errors = []
        try:
            ufunc(*operands, out=out)
        except BaseException as error:
            errors.append(error)
        for _ in calls[1:]:               # wait for every block, even after an error: none may still write
            result = done.get()
            if result is not None:
                errors.append(result)
        if errors:
            raise errors[0]

    def close(self) -> None:
        for _ in self._workers:
            self._tasks.put(None)
