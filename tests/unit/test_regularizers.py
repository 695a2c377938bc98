"""Regularizers L1, L2, L1L2: Keras's penalties, their gradients, names and configs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from npnet import gradcheck, regularizers

import float_rounding
from npnet.regularizers import L1, L1L2, L2

REGULARIZERS = [L1(), L2(), L1L2(l1=0.02, l2=0.005), L1(0.3), L2(1.5), L1L2(l2=0.1), L1L2(l1=0.1), L1L2()]


def weights(dtype, rng, shape=(40, 25)):
    w = rng.normal(size=shape).astype(dtype)
    w.flat[::7] = 0.0        # exact zeros, where L1's derivative is taken as 0
    return w


def summation_tolerance(n: int, dtype) -> float:
    """Relative difference allowed between two sums of n non-negative terms in different orders.

    A sum of n terms in any order is within gamma_n = n u / (1 - n u) of the
    exact sum (tests/float_rounding.py; the terms are >= 0, so relative to the
    sum itself), plus one rounding u for the product with the factor and one
    for L1L2's addition of its two penalties: each side within gamma_n + 3u of
    the exact penalty, so the two within twice that.
    """
    u = np.finfo(dtype).eps / 2
    return 2 * (float_rounding.gamma(n, dtype) + 3 * u)


@pytest.mark.parametrize("regularizer", REGULARIZERS, ids=repr)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_penalty_and_gradient_match_kerass(regularizer, dtype, keras, rng):
    import tensorflow as tf
    w = weights(dtype, rng)
    theirs = keras.regularizers.get(regularizers.serialize(regularizer))
    assert theirs.get_config() == regularizer.get_config()
    variable = tf.Variable(w)
    with tf.GradientTape() as tape:
        penalty = theirs(variable)
    gradient = tape.gradient(penalty, variable)
    ours = regularizer.penalty(w)
    assert abs(ours - float(penalty)) <= summation_tolerance(w.size, dtype) * abs(float(penalty))
    # Each gradient entry is one correctly rounded product on both sides (l1 * sign(w), l2 * (2 w)), and
    # L1L2's two terms are added in the same order: bit-equal.
    out = np.zeros_like(w)
    assert regularizer.gradient(w, out) is out
    expected = np.zeros_like(w) if gradient is None else gradient.numpy()
    np.testing.assert_array_equal(out, expected)


def test_l1_gradient_at_zero_is_zero_as_tensorflow_takes_it(keras):
    import tensorflow as tf
    w = np.array([-2.0, 0.0, 3.0])
    variable = tf.Variable(w)
    with tf.GradientTape() as tape:
        penalty = keras.regularizers.L1(0.5)(variable)
    assert tape.gradient(penalty, variable).numpy().tolist() == [-0.5, 0.0, 0.5]
    assert L1(0.5).gradient(w, np.zeros(3)).tolist() == [-0.5, 0.0, 0.5]


@pytest.mark.parametrize("regularizer", REGULARIZERS, ids=repr)
def test_gradient_matches_finite_differences_away_from_zero(regularizer, rng):
    w = rng.normal(size=(6, 4))
    w[np.abs(w) < 1e-3] = 0.5    # |w| > eps: L1's kink stays outside every difference
    numerical = gradcheck.numerical_gradient(lambda: regularizer.penalty(w), w)
    analytic = regularizer.gradient(w, np.zeros_like(w))
    # The penalty's terms are all >= 0, so the penalty is the size of the function the differences see.
    noise = gradcheck.rounding_noise(regularizer.penalty(w), 1e-6)
    gradcheck.GradcheckReport([gradcheck.compare("w", analytic, numerical, noise)]).assert_passed(1e-5)


def test_gradient_adds_into_the_array_it_is_given(rng):
    w, data_gradient = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    out = data_gradient.copy()
    L2(0.25).gradient(w, out)
    np.testing.assert_array_equal(out, data_gradient + 0.25 * (2 * w))


@pytest.mark.parametrize("regularizer", [L1(0.01), L2(0.01), L1L2(l1=0.01, l2=0.01)], ids=repr)
def test_factors_are_rounded_to_float32_even_for_float64_weights_as_keras(regularizer, keras):
    # tf.cast(0.01, float64) goes through a float32 tensor: Keras's float64 penalty uses float32(0.01).
    w = np.ones(3)
    expected = 3 * float(np.float32(0.01)) * len(regularizer.get_config())
    assert regularizer.penalty(w) == expected == float(keras.regularizers.get(regularizers.serialize(regularizer))(w))
    # ... while only L1 also stores its factor rounded, as its Keras config shows.
    assert L1(0.01).l1 == float(np.float32(0.01)) == keras.regularizers.L1(0.01).get_config()["l1"]
    assert L2(0.01).l2 == 0.01 and L1L2(l1=0.01).l1 == 0.01


@pytest.mark.parametrize("name, cls, config", [
    ("l1", L1, {"l1": float(np.float32(0.01))}), ("L1", L1, {"l1": float(np.float32(0.01))}),
    ("l2", L2, {"l2": 0.01}), ("L2", L2, {"l2": 0.01}),
    ("l1_l2", L1L2, {"l1": 0.01, "l2": 0.01}),            # Keras's documented string; tf.keras 2's l1_l2()
    ("l1l2", L1L2, {"l1": 0.0, "l2": 0.0}), ("L1L2", L1L2, {"l1": 0.0, "l2": 0.0})])
def test_names_resolve_with_kerass_defaults(name, cls, config, keras):
    regularizer = regularizers.get(name)
    assert type(regularizer) is cls and regularizer.get_config() == config
    if name != "l1_l2":        # Keras 3.15's get() refuses "l1_l2" (its snake_case name is "l1l2")
        assert keras.regularizers.get(name).get_config() == config


@pytest.mark.parametrize("regularizer", REGULARIZERS, ids=repr)
def test_config_round_trips(regularizer):
    data = json.loads(json.dumps(regularizers.serialize(regularizer)))
    again = regularizers.get(data)
    assert type(again) is type(regularizer) and again.get_config() == regularizer.get_config()
    assert regularizers.from_config(data).get_config() == type(regularizer).from_config(regularizer.get_config()).get_config()


def test_calling_a_regularizer_converts_lists_as_tensorflow():
    assert L2(0.5)([1, 2]) == float(np.float32(0.5) * np.float32(5)) and L1(0.5)(np.array([-1.0, 2.0])) == 1.5
    with pytest.raises(TypeError, match="w must hold real numbers"):
        L2()(["a"])


def test_none_and_instances_pass_through():
    l2 = L2()
    assert regularizers.get(None) is None and regularizers.serialize(None) is None and regularizers.get(l2) is l2


@pytest.mark.parametrize("make, error, message", [
    (lambda: L1(-0.1), ValueError, r"l1 must be in"),
    (lambda: L2(float("nan")), ValueError, r"l2 must be in"),
    (lambda: L1L2(l2=float("inf")), ValueError, r"l2 must be in"),
    (lambda: L2("0.1"), TypeError, r"l2 must be a real number"),
    (lambda: L1L2(l1=True), TypeError, r"l1 must be a real number"),
    (lambda: regularizers.get("l3"), ValueError, r"unknown regularizer 'l3'"),
    (lambda: regularizers.get(0.1), TypeError, r"regularizer must be None, a name"),
    (lambda: regularizers.get({"class_name": "L2"}), ValueError, r"a serialized regularizer is"),
    (lambda: regularizers.get({"class_name": "L3", "config": {}}), ValueError, r"unknown regularizer 'L3'"),
    (lambda: regularizers.get({"class_name": "L2", "config": {"l1": 0.1}}), TypeError, r"l1"),
])
def test_nonsense_arguments_are_refused_naming_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
@pytest.mark.parametrize("regularizer", [L1(0.3), L2(0.2), L1L2(0.1, 0.2)], ids=repr)
def test_dense_penalties_and_their_gradients_match_finite_differences(activation, regularizer, rng):
    from npnet.layers import Dense
    layer = Dense(4, activation=activation, kernel_regularizer=regularizer, bias_regularizer=regularizer,
                  activity_regularizer=regularizer)
    layer.build(5, np.float64)
    layer.set_weights([rng.normal(size=(5, 4)), rng.normal(size=4)])
    x = rng.normal(size=(6, 5))
    while np.abs(x @ layer.kernel + layer.bias).min() < 1e-3:   # keep relu's and |y|'s kinks out of the differences
        x = rng.normal(size=(6, 5))
    gradcheck.check_layer(layer, x).assert_passed(1e-5)


@pytest.mark.parametrize("activity", [None, L2(0.05), L1(0.05)], ids=repr)
def test_a_sigmoid_output_trained_from_its_logits_carries_its_activity_penalty_to_the_logits(activity, float64, rng):
    # The loss reads the output layer's logits; Keras's activity penalty reads its sigmoid output.
    import npnet
    from npnet.layers import Dense
    npnet.utils.set_random_seed(2)
    model = npnet.Sequential([npnet.Input(shape=(4,)), Dense(5, activation="tanh", kernel_regularizer=L2(0.1)),
                              Dense(3, activation="sigmoid", activity_regularizer=activity, bias_regularizer=L1(0.1))])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    assert model.training_loss()[1]      # fused: the output layer stops at its logits
    report = gradcheck.check_model(model, rng.normal(size=(7, 4)), (rng.random((7, 3)) > 0.5).astype(float))
    report.assert_passed(1e-5)
