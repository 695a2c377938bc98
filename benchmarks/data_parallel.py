"""Issue 16, two threads: the compute-bound epoch with each step split across the cores.

    python -m benchmarks.data_parallel [--repeats 5] [--threads 2] [--peers npnet,torch] [--write-results]

At two threads OpenBLAS splits each matrix product across the cores and
NumPy runs every elementwise call on one (benchmarks/RESULTS.md). Here each
step is split instead, in two phases, by ``--threads`` workers (the calling
thread and the others), each with single-threaded BLAS:

1. **rows**: worker w takes the w-th block of the batch's rows: gathers them,
   runs the forward pass, the loss gradient dz = (p - y) / (N K), the ReLU
   masks and the backward chain of dx products and mask products. Every one
   of these calls reads and writes only the worker's rows of the batch's
   arrays, which the workers share: a row of x W is that row of x times W.
2. **parameters** (after a barrier): worker w takes the w-th block of the
   flat parameter buffer, cut at a kernel row: its rows of each [dW; db],
   [dW; db][r0:r1] = ([h 1][:, r0:r1])^T dz over the whole batch, then Adam's
   update of that block. Each entry of a gradient costs N multiply-adds, so
   half the parameters is half the products' work.

Then a second barrier: the next step's forward reads the updated weights.
No sum is split or reordered: every entry of every product is computed over
the same terms as in the plain epoch (``epoch(state, 1)``: the same calls
over the whole arrays, one thread), so the weights come out bit-equal
wherever OpenBLAS sums an entry's terms in the same order whatever block of
rows it computes; the report gives the largest difference. (OpenBLAS's own
two threads do not keep the bits of one.) Single-threaded BLAS in each
worker is threadpoolctl's limit, which holds process-wide for a pthreads
build of OpenBLAS, as in NumPy's wheels.

The plain epoch is benchmarks/compute_bound_ops.py's with the variants
``take_batch`` and ``boolmul`` (row-major activations with the bias column,
boolean ReLU masks, stacked Adam, each batch's rows gathered), full batches
only (97 of the 98), its loss computed once at the end and no accuracy:
tests/repo/test_data_parallel.py checks the weights are the same bits. It
is not benchmarks/floor.py, whose activations are feature-major. npnet's fit
does not split its steps: split the same way, its column-major steps gained
nothing (benchmarks/RESULTS.md, "Two threads: the step split across the cores").
"""
from __future__ import annotations

import argparse
import math
import statistics
import threading
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from benchmarks import harness
from benchmarks.compute_bound_ops import BATCH, HIDDEN, INPUTS, OUTPUTS, make_state
from npnet.training.split import blocks


class Buffers:
    """The arrays one step writes, batch-sized and shared by the workers (each worker's rows of them)."""

    def __init__(self, state: dict, workers: int):
        dtype, sizes, k = state["values"].dtype, state["sizes"], OUTPUTS   # float32 (float64 in a test)
        widths = [o + 1 for o in HIDDEN]
        self.x_batch = np.ones((BATCH, INPUTS + 1), dtype)
        self.hidden = [np.ones((BATCH, w), dtype) for w in widths]          # [h 1] (N, O+1)
        self.zeros = [np.zeros((BATCH, w), dtype) for w in widths]
        self.masks = [np.empty((BATCH, w), bool) for w in widths]
        self.dx = [np.empty((BATCH, w), dtype) for w in widths]
        self.dz = np.empty((BATCH, k), dtype)                                # the logits' gradient
        grads, offsets = state["grads"], state["offsets"]
        self.dkernels = [grads[a:b].reshape(i + 1, o) for a, b, i, o in zip(offsets, offsets[1:], sizes, sizes[1:])]
        self.rows = blocks(BATCH, workers)
        self.ranges = _parameter_ranges(state, workers)


def _parameter_ranges(state: dict, workers: int) -> list[tuple[slice, list[tuple[int, slice]]]]:
    """Per worker: its slice of the flat buffer and, per kernel it touches, (layer, the kernel's rows),
    the cuts at the kernel rows nearest to P w / workers."""
    sizes, offsets = state["sizes"], state["offsets"]
    row_starts = sorted({int(a + r * o) for a, i, o in zip(offsets, sizes, sizes[1:]) for r in range(i + 2)})
    cuts = [0] + [min(row_starts, key=lambda s: abs(s - state["P"] * w / workers)) for w in range(1, workers)] + [state["P"]]
    ranges = []
    for lo, hi in zip(cuts, cuts[1:]):
        blocks = []
        for layer, (a, b, o) in enumerate(zip(offsets, offsets[1:], sizes[1:])):
            if lo < b and hi > a:
                blocks.append((layer, slice((max(lo, a) - a) // o, (min(hi, b) - a) // o)))
        ranges.append((slice(lo, hi), blocks))
    return ranges


def _rows_phase(state: dict, buffers: Buffers, order: np.ndarray, rows: slice, y_epoch: np.ndarray,
                z_epoch: np.ndarray, p_epoch: np.ndarray, constants: dict) -> None:
    """Phase 1 on ``rows`` of the batch: gather, forward, dz, masks, the backward chain of dx."""
    kernels, b = state["kernels"], buffers
    xb = b.x_batch[rows]
    np.take(state["x1"], order[rows], axis=0, out=xb, mode="clip")   # [x 1]: x1 carries the ones
    h_in = xb
    for h, zeros, kernel in zip(b.hidden, b.zeros, kernels):
        np.matmul(h_in, kernel, out=h[rows, :-1])
        np.maximum(h[rows], zeros[rows], out=h[rows])
        h_in = h[rows]
    z, p, dz = z_epoch[rows], p_epoch[rows], b.dz[rows]
    np.dot(h_in, kernels[-1], out=z)                 # the logits' rows: contiguous, as compute_bound_ops's call
    np.negative(z, out=p)
    np.exp(p, out=p)
    np.add(p, constants["one"], out=p)
    np.reciprocal(p, out=p)
    np.subtract(p, y_epoch[rows], out=dz)
    np.multiply(dz, constants["scale"], out=dz)
    for h, zeros, mask in zip(b.hidden, b.zeros, b.masks):
        np.greater(h[rows], zeros[rows], out=mask[rows])
    for layer in range(len(kernels) - 1, 0, -1):
        dx = b.dx[layer - 1][rows]
        np.matmul(dz, kernels[layer].T, out=dx)
        np.multiply(dx, b.masks[layer - 1][rows], out=dx)
        dz = dx[:, :-1]


def _parameters_phase(state: dict, buffers: Buffers, part: tuple[slice, list], alpha: np.floating,
                      constants: dict) -> None:
    """Phase 2 on a slice of the flat buffer: its rows of each [dW; db] over the whole batch, then Adam."""
    b = buffers
    below = [b.x_batch] + b.hidden
    dz = [d[:, :-1] for d in b.dx] + [b.dz]
    for layer, rows in part[1]:
        np.matmul(below[layer][:, rows].T, dz[layer], out=b.dkernels[layer][rows])
    span = part[0]
    moments, g_and_g2 = state["moments"][:, span], state["g_and_g2"][:, span]
    step, denominator, values = constants["step"][:, span], constants["denominator"][span], state["values"][span]
    m, v, tmp = moments[0], moments[1], step[0]
    np.square(g_and_g2[0], out=g_and_g2[1])
    np.subtract(g_and_g2, moments, out=step)
    np.multiply(step, constants["one_minus_betas"], out=step)
    np.add(moments, step, out=moments)
    np.sqrt(v, out=denominator)
    np.add(denominator, constants["epsilon"], out=denominator)
    np.multiply(m, alpha, out=tmp)
    np.divide(tmp, denominator, out=tmp)
    np.subtract(values, tmp, out=values)


def _constants(state: dict) -> dict:
    dtype, P = state["values"].dtype, state["P"]
    return {"one": np.array(1, dtype), "epsilon": np.array(1e-7, dtype), "scale": np.array(1.0 / (BATCH * OUTPUTS), dtype),
            "one_minus_betas": np.array([[1 - 0.9], [1 - 0.999]], dtype),
            "step": np.empty((2, P), dtype), "denominator": np.empty(P, dtype)}


def epoch(state: dict, workers: int, concurrently: bool = True) -> float:
    """One shuffled epoch of full batches, its steps split over ``workers`` threads (1: the plain epoch,
    each call over the whole arrays); returns the epoch's mean training loss (BCE from the logits, its
    log1p form; computed as the epoch's work, as npnet computes its epoch's loss).

    ``concurrently=False`` runs the workers' phases one after the other in this thread: the same calls
    on the same arrays, so the same bits on any CPU (the tests check the threads against it)."""
    total = len(state["x1"])
    n = total // BATCH * BATCH
    order = state["generator"].permutation(total)
    y_epoch = np.take(state["y"], order[:n], axis=0)
    z_epoch, p_epoch = np.empty((n, OUTPUTS), state["values"].dtype), np.empty((n, OUTPUTS), state["values"].dtype)
    buffers, constants = Buffers(state, workers), _constants(state)
    alphas = [state["values"].dtype.type(1e-3 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)) for t in range(1, n // BATCH + 1)]
    batches = [(slice(a, a + BATCH), alpha) for a, alpha in zip(range(0, n, BATCH), alphas)]

    failures: list[BaseException] = []   # another worker's exception, raised again in the calling thread

    def work(worker: int, barrier: threading.Barrier | None) -> None:
        rows, part = buffers.rows[worker], buffers.ranges[worker]
        try:
            for batch, alpha in batches:
                _rows_phase(state, buffers, order[batch], rows, y_epoch[batch], z_epoch[batch], p_epoch[batch],
                            constants)
                if barrier is not None:
                    barrier.wait()
                _parameters_phase(state, buffers, part, alpha, constants)
                if barrier is not None:
                    barrier.wait()
        except BaseException as error:
            if worker:
                failures.append(error)
            if barrier is not None:
                barrier.abort()   # the other workers' waits raise instead of waiting for this one forever
            if not worker:
                raise

    if workers == 1:
        work(0, None)
    elif not concurrently:
        for batch, alpha in batches:
            for rows in buffers.rows:
                _rows_phase(state, buffers, order[batch], rows, y_epoch[batch], z_epoch[batch], p_epoch[batch],
                            constants)
            for part in buffers.ranges:
                _parameters_phase(state, buffers, part, alpha, constants)
    else:
        barrier = threading.Barrier(workers)
        others = [threading.Thread(target=work, args=(w, barrier), daemon=True) for w in range(1, workers)]
        for thread in others:
            thread.start()
        try:
            work(0, barrier)
        except threading.BrokenBarrierError as broken:   # another worker failed: its error, not the barrier's
            for thread in others:
                thread.join()
            if failures:
                raise failures[0] from broken
            raise
        for thread in others:
            thread.join()
    losses = np.maximum(z_epoch, 0) - z_epoch * y_epoch + np.log1p(np.exp(-np.abs(z_epoch)))
    return float(losses.mean())


def run(workers: int, blas_threads: int, seed: int, rows: int | None = None,
        concurrently: bool = True) -> tuple[float, np.ndarray]:
    """Two epochs of a fresh state (the first rows of benchmarks.compute_bound_ops's data, all by default)
    with BLAS limited to ``blas_threads``: the second epoch's seconds, and the weights (P,) after both."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(blas_threads, user_api="blas"):
        state = make_state(seed, "stacked")
        state["x1"], state["y"] = state["x1"][:rows], state["y"][:rows]
        epoch(state, workers, concurrently)   # warm-up: page faults, the thread pools
        start = time.perf_counter()
        epoch(state, workers, concurrently)
        return time.perf_counter() - start, state["values"].copy()


def peer_epochs(names: list[str], threads: int, seed: int, directory: str) -> Callable[[], dict[str, float]]:
    """A function that times one compute-bound epoch of each peer in ``names`` in a fresh process
    (benchmarks.scaling's ``--compute-bound-only --interleaved`` run: a warm-up epoch, then the timed one),
    on data it writes into ``directory``."""
    from benchmarks import isolated, peers, scaling
    config = scaling.COMPUTE_BOUND
    work = peers.Workload(config.hidden, config.batch_size, epochs=1)
    data_path = Path(directory) / "compute_bound.npz"
    x, y = scaling.synthetic(config.rows, config.inputs, config.outputs, seed)
    np.savez(data_path, x=x, y=y, x_test=x[:1000], y_test=y[:1000])
    return lambda: {name: isolated.run(name, data_path, work, seed, threads, timed_fits=1)["fit_seconds"][0]
                    for name in names}


def main(argv: list[str] | None = None) -> None:
    parser = harness.common_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]), repeats=5)
    parser.add_argument("--peers", default="", help="also time these peers' epochs (fresh processes), e.g. npnet,torch")
    args = parser.parse_args(argv)
    w = args.threads or 2   # the workers, and the BLAS threads of the plain epoch and of the peers
    if w < 2:
        parser.error("--threads: the split needs at least 2 threads")
    variants = {f"plain, BLAS {w} threads": (1, w), f"split over {w} workers, BLAS 1 thread each": (w, 1),
                "plain, BLAS 1 thread": (1, 1)}
    names = [name for name in args.peers.split(",") if name]
    times, values = {name: [] for name in [*variants, *names]}, {}
    with tempfile.TemporaryDirectory() as directory:
        others = peer_epochs(names, w, args.seed, directory) if names else dict
        for index in range(args.repeats):
            for name, (workers, blas) in variants.items():
                seconds, values[name] = run(workers, blas, args.seed)
                times[name].append(seconds)
            for name, seconds in others().items():
                times[name].append(seconds)
            harness.progress(f"round {index + 1}: " + ", ".join(f"{name} {t[-1]:.3f} s" for name, t in times.items()))
    base = statistics.median(times[next(iter(variants))])
    torch = statistics.median(times["torch"]) if "torch" in times else None
    rows = [[name, f"{statistics.median(seconds):.3f}", f"{min(seconds):.3f}",
             f"{statistics.median(seconds) / base:.3f}", f"{statistics.median(seconds) / torch:.3f}" if torch else "-"]
            for name, seconds in times.items()]
    reference = values["plain, BLAS 1 thread"]
    notes = ["- Largest |weights - the plain epoch's on one thread| after two epochs: "
             + "; ".join(f"{name} {np.max(np.abs(v - reference)):.3g}" for name, v in values.items()),
             f"- {args.repeats} rounds. In each, this module's epochs in this process (each variant two epochs "
             f"of a fresh state, the second timed), then each peer in a fresh process with {w} threads "
             "(benchmarks.scaling's compute-bound run: one warm-up epoch, one timed); medians over the rounds."]
    report = "\n\n".join([f"### Compute-bound epoch, each step split over {w} threads\n\n"
                           + harness.markdown_table(["epoch", "median (s)", "min (s)", "vs the first", "vs torch"], rows),
                           "\n".join(notes), harness.machine_report(pools=False)])
    harness.publish(args, "data-parallel", "The compute-bound step split across the cores", report)


if __name__ == "__main__":
    main()
