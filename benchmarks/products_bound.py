"""Issue 16's compute-bound target, bounded: npnet's matrix products alone against PyTorch's whole epoch.

    python -m benchmarks.products_bound [--threads N] [--repeats 5] [--write-results]

npnet's compiled training step for one batch of the compute-bound problem
(benchmarks.scaling's COMPUTE_BOUND: 100,000 x 100, 512-256-128-20, batches
of 1,024) is run over and over, training on that batch, and each of its calls
is timed: the matrix products (np.dot and np.matmul, that is BLAS's sgemm) on
one side, every other call (elementwise NumPy and Adam) on the other. Times
the epoch's number of batches, that is what one epoch's steps cost in each
(the epoch's shuffle and loss are left out; the last, shorter batch is
counted as a full one). PyTorch's whole epoch, where it is installed, is
timed in a fresh process per round (``benchmarks.isolated``), as in
``benchmarks.scaling --compute-bound-only --interleaved``.

What it shows: whatever the elementwise calls cost, npnet's epoch cannot be
faster than its products. "Elementwise budget" is PyTorch's epoch minus
npnet's products: the time the rest of npnet's epoch would have to fit in to
match PyTorch, and "needed speed-up" what that asks of npnet's elementwise
calls against their time here. NumPy runs an elementwise call on one thread;
split across two threads by hand, a memory-bound call runs at most about 1.5x
faster on the repository's 2-core VM, before the hand-off costs
(benchmarks/split_threads.py).
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import harness, isolated, peers, scaling
from npnet.calls import dot
from npnet.training.data import EpochIterator
from npnet.training.step import Step

PRODUCTS = (dot, np.dot, np.matmul)


def is_product(call) -> bool:
    """Whether a compiled call (a ``functools.partial``) is a matrix product, which BLAS computes."""
    return getattr(call, "func", None) in PRODUCTS


def compiled_step(config: scaling.Config, seed: int) -> tuple[object, list]:
    """npnet's model for ``config`` and its compiled training step on one batch (a list of calls)."""
    x, y = scaling.synthetic(config.batch_size, config.inputs, config.outputs, seed)
    model = peers.PEERS["npnet"].build(config.inputs, config.hidden, config.outputs, seed)
    step = Step(model, bias_trick=True)
    step.SPLIT_MIN = math.inf   # the whole step's calls, each timed on its own (not fit's split step)
    step.compile(EpochIterator(x, y, None, config.batch_size, shuffle=False, ones_column=True))
    (program,) = step.programs
    return model, program


def step_times(config: scaling.Config, seed: int, steps: int) -> tuple[float, float]:
    """Median seconds per step of npnet's products and of its other calls, over ``steps`` steps on one batch."""
    model, program = compiled_step(config, seed)
    products, others = [], []
    clock = time.perf_counter
    with np.errstate(over="ignore"):   # as fit runs its steps (npnet.training.trainer)
        for _ in range(steps):
            model.optimizer.prepare_steps(0, 1)
            spent = [0.0, 0.0]
            for call in program:
                start = clock()
                call()
                spent[not is_product(call)] += clock() - start
            products.append(spent[0])
            others.append(spent[1])
    return statistics.median(products[1:]), statistics.median(others[1:])   # the first step warms up


def torch_epochs(config: scaling.Config, seed: int, rounds: int, threads: int | None) -> list[float]:
    """PyTorch's epoch of ``config``, one timed fit in a fresh process per round (seconds)."""
    x, y = scaling.synthetic(config.rows, config.inputs, config.outputs, seed)
    work = peers.Workload(config.hidden, config.batch_size, epochs=1)
    with tempfile.TemporaryDirectory() as directory:
        data_path = Path(directory) / "compute_bound.npz"
        np.savez(data_path, x=x, y=y, x_test=x[:1000], y_test=y[:1000])
        return [isolated.run("torch", data_path, work, seed, threads, timed_fits=1)["fit_seconds"][0]
                for _ in range(rounds)]


def main(argv: list[str] | None = None) -> None:
    parser = harness.common_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]), repeats=5)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per repeat")
    args = parser.parse_args(argv)
    config = scaling.COMPUTE_BOUND
    peers.get(["npnet"], threads=args.threads, skip_missing=False)   # sets NumPy's BLAS threads
    batches = math.ceil(config.rows / config.batch_size)
    products, others = zip(*(step_times(config, args.seed, args.steps) for _ in range(args.repeats)))
    product_epoch, other_epoch = batches * statistics.median(products), batches * statistics.median(others)
    rows = [["npnet: matrix products (BLAS)", f"{product_epoch:.3f}"],
            ["npnet: every other call of the steps", f"{other_epoch:.3f}"],
            ["npnet: the steps", f"{product_epoch + other_epoch:.3f}"]]
    notes = [f"- npnet: {batches} steps of batch {config.batch_size} per epoch; per step the median over "
             f"{args.steps} steps on one batch, then the median of {args.repeats} repeats."]
    if not peers.PEERS["torch"].available():   # (not imported here: it runs in its own processes)
        notes.append("- PyTorch is not installed: no budget to compare with.")
    else:
        torch = statistics.median(torch_epochs(config, args.seed, args.repeats, args.threads))
        budget = torch - product_epoch
        rows += [["PyTorch: the whole epoch", f"{torch:.3f}"],
                 ["elementwise budget: PyTorch's epoch - npnet's products", f"{budget:.3f}"],
                 ["needed speed-up of npnet's other calls",
                  f"{other_epoch / budget:.2f}x" if budget > 0 else "impossible: the products alone take longer"]]
        notes.append(f"- PyTorch: median of {args.repeats} epochs, each in a fresh process after a warm-up epoch.")
    report = "\n".join([f"Compute-bound: {config}, one epoch.", "",
                        harness.markdown_table(["part", "seconds per epoch"], rows), "", *notes, "",
                        harness.machine_report()])
    harness.publish(args, "products-bound", "Compute-bound epoch: npnet's products against PyTorch's epoch", report)


if __name__ == "__main__":
    main()
