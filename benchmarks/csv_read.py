"""Reading a CSV: npnet's ``load_table`` against ``pandas.read_csv`` and npnet's old hand-written reader.

A generated CSV of ``--megabytes`` (default 200) is read by each reader in a
fresh interpreter; the child times the read call alone (its imports happen
before the clock), in wall time and in CPU time (user + system, from
``getrusage``), and reports its peak resident memory (VmHWM,
``isolated.peak_rss_mb``). The runs are interleaved (npnet, pandas, old,
npnet, ...), so a load from other processes on the machine falls on every
reader alike; the table gives medians over ``--repeats`` rounds, and each
ratio is the median over rounds of a reader's figure over that round's
pandas figure. All three readers run on one thread; on a loaded machine the
wall time mostly measures the wait for a core, and CPU time is what the read
costs without that wait.

- npnet: ``npnet.datasets.load_table(path, label_prefix="label_")``, features and labels as float64
  arrays, every cell checked (pandas's C parser underneath).
- pandas: ``pandas.read_csv(path)``, default arguments: a DataFrame, no checks.
- old: ``load_table`` as of commit ee206b5, the last with the ``csv``-module reader, taken from git
  (left out with a note where git or that commit is missing).

    python -m benchmarks.csv_read [--megabytes 200] [--repeats 5] [--readers npnet,pandas,old]
                                  [--file PATH] [--write-results]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import harness, isolated

OLD_READER_COMMIT = "ee206b5807af4da96136662257216f76e2865e16"
READERS = ("npnet", "pandas", "old")
N_FEATURES, N_LABELS = 20, 5
TARGET = 1.5   # issue 11: npnet's reader within 1.5x of pandas.read_csv in time and in peak memory
HEADERS = ["reader", "wall median (s)", "CPU median (s)", "peak RSS median (MB)", "wall / pandas", "CPU / pandas",
           "memory / pandas", "rows x columns"]
MEASURES = ("wall", "cpu", "peak_rss_mb")


def write_csv(path: str | Path, megabytes: float, seed: int = 0) -> Path:
    """A CSV of about ``megabytes`` MB: N_FEATURES normal features with 6 decimals, N_LABELS 0/1 labels.

    Written with pandas in chunks (at most 50,000 rows) until the file reaches the size.
    """
    import numpy as np
    import pandas as pd
    path = Path(path)
    rng = np.random.default_rng(seed)
    columns = [f"f{i}" for i in range(N_FEATURES)] + [f"label_{k}" for k in range(N_LABELS)]
    rows = min(50_000, max(10, int(megabytes * 1e6 / 200 / 20)))   # ~20 chunks: the size overshoots by <5%
    with open(path, "w", newline="") as handle:
        header = True
        while header or handle.tell() < megabytes * 1e6:
            x = rng.normal(size=(rows, N_FEATURES))
            y = (x[:, :N_LABELS] + rng.normal(size=(rows, N_LABELS)) > 0).astype(np.int8)
            frame = pd.concat([pd.DataFrame(x), pd.DataFrame(y)], axis=1)
            frame.to_csv(handle, header=columns if header else False, index=False, float_format="%.6f")
            header = False
    return path


def old_reader_source() -> str | None:
    """``npnet/datasets.py`` at OLD_READER_COMMIT, from git; None where git or the commit is missing."""
    try:
        done = subprocess.run(["git", "show", f"{OLD_READER_COMMIT}:npnet/datasets.py"], cwd=isolated.REPOSITORY,
                              capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def run_child(reader: str, csv_path: Path, old_module: Path | None) -> dict:
    """One read by ``reader`` in a fresh interpreter: wall and cpu seconds, peak_rss_mb, shape."""
    command = [sys.executable, "-m", "benchmarks.csv_read", "--child", reader, "--file", str(csv_path)]
    if reader == "old":
        command += ["--old-module", str(old_module)]
    environment = {**os.environ,
                   "PYTHONPATH": os.pathsep.join([str(isolated.REPOSITORY), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, cwd=isolated.REPOSITORY, env=environment, capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise RuntimeError(f"the {reader} child failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(readers: list[str], csv_path: Path, repeats: int) -> tuple[list[dict], list[str]]:
    """Interleaved rounds of one fresh-process read per reader; one row per reader with medians, and notes."""
    unknown = sorted(set(readers) - set(READERS))
    if unknown:
        raise ValueError(f"unknown reader {unknown[0]!r}; choose from {', '.join(READERS)}")
    notes = []
    with tempfile.TemporaryDirectory() as directory:
        old_module = None
        if "old" in readers:
            source = old_reader_source()
            if source is None:
                readers = [reader for reader in readers if reader != "old"]
                notes.append(f"old: commit {OLD_READER_COMMIT[:7]} not found by git, left out")
            else:
                old_module = Path(directory) / "old_datasets.py"
                old_module.write_text(source)
        runs = {reader: [] for reader in readers}
        for index in range(repeats):
            for reader in readers:
                result = run_child(reader, csv_path, old_module)
                runs[reader].append(result)
                harness.progress(f"round {index + 1}/{repeats} {reader}: wall {result['wall']:.2f} s, "
                                 f"CPU {result['cpu']:.2f} s, {result['peak_rss_mb']:.0f} MB")
    rows = []
    for reader, results in runs.items():
        row = {"reader": reader, "shape": results[0]["shape"]}
        for measure in MEASURES:
            row[measure] = statistics.median(result[measure] for result in results)
            # Against the same round's pandas read: the load both met cancels.
            row[f"{measure}_ratio"] = statistics.median(
                ours[measure] / theirs[measure] for ours, theirs in zip(results, runs["pandas"])) \
                if "pandas" in runs else None
        rows.append(row)
    return rows, notes


def table(rows: list[dict]) -> str:
    def ratio(value):
        return "-" if value is None else f"{value:.2f}x"
    return harness.markdown_table(HEADERS, [
        [row["reader"], f"{row['wall']:.2f}", f"{row['cpu']:.2f}", f"{row['peak_rss_mb']:.0f}",
         *(ratio(row[f"{measure}_ratio"]) for measure in MEASURES), " x ".join(map(str, row["shape"]))]
        for row in rows])


def verdict(rows: list[dict]) -> str:
    """Whether npnet's reader is within TARGET of pandas.read_csv in time and in memory."""
    npnet_row = next((row for row in rows if row["reader"] == "npnet"), None)
    if npnet_row is None or npnet_row["cpu_ratio"] is None:
        return "- Target (npnet within 1.5x of pandas.read_csv): not measured (needs both readers)."
    ratios = [npnet_row[f"{measure}_ratio"] for measure in MEASURES]
    met = all(ratio <= TARGET for ratio in ratios)
    return (f"- Target, npnet within {TARGET}x of pandas.read_csv in time and peak memory: wall "
            f"{ratios[0]:.2f}x, CPU {ratios[1]:.2f}x, memory {ratios[2]:.2f}x: {'met' if met else 'NOT met'}.")


def notes_text(csv_path: Path, repeats: int, notes: list[str]) -> str:
    size = csv_path.stat().st_size / 1e6
    return "\n".join([
        f"- File: {size:.0f} MB, {N_FEATURES} features written with 6 decimals (`%.6f`) and {N_LABELS} 0/1 labels; "
        f"pandas {harness.versions(['pandas'])['pandas']}.",
        f"- Each figure is the median of {repeats} reads, each in a fresh interpreter, interleaved by reader; "
        "times are the read call alone, peak RSS the child's VmHWM (interpreter, libraries and result "
        "included: the old reader's child does not import pandas, about 40 MB less). Ratios: the median over "
        "rounds of the reader's figure over the same round's pandas.read_csv.",
        "- The machine is shared with other jobs (load average in the last bullet below), so wall times vary "
        "from round to round and mostly measure the wait for a core; CPU time (user + system) is the cost "
        "of the read itself, without that wait (every reader runs on one thread).",
        *[f"- {note}" for note in notes]])


# -- the child ---------------------------------------------------------------------------------

def child(reader: str, csv_path: str, old_module: str | None) -> None:
    """Import the reader, then time one read of ``csv_path``; print one JSON line."""
    import resource

    import numpy as np
    if reader == "old":
        import importlib.util
        spec = importlib.util.spec_from_file_location("old_datasets", old_module)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

        def read():
            return module.load_table(csv_path, label_prefix="label_")
    elif reader == "npnet":
        import pandas  # noqa: F401 -- imported before the clock, as in the pandas child
        from npnet import datasets

        def read():
            return datasets.load_table(csv_path, label_prefix="label_")
    else:
        import pandas

        def read():
            return pandas.read_csv(csv_path)
    def cpu_seconds():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    cpu, start = cpu_seconds(), time.perf_counter()
    result = read()
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    shape = result.shape if reader == "pandas" else (len(result.x), result.x.shape[1] + result.y.shape[1])
    assert np.isfinite(np.asarray(result.x if reader != "pandas" else result.to_numpy())).all()
    print(json.dumps({"wall": wall, "cpu": cpu, "peak_rss_mb": isolated.peak_rss_mb(), "shape": list(shape)}))


def main(argv: list[str] | None = None) -> None:
    parser = harness.common_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]), repeats=5)
    parser.add_argument("--megabytes", type=float, default=200.0, help="size of the generated CSV")
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--file", default=None,
                        help="the CSV to read (written first if missing; default: a file in the temp directory)")
    parser.add_argument("--child", choices=READERS, help=argparse.SUPPRESS)
    parser.add_argument("--old-module", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.file, args.old_module)
        return
    csv_path = Path(args.file or Path(tempfile.gettempdir()) / f"npnet-csv-{args.megabytes:g}MB-{args.seed}.csv")
    if not csv_path.exists():
        harness.progress(f"writing {csv_path} ...")
        write_csv(csv_path, args.megabytes, args.seed)
    rows, notes = run(args.readers.split(","), csv_path, args.repeats)
    report = "\n\n".join([table(rows), verdict(rows) + "\n" + notes_text(csv_path, args.repeats, notes),
                          harness.machine_report()])
    harness.publish(args, "csv_read", "Reading a CSV: npnet vs pandas.read_csv vs the old reader", report)


if __name__ == "__main__":
    main()
