"""The heads' losses against Keras 3: functions, classes (every option, sample weights), gradients, fusion.

Keras is called on the same arrays: the functions in the arrays' dtype, the
classes with ``dtype=`` set to it. Gradients of the class call with respect to
y_pred come from tf.GradientTape and are compared with ``forward`` then
``backward``. Tolerances are in eps of the dtype (1.19e-7 float32, 2.22e-16
float64) relative to the largest magnitude compared (``assert_eps``), each with
where its eps come from and what was measured (Keras 3.15.1, TensorFlow 2.21.0,
NumPy 2.4, this CPU).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from npnet import activations, losses
from npnet.losses import (CategoricalCrossentropy, Huber, MeanAbsoluteError, MeanSquaredError,
                          SoftmaxCrossentropy, SparseCategoricalCrossentropy)

N, K = 32, 5
DTYPES = [np.float32, np.float64]


def assert_eps(ours, theirs, bound: float, dtype) -> float:
    """max |ours - theirs| <= bound * eps(dtype) * max |theirs|; returns the measured value in those units."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    unit = np.finfo(dtype).eps * max(float(np.max(np.abs(theirs))), np.finfo(dtype).tiny)
    measured = float(np.max(np.abs(ours - theirs)) / unit)
    assert measured <= bound, f"{measured:.2f} eps > {bound} eps"
    return measured


def problem(dtype, seed=0):
    """Logits (N, K) spread over +-8, their softmax, class ids, one-hot rows, soft rows, sample weights."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-8, 8, size=(N, K)).astype(dtype)
    ids = rng.integers(0, K, N)
    soft = rng.dirichlet(np.ones(K), N).astype(dtype)
    return {"z": z, "p": activations.softmax(z), "ids": ids, "one_hot": np.eye(K, dtype=dtype)[ids],
            "soft": soft, "weights": rng.uniform(0, 2, N).astype(dtype),
            "targets": rng.normal(size=(N, 3)).astype(dtype), "predictions": rng.normal(size=(N, 3)).astype(dtype)}


def keras_loss_and_gradient(keras, loss, y_true, y_pred, sample_weight):
    import tensorflow as tf
    variable = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        value = loss(y_true, variable, sample_weight=sample_weight)
    return float(value), tape.gradient(value, variable).numpy()


def ours_loss_and_gradient(loss, y_true, y_pred, sample_weight):
    return loss.forward(y_true, y_pred, sample_weight), loss.backward().copy()


# -- the functions: one loss per sample ------------------------------------------------------------------

# Value bounds (eps of the largest per-sample loss). Crossentropies: the same formulas, exp and log
# within an ulp in Eigen and in libm, a sum over K = 5 classes: 4 (measured at most 1.17 / 1.64,
# float32 / float64, the worst of 5 seeds). Regression: a subtraction, a square or abs and a mean of 3:
# 2 (measured 0 / 0: the same operations in the same order).
FUNCTION_CASES = [
    # name, our call, Keras's call, bound
    ("cce", lambda L, d: L.categorical_crossentropy(d["one_hot"], d["p"]),
     lambda k, d: k.losses.categorical_crossentropy(d["one_hot"], d["p"]), 4),
    ("cce soft smoothed", lambda L, d: L.categorical_crossentropy(d["soft"], d["p"], label_smoothing=0.1),
     lambda k, d: k.losses.categorical_crossentropy(d["soft"], d["p"], label_smoothing=0.1), 4),
    ("cce logits smoothed", lambda L, d: L.categorical_crossentropy(d["one_hot"], d["z"], True, 0.2),
     lambda k, d: k.losses.categorical_crossentropy(d["one_hot"], d["z"], True, 0.2), 4),
    ("sparse", lambda L, d: L.sparse_categorical_crossentropy(d["ids"], d["p"]),
     lambda k, d: k.losses.sparse_categorical_crossentropy(d["ids"], d["p"]), 4),
    ("sparse (N, 1) logits", lambda L, d: L.sparse_categorical_crossentropy(d["ids"][:, None], d["z"], True),
     lambda k, d: k.losses.sparse_categorical_crossentropy(d["ids"][:, None], d["z"], True), 4),
    ("bce smoothed", lambda L, d: L.binary_crossentropy(d["one_hot"], d["p"], label_smoothing=0.1),
     lambda k, d: k.losses.binary_crossentropy(d["one_hot"], d["p"], label_smoothing=0.1), 4),
    ("bce logits smoothed", lambda L, d: L.binary_crossentropy(d["one_hot"], d["z"], True, 0.3),
     lambda k, d: k.losses.binary_crossentropy(d["one_hot"], d["z"], True, 0.3), 4),
    ("mse", lambda L, d: L.mean_squared_error(d["targets"], d["predictions"]),
     lambda k, d: k.losses.mean_squared_error(d["targets"], d["predictions"]), 2),
    ("mse (N,) vs (N, 1)", lambda L, d: L.mean_squared_error(d["targets"][:, 0], d["predictions"][:, :1]),
     lambda k, d: k.losses.mean_squared_error(d["targets"][:, 0], d["predictions"][:, :1]), 2),
    ("mae", lambda L, d: L.mean_absolute_error(d["targets"], d["predictions"]),
     lambda k, d: k.losses.mean_absolute_error(d["targets"], d["predictions"]), 2),
    ("huber", lambda L, d: L.huber(d["targets"], d["predictions"]),
     lambda k, d: k.losses.huber(d["targets"], d["predictions"]), 2),
    ("huber delta 0.3", lambda L, d: L.huber(d["targets"], d["predictions"], delta=0.3),
     lambda k, d: k.losses.huber(d["targets"], d["predictions"], delta=0.3), 2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, ours, theirs, bound", FUNCTION_CASES, ids=[c[0] for c in FUNCTION_CASES])
def test_loss_function_equals_keras_per_sample(keras, name, ours, theirs, bound, dtype):
    data = problem(dtype)
    mine, reference = ours(losses, data), np.asarray(theirs(keras, data))
    assert mine.dtype == reference.dtype and mine.shape == reference.shape == (N,)
    assert_eps(mine, reference, bound, dtype)


# -- the classes: one loss per batch, and its gradient ------------------------------------------------------

# Bounds, eps of the batch loss and of the largest gradient entry: the per-sample ulps above, then a
# weighted mean over N = 32 (positive terms, so the summation order costs at most log2(32) half-ulps of
# the sum; in practice one or two): 4 for both. Measured, worst of 5 seeds with and without weights,
# float32 / float64: values <= 1.51 / 1.40, gradients <= 1.49 / 1.71.
CLASS_CASES = [
    # name, npnet loss, Keras class and arguments, y_true key, y_pred key, value bound, gradient bound
    ("cce", lambda: CategoricalCrossentropy(), ("CategoricalCrossentropy", {}), "one_hot", "p", 4, 4),
    ("cce smoothed", lambda: CategoricalCrossentropy(label_smoothing=0.1),
     ("CategoricalCrossentropy", {"label_smoothing": 0.1}), "soft", "p", 4, 4),
    ("cce logits", lambda: CategoricalCrossentropy(from_logits=True),
     ("CategoricalCrossentropy", {"from_logits": True}), "one_hot", "z", 4, 4),
    ("cce logits smoothed", lambda: CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
     ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}), "one_hot", "z", 4, 4),
    ("sparse", lambda: SparseCategoricalCrossentropy(), ("SparseCategoricalCrossentropy", {}), "ids", "p", 4, 4),
    ("sparse logits", lambda: SparseCategoricalCrossentropy(from_logits=True),
     ("SparseCategoricalCrossentropy", {"from_logits": True}), "ids", "z", 4, 4),
    ("bce smoothed", lambda: losses.BinaryCrossentropy(label_smoothing=0.1),
     ("BinaryCrossentropy", {"label_smoothing": 0.1}), "one_hot", "p", 4, 4),
    ("bce logits smoothed", lambda: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
     ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}), "one_hot", "z", 4, 4),
    ("mse", lambda: MeanSquaredError(), ("MeanSquaredError", {}), "targets", "predictions", 4, 4),
    ("mae", lambda: MeanAbsoluteError(), ("MeanAbsoluteError", {}), "targets", "predictions", 4, 4),
    ("huber", lambda: Huber(), ("Huber", {}), "targets", "predictions", 4, 4),
    ("huber delta 0.3", lambda: Huber(delta=0.3), ("Huber", {"delta": 0.3}), "targets", "predictions", 4, 4),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, make, keras_class, true_key, pred_key, value_bound, gradient_bound", CLASS_CASES,
                         ids=[c[0] for c in CLASS_CASES])
def test_loss_class_value_and_gradient_equal_keras(keras, name, make, keras_class, true_key, pred_key,
                                                   value_bound, gradient_bound, dtype, weighted):
    data = problem(dtype)
    y_true, y_pred = data[true_key], data[pred_key]
    weights = data["weights"] if weighted else None
    class_name, arguments = keras_class
    reference = getattr(keras.losses, class_name)(**arguments, dtype=np.dtype(dtype).name)
    keras_value, keras_gradient = keras_loss_and_gradient(keras, reference, y_true, y_pred, weights)
    loss = make()
    assert_eps(loss(y_true, y_pred, sample_weight=weights), keras_value, value_bound, dtype)
    checked = loss.check_targets(y_true, y_pred.shape[1], y_pred.dtype, "y")
    value, gradient = ours_loss_and_gradient(loss, checked, y_pred, weights)
    assert_eps(value, keras_value, value_bound, dtype)
    assert gradient.dtype == y_pred.dtype and gradient.shape == y_pred.shape
    assert_eps(gradient, keras_gradient, gradient_bound, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse, label_smoothing", [(False, 0.0), (False, 0.1), (True, 0.0)])
def test_fused_softmax_crossentropy_equals_keras_from_logits(keras, sparse, label_smoothing, dtype):
    """The fused step's loss and dz = (p - y) / N (weighted by rows) against GradientTape on the logits."""
    data = problem(dtype)
    y_true = data["ids"] if sparse else data["one_hot"]
    compiled = (SparseCategoricalCrossentropy() if sparse else CategoricalCrossentropy(label_smoothing=label_smoothing))
    fused = compiled.fused(activations.softmax)
    assert isinstance(fused, SoftmaxCrossentropy) and compiled.fused(activations.relu) is None
    class_name = "SparseCategoricalCrossentropy" if sparse else "CategoricalCrossentropy"
    options = {} if sparse else {"label_smoothing": label_smoothing}
    reference = getattr(keras.losses, class_name)(from_logits=True, dtype=np.dtype(dtype).name, **options)
    keras_value, keras_dz = keras_loss_and_gradient(keras, reference, y_true, data["z"], data["weights"])
    value, dz = ours_loss_and_gradient(fused, y_true, data["z"], data["weights"])
    assert_eps(value, keras_value, 4, dtype)   # as for the classes above; measured <= 0.77 / 0.81
    assert_eps(dz, keras_dz, 4, dtype)         # measured <= 0.82 / 1.19
    assert_eps(fused.probabilities, data["p"], 0, dtype)   # the same softmax, operation for operation


def test_fused_gradient_is_p_minus_y_over_n_exactly():
    data = problem(np.float64)
    fused = CategoricalCrossentropy().fused(activations.softmax)
    fused.forward(data["one_hot"], data["z"])
    np.testing.assert_array_equal(fused.backward(), (fused.probabilities - data["one_hot"]) * (1.0 / N))


def test_from_logits_on_a_softmax_output_warns_and_uses_the_logits_as_keras():
    with pytest.warns(UserWarning, match="from_logits=True but the output is a softmax"):
        fused = CategoricalCrossentropy(from_logits=True).fused(activations.softmax)
    assert isinstance(fused, SoftmaxCrossentropy)


def test_regression_losses_have_no_fused_form_and_no_accuracy():
    for loss in (MeanSquaredError(), MeanAbsoluteError(), Huber()):
        assert loss.fused(activations.linear) is None and loss.accuracy_metric is None


def test_accuracy_metric_names_follow_the_loss():
    assert CategoricalCrossentropy().accuracy_metric == "categorical_accuracy"
    assert SparseCategoricalCrossentropy().accuracy_metric == "sparse_categorical_accuracy"
    assert losses.BinaryCrossentropy().accuracy_metric == "binary_accuracy"


# -- kinks: the subgradients TensorFlow takes ---------------------------------------------------------------

def test_absolute_and_huber_gradients_at_their_kinks_equal_tensorflow(keras):
    y_true = np.zeros((1, 5), np.float64)
    y_pred = np.array([[0.0, 1.0, -1.0, 1.5, -0.25]])   # e = 0 (|e|'s kink), e = +-delta (Huber's)
    for loss, reference in ((MeanAbsoluteError(), keras.losses.MeanAbsoluteError(dtype="float64")),
                            (Huber(), keras.losses.Huber(dtype="float64"))):
        _, expected = keras_loss_and_gradient(keras, reference, y_true, y_pred, None)
        _, gradient = ours_loss_and_gradient(loss, y_true, y_pred, None)
        np.testing.assert_array_equal(gradient, expected)
    np.testing.assert_array_equal(MeanAbsoluteError().derivative(y_pred - y_true), [[0, 1, -1, 1, -1]])
    np.testing.assert_array_equal(Huber().derivative(y_pred - y_true), [[0, 1, -1, 1, -0.25]])


# -- extremes ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_crossentropy_from_logits_of_1e4_is_finite_and_exact(keras, dtype):
    """Wrong by 2e4: loss = logsumexp(z) - z[y] = 1e4 - (-1e4) exactly; dz = (p - y)/N = (e_0 - e_1)/2."""
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype)
    ids = np.array([1, 1])
    for fused in (SparseCategoricalCrossentropy().fused(activations.softmax),
                  CategoricalCrossentropy(from_logits=True)):
        y = ids if isinstance(fused, SoftmaxCrossentropy) and fused.sparse else np.eye(3, dtype=dtype)[ids]
        value = fused.forward(y, z)
        assert value == 1e4   # (2e4 + 0) / 2
        np.testing.assert_array_equal(fused.backward(), np.array([[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], dtype))
    reference = keras.losses.sparse_categorical_crossentropy(ids, z, from_logits=True).numpy()
    np.testing.assert_array_equal(losses.sparse_categorical_crossentropy(ids, z, from_logits=True), reference)


@pytest.mark.parametrize("dtype", DTYPES)
def test_probabilities_of_exactly_0_and_1_are_clipped_as_keras(keras, dtype):
    p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype)
    one_hot = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], dtype)
    ours = losses.categorical_crossentropy(one_hot, p)
    assert np.isfinite(ours).all()
    # -log(1 - 1e-7): NumPy's and TensorFlow's float32 log differ by an ulp there (tests/test_numerical_extremes.py)
    np.testing.assert_array_max_ulp(ours, keras.losses.categorical_crossentropy(one_hot, p).numpy(), maxulp=1)
    sparse = losses.sparse_categorical_crossentropy(np.array([1, 1]), p)
    assert_eps(sparse, keras.losses.sparse_categorical_crossentropy(np.array([1, 1]), p).numpy(), 2, dtype)
    loss = CategoricalCrossentropy()
    loss.forward(one_hot, p)
    assert np.isfinite(loss.backward()).all()


# -- bad input ------------------------------------------------------------------------------------------------

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


# -- names ----------------------------------------------------------------------------------------------------

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


def test_no_warning_without_from_logits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CategoricalCrossentropy().fused(activations.softmax)
