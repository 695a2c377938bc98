"""npnet.losses: the loss protocol a model relies on (check_targets, fused, accuracy_metric, gradient_calls,
the registry)."""
from __future__ import annotations

import numpy as np
import pytest

from npnet import activations, losses
from npnet.losses import (CategoricalCrossentropy,
    Huber,
    MeanAbsoluteError,
    MeanSquaredError,
    SigmoidBinaryCrossentropy,
    SparseCategoricalCrossentropy)
from npnet.losses.categorical import SoftmaxCrossentropy


def test_binary_crossentropy_checks_its_targets_by_name():
    bce = losses.BinaryCrossentropy()
    np.testing.assert_array_equal(bce.check_targets([0, 1, 1], 1, np.dtype(np.float32), "y"), [[0], [1], [1]])
    with pytest.raises(ValueError, match=r"y must lie in \[0, 1\]"):
        bce.check_targets([[0.5, 2.0]], 2, np.dtype(np.float32), "y")
    with pytest.raises(ValueError, match="val_y must have 3 columns"):
        bce.check_targets([[0.5, 1.0]], 3, np.dtype(np.float32), "val_y")
    with pytest.raises(ValueError, match="pos_weight must hold one weight per label"):
        losses.BinaryCrossentropy(pos_weight=[1.0, 2.0]).check_targets([[0, 1, 1]], 3, np.dtype(np.float32), "y")


def test_the_fused_loss_is_offered_for_a_sigmoid_output_only():
    assert isinstance(losses.BinaryCrossentropy().fused(activations.sigmoid), losses.SigmoidBinaryCrossentropy)
    assert losses.BinaryCrossentropy().fused(activations.relu) is None
    assert losses.BinaryCrossentropy().fused(None) is None
    assert losses.BinaryCrossentropy(from_logits=True).fused(activations.sigmoid) is None

    class Own(losses.BinaryCrossentropy):
        def forward(self, y_true, y_pred, sample_weight=None):
            return super().forward(y_true, y_pred, sample_weight)

    assert Own().fused(activations.sigmoid) is None     # a subclass's own math is kept


def test_accuracy_means_what_the_loss_says_and_names_come_from_the_registry():
    assert losses.BinaryCrossentropy.accuracy_metric == "binary_accuracy"
    assert losses.Loss.accuracy_metric is None
    assert {"binary_crossentropy", "BinaryCrossentropy"} <= set(losses.names())
    assert isinstance(losses.get("BinaryCrossentropy"), losses.BinaryCrossentropy)
    with pytest.raises(ValueError, match=r"unknown loss 'poisson'; expected one of \['BCE', 'BinaryCrossentropy'"):
        losses.get("poisson")


# == Every loss class: accuracy names, targets, the registry, configs, bad input =====================

def test_accuracy_metric_names_follow_the_loss():
    assert CategoricalCrossentropy().accuracy_metric == "categorical_accuracy"
    assert SparseCategoricalCrossentropy().accuracy_metric == "sparse_categorical_accuracy"
    assert losses.BinaryCrossentropy().accuracy_metric == "binary_accuracy"


@pytest.mark.parametrize("call, error, message", [
    (lambda: losses.sparse_categorical_crossentropy([0, 3], np.full((2, 3), 1 / 3)), ValueError,
     r"class id 3, but there are 3 classes"),
    (lambda: losses.sparse_categorical_crossentropy([0, -1], np.full((2, 3), 1 / 3)), ValueError, r">= 0"),
    (lambda: losses.sparse_categorical_crossentropy([0, 1.5], np.full((2, 3), 1 / 3)), ValueError, "integer"),
    (lambda: losses.sparse_categorical_crossentropy([0, np.nan], np.full((2, 3), 1 / 3)), ValueError,
     "non-finite"),
    (lambda: losses.sparse_categorical_crossentropy([0, 1, 2], np.full((2, 3), 1 / 3)), ValueError,
     "one class id per row"),
    (lambda: losses.sparse_categorical_crossentropy([0, 1], [[0.5, -0.5], [0.5, 0.5]]), ValueError,
     "non-negative"),
    (lambda: losses.categorical_crossentropy([[1.0, 0.0]], [[0.5, 0.5, 0.0]]), ValueError, "same shape"),
    (lambda: losses.categorical_crossentropy([[np.nan, 1.0]], [[0.5, 0.5]]), ValueError, "y_true has non-finite"),
    (lambda: losses.categorical_crossentropy([[0.5, 0.4]], [[0.5, 0.5]]), ValueError, "must sum to 1"),
    (lambda: losses.categorical_crossentropy([[1.5, -0.5]], [[0.5, 0.5]]), ValueError, r"\[0, 1\]"),
    (lambda: losses.categorical_crossentropy([[1.0, 0.0]], [[0.0, 0.0]]), ValueError, "positive sum"),
    (lambda: losses.categorical_crossentropy([[1.0, 0.0]], [[0.5, 0.5]], label_smoothing=1.5), ValueError,
     "label_smoothing"),
    (lambda: losses.categorical_crossentropy([[1.0, 0.0]], [[0.5, 0.5]], from_logits=1), TypeError, "from_logits"),
    (lambda: losses.mean_squared_error([1.0, np.inf], [[1.0], [2.0]]), ValueError, "y_true has non-finite"),
    (lambda: losses.mean_squared_error([1.0, 2.0], [[1.0, 2.0], [2.0, 3.0]]), ValueError, "2-dimensional"),
    (lambda: losses.huber([[1.0]], [[np.nan]]), ValueError, "y_pred has non-finite"),
    (lambda: Huber(delta=-1.0), ValueError, "delta"),
    (lambda: MeanSquaredError()([[1.0], [2.0]], [[1.0], [2.0]], sample_weight=[1.0]), ValueError,
     r"one weight per sample \(2\)"),
    (lambda: CategoricalCrossentropy()([[1.0, 0.0]], [[0.5, 0.5]], sample_weight=[-1.0]), ValueError, ">= 0"),
])
def test_bad_input_is_refused_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("loss, y, units, message", [
    (SparseCategoricalCrossentropy(), np.array([0, 1, 4]), 4, "class id 4, but there are 4 classes"),
    (SparseCategoricalCrossentropy(), np.array([[0, 1], [1, 0]]), 2, r"shape \(N,\) or \(N, 1\)"),
    (SparseCategoricalCrossentropy(), np.array([0.0, np.nan]), 3, "non-finite"),
    (CategoricalCrossentropy(), np.eye(3)[:, :2], 2, "must sum to 1"),
    (CategoricalCrossentropy(), np.eye(3), 4, "must have 4 columns"),
    (MeanSquaredError(), np.array([[1.0], [np.nan]]), 1, "non-finite"),
    (MeanSquaredError(), np.ones((3, 2)), 3, "must have 3 columns"),
    (Huber(), np.array(["a", "b"]), 1, "real numbers"),
])
def test_check_targets_refuses_what_the_loss_cannot_take(loss, y, units, message):
    with pytest.raises((ValueError, TypeError), match=message):
        loss.check_targets(y, units, np.dtype(np.float32), "y")


def test_check_targets_converts_what_the_loss_takes():
    ids = SparseCategoricalCrossentropy().check_targets(np.array([[0.0], [2.0]]), 3, np.dtype(np.float32), "y")
    assert ids.dtype == np.intp and ids.tolist() == [0, 2]
    column = MeanSquaredError().check_targets([1.5, 2.5], 1, np.dtype(np.float32), "y")
    assert column.dtype == np.float32 and column.shape == (2, 1)


@pytest.mark.parametrize("identifier, cls", [
    ("categorical_crossentropy", CategoricalCrossentropy), ("CategoricalCrossentropy", CategoricalCrossentropy),
    (losses.categorical_crossentropy, CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", SparseCategoricalCrossentropy),
    (losses.sparse_categorical_crossentropy, SparseCategoricalCrossentropy),
    ("mse", MeanSquaredError), ("MSE", MeanSquaredError), ("mean_squared_error", MeanSquaredError),
    (losses.mean_squared_error, MeanSquaredError), ("mae", MeanAbsoluteError), ("MeanAbsoluteError", MeanAbsoluteError),
    ("huber", Huber), ("Huber", Huber), ("huber_loss", Huber), (losses.huber, Huber),
    ("bce", losses.BinaryCrossentropy),
])
def test_losses_get_accepts_keras_names_and_functions(identifier, cls):
    assert type(losses.get(identifier)) is cls


@pytest.mark.parametrize("loss", [CategoricalCrossentropy(from_logits=True, label_smoothing=0.25),
                                  SparseCategoricalCrossentropy(from_logits=True), MeanSquaredError(),
                                  MeanAbsoluteError(), Huber(delta=2.5),
                                  losses.BinaryCrossentropy(label_smoothing=0.1)])
def test_loss_config_round_trips(loss):
    again = losses.from_config(losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()


def test_loss_config_with_unknown_arguments_is_refused():
    with pytest.raises(ValueError, match="loss config"):
        losses.from_config({"name": "huber_loss", "delta": 1.0, "gamma": 2})

# -- fit's compiled gradient: ``Loss.gradient_calls`` against ``gradient`` -------------------------------------
# The fused sigmoid + binary crossentropy writes its gradient as NumPy calls, the others take one call of
# ``gradient``; either way each run must give ``gradient``'s array to the bit, with new numbers in the bound
# arrays each time.

CASES = {
    "sigmoid + BCE": lambda: SigmoidBinaryCrossentropy(),
    "sigmoid + BCE, pos_weight": lambda: SigmoidBinaryCrossentropy(pos_weight=np.array([2.0, 0.5, 1.0])),
    "sigmoid + BCE, label smoothing": lambda: SigmoidBinaryCrossentropy(label_smoothing=0.2),
    "softmax + CCE": lambda: SoftmaxCrossentropy(),
    "softmax + CCE, label smoothing": lambda: SoftmaxCrossentropy(label_smoothing=0.1),
    "MSE": lambda: losses.get("mean_squared_error"),
}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_calls_are_gradient_bit_for_bit(case, weighted):
    rng = np.random.default_rng(1)
    compiled, plain = CASES[case](), CASES[case]()
    z, y = np.empty((20, 3), np.float32), np.empty((20, 3), np.float32)
    w = np.empty(20, np.float32) if weighted else None
    calls, dz = compiled.gradient_calls(y, z, w)
    for _ in range(3):   # new numbers in the same arrays, as fit's epochs reshuffle them in place
        z[...] = rng.normal(size=z.shape) * 4
        y[...] = rng.random(y.shape) if case.startswith("sigmoid") else np.eye(3)[rng.integers(0, 3, 20)]
        if weighted:
            w[...] = rng.random(20) * 2
        for call in calls:
            call()
        np.testing.assert_array_equal(dz, plain.gradient(y.copy(), z.copy(), None if w is None else w.copy()))


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_calls_survive_other_batch_sizes_in_between(case):
    # Between two epochs a callback's evaluate, the validation pass and the epoch's loss run the loss on
    # other batch sizes; the loss keeps work arrays for a few sizes only, and the bound calls must still
    # fill the array they handed over.
    rng = np.random.default_rng(2)
    compiled, plain = CASES[case](), CASES[case]()

    def batch(n):
        z = (rng.normal(size=(n, 3)) * 4).astype(np.float32)
        y = rng.random((n, 3)) if case.startswith("sigmoid") else np.eye(3)[rng.integers(0, 3, n)]
        return y.astype(np.float32), z

    y, z = batch(20)
    calls, dz = compiled.gradient_calls(y, z)
    for n in range(3, 9):   # more sizes than any cache of work arrays keeps
        compiled.gradient(*batch(n))
    for call in calls:
        call()
    np.testing.assert_array_equal(dz, plain.gradient(y.copy(), z.copy()))


def test_a_subclass_s_own_gradient_is_what_its_gradient_calls_run():
    class Doubled(SigmoidBinaryCrossentropy):
        def gradient(self, y_true, y_pred, sample_weight=None):
            return super().gradient(y_true, y_pred, sample_weight) * 2

    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(5, 2)).astype(np.float32), (rng.random((5, 2)) < 0.5).astype(np.float32)
    calls, dz = Doubled().gradient_calls(y, z)
    for call in calls:
        call()
    np.testing.assert_array_equal(dz, 2 * SigmoidBinaryCrossentropy().gradient(y, z))
