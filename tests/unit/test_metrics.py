"""npnet.metrics: Precision, Recall, AUC and F1Score equal Keras 3's on the same predictions.

Tolerance: npnet counts exactly and divides in float64; Keras keeps float32
counts and divides in float32. Counts (TP, FP, TN, FN) must agree exactly.
Measured max |npnet - Keras| over CONFIGS x BATCH_SETS: Precision 1.5e-8,
Recall 2.9e-8, AUC 4.1e-8, F1Score 4.2e-8 (float32 rounding of Keras's result);
the tests allow KERAS_ATOL = 1.2e-7, one float32 ulp at 1.0. PR AUC by
interpolation differs by up to 5.0e-7 (PR_INTERPOLATION_ATOL says why).
"""
from __future__ import annotations

import io

import numpy as np
import pytest

import npnet
from npnet import interop, losses, metrics, progbar, utils
from npnet.layers import Dense
from npnet.losses import BinaryCrossentropy
from npnet.metrics import AUC, BinaryAccuracy, F1Score, Precision, Recall, binary_accuracy


KERAS_ATOL = 1.2e-7
# PR AUC by interpolation: Keras's float32 intercept TP_B - slope * P_B cancels; replaying its
# formula in float32 from the same (equal) counts reproduces Keras to 3e-8 and differs from
# float64 by 5.0e-7 on the edge batch.
PR_INTERPOLATION_ATOL = 1e-6


def keras_atol(cls, kwargs):
    pr_interpolation = (kwargs.get("curve") == "PR"
                        and kwargs.get("summation_method", "interpolation") == "interpolation")
    return PR_INTERPOLATION_ATOL if cls is AUC and pr_interpolation else KERAS_ATOL

# (npnet constructor, Keras constructor name, keyword arguments both take)
CONFIGS = [
    (Precision, "Precision", {}),
    (Recall, "Recall", {}),
    (Precision, "Precision", {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}),   # evenly spaced: Keras buckets
    (Recall, "Recall", {"thresholds": [0.7, 0.3, 0.5, 0.3]}),                # unsorted, repeated: compared
    (Precision, "Precision", {"thresholds": [1.0, 0.5, 0.0]}),              # even but descending: compared
    (Precision, "Precision", {"thresholds": 0.3}),
    (AUC, "AUC", {}),
    (AUC, "AUC", {"multi_label": True}),
    (AUC, "AUC", {"curve": "PR"}),
    (AUC, "AUC", {"curve": "PR", "multi_label": True}),
    (AUC, "AUC", {"curve": "PRGAIN"}),
    (AUC, "AUC", {"summation_method": "minoring"}),
    (AUC, "AUC", {"curve": "PR", "summation_method": "majoring", "num_thresholds": 7}),
    (AUC, "AUC", {"num_thresholds": 2}),
    (F1Score, "F1Score", {}),                                                # threshold None: row argmax
    (F1Score, "F1Score", {"threshold": 0.5}),
    (F1Score, "F1Score", {"average": "micro", "threshold": 0.5}),
    (F1Score, "F1Score", {"average": "macro", "threshold": 0.4}),
    (F1Score, "F1Score", {"average": "weighted", "threshold": 0.5}),
    (F1Score, "F1Score", {"average": "weighted"}),
]
IDS = [f"{name}-{kwargs}" for _, name, kwargs in CONFIGS]


def random_batches(seed=0, sizes=(50, 17, 64), k=3):
    rng = np.random.default_rng(seed)
    return [((rng.random((n, k)) > 0.6).astype(np.float32), rng.random((n, k)).astype(np.float32)) for n in sizes]


def edge_batch(k=3):
    """Predictions exactly on AUC's grid (i/199), on user thresholds (0.3, 0.5), and at 0 and 1."""
    grid = (np.arange(200, dtype=np.float32) / np.float32(199))
    values = np.concatenate([grid, np.float32([0.3, 0.5, 0.25, 0.75, 0.0, 1.0, 0.7])])
    values = np.resize(values, (len(values) // k + 1) * k).reshape(-1, k)
    y_true = (np.arange(values.size).reshape(values.shape) % 3 == 0).astype(np.float32)
    return y_true, values


BATCH_SETS = {
    "random": random_batches(),
    "edges": [edge_batch()],
    "no-positives": [(np.zeros((20, 3), np.float32), y_pred) for _, y_pred in random_batches(1, (20,))],
    "all-positives": [(np.ones((20, 3), np.float32), y_pred) for _, y_pred in random_batches(2, (20,))],
    "all-zero-predictions": [(y_true, np.zeros_like(y_true)) for y_true, _ in random_batches(3, (20,))],
    "all-one-predictions": [(y_true, np.ones_like(y_true)) for y_true, _ in random_batches(4, (20,))],
}


def keras_result(keras, name, kwargs, batches):
    metric = getattr(keras.metrics, name)(**kwargs)
    for y_true, y_pred in batches:
        metric.update_state(y_true, y_pred)
    return np.asarray(metric.result(), np.float64), metric


def npnet_result(cls, kwargs, batches):
    metric = cls(**kwargs)
    for y_true, y_pred in batches:
        metric.update_state(y_true, y_pred)
    return metric.result(), metric


@pytest.mark.parametrize("batch_set", sorted(BATCH_SETS))
@pytest.mark.parametrize(("cls", "name", "kwargs"), CONFIGS, ids=IDS)
def test_metric_equals_keras_accumulated_over_batches(keras, cls, name, kwargs, batch_set):
    batches = BATCH_SETS[batch_set]
    expected, keras_metric = keras_result(keras, name, kwargs, batches)
    result, metric = npnet_result(cls, kwargs, batches)
    for count in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
        if hasattr(keras_metric, count):
            np.testing.assert_array_equal(getattr(metric, count), np.asarray(getattr(keras_metric, count)))
    assert np.shape(result) == expected.shape
    np.testing.assert_allclose(result, expected, rtol=0, atol=keras_atol(cls, kwargs))


@pytest.mark.parametrize(("cls", "name", "kwargs"), CONFIGS, ids=IDS)
def test_batches_accumulate_to_the_result_of_one_pass(cls, name, kwargs):
    batches = random_batches()
    accumulated, _ = npnet_result(cls, kwargs, batches)
    one_pass, _ = npnet_result(cls, kwargs, [tuple(np.concatenate(parts) for parts in zip(*batches))])
    np.testing.assert_allclose(accumulated, one_pass, rtol=1e-15, atol=0)


@pytest.mark.parametrize(("cls", "name", "kwargs"), CONFIGS, ids=IDS)
def test_reset_state_forgets_every_batch(cls, name, kwargs):
    (y1, p1), (y2, p2), _ = random_batches()
    metric = cls(**kwargs)
    metric.update_state(y1, p1)
    metric.reset_state()
    metric.update_state(y2, p2)
    np.testing.assert_array_equal(metric.result(), npnet_result(cls, kwargs, [(y2, p2)])[0])


@pytest.mark.parametrize("cls", [Precision, Recall, AUC, F1Score, lambda: AUC(multi_label=True)])
def test_result_before_any_update_is_zero_as_keras(cls):
    assert cls().result() == 0.0


def test_precision_and_recall_count_every_entry_with_a_strict_threshold():
    y_true = [[1, 0, 1], [0, 1, 1]]
    y_pred = [[0.9, 0.5, 0.4], [0.6, 0.51, 0.7]]   # 0.5 is not above 0.5
    # positives: 0.9 (T), 0.6 (F), 0.51 (T), 0.7 (T) -> TP 3, FP 1; missed: 0.4 -> FN 1
    assert Precision()(y_true, y_pred) == 0.75
    assert Recall()(y_true, y_pred) == 0.75


def test_thresholds_compare_in_float32_as_keras():
    """float32(0.3) = 0.30000001 is not above the threshold 0.3 in float32, where Keras compares."""
    assert Precision(thresholds=0.3)([[1.0]], np.float32([[0.3]])) == 0.0


def test_thresholds_compare_in_float64_under_floatx_float64(float64):
    assert Precision(thresholds=0.3)([[1.0]], np.float32([[0.3]])) == 1.0


def test_a_list_of_thresholds_gives_one_value_each_in_the_given_order():
    result = Recall(thresholds=[0.8, 0.2, 0.5])([[1, 1, 1, 1]], [[0.1, 0.3, 0.6, 0.9]])
    np.testing.assert_array_equal(result, [0.25, 0.75, 0.5])


def test_auc_separates_perfectly_ranked_predictions_and_halves_constant_ones():
    y_true = [[0, 0, 1, 1]]
    assert AUC()(y_true, [[0.1, 0.2, 0.8, 0.9]]) == pytest.approx(1.0, abs=1e-12)
    assert AUC()(y_true, [[0.5, 0.5, 0.5, 0.5]]) == pytest.approx(0.5, abs=1e-12)
    assert AUC()(y_true, [[0.9, 0.8, 0.2, 0.1]]) == pytest.approx(0.0, abs=1e-12)


def test_multi_label_auc_is_the_mean_of_the_per_label_aucs():
    y_true, y_pred = random_batches(5, (80,))[0]
    per_label = [AUC()(y_true[:, j:j + 1], y_pred[:, j:j + 1]) for j in range(3)]
    assert AUC(multi_label=True)(y_true, y_pred) == pytest.approx(np.mean(per_label), abs=1e-15)


def test_auc_is_close_to_the_exact_roc_auc_of_sklearn(sklearn):
    """200 thresholds approximate the exact area (sklearn's roc_auc_score, micro) to about 1e-3."""
    from sklearn.metrics import roc_auc_score
    y_true, y_pred = random_batches(6, (2000,))[0]
    y_pred = np.clip(y_pred + 0.3 * y_true, 0, 1)
    assert AUC()(y_true, y_pred) == pytest.approx(roc_auc_score(y_true.ravel(), y_pred.ravel()), abs=2e-3)


def test_f1_without_threshold_marks_each_rows_maximum_and_ties():
    y_true = [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    y_pred = [[0.9, 0.8, 0.1], [0.4, 0.4, 0.2], [0.0, 0.0, 0.0]]   # row 2 ties; row 3 has no positive
    # predicted: (1,0,0), (1,1,0), (0,0,0) -> label 0: TP 1 FP 1 FN 1; label 1: TP 1; label 2: FN 1
    np.testing.assert_allclose(F1Score()(y_true, y_pred), [0.5, 1.0, 0.0], atol=1e-6)


def test_f1_average_none_is_per_class_and_the_averages_combine_it():
    y_true, y_pred = random_batches(7, (60,))[0]
    per_class = F1Score(threshold=0.5)(y_true, y_pred)
    support = y_true.sum(axis=0)
    assert per_class.shape == (3,)
    assert F1Score("macro", 0.5)(y_true, y_pred) == pytest.approx(per_class.mean(), abs=1e-15)
    assert F1Score("weighted", 0.5)(y_true, y_pred) == pytest.approx(per_class @ support / support.sum(), abs=1e-6)


def test_f1_takes_soft_labels_as_numbers_where_precision_casts_them_to_bool():
    y_true, y_pred = [[0.25, 1.0]], [[0.9, 0.2]]
    # F1: TP 0.25, FP 0.75, FN 1.0 -> precision 0.25, recall 0.2; Precision: 0.25 counts as a positive.
    assert F1Score("micro", 0.5)(y_true, y_pred) == pytest.approx(2 * 0.25 * 0.2 / 0.45, abs=1e-6)
    assert Precision()(y_true, y_pred) == 1.0


@pytest.mark.parametrize(("make", "match"), [
    (lambda: Precision(thresholds=1.5), "thresholds\\[0\\] must be in"),
    (lambda: Recall(thresholds=[]), "thresholds must not be empty"),
    (lambda: Precision(thresholds="0.5"), "thresholds\\[0\\] must be a real number"),
    (lambda: AUC(num_thresholds=1), "num_thresholds must be >= 2"),
    (lambda: AUC(curve="roc_curve"), "curve must be one of"),
    (lambda: AUC(summation_method="trapezoid"), "summation_method must be one of"),
    (lambda: AUC(multi_label=1), "multi_label must be a bool"),
    (lambda: F1Score(average="samples"), "average must be one of"),
    (lambda: F1Score(threshold=0.0), "threshold must be in \\(0.0, 1.0\\]"),
    (lambda: Precision(name=3), "name must be a str"),
])
def test_constructors_refuse_bad_arguments_naming_them(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make()


@pytest.mark.parametrize("metric", [Precision(), Recall(), AUC(), AUC(multi_label=True), F1Score()],
                         ids=["precision", "recall", "auc", "auc-multi", "f1"])
@pytest.mark.parametrize(("y_true", "y_pred", "match"), [
    ([[1, 0]], [[0.5, 0.5, 0.5]], "same shape"),
    ([[1, 0]], [[0.5, 1.5]], "y_pred must lie in \\[0, 1\\]"),
    ([[2, 0]], [[0.5, 0.5]], "y_true must lie in \\[0, 1\\]"),
    ([[1, 0]], [[0.5, np.nan]], "y_pred has non-finite values"),
    ([["a", "b"]], [[0.5, 0.5]], "y_true must hold real numbers"),
])
def test_update_state_refuses_bad_arrays_and_keeps_its_state(metric, y_true, y_pred, match):
    metric.update_state([[1, 0]], [[0.7, 0.2]])
    before = metric.result()
    with pytest.raises((TypeError, ValueError), match=match):
        metric.update_state(y_true, y_pred)
    np.testing.assert_array_equal(metric.result(), before)


@pytest.mark.parametrize("metric", [AUC(multi_label=True), F1Score()], ids=["auc-multi", "f1"])
def test_per_label_metrics_refuse_a_changed_label_count(metric):
    metric.update_state([[1, 0]], [[0.7, 0.2]])
    with pytest.raises(ValueError, match="earlier batches had 2"):
        metric.update_state([[1, 0, 1]], [[0.7, 0.2, 0.9]])


@pytest.mark.parametrize(("identifier", "cls"), [
    ("precision", Precision), ("Precision", Precision), ("recall", Recall), ("Recall", Recall),
    ("auc", AUC), ("AUC", AUC), ("f1_score", F1Score), ("F1Score", F1Score),
    ("binary_accuracy", BinaryAccuracy), ("BinaryAccuracy", BinaryAccuracy)])
def test_compile_strings_are_keras_registry_names_and_name_the_metric(keras, identifier, cls):
    metric = metrics.get(identifier, BinaryCrossentropy())
    assert type(metric) is cls and metric.name == identifier
    assert type(keras.metrics.get(identifier)).__name__ == cls.__name__


def test_unknown_metric_strings_are_refused():
    with pytest.raises(ValueError, match="unknown metric 'roc'"):
        metrics.get("roc", BinaryCrossentropy())


def test_binary_accuracy_still_imports_from_npnet_metrics():
    assert binary_accuracy([[1, 0]], [[0.7, 0.2]]).tolist() == [[1.0, 1.0]]


# -- through compile, fit and evaluate ---------------------------------------------------------

def small_model(dtype="float32", metric_list=None, seed=0):
    npnet.utils.set_random_seed(seed)
    model = npnet.Sequential([npnet.Input(shape=(6,)), Dense(8, activation="relu"), Dense(3, activation="sigmoid")],
                             dtype=dtype)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=metric_list)
    return model


def model_data(seed=0, n=203):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    y = ((x[:, :3] + 0.5 * rng.normal(size=(n, 3))) > 0).astype(np.float32)
    return x, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_evaluate_with_these_metrics_equals_keras_evaluate(keras, dtype):
    """Odd N and batch 32: the last batch is partial; metrics accumulate over all 7 batches, as Keras's."""
    model = small_model(dtype, ["accuracy", Precision(), Recall(), AUC(), AUC(multi_label=True, name="auc_ml"),
                                Recall(thresholds=[0.3, 0.7], name="recall_at"), F1Score(threshold=0.5),
                                F1Score("macro", name="f1_macro")])
    x, y = model_data()
    model.fit(x, y, epochs=3, verbose=0)
    keras_model = interop.to_keras(model)
    expected = keras_model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    result = dict(zip(model.metrics_names, model.evaluate(x, y, batch_size=32, verbose=0)))
    assert set(result) == set(expected)
    for name in model.metrics_names[1:]:
        np.testing.assert_allclose(result[name], np.asarray(expected[name], np.float64), rtol=0, atol=KERAS_ATOL,
                                   err_msg=name)


def test_from_keras_rebuilds_these_metrics_with_their_settings(keras):
    model = small_model(metric_list=["auc", Precision(thresholds=[0.2, 0.6], name="p"),
                                     AUC(curve="PR", multi_label=True, name="pr"), F1Score("weighted", 0.4)])
    back = interop.from_keras(interop.to_keras(model))
    assert back.metrics_names == model.metrics_names
    assert [m.get_config() for m in back._metrics] == [m.get_config() for m in model._metrics]


def test_from_keras_refuses_metric_settings_npnet_lacks(keras):
    keras_model = interop.to_keras(small_model())
    keras_model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[keras.metrics.Precision(top_k=2)])
    with pytest.raises(ValueError, match="Precision has no \\{'top_k': 2\\}"):
        interop.from_keras(keras_model)


def test_history_stores_per_class_arrays_and_the_progress_line_shows_their_mean():
    model = small_model(metric_list=[F1Score(threshold=0.5)])
    x, y = model_data()
    history = model.fit(x, y, epochs=2, verbose=0, validation_split=0.2)
    assert [np.shape(v) for v in history.history["f1_score"]] == [(3,), (3,)]
    assert np.shape(history.history["val_f1_score"][-1]) == (3,)
    line = progbar.format_logs({"loss": 0.5, "f1_score": np.array([0.2, 0.4, 0.9])})
    assert line == " - loss: 0.5000 - f1_score: 0.5000"
    stream = io.StringIO()
    bar = progbar.Progbar(1, verbose=2, stream=stream)
    bar.update(1, {"f1_score": history.history["f1_score"][-1]})
    assert f"f1_score: {np.mean(history.history['f1_score'][-1]):.4f}" in stream.getvalue()


def test_a_saved_model_keeps_its_metrics_settings(tmp_path):
    model = small_model(metric_list=["accuracy", "AUC", Precision(thresholds=np.array([0.2, 0.6]), name="p"),
                                     AUC(curve="PR", multi_label=True, name="pr"), F1Score("weighted", 0.4)])
    x, y = model_data()
    model.save(tmp_path / "model.npz")
    loaded = npnet.models.load_model(tmp_path / "model.npz")
    assert [(type(m), m.get_config()) for m in loaded._metrics] == [(type(m), m.get_config()) for m in model._metrics]
    for loaded_value, value in zip(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0)):
        np.testing.assert_array_equal(loaded_value, value)


@pytest.mark.parametrize(("identifier", "match"), [
    ({"class_name": "MeanIoU", "config": {}}, "a metric config must be"),
    ({"class_name": "auc", "config": {}}, "a metric config must be"),
    ({"class_name": "AUC"}, "a metric config must be"),
    ({"class_name": "AUC", "config": {"from_logits": True}}, "unexpected keyword argument 'from_logits'"),
    ({"class_name": "AUC", "config": {"num_thresholds": 1}}, "num_thresholds must be >= 2"),
])
def test_metric_configs_are_refused_unless_they_rebuild_a_known_metric(identifier, match):
    with pytest.raises((TypeError, ValueError), match=match):
        metrics.get(identifier, BinaryCrossentropy())


def test_serialize_and_get_round_trip_every_setting():
    for metric in (BinaryAccuracy(name="acc", threshold=0.3), Recall([0.1, 0.9]), AUC(7, "PR", "minoring", True),
                   F1Score("micro", 0.5, name="f")):
        rebuilt = metrics.get(metrics.serialize(metric), BinaryCrossentropy())
        assert type(rebuilt) is type(metric) and rebuilt.get_config() == metric.get_config()


# == Multiclass and regression metrics, "accuracy" by loss, and to_categorical, against Keras 3. =====
#
# Accuracies are counts, so they must equal Keras's exactly. The regression
# metrics accumulate in float64 where Keras accumulates in float32: they agree
# to float32 rounding of the running sums, bounded below in float32 eps.

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


# == binary_accuracy and BinaryAccuracy ==============================================================

def test_accuracy_is_not_categorical_accuracy():
    """On one row the two differ: labels [1, 0, 1], predictions [0.9, 0.2, 0.1] -> binary 2/3, categorical 1."""
    y, p = np.array([[1, 0, 1]]), np.array([[0.9, 0.2, 0.1]], np.float32)
    assert binary_accuracy(y, p).mean() == pytest.approx(2 / 3)
    metric = BinaryAccuracy()
    metric.update_state(y, p)
    assert metric.result() == pytest.approx(2 / 3)


def test_binary_accuracy_is_unreduced_and_uses_a_strict_threshold():
    y = np.array([[1, 0], [0, 1]])
    p = np.array([[0.5, 0.5], [0.2, 0.7]])
    np.testing.assert_array_equal(binary_accuracy(y, p), [[0, 1], [1, 1]])     # 0.5 is not > 0.5
    np.testing.assert_array_equal(binary_accuracy(y, p, threshold=0.4), [[1, 0], [1, 1]])


def test_binary_accuracy_metric_accumulates_over_batches():
    metric = BinaryAccuracy()
    metric.update_state([[1, 1]], [[0.9, 0.1]])
    metric.update_state([[0, 0], [1, 1]], [[0.1, 0.1], [0.9, 0.9]])
    assert metric.result() == pytest.approx(5 / 6)
    metric.reset_state()
    assert metric.result() == 0.0
