"""One peer's training run in a fresh interpreter: its import time, its first fit, its peak memory.

The parent calls ``run(...)``; the child (``python -m benchmarks.isolated``)
imports the peer's framework first thing, under the clock, then loads the
data from an .npz file (so the npnet child never loads scikit-learn), trains
once and prints one JSON line. Peak memory is the child's peak resident set
(interpreter, libraries, data and model); see ``peak_rss_mb`` for why it is
not read from ``getrusage``.

This module imports only the standard library at module level, so that the
import clock starts from a clean interpreter.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.peers import Workload

# What importing each peer means: the module a user imports to train with it.
IMPORTS = {"npnet": "npnet", "keras": "keras", "sklearn": "sklearn.neural_network", "torch": "torch",
           "floor": "numpy"}
# Keras on TensorFlow, quiet (the values reference.keras_model sets), set before the child starts.
CHILD_ENVIRONMENT = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
REPOSITORY = Path(__file__).resolve().parent.parent


def run(peer: str, data_path: str | Path, work: Workload, seed: int, threads: int | None,
        timed_fits: int = 0) -> dict:
    """Train ``peer`` in a child interpreter on the arrays in ``data_path`` (x, y, x_test, y_test).

    Returns import_seconds, first_fit_seconds (cold: no warm-up), peak_rss_mb and
    first_fit_accuracy (test accuracy of that model: binary, or of the argmax for a softmax); with
    ``timed_fits``, also fit_seconds, fit_cpu_seconds and accuracies: that many more fits, each of a
    freshly built model, timed as ``harness.measure`` times them (the first fit was their warm-up).
    """
    if peer not in IMPORTS:
        raise ValueError(f"unknown peer {peer!r}; choose from {sorted(IMPORTS)}")
    command = [sys.executable, "-m", "benchmarks.isolated", "--peer", peer, "--data", str(data_path),
               "--hidden", ",".join(map(str, work.hidden)), "--batch-size", str(work.batch_size),
               "--epochs", str(work.epochs), "--validation-split", str(work.validation_split),
               "--head", work.head, "--seed", str(seed), "--timed-fits", str(timed_fits)] + (
                   ["--threads", str(threads)] if threads is not None else [])
    environment = {**os.environ, **CHILD_ENVIRONMENT,
                   "PYTHONPATH": os.pathsep.join([str(REPOSITORY), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, cwd=REPOSITORY, env=environment, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"the {peer} child failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB: VmHWM from /proc/self/status.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: on Linux that keeps the peak of
    the process image before ``execve``, so a child started from a large
    benchmark parent reports the parent's peak (measured: 412 MB for a bare
    interpreter whose parent held 400 MB; VmHWM said 11 MB). ru_maxrss is the
    fallback where /proc is missing.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024   # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, choices=sorted(IMPORTS))
    parser.add_argument("--data", required=True, help=".npz with x, y, x_test, y_test")
    parser.add_argument("--hidden", required=True, help="comma-separated units, e.g. 32,16,8")
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--validation-split", type=float, default=0.0)
    parser.add_argument("--head", choices=("sigmoid", "softmax"), default="sigmoid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--timed-fits", type=int, default=0, help="fits to time after the first one")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    importlib.import_module(IMPORTS[args.peer])
    import_seconds = time.perf_counter() - start

    import numpy as np
    from benchmarks import peers
    (peer,), notes = peers.get([args.peer], args.threads, skip_missing=False)
    with np.load(args.data, allow_pickle=False) as arrays:
        x, y, x_test, y_test = (arrays[key] for key in ("x", "y", "x_test", "y_test"))
    work = peers.Workload(tuple(int(u) for u in args.hidden.split(",")), args.batch_size, args.epochs,
                          args.validation_split, head=args.head)
    fit = peers.fit_runner(peer, x, y, work, args.seed)()   # builds the model
    start = time.perf_counter()
    model = fit()
    first_fit_seconds = time.perf_counter() - start
    accuracy = peers.accuracy(work.head, peer.predict(model, x_test), y_test)
    result = {"import_seconds": import_seconds, "first_fit_seconds": first_fit_seconds,
              "peak_rss_mb": peak_rss_mb(), "first_fit_accuracy": accuracy}
    if args.timed_fits:
        from benchmarks import harness
        timing = harness.measure(peers.fit_runner(peer, x, y, work, args.seed), args.timed_fits, warmup=0)
        result.update(fit_seconds=timing.seconds, fit_cpu_seconds=timing.cpu_seconds,
                      accuracies=[peers.accuracy(work.head, peer.predict(m, x_test), y_test) for m in timing.results],
                      thread_pools=harness.blas_report(), notes=notes)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
