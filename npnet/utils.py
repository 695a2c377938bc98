"""Seeding: one ``np.random.Generator`` behind every random draw npnet makes."""
from __future__ import annotations

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
