"""Tables of features and labels from files: ``load_table`` reads a CSV (with pandas) or an NPZ (with NumPy).

A CSV has a header row; the label columns are named (``labels``) or share a
prefix (``label_prefix``) and every other column is a feature. Cells are
numbers, or ``True``/``False`` as pandas writes boolean columns (read as 1/0).
An NPZ holds ``x`` (N, I), optionally ``y`` (N, K), ``feature_names`` (I,) and
``label_names`` (K,). Files are read with ``np.load(allow_pickle=False)``:
no file can run code. Every problem with a file is a ``DataError`` whose
message names the file and, where there is one, the column and line.

CSV parsing is pandas's C parser (``pip install 'npnet[data]'``); see
benchmarks/RESULTS.md, "Reading a CSV", for its speed. pandas reports a bad cell without
its line, so when its result holds one (a cell that is not a number, an
empty cell, a short or long row) the file is scanned once more with the
``csv`` module to name the first bad cell's line and column.
"""
from __future__ import annotations

import csv
import math
import os
import warnings
import zipfile
from typing import Any, NamedTuple, Sequence

import numpy as np

from npnet._validation import check_float, check_int

INSTALL_PANDAS = "reading CSV files needs pandas: pip install 'npnet[data]'"
# pandas writes a boolean column as True/False and reads these spellings back as booleans.
_BOOLEANS = {"true": 1.0, "false": 0.0}


class DataError(ValueError):
    """A data file that cannot be used: missing, unreadable, or holding values a model cannot take."""


class Table(NamedTuple):
    x: np.ndarray                    # (N, I) float64 features
    y: np.ndarray | None             # (N, K) float64 labels in [0, 1] (raw_labels: numbers or text), or None
    feature_names: list[str] | None  # I names, or None when the file names no features (an NPZ without them)
    label_names: list[str]           # K names ([] when y is None; label_0, ... when an NPZ names none)


def load_table(path: str | os.PathLike, labels: Sequence[str] | None = None, label_prefix: str | None = None,
               features: Sequence[str] | None = None, delimiter: str = ",", raw_labels: bool = False) -> Table:
    """Features and labels from ``path``: ``.npz`` by its extension, CSV otherwise.

    CSV: ``labels`` (column names) or ``label_prefix`` choose the label
    columns; ``features`` (names, in the model's order) chooses the feature
    columns, else every column that is not a label is a feature; ``delimiter``
    separates the cells (one character).
    NPZ: ``labels``/``label_prefix`` select columns of ``y`` by ``label_names``;
    ``features`` selects columns of ``x`` by ``feature_names`` when the file
    has them, and is ignored when it has none (``x`` is taken as it is).
    ``raw_labels``: y as the file holds it, numbers (float64) or text (str) when
    a label column is not numeric, not checked against [0, 1]: what
    ``npnet.targets`` reads the task from.
    """
    path = os.fspath(path)
    if labels is not None and label_prefix is not None:
        raise ValueError("give labels or label_prefix, not both")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
        raise ValueError(f"delimiter must be one character other than a quote or a line break, got {delimiter!r}")
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    if is_npz(path):
        x, y, feature_names, label_names = _read_npz(path, labels, label_prefix, features, raw_labels)
    else:
        x, y, feature_names, label_names = _read_csv(path, labels, label_prefix, features, delimiter, raw_labels)
    _check_finite(path, x, feature_names or [f"feature_{i}" for i in range(x.shape[1])], "feature")
    if y is not None and y.dtype.kind == "f":
        _check_finite(path, y, label_names, "label")
    if y is not None and not raw_labels:
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

def _read_csv(path, labels, label_prefix, features, delimiter, raw_labels=False):
    header = _csv_header(path, delimiter)
    label_columns = _label_columns(path, header, labels, label_prefix)
    if features is not None:
        _require_columns(path, header, features, "feature")
        feature_columns = [header.index(name) for name in features]
    else:
        feature_columns = [i for i, name in enumerate(header) if i not in label_columns and name]
    if not feature_columns:
        raise DataError(f"{path}: no feature columns left once the label columns are taken")
    used = feature_columns + label_columns
    frame = _csv_frame(path, header, delimiter)
    try:
        x = _float_matrix(frame, [header[i] for i in feature_columns])
        names = [header[i] for i in label_columns]
        y = None if not label_columns else _text_or_numbers(frame, names) if raw_labels \
            else _float_matrix(frame, names)
    except _NotANumber as error:
        problem = _first_bad_cell(path, header, delimiter, used) or f"column {error}: a cell is not a number"
        raise DataError(f"{path}: {problem}") from None
    return x, y, [header[i] for i in feature_columns], [header[i] for i in label_columns]


def _csv_header(path: str, delimiter: str) -> list[str]:
    """The first non-blank row's cells, stripped: distinct, non-empty column names.

    The first name may be empty: ``DataFrame.to_csv`` writes its index there
    unless told ``index=False``, and that column is then neither feature nor label.
    """
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            first = next((row for row in csv.reader(handle, delimiter=delimiter) if not _blank(row)), None)
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    if first is None:
        raise DataError(f"{path}: empty CSV file (it needs a header row and data rows)")
    header = [name.strip() for name in first]
    if "" in header[1:] or len(set(header)) != len(header):
        raise DataError(f"{path}: the header row needs distinct, non-empty column names, got {header}")
    return header


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError(INSTALL_PANDAS) from None
    return pandas


def _csv_frame(path: str, header: list[str], delimiter: str) -> Any:
    """The whole file as a pandas DataFrame whose columns are named by ``header``.

    Only empty cells become NaN (``na_values=[""]``): a cell that pandas
    cannot read as a number leaves its column as text, converted (or
    refused) by ``_float_matrix``, and columns that are not used may hold
    anything. A row longer than the header is a ParserError, or, when every
    row is, a ParserWarning raised as an error. (Not ``usecols``: with it
    pandas drops a long row's extra cells without a word.)
    """
    pandas = _pandas()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pandas.errors.ParserWarning)
            warnings.simplefilter("ignore", pandas.errors.DtypeWarning)   # mixed columns are converted cell by cell
            frame = pandas.read_csv(path, sep=delimiter, header=0, index_col=False, keep_default_na=False,
                                    na_values=[""], encoding="utf-8", engine="c")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    except (pandas.errors.ParserError, pandas.errors.ParserWarning) as error:
        problem = _first_bad_cell(path, header, delimiter, [])
        raise DataError(f"{path}: {problem or 'not a readable CSV file (' + ' '.join(str(error).split()) + ')'}")
    if len(frame) == 0:
        raise DataError(f"{path}: the CSV has a header but no data rows")
    frame.columns = header   # pandas keeps the names' padding; these are stripped
    return frame


class _NotANumber(Exception):
    """A column holding a cell that is not a number (its name is the message); the caller finds the cell."""


def _float_matrix(frame: Any, names: list[str]) -> np.ndarray:
    """The named columns as one float64 (N, len(names)) array; ``_NotANumber`` names a column with a bad cell.

    Columns pandas parsed as numbers are taken as they are (when they are all
    float64 and adjacent in the frame, the array is a view of pandas's own
    block, with no copy); columns it left as text are converted cell by cell.
    """
    for name in names:
        column = frame[name]
        if column.dtype.kind not in "biuf":
            try:
                frame[name] = np.array([_cell_number(cell) for cell in column.tolist()], dtype=np.float64)
            except (TypeError, ValueError):
                raise _NotANumber(repr(name)) from None
        # na_values=[""]: a NaN that pandas parsed is an empty cell or a short row ("nan" stays text, above).
        elif column.dtype.kind == "f" and np.isnan(column.to_numpy()).any():
            raise _NotANumber(repr(name))
    return frame[names].to_numpy(dtype=np.float64)


def _text_or_numbers(frame: Any, names: list[str]) -> np.ndarray:
    """The named columns as float64 (N, K) when each is numeric, else as text (N, K) (class names)."""
    empty = frame[names].isna().to_numpy()   # an empty cell or a short row: _first_bad_cell says which
    if empty.any():
        raise _NotANumber(repr(names[np.argwhere(empty)[0][1]]))
    try:
        return _float_matrix(frame, names)
    except _NotANumber:
        return np.char.strip(frame[names].astype(str).to_numpy(dtype=str))


def _cell_number(cell: Any) -> float:
    """A cell pandas left as text (or as a value of a mixed column) as a float; ValueError if it is none."""
    if isinstance(cell, str):
        text = cell.strip()
        return _BOOLEANS[text.lower()] if text.lower() in _BOOLEANS else float(text)
    if cell is None or cell != cell:   # pandas's missing value: an empty cell
        raise ValueError("an empty cell")
    return float(cell)


def _blank(row: list[str]) -> bool:
    """A row pandas skips: no cells, or one cell of whitespace."""
    return not row or (len(row) == 1 and not row[0].strip())


def _first_bad_cell(path: str, header: list[str], delimiter: str, columns: list[int]) -> str | None:
    """The first row of another length than the header, or cell of ``columns`` that is not a number; None if none."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = ((number, row) for number, row in enumerate(csv.reader(handle, delimiter=delimiter), start=1)
                if not _blank(row))
        next(rows)   # the header
        for data_line, (number, row) in enumerate(rows, start=1):
            if len(row) != len(header):
                return f"line {number} has {len(row)} cells, the header has {len(header)}"
            for column in columns:
                try:
                    _cell_number(row[column])
                except ValueError:
                    what = "an empty cell" if not row[column].strip() else f"{row[column]!r}, not a number"
                    return f"column {header[column]!r}, data line {data_line}: {what}"
    return None


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
        hint = " (one column: is the file separated by another delimiter?)" if len(available) == 1 else ""
        raise DataError(f"{path}: unknown {kind} column{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))}; "
                        f"columns: {', '.join(available)}{hint}")


# -- NPZ -------------------------------------------------------------------------------------------

def _read_npz(path, labels, label_prefix, features, raw_labels=False):
    arrays = _npz_arrays(path)
    if "x" not in arrays:
        raise DataError(f"{path}: an NPZ data file needs an array 'x'; it has {', '.join(arrays) or 'none'}")
    x = _numeric(path, arrays["x"], "x", ndim=2)
    feature_names = None
    if "feature_names" in arrays:
        feature_names = _names(path, arrays, "feature_names", x.shape[1], "feature")
        if features is not None:
            _require_columns(path, feature_names, features, "feature")
            x = x[:, [feature_names.index(name) for name in features]]
            feature_names = list(features)
    if "y" not in arrays:
        if labels is not None or label_prefix is not None:
            raise DataError(f"{path}: labels were asked for, but the file has no array 'y'")
        return x, None, feature_names, []
    y = arrays["y"]
    y = y.reshape(-1, 1) if y.ndim == 1 else y
    y = y if raw_labels and y.dtype.kind == "U" and y.ndim == 2 else _numeric(path, y, "y", ndim=2)
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
