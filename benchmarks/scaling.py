"""How one epoch's cost grows with rows, hidden width and batch size; and a compute-bound run.

Every point is one shuffled epoch (no validation) of an MLP with ReLU hidden
layers and sigmoid outputs on synthetic float32 data, timed as in
benchmarks/tutorial.py (fresh model per run, median after a warm-up).
The sweeps:

- rows: the tutorial's 6-32-16-8-3 net, batch 250, 1,000 to 100,000 rows;
- width: 10,000 x 100 inputs, hidden (w, w/2, w/4), 20 outputs, batch 250;
- batch: 10,000 x 100 inputs, hidden (256, 128, 64), 20 outputs, batch 32 to 4,096;
- compute-bound: 100,000 x 100 inputs, 512-256-128-20, batch 1,024 (npnet and PyTorch only),
  where BLAS does nearly all the work and npnet / torch should be <= 1.

    python -m benchmarks.scaling [--peers npnet,torch,sklearn] [--keras] [--repeats 3]
                                 [--quick] [--compute-bound-only [--interleaved]] [--png scaling.png]
                                 [--write-results]

``--compute-bound-only --interleaved`` times only the compute-bound run, each
timed fit in a fresh process of its own, the peers in turn (as
``benchmarks.tutorial --interleaved``), with the floor (benchmarks/floor.py) as a third peer.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from benchmarks import harness, isolated, peers
from npnet import tutorial

COMPUTE_BOUND_TARGET = 1.0   # npnet time / torch time


class Config(NamedTuple):
    rows: int
    inputs: int
    hidden: tuple[int, ...]
    outputs: int
    batch_size: int

    def __str__(self) -> str:
        return (f"{self.rows:,} x {self.inputs}, {'-'.join(map(str, (*self.hidden, self.outputs)))}, "
                f"batch {self.batch_size}")


class Sweep(NamedTuple):
    name: str                            # also the x-axis label
    unit: str                            # what a value counts
    values: list[int]
    config: Callable[[int], tuple]       # value -> Config fields


SWEEPS = [
    Sweep("rows", "rows", [1_000, 10_000, 100_000],
          lambda rows: Config(rows, tutorial.N_FEATURES, tutorial.HIDDEN_UNITS, tutorial.N_CLASSES, 250)),
    Sweep("width", "units in the first hidden layer", [32, 64, 128, 256, 512],
          lambda width: Config(10_000, 100, (width, width // 2, width // 4), 20, 250)),
    Sweep("batch", "batch size", [32, 128, 512, 1024, 4096],
          lambda batch: Config(10_000, 100, (256, 128, 64), 20, batch)),
]
COMPUTE_BOUND = Config(100_000, 100, (512, 256, 128), 20, 1024)
QUICK_COMPUTE_BOUND = Config(20_000, 100, (512, 256, 128), 20, 1024)


def synthetic(rows: int, inputs: int, outputs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x (rows, inputs) standard normal, y (rows, outputs) fair coin flips; float32."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, inputs), dtype=np.float32)
    return x, (rng.random((rows, outputs)) < 0.5).astype(np.float32)


def time_config(config: Config, chosen: list[peers.Peer], repeats: int, seed: int) -> dict[str, harness.Timing]:
    """One epoch of ``config`` for each peer: its Timing."""
    config = Config(*config)
    x, y = synthetic(config.rows, config.inputs, config.outputs, seed)
    work = peers.Workload(config.hidden, config.batch_size, epochs=1)
    timings = {}
    for peer in chosen:
        timings[peer.name] = harness.measure(peers.fit_runner(peer, x, y, work, seed), repeats)
        harness.progress(f"{config}: {peer.name} {timings[peer.name].median:.4f} s")
    return timings


def run_sweep(sweep: Sweep, chosen: list[peers.Peer], repeats: int, seed: int) -> list[dict]:
    """Rows {sweep, value, peer, median, min}, value-major, peers in the given order."""
    rows = []
    for value in sweep.values:
        for name, timing in time_config(sweep.config(value), chosen, repeats, seed).items():
            rows.append({"sweep": sweep.name, "value": value, "peer": name, "median": timing.median,
                         "min": timing.best})
    return rows


def sweep_table(rows: list[dict]) -> str:
    """One line per value: each peer's median epoch seconds, then each peer's time over npnet's."""
    names = list(dict.fromkeys(row["peer"] for row in rows))
    others = [name for name in names if name != "npnet"]
    headers = [rows[0]["sweep"]] + [f"{name} (s)" for name in names] + [f"{name} / npnet" for name in others
                                                                         if "npnet" in names]
    lines = []
    for value in dict.fromkeys(row["value"] for row in rows):
        times = {row["peer"]: row["median"] for row in rows if row["value"] == value}
        lines.append([f"{value:,}"] + [f"{times[name]:.4f}" for name in names]
                     + ([f"{times[name] / times['npnet']:.2f}x" for name in others] if "npnet" in times else []))
    return harness.markdown_table(headers, lines)


def compute_bound_table(timings: dict[str, harness.Timing]) -> str:
    headers = ["peer", "epoch median (s)", "epoch min (s)", "npnet / peer", "target"]
    npnet = timings.get("npnet")
    lines = [[name, f"{t.median:.3f}", f"{t.best:.3f}",
              f"{npnet.median / t.median:.2f}" if npnet else "-",
              f"<= {COMPUTE_BOUND_TARGET:g}" if name == "torch" else ""] for name, t in timings.items()]
    return harness.markdown_table(headers, lines)


def compute_bound_interleaved(config: Config, names: list[str], rounds: int, seed: int,
                              threads: int | None) -> tuple[str, list[str]]:
    """One epoch of ``config`` per peer, each timed fit in a fresh process, the peers in turn; a table and notes."""
    x, y = synthetic(config.rows, config.inputs, config.outputs, seed)
    work = peers.Workload(config.hidden, config.batch_size, epochs=1)
    runs: dict[str, list[dict]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as directory:
        data_path = Path(directory) / "compute_bound.npz"
        np.savez(data_path, x=x, y=y, x_test=x[:1000], y_test=y[:1000])
        for index in range(rounds):
            for name in names:
                runs[name].append(isolated.run(name, data_path, work, seed, threads, timed_fits=1))
                harness.progress(f"round {index + 1}: {name} {runs[name][-1]['fit_seconds'][0]:.3f} s")
    wall = {name: [run["fit_seconds"][0] for run in mine] for name, mine in runs.items()}
    cpu = {name: [run["fit_cpu_seconds"][0] for run in mine] for name, mine in runs.items()}
    npnet = statistics.median(wall["npnet"]) if "npnet" in wall else None
    npnet_cpu = statistics.median(cpu["npnet"]) if "npnet" in cpu else None
    lines = [[name, f"{statistics.median(wall[name]):.3f}", f"{min(wall[name]):.3f}",
              f"{npnet / statistics.median(wall[name]):.2f}" if npnet else "-",
              f"{statistics.median(cpu[name]):.3f}",
              f"{npnet_cpu / statistics.median(cpu[name]):.2f}" if npnet_cpu else "-",
              f"<= {COMPUTE_BOUND_TARGET:g}" if name == "torch" else ""] for name in names]
    table = harness.markdown_table(["peer", "epoch median (s)", "epoch min (s)", "npnet / peer",
                                    "epoch CPU median (s)", "npnet / peer (CPU)", "target"], lines)
    notes = [f"- Interleaved: {rounds} rounds; in each, every peer in turn runs in a fresh process one untimed "
             "warm-up epoch, then one timed epoch of a freshly built model (synthetic float32 data, shuffled, "
             "no validation). CPU time is the child's, all threads."]
    for name in names:
        notes += [f"- Threads: {note}" for note in runs[name][0]["notes"]]
        notes += [f"- Threads: {name} pool: {pool}" for pool in runs[name][0]["thread_pools"]]
    return table, notes


def plot(sweep_rows: list[list[dict]], path: str) -> None:
    """One log-log panel per sweep: median epoch seconds against the swept value, a line per peer."""
    plt = harness.pyplot()
    from matplotlib.ticker import NullFormatter
    figure, axes = plt.subplots(1, len(sweep_rows), figsize=(4.2 * len(sweep_rows), 3.8))
    for ax, rows in zip(np.atleast_1d(axes), sweep_rows):
        for name in dict.fromkeys(row["peer"] for row in rows):
            mine = [row for row in rows if row["peer"] == name]
            ax.plot([row["value"] for row in mine], [row["median"] for row in mine], marker="o", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        values = list(dict.fromkeys(row["value"] for row in rows))
        ax.set_xticks(values, [f"{value:,}" for value in values])   # the swept values, not powers of ten
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(rows[0]["sweep"])
        ax.set_ylabel("seconds per epoch")
        ax.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def describe(sweep: Sweep) -> str:
    first, last = Config(*sweep.config(sweep.values[0])), Config(*sweep.config(sweep.values[-1]))
    return f"{sweep.name} ({sweep.unit}): from {first} to {last}"


def main(argv: list[str] | None = None) -> None:
    parser = harness.common_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]), repeats=3)
    parser.add_argument("--peers", default="npnet,torch,sklearn")
    parser.add_argument("--keras", action="store_true", help="add Keras (slow: ~1 s of tracing per model)")
    parser.add_argument("--quick", action="store_true", help="smaller sweeps and compute-bound run")
    parser.add_argument("--compute-bound-only", action="store_true", help="skip the sweeps")
    parser.add_argument("--interleaved", action="store_true",
                        help="with --compute-bound-only: each timed fit in a fresh process, in turns")
    args = parser.parse_args(argv)
    bound = QUICK_COMPUTE_BOUND if args.quick else COMPUTE_BOUND
    if args.compute_bound_only and args.interleaved:
        table, notes = compute_bound_interleaved(bound, [name for name in ["floor", "npnet", "torch"]
                                                         if peers.PEERS[name].available()],
                                                 args.repeats, args.seed, args.threads)
        report = "\n\n".join([f"### Compute-bound: {bound}, one epoch\n\n{table}", "\n".join(notes),
                               harness.machine_report(pools=False)])
        harness.publish(args, "compute-bound", "Compute-bound epoch: npnet vs PyTorch", report)
        return
    chosen, notes = peers.get(args.peers.split(",") + (["keras"] if args.keras else []), args.threads)
    sweeps = [Sweep(s.name, s.unit, s.values[:3] if args.quick else s.values, s.config) for s in SWEEPS]
    sweep_rows = [] if args.compute_bound_only else [run_sweep(sweep, chosen, args.repeats, args.seed)
                                                       for sweep in sweeps]
    bound_peers = [peer for peer in chosen if peer.name in ("npnet", "torch", "keras")]
    bound_timings = time_config(bound, bound_peers, args.repeats, args.seed)
    sections = [f"### One epoch as {sweep.name} grows\n\n{sweep_table(rows)}" for sweep, rows in
                zip(sweeps, sweep_rows)]
    sections.append(f"### Compute-bound: {bound}, one epoch\n\n" + compute_bound_table(bound_timings))
    sections.append("\n".join(
        [f"- Median of {args.repeats} one-epoch fits after a warm-up, each on a freshly built model; "
         "synthetic float32 data, shuffled, no validation. peer / npnet > 1: npnet is faster.",
         *[f"- Sweep {describe(sweep)}" for sweep in sweeps],
         *[f"- Threads: {note}" for note in notes]]))
    report = "\n\n".join(sections + [harness.machine_report()])
    harness.publish(args, "scaling", "Scaling: one epoch as the problem grows", report,
                    lambda path: plot(sweep_rows, path))


if __name__ == "__main__":
    main()
