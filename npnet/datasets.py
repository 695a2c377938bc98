"""Tables of features and labels from files: ``load_table`` reads a CSV or an NPZ, with NumPy and the stdlib.

A CSV has a header row; the label columns are named (``labels``) or share a
prefix (``label_prefix``) and every other column is a feature. An NPZ holds
``x`` (N, I), optionally ``y`` (N, K), ``feature_names`` (I,) and
``label_names`` (K,). Files are read with ``np.load(allow_pickle=False)``:
no file can run code. Every problem with a file is a ``DataError`` whose
message names the file and, where there is one, the column and line.
"""
from __future__ import annotations

import csv
import math
import os
import zipfile
from typing import NamedTuple, Sequence

import numpy as np

from npnet._validation import check_float, check_int


class DataError(ValueError):
    """A data file that cannot be used: missing, unreadable, or holding values a model cannot take."""


class Table(NamedTuple):
    x: np.ndarray                  # (N, I) float64 features
    y: np.ndarray | None           # (N, K) float64 labels in [0, 1], or None when the file names none
    feature_names: list[str]       # I names
    label_names: list[str]         # K names ([] when y is None)


def load_table(path: str | os.PathLike, labels: Sequence[str] | None = None, label_prefix: str | None = None,
               features: Sequence[str] | None = None) -> Table:
    """Features and labels from ``path``: ``.npz`` by its extension, CSV otherwise.

    CSV: ``labels`` (column names) or ``label_prefix`` choose the label
    columns; ``features`` (names, in the model's order) chooses the feature
    columns, else every column that is not a label is a feature.
    NPZ: ``labels``/``label_prefix`` select columns of ``y`` by ``label_names``;
    ``features`` must equal the stored ``feature_names`` when there are any.
    """
    path = os.fspath(path)
    if labels is not None and label_prefix is not None:
        raise ValueError("give labels or label_prefix, not both")
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    read = _read_npz if is_npz(path) else _read_csv
    x, y, feature_names, label_names = read(path, labels, label_prefix, features)
    _check_finite(path, x, feature_names, "feature")
    if y is not None:
        _check_finite(path, y, label_names, "label")
        for column, name in enumerate(label_names):
            low, high = y[:, column].min(), y[:, column].max()
            if low < 0 or high > 1:
                raise DataError(f"{path}: label column {name!r} has values in [{low:g}, {high:g}]; "
                                "labels must lie in [0, 1]")
    return Table(x, y, feature_names, label_names)


def is_npz(path: str | os.PathLike) -> bool:
    """Whether ``load_table`` reads ``path`` as an NPZ archive (by its extension) rather than as CSV."""
    return os.fspath(path).lower().endswith(".npz")


def split(x: np.ndarray, y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, ...]:
    """``x_train, x_test, y_train, y_test`` after a shuffle seeded by ``seed``; ceil(N * test_size) test rows.

    The test count rounds up as scikit-learn's ``train_test_split`` does; the
    shuffle is NumPy's, so the rows chosen differ from scikit-learn's.
    """
    test_size = check_float(test_size, "test_size", 0.0, 1.0, low_open=True, high_open=True)
    seed = check_int(seed, "seed", minimum=0)
    n_test = math.ceil(len(x) * test_size)
    if n_test >= len(x):
        raise ValueError(f"test_size={test_size} leaves no training samples out of {len(x)}")
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:n_test], order[n_test:]
    return x[train], x[test], y[train], y[test]


# -- CSV -------------------------------------------------------------------------------------------

def _read_csv(path, labels, label_prefix, features):
    header, rows = _csv_rows(path)
    label_columns = _label_columns(path, header, labels, label_prefix)
    if features is not None:
        _require_columns(path, header, features, "feature")
        feature_columns = [header.index(name) for name in features]
    else:
        feature_columns = [i for i, name in enumerate(header) if i not in label_columns]
    if not feature_columns:
        raise DataError(f"{path}: no feature columns left once the label columns are taken")
    values = _csv_numbers(path, header, rows)
    y = values[:, label_columns] if label_columns else None
    return (values[:, feature_columns], y, [header[i] for i in feature_columns],
            [header[i] for i in label_columns])


def _csv_rows(path: str) -> tuple[list[str], list[list[str]]]:
    """The header (stripped names) and the non-blank rows, each as long as the header."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            lines = [(number, row) for number, row in enumerate(csv.reader(handle), start=1) if row]
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    if not lines:
        raise DataError(f"{path}: empty CSV file (it needs a header row and data rows)")
    header = [name.strip() for name in lines[0][1]]
    if "" in header or len(set(header)) != len(header):
        raise DataError(f"{path}: the header row needs distinct, non-empty column names, got {header}")
    for number, row in lines[1:]:
        if len(row) != len(header):
            raise DataError(f"{path}: line {number} has {len(row)} cells, the header has {len(header)}")
    if len(lines) == 1:
        raise DataError(f"{path}: the CSV has a header but no data rows")
    return header, [row for _, row in lines[1:]]


def _csv_numbers(path: str, header: list[str], rows: list[list[str]]) -> np.ndarray:
    """The cells as a float64 (N, columns) array; a cell that is not a number is named by line and column."""
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        pass
    for line, row in enumerate(rows, start=2):   # line 1 is the header (blank lines are not counted)
        for name, cell in zip(header, row):
            try:
                float(cell)
            except ValueError:
                what = "an empty cell" if not cell.strip() else f"{cell!r}, not a number"
                raise DataError(f"{path}: column {name!r}, data line {line - 1}: {what}") from None
    raise AssertionError("unreachable: NumPy refused a cell that float() accepts")  # pragma: no cover


def _label_columns(path: str, header: list[str], labels, label_prefix) -> list[int]:
    if label_prefix is not None:
        columns = [i for i, name in enumerate(header) if name.startswith(label_prefix)]
        if not columns:
            raise DataError(f"{path}: no column starts with {label_prefix!r}; columns: {', '.join(header)}")
        return columns
    if labels is None:
        return []
    _require_columns(path, header, labels, "label")
    return [header.index(name) for name in labels]


def _require_columns(path: str, available: list[str], names: Sequence[str], kind: str) -> None:
    if len(set(names)) != len(names) or not names:
        raise DataError(f"{path}: {kind} column names must be distinct and at least one, got {list(names)}")
    missing = [name for name in names if name not in available]
    if missing:
        raise DataError(f"{path}: unknown {kind} column{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))}; "
                        f"columns: {', '.join(available)}")


# -- NPZ -------------------------------------------------------------------------------------------

def _read_npz(path, labels, label_prefix, features):
    arrays = _npz_arrays(path)
    if "x" not in arrays:
        raise DataError(f"{path}: an NPZ data file needs an array 'x'; it has {', '.join(arrays) or 'none'}")
    x = _numeric(path, arrays["x"], "x", ndim=2)
    feature_names = _names(path, arrays, "feature_names", x.shape[1], "feature")
    if features is not None and "feature_names" in arrays and list(features) != feature_names:
        raise DataError(f"{path}: features {feature_names} differ from the expected {list(features)}")
    if "y" not in arrays:
        if labels is not None or label_prefix is not None:
            raise DataError(f"{path}: labels were asked for, but the file has no array 'y'")
        return x, None, feature_names, []
    y = arrays["y"]
    y = _numeric(path, y.reshape(-1, 1) if y.ndim == 1 else y, "y", ndim=2)
    if len(y) != len(x):
        raise DataError(f"{path}: x has {len(x)} rows, y has {len(y)}")
    label_names = _names(path, arrays, "label_names", y.shape[1], "label")
    columns = _label_columns(path, label_names, labels, label_prefix) or list(range(len(label_names)))
    return x, y[:, columns], feature_names, [label_names[i] for i in columns]


def _npz_arrays(path: str) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):   # np.load opens a lone .npy array too
            raise DataError(f"{path}: not an NPZ archive (a single .npy array?)")
        with archive:
            return {name: archive[name] for name in archive.files}
    except DataError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise DataError(f"{path}: holds pickled Python objects, which npnet never loads") from None
        raise DataError(f"{path}: not a readable NPZ file ({error})") from None
    except (AttributeError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{path}: not a readable NPZ file ({error})") from None


def _numeric(path: str, array: np.ndarray, name: str, ndim: int) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise DataError(f"{path}: array {name!r} must hold numbers, got dtype {array.dtype}")
    if array.ndim != ndim or array.size == 0:
        raise DataError(f"{path}: array {name!r} must be a non-empty {ndim}-D array, got shape {array.shape}")
    return array.astype(np.float64)


def _names(path: str, arrays: dict[str, np.ndarray], key: str, count: int, kind: str) -> list[str]:
    """Stored names (a 1-D string array of ``count`` entries), or ``<kind>_0``, ``<kind>_1``, ..."""
    if key not in arrays:
        return [f"{kind}_{i}" for i in range(count)]
    names = arrays[key]
    if names.dtype.kind != "U" or names.shape != (count,) or len(set(names.tolist())) != count:
        raise DataError(f"{path}: {key!r} must be {count} distinct strings, got {names!r}")
    return [str(name) for name in names]


# -- both ------------------------------------------------------------------------------------------

def _check_finite(path: str, values: np.ndarray, names: list[str], kind: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise DataError(f"{path}: {kind} column {names[column]!r} has {np.count_nonzero(bad[:, column])} "
                        f"NaN or infinite value(s), first in data row {row + 1}")
