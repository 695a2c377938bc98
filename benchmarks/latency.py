"""The latency of one training step: one batch of 250 tutorial rows through the tutorial's net.

Each peer's own single-batch entry point: npnet ``train_on_batch``, Keras
``train_on_batch``, one PyTorch eager step (forward, BCEWithLogitsLoss,
backward, Adam, ``loss.item()``), scikit-learn ``partial_fit`` on the batch.
Each repeat builds a fresh model and takes one untimed step (so Keras has
traced its function and every optimizer has its slots), then times
``--number`` consecutive steps; the table gives the median over repeats of
the mean step, in microseconds.

    python -m benchmarks.latency [--peers npnet,keras,torch,sklearn] [--repeats 5] [--number 200]
                                 [--png latency.png] [--write-results]
"""
from __future__ import annotations

import argparse

from benchmarks import harness, peers
from benchmarks.tutorial import tutorial_arrays
from npnet import tutorial


def run(chosen: list[peers.Peer], repeats: int = 5, number: int = 200, seed: int = 0) -> list[dict]:
    """Rows {peer, median_us, min_us, ratio}: per-step microseconds; ratio = peer / npnet."""
    arrays = tutorial_arrays()
    x, y = arrays["x"][:tutorial.BATCH_SIZE], arrays["y"][:tutorial.BATCH_SIZE]

    def runner(peer: peers.Peer):
        def prepare():
            model = peer.build(x.shape[1], tutorial.HIDDEN_UNITS, y.shape[1], seed)
            peer.train_step(model, x, y)
            return lambda: peer.train_step(model, x, y)
        return prepare

    rows = []
    for peer in chosen:
        timing = harness.measure(runner(peer), repeats, number=number)
        rows.append({"peer": peer.name, "median_us": timing.median * 1e6, "min_us": timing.best * 1e6})
    npnet_us = next((row["median_us"] for row in rows if row["peer"] == "npnet"), None)
    for row in rows:
        row["ratio"] = row["median_us"] / npnet_us if npnet_us else None
    return rows


def table(rows: list[dict]) -> str:
    lines = [[row["peer"], f"{row['median_us']:.0f}", f"{row['min_us']:.0f}",
              f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-"] for row in rows]
    return harness.markdown_table(["peer", "step median (us)", "step min (us)", "peer / npnet"], lines)


def plot(rows: list[dict], path: str) -> None:
    harness.log_bars([row["peer"] for row in rows], [row["median_us"] for row in rows], "us",
                     "one training step, batch 250, tutorial net (microseconds, log)", path)


def main(argv: list[str] | None = None) -> None:
    parser = harness.common_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]), repeats=5)
    parser.add_argument("--peers", default="npnet,keras,torch,sklearn")
    parser.add_argument("--number", type=int, default=200, help="steps timed per repeat")
    args = parser.parse_args(argv)
    chosen, notes = peers.get(args.peers.split(","), args.threads)
    rows = run(chosen, args.repeats, args.number, args.seed)
    report = "\n\n".join([table(rows), "\n".join(
        [f"- Median over {args.repeats} repeats (after a warm-up) of the mean of {args.number} consecutive "
         "steps on one fresh model each; the step includes each framework's per-call input handling.",
         "- sklearn's partial_fit re-validates its inputs on every call and is not meant as a step API.",
         *[f"- Threads: {note}" for note in notes]]), harness.machine_report()])
    harness.publish(args, "latency", "Latency of one training step", report, lambda path: plot(rows, path))


if __name__ == "__main__":
    main()
