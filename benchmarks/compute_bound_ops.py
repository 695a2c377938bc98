"""Issue 16: where the compute-bound epoch's NumPy time goes, and what parallel/fewer-pass variants save.

    python -m benchmarks.compute_bound_ops [--threads 2] [--repeats 5] [--profile] [--threshold]

The epoch is benchmarks/floor.py's arithmetic on the compute-bound problem
(100,000 x 100, 512-256-128-20, batch 1,024, one shuffled epoch, bias folding,
stacked Adam, one ReLU mask call), written as calls through ``ew``/``mm`` so
each can be timed by category and routed through benchmarks.split_threads. Variants:

- ``floor``: the calls floor.py made before it took boolean masks for large steps (plain; the masks
  copied into floats: ``boolmul`` is what floor.py and npnet now do at this size);
- ``adam6``: Adam's moments as two (P,) arrays (npnet's 7 moment calls, Keras's order) instead of one (2, P);
- ``mask3``: a ReLU mask per layer (3 greater + 3 copyto) instead of one over all hidden activations;
- ``boolmul``: the mask product multiplies by the boolean mask (no copy to 0.0/1.0);
- ``where0``: the mask product as ``np.copyto(dx, 0, where=h <= 0)`` (one boolean ``less_equal`` over all);
- ``take_batch``: each step gathers its batch of x into one small buffer (L2-resident) instead of one
  whole-epoch np.take into a 40 MB copy (y, for the epoch loss, still gathered per epoch);
- ``par_take``: the epoch's np.take split into two row halves, one on each thread;
- ``best``: adam6 + boolmul + take_batch;
- ``par``: floor with the big elementwise calls (ReLU, masks, mask products, Adam) through benchmarks.split_threads;
- ``par_adam``: only Adam's calls through benchmarks.split_threads.

``--profile`` prints wall and process-CPU time per category (one epoch each,
the clocks read around every call); the plain table is the epochs untimed
inside, interleaved variant by variant, median of ``--repeats``.
``--threshold`` times plain vs split calls by size; ``--split-threshold N``
splits the par variants' calls from N elements on (default ``SPLIT_THRESHOLD``,
above every call of this epoch's steps: pass 100000 to split them).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from benchmarks import split_threads as parallel

ROWS, INPUTS, HIDDEN, OUTPUTS, BATCH = 100_000, 100, (512, 256, 128), 20, 1024
VARIANTS = {"floor": {}, "adam6": {"adam": "separate"}, "mask3": {"mask": "per_layer"},
            "boolmul": {"mask": "bool"}, "where0": {"mask": "where"}, "take_batch": {"shuffle": "batch"},
            "best": {"adam": "separate", "mask": "bool", "shuffle": "batch"},
            "par": {"parallel": "all"}, "par_adam": {"parallel": "adam"}, "par_take": {"shuffle": "split"}}


class Clock:
    """Calls a NumPy function, and with ``on`` adds its wall and process-CPU seconds to a category."""

    def __init__(self, on: bool, parallel_categories: set[str]):
        self.on, self.parallel = on, parallel_categories
        self.wall, self.cpu = defaultdict(float), defaultdict(float)

    def __call__(self, category, function, *args, out):
        if category in self.parallel:
            function, args = parallel.elementwise, (function, *args)
        if not self.on:
            return function(*args, out=out)
        wall, cpu = time.perf_counter(), time.process_time()
        result = function(*args, out=out)
        self.wall[category] += time.perf_counter() - wall
        self.cpu[category] += time.process_time() - cpu
        return result


def _copy(source: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.copyto(out, source)
    return out


def _zero_where(dx: np.ndarray, below_or_at_zero: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.copyto(out, 0.0, where=below_or_at_zero)
    return out


def make_state(seed: int, adam: str) -> dict:
    rng = np.random.default_rng(seed)
    f32 = np.float32
    x = rng.standard_normal((ROWS, INPUTS), dtype=f32)
    y = (rng.random((ROWS, OUTPUTS)) < 0.5).astype(f32)
    sizes = [INPUTS, *HIDDEN, OUTPUTS]
    offsets = np.cumsum([0] + [(i + 1) * o for i, o in zip(sizes, sizes[1:])])
    P = int(offsets[-1])
    values = np.zeros(P, f32)
    kernels = [values[a:b].reshape(i + 1, o) for a, b, i, o in zip(offsets, offsets[1:], sizes, sizes[1:])]
    for kernel, (i, o) in zip(kernels, zip(sizes, sizes[1:])):
        limit = math.sqrt(6 / (i + o))
        kernel[:-1] = rng.uniform(-limit, limit, (i, o)).astype(f32)
    x1 = np.ones((ROWS, INPUTS + 1), f32)
    x1[:, :-1] = x
    state = dict(sizes=sizes, offsets=offsets, P=P, values=values, kernels=kernels, x1=x1, y=y,
                 generator=np.random.default_rng(seed + 1))
    if adam == "stacked":
        state["moments"], state["g_and_g2"] = np.zeros((2, P), f32), np.zeros((2, P), f32)
        state["grads"] = state["g_and_g2"][0]
    else:
        state["m"], state["v"], state["grads"] = np.zeros(P, f32), np.zeros(P, f32), np.zeros(P, f32)
    return state


def _take(source: np.ndarray, order: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.take(source, order, axis=0, out=out)


def _split_take(source: np.ndarray, order: np.ndarray, out: np.ndarray) -> np.ndarray:
    """np.take of row halves on two threads (np.take releases the GIL)."""
    half = len(order) // 2
    worker = _EXECUTOR.submit(np.take, source, order[half:], 0, out[half:])
    np.take(source, order[:half], axis=0, out=out[:half])
    worker.result()
    return out


def epoch(state: dict, clock: Clock, adam: str = "stacked", mask: str = "one", shuffle: str = "epoch") -> float:
    """One shuffled epoch; returns the epoch's mean training loss (BCE from the logits)."""
    f32, sizes, P, values, kernels = np.float32, state["sizes"], state["P"], state["values"], state["kernels"]
    x1, y, n, k = state["x1"], state["y"], ROWS, OUTPUTS
    grads = state["grads"]
    offsets = state["offsets"]
    dkernels = [grads[a:b].reshape(i + 1, o) for a, b, i, o in zip(offsets, offsets[1:], sizes, sizes[1:])]
    widths = [o + 1 for o in sizes[1:-1]]
    ends = np.cumsum([0] + [BATCH * w for w in widths])
    flat, zeros = np.ones(ends[-1], f32), np.zeros(ends[-1], f32)
    hidden = [flat[a:b].reshape(BATCH, w) for a, b, w in zip(ends, ends[1:], widths)]
    hzeros = [zeros[a:b].reshape(BATCH, w) for a, b, w in zip(ends, ends[1:], widths)]
    masks, bool_masks = np.empty_like(flat), np.empty(flat.shape, bool)
    mask_views = [masks[a:b].reshape(BATCH, w) for a, b, w in zip(ends, ends[1:], widths)]
    bool_views = [bool_masks[a:b].reshape(BATCH, w) for a, b, w in zip(ends, ends[1:], widths)]
    dx = [np.empty((BATCH, w), f32) for w in widths]
    dz_out = np.empty((BATCH, k), f32)
    x_epoch, y_epoch = np.empty_like(x1), np.empty_like(y)
    order = state["generator"].permutation(n)
    n = n // BATCH * BATCH   # full batches only (97 of 98): every step the same shapes
    z_epoch, p_epoch = np.empty((n, k), f32), np.empty((n, k), f32)
    one, eps, scale = np.array(1, f32), np.array(1e-7, f32), np.array(1.0 / (BATCH * k), f32)
    one_minus_betas = np.array([[1 - 0.9], [1 - 0.999]], f32)
    b1m, b2m = f32(1 - 0.9), f32(1 - 0.999)
    step_tmp, denominator = np.empty((2, P), f32), np.empty(P, f32)
    tmp = step_tmp[0]
    ew = mm = clock

    take = _split_take if shuffle == "split" else _take
    if shuffle != "batch":
        clock("shuffle", take, x1, order, out=x_epoch)
    clock("shuffle", take, y, order, out=y_epoch)
    x_batch = np.empty((BATCH, INPUTS + 1), f32)
    for step, start in enumerate(range(0, n, BATCH)):
        xb, yb = x_epoch[start:start + BATCH], y_epoch[start:start + BATCH]
        if shuffle == "batch":
            xb = clock("shuffle", _take, x1, order[start:start + BATCH], out=x_batch)
        z, p = z_epoch[start:start + BATCH], p_epoch[start:start + BATCH]
        h_in = xb
        for h, hz, kernel in zip(hidden, hzeros, kernels):
            mm("matmul forward", np.matmul, h_in, kernel, out=h[:, :-1])   # (N, O) = (N, I+1) @ (I+1, O)
            ew("relu forward", np.maximum, h, hz, out=h)
            h_in = h
        mm("matmul forward", np.dot, h_in, kernels[-1], out=z)
        ew("sigmoid+dz", np.negative, z, out=p)
        ew("sigmoid+dz", np.exp, p, out=p)
        ew("sigmoid+dz", np.add, p, one, out=p)
        ew("sigmoid+dz", np.reciprocal, p, out=p)
        ew("sigmoid+dz", np.subtract, p, yb, out=dz_out)
        ew("sigmoid+dz", np.multiply, dz_out, scale, out=dz_out)
        if mask == "per_layer":
            for h, hz, bm, fm in zip(hidden, hzeros, bool_views, mask_views):
                ew("relu mask", np.greater, h, hz, out=bm)
                clock("relu mask copy", _copy, bm, out=fm)
        elif mask == "where":
            ew("relu mask", np.less_equal, flat, zeros, out=bool_masks)
        else:
            ew("relu mask", np.greater, flat, zeros, out=bool_masks)
            if mask != "bool":
                clock("relu mask copy", _copy, bool_masks, out=masks)   # as 0.0/1.0
        factors = bool_views if mask in ("bool", "where") else mask_views
        dz = dz_out
        for layer in range(len(kernels) - 1, 0, -1):
            below = hidden[layer - 1]
            mm("matmul backward", np.matmul, below.T, dz, out=dkernels[layer])    # (I+1, O) = (I+1, N) @ (N, O)
            mm("matmul backward", np.matmul, dz, kernels[layer].T, out=dx[layer - 1])   # (N, I+1) = (N, O) @ (O, I+1)
            if mask == "where":
                clock("relu backward", _zero_where, dx[layer - 1], factors[layer - 1], out=dx[layer - 1])
            else:
                ew("relu backward", np.multiply, dx[layer - 1], factors[layer - 1], out=dx[layer - 1])
            dz = dx[layer - 1][:, :-1]
        mm("matmul backward", np.matmul, xb.T, dz, out=dkernels[0])
        alpha = f32(1e-3 * math.sqrt(1 - 0.999 ** (step + 1)) / (1 - 0.9 ** (step + 1)))
        if adam == "stacked":
            moments, g_and_g2 = state["moments"], state["g_and_g2"]
            m, v = moments
            ew("adam", np.square, grads, out=g_and_g2[1])
            ew("adam", np.subtract, g_and_g2, moments, out=step_tmp)
            ew("adam", np.multiply, step_tmp, one_minus_betas, out=step_tmp)
            ew("adam", np.add, moments, step_tmp, out=moments)
        else:
            m, v = state["m"], state["v"]
            ew("adam", np.subtract, grads, m, out=tmp)
            ew("adam", np.multiply, tmp, b1m, out=tmp)
            ew("adam", np.add, m, tmp, out=m)
            ew("adam", np.square, grads, out=tmp)
            ew("adam", np.subtract, tmp, v, out=tmp)
            ew("adam", np.multiply, tmp, b2m, out=tmp)
            ew("adam", np.add, v, tmp, out=v)
        ew("adam", np.sqrt, v, out=denominator)
        ew("adam", np.add, denominator, eps, out=denominator)
        ew("adam", np.multiply, m, alpha, out=tmp)
        ew("adam", np.divide, tmp, denominator, out=tmp)
        ew("adam", np.subtract, values, tmp, out=values)
    # the per-epoch loss and accuracy from the buffers the steps filled (as floor.py)
    y_epoch = y_epoch[:n]
    work, scratch = np.empty_like(z_epoch), np.empty_like(z_epoch)
    zz = np.zeros_like(z_epoch)
    ew("epoch loss", np.maximum, z_epoch, zz, out=scratch)
    ew("epoch loss", np.multiply, z_epoch, y_epoch, out=work)
    ew("epoch loss", np.subtract, scratch, work, out=scratch)
    ew("epoch loss", np.abs, z_epoch, out=work)
    ew("epoch loss", np.negative, work, out=work)
    ew("epoch loss", np.exp, work, out=work)
    ew("epoch loss", np.add, work, one, out=work)
    ew("epoch loss", np.log, work, out=work)
    ew("epoch loss", np.add, work, scratch, out=work)
    return float(np.add.reduce(work, axis=None)) / work.size


_EXECUTOR = ThreadPoolExecutor(1)
PARALLEL = {"all": {"relu forward", "relu mask", "relu backward", "adam"}, "adam": {"adam"}}


def run_variant(name: str, seed: int, on: bool) -> tuple[float, float, Clock, float]:
    options = VARIANTS[name]
    adam, mask, shuffle = options.get("adam", "stacked"), options.get("mask", "one"), options.get("shuffle", "epoch")
    state = make_state(seed, adam)
    clock = Clock(on, PARALLEL.get(options.get("parallel"), set()))
    epoch(state, Clock(False, clock.parallel), adam, mask, shuffle)   # warm-up epoch (page faults, pools)
    wall, cpu = time.perf_counter(), time.process_time()
    loss = epoch(state, clock, adam, mask, shuffle)
    return time.perf_counter() - wall, time.process_time() - cpu, clock, loss


def threshold_table() -> None:
    """Median microseconds per call, plain / split, by size, for a few of the epoch's ufuncs."""
    saved = parallel.SPLIT_THRESHOLD
    parallel.SPLIT_THRESHOLD = 0
    print("| elements | " + " | ".join(f"{u} plain / split (us)" for u in ("maximum", "multiply", "sqrt", "exp"))
          + " |\n|---|---|---|---|---|")
    for size in [1 << 14, 1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 21]:
        a = np.random.default_rng(0).random(size, dtype=np.float32) + 0.1
        b, out = np.zeros_like(a), np.empty_like(a)
        number = max(20, int(2e7 / size))
        cells = []
        for ufunc, args in [(np.maximum, (a, b)), (np.multiply, (a, b)), (np.sqrt, (a,)), (np.exp, (a,))]:
            times = {}
            for label, call in [("plain", lambda: ufunc(*args, out=out)),
                                ("split", lambda: parallel.elementwise(ufunc, *args, out=out))]:
                call()
                rounds = []
                for _ in range(5):
                    start = time.perf_counter()
                    for _ in range(number):
                        call()
                    rounds.append((time.perf_counter() - start) / number * 1e6)
                times[label] = statistics.median(rounds)
            cells.append(f"{times['plain']:.1f} / {times['split']:.1f}")
        print(f"| {size:,} | " + " | ".join(cells) + " |")
    parallel.SPLIT_THRESHOLD = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--threshold", action="store_true")
    parser.add_argument("--split-threshold", type=int, default=parallel.SPLIT_THRESHOLD,
                        help="split elementwise calls of at least this many elements (par variants)")
    args = parser.parse_args()
    parallel.SPLIT_THRESHOLD = args.split_threshold
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=args.threads)
    parallel.set_threads(args.threads)
    print(f"threads {args.threads}; load average {os.getloadavg()}")
    if args.threshold:
        threshold_table()
        return
    names = args.variants.split(",")
    if args.profile:
        for name in names:
            wall, cpu, clock, _ = run_variant(name, 0, True)
            print(f"\n{name}: epoch {wall:.3f} s wall, {cpu:.3f} s CPU (clocks read around each call)")
            print("| category | wall (ms) | CPU (ms) |\n|---|---|---|")
            for category in clock.wall:
                print(f"| {category} | {clock.wall[category] * 1e3:.1f} | {clock.cpu[category] * 1e3:.1f} |")
        return
    results = {name: ([], [], []) for name in names}
    for _ in range(args.repeats):
        for name in names:
            wall, cpu, _, loss = run_variant(name, 0, False)
            for bucket, value in zip(results[name], (wall, cpu, loss)):
                bucket.append(value)
    base = statistics.median(results[names[0]][0])
    print(f"| variant | epoch wall median (s) | min | CPU median (s) | vs {names[0]} (wall) | loss |\n|---|---|---|---|---|---|")
    for name, (walls, cpus, losses) in results.items():
        print(f"| {name} | {statistics.median(walls):.3f} | {min(walls):.3f} | {statistics.median(cpus):.3f} | "
              f"{statistics.median(walls) / base:.3f} | {losses[0]:.9g} |")
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
