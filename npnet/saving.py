"""Files: ``.npz`` archives written atomically and read without unpickling.

A weights file holds ``weight_000``, ``weight_001``, ... in ``get_weights()``
order and a ``format_version``; a model file adds ``config``, the model's
architecture and compile settings as JSON text (and, from ``npnet train``,
``feature_names``, ``label_names``, the standardization's ``feature_mean``
and ``feature_scale``, the ``task`` and a multiclass model's ``label_column``) and, from a
compiled model, ``optimizer_<key>`` for each array of ``optimizer.get_state()``; any other
member is refused. Writing goes to a temporary
file in the same directory, then ``os.replace`` renames it over ``path``: a
crash mid-write never leaves a broken file there. Reading uses
``np.load(allow_pickle=False)`` and ``json.loads``, so no file can run code.
"""
from __future__ import annotations

import codecs
import json
import os
import re
import tempfile
import zipfile
from typing import Any

import numpy as np

# Version 2 names each layer's class in the config (``{"class_name": ..., "config": ...}``);
# version 1 files (Dense layers only, configs without class names) are still read.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
# Every name an npnet file may hold: the CLI's ``train`` adds the data's column names to a model file,
# the standardization of its features and the task (npnet.targets); a compiled model adds its optimizer's state.
_MEMBER = re.compile(r"format_version|config|weight_\d{3,}|feature_names|label_names|feature_mean|feature_scale"
                     r"|task|label_column|optimizer_[a-z0-9_]+")


def write_archive(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (plus ``format_version``) to ``path`` atomically.

    On any failure (a full disk, an interrupt, ``path`` being a directory)
    the temporary file is removed and whatever was at ``path`` stays as it was.
    """
    arrays = {**arrays, "format_version": np.array(FORMAT_VERSION)}
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(dir=directory, suffix=".npz.tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())   # the bytes are on disk before the rename makes them the file
        # mkstemp creates the file 0600; give it the mode open() would have, as np.save's files have.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_archive(path: str) -> dict[str, np.ndarray]:
    """The arrays of an npnet archive, refusing pickles, other formats and other versions.

    A file that is not a zip is named for what it is (text, a lone .npy array,
    a pickle, ...) before NumPy sees it: ``np.load`` would take any such file
    for a pickle and say it "contains pickled (object) data".
    """
    what = _not_a_zip(path)
    if what:
        raise ValueError(f"{path!r} is not a readable npnet file: it is {what}, not an .npz archive")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except Exception as error:  # noqa: BLE001 -- zipfile and numpy raise many types on broken files
        # (BadZipFile, EOFError, KeyError, NotImplementedError for flipped header bits, MemoryError
        # for a header claiming a huge shape, ...): whatever it is, the file is unreadable.
        raise ValueError(f"{path!r} is not a readable npnet file: {error}") from None
    not_arrays = [member for member in members if not member.endswith(".npy")]
    if not_arrays:
        raise ValueError(f"{path!r} is not an npnet file: a zip archive, but not an .npz of NumPy arrays "
                         f"(member {not_arrays[0]!r})")
    unexpected = sorted(name for name in arrays if not _MEMBER.fullmatch(name))
    if unexpected:
        raise ValueError(f"{path!r} is not an npnet file: an .npz archive with unexpected member "
                         f"{unexpected[0]!r} (npnet files hold config and weight_000, weight_001, ...)")
    version = arrays.pop("format_version", None)
    if version is None or version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(f"{path!r} is not an npnet file (no format_version)")
    if int(version) not in READABLE_VERSIONS:
        raise ValueError(f"{path!r} has format version {int(version)}; this npnet reads versions "
                         f"{', '.join(map(str, READABLE_VERSIONS))}")
    return arrays


# What a file that is not a zip is, by its first bytes (checked in order); a pickle of protocol
# 2 to 5 opens with the PROTO opcode 0x80 and the protocol number.
_SIGNATURES = ((b"\x93NUMPY", "a single NumPy array (.npy)"),
               (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a Keras .h5 model?)"),
               *((bytes([0x80, protocol]), "a Python pickle (npnet never loads pickles)") for protocol in range(2, 6)))


def _not_a_zip(path: str) -> str | None:
    """What the file at ``path`` is if it is not a zip archive (an .npz is a zip of .npy files), else None."""
    with open(path, "rb") as handle:
        head = handle.read(256)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):   # a zip's first member, or an empty zip's end record
        return None
    if not head:
        return "empty"
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return what
    try:   # incremental: a character cut at byte 256 is not an error
        text = codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return "binary data without a zip signature"
    if not all(char.isprintable() or char in "\t\r\n" for char in text):
        return "binary data without a zip signature"
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    guess = " (a CSV data file?)" if "," in first_line else ""
    return f"a text file starting {first_line[:40]!r}{guess}" if first_line else "a text file"


def weights_to_arrays(weights: list[np.ndarray]) -> dict[str, np.ndarray]:
    """``{"weight_000": W1, "weight_001": b1, ...}``."""
    return {f"weight_{i:03d}": w for i, w in enumerate(weights)}


def arrays_to_weights(arrays: dict[str, np.ndarray], path: str) -> list[np.ndarray]:
    """The weights list back from an archive's ``weight_*`` arrays, which must be numbered 0..n-1."""
    names = sorted(name for name in arrays if name.startswith("weight_"))
    if names != [f"weight_{i:03d}" for i in range(len(names))]:
        raise ValueError(f"{path!r}: weight arrays are not numbered 0..{len(names) - 1}: {names}")
    return [arrays[name] for name in names]


def optimizer_state_to_arrays(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"optimizer_iterations": ..., "optimizer_momentum_0": ...}`` from ``Optimizer.get_state()``."""
    return {f"optimizer_{key}": value for key, value in state.items()}


def arrays_to_optimizer_state(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``Optimizer.get_state()`` dict back from an archive (empty when the file has none)."""
    return {name[len("optimizer_"):]: value for name, value in arrays.items() if name.startswith("optimizer_")}


def config_to_array(config: dict[str, Any]) -> np.ndarray:
    """JSON text as a 0-d unicode array, storable in an .npz without pickle."""
    return np.array(json.dumps(config))


def array_to_config(array: np.ndarray, path: str) -> dict[str, Any]:
    """The JSON config stored by ``config_to_array``."""
    if array.shape != () or array.dtype.kind != "U":
        raise ValueError(f"{path!r}: config is not JSON text")
    try:
        config = json.loads(str(array))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path!r}: config is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path!r}: config must be a JSON object")
    return config


def check_keys(config: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """Refuse keys that ``Sequential.save`` never writes: a file holding them was not written by npnet."""
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {where} (expected only {', '.join(allowed)})")
