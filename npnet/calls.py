"""A computation as a list of calls: NumPy functions bound to the arrays they read and write.

A training step on a batch makes the same NumPy calls on the same arrays every
time; only the numbers in the arrays change. So fit has each layer, the loss
and the optimizer hand over their calls once, bound with ``functools.partial``
to their arrays, and runs the lists (``npnet.training.step``,
docs/backprop.md#the-compiled-step). A layer's ``forward`` that writes its work
as calls runs the same list at once, so both paths compute the same numbers.

A call that reads and writes the same array in place takes the same array
object for both. Before a ufunc writes into ``out``, NumPy checks every input
that shares memory with it for an overlap that would need a copy; for two
distinct views of the same memory (``y[rows]`` sliced twice) that is a small
integer equation solved each call (numpy's mem_overlap.c); the same object it
passes at once (on its buffered path, for casts, it skips identical views too).
Measured single-threaded on a 2-core AMD EPYC, ``np.maximum`` of a (250, 33)
float32 view: 1.48 against 1.12 us a call; the tutorial's step made six such
calls (its ReLUs and their masked gradients), ~2 ms of its fit.
tests/unit/test_calls.py checks fit's compiled steps and validation pass for them.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np

Calls = list[Callable[[], Any]]

# NumPy's functions other than its ufuncs (np.dot, np.copyto) first run a small Python function that
# collects their arguments, to look for ``__array_function__`` overrides among them: 0.12 us of each
# np.dot call, 1.5 ms of the tutorial's fit of 12,100 of them. Calls bound to npnet's own arrays, which
# are plain ndarrays, call NumPy's implementation itself (``__wrapped__``): the same C function.
dot = getattr(np.dot, "__wrapped__", np.dot)
copyto = getattr(np.copyto, "__wrapped__", np.copyto)
_maximum = np.maximum


def maximum(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``np.maximum(a, b, out=out)``, to bind with ``out`` positional.

    np.maximum deprecates a third positional argument (the call warns, on a slow path), and a
    ``partial`` that binds ``out`` as a keyword calls the ufunc with a copy of its keyword dict,
    NumPy's slower way in: inside the tutorial's fit 0.25 us more per ReLU than a call written
    out (as here): 0.6-0.9 ms over the fit's 3,300 ReLU calls (benchmarks/RESULTS.md).
    """
    return _maximum(a, b, out=out)


def run(calls: Calls) -> None:
    """Make the calls, in order."""
    for call in calls:
        call()


def writes_calls(obj: Any, base: type) -> bool:
    """Whether ``obj``'s ``forward_calls`` describe what its ``forward`` and ``backward`` compute.

    True when a class below ``base`` wrote ``forward_calls`` and ``obj``'s class
    has that class's ``forward`` and ``backward`` unchanged; a subclass that
    replaced either with code of its own has that code run instead.
    """
    cls = type(obj)
    owner = next(c for c in cls.__mro__ if "forward_calls" in vars(c))
    return owner is not base and cls.forward is owner.forward and cls.backward is owner.backward


def calls_of(obj: Any, base: type) -> tuple[Callable, Callable]:
    """``obj``'s (forward_calls, backward_calls): its own if it ``writes_calls``, else ``base``'s, which
    bind one call of each method."""
    if writes_calls(obj, base):
        return obj.forward_calls, obj.backward_calls
    return partial(base.forward_calls, obj), partial(base.backward_calls, obj)
