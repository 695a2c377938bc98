"""Finite-difference gradient checks (float64) of every hand-written backward in npnet.

Measured on this machine (eps 1e-6, float64) and the tolerance chosen:
activations 3e-9-6e-9, Dense <= 5.5e-10, BCE from logits 2.4e-9 and from
probabilities 1.7e-9, whole models <= 1e-6 (worst at near-zero entries,
absolute error 1.4e-10). Tolerance 1e-5 everywhere: two to four orders
above the noise, while the broken backwards below miss by more than 1e-2.
"""
from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import activations, gradcheck
from npnet.layers import Dense
from npnet.losses import BinaryCrossentropy

TOLERANCE = 1e-5


@pytest.mark.parametrize("name", ["linear", "relu", "sigmoid", "tanh"])
def test_activation_backward_matches_finite_differences(name, rng):
    z = rng.normal(0.0, 2.0, (7, 5))
    z[np.abs(z) < 1e-3] = 0.5   # keep away from ReLU's kink, where the derivative is undefined
    gradcheck.check_activation(name, z).assert_passed(TOLERANCE)


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


@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_crossentropy_backward_matches_finite_differences(from_logits, rng):
    y_true = rng.random((8, 3))                       # soft labels exercise both terms of the loss
    y_pred = rng.normal(0, 3, (8, 3)) if from_logits else rng.uniform(0.05, 0.95, (8, 3))
    gradcheck.check_loss(BinaryCrossentropy(from_logits=from_logits), y_true, y_pred).assert_passed(TOLERANCE)


@pytest.mark.parametrize("hidden, activation", [((), "relu"), ((5,), "tanh"), ((8, 4), "relu"),
                                                ((32, 16, 8), "relu"), ((4, 4, 4, 4), "tanh"), ((6,), "sigmoid")])
@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_whole_model_gradients_match_finite_differences(hidden, activation, output, float64, rng):
    npnet.utils.set_random_seed(1)
    model = npnet.Sequential([npnet.Input(shape=(6,))] + [Dense(u, activation=activation) for u in hidden]
                             + [Dense(3, activation=output)])
    # A linear output with from_logits=True is the same mathematics as the fused sigmoid path,
    # reached through the generic (unfused) code.
    model.compile(optimizer="adam", loss=BinaryCrossentropy(from_logits=output == "linear"))
    x, y = rng.normal(size=(10, 6)), (rng.random((10, 3)) > 0.5).astype(float)
    report = gradcheck.check_model(model, x, y)
    assert len(report.checks) == 2 * (len(hidden) + 1)
    report.assert_passed(TOLERANCE)


def test_sigmoid_then_probability_bce_equals_the_logits_shortcut(rng):
    """Chain rule through sigmoid and the clipped-probability loss gives (p - y) / (N*K) at the logits.

    This is the identity the fused sigmoid + BCE path relies on (docs/backprop.md#sigmoid-and-binary-crossentropy).
    """
    z, y = rng.normal(0, 2, (6, 3)), rng.random((6, 3))
    p = activations.sigmoid(z)
    on_probabilities, on_logits = BinaryCrossentropy(), BinaryCrossentropy(from_logits=True)
    assert on_probabilities.forward(y, p) == pytest.approx(on_logits.forward(y, z), rel=1e-12)
    dz_chain = activations.sigmoid.backward(p, on_probabilities.backward(), out=np.empty_like(z))
    np.testing.assert_allclose(dz_chain, on_logits.backward(), rtol=1e-10)
    np.testing.assert_allclose(on_logits.backward(), (p - y) / y.size, rtol=1e-12)


def test_fused_sigmoid_model_equals_linear_output_with_logits_loss(float64, rng):
    """A sigmoid-output model trains on its logits: same loss and gradients as linear output + from_logits."""
    npnet.utils.set_random_seed(2)
    fused = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu"), Dense(2, activation="sigmoid")])
    fused.compile(loss="binary_crossentropy")
    logits = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="relu"), Dense(2)])
    logits.compile(loss=BinaryCrossentropy(from_logits=True))
    logits.set_weights(fused.get_weights())
    x, y = rng.normal(size=(9, 4)), (rng.random((9, 2)) > 0.5).astype(float)
    loss_fused, grads_fused = fused.loss_and_gradients(x, y)
    loss_logits, grads_logits = logits.loss_and_gradients(x, y)
    assert loss_fused == loss_logits
    for a, b in zip(grads_fused, grads_logits):
        np.testing.assert_array_equal(a, b)


def test_fused_loss_stays_finite_where_probabilities_saturate(float64):
    """Logits of +-40 saturate sigmoid to 0/1 in float64; the fused loss still sees the true margin."""
    model = npnet.Sequential([npnet.Input(shape=(1,)), Dense(1, activation="sigmoid", use_bias=False)])
    model.compile(loss="binary_crossentropy")
    model.set_weights([np.array([[40.0]])])
    loss, (dW,) = model.loss_and_gradients(np.array([[1.0]]), np.array([[0.0]]))
    assert loss == pytest.approx(40.0, rel=1e-12)       # log(1 + e^40) = 40 + 4e-18
    assert dW[0, 0] == pytest.approx(1.0, rel=1e-12)    # (sigmoid(40) - 0) * x
    # The clipped-probability form would report -log(1e-7) = 16.1 and a zero gradient here.


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
