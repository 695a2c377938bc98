"""npnet.losses.regression: no fused form, and the subgradients TensorFlow takes at the kinks."""
from __future__ import annotations

import numpy as np

from npnet import activations
from npnet.losses import Huber, MeanAbsoluteError, MeanSquaredError

from loss_problems import keras_loss_and_gradient, ours_loss_and_gradient


def test_regression_losses_have_no_fused_form_and_no_accuracy():
    for loss in (MeanSquaredError(), MeanAbsoluteError(), Huber()):
        assert loss.fused(activations.linear) is None and loss.accuracy_metric is None


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
