"""What every benchmark script shares: the clock, the machine report, tables, RESULTS.md.

One timing loop (``measure``) serves all scripts: an untimed ``prepare``
builds a fresh subject (a new model, so no run trains on from the last),
then its ``run`` is timed ``number`` times with ``time.perf_counter``, and
its CPU time with ``time.process_time`` (on a machine that others share, a
single-threaded run's CPU time is the steadier measure: waiting for a core
is not in it); one warm-up repeat first is thrown away (imports, caches,
TensorFlow's tracing machinery). Garbage is collected before each repeat,
outside the clock.
"""
from __future__ import annotations

import argparse
import gc
import importlib.metadata
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Generic, NamedTuple, Sequence, TypeVar

T = TypeVar("T")
RESULTS_PATH = Path(__file__).with_name("RESULTS.md")


class Timing(NamedTuple, Generic[T]):
    seconds: list[float]   # one per repeat: the wall time of one call of ``run`` (mean over ``number``)
    results: list[T]       # one per repeat: what the last call of ``run`` returned
    cpu_seconds: list[float] = []   # one per repeat: this process's CPU time (all its threads), as ``seconds``

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)


def measure(prepare: Callable[[], Callable[[], T]], repeats: int, warmup: int = 1, number: int = 1) -> Timing[T]:
    """Time ``run = prepare()`` (untimed) called ``number`` times, ``repeats`` times after ``warmup`` throw-aways."""
    if repeats < 1 or warmup < 0 or number < 1:
        raise ValueError(f"need repeats >= 1, warmup >= 0, number >= 1; got {repeats}, {warmup}, {number}")
    seconds, results, cpu_seconds = [], [], []
    for index in range(warmup + repeats):
        run = prepare()
        gc.collect()
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(number):
            result = run()
        elapsed, cpu = (time.perf_counter() - start) / number, (time.process_time() - cpu_start) / number
        if index >= warmup:
            seconds.append(elapsed)
            cpu_seconds.append(cpu)
            results.append(result)
    return Timing(seconds, results, cpu_seconds)


# -- the machine ------------------------------------------------------------------------------

def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform's guess elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE)
    simd = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if flags and f in flags.group(1).split()]
    return (match.group(1).strip() if match else "unknown") + (f" ({', '.join(simd)})" if simd else "")


def versions(packages: Sequence[str]) -> dict[str, str]:
    """Installed versions from package metadata (nothing is imported); "absent" if not installed."""
    found = {}
    for name in packages:
        found[name] = "absent"
        for distribution in (name, f"{name}-cpu"):   # TensorFlow's CPU build is "tensorflow-cpu"
            try:
                found[name] = importlib.metadata.version(distribution)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return found


def blas_report() -> list[str]:
    """One line per thread pool loaded in this process (call it after the peers ran, so theirs are loaded)."""
    from threadpoolctl import threadpool_info
    lines = []
    for pool in threadpool_info():
        library = Path(pool["filepath"]).name
        lines.append(f"{pool['internal_api']} {pool.get('version') or ''} {pool.get('architecture') or ''} "
                     f"num_threads={pool['num_threads']} ({library})".replace("  ", " "))
    return lines


def machine_report(pools: bool = True) -> str:
    """Markdown bullets: CPU, cores, load, thread settings, BLAS kernels (this process's, if ``pools``), versions."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                      "OPENBLAS_CORETYPE") if k in os.environ}
    lines = [f"- CPU: {cpu_model()}; {os.cpu_count()} logical cores, {len(os.sched_getaffinity(0))} usable",
             f"- load average (1, 5, 15 min) at the end: {load}",
             f"- thread environment: {env or 'none set (library defaults)'}"]
    lines += [f"- thread pool: {line}" for line in blas_report()] if pools else []
    packages = versions(["numpy", "scikit-learn", "tensorflow", "keras", "torch", "threadpoolctl"])
    lines.append(f"- Python {platform.python_version()}; " + ", ".join(f"{k} {v}" for k, v in packages.items()))
    return "\n".join(lines)


# -- output -----------------------------------------------------------------------------------

def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats are expected already formatted by the caller."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, body: str, path: Path = RESULTS_PATH) -> None:
    """Put ``body`` between this section's markers in RESULTS.md, replacing an earlier run's, else appending."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# npnet benchmarks\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def progress(message: str) -> None:
    """A line on stderr while a long run goes on (stdout carries only the report)."""
    print(message, file=sys.stderr, flush=True)


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (imported only when a PNG is asked for)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def log_bars(labels: Sequence[str], values: Sequence[float], unit: str, xlabel: str, path: str) -> None:
    """A PNG of horizontal bars on a log axis, each labelled with its value and ``unit``."""
    plt = pyplot()
    from matplotlib.ticker import NullFormatter
    figure, axes = plt.subplots(figsize=(7, 0.6 * len(values) + 1.5))
    axes.barh(labels, values, color="tab:blue")
    for index, value in enumerate(values):
        axes.text(value, index, f" {value:.3g} {unit}" if value < 1000 else f" {value:,.0f} {unit}", va="center")
    axes.set_xscale("log")
    axes.set_xlim(min(values) / 2, max(values) * 4)
    axes.xaxis.set_minor_formatter(NullFormatter())   # minor tick labels collide on short log ranges
    axes.invert_yaxis()
    axes.set_xlabel(xlabel)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_results(script: str, title: str, report: str, threads: int | None) -> None:
    """Write ``report`` as the script's RESULTS.md section; a --threads run gets a section of its own."""
    if threads is None:
        write_section(script, f"## {title}\n\n{report}")
    else:
        write_section(f"{script}-threads-{threads}", f"## {title} (--threads {threads})\n\n{report}")


def publish(args: argparse.Namespace, script: str, title: str, report: str,
            draw: Callable[[str], None] | None = None) -> None:
    """Print ``report``; with --png, ``draw(path)`` the chart; with --write-results, write its RESULTS.md section."""
    print(report)
    if args.png and draw is not None:
        draw(args.png)
    if args.write_results:
        write_results(script, title, report, args.threads)


def common_arguments(parser: argparse.ArgumentParser, repeats: int) -> argparse.ArgumentParser:
    """The options every script takes."""
    parser.add_argument("--repeats", type=int, default=repeats, help="timed repeats after one warm-up")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every library (default: each library's own default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--png", default=None, help="also write a chart to this path")
    parser.add_argument("--write-results", action="store_true", help="write this run's section of RESULTS.md")
    return parser
