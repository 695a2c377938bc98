"""npnet.calls: a computation as a list of bound calls, run in order."""
from __future__ import annotations

from functools import partial

import numpy as np

from npnet.calls import run


def test_run_makes_the_calls_in_order_on_the_arrays_they_were_bound_to():
    a, b = np.array([1.0, 2.0]), np.empty(2)
    calls = [partial(np.multiply, a, 3.0, b), partial(np.add, b, 1.0, b), partial(np.negative, b, a)]
    run(calls)
    np.testing.assert_array_equal(b, [4.0, 7.0])
    np.testing.assert_array_equal(a, [-4.0, -7.0])
    run(calls)   # bound to the arrays, not to the numbers they held: the second run reads a's new values
    np.testing.assert_array_equal(a, [11.0, 20.0])
