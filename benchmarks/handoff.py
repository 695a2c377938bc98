"""How long one hand-off to another Python thread takes: the cost of splitting NumPy work across threads.

    python -m benchmarks.handoff [--repeats 5] [--round-trips 2000] [--write-results]

A split elementwise call (benchmarks/split_threads.py) hands a block to a
worker thread and waits for it: one round trip, main -> worker -> main. This
times round trips in which the worker does nothing, by four mechanisms that
pure Python offers, each the median over ``--round-trips`` round trips, then
the median over the repeats:

- ``queue.SimpleQueue``: put a task, get the answer (what split_threads uses);
- two ``threading.Lock``s as binary semaphores (a futex each way);
- ``threading.Event``: set, wait, clear (a condition variable each way);
- polling: both threads spin on a list element, each turn of the loop giving
  up the GIL with ``time.sleep(0)`` (no sleeping thread to wake, but the GIL
  changes hands through its own condition variable every turn).

With NumPy's elementwise work interleaved with the products that need both
cores, a step of the compute-bound problem has about 8 elementwise phases
(3 ReLUs, the masks, 3 mask products, Adam), each a hand-off of its own.
"""
from __future__ import annotations

import argparse
import queue
import statistics
import sys
import threading
import time

from benchmarks import harness


def _timed(round_trip, count: int) -> float:
    """Median seconds of ``round_trip()`` over ``count`` calls, after 100 untimed ones."""
    for _ in range(100):
        round_trip()
    seconds, clock = [], time.perf_counter
    for _ in range(count):
        start = clock()
        round_trip()
        seconds.append(clock() - start)
    return statistics.median(seconds)


def simple_queue(count: int) -> float:
    tasks, answers = queue.SimpleQueue(), queue.SimpleQueue()

    def work():
        while tasks.get() is not None:
            answers.put(True)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        return _timed(lambda: (tasks.put(True), answers.get()), count)
    finally:
        tasks.put(None)
        worker.join()


def locks(count: int) -> float:
    go, done, stop = threading.Lock(), threading.Lock(), [False]
    go.acquire()
    done.acquire()

    def work():
        while True:
            go.acquire()
            if stop[0]:
                return
            done.release()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        return _timed(lambda: (go.release(), done.acquire()), count)
    finally:
        stop[0] = True
        go.release()
        worker.join()


def events(count: int) -> float:
    go, done, stop = threading.Event(), threading.Event(), [False]

    def work():
        while True:
            go.wait()
            go.clear()
            if stop[0]:
                return
            done.set()

    def round_trip():
        go.set()
        done.wait()
        done.clear()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        return _timed(round_trip, count)
    finally:
        stop[0] = True
        go.set()
        worker.join()


def polling(count: int) -> float:
    flags = [0, 0]   # [tasks handed, tasks done]; -1 stops the worker
    sleep = time.sleep

    def work():
        seen = 0
        while True:
            while flags[0] == seen:
                sleep(0)
            if flags[0] < 0:
                return
            seen = flags[0]
            flags[1] = seen

    def round_trip():
        flags[0] += 1
        while flags[1] != flags[0]:
            sleep(0)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        return _timed(round_trip, count)
    finally:
        flags[0] = -1
        worker.join()


MECHANISMS = {"queue.SimpleQueue": simple_queue, "threading.Lock pair": locks, "threading.Event pair": events,
              "polling with time.sleep(0)": polling}


def main(argv: list[str] | None = None) -> None:
    parser = harness.common_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]), repeats=5)
    parser.add_argument("--round-trips", type=int, default=2000)
    args = parser.parse_args(argv)
    rows = []
    for name, mechanism in MECHANISMS.items():
        medians = [mechanism(args.round_trips) for _ in range(args.repeats)]
        rows.append([name, f"{statistics.median(medians) * 1e6:.1f}", f"{min(medians) * 1e6:.1f}"])
    report = "\n".join([harness.markdown_table(["hand-off", "round trip, median (us)", "best repeat (us)"], rows),
                        "", f"- Each repeat: the median of {args.round_trips} round trips (an idle worker, "
                            f"Python {'.'.join(map(str, sys.version_info[:3]))}); "
                            f"{args.repeats} repeats.", "", harness.machine_report(pools=False)])
    harness.publish(args, "handoff", "Hand-off to another thread: one round trip", report)


if __name__ == "__main__":
    main()
