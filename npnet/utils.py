"""Seeding: one ``np.random.Generator`` behind every random draw npnet makes."""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

from npnet._validation import check_int

_generator = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seed every npnet random draw (weight initialisation, shuffling).

    Two runs that call ``set_random_seed(s)`` with the same ``s`` and then do the
    same things get bit-identical weights and histories.
    """
    global _generator
    _generator = np.random.default_rng(check_int(seed, "seed", minimum=0))


def random_generator() -> np.random.Generator:
    """The generator that ``set_random_seed`` seeded (npnet's global stream)."""
    return _generator


@contextlib.contextmanager
def use_random_generator(generator: np.random.Generator) -> Iterator[np.random.Generator]:
    """Inside the ``with`` block, every npnet random draw comes from ``generator``.

    The global stream that ``set_random_seed`` seeds is put back afterwards,
    not advanced, so a seeded fit (``npnet.sklearn``'s ``random_state``) leaves
    everyone else's draws as they were. Not thread-safe: the stream is module state.
    """
    global _generator
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"generator must be a numpy.random.Generator, got {type(generator).__name__}")
    previous, _generator = _generator, generator
    try:
        yield generator
    finally:
        _generator = previous
