"""Multiclass and regression metrics, "accuracy" by loss, and to_categorical, against Keras 3.

Accuracies are counts, so they must equal Keras's exactly. The regression
metrics accumulate in float64 where Keras accumulates in float32: they agree
to float32 rounding of the running sums, bounded below in float32 eps.
"""
from __future__ import annotations

import numpy as np
import pytest

from npnet import losses, metrics, utils

N, K = 40, 10


def scores(seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y_pred = rng.normal(size=(N, K)).astype(np.float32)
    if ties:   # rounded to one decimal: many rows have tied scores around the k-th place
        y_pred = np.round(y_pred, 1)
    ids = rng.integers(0, K, N)
    return ids, np.eye(K, dtype=np.float32)[ids], y_pred


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_accuracy_functions_equal_keras(keras, ties):
    ids, one_hot, y_pred = scores(ties=ties)
    np.testing.assert_array_equal(metrics.categorical_accuracy(one_hot, y_pred),
                                  keras.metrics.categorical_accuracy(one_hot, y_pred).numpy())
    for y_true in (ids, ids[:, None]):
        np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(y_true, y_pred),
                                      keras.metrics.sparse_categorical_accuracy(y_true, y_pred).numpy().reshape(-1))
    for k in (1, 2, 5):
        np.testing.assert_array_equal(metrics.top_k_categorical_accuracy(one_hot, y_pred, k),
                                      keras.metrics.top_k_categorical_accuracy(one_hot, y_pred, k).numpy())
    np.testing.assert_array_equal(metrics.top_k_categorical_accuracy(one_hot, y_pred),   # k = 5 by default
                                  keras.metrics.top_k_categorical_accuracy(one_hot, y_pred).numpy())


def test_top_k_counts_a_tie_at_the_boundary_as_a_hit_as_tensorflow(keras):
    y_pred = np.array([[0.5, 0.5, 0.5, 0.1]], np.float32)   # class 2 ties classes 0 and 1 for the top
    one_hot = np.array([[0, 0, 1, 0]], np.float32)
    assert metrics.top_k_categorical_accuracy(one_hot, y_pred, k=1)[0] == 1.0
    assert keras.metrics.top_k_categorical_accuracy(one_hot, y_pred, k=1).numpy()[0] == 1.0
    assert metrics.categorical_accuracy(one_hot, y_pred)[0] == 0.0   # argmax takes the first of the tie


def two_batches(seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(25, 3)).astype(np.float32), rng.normal(size=(25, 3)).astype(np.float32))
            for _ in range(2)]


ACCURACIES = [
    (lambda: metrics.CategoricalAccuracy(), "CategoricalAccuracy", {}, "one_hot"),
    (lambda: metrics.SparseCategoricalAccuracy(), "SparseCategoricalAccuracy", {}, "ids"),
    (lambda: metrics.TopKCategoricalAccuracy(k=3), "TopKCategoricalAccuracy", {"k": 3}, "one_hot"),
    (lambda: metrics.TopKCategoricalAccuracy(), "TopKCategoricalAccuracy", {}, "one_hot"),
]


@pytest.mark.parametrize("make, class_name, arguments, target", ACCURACIES,
                         ids=[f"{a[1]}{a[2]}" for a in ACCURACIES])
def test_running_accuracies_equal_keras_over_batches(keras, make, class_name, arguments, target):
    ours, theirs = make(), getattr(keras.metrics, class_name)(**arguments)
    for seed in (0, 1, 2):
        ids, one_hot, y_pred = scores(seed)
        y_true = ids if target == "ids" else one_hot
        ours.update_state(y_true, y_pred)
        theirs.update_state(y_true, y_pred)
    # hits / count from exact counts: Keras's float32 division is that fraction correctly rounded to float32
    assert np.float32(ours.result()) == theirs.result().numpy()
    ours.reset_state()
    assert ours.result() == 0.0


# Running sums: Keras adds each batch's float32 mean into a float32 total, npnet sums in float64.
# Two batches, each sum within about log2(25 * 3) half-ulps of float32: at most 8 eps of the result
# (R2 is 1 - a ratio of two such sums, about 2 eps each, scaled by 1/(1 - R2) ~ 1 here).
# Measured (eps of float32, worst of 5 seeds): MSE 0.65, MAE 0.84, RMSE 0.49, R2 uniform 0.52,
# per output 0.74, variance-weighted 0.67, adjusted 0.94.
REGRESSION = [
    (lambda: metrics.MeanSquaredError(), "MeanSquaredError", {}),
    (lambda: metrics.MeanAbsoluteError(), "MeanAbsoluteError", {}),
    (lambda: metrics.RootMeanSquaredError(), "RootMeanSquaredError", {}),
    (lambda: metrics.R2Score(), "R2Score", {}),
    (lambda: metrics.R2Score(class_aggregation=None), "R2Score", {"class_aggregation": None}),
    (lambda: metrics.R2Score(class_aggregation="variance_weighted_average"), "R2Score",
     {"class_aggregation": "variance_weighted_average"}),
    (lambda: metrics.R2Score(num_regressors=4), "R2Score", {"num_regressors": 4}),
]


@pytest.mark.parametrize("make, class_name, arguments", REGRESSION, ids=[f"{r[1]}{r[2]}" for r in REGRESSION])
def test_running_regression_metrics_equal_keras_over_batches(keras, make, class_name, arguments):
    ours, theirs = make(), getattr(keras.metrics, class_name)(**arguments)
    for y_true, y_pred in two_batches():
        y_pred = y_true + 0.5 * y_pred    # a fit with R2 about 0.75
        ours.update_state(y_true, y_pred)
        theirs.update_state(y_true, y_pred)
    expected = np.asarray(theirs.result(), np.float64)
    result = np.asarray(ours.result())
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, rtol=8 * np.finfo(np.float32).eps, atol=0)


def test_r2_score_of_a_constant_target_is_zero_where_keras_divides_by_zero(keras):
    y_true = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]], np.float32)
    y_pred = np.array([[1.5, 1.0], [0.5, 2.0], [1.0, 3.0]], np.float32)   # column 0: SS_tot = 0, SS_res > 0
    ours, theirs = metrics.R2Score(class_aggregation=None), keras.metrics.R2Score(class_aggregation=None)
    ours.update_state(y_true, y_pred)
    theirs.update_state(y_true, y_pred)
    np.testing.assert_array_equal(ours.result(), theirs.result().numpy())
    np.testing.assert_array_equal(ours.result(), [0.0, 1.0])


def test_regression_metric_functions_are_the_loss_functions_as_in_keras():
    assert metrics.mean_squared_error is losses.mean_squared_error
    assert metrics.mean_absolute_error is losses.mean_absolute_error


# -- "accuracy" and names in compile --------------------------------------------------------------------------

@pytest.mark.parametrize("loss, cls", [
    (losses.BinaryCrossentropy(), metrics.BinaryAccuracy),
    (losses.CategoricalCrossentropy(), metrics.CategoricalAccuracy),
    (losses.SparseCategoricalCrossentropy(from_logits=True), metrics.SparseCategoricalAccuracy),
])
def test_accuracy_resolves_by_the_loss(loss, cls):
    for name in ("accuracy", "acc"):
        metric = metrics.get(name, loss)
        assert type(metric) is cls and metric.name == name


@pytest.mark.parametrize("loss", [losses.MeanSquaredError(), losses.Huber()])
def test_accuracy_with_a_regression_loss_is_refused(loss):
    with pytest.raises(ValueError, match="'accuracy' is not defined"):
        metrics.get("accuracy", loss)


@pytest.mark.parametrize("identifier, cls, name", [
    ("mae", metrics.MeanAbsoluteError, "mae"), ("mse", metrics.MeanSquaredError, "mse"),
    ("RootMeanSquaredError", metrics.RootMeanSquaredError, "RootMeanSquaredError"),
    ("r2_score", metrics.R2Score, "r2_score"), ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy,
                                                "top_k_categorical_accuracy"),
    (metrics.categorical_accuracy, metrics.CategoricalAccuracy, "categorical_accuracy"),
    (metrics.mean_absolute_error, metrics.MeanAbsoluteError, "mean_absolute_error"),
])
def test_metric_names_and_functions_resolve_as_keras_compile(identifier, cls, name):
    metric = metrics.get(identifier, losses.MeanSquaredError())
    assert type(metric) is cls and metric.name == name


@pytest.mark.parametrize("metric", [metrics.TopKCategoricalAccuracy(k=3, name="top3"),
                                    metrics.R2Score("variance_weighted_average", 2), metrics.RootMeanSquaredError()])
def test_metric_config_round_trips(metric):
    again = metrics.get(metrics.serialize(metric), losses.MeanSquaredError())
    assert type(again) is type(metric) and again.get_config() == metric.get_config()


def test_direction_says_which_way_is_better():
    assert metrics.CategoricalAccuracy().direction == metrics.R2Score().direction == "up"
    assert metrics.MeanSquaredError().direction == metrics.RootMeanSquaredError().direction == "down"


# -- bad input ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda: metrics.sparse_categorical_accuracy([0, 10], np.zeros((2, 10))), ValueError, "class id 10"),
    (lambda: metrics.sparse_categorical_accuracy([0, 1, 2], np.zeros((2, 10))), ValueError, "one class id per row"),
    (lambda: metrics.categorical_accuracy(np.eye(3), np.zeros((3, 4))), ValueError, "same shape"),
    (lambda: metrics.categorical_accuracy(np.eye(3), np.full((3, 3), np.nan)), ValueError, "y_pred has non-finite"),
    (lambda: metrics.top_k_categorical_accuracy(np.eye(3), np.eye(3), k=0), ValueError, "k must be >= 1"),
    (lambda: metrics.TopKCategoricalAccuracy(k=2.5), TypeError, "k must be an int"),
    (lambda: metrics.R2Score(class_aggregation="median"), ValueError, "class_aggregation"),
    (lambda: metrics.R2Score(num_regressors=-1), ValueError, "num_regressors"),
    (lambda: metrics.R2Score().update_state([1.0, 2.0], [1.0, 2.0]), ValueError, "2-dimensional"),
    (lambda: metrics.MeanAbsoluteError().update_state([[1.0], [np.inf]], [[1.0], [2.0]]), ValueError,
     "y_true has non-finite"),
])
def test_metrics_refuse_bad_input_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_r2_score_refuses_a_batch_with_other_outputs():
    metric = metrics.R2Score()
    metric.update_state(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="earlier batches had 2"):
        metric.update_state(np.ones((3, 3)), np.ones((3, 3)))


# -- to_categorical -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("y, num_classes", [([0, 2, 1, 2], None), ([[0], [3], [1]], None), ([1, 0], 4),
                                            ([[0, 1], [2, 0]], None), (np.array([2.0, 0.0]), None)])
def test_to_categorical_equals_keras(keras, y, num_classes):
    ours, theirs = utils.to_categorical(y, num_classes), keras.utils.to_categorical(y, num_classes)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("y, num_classes, error, message", [
    ([0, 3], 3, ValueError, "class id 3, but there are 3 classes"),
    ([0, -1], None, ValueError, ">= 0"),         # Keras would one-hot -1 as the last class
    ([0.5, 1.0], None, ValueError, "integer"),   # Keras would truncate 0.5 to class 0
    ([True, False], None, TypeError, "booleans"),
    ([], None, ValueError, "empty"),
    ([0, 1], 0, ValueError, "num_classes must be >= 1"),
    ([0, 1], 2.0, TypeError, "num_classes must be an int"),
])
def test_to_categorical_refuses_ids_keras_would_misread(y, num_classes, error, message):
    with pytest.raises(error, match=message):
        utils.to_categorical(y, num_classes)
