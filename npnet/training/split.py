"""A training step split across the cores: rows first, then parameters (docs/backprop.md#the-split-step).

With BLAS on two threads, OpenBLAS splits each matrix product across the
cores and NumPy runs every elementwise call on one. fit splits large steps
instead, between ``Workers``: the calling thread and the others, each with
single-threaded BLAS, taking each step in two phases:

1. **rows**: worker w takes the w-th block of the batch's rows through the
   forward pass, the loss's gradient at the output, the ReLU masks and the
   backward chain of dx products. Each of these calls reads and writes only
   its rows of the batch's arrays, which the workers share (row-major, so
   that each block is contiguous): a row of x W is that row of x times W.
2. **parameters**, after a barrier: worker w takes the w-th block of the
   trainable parameters, cut at a kernel row: its rows of every [dW; db] over
   the whole batch, then the optimizer's update of that block. Every gradient
   entry costs N multiply-adds, so half the parameters is half that work.

A barrier ends the step: the next one reads the updated weights. No sum is
split, so each entry of each product is over the same terms as in the whole
step. ``Step.splits`` says where it applies; benchmarks/RESULTS.md what it saves.
"""
from __future__ import annotations

import ctypes
import functools
import os
import re
import signal
import threading
from typing import Any, Callable

import numpy as np

from npnet.calls import Calls, run


def blocks(n: int, parts: int) -> list[slice]:
    """``parts`` consecutive slices tiling range(n), their lengths within one of each other."""
    cuts = [n * part // parts for part in range(parts + 1)]
    return [slice(a, b) for a, b in zip(cuts, cuts[1:])]


# -- OpenBLAS's thread count ------------------------------------------------------------------------
#
# NumPy has no call that sets its BLAS's threads. OpenBLAS exports one, openblas_set_num_threads
# (under the names of the build NumPy's wheels bundle, scipy-openblas), in the library the process
# has loaded; threadpoolctl calls the same. Where it cannot be found (another BLAS, another OS) fit
# does not split its steps.

_SUFFIXES = ("scipy_openblas_{}64_", "scipy_openblas_{}", "openblas_{}64_", "openblas_{}")


@functools.lru_cache(maxsize=1)
def _openblas() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """(get, set) of NumPy's OpenBLAS's thread count, found in /proc/self/maps (Linux), or None.

    Another OpenBLAS may be loaded too (SciPy's, a system one): the libraries in NumPy's own
    folders come first, NumPy's wheels bundling theirs beside the package (numpy.libs)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if re.search(r"openblas[^/]*\.so", line)}
    except OSError:
        return None
    home = os.path.dirname(os.path.dirname(np.__file__))
    numpys = (os.path.join(home, "numpy") + os.sep, os.path.join(home, "numpy.libs") + os.sep)
    paths = sorted(paths, key=lambda path: (not path.startswith(numpys), path))
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for pattern in _SUFFIXES:
            get = getattr(library, pattern.format("get_num_threads"), None)
            set_ = getattr(library, pattern.format("set_num_threads"), None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes, set_.restype, set_.argtypes = ctypes.c_int, [], None, [ctypes.c_int]
                return get, set_
    return None


def blas_threads() -> int:
    """How many threads NumPy's BLAS runs a product on now (its setting, which a user's limit lowers);
    1 where npnet cannot tell, so that it splits nothing there."""
    found = _openblas()
    return max(1, found[0]()) if found is not None else 1


# -- the workers -----------------------------------------------------------------------------------

class Workers:
    """The calling thread and ``count - 1`` daemon threads running steps' phases together.

    ``run(phases)``: for each phase, worker w makes the calls ``phase[w]``, and
    all wait at a barrier before the next; the caller is worker 0. During the
    steps BLAS runs on one thread (OpenBLAS's own threads would take the
    cores): ``run`` sets it, and ``release`` (after an epoch's steps, before
    the validation pass and the callbacks) and ``close`` put its count back. A worker's exception is
    raised again in the caller. Ctrl-C waits for the step's end: during a
    step the caller's SIGINT handler only notes the signal, which is raised
    again once every worker is through, so an interrupt leaves the weights of
    whole steps, as fit's other steps do. (Blocking the signal in these
    threads would not do: the kernel hands it to any thread that does not
    block it, OpenBLAS's own among them, and Python then raises it in the
    calling thread wherever it is.)
    """

    def __init__(self, count: int):
        self.count = count
        self._get, self._set = _openblas() or (None, None)
        self._blas_threads = self._get() if self._get is not None else None
        self._single = False   # whether run set BLAS to one thread and release has not put it back
        self._barrier = threading.Barrier(count)
        self._phases: list[list[Calls]] | None = None
        self._errors: dict[str, Any] = {}
        self._failure: BaseException | None = None
        self._threads = [threading.Thread(target=self._work, args=(worker,), daemon=True,
                                          name=f"npnet-step-{worker}") for worker in range(1, count)]
        for thread in self._threads:
            thread.start()

    def _work(self, worker: int) -> None:
        while True:
            try:
                self._barrier.wait()                      # a step begins (``close`` breaks the barrier)
                with np.errstate(**self._errors):         # the caller's, as each thread has its own
                    for phase in self._phases:
                        run(phase[worker])
                        self._barrier.wait()
            except threading.BrokenBarrierError:
                return
            except BaseException as error:
                self._failure = error
                self._barrier.abort()
                return

    def run(self, phases: list[list[Calls]]) -> None:
        """One step: each phase's calls, worker w making ``phase[w]``, a barrier after each."""
        if not self._single and self._set is not None:
            self._set(1)
            self._single = True
        self._phases, self._errors = phases, np.geterr()
        interrupts: list[int] = []
        # where Python runs signal handlers, and a handler Python set (None: one set outside Python)
        previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
        noting = previous is not None
        if noting:
            signal.signal(signal.SIGINT, lambda signum, frame: interrupts.append(signum))
        try:
            self._barrier.wait()
            for phase in phases:
                run(phase[0])
                self._barrier.wait()
        except threading.BrokenBarrierError:
            if self._failure is not None:
                raise self._failure
            raise
        except BaseException:
            self._barrier.abort()
            raise
        finally:
            if noting:
                signal.signal(signal.SIGINT, previous)
        if interrupts:
            signal.raise_signal(signal.SIGINT)   # now, to whatever handled it before (KeyboardInterrupt)

    def release(self) -> None:
        """BLAS's thread count as it was before the steps (the workers stay)."""
        if self._single:
            self._set(self._blas_threads)
            self._single = False

    def close(self) -> None:
        """Let the threads end; BLAS's thread count as it was."""
        if not self._barrier.broken:
            self._barrier.abort()
        for thread in self._threads:
            thread.join()
        self.release()
