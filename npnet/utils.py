"""Utilities as Keras has them: seeding (one ``np.random.Generator`` behind every random draw npnet makes) and ``to_categorical``."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from npnet._validation import as_class_ids, check_int

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


def to_categorical(y: Any, num_classes: int | None = None) -> np.ndarray:
    """Class ids as one-hot rows, as keras.utils.to_categorical: float64, the class axis last.

    ``y`` holds integer ids (any shape; a trailing axis of length 1 is
    dropped, so (N,) and (N, 1) both give (N, C)); ``num_classes`` C
    defaults to max(y) + 1. Ids must lie in [0, C): Keras would index a
    negative id from the end and fail on one >= C.
    """
    if num_classes is not None:
        num_classes = check_int(num_classes, "num_classes", minimum=1)
    ids = as_class_ids(y, "y", num_classes)
    num_classes = int(ids.max()) + 1 if num_classes is None else num_classes
    one_hot = np.zeros((ids.size, num_classes))                  # (N, C)
    one_hot[np.arange(ids.size), ids.reshape(-1)] = 1.0
    return one_hot.reshape(*ids.shape, num_classes)
