"""npnet.losses: the loss protocol a model relies on (check_targets, fused, accuracy_metric, the registry)."""
from __future__ import annotations

import numpy as np
import pytest

from npnet import activations, losses


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
