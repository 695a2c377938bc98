"""npnet.layers.dense: Dense's initial weights and its backward."""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import gradcheck
from npnet.layers import Dense

from finite_differences import TOLERANCE


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_backward_matches_finite_differences(activation, use_bias, rng):
    layer = Dense(4, activation=activation, use_bias=use_bias)
    layer.build(5, np.float64)
    layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    report = gradcheck.check_layer(layer, rng.normal(size=(6, 5)))
    assert [c.name.split("/")[1] for c in report.checks] == (["kernel", "bias", "input"] if use_bias
                                                              else ["kernel", "input"])
    report.assert_passed(TOLERANCE)


# == Initial weights =================================================================================

def test_weights_are_glorot_uniform_kernels_and_zero_biases():
    model = npnet.Sequential([npnet.Input(shape=(300,)), Dense(200), Dense(3)])
    kernel, bias = model.get_weights()[:2]
    limit = np.sqrt(6 / (300 + 200))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.99 * limit
    assert abs(kernel.std() - limit / np.sqrt(3)) < 0.01 * limit    # the std of U(-a, a) is a / sqrt(3)
    np.testing.assert_array_equal(bias, 0)
