"""Checks at the public boundary: each raises a ValueError/TypeError naming the argument.

Everything inside npnet trusts its arrays; these functions are where that trust
is earned, once per public call, before any state changes.
"""
from __future__ import annotations

import collections.abc
import numbers
from typing import Any

import numpy as np


def check_int(value: Any, name: str, minimum: int | None = None) -> int:
    """``value`` as an int, refusing bools, floats and anything below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is a bool (NumPy bools too); 0/1 and other truthy things are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def check_float(value: Any, name: str, low: float, high: float,
                low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float inside [low, high] (ends open where asked)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not np.isfinite(value) or too_low or too_high:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def check_not_a_stream(value: Any, name: str) -> None:
    """Refuse generators, iterators and datasets (tf.data, Keras's PyDataset, a DataLoader) with what to pass.

    They are iterable but not collections, and have no ``__array__``: NumPy
    would make a 0-d object array of one (whose error says only "dtype object"),
    and npnet, which slices and shuffles whole arrays, has no streaming input.
    """
    if (isinstance(value, collections.abc.Iterable) and not isinstance(value, collections.abc.Collection)
            and not hasattr(value, "__array__")):
        raise TypeError(
            f"{name} is a {type(value).__name__} object: npnet takes arrays, not generators, iterators or "
            "datasets; collect the batches into NumPy arrays first, e.g. batches = list(dataset.as_numpy_iterator()) "
            "for a tf.data.Dataset (or list(generator)), then x, y = (np.concatenate(part) for part in zip(*batches))")


def as_real_array(value: Any, name: str) -> np.ndarray:
    """``value`` as an array of bools, ints or floats (no copy when it already is one).

    Strings, objects and complex numbers are refused rather than guessed at:
    casting complex to float would silently drop the imaginary part. Streams
    are refused by ``check_not_a_stream``.
    """
    check_not_a_stream(value, name)
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of numbers: {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (bool, int or float), got dtype {array.dtype}")
    return array


ALL_FINITE_SUM_MIN = 65_536   # entries: from here on ``all_finite`` sums first


def all_finite(array: np.ndarray) -> bool:
    """Whether every entry of the float array is finite, usually in one pass and without a temporary.

    A NaN or an infinity makes the sum NaN or infinite, so a finite sum proves every entry finite;
    only a sum that is not (a non-finite entry, or finite entries whose sum overflows) is checked
    entry by entry. ``np.isfinite(array).all()`` writes a boolean array the size of ``array``
    first: for the compute-bound benchmark's x (100,000 x 100) 10 MB of memory touched for the
    first time, 13 ms of a 1 s epoch (benchmarks/RESULTS.md), against about 3 ms for the sum.
    """
    if array.size < ALL_FINITE_SUM_MIN:   # small: the error-state context would cost more than the temporary
        return bool(np.isfinite(array).all())
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(array, axis=None)):
            return True
    return bool(np.isfinite(array).all())


def as_tensor_like(value: Any, name: str) -> np.ndarray:
    """``value`` as TensorFlow converts it (a float array keeps its dtype; lists, bools and ints become float32), finite.

    (A list of Python floats is float32 in TensorFlow, not NumPy's float64.)
    """
    array = as_real_array(value, name)
    if not (isinstance(value, (np.ndarray, np.generic)) and array.dtype.kind == "f"):
        with np.errstate(over="ignore"):   # a number beyond float32's range becomes inf, refused below
            array = array.astype(np.float32)
    if not all_finite(array):
        raise ValueError(f"{name} has non-finite values (NaN or inf)")
    return array


def as_float_array(value: Any, name: str, dtype: np.dtype, ndim: int) -> np.ndarray:
    """``value`` as a finite, non-empty ``dtype`` array of exactly ``ndim`` dimensions.

    Booleans, integers and floats convert (as Keras converts them to floatx);
    everything else is refused (``as_real_array``).
    """
    array = as_real_array(value, name)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); it needs at least one sample")
    # C order: BLAS takes a Fortran-ordered x by another path whose float32 sums differ in the
    # last bit, and the result must not depend on the caller's memory layout (nor in Keras does it).
    with np.errstate(over="ignore"):
        converted = np.asarray(array, dtype=dtype, order="C")
    if not all_finite(converted):
        where = "" if np.isfinite(array).all() else " (NaN or inf)"
        raise ValueError(f"{name} has non-finite values{where or f' after conversion to {dtype}'}")
    return converted


def check_sample_weight(sample_weight: Any, n: int, dtype: np.dtype, name: str = "sample_weight") -> np.ndarray:
    """One finite weight >= 0 per sample: a (n,) ``dtype`` array (Keras's per-sample loss weights)."""
    weights = as_float_array(sample_weight, name, dtype, ndim=1)
    if len(weights) != n:
        raise ValueError(f"{name} must hold one weight per sample ({n}), got {len(weights)}")
    if weights.min() < 0:
        raise ValueError(f"{name} must be >= 0, got a minimum of {weights.min()}")
    return weights


def check_unit_interval(array: np.ndarray, name: str, reason: str = "for binary crossentropy") -> None:
    """Probabilities (binary crossentropy's targets, metrics' inputs): refuse anything outside [0, 1]."""
    if array.min() < 0 or array.max() > 1:
        raise ValueError(f"{name} must lie in [0, 1] {reason}, "
                         f"got values in [{array.min()}, {array.max()}]")


def check_multilabel(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray]:
    """y_true as an int64 (N, K) array of 0/1 labels, y_prob as a float64 (N, K) array in [0, 1]."""
    y_prob = as_float_array(y_prob, "y_prob", np.float64, ndim=2)
    labels = as_float_array(y_true, "y_true", np.float64, ndim=2)
    if labels.shape != y_prob.shape:
        raise ValueError(f"y_true and y_prob must have the same shape, got {labels.shape} and {y_prob.shape}")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError(f"y_true must hold 0/1 labels, got values such as {labels[~np.isin(labels, (0.0, 1.0))][0]}")
    check_unit_interval(y_prob, "y_prob", "(probabilities)")
    return labels.astype(np.int64), y_prob


def check_weights_list(weights: Any, targets: list[np.ndarray], name: str) -> list[np.ndarray]:
    """``weights`` as arrays matching ``targets`` one for one: same count, same shapes, finite.

    Values are converted to each target's dtype, as Keras's ``set_weights``
    assigns float64 arrays to float32 variables.
    """
    if not isinstance(weights, (list, tuple)):
        raise TypeError(f"{name} must be a list of arrays, got {type(weights).__name__}")
    if len(weights) != len(targets):
        raise ValueError(f"{name} must hold {len(targets)} arrays, got {len(weights)}")
    arrays = []
    for index, (value, target) in enumerate(zip(weights, targets)):
        array = as_real_array(value, f"{name}[{index}]")
        if array.shape != target.shape:
            raise ValueError(f"{name}[{index}] must have shape {target.shape}, got {array.shape}")
        arrays.append(as_float_array(array, f"{name}[{index}]", target.dtype, ndim=target.ndim)
                      if array.size else array.astype(target.dtype))
    return arrays


def as_class_ids(value: Any, name: str, num_classes: int | None = None) -> np.ndarray:
    """``value`` as an intp array of class ids in [0, num_classes): integers, or floats holding integers.

    A trailing axis of length 1 is dropped ((N, 1) -> (N,)), as Keras's sparse
    losses and ``to_categorical`` drop it. Keras casts floats to int64, which
    truncates 1.7 to 1; npnet refuses non-integral ids instead.
    """
    array = as_real_array(value, name)
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); it needs at least one class id")
    if array.ndim > 1 and array.shape[-1] == 1:
        array = array.reshape(array.shape[:-1])
    if array.dtype.kind == "b":
        raise TypeError(f"{name} must hold integer class ids, got booleans")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ValueError(f"{name} has non-finite values (NaN or inf); class ids must be integers")
        if (array != np.round(array)).any():
            raise ValueError(f"{name} must hold integer class ids, got values such as "
                             f"{array[array != np.round(array)].flat[0]}")
    low, high = array.min(), array.max()
    if low < 0:
        raise ValueError(f"{name} must hold class ids >= 0, got {low}")
    if num_classes is not None and high >= num_classes:
        raise ValueError(f"{name} holds class id {high}, but there are {num_classes} classes "
                         f"(ids 0 to {num_classes - 1})")
    if high >= np.iinfo(np.intp).max:
        raise ValueError(f"{name} holds class id {high}, too large for an index")
    return array.astype(np.intp)
