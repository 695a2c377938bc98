"""The digits softmax fit, timed with the tutorial's protocol: npnet against Keras 3, scikit-learn and PyTorch.

Each peer trains a 64-32-10 network (ReLU, a softmax over the ten digits,
categorical crossentropy, Adam lr 1e-3) for 30 epochs in batches of 32 on
1,198 of scikit-learn's 8x8 digits (pixels / 16) with validation_split 0.2
(958 rows trained on, 240 evaluated after every epoch), float32, shuffled;
the clock covers the whole ``fit`` call on a freshly built model, and every
row reports the accuracy on the 599 held-out test digits. Then each peer
trains once more in a fresh interpreter for its import time and peak memory.
benchmarks/tutorial.py describes the protocol; this script changes the
workload and the head only.

    python -m benchmarks.digits [--peers npnet,keras,sklearn,torch] [--repeats 9] [--epochs 30]
                                [--threads N] [--png digits.png] [--write-results]
"""
from __future__ import annotations

import numpy as np

from benchmarks import harness, peers, tutorial
from reference import tasks

WORK = peers.Workload(hidden=(32,), batch_size=32, epochs=30, validation_split=0.2, head="softmax")
HEADERS = [*tutorial.HEADERS[:5], "test accuracy", *tutorial.HEADERS[6:]]
ACCURACY_NOTE = ("Test accuracy: the share of the 599 test digits whose most probable class is the true one, "
                 "averaged over the timed runs.")


def digits_arrays() -> dict[str, np.ndarray]:
    """reference.tasks' digits split as float32 (N, 64) inputs and one-hot (N, 10) targets for every peer."""
    data = tasks.digits_data()
    one_hot = np.eye(10, dtype=np.float32)
    return {"x": data.x_train.astype(np.float32), "y": one_hot[data.y_train],
            "x_test": data.x_test.astype(np.float32), "y_test": one_hot[data.y_test]}


def main(argv: list[str] | None = None) -> None:
    args, work = tutorial.parse(argv, __doc__.splitlines()[0], WORK)
    arrays = digits_arrays()
    rows, notes = tutorial.run(args.peers.split(","), arrays, work, args.repeats, args.seed, args.threads,
                               fresh_process=not args.no_fresh_process)
    notes_text = tutorial.notes_text(work, args.repeats, notes, len(arrays["x"]), ACCURACY_NOTE)
    report = "\n\n".join([tutorial.table(rows, targets={}, headers=HEADERS), notes_text, harness.machine_report()])
    harness.publish(args, "digits", "Digits softmax fit: npnet vs Keras, scikit-learn, PyTorch", report,
                    lambda path: harness.log_bars([row["peer"] for row in rows], [row["median"] for row in rows],
                                                  "s", "fit time, digits (30 epochs), seconds (log)", path))


if __name__ == "__main__":
    main()
