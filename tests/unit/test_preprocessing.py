"""npnet.preprocessing.Standardization: fitted statistics, constant features, and what a model file may hold."""
from __future__ import annotations

import numpy as np
import pytest

from npnet.preprocessing import Standardization


def test_fit_gives_each_columns_mean_and_population_standard_deviation(rng):
    x = rng.normal(loc=[5.0, -300.0, 0.0], scale=[0.1, 40.0, 1.0], size=(200, 3))
    standardization = Standardization.fit(x)
    np.testing.assert_array_equal(standardization.mean, x.mean(axis=0))
    np.testing.assert_array_equal(standardization.scale, x.std(axis=0))
    z = standardization.apply(x)
    # Each column's mean is a sum of 200 values of size ~3 rounded at float64 eps: well under 1e-12.
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-12)


def test_a_constant_feature_gets_scale_one_even_when_its_variance_is_rounding_noise():
    x = np.column_stack([np.full(7, 0.1), np.arange(7.0)])
    assert x[:, 0].var() > 0   # 0.1 is inexact: NumPy's variance of seven of them is 1.9e-34, not 0
    standardization = Standardization.fit(x)
    assert standardization.scale[0] == 1.0 and standardization.scale[1] == np.arange(7.0).std()
    np.testing.assert_allclose(standardization.apply(x)[:, 0], 0.0, atol=1e-16)


@pytest.mark.parametrize("x", [np.ones(3), np.ones((0, 2))])
def test_fit_refuses_data_that_is_not_a_non_empty_table(x):
    with pytest.raises(ValueError, match="non-empty 2-D array"):
        Standardization.fit(x)


def test_apply_refuses_another_number_of_features():
    with pytest.raises(ValueError, match="must have 2 feature columns"):
        Standardization(np.zeros(2), np.ones(2)).apply(np.ones((3, 3)))


def test_arrays_round_trip_and_a_file_without_them_has_none():
    standardization = Standardization(np.array([1.0, 2.0]), np.array([0.5, 3.0]))
    back = Standardization.from_arrays(standardization.to_arrays(), 2, "m.npz")
    np.testing.assert_array_equal(back.mean, standardization.mean)
    np.testing.assert_array_equal(back.scale, standardization.scale)
    assert Standardization.from_arrays({}, 2, "m.npz") is None


@pytest.mark.parametrize("arrays, message", [
    ({"feature_mean": np.zeros(2)}, "'feature_scale' must be 2 finite float64"),
    ({"feature_mean": np.zeros(3), "feature_scale": np.ones(3)}, "'feature_mean' must be 2 finite float64"),
    ({"feature_mean": np.zeros(2, np.float32), "feature_scale": np.ones(2)}, "'feature_mean' must be 2"),
    ({"feature_mean": np.zeros(2), "feature_scale": np.array([1.0, np.nan])}, "'feature_scale' must be 2"),
    ({"feature_mean": np.zeros(2), "feature_scale": np.array([1.0, 0.0])}, "'feature_scale' must be positive"),
])
def test_a_model_files_standardization_is_checked_before_use(arrays, message):
    with pytest.raises(ValueError, match=f"m.npz: {message}"):
        Standardization.from_arrays(arrays, 2, "m.npz")
