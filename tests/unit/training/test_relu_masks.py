"""fit's step takes every hidden ReLU layer's mask in one call (npnet.training.relu_masks): the same bits,
with the masks as 0.0/1.0 floats or, for large buffers, as booleans."""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet.layers import Dense, Dropout
from npnet.training import relu_masks
from npnet.training.step import Step


@pytest.mark.parametrize("mask_dtype", [float, bool])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden", [
    lambda: [Dense(7, activation="relu"), Dense(5, activation="relu"), Dense(4, activation="relu")],
    lambda: [Dense(7, activation="relu"), Dense(5, activation="tanh"), Dense(4, activation="relu")],   # a gap
    lambda: [Dense(6, activation="relu"), Dropout(0.3, seed=2), Dense(4, activation="relu")],          # between
], ids=["three", "tanh-between", "dropout-between"])
def test_all_masks_at_once_train_exactly_as_one_mask_per_layer(hidden, dtype, mask_dtype, monkeypatch):
    # the masks as booleans from 0 entries on, or never
    monkeypatch.setattr(relu_masks, "BOOLEAN_MASKS_MIN", 0 if mask_dtype is bool else np.inf)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(90, 6)), (rng.random((90, 3)) < 0.4).astype(float)
    results = []
    for at_once in (True, False):
        if not at_once:   # every layer computes its own mask in its backward, as outside fit
            monkeypatch.setattr(Dense, "relu_output", property(lambda self: False))
        npnet.utils.set_random_seed(0)
        model = npnet.Sequential([npnet.Input(shape=(6,))] + hidden() + [Dense(3, activation="sigmoid")], dtype=dtype)
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=32, epochs=3, verbose=0, validation_split=0.2).history
        step = Step(model, bias_trick=True)
        grouped = step.relu_layers
        if grouped:   # the masks the step takes are of the kind asked for
            expected = np.dtype(bool if mask_dtype is bool else dtype)
            assert all(mask.dtype == expected for mask in relu_masks.ReluBuffers(grouped, dtype).bind(32)[1].values())
        results.append((history, model.get_weights(), len(grouped)))
    (history, weights, grouped), (history_1, weights_1, grouped_1) = results
    assert grouped >= 1 and grouped_1 == 0
    assert history == history_1
    for ours, theirs in zip(weights, weights_1):
        np.testing.assert_array_equal(ours, theirs)
