"""npnet.training.data: the validation split, validation data and shuffling."""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet.optimizers import SGD

from small_models import data, small_model


@pytest.mark.parametrize("n, split, n_train", [(10, 0.25, 7), (20, 0.2, 16), (9, 0.5, 4)])
def test_validation_split_holds_out_the_last_fraction_before_shuffling(n, split, n_train):
    """Training on x[:split_at] (split_at = floor(n * (1 - split))) and validating on the rest."""
    x, y = data(n=n)
    model, twin = small_model(optimizer=SGD(0.1)), small_model(optimizer=SGD(0.1))
    history = model.fit(x, y, batch_size=n, epochs=1, validation_split=split, shuffle=True, verbose=0)
    twin.train_on_batch(x[:n_train], y[:n_train])   # one full-batch step: batch order does not matter
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)    # summation order may differ after shuffling
    val_loss, val_accuracy = model.evaluate(x[n_train:], y[n_train:], verbose=0)
    assert history.history["val_loss"] == [pytest.approx(val_loss, rel=1e-6)]
    assert history.history["val_accuracy"] == [pytest.approx(val_accuracy)]


def test_validation_data_is_used_as_given():
    x, y = data(n=30)
    model = small_model()
    history = model.fit(x[:20], y[:20], validation_data=(x[20:], y[20:]), epochs=2, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x[20:], y[20:], verbose=0)[0])


def test_shuffle_changes_the_batches_and_the_seed_fixes_them():
    x, y = data(n=40)
    runs = {}
    for key, shuffle, seed in [("a", True, 5), ("b", True, 5), ("c", True, 6), ("plain", False, 5)]:
        model = small_model()
        npnet.utils.set_random_seed(seed)
        runs[key] = model.fit(x, y, batch_size=8, epochs=3, shuffle=shuffle, verbose=0).history["loss"]
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"] and runs["a"] != runs["plain"]


@pytest.mark.parametrize("weighted", [False, True])
def test_gathering_each_batch_trains_exactly_as_shuffling_the_whole_epoch(weighted, monkeypatch):
    # Above EpochIterator.GATHER_BYTES of x each step gathers its own rows (npnet.training.data): the same
    # rows in the same order, in an array of the same layout, so the same products and the same bits.
    from npnet.training.data import EpochIterator

    x, y = data(n=83)
    weights = np.linspace(0.5, 2.0, len(x)) if weighted else None
    results = []
    for gather_bytes in (EpochIterator.GATHER_BYTES, 0):
        monkeypatch.setattr(EpochIterator, "GATHER_BYTES", gather_bytes)
        npnet.utils.set_random_seed(4)
        model = small_model(hidden=(5, 4))
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, sample_weight=weights,
                            validation_split=0.25).history
        results.append((history, model.get_weights()))
    (history, weights_copied), (gathered_history, weights_gathered) = results
    assert history == gathered_history
    for ours, theirs in zip(weights_copied, weights_gathered):
        np.testing.assert_array_equal(ours, theirs)


def test_an_epoch_iterator_over_large_data_gathers_each_batch_and_shuffles_the_targets(monkeypatch):
    from npnet.training.data import EpochIterator

    x, y = np.arange(20.0).reshape(10, 2), np.arange(10.0).reshape(10, 1)
    small = EpochIterator(x, y, None, 4, shuffle=True)
    assert not small.gathers and all(calls == [] for _, _, calls, *_ in small.batches())
    monkeypatch.setattr(EpochIterator, "GATHER_BYTES", x.nbytes - 1)
    large = EpochIterator(x, y, None, 4, shuffle=True, ones_column=True)
    assert large.gathers
    npnet.utils.set_random_seed(2)
    batches = large.epoch()
    order = large.order.copy()
    assert sorted(order) != list(order) and sorted(order) == list(range(10))
    for _, end, calls, xb, yb, _ in batches:
        for call in calls:
            call()
        rows = order[end - len(xb):end]
        np.testing.assert_array_equal(xb, np.column_stack([x[rows], np.ones(len(rows))]))
        np.testing.assert_array_equal(yb, y[rows])
