"""The contract every registered regularizer keeps: parametrized over the names ``regularizers.get`` takes.

Penalty and gradient against the Keras regularizer of the same class and config
in float32 and float64, within a bound derived from rounding; the gradient
against finite differences in float64, added to ``out`` as the protocol says;
the config through JSON; names meaning what Keras means; bad input refused.

npnet.regularizers has no public ``names()`` yet, so the registry dict is read here.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from float_rounding import agreement_bound, assert_within, gamma
from npnet import gradcheck, regularizers

NAMES = sorted(regularizers._STRINGS)


def weights(dtype) -> np.ndarray:
    """w (5, 4): normal draws, none near 0 (l1's kink)."""
    w = np.random.default_rng(0).standard_normal((5, 4))
    return (np.sign(w) * np.maximum(np.abs(w), 0.05)).astype(dtype)


def keras_twin(keras, regularizer: regularizers.Regularizer):
    return getattr(keras.regularizers, type(regularizer).__name__)(**regularizer.get_config())


def gradient(regularizer: regularizers.Regularizer, w: np.ndarray) -> np.ndarray:
    return regularizer.gradient(w, np.zeros_like(w))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_penalty_and_gradient_match_keras(keras, name, dtype):
    import tensorflow as tf

    regularizer, w = regularizers.get(name), weights(dtype)
    variable = tf.Variable(w)
    with tf.GradientTape() as tape:
        theirs = keras_twin(keras, regularizer)(variable)
    keras_gradient = tape.gradient(theirs, variable)
    # None: the penalty does not depend on w (L1L2 with both factors 0), a zero gradient
    keras_gradient = np.zeros_like(w) if keras_gradient is None else np.asarray(keras_gradient)
    penalty = regularizer(w)
    # The penalty is factor * a sum of n terms >= 0 (|w| or w^2), so the penalty itself is the
    # sum of its terms' magnitudes: each sum within gamma_n of it, each term and the factor's
    # product within agreement_bound's 8u per side. The gradient is one or two products per entry.
    exact = regularizers.get(name)(w.astype(np.float64))
    bound = 2 * gamma(w.size, dtype) * exact + agreement_bound(np.float64(exact), dtype)
    assert_within(penalty, float(theirs), bound, f"{name} penalty in {np.dtype(dtype).name}")
    ours = gradient(regularizer, w)
    assert ours.dtype == dtype
    assert_within(ours, keras_gradient, agreement_bound(np.abs(gradient(regularizer, w.astype(np.float64))), dtype),
                  f"{name} gradient in {np.dtype(dtype).name}")


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_finite_differences_and_is_added_to_out(name):
    regularizer, w = regularizers.get(name), weights(np.float64)
    analytic = gradient(regularizer, w)
    numerical = gradcheck.numerical_gradient(lambda: regularizer.penalty(w), w)
    noise = gradcheck.rounding_noise(regularizer.penalty(w), 1e-6)   # the terms are >= 0
    gradcheck.GradcheckReport([gradcheck.compare(name, analytic, numerical, noise)]).assert_passed(1e-6)
    out = np.ones_like(w)
    assert regularizer.gradient(w, out) is out
    np.testing.assert_array_equal(out, 1 + analytic)


@pytest.mark.parametrize("name", NAMES)
def test_the_config_round_trips_through_json(name):
    regularizer = regularizers.get(name)
    data = json.loads(json.dumps(regularizers.serialize(regularizer)))
    rebuilt = regularizers.from_config(data)
    assert type(rebuilt) is type(regularizer) and rebuilt.get_config() == regularizer.get_config()
    assert regularizers.get(data).get_config() == regularizer.get_config()


@pytest.mark.parametrize("name", NAMES)
def test_names_mean_what_keras_means_or_are_documented_extensions(keras, name):
    from keras.src.regularizers import ALL_OBJECTS_DICT   # the table keras.regularizers.get reads

    if name in ALL_OBJECTS_DICT:
        assert type(regularizers.get(name)).__name__ == ALL_OBJECTS_DICT[name].__name__
        assert regularizers.get(name).get_config() == keras.regularizers.get(name).get_config()
    else:
        assert f'"{name}"' in regularizers.get.__doc__, f"{name!r} is not Keras's, and get's docstring does not say so"


@pytest.mark.parametrize("name", NAMES)
def test_input_that_is_not_finite_real_numbers_is_refused_naming_w(name):
    regularizer = regularizers.get(name)
    for bad, error in (([["a"]], TypeError), (np.array([[0.5, np.nan]]), ValueError),
                       (np.array([[np.inf]]), ValueError)):
        with pytest.raises(error, match="w"):
            regularizer(bad)
