"""The tutorial's training run, timed: npnet against Keras 3, scikit-learn and PyTorch.

Each peer trains the tutorial's 6-32-16-8-3 network (ReLU, sigmoid outputs,
binary crossentropy, Adam lr 1e-3) for 50 epochs in batches of 250 on the
tutorial's 6,700 training rows with validation_split 0.2 (5,360 rows trained
on, 1,340 evaluated after every epoch), float32, shuffled. The clock covers
the whole ``fit`` call on a freshly built model. Every row also reports the
binary accuracy on the tutorial's 3,300 test rows, so no peer is fast by
doing less. Then each peer trains once more in a fresh interpreter for its
import time and peak memory (benchmarks/isolated.py).

    python -m benchmarks.tutorial [--peers floor,npnet,keras,sklearn,torch] [--repeats 9] [--interleaved]
                                  [--epochs 50] [--threads N] [--png tutorial.png] [--write-results]

With ``--interleaved`` every timed fit runs in a fresh process of its own
(after one untimed warm-up fit there), the peers taking turns round by round:
on a machine others share, a slow minute then slows every peer's round alike,
and the medians of the rounds compare. Without it, each peer's repeats run
back to back in this process.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import harness, isolated, peers
from npnet import tutorial

WORK = peers.Workload(hidden=tutorial.HIDDEN_UNITS, batch_size=tutorial.BATCH_SIZE, epochs=tutorial.N_EPOCHS,
                      validation_split=tutorial.VALIDATION_SPLIT)
# How many times faster than each peer npnet's fit must be (issue 16).
TARGETS = {"keras": 40.0, "sklearn": 5.0, "torch": 11.0}
HEADERS = ["peer", "fit median (s)", "fit min (s)", "peer / npnet", "target", "test binary acc",
           "import (s)", "first fit, fresh process (s)", "peak RSS (MB)"]


def tutorial_arrays() -> dict[str, np.ndarray]:
    """The tutorial's train and test splits as float32 (N, 6) inputs and (N, 3) targets for every peer."""
    data = tutorial.tutorial_data()
    return {"x": data.x_train.astype(np.float32), "y": data.y_train.astype(np.float32),
            "x_test": data.x_test.astype(np.float32), "y_test": data.y_test.astype(np.float32)}


def run_interleaved(peer_names: list[str], arrays: dict[str, np.ndarray], work: peers.Workload = WORK,
                    repeats: int = 5, seed: int = 0, threads: int | None = None) -> tuple[list[dict], list[str]]:
    """As ``run``, but each timed fit in a fresh process, the peers in turn for ``repeats`` rounds.

    Medians over the rounds for every column; notes name each child's thread
    settings and the BLAS/OpenMP pools (with their kernels) that were loaded in it.
    """
    chosen = [peers.PEERS[name] for name in peer_names if peers.PEERS[name].available()]
    notes = [f"{name}: not installed, left out" for name in peer_names if not peers.PEERS[name].available()]
    runs: dict[str, list[dict]] = {peer.name: [] for peer in chosen}
    with tempfile.TemporaryDirectory() as directory:
        data_path = Path(directory) / "tutorial.npz"
        np.savez(data_path, **arrays)
        for round_index in range(repeats):
            for peer in chosen:
                runs[peer.name].append(isolated.run(peer.name, data_path, work, seed, threads, timed_fits=1))
                harness.progress(f"round {round_index + 1}: {peer.name} {runs[peer.name][-1]['fit_seconds'][0]:.3f} s")
    rows = []
    for peer in chosen:
        mine = runs[peer.name]
        seconds, cpu = [run["fit_seconds"][0] for run in mine], [run["fit_cpu_seconds"][0] for run in mine]
        rows.append({"peer": peer.name, "median": statistics.median(seconds), "min": min(seconds),
                     "cpu_median": statistics.median(cpu),
                     "accuracy": statistics.mean(a for run in mine for a in run["accuracies"]),
                     "validates": peer.validates,
                     **{key: statistics.median(run[key] for run in mine)
                        for key in ("import_seconds", "first_fit_seconds", "peak_rss_mb")}})
        notes += mine[0]["notes"] + [f"{peer.name} pool: {pool}" for pool in mine[0]["thread_pools"]]
    _add_ratios(rows)
    return rows, notes


def _add_ratios(rows: list[dict]) -> None:
    npnet_row = next((row for row in rows if row["peer"] == "npnet"), None)
    for row in rows:
        row["ratio"] = row["median"] / npnet_row["median"] if npnet_row else None
        if "cpu_median" in row and npnet_row:
            row["cpu_ratio"] = row["cpu_median"] / npnet_row["cpu_median"]


def run(peer_names: list[str], arrays: dict[str, np.ndarray], work: peers.Workload = WORK, repeats: int = 5,
        seed: int = 0, threads: int | None = None,
        fresh_process: bool = True) -> tuple[list[dict], list[str]]:
    """Time every available peer on ``arrays`` (``tutorial_arrays()``).

    Returns one row per peer (a dict: peer, median, min, ratio, accuracy,
    validates, and with ``fresh_process`` the keys of ``isolated.run``) and
    notes on the thread settings.
    """
    chosen, notes = peers.get(peer_names, threads)
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        data_path = Path(directory) / "tutorial.npz"
        np.savez(data_path, **arrays)
        for peer in chosen:
            timing = harness.measure(peers.fit_runner(peer, arrays["x"], arrays["y"], work, seed), repeats)
            accuracy = statistics.mean(peers.accuracy(work.head, peer.predict(model, arrays["x_test"]),
                                                      arrays["y_test"]) for model in timing.results)
            row = {"peer": peer.name, "median": timing.median, "min": timing.best, "accuracy": accuracy,
                   "validates": peer.validates}
            harness.progress(f"{peer.name}: fit median {timing.median:.3f} s")
            if fresh_process:
                row.update(isolated.run(peer.name, data_path, work, seed, threads))
            rows.append(row)
    _add_ratios(rows)
    return rows, notes


def table(rows: list[dict], targets: dict[str, float] = TARGETS, headers: list[str] = HEADERS) -> str:
    """The markdown table: one line per peer; ratios are the peer's median over npnet's.

    Rows from ``run_interleaved`` also carry the CPU time and its ratio (two more columns).
    """
    def cell(row, key, form):
        return form.format(row[key]) if row.get(key) is not None else "-"
    cpu = any("cpu_median" in row for row in rows)
    lines = []
    for row in rows:
        target = targets.get(row["peer"])
        lines.append([row["peer"] + ("" if row["validates"] else " *"), cell(row, "median", "{:.3f}"),
                      cell(row, "min", "{:.3f}"), cell(row, "ratio", "{:.2f}x")]
                     + ([cell(row, "cpu_median", "{:.3f}"), cell(row, "cpu_ratio", "{:.2f}x")] if cpu else [])
                     + [f">= {target:g}x" if target else "", cell(row, "accuracy", "{:.4f}"),
                        cell(row, "import_seconds", "{:.2f}"), cell(row, "first_fit_seconds", "{:.3f}"),
                        cell(row, "peak_rss_mb", "{:.0f}")])
    headers = list(headers[:4]) + (["fit CPU median (s)", "peer / npnet (CPU)"] if cpu else []) + list(headers[4:])
    return harness.markdown_table(headers, lines)


BINARY_ACCURACY_NOTE = ("Test binary accuracy: mean over the tutorial's 3,300 test rows x 3 labels of "
                        "(p > 0.5) == y, averaged over the timed runs.")


def notes_text(work: peers.Workload, repeats: int, notes: list[str], n_rows: int,
               accuracy_note: str = BINARY_ACCURACY_NOTE, interleaved: bool = False) -> str:
    """What the table measured and how, as markdown bullets."""
    split = peers.split_index(n_rows, work.validation_split)
    how = (f"- Interleaved: {repeats} rounds; in each, every peer in turn runs in a fresh process one untimed "
           "warm-up fit, then one timed fit of a freshly built model. All columns are medians over the rounds.")
    return "\n".join([how] * interleaved + [
        f"- Workload: {work.epochs} epochs, batch {work.batch_size}, {split} training rows, validation_split "
        f"{work.validation_split}, hidden {work.hidden}, Adam lr {peers.LEARNING_RATE}, eps {peers.EPSILON}, float32.",
        ("- Fit times: median and min over the rounds of the wall time, and the median of the fit's CPU time "
         "(the child process's, all threads: for a run on several threads it adds up, so compare it only "
         "single-threaded)" if interleaved else
         f"- Fit times: median and min of {repeats} runs after one warm-up run")
        + "; each run builds a fresh model outside the clock and times the whole fit call (Keras's includes "
          "tracing its train and test functions, as every new model's first fit does).",
        "- \\* scikit-learn's MLPClassifier has no per-epoch validation pass: it trains on the same "
        f"{split} rows and skips the evaluation of the other {n_rows - split} after each "
        "epoch that the others do.",
        "- peer / npnet: the peer's median fit time over npnet's (> 1: npnet is faster); "
        "target: what npnet must reach.",
        f"- {accuracy_note}",
        "- Fresh process: import time of the framework from a clean interpreter, its first fit there, and the "
        "child's peak resident memory (interpreter + libraries + data + model).",
        *[f"- Threads: {note}" for note in notes]])


def plot(rows: list[dict], path: str) -> None:
    """Bars of the median fit time per peer, log scale."""
    harness.log_bars([row["peer"] for row in rows], [row["median"] for row in rows], "s",
                     "fit time, tutorial (50 epochs), seconds (log)", path)


def parse(argv: list[str] | None, description: str, work: peers.Workload,
          default_peers: str = "npnet,keras,sklearn,torch") -> tuple[argparse.Namespace, peers.Workload]:
    """The options of a fit benchmark (this one, benchmarks.digits) and its workload with ``--epochs`` applied."""
    # 9 rounds: on the shared 2-core machines of benchmarks/RESULTS.md the median of 5 rounds of a fit this
    # short (60-100 ms) moved by up to 1.8x from one run to the next
    parser = harness.common_arguments(argparse.ArgumentParser(description=description), repeats=9)
    parser.add_argument("--peers", default=default_peers)
    parser.add_argument("--interleaved", action="store_true", help="each timed fit in a fresh process, in turns")
    parser.add_argument("--epochs", type=int, default=work.epochs)
    parser.add_argument("--no-fresh-process", action="store_true", help="skip the import/memory columns")
    args = parser.parse_args(argv)
    return args, dataclasses.replace(work, epochs=args.epochs)


def main(argv: list[str] | None = None) -> None:
    args, work = parse(argv, __doc__.splitlines()[0], WORK, default_peers="floor,npnet,keras,sklearn,torch")
    arrays = tutorial_arrays()
    if args.interleaved:
        rows, notes = run_interleaved(args.peers.split(","), arrays, work, args.repeats, args.seed, args.threads)
    else:
        rows, notes = run(args.peers.split(","), arrays, work, args.repeats, args.seed, args.threads,
                          fresh_process=not args.no_fresh_process)
    report = "\n\n".join([table(rows), notes_text(work, args.repeats, notes, len(arrays["x"]),
                                                  interleaved=args.interleaved),
                           harness.machine_report(pools=not args.interleaved)])
    harness.publish(args, "tutorial", "Tutorial fit: npnet vs Keras, scikit-learn, PyTorch", report,
                    lambda path: plot(rows, path))


if __name__ == "__main__":
    main()
