"""Feature standardization, ``(x - mean) / scale`` per feature, fitted on training data and stored with a model.

``npnet train`` fits it on the training split of a user's data and stores it
in the model file next to the column names (``feature_mean``,
``feature_scale``); ``npnet evaluate`` and ``npnet predict`` apply it before
the model sees the features. It is metadata of the file, not a layer: the
model itself stays a plain ``Sequential`` of Dense layers that
``npnet.models.load_model`` and ``npnet.interop.to_keras`` read unchanged,
and ``Standardization.from_archive`` gives it back to Python users.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from npnet import saving


class Standardization(NamedTuple):
    mean: np.ndarray    # (I,) float64, each feature's mean on the training rows
    scale: np.ndarray   # (I,) float64, each feature's standard deviation (ddof 0), 1 for a constant feature

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardization:
        """Mean and standard deviation of each column of ``x`` (N, I), in float64.

        A constant feature gets scale 1, so it becomes 0 instead of dividing
        rounding noise by rounding noise. Constant means a variance within the
        rounding error of computing it, scikit-learn's test
        (``sklearn.preprocessing._data._is_constant_feature``):
        ``var <= N eps var + (N eps mean)^2``.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(f"x must be a non-empty 2-D array (samples, features), got shape {x.shape}")
        mean = x.mean(axis=0)                                       # (I,)
        variance = x.var(axis=0)                                    # (I,)
        eps = np.finfo(np.float64).eps
        constant = variance <= len(x) * eps * variance + (len(x) * eps * mean) ** 2
        return cls(mean, np.where(constant, 1.0, np.sqrt(variance)))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``(x - mean) / scale``: (N, I) float64 -> (N, I) float64."""
        if x.ndim != 2 or x.shape[1] != len(self.mean):
            raise ValueError(f"x must have {len(self.mean)} feature columns, got shape {x.shape}")
        return (x - self.mean) / self.scale

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The members ``npnet.saving`` stores in a model file."""
        return {"feature_mean": self.mean, "feature_scale": self.scale}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_features: int, path: str) -> Standardization | None:
        """The standardization stored in a model file's ``arrays``; None when the file holds none."""
        if "feature_mean" not in arrays and "feature_scale" not in arrays:
            return None
        found = [arrays.get(key) for key in ("feature_mean", "feature_scale")]
        for key, array in zip(("feature_mean", "feature_scale"), found):
            if array is None or array.dtype != np.float64 or array.shape != (n_features,) \
                    or not np.isfinite(array).all():
                raise ValueError(f"{path}: {key!r} must be {n_features} finite float64 values, got {array!r}")
        if (found[1] <= 0).any():
            raise ValueError(f"{path}: 'feature_scale' must be positive")
        return cls(*found)

    @classmethod
    def from_archive(cls, path: str | os.PathLike, n_features: int) -> Standardization | None:
        """The standardization in the model file ``path`` (None if it has none), for use outside the CLI."""
        path = os.fspath(path)
        return cls.from_arrays(saving.read_archive(path), n_features, path)
