"""benchmarks.data_parallel: the step split across threads computes the plain step's arithmetic, its threads
what its phases compute one after the other, and its blocks tile the batch and the parameters."""
from __future__ import annotations

import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import float_rounding
from benchmarks import compute_bound_ops, data_parallel
from benchmarks.compute_bound_ops import BATCH, make_state

ROWS = 4 * BATCH   # two epochs of 4 steps each


def test_the_plain_epoch_is_compute_bound_ops_epoch():
    """Bit for bit: the same calls on arrays of the same shapes (the variants take_batch and boolmul), one
    BLAS thread. What the split is timed against is the arithmetic compute_bound_ops times."""
    with threadpool_limits(1, user_api="blas"):
        ours, theirs = make_state(0, "stacked"), make_state(0, "stacked")
        data_parallel.epoch(ours, 1)
        clock = compute_bound_ops.Clock(False, set())
        compute_bound_ops.epoch(theirs, clock, adam="stacked", mask="bool", shuffle="batch")
    assert np.max(np.abs(ours["values"] - make_state(0, "stacked")["values"])) > 1e-3   # it trained
    np.testing.assert_array_equal(ours["values"], theirs["values"])


def _in_float64(state: dict) -> dict:
    """compute_bound_ops's state with every array in float64: the same data, weights and draws
    (the first BATCH rows: one step)."""
    values = state["values"].astype(np.float64)
    sizes, offsets = state["sizes"], state["offsets"]
    g_and_g2 = np.zeros((2, state["P"]))
    return {**state, "values": values, "x1": state["x1"].astype(np.float64), "y": state["y"].astype(np.float64),
            "kernels": [values[a:b].reshape(i + 1, o) for a, b, i, o in zip(offsets, offsets[1:], sizes, sizes[1:])],
            "moments": np.zeros((2, state["P"])), "g_and_g2": g_and_g2, "grads": g_and_g2[0],
            "generator": np.random.default_rng(1)}


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_the_first_step_gradient_is_the_textbook_gradient_to_rounding(workers):
    """In float64, the first step's [dW; db] of every layer, split or not, within the rounding bound of
    a textbook computation of it (itself float64, so within twice the bound of each other); a split that
    took the wrong rows or columns anywhere is off by far more. Then in float32, Adam's first update of
    the gradient the step computed, the same elementwise operations, to the bit."""
    state = make_state(0, "stacked")
    state["x1"], state["y"] = state["x1"][:BATCH], state["y"][:BATCH]
    wide = _in_float64(state)
    exact, bound = float_rounding.first_gradient_bound(wide["x1"], wide["y"], wide["kernels"], np.float64)
    data_parallel.epoch(wide, workers)
    difference = np.abs(wide["grads"] - exact)
    worst = np.argmax(difference - 2 * bound)
    assert np.all(difference <= 2 * bound), f"entry {worst} off by {difference[worst]:.3g}, bound {2 * bound[worst]:.3g}"
    assert np.median(bound / np.maximum(np.abs(exact), 1e-300)) < 1e-5       # the bound is not vacuous

    start = state["values"].copy()
    data_parallel.epoch(state, workers)
    f32, g = np.float32, state["grads"]
    m, v = g * f32(1 - 0.9), np.square(g) * f32(1 - 0.999)                   # from zero moments
    alpha = f32(1e-3 * np.sqrt(1 - 0.999) / (1 - 0.9))
    np.testing.assert_array_equal(state["values"], start - m * alpha / (np.sqrt(v) + f32(1e-7)))


def test_the_threads_compute_what_the_same_phases_compute_one_after_the_other(monkeypatch):
    """Bit for bit: the same calls on the same arrays, single-threaded BLAS in both. The first worker
    is slowed down in both phases, so that without either barrier the second would read rows or weights
    the first has not written yet.

    The split is not compared with the unsplit epoch over several steps: that one computes its products
    over whole arrays, another CPU's kernels may sum an entry's terms in another order for a block of
    rows, and a reordered sum moves Adam's normalized steps by up to lr where a gradient cancels
    (OpenBLAS's own two threads, a reordering, leave 8 such steps 6.5e-4 apart on this machine). The
    benchmark reports that difference (0 on this repository's Xeon); the test above bounds one step's."""
    _, sequential = data_parallel.run(workers=2, blas_threads=1, seed=0, rows=ROWS, concurrently=False)
    rows_phase, parameters_phase = data_parallel._rows_phase, data_parallel._parameters_phase

    def slow_rows(state, buffers, order, rows, *rest):
        if rows.start == 0:
            time.sleep(0.002)
        rows_phase(state, buffers, order, rows, *rest)

    def slow_parameters(state, buffers, part, *rest):
        if part[0].start == 0:
            time.sleep(0.002)
        parameters_phase(state, buffers, part, *rest)

    monkeypatch.setattr(data_parallel, "_rows_phase", slow_rows)
    monkeypatch.setattr(data_parallel, "_parameters_phase", slow_parameters)
    _, threads = data_parallel.run(workers=2, blas_threads=1, seed=0, rows=ROWS)
    np.testing.assert_array_equal(threads, sequential)


def test_the_row_blocks_tile_the_batch():
    for parts in (1, 2, 3):
        blocks = data_parallel.blocks(BATCH, parts)
        assert [i for block in blocks for i in range(block.start, block.stop)] == list(range(BATCH))
        assert max(b.stop - b.start for b in blocks) - min(b.stop - b.start for b in blocks) <= 1


def test_the_parameter_blocks_tile_the_buffer_at_kernel_rows():
    state = make_state(0, "stacked")
    ranges = data_parallel._parameter_ranges(state, 2)
    assert ranges[0][0].start == 0 and ranges[0][0].stop == ranges[1][0].start and ranges[1][0].stop == state["P"]
    assert abs(ranges[0][0].stop - state["P"] / 2) < max(state["sizes"])   # cut at the kernel row nearest P / 2
    for span, blocks in ranges:   # the kernel rows of each half cover exactly its slice of the buffer
        covered = [i for layer, rows in blocks
                   for i in range(state["offsets"][layer] + rows.start * state["sizes"][layer + 1],
                                  state["offsets"][layer] + rows.stop * state["sizes"][layer + 1])]
        assert covered == list(range(span.start, span.stop))


def test_a_failing_worker_stops_the_epoch_with_its_own_error(monkeypatch):
    """It aborts the barrier, so the calling thread's wait raises rather than blocks, and the calling
    thread raises the worker's exception."""
    state = make_state(0, "stacked")
    state["x1"], state["y"] = state["x1"][:ROWS], state["y"][:ROWS]
    real = data_parallel._parameters_phase

    def failing(state, buffers, part, alpha, constants):
        if part[0].start > 0:   # the second worker's block of the parameters
            raise RuntimeError("worker failed")
        real(state, buffers, part, alpha, constants)

    monkeypatch.setattr(data_parallel, "_parameters_phase", failing)
    with pytest.raises(RuntimeError, match="worker failed"):
        data_parallel.epoch(state, 2)
