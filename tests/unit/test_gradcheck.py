"""npnet.gradcheck: the four first activations' backwards pass it; a broken backward is caught at any scale of the
loss; float32 models are refused. The tolerance, measured: tests/finite_differences.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import activations, gradcheck
from npnet.layers import Dense
from npnet.losses import BinaryCrossentropy

from finite_differences import TOLERANCE


@pytest.mark.parametrize("name", ["linear", "relu", "sigmoid", "tanh"])
def test_activation_backward_matches_finite_differences(name, rng):
    z = rng.normal(0.0, 2.0, (7, 5))
    z[np.abs(z) < 1e-3] = 0.5   # keep away from ReLU's kink, where the derivative is undefined
    gradcheck.check_activation(name, z).assert_passed(TOLERANCE)


class _WrongBiasGradientDense(Dense):
    """A deliberately broken layer: its bias gradient is twice the true one."""

    def backward(self, dy, need_dx=True):
        dx = super().backward(dy, need_dx)
        self.db *= 2
        return dx


def test_gradient_check_catches_a_wrong_bias_gradient(float64, rng):
    npnet.utils.set_random_seed(3)
    model = npnet.Sequential([npnet.Input(shape=(3,)), _WrongBiasGradientDense(4, activation="tanh"),
                              Dense(2, activation="sigmoid")])
    model.compile(loss="binary_crossentropy")
    report = gradcheck.check_model(model, rng.normal(size=(5, 3)), (rng.random((5, 2)) > 0.5).astype(float))
    by_name = {c.name.split("/")[1] + str(i // 2): c for i, c in enumerate(report.checks)}
    assert by_name["bias0"].max_relative_error > 0.3          # 2g vs g: relative error 1/3
    assert by_name["kernel0"].max_relative_error < TOLERANCE
    with pytest.raises(AssertionError, match="bias"):
        report.assert_passed(TOLERANCE)


def test_gradient_check_catches_a_wrong_activation_derivative(rng):
    class SlopeTwoTanh(activations.Tanh):
        def backward(self, y, dy, out, z=None):
            return 2 * super().backward(y, dy, out)
    report = gradcheck.check_activation(SlopeTwoTanh(), rng.normal(size=(4, 3)))
    assert not report.passed(TOLERANCE)
    assert "tanh/z" in str(report)


def test_gradient_checks_refuse_float32_models(rng):
    model = npnet.Sequential([npnet.Input(shape=(3,)), Dense(2, activation="sigmoid")])
    model.compile(loss="binary_crossentropy")
    with pytest.raises(ValueError, match="float64"):
        gradcheck.check_model(model, rng.normal(size=(4, 3)), np.ones((4, 2)))


@pytest.mark.parametrize("scale", [1e-12, 1e-9, 1.0, 1e6])
def test_a_doubled_gradient_is_caught_at_any_scale_of_the_loss_and_a_right_one_passes(float64, scale):
    class Scaled(BinaryCrossentropy):
        """scale * BCE, with its gradient right or, with ``factor`` 2, doubled."""

        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def forward(self, y_true, y_pred, sample_weight=None):
            return scale * super().forward(y_true, y_pred, sample_weight)

        def backward(self):
            return self.factor * scale * super().backward()

    rng = np.random.default_rng(3)
    y_true, y_pred = (rng.random((4, 3)) < 0.5).astype(float), rng.uniform(0.2, 0.8, (4, 3))
    gradcheck.check_loss(Scaled(1.0), y_true, y_pred).assert_passed(1e-5)
    assert not gradcheck.check_loss(Scaled(2.0), y_true, y_pred).passed(1e-5)
