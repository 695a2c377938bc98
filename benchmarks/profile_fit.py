"""Where a peer's fit spends its time: cProfile of the tutorial fit, the top functions by own time.

    python -m benchmarks.profile_fit [--peer npnet] [--epochs 50] [--top 25]

The per-call figures divide by the number of training steps (22 per epoch
for the tutorial), so they read as microseconds per step. cProfile adds
overhead to every Python call, so totals run higher than the benchmarks'.
"""
from __future__ import annotations

import argparse
import cProfile
import math
import pstats

from benchmarks import peers, tutorial


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", default="npnet", choices=sorted(peers.PEERS))
    parser.add_argument("--epochs", type=int, default=tutorial.WORK.epochs)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    (peer,), _ = peers.get([args.peer], skip_missing=False)
    arrays = tutorial.tutorial_arrays()
    work = peers.Workload(tutorial.WORK.hidden, tutorial.WORK.batch_size, args.epochs,
                          tutorial.WORK.validation_split)
    peers.fit_runner(peer, arrays["x"], arrays["y"], work, args.seed)()()   # warm-up
    fit = peers.fit_runner(peer, arrays["x"], arrays["y"], work, args.seed)()
    profiler = cProfile.Profile()
    profiler.runcall(fit)
    steps = args.epochs * math.ceil(peers.split_index(len(arrays["x"]), work.validation_split) / work.batch_size)
    stats = pstats.Stats(profiler)
    print(f"{args.peer}: {stats.total_tt:.3f} s profiled for {steps} training steps "
          f"({stats.total_tt / steps * 1e6:.0f} us per step, validation included)\n")
    print("| function | calls per step | own us per step | own % |")
    print("|---|---|---|---|")
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:args.top]
    for (filename, line, name), (_, calls, own, _, _) in rows:
        where = f"{filename.rsplit('/', 2)[-1]}:{line} {name}" if line else name
        print(f"| {where} | {calls / steps:.1f} | {own / steps * 1e6:.1f} | {100 * own / stats.total_tt:.1f} |")


if __name__ == "__main__":
    main()
