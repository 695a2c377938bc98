"""npnet.backend: floatx, and models computing in the dtype they were built in."""
from __future__ import annotations

import numpy as np

import npnet
from npnet.layers import Dense

from small_models import data


def test_float64_models_compute_in_float64():
    x, y = data(n=10)
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(3, activation="sigmoid")], dtype="float64")
    model.compile(loss="binary_crossentropy")
    model.fit(x, y, verbose=0)
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(x, verbose=0).dtype == np.float64


def test_set_floatx_changes_the_default_dtype(float64):
    assert npnet.Sequential([Dense(2, input_dim=2)]).get_weights()[0].dtype == np.float64
