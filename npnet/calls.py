"""A computation as a list of calls: NumPy functions bound to the arrays they read and write.

A training step on a batch makes the same NumPy calls on the same arrays every
time; only the numbers in the arrays change. So fit has each layer, the loss
and the optimizer hand over their calls once, bound with ``functools.partial``
to their arrays, and runs the lists (``npnet.training.step``,
docs/backprop.md#the-compiled-step). A layer's ``forward`` that writes its work
as calls runs the same list at once, so both paths compute the same numbers.
"""
from __future__ import annotations

from typing import Any, Callable

Calls = list[Callable[[], Any]]


def run(calls: Calls) -> None:
    """Make the calls, in order."""
    for call in calls:
        call()
