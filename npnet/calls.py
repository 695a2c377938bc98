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
from operator import is_
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


class LastBinding:
    """What a method bound last and the objects it bound it to: binding again to the same objects gives it back.

    fit binds a step's calls for every batch (npnet.training.step), and every
    batch of a size hands a layer between two others the same arrays: the
    outputs of the layer below, the gradients of the layer above. Bound anew,
    each batch's calls would hold views of their own of those arrays (``y[:, :-1]``,
    ``x.T``): the same memory, but NumPy reads each view object on every call,
    and the tutorial's epoch of 22 steps read 893 array objects where 198 now
    hold the same bindings. Measured single-threaded on a 2-core AMD EPYC, an
    epoch's steps after its other work, alternating in one process with views
    of their own rebuilt for the comparison: 36.4-37.2 against 37.7-37.9 us a
    step with the views shared (medians of three runs, a quiet machine); 45.2
    against 51.7 while it was busy (an earlier version, 226 shared objects).

    The key is the identity (``is``) of the method's arguments and of the state it
    reads; the arrays a method takes from its own work arrays stay its own until
    it is bound to new weights (``Layer.bind`` starts afresh). A copy (pickle,
    ``copy.deepcopy``) starts empty: its keys are the original's objects.
    """

    __slots__ = ("key", "value")

    def __init__(self) -> None:
        self.key: tuple = ()
        self.value: Any = None

    def __reduce__(self) -> tuple:
        return type(self), ()

    def get(self, key: tuple) -> Any:
        """The value bound to ``key``'s objects, each the same object as the stored key's; else None."""
        if len(key) == len(self.key) and all(map(is_, key, self.key)):
            return self.value
        return None

    def set(self, key: tuple, value: Any) -> None:
        self.key, self.value = key, value


class Views:
    """Views of arrays made once per site: ``views(site, a, make)`` is ``make(a)``, the same object while
    the site is handed the same array object (``LastBinding`` says why that counts). Each site keeps its
    last array and view, as a layer keeps its last input; a copy starts empty, as ``LastBinding``."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __reduce__(self) -> tuple:
        return type(self), ()

    def __call__(self, site: str, a: np.ndarray, make: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        last = self._last.get(site)
        if last is None or last[0] is not a:
            last = self._last[site] = (a, make(a))
        return last[1]


def transposed(a: np.ndarray) -> np.ndarray:
    """a.T, a kind of view for ``Views``."""
    return a.T


def without_last_column(a: np.ndarray) -> np.ndarray:
    """a[:, :-1]: v of [v 1], a kind of view for ``Views``."""
    return a[:, :-1]


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
