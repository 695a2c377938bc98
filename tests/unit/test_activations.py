"""The heads' activations (softmax, leaky_relu, elu, gelu, softplus, silu/swish) against Keras 3 and by definition.

Values are compared with keras.activations on the same arrays; gradients
with tf.GradientTape of sum(r * f(z)) for a fixed random r, which is
r * f'(z) for the elementwise ones and the softmax Jacobian-vector product.
Tolerances are in units of the dtype's machine epsilon (eps: 1.19e-7 in
float32, 2.22e-16 in float64), relative to each entry with a floor of one
(see ``assert_ulps``); each bound states where its ulps come from, and the
measured maximum (Keras 3.15.1, TensorFlow 2.21.0, NumPy 2.4, this CPU).
"""
from __future__ import annotations

import numpy as np
import pytest

from npnet import activations, gradcheck


HEADS = ["softmax", "leaky_relu", "elu", "gelu", "softplus", "silu"]


def assert_ulps(ours: np.ndarray, theirs: np.ndarray, ulps: float) -> float:
    """|ours - theirs| <= ulps * eps * max(|theirs|, 1) entrywise; returns the measured worst in those units.

    The floor of 1 is the absolute error of a result that cancels from terms
    of size ~1 (exp(z) - 1, 1 - sigmoid): there an ulp of 1, not of the result, is the unit.
    """
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    unit = np.finfo(ours.dtype).eps * np.maximum(np.abs(theirs).astype(np.float64), 1.0)
    measured = float(np.max(np.abs(ours.astype(np.float64) - theirs) / unit))
    assert measured <= ulps, f"{measured:.2f} eps > {ulps} eps"
    return measured


def inputs(dtype: type) -> np.ndarray:
    """(64, 8) logits from -12 to 12, with exact 0s and the float32 softplus threshold crossed."""
    z = np.random.default_rng(0).uniform(-12, 12, size=(64, 8))
    z[0] = [0.0, -0.0, 13.9, 14.0, -13.9, -14.0, 1e-6, -1e-6]
    return z.astype(dtype)


def keras_value_and_gradient(keras, name: str, z: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf
    variable = tf.Variable(z)
    with tf.GradientTape() as tape:
        y = keras.activations.get(name)(variable)
        total = tf.reduce_sum(r * y)
    return y.numpy(), tape.gradient(total, variable).numpy()


def ours_value_and_gradient(name: str, z: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    activation = activations.get(name)
    y = activation(z)
    return y, activation.backward(y, r, np.empty_like(z), z=z)


# Forward bounds, and what was measured (float32 / float64):
# softmax: exp within an ulp in Eigen and in libm, a sum and a division: 2     (1.00 / 1.00)
# leaky_relu: one product by the same float32-rounded slope: exact             (0 / 0)
# elu: TensorFlow's exp(z) - 1 carries one ulp of 1 near 0 (the floor), expm1 half an ulp: 1   (0.50 / 0.50)
# gelu: erfc within an ulp (Eigen's float32 approximation vs libm) and two exact-ish products: 2 (0.85 / 0.88)
# softplus: log1p and exp within an ulp each, the same thresholds: 2           (0.98 / 1.51)
# silu: the sigmoid (exp, add, divide) and one product: 2                      (1.03 / 1.00)
FORWARD_ULPS = {"softmax": 2, "leaky_relu": 0, "elu": 1, "gelu": 2, "softplus": 2, "silu": 2}
# Backward: the forward's ulps enter f'(z) once more, plus the product with r: 2 to 4. silu's
# s (1 + z (1 - s)) cancels in 1 - s as s -> 1, so each side's last-bit error of the sigmoid is
# multiplied by z: |z| eps per side, up to 14 eps here (the inputs reach |z| = 14).
# measured: softmax 1.94/1.97, leaky 0/0, elu 1.23/0.50, gelu 1.38/0.99, softplus 1.00/0.92, silu 6.55/6.91
BACKWARD_ULPS = {"softmax": 4, "leaky_relu": 0, "elu": 2, "gelu": 3, "softplus": 2, "silu": 14}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", HEADS)
def test_activation_value_and_gradient_equal_keras(keras, name, dtype):
    z = inputs(dtype)
    r = np.random.default_rng(1).standard_normal(z.shape).astype(dtype)
    y_keras, dz_keras = keras_value_and_gradient(keras, name, z, r)
    y, dz = ours_value_and_gradient(name, z, r)
    assert_ulps(y, y_keras, FORWARD_ULPS[name])
    assert_ulps(dz, dz_keras, BACKWARD_ULPS[name])


def test_swish_is_silu_as_in_keras():
    assert activations.get("swish") is activations.silu is activations.swish
    assert activations.get("swish").name == "silu"   # saved by Keras's name for it


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", HEADS)
def test_activation_at_plus_minus_1e4_is_finite_and_its_limit(name, dtype):
    z = np.array([[-1e4, 1e4, 0.0]], dtype)
    y, dz = ours_value_and_gradient(name, z, np.ones_like(z))
    assert np.isfinite(y).all() and np.isfinite(dz).all()
    limits = {   # f(-1e4), f(1e4), f(0) and f'(-1e4), f'(1e4), f'(0); softmax: the row [0, 1, 0]
        "softmax": ([0, 1, 0], [0, 0, 0]),                 # the backward of r = 1 is y (1 - sum y) = 0
        "leaky_relu": ([-2000, 1e4, 0], [0.2, 1, 0.2]),
        "elu": ([-1, 1e4, 0], [0, 1, 1]),
        "gelu": ([0, 1e4, 0], [0, 1, 0.5]),
        "softplus": ([0, 1e4, np.log(2)], [0, 1, 0.5]),
        "silu": ([0, 1e4, 0], [0, 1, 0.5]),
    }[name]
    np.testing.assert_allclose(y[0], limits[0], rtol=1e-7, atol=0)
    np.testing.assert_allclose(dz[0], limits[1], rtol=1e-7, atol=0)


@pytest.mark.parametrize("name", HEADS)
def test_activation_backward_matches_finite_differences(name):
    z = np.random.default_rng(2).uniform(-4, 4, size=(6, 5))
    z[np.abs(z) < 0.05] = 0.5    # leaky_relu and elu have a kink at 0
    gradcheck.check_activation(name, z).assert_passed(1e-6)


def test_softmax_rows_sum_to_one_and_shift_invariance_for_huge_logits():
    z = np.array([[1e4, 1e4 - 1.0, -1e4], [3.0, 2.0, 1.0]], np.float32)
    y = activations.softmax(z)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=2e-7)
    np.testing.assert_array_equal(y[0], activations.softmax(np.array([[1.0, 0.0, -2e4]], np.float32))[0])


def test_leaky_relu_and_elu_parameters_are_checked():
    with pytest.raises(ValueError, match="negative_slope"):
        activations.LeakyReLU(negative_slope=-0.1)
    with pytest.raises(ValueError, match="alpha"):
        activations.ELU(alpha=0.0)
    with pytest.raises(TypeError, match="approximate"):
        activations.GELU(approximate=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_approximate_gelu_and_non_default_slopes_equal_tensorflow(keras, dtype):
    import tensorflow as tf
    z = inputs(dtype)
    np.testing.assert_array_equal(activations.LeakyReLU(0.3)(z), tf.nn.leaky_relu(z, alpha=0.3).numpy())
    assert_ulps(activations.ELU(alpha=0.5)(z), keras.activations.elu(z, alpha=0.5).numpy(), 1)   # measured 0.25
    # tanh-gelu: 1 + tanh(u) cancels for z << 0, so tanh's last bit costs |z| / 2 eps per side (|z| <= 6 where
    # the result is not yet 0): 6. Its derivative's 1 - tanh(u)^2 cancels likewise, times z u' / 2 <= 20 at
    # z = 7: up to 40 eps per side, 80. Measured: 3.7 / 4.3 (forward), 32 / 61 (backward).
    assert_ulps(activations.GELU(approximate=True)(z), tf.nn.gelu(z, approximate=True).numpy(), 6)
    variable = tf.Variable(z)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(tf.nn.gelu(variable, approximate=True))
    gelu = activations.GELU(approximate=True)
    assert_ulps(gelu.backward(gelu(z), np.ones_like(z), np.empty_like(z), z=z), tape.gradient(total, variable).numpy(),
                80)


def test_needs_input_marks_exactly_the_activations_whose_derivative_needs_z():
    assert {a.name for a in (activations.get(n) for n in HEADS) if a.needs_input} == {"gelu", "silu"}


@pytest.mark.parametrize("name", HEADS)
def test_activation_forward_may_write_over_its_input(name):
    """A layer may pass out=z (Dense does, keeping its own copy of z for gelu and silu)."""
    z = inputs(np.float64)
    expected = activations.get(name)(z)
    in_place = z.copy()
    assert activations.get(name).forward(in_place, out=in_place) is in_place
    np.testing.assert_array_equal(in_place, expected)


# == Activation functions on plain arrays ============================================================

def test_activation_functions_are_usable_on_arrays():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(activations.relu(x), [0, 0, 3])
    np.testing.assert_allclose(activations.sigmoid(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(activations.tanh(x), np.tanh(x))
    np.testing.assert_array_equal(activations.linear(x), x)
    assert activations.get(None) is activations.linear and activations.get("relu") is activations.relu


class LeakyFromReLU(activations.ReLU):
    """A subclass that rewrites ReLU's forward and backward and inherits its ``forward_calls``/``backward_calls``."""

    def forward(self, z, out):
        return np.maximum(z, 0.1 * z, out=out)

    def backward(self, y, dy, out, z=None):
        return np.multiply(dy, np.where(y > 0, 1.0, 0.1), out=out)


def test_a_dense_layer_runs_an_activation_subclass_s_own_forward_and_backward():
    from npnet.layers import Dense
    rng = np.random.default_rng(0)
    layer = Dense(3, activation=LeakyFromReLU())
    layer.build(4, np.float64)
    x, dy = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    z = x @ layer.kernel + layer.bias
    # float64: 4- and 6-term sums, each within a few u = 1.1e-16 of Σ|terms| (values of order 1): atol 1e-12
    np.testing.assert_allclose(layer.forward(x), np.maximum(z, 0.1 * z), atol=1e-12)
    layer.backward(dy)
    np.testing.assert_allclose(layer.db, (dy * np.where(z > 0, 1.0, 0.1)).sum(axis=0), atol=1e-12)


class TanhIgnoringOut(activations.Activation):
    """Returns new arrays instead of writing into ``out``: against the contract, but it worked before the
    compiled step, so a Dense layer copies the result rather than silently keep z."""

    def forward(self, z, out):
        return np.tanh(z)

    def backward(self, y, dy, out, z=None):
        return dy * (1 - y * y)


def test_a_dense_layer_uses_what_an_activation_returns_even_when_it_ignores_out():
    from npnet.layers import Dense
    rng = np.random.default_rng(1)
    layer = Dense(3, activation=TanhIgnoringOut())
    layer.build(4, np.float64)
    x, dy = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    y = np.tanh(x @ layer.kernel + layer.bias)
    # float64: 4- and 6-term sums, each within a few u = 1.1e-16 of Σ|terms| (values of order 1): atol 1e-12
    np.testing.assert_allclose(layer.forward(x), y, atol=1e-12)
    layer.backward(dy)
    np.testing.assert_allclose(layer.db, (dy * (1 - y * y)).sum(axis=0), atol=1e-12)
