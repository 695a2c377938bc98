"""npnet.losses.categorical: softmax crossentropy's fused form, extremes and warnings, against Keras 3."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from npnet import activations, losses
from npnet.losses import CategoricalCrossentropy, SoftmaxCrossentropy, SparseCategoricalCrossentropy

from loss_problems import DTYPES, N, assert_eps, keras_loss_and_gradient, ours_loss_and_gradient, problem


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
    # -log(1 - 1e-7): NumPy's and TensorFlow's float32 log differ by an ulp there (tests/cross_cutting/test_numerical_extremes.py)
    np.testing.assert_array_max_ulp(ours, keras.losses.categorical_crossentropy(one_hot, p).numpy(), maxulp=1)
    sparse = losses.sparse_categorical_crossentropy(np.array([1, 1]), p)
    assert_eps(sparse, keras.losses.sparse_categorical_crossentropy(np.array([1, 1]), p).numpy(), 2, dtype)
    loss = CategoricalCrossentropy()
    loss.forward(one_hot, p)
    assert np.isfinite(loss.backward()).all()


def test_no_warning_without_from_logits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CategoricalCrossentropy().fused(activations.softmax)
