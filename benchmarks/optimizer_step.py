"""The cost of one optimizer step, for every registered optimizer and Adam's options, next to Adam's.

    python -m benchmarks.optimizer_step [--sizes 915,1048576] [--repeats 40] [--number 200] [--write-results]

One step is ``optimizer.apply([(grads, values)])`` on float32 flat buffers of P
parameters, as a model calls it (the model's own forward/backward excluded),
laid out as the tutorial's layers (weights then biases) so clipnorm computes
one norm per weight. Each repeat builds a fresh optimizer and takes one
untimed step (slots built), then times ``--number`` steps (fewer on large P:
at least 2); the variants take turns, one repeat each per round; the table gives the best over repeats of the mean step in
microseconds, and its ratio to plain Adam's on the same P. The best, not the
median: on a machine shared with other jobs the least disturbed repeat is
the one that measures the code. At P = 915 (the
tutorial) a step is a few dozen NumPy calls of ~1 us each: call overhead, so
the ratio counts statements. At P = 1M the arrays leave the caches: the
ratio counts passes over memory.
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np

from benchmarks import harness
from npnet import optimizers
from npnet.optimizers import schedules

TUTORIAL_P = 6 * 32 + 32 + 32 * 16 + 16 + 16 * 8 + 8 + 8 * 3 + 3   # 915


def variants() -> list[tuple[str, optimizers.Optimizer]]:
    """(label, fresh optimizer): every registered optimizer at Keras's defaults, then Adam with each option."""
    rows = [(cls.__name__, lambda cls=cls: cls()) for cls in optimizers.registered().values()]
    rows += [("SGD(momentum=0.9, nesterov)", lambda: optimizers.SGD(momentum=0.9, nesterov=True)),
             ("RMSprop(momentum, centered)", lambda: optimizers.RMSprop(momentum=0.9, centered=True)),
             ("Adam(amsgrad)", lambda: optimizers.Adam(amsgrad=True)),
             ("Adam(weight_decay)", lambda: optimizers.Adam(weight_decay=0.01)),
             ("Adam(clipnorm)", lambda: optimizers.Adam(clipnorm=1.0)),
             ("Adam(global_clipnorm)", lambda: optimizers.Adam(global_clipnorm=1.0)),
             ("Adam(clipvalue)", lambda: optimizers.Adam(clipvalue=1.0)),
             ("Adam(CosineDecay)", lambda: optimizers.Adam(schedules.CosineDecay(0.001, 10_000)))]
    return rows


def layout(size: int) -> list[int]:
    """Variable sizes that tile ``size`` like a dense net's kernels and biases (the tutorial's at 915)."""
    if size == TUTORIAL_P:
        return [192, 32, 512, 16, 128, 8, 24, 3]
    kernel = size - size // 100
    return [kernel, size - kernel]


def run(sizes: list[int], repeats: int = 40, number: int = 200, seed: int = 0) -> list[dict]:
    """Rows {label, size, median_us, min_us, ratio}: ratio = this step's best / plain Adam's best on the same size."""
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        grads = rng.normal(size=size).astype(np.float32)
        steps = max(2, min(number, number * 1_000 // size))

        def runner(make):
            def prepare():
                values = rng.normal(size=size).astype(np.float32)
                optimizer = make()
                optimizer.build([values], [layout(size)])
                optimizer.apply([(grads, values)])
                return lambda: optimizer.apply([(grads, values)])
            return prepare

        # Round robin, one repeat of every variant per round: other jobs' load falls on all of them alike.
        harness.progress(f"P = {size}: {repeats} rounds of {len(variants())} variants")
        seconds: dict[str, list[float]] = {label: [] for label, _ in variants()}
        for round_ in range(repeats):
            for label, make in variants():
                seconds[label] += harness.measure(runner(make), 1, warmup=int(round_ == 0), number=steps).seconds
        rows += [{"label": label, "size": size, "median_us": statistics.median(times) * 1e6,
                  "min_us": min(times) * 1e6} for label, times in seconds.items()]
    for row in rows:
        adam = next(r for r in rows if r["label"] == "Adam" and r["size"] == row["size"])
        row["ratio"] = row["min_us"] / adam["min_us"]
    return rows


def table(rows: list[dict]) -> str:
    sizes = sorted({row["size"] for row in rows})
    labels = list(dict.fromkeys(row["label"] for row in rows))
    cells = {(row["label"], row["size"]): row for row in rows}
    headers = ["optimizer"] + [text for size in sizes for text in (f"P = {size:,}: step (us)", "/ Adam")]
    lines = [[label] + [text for size in sizes for text in (f"{cells[label, size]['min_us']:.1f}",
                                                           f"{cells[label, size]['ratio']:.2f}x")]
             for label in labels]
    return harness.markdown_table(headers, lines)


def main(argv: list[str] | None = None) -> None:
    parser = harness.common_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]), repeats=40)
    parser.add_argument("--sizes", default=f"{TUTORIAL_P},1048576", help="parameter counts P, comma-separated")
    parser.add_argument("--number", type=int, default=200, help="steps timed per repeat at small P")
    args = parser.parse_args(argv)
    if args.threads is not None:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)   # only global_clipnorm's dot product uses BLAS
    rows = run([int(size) for size in args.sizes.split(",")], args.repeats, args.number, args.seed)
    report = "\n\n".join([table(rows), "\n".join(
        [f"- Best of {args.repeats} repeats (after a warm-up) of the mean of up to {args.number} consecutive "
         "steps, float32, one fresh optimizer each; `optimizer.apply` only (what `fit` calls per batch).",
         "- Every step writes into its slots and scratch arrays: no allocation per step "
         "(tests/unit/optimizers/test_optimizers.py measures it with tracemalloc)."]), harness.machine_report()])
    harness.publish(args, "optimizer_step", "Optimizer step cost, next to Adam's", report)


if __name__ == "__main__":
    main()
