"""The small seeded models and data the unit tests of Sequential's parts share."""
from __future__ import annotations

import numpy as np

import npnet
from npnet.layers import Dense


def small_model(n_in=4, n_out=3, hidden=(5,), optimizer="adam", metrics=("accuracy",), seed=0):
    npnet.utils.set_random_seed(seed)
    model = npnet.Sequential([npnet.Input(shape=(n_in,))] + [Dense(u, activation="relu") for u in hidden]
                             + [Dense(n_out, activation="sigmoid")])
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=list(metrics))
    return model


def data(n=20, n_in=4, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in))
    return x, (rng.random((n, n_out)) < 0.5).astype(np.int64)
