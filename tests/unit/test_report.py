"""npnet.report: every number equals scikit-learn's, computed directly; hand-worked values; refusals."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from npnet.report import format_report, multilabel_report
from npnet.thresholds import apply_thresholds


def sample(seed=0, n=120, k=3):
    rng = np.random.default_rng(seed)
    y_true = (rng.random((n, k)) < 0.4).astype(int)
    y_prob = np.clip(0.4 * y_true + 0.6 * rng.random((n, k)), 0, 1)
    return y_true, y_prob


@pytest.mark.parametrize("threshold", [0.5, 0.3, np.array([0.35, 0.5, 0.6])], ids=["0.5", "0.3", "per-label"])
def test_every_number_equals_scikit_learn_computed_directly(sklearn, threshold):
    from sklearn import metrics as sk
    y_true, y_prob = sample()
    y_pred = (y_prob > threshold).astype(int)
    report = multilabel_report(y_true, y_prob, threshold=threshold, label_names=["a", "b", "c"])
    assert report["hamming_loss"] == sk.hamming_loss(y_true, y_pred)
    assert report["subset_accuracy"] == sk.accuracy_score(y_true, y_pred)
    assert report["binary_accuracy"] == pytest.approx(1 - sk.hamming_loss(y_true, y_pred), abs=1e-15)
    precision, recall, f1, support = sk.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    for j, name in enumerate("abc"):
        auc = sk.roc_auc_score(y_true[:, j], y_prob[:, j])
        assert report["labels"][name] == {"precision": precision[j], "recall": recall[j], "f1": f1[j],
                                          "support": support[j], "roc_auc": auc}
    for average in ("micro", "macro", "weighted"):
        p, r, f, _ = sk.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        assert report[average] == {"precision": p, "recall": r, "f1": f, "support": support.sum(),
                                   "roc_auc": sk.roc_auc_score(y_true, y_prob, average=average)}
    assert report["thresholds"] == list(np.broadcast_to(threshold, 3))


def test_a_hand_worked_report():
    y_true = [[1, 0], [1, 1], [0, 0], [0, 1]]
    y_prob = [[0.9, 0.2], [0.4, 0.7], [0.6, 0.1], [0.2, 0.5]]   # 0.5 is not above 0.5
    report = multilabel_report(y_true, y_prob)
    # predicted (1,0), (0,1), (1,0), (0,0): wrong entries 3 of 8; rows exactly right: 1 of 4
    assert (report["hamming_loss"], report["subset_accuracy"], report["binary_accuracy"]) == (0.375, 0.25, 0.625)
    assert report["labels"]["label_0"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "roc_auc": 0.75}
    assert report["labels"]["label_1"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2, "roc_auc": 1.0}
    assert report["micro"]["precision"] == 2 / 3 and report["micro"]["recall"] == 0.5


def test_roc_auc_is_none_where_a_label_has_one_class():
    y_true, y_prob = sample()
    y_true[:, 1] = 0
    report = multilabel_report(y_true, y_prob)
    assert report["labels"]["label_1"]["roc_auc"] is None and report["macro"]["roc_auc"] is None
    assert report["labels"]["label_0"]["roc_auc"] is not None and report["micro"]["roc_auc"] is not None
    label_1 = report["labels"]["label_1"]
    assert (label_1["precision"], label_1["recall"], label_1["f1"], label_1["support"]) == (0.0, 0.0, 0.0, 0)


def test_the_report_is_plain_json():
    assert json.loads(json.dumps(multilabel_report(*sample()))) == multilabel_report(*sample())


def test_per_label_thresholds_are_the_labels_apply_thresholds_gives():
    y_true, y_prob = sample()
    cuts = np.array([0.2, 0.5, 0.8])
    report = multilabel_report(y_true, y_prob, threshold=cuts)
    assert report["subset_accuracy"] == np.mean((apply_thresholds(y_prob, cuts) == y_true).all(axis=1))


def test_format_report_is_a_table_of_the_reports_numbers():
    report = multilabel_report(*sample(), label_names=["cats", "dogs", "birds"])
    text = format_report(report, digits=3)
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support", "roc-auc"]
    dogs = report["labels"]["dogs"]
    assert lines[2].split() == ["dogs", f"{dogs['precision']:.3f}", f"{dogs['recall']:.3f}", f"{dogs['f1']:.3f}",
                                str(dogs["support"]), f"{dogs['roc_auc']:.3f}"]
    assert lines[5].split()[:2] == ["micro", "avg"] and lines[7].split()[:2] == ["weighted", "avg"]
    assert lines[-2].split() == ["subset", "accuracy", f"{report['subset_accuracy']:.3f}"]
    assert len({len(line) for line in lines[:8] if line}) == 1   # header, label and average rows align


def test_format_report_shows_n_a_for_an_undefined_auc():
    y_true, y_prob = sample()
    y_true[:, 0] = 1
    assert "n/a" in format_report(multilabel_report(y_true, y_prob)).splitlines()[1]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"y_prob": np.full((120, 2), 0.5)}, "same shape"),
    ({"y_true": np.full((120, 3), 0.5)}, "y_true must hold 0/1 labels"),
    ({"y_prob": np.full((120, 3), 1.5)}, "y_prob must lie in \\[0, 1\\]"),
    ({"threshold": 1.5}, "threshold must be in \\[0.0, 1.0\\]"),
    ({"threshold": [0.5, 0.5]}, "threshold must be a number or one value per label \\(3\\)"),
    ({"threshold": [0.5, 0.5, 1.2]}, "threshold must lie in \\[0, 1\\]"),
    ({"label_names": ["a", "b"]}, "label_names must be 3 distinct names"),
    ({"label_names": ["a", "a", "b"]}, "label_names must be 3 distinct names"),
    ({"label_names": ["a", "b", 3]}, "label_names must be a list of str"),
])
def test_bad_arguments_are_refused_naming_them(kwargs, match):
    y_true, y_prob = sample()
    arguments = {"y_true": y_true, "y_prob": y_prob, **kwargs}
    with pytest.raises((TypeError, ValueError), match=match):
        multilabel_report(**arguments)


def test_format_report_refuses_other_objects():
    with pytest.raises(TypeError, match="report must be the dict multilabel_report returns"):
        format_report({"loss": 0.3})


def test_without_scikit_learn_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match="pip install 'npnet\\[demo\\]'"):
        multilabel_report(*sample())


def test_one_label_is_scored_as_its_positive_class_as_the_models_own_metrics_score_it(sklearn):
    # scikit-learn reads an (N, 1) 0/1 column as a binary target with classes 0 and 1; the report
    # once showed class 0 (support 357 benign) under the name "malignant" (212 of 569).
    import npnet
    from sklearn.datasets import load_breast_cancer
    data = load_breast_cancer()
    x = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
    y = (data.target == 0).astype(float)[:, None]    # 1 = malignant
    npnet.utils.set_random_seed(0)
    model = npnet.Sequential([npnet.Input(shape=(30,)), npnet.layers.Dense(8, activation="relu"),
                              npnet.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", metrics=[npnet.metrics.Precision(), npnet.metrics.Recall()])
    model.fit(x, y, epochs=3, batch_size=250, verbose=0)
    _, precision, recall = model.evaluate(x, y, verbose=0)
    report = multilabel_report(y, model.predict(x, verbose=0), label_names=["malignant"])
    # Both are TP / (TP + FN) (or + FP) of the same integer counts, one correctly rounded float64 division.
    scores = report["labels"]["malignant"]
    assert (scores["support"], scores["recall"], scores["precision"]) == (212, recall, precision)
    for average in ("micro", "macro", "weighted"):   # one label: every average is that label's score
        # the weighted average multiplies and divides by the support: two more roundings, < 3 ulp of 1.
        assert report[average] == pytest.approx(scores, rel=0, abs=3 * np.finfo(np.float64).eps)
