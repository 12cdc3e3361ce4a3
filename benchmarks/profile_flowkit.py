"""Profile flowkit on the benchmark's workloads with cProfile, worker threads included.

    python benchmarks/profile_flowkit.py A-seq            # chain of 10,000, sequential
    python benchmarks/profile_flowkit.py A-threads -n 1000
    python benchmarks/profile_flowkit.py B-threads --sort cumulative --top 40
    python benchmarks/profile_flowkit.py D --dump /tmp/d.prof   # for snakeviz & co.

cProfile only sees the thread that enables it, so every ``threading.Thread`` started while
profiling gets a profiler of its own, merged into one report at the end. Profiling inflates
cheap calls more than expensive ones: use it to see *where* the time goes, and
``run.py`` for *how much* there is.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # a plain script: its sibling modules import by name

import frameworks  # noqa: E402
import workloads  # noqa: E402
from measure import quiet_logs  # noqa: E402

WORKLOADS = ("A-seq", "A-threads", "B-seq", "B-threads", "D")


@contextmanager
def profiled_threads(profiles: list[cProfile.Profile]) -> Iterator[None]:
    """Give every thread started inside the block a profiler of its own."""
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    try:
        yield
    finally:
        threading.Thread.run = original  # type: ignore[method-assign]


def target(name: str, n: int, *, postponed: bool) -> tuple[Callable[[], Any], int]:
    """The call to profile and the number of stages it handles."""
    flowkit = frameworks.Flowkit()
    if name == "D":
        workload = workloads.chain(n, postponed=postponed)
        return (lambda: flowkit.build(workload)), n
    kind, executor = name.split("-")
    workload = workloads.chain(n, postponed=postponed) if kind == "A" else workloads.fan_in(n)
    pipeline = flowkit.build(workload)
    executor = "sequential" if executor == "seq" else "threads"
    return flowkit.runner(pipeline, workload, executor), workload.stage_count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("-n", type=int, help="stages (default 10,000; B: 1,000)")
    parser.add_argument("--runs", type=int, default=5, help="profiled runs (default 5)")
    parser.add_argument("--top", type=int, default=25, help="functions to list (default 25)")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (default tottime)")
    parser.add_argument(
        "--str-annotations",
        action="store_true",
        help="chains with `from __future__ import annotations` (A and D)",
    )
    parser.add_argument("--dump", type=Path, help="also write the merged stats here")
    args = parser.parse_args(argv)
    n = args.n or (1000 if args.workload.startswith("B") else 10000)
    quiet_logs()
    call, stages = target(args.workload, n, postponed=args.str_annotations)
    call()  # warm-up, unprofiled
    start = time.perf_counter()
    for _ in range(args.runs):
        call()
    plain_us = (time.perf_counter() - start) / args.runs / stages * 1e6
    profiles = [cProfile.Profile()]
    with profiled_threads(profiles):
        profiles[0].enable()
        for _ in range(args.runs):
            call()
        profiles[0].disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiles[0], stream=stream)
    for profile in profiles[1:]:
        stats.add(profile)
    if args.dump:
        stats.dump_stats(args.dump)
    print(
        f"{args.workload}: {stages:,} stages x {args.runs} runs; unprofiled "
        f"{plain_us:.2f} us/stage; {len(profiles) - 1} worker thread(s) profiled"
    )
    print(f"per-stage costs below: divide cumulative/tottime by {stages * args.runs:,}")
    stats.sort_stats(args.sort).print_stats(args.top)
    print(stream.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
