"""npnet.calls: a computation as a list of bound calls, run in order."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from npnet.calls import run


def test_run_makes_the_calls_in_order_on_the_arrays_they_were_bound_to():
    a, b = np.array([1.0, 2.0]), np.empty(2)
    calls = [partial(np.multiply, a, 3.0, b), partial(np.add, b, 1.0, b), partial(np.negative, b, a)]
    run(calls)
    np.testing.assert_array_equal(b, [4.0, 7.0])
    np.testing.assert_array_equal(a, [-4.0, -7.0])
    run(calls)   # bound to the arrays, not to the numbers they held: the second run reads a's new values
    np.testing.assert_array_equal(a, [11.0, 20.0])


def test_maximum_is_np_maximum_with_out_positional():
    from npnet.calls import maximum
    a, b, out = np.array([-1.0, 2.0, np.nan]), np.zeros(3), np.empty(3)
    assert maximum(a, b, out) is out
    np.testing.assert_array_equal(out, np.maximum(a, b))   # NaN propagates, as np.maximum's


@pytest.mark.parametrize("values, expected", [
    ([1.0, -2.0, 3.5], True),
    ([1.0, np.nan], False),
    ([np.inf, -np.inf], False),            # the sum is NaN
    ([-np.inf, 1.0], False),
    ([3e38, 3e38], True),                  # finite entries whose float32 sum overflows: checked one by one
    ([3e38, 3e38, np.inf], False),
])
def test_all_finite_agrees_with_isfinite_all_without_warnings(values, expected):
    import warnings

    from npnet._validation import all_finite
    array = np.array(values, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no overflow or invalid-value warning from the sum
        assert all_finite(array) is expected is bool(np.isfinite(array).all())
