"""npnet.sklearn.MultilabelMLPClassifier: scikit-learn's estimator checks, and the wrapper's own promises."""
from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.utils.estimator_checks import parametrize_with_checks

import npnet
from npnet.sklearn import _PREDICT_BATCH_SIZE, MultilabelMLPClassifier
from npnet.tutorial import tutorial_data, tutorial_model

from sklearn_checks import run_estimator_check

DEFAULTS = {"hidden_layer_sizes": (32, 16, 8), "activation": "relu", "epochs": 50, "batch_size": 250,
            "learning_rate": 1e-3, "optimizer": "adam", "validation_split": 0.0, "shuffle": True,
            "random_state": None, "verbose": 0, "threshold": 0.5, "dtype": "float64"}


@pytest.fixture(scope="module")
def data():
    return tutorial_data()


def fast(**params) -> MultilabelMLPClassifier:
    """The tutorial's network for a few epochs, seeded."""
    return MultilabelMLPClassifier(**{"epochs": 3, "random_state": 0, **params})


def model_predict(estimator: MultilabelMLPClassifier, x: np.ndarray) -> np.ndarray:
    """``model_.predict`` in the batches the estimator predicts in: the same calls, so the same bits.

    (In other batches BLAS may round a row's products differently, depending on the CPU.)
    """
    return estimator.model_.predict(x, batch_size=_PREDICT_BATCH_SIZE, verbose=0)


# -- scikit-learn's own checks ----------------------------------------------------------------

# Two configurations: the tutorial's architecture and Adam; no hidden layer and SGD. Both
# in float64, the default: in float32 a row's probability moves by an ulp (6e-8) with its
# place in the batch on some CPUs' BLAS, beyond check_methods_sample_order_invariance's
# rtol of 1e-7 (see the dtype parameter). Few epochs keep all checks well under a second each.
@parametrize_with_checks([MultilabelMLPClassifier(epochs=5, batch_size=32),
                          MultilabelMLPClassifier(hidden_layer_sizes=(), optimizer="sgd", learning_rate=0.1,
                                                  epochs=20, batch_size=32, dtype="float64")])
def test_scikit_learn_estimator_checks(estimator, check):
    run_estimator_check(estimator, check)




def test_estimator_tags_say_binary_and_multilabel_but_not_multiclass():
    tags = MultilabelMLPClassifier().__sklearn_tags__()
    assert tags.estimator_type == "classifier"
    assert tags.classifier_tags.multi_label and not tags.classifier_tags.multi_class
    assert tags.target_tags.multi_output and tags.target_tags.single_output


def test_importing_npnet_does_not_import_scikit_learn():
    code = "import sys, npnet; assert 'sklearn' not in sys.modules, 'npnet imported sklearn'"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- parameters --------------------------------------------------------------------------------

def test_defaults_are_the_tutorials_settings_and_params_round_trip_through_clone():
    assert MultilabelMLPClassifier().get_params() == DEFAULTS
    estimator = MultilabelMLPClassifier().set_params(hidden_layer_sizes=(4,), threshold=[0.2, 0.5, 0.8])
    twin = clone(estimator)
    assert twin.get_params()["hidden_layer_sizes"] == (4,)
    assert twin.get_params()["threshold"] == [0.2, 0.5, 0.8]
    assert twin.get_params()["threshold"] is not estimator.threshold   # clone copies, never shares


def test_clone_of_a_fitted_estimator_is_unfitted(data):
    fitted = fast().fit(data.x_train, data.y_train)
    with pytest.raises(NotFittedError):
        clone(fitted).predict(data.x_test)


@pytest.mark.parametrize("param, value, error, match", [
    ("hidden_layer_sizes", "32", TypeError, "hidden_layer_sizes"),
    ("hidden_layer_sizes", (32, 0), ValueError, r"hidden_layer_sizes\[1\]"),
    ("hidden_layer_sizes", (32, 1.5), TypeError, r"hidden_layer_sizes\[1\]"),
    ("activation", "selu", ValueError, "activation"),
    ("activation", None, TypeError, "activation"),
    ("epochs", 0, ValueError, "epochs"),
    ("epochs", 2.0, TypeError, "epochs"),
    ("batch_size", 0, ValueError, "batch_size"),
    ("learning_rate", 0.0, ValueError, "learning_rate"),
    ("learning_rate", "fast", TypeError, "learning_rate"),
    ("optimizer", "adafactor", ValueError, "optimizer"),
    ("validation_split", 1.0, ValueError, "validation_split"),
    ("shuffle", 1, TypeError, "shuffle"),
    ("random_state", -1, ValueError, "random_state"),
    ("random_state", 1.5, TypeError, "random_state"),
    ("verbose", 3, ValueError, "verbose"),
    ("threshold", 1.5, ValueError, "threshold"),
    ("threshold", "high", TypeError, "threshold"),
    ("threshold", [0.5, 0.5], ValueError, "threshold"),   # the tutorial has 3 labels
    ("threshold", [0.5, np.nan, 0.5], ValueError, "threshold"),
    ("dtype", "float16", ValueError, "dtype"),
    ("dtype", np.float32, TypeError, "dtype"),
])
def test_bad_parameters_are_refused_by_fit_naming_the_parameter_before_training(data, param, value, error, match):
    estimator = fast(**{param: value})
    with pytest.raises(error, match=match):
        estimator.fit(data.x_train, data.y_train)
    assert not hasattr(estimator, "model_")
    assert estimator.get_params()[param] is value   # stored unchanged


@pytest.mark.parametrize("y, match", [
    (np.arange(30) % 3, "Only binary classification is supported"),
    (np.full((30, 2), 2), "indicator matrix of 0s and 1s"),
    (np.linspace(0, 1, 30), "Unknown label type"),
    (np.ones(30), "only one class"),
])
def test_targets_other_than_binary_or_multilabel_are_refused(y, match):
    with pytest.raises(ValueError, match=match):
        fast().fit(np.random.default_rng(0).normal(size=(30, 4)), y)


def test_predict_before_fit_raises_not_fitted(data):
    with pytest.raises(NotFittedError):
        MultilabelMLPClassifier().predict_proba(data.x_test)


# -- what fit builds -----------------------------------------------------------------------------

def test_fit_records_history_classes_and_sizes(data):
    estimator = fast(validation_split=0.2).fit(data.x_train, data.y_train)
    assert [layer.units for layer in estimator.model_.layers] == [32, 16, 8, 3]
    assert set(estimator.history_) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert estimator.loss_curve_ == estimator.history_["loss"] and estimator.n_iter_ == 3
    np.testing.assert_array_equal(estimator.classes_, [0, 1, 2])   # as MLPClassifier for multilabel y
    assert estimator.n_outputs_ == 3 and estimator.n_features_in_ == 6


def test_with_random_state_none_the_fit_is_the_tutorials_sequential_after_set_random_seed(data):
    npnet.utils.set_random_seed(7)
    estimator = MultilabelMLPClassifier(epochs=3, dtype="float32").fit(data.x_train, data.y_train)
    npnet.utils.set_random_seed(7)
    model = tutorial_model()
    history = model.fit(data.x_train, data.y_train, epochs=3, batch_size=250, verbose=0)
    for ours, tutorials in zip(estimator.model_.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, tutorials)
    assert estimator.history_ == history.history


def test_an_int_random_state_gives_bit_identical_fits_and_leaves_the_global_stream_alone(data):
    before = npnet.utils.random_generator().bit_generator.state
    first, second = (fast(random_state=3).fit(data.x_train, data.y_train) for _ in range(2))
    assert npnet.utils.random_generator().bit_generator.state == before
    for a, b in zip(first.model_.get_weights(), second.model_.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert first.history_ == second.history_
    other = fast(random_state=4).fit(data.x_train, data.y_train)
    assert not np.array_equal(other.model_.get_weights()[0], first.model_.get_weights()[0])


def test_a_random_state_instance_advances_so_refits_differ_but_equal_seeds_agree(data):
    shared = np.random.RandomState(0)
    first = fast(random_state=shared).fit(data.x_train, data.y_train)
    second = fast(random_state=shared).fit(data.x_train, data.y_train)
    again = fast(random_state=np.random.RandomState(0)).fit(data.x_train, data.y_train)
    assert not np.array_equal(first.model_.get_weights()[0], second.model_.get_weights()[0])
    np.testing.assert_array_equal(first.model_.get_weights()[0], again.model_.get_weights()[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_dtype_parameter_builds_a_model_and_predicts_in_that_dtype(data, dtype):
    estimator = fast(dtype=dtype).fit(data.x_train, data.y_train)
    assert estimator.model_.dtype == np.dtype(dtype)
    assert estimator.predict_proba(data.x_test).dtype == np.dtype(dtype)


def test_a_sparse_indicator_matrix_trains_as_its_dense_twin(data):
    dense = fast().fit(data.x_train, data.y_train)
    from_sparse = fast().fit(data.x_train, sparse.csr_matrix(data.y_train))
    np.testing.assert_array_equal(dense.predict_proba(data.x_test), from_sparse.predict_proba(data.x_test))


# -- predictions and score ---------------------------------------------------------------------

def test_predictions_are_the_wrapped_sequentials_thresholded(data):
    estimator = fast().fit(data.x_train, data.y_train)
    probabilities = estimator.predict_proba(data.x_test)
    np.testing.assert_array_equal(probabilities, model_predict(estimator, data.x_test))
    predicted = estimator.predict(data.x_test)
    assert predicted.shape == (3300, 3) and predicted.dtype == np.int64
    np.testing.assert_array_equal(predicted, (probabilities > 0.5).astype(int))


def test_per_label_thresholds_apply_column_by_column_and_need_no_refit(data):
    estimator = fast().fit(data.x_train, data.y_train)
    probabilities = estimator.predict_proba(data.x_test)
    thresholds = np.array([0.1, 0.5, 0.9])
    estimator.set_params(threshold=thresholds)
    np.testing.assert_array_equal(estimator.predict(data.x_test), (probabilities > thresholds).astype(int))
    estimator.set_params(threshold=[0.5, 0.5])
    with pytest.raises(ValueError, match="threshold"):
        estimator.predict(data.x_test)


def test_score_is_subset_accuracy_not_kerass_binary_accuracy(data):
    estimator = fast(epochs=20).fit(data.x_train, data.y_train)
    predicted = estimator.predict(data.x_test)
    subset = np.mean(np.all(predicted == data.y_test, axis=1))
    binary = np.mean(predicted == data.y_test)
    assert estimator.score(data.x_test, data.y_test) == accuracy_score(data.y_test, predicted) == subset
    # Evaluated in predict's batches: the same probabilities, so the same count of right decisions.
    assert estimator.model_.evaluate(data.x_test, data.y_test, batch_size=_PREDICT_BATCH_SIZE,
                                     verbose=0)[1] == binary
    assert subset < binary - 0.05   # every wrong label costs a whole sample


def test_a_one_dimensional_binary_target_keeps_its_labels(data):
    labels = np.where(data.y_train[:, 0] == 1, "yes", "no")
    estimator = fast().fit(data.x_train, labels)
    np.testing.assert_array_equal(estimator.classes_, ["no", "yes"])
    probabilities = estimator.predict_proba(data.x_test)
    p_yes = model_predict(estimator, data.x_test)[:, 0]
    np.testing.assert_array_equal(probabilities[:, 1], p_yes)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(estimator.predict(data.x_test), np.where(p_yes > 0.5, "yes", "no"))


def test_a_pickled_fitted_estimator_predicts_the_same(data):
    estimator = fast().fit(data.x_train, data.y_train)
    twin = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(twin.predict_proba(data.x_test), estimator.predict_proba(data.x_test))


# -- in scikit-learn's model selection ------------------------------------------------------------

def test_cross_val_score_gives_one_subset_accuracy_per_fold(data):
    scores = cross_val_score(fast(epochs=20), data.x_train, data.y_train, cv=KFold(3))
    assert scores.shape == (3,)
    assert np.all((scores > 0.5) & (scores < 1))   # chance-level subset accuracy is about 0.1


def test_grid_search_prefers_training_longer_and_refits_the_best(data):
    search = GridSearchCV(fast(), {"epochs": [1, 20]}, cv=KFold(3)).fit(data.x_train, data.y_train)
    assert search.best_params_ == {"epochs": 20}
    assert search.best_estimator_.n_iter_ == 20
    assert search.score(data.x_test, data.y_test) == search.best_estimator_.score(data.x_test, data.y_test)


def test_fits_in_worker_processes_equal_fits_here_and_come_back_trainable(data):
    # The fitted estimators travel back from the workers by pickle: their models
    # must still be one flat buffer with views (npnet.models.Sequential.__setstate__).
    here, there = (cross_validate(fast(), data.x_train, data.y_train, cv=KFold(2), n_jobs=n_jobs,
                                  return_estimator=True) for n_jobs in (1, 2))
    np.testing.assert_array_equal(here["test_score"], there["test_score"])
    for estimator in there["estimator"]:
        model = estimator.model_
        assert all(np.shares_memory(layer.W, model._params.values) for layer in model.layers)
