"""benchmarks.data_parallel: the step split over two threads trains as the plain step, and splits the work evenly."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from benchmarks import data_parallel
from benchmarks.compute_bound_ops import make_state

ROWS = 4 * data_parallel.BATCH   # two epochs of 4 steps each


def test_the_split_step_trains_as_the_plain_step():
    """Same weights after 8 Adam steps, single-threaded BLAS in each worker.

    Every entry of every product is computed over the same terms in both (a block of rows of x W, the
    rows of [dW; db] over the whole batch), so OpenBLAS gives the same bits on this repository's
    Xeon. Another CPU's kernels may sum a block's terms in another order; the tolerance is then that
    of float32 rounding in the gradients: Adam moves a weight by at most about lr = 1e-3 a step, and a
    relative change of the gradient of ~1e-6 (float32 sums of 1,024 terms) changes a step by less
    than 1e-3 of that, so 8 steps stay within 8e-6.
    """
    _, plain = data_parallel.run(workers=1, blas_threads=1, seed=0, rows=ROWS)
    _, split = data_parallel.run(workers=2, blas_threads=1, seed=0, rows=ROWS)
    start = make_state(0, "stacked")["values"]
    assert np.max(np.abs(plain - start)) > 1e-3          # it trained
    np.testing.assert_allclose(split, plain, rtol=0, atol=8e-6)


def test_the_parameter_halves_tile_the_buffer_at_kernel_rows():
    state = make_state(0, "stacked")
    ranges = data_parallel._parameter_ranges(state, 2)
    assert ranges[0][0].start == 0 and ranges[0][0].stop == ranges[1][0].start and ranges[1][0].stop == state["P"]
    assert abs(ranges[0][0].stop - state["P"] / 2) < max(state["sizes"])   # cut at the kernel row nearest P / 2
    for span, blocks in ranges:   # the kernel rows of each half cover exactly its slice of the buffer
        covered = [i for layer, rows in blocks
                   for i in range(state["offsets"][layer] + rows.start * state["sizes"][layer + 1],
                                  state["offsets"][layer] + rows.stop * state["sizes"][layer + 1])]
        assert covered == list(range(span.start, span.stop))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")   # the worker's, on purpose
def test_a_worker_that_fails_stops_the_epoch_instead_of_leaving_the_others_waiting(monkeypatch):
    """The failing worker aborts the barrier, so the others' waits raise rather than block forever."""

    state = make_state(0, "stacked")
    state["x1"], state["y"] = state["x1"][:ROWS], state["y"][:ROWS]
    real = data_parallel._parameters_phase

    def failing(state, buffers, part, alpha, constants):
        if part[0].start > 0:   # the second worker's half of the parameters
            raise RuntimeError("worker failed")
        real(state, buffers, part, alpha, constants)

    monkeypatch.setattr(data_parallel, "_parameters_phase", failing)
    outcome = []

    def epoch():
        try:
            data_parallel.epoch(state, 2)
        except threading.BrokenBarrierError:
            outcome.append("broken")

    runner = threading.Thread(target=epoch, daemon=True)   # a hang fails the test below, not the whole suite
    runner.start()
    runner.join(timeout=30)
    assert outcome == ["broken"]
