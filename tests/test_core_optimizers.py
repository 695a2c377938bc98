"""Adam and SGD against values computed by hand (plain Python floats), step by step.

The hand computations use float64 scalars and follow API.md's Keras 3 rules,
with lr, momentum, beta_1 and beta_2 rounded to float32 as Keras does in
every dtype (npnet.optimizers.keras_rounded explains why); npnet runs in float64 here,
so agreement is to rounding (measured: <= 2e-16 relative; tolerance 1e-13). An epsilon of 0.1 makes Keras's placement and the
paper's differ by ~10% per step, so a paper-form Adam would fail these tests.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from npnet.optimizers import SGD, Adam, get

GRADIENTS = [[0.5, -1.0, 2.0], [0.25, 0.0, -3.0], [-0.75, 1.5, 0.125]]   # three steps, three weights
START = [1.0, -2.0, 0.5]


def _run(optimizer, dtype=np.float64):
    w = np.array(START, dtype=dtype)
    trajectory = []
    for g in GRADIENTS:
        optimizer.apply_gradients([(np.array(g, dtype=dtype), w)])
        trajectory.append(w.copy())
    return trajectory


def f32(value):
    """``value`` rounded to float32, as Keras rounds Adam's lr and betas."""
    return float(np.float32(value))


def _adam_by_hand(lr, beta_1, beta_2, epsilon):
    w, m, v, out = list(START), [0.0] * 3, [0.0] * 3, []
    for t, g in enumerate(GRADIENTS, start=1):
        alpha = f32(lr) * math.sqrt(1 - f32(beta_2) ** t) / (1 - f32(beta_1) ** t)
        for i in range(3):
            m[i] += (g[i] - m[i]) * (1 - beta_1)
            v[i] += (g[i] * g[i] - v[i]) * (1 - beta_2)
            w[i] -= alpha * m[i] / (math.sqrt(v[i]) + epsilon)
        out.append(list(w))
    return out


@pytest.mark.parametrize("lr, beta_1, beta_2, epsilon", [(0.001, 0.9, 0.999, 1e-7), (0.1, 0.5, 0.9, 0.1)])
def test_adam_follows_the_keras3_rule_for_three_steps(lr, beta_1, beta_2, epsilon):
    adam = Adam(learning_rate=lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    for got, expected in zip(_run(adam), _adam_by_hand(lr, beta_1, beta_2, epsilon)):
        np.testing.assert_allclose(got, expected, rtol=1e-13)
    assert adam.iterations == 3


def test_adam_with_large_epsilon_is_not_the_paper_form():
    """The paper divides the bias-corrected m_hat by sqrt(v_hat) + eps: a different first step."""
    g, lr, eps = 0.5, 0.1, 0.1
    alpha = f32(lr) * math.sqrt(1 - f32(0.999)) / (1 - f32(0.9))
    keras_form = START[0] - alpha * (0.1 * g) / (math.sqrt(0.001 * g * g) + eps)
    paper_form = START[0] - lr * g / (abs(g) + eps)
    w = np.array(START[:1])
    Adam(learning_rate=lr, epsilon=eps).apply_gradients([(np.array([g]), w)])
    assert w[0] == pytest.approx(keras_form, rel=1e-13)
    assert abs(w[0] - paper_form) > 0.05


def test_adam_first_step_is_lr_times_sign_softened_by_epsilon_hat():
    """Step 1: m = 0.1 g, v = 0.001 g^2, alpha ~ lr sqrt(0.001) / 0.1, so w -= lr g / (|g| + eps / sqrt(0.001)).

    "~": alpha uses float32-rounded lr and betas (a relative 6.6e-6; tolerance 1e-5).
    """
    g = np.array([3.0, -0.01, 1e-3, 0.0])
    w = np.zeros(4)
    Adam().apply_gradients([(g, w)])
    np.testing.assert_allclose(w, -0.001 * g / (np.abs(g) + 1e-7 / math.sqrt(0.001)), rtol=1e-5)


def test_adam_in_float32_stays_float32_and_close_to_float64():
    w32 = _run(Adam(learning_rate=0.01), np.float32)
    w64 = _run(Adam(learning_rate=0.01), np.float64)
    assert all(w.dtype == np.float32 for w in w32)
    np.testing.assert_allclose(w32[-1], w64[-1], rtol=1e-6)   # measured 1.6e-7 relative


def test_plain_sgd_is_w_minus_lr_g():
    expected, w = [], list(START)
    for g in GRADIENTS:
        w = [wi - gi * f32(0.1) for wi, gi in zip(w, g)]
        expected.append(w)
    for got, want in zip(_run(SGD(learning_rate=0.1)), expected):
        np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_follows_keras(nesterov):
    lr, mu = f32(0.1), f32(0.9)
    w, velocity, expected = list(START), [0.0] * 3, []
    for g in GRADIENTS:
        for i in range(3):
            velocity[i] = mu * velocity[i] - lr * g[i]
            w[i] += mu * velocity[i] - lr * g[i] if nesterov else velocity[i]
        expected.append(list(w))
    for got, want in zip(_run(SGD(learning_rate=lr, momentum=mu, nesterov=nesterov)), expected):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_apply_gradients_updates_several_arrays_in_place():
    kernel, bias = np.ones((2, 2)), np.zeros(2)
    kernel_id = id(kernel)
    SGD(learning_rate=0.5).apply_gradients(zip([np.full((2, 2), 2.0), np.array([1.0, -1.0])], [kernel, bias]))
    assert id(kernel) == kernel_id
    np.testing.assert_array_equal(kernel, np.zeros((2, 2)))
    np.testing.assert_array_equal(bias, [-0.5, 0.5])


def test_optimizers_by_name_and_config_round_trip():
    assert isinstance(get("adam"), Adam) and isinstance(get("SGD"), SGD)
    adam = Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-5)
    no_clipping = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None}
    assert adam.get_config() == {"name": "adam", "learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99,
                                 "epsilon": 1e-5, "amsgrad": False, **no_clipping}
    assert SGD(momentum=0.5, nesterov=True).get_config() == {"name": "sgd", "learning_rate": 0.01,
                                                             "momentum": 0.5, "nesterov": True, **no_clipping}
