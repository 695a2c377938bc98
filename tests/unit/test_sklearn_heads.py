"""MLPClassifier (binary, multiclass, multilabel) and MLPRegressor: scikit-learn's checks and contract.

The estimators train the heads of issue 13 through npnet's Sequential; what
those compute is checked against Keras in tests/parity/test_heads.py, so
these tests are about the scikit-learn contract and the targets each takes.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from npnet.sklearn import MLPClassifier, MLPRegressor

from sklearn_checks import run_estimator_check

ROOT = Path(__file__).resolve().parents[2]



@parametrize_with_checks([MLPClassifier(epochs=20, batch_size=16, hidden_layer_sizes=(16,)),
                          MLPRegressor(epochs=100, batch_size=16, hidden_layer_sizes=(16,), learning_rate=0.01),
                          MLPRegressor(hidden_layer_sizes=(), optimizer="sgd", learning_rate=0.05, epochs=50,
                                       batch_size=16, loss="huber", dtype="float64")])
def test_scikit_learn_estimator_checks(estimator, check):
    run_estimator_check(estimator, check)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x / 16.0, y


@pytest.fixture(scope="module")
def diabetes():
    x, y = load_diabetes(return_X_y=True)
    return (x - x.mean(0)) / x.std(0), (y - y.mean()) / y.std()


def test_multiclass_targets_train_a_softmax_with_sparse_crossentropy(digits):
    x, y = digits
    labels = np.array(list("abcdefghij"))[y]   # class names, not ids
    model = MLPClassifier(hidden_layer_sizes=(32,), epochs=10, batch_size=32, random_state=0).fit(x, labels)
    assert model.y_type_ == "multiclass" and model.classes_.tolist() == list("abcdefghij")
    assert model.model_.layers[-1].activation.name == "softmax"
    assert model.model_.loss.name == "sparse_categorical_crossentropy"
    probabilities = model.predict_proba(x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)   # float32 softmax rows
    np.testing.assert_array_equal(model.predict(x), model.classes_[probabilities.argmax(axis=1)])
    assert model.score(x, labels) > 0.9   # measured 0.96 after 10 epochs


def test_binary_and_multilabel_targets_keep_the_sigmoid_heads(digits):
    x, y = digits
    binary = MLPClassifier(epochs=2, random_state=0).fit(x, np.where(y > 4, "big", "small"))
    assert binary.y_type_ == "binary" and binary.predict_proba(x).shape == (len(x), 2)
    multilabel = MLPClassifier(epochs=2, random_state=0).fit(x, np.stack([y > 4, y % 2 == 0], axis=1).astype(int))
    assert multilabel.y_type_ == "multilabel-indicator" and multilabel.predict(x).shape == (len(x), 2)


def test_classifier_tags_say_every_kind_of_classification():
    tags = MLPClassifier().__sklearn_tags__()
    assert tags.classifier_tags.multi_class and tags.classifier_tags.multi_label


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_regressor_fits_one_and_several_targets_with_each_loss(diabetes, loss):
    x, y = diabetes
    one = MLPRegressor(hidden_layer_sizes=(32,), epochs=60, batch_size=16, loss=loss, random_state=0).fit(x, y)
    assert one.predict(x).shape == (len(x),) and one.model_.layers[-1].activation.name == "linear"
    assert one.score(x, y) > 0.4   # R2; measured 0.52-0.55 for the three losses
    two = clone(one).set_params(epochs=2).fit(x, np.stack([y, -y], axis=1))
    assert two.predict(x).shape == (len(x), 2) and two.n_outputs_ == 2


def test_regressor_refuses_bad_losses_and_non_finite_targets(diabetes):
    x, y = diabetes
    with pytest.raises(ValueError, match="loss must be one of"):
        MLPRegressor(loss="poisson").fit(x, y)
    with pytest.raises(ValueError, match="NaN"):
        MLPRegressor(epochs=1).fit(x, np.where(y > 1, np.nan, y))


def test_grid_search_over_classifier_and_regressor(digits, diabetes):
    x, y = digits
    search = GridSearchCV(MLPClassifier(hidden_layer_sizes=(16,), batch_size=32, random_state=0),
                          {"epochs": [1, 8]}, cv=2).fit(x, y)
    assert search.best_params_ == {"epochs": 8}
    x, y = diabetes
    search = GridSearchCV(MLPRegressor(hidden_layer_sizes=(16,), batch_size=16, random_state=0),
                          {"epochs": [1, 40]}, cv=2).fit(x, y)
    assert search.best_params_ == {"epochs": 40}


# -- beyond one machine: the same search on a Dask cluster ---------------------------------------------

def test_grid_search_runs_on_a_dask_local_cluster_with_the_same_results(distributed, digits):
    """GridSearchCV through joblib's dask backend on a LocalCluster of two worker processes.

    Each fit is seeded (random_state=0), so the cluster's cross-validated
    scores must equal a search run here, fit for fit: the work moved, not the results.
    """
    import joblib
    x, y = digits
    grid = {"hidden_layer_sizes": [(8,), (16,)], "epochs": [1, 3]}
    here = GridSearchCV(MLPClassifier(batch_size=64, random_state=0), grid, cv=2).fit(x, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            there = GridSearchCV(MLPClassifier(batch_size=64, random_state=0), grid, cv=2).fit(x, y)
        assert len(client.scheduler_info()["workers"]) == 2
        ran_on = client.run(lambda: __import__("npnet").__file__)   # the workers imported npnet themselves
    assert len(ran_on) == 2
    np.testing.assert_array_equal(there.cv_results_["mean_test_score"], here.cv_results_["mean_test_score"])
    assert there.best_params_ == here.best_params_


def test_the_dask_example_runs(distributed):
    result = subprocess.run([sys.executable, "examples/dask_grid_search.py"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "best of 6 settings on 2 Dask workers" in result.stdout
