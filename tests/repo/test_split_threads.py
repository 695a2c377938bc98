"""benchmarks.split_threads: a split elementwise call writes the plain call's bits, and one thread means no pool."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from benchmarks import split_threads as parallel


@pytest.fixture
def split_always(monkeypatch):
    """Three threads and no size threshold, so that every call below is really split; restored afterwards."""
    monkeypatch.setattr(parallel, "SPLIT_THRESHOLD", 0)
    parallel.set_threads(3)
    yield
    parallel.set_threads(None)


def _operands(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    # values spanning many binades and both signs, plus exact zeros (ReLU's and the masks' edge)
    a = (rng.standard_normal(shape) * 10.0 ** rng.integers(-20, 20, shape)).astype(dtype)
    b = rng.standard_normal(shape).astype(dtype)
    a.flat[::5] = 0
    return a, b


UFUNCS = [(np.add, 2), (np.subtract, 2), (np.multiply, 2), (np.divide, 2), (np.maximum, 2), (np.square, 1),
          (np.sqrt, 1), (np.exp, 1), (np.log, 1), (np.negative, 1), (np.reciprocal, 1), (np.abs, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (2,), (3,), (7,), (1001,), (218_517,), (5, 3), (1023, 513), (2, 1001)])
@pytest.mark.parametrize("ufunc, arity", UFUNCS, ids=[u.__name__ for u, _ in UFUNCS])
def test_split_call_is_bit_identical(split_always, ufunc, arity, shape, dtype):
    a, b = _operands(shape, dtype)
    inputs = (np.abs(a), b)[:arity] if ufunc in (np.sqrt, np.log) else (a, b)[:arity]
    with np.errstate(all="ignore"):   # overflow, log(0), 1/0: the same specials either way
        expected = ufunc(*inputs)
        got = parallel.elementwise(ufunc, *inputs, out=np.empty_like(expected))
    np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))   # bits, NaNs included


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_may_be_an_input(split_always, dtype):
    a, b = _operands((1023, 513), dtype)
    expected = np.multiply(a, b)
    assert parallel.elementwise(np.multiply, a, b, out=a) is a
    np.testing.assert_array_equal(a, expected)


def test_an_input_overlapping_out_shifted_gets_the_plain_call(split_always):
    a = np.arange(10_001, dtype=np.float32)
    expected = np.add(a[:-1], 1.0)
    parallel.elementwise(np.add, a[:-1], np.float32(1.0), out=a[1:])   # NumPy buffers this overlap
    np.testing.assert_array_equal(a[1:], expected)


def test_broadcast_operands_pass_whole(split_always):
    """Adam's stacked moments: (2, P) times a (2, 1) column; ReLU: (N, O) against an (O,) row; a scalar."""
    moments, _ = _operands((2, 20_001), np.float32)
    betas = np.array([[0.1], [0.001]], np.float32)
    np.testing.assert_array_equal(parallel.elementwise(np.multiply, moments, betas, out=np.empty_like(moments)),
                                  moments * betas)
    h, _ = _operands((1023, 257), np.float32)
    row = np.linspace(-1, 1, 257, dtype=np.float32)
    np.testing.assert_array_equal(parallel.elementwise(np.maximum, h, row, out=np.empty_like(h)),
                                  np.maximum(h, row))
    np.testing.assert_array_equal(parallel.elementwise(np.multiply, h, np.float32(0.5), out=np.empty_like(h)),
                                  h * np.float32(0.5))


def test_comparison_into_booleans(split_always):
    h, _ = _operands((1023, 513), np.float32)
    zeros = np.zeros_like(h)
    got = parallel.elementwise(np.greater, h, zeros, out=np.empty(h.shape, bool))
    np.testing.assert_array_equal(got, h > 0)


def test_large_calls_are_split_into_contiguous_row_blocks(split_always, monkeypatch):
    seen = []
    monkeypatch.setattr(parallel._Pool, "run", lambda self, calls: seen.extend(calls))
    out = np.empty((10, 4), np.float32)
    parallel.elementwise(np.add, np.ones((10, 4), np.float32), np.float32(1), out=out)
    assert [call[2].base is out for call in seen] == [True] * 3
    assert [len(call[2]) for call in seen] == [3, 3, 4]
    assert all(call[2].flags.c_contiguous for call in seen)


def test_one_thread_is_the_plain_call_without_a_pool(monkeypatch):
    monkeypatch.setattr(parallel, "SPLIT_THRESHOLD", 0)
    parallel.set_threads(1)
    try:
        monkeypatch.setattr(parallel, "_get_pool", lambda n: pytest.fail("a pool was made with one thread"))
        a = np.arange(5000, dtype=np.float32)
        np.testing.assert_array_equal(parallel.elementwise(np.sqrt, a, out=np.empty_like(a)), np.sqrt(a))
    finally:
        parallel.set_threads(None)


def test_small_calls_are_plain(monkeypatch):
    parallel.set_threads(2)
    try:
        monkeypatch.setattr(parallel, "_get_pool", lambda n: pytest.fail("a call below the threshold was split"))
        a = np.ones(parallel.SPLIT_THRESHOLD - 1, np.float32)
        parallel.elementwise(np.add, a, a, out=a)
    finally:
        parallel.set_threads(None)


@pytest.mark.parametrize("variable", ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"])
def test_a_blas_thread_limit_in_the_environment_caps_the_threads(monkeypatch, variable):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "1")
    parallel.set_threads(None)
    assert parallel.threads() == 1
    monkeypatch.delenv(variable)
    parallel.set_threads(None)
    assert parallel.threads() == len(os.sched_getaffinity(0))


def test_a_worker_error_reaches_the_caller(split_always):
    out = np.empty(9, np.int64)
    with pytest.raises(TypeError):   # NumPy refuses the float -> int cast in every block
        parallel.elementwise(np.add, np.ones(9), np.ones(9), out=out)
    a = np.ones(9)
    np.testing.assert_array_equal(parallel.elementwise(np.add, a, a, out=np.empty(9)), 2 * a)   # pool still works


def test_workers_follow_the_callers_error_state(split_always):
    zeros = np.ones(30_000, np.float32)
    zeros[-1] = 0   # in the last block only: a worker's, not the caller's
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        parallel.elementwise(np.reciprocal, zeros, out=np.empty_like(zeros))
    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel.elementwise(np.reciprocal, zeros, out=np.empty_like(zeros))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_threads_refuses_nonsense(bad):
    with pytest.raises(ValueError, match="n must be"):
        parallel.set_threads(bad)


def test_elementwise_refuses_reductions_and_non_arrays():
    with pytest.raises(TypeError, match="ufunc"):
        parallel.elementwise(np.add.reduce, np.ones(3), out=np.empty(()))
    with pytest.raises(TypeError, match="ufunc"):
        parallel.elementwise(np.divmod, np.ones(3), np.ones(3), out=np.empty(3))
    with pytest.raises(TypeError, match="out"):
        parallel.elementwise(np.add, np.ones(3), np.ones(3), out=[0.0, 0.0, 0.0])
