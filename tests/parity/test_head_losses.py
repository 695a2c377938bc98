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

import numpy as np
import pytest

from npnet import losses
from npnet.losses import (CategoricalCrossentropy,
    Huber,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy)

from loss_problems import DTYPES, N, assert_eps, keras_loss_and_gradient, ours_loss_and_gradient, problem


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


# -- names ----------------------------------------------------------------------------------------------------
