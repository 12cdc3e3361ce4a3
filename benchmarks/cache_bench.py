"""What the cache costs: the per-stage overhead of a hit, and the write throughput.

1. A chain of N ``cache=True`` stages with small (int) values: run it without a cache, then
   with an empty cache (every stage misses and stores), then again (every stage hits).
   The hit overhead is ``(hit run - uncached run) / N`` in microseconds per stage.
2. ``Cache.store`` and ``Cache.load`` of one large ``bytes`` value (100 MB by default):
   pickle + HMAC-SHA256 + write + fsync + rename, and read + verify + unpickle, in MB/s.

Usage: ``python benchmarks/cache_bench.py [--stages 1000] [--mb 100] [--dir PATH]``.
Events are filtered out (as a quiet production run would), so only the engine and the cache
are measured. The cache directory is a temporary directory under ``--dir`` (default: the
system's temporary directory); say which file system it is on when you quote the numbers.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from flowkit import FunctionStage, Pipeline
from flowkit._cache import Cache


def chain(n: int) -> Pipeline:
    """``s0(x) -> s1(s0) -> ... -> s{n-1}``, each returning its input plus one."""
    lines = ["def s0(x):\n    return x + 1"]
    lines += [f"def s{i}(s{i - 1}):\n    return s{i - 1} + 1" for i in range(1, n)]
    namespace: dict[str, object] = {}
    exec("\n".join(lines), namespace)
    return Pipeline([FunctionStage(namespace[f"s{i}"], cache=True) for i in range(n)])


def best(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` timed calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_chain(n: int, root: Path, repeat: int, executor: str) -> dict[str, float]:
    pipeline = chain(n)
    inputs = {"x": 0}

    def run(cache: object = None) -> None:
        result = pipeline.run(inputs, cache=cache, executor=executor)  # type: ignore[arg-type]
        assert result.ok, result

    uncached = best(run, repeat)

    directories = iter(range(repeat))

    def first_run() -> None:
        directory = root / f"first-{executor}-{next(directories)}"
        run(directory)

    misses = best(first_run, repeat)
    directory = root / f"hits-{executor}"
    run(directory)
    result = pipeline.run(inputs, cache=directory, executor=executor)
    assert all(r.cached for r in result.stages.values())
    hits = best(lambda: run(directory), repeat)  # a new Cache per run: fingerprints included
    reused = Cache(directory)
    run(reused)
    hits_reused = best(lambda: run(reused), repeat)
    per_stage = 1e6 / n
    return {
        "uncached_us": uncached * per_stage,
        "first_run_us": misses * per_stage,
        "hit_us": hits * per_stage,
        "hit_reused_us": hits_reused * per_stage,
        "hit_overhead_us": (hits - uncached) * per_stage,
        "hit_reused_overhead_us": (hits_reused - uncached) * per_stage,
        "store_overhead_us": (misses - uncached) * per_stage,
    }


def bench_throughput(megabytes: int, root: Path, repeat: int) -> dict[str, float]:
    value = os.urandom(megabytes * 2**20)
    cache = Cache(root / "throughput")
    big = FunctionStage(lambda size: value, name="big", cache=True)
    key = cache.key(big, {"size": megabytes})
    assert key is not None
    writes, reads = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        cache.store(key, value)
        writes.append(time.perf_counter() - start)
        start = time.perf_counter()
        hit, loaded = cache.load(key)
        reads.append(time.perf_counter() - start)
        assert hit
        assert loaded == value
        del loaded
    size_mb = len(value) / 1e6
    return {
        "write_mb_s": size_mb / min(writes),
        "write_mb_s_median": size_mb / statistics.median(writes),
        "read_mb_s": size_mb / min(reads),
        "read_mb_s_median": size_mb / statistics.median(reads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=1000)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where the cache lives")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    root = Path(tempfile.mkdtemp(prefix="flowkit-cache-bench-", dir=args.dir))
    try:
        print(f"cache directory: {root}")
        print(f"chain of {args.stages} cache=True stages (small int values), best of {args.repeat}")
        print(f"{'executor':<11} {'uncached':>9} {'1st run':>9} {'hits':>9} {'hits*':>9}"
              f" {'hit overhead':>13} {'hit* overhead':>14}   (us/stage)")  # fmt: skip
        for executor in ("sequential", "threads"):
            r = bench_chain(args.stages, root, args.repeat, executor)
            print(
                f"{executor:<11} {r['uncached_us']:>9.1f} {r['first_run_us']:>9.1f} "
                f"{r['hit_us']:>9.1f} {r['hit_reused_us']:>9.1f} "
                f"{r['hit_overhead_us']:>13.1f} {r['hit_reused_overhead_us']:>14.1f}"
            )
        print("  hits: cache=DIR (a new Cache per run, code fingerprints recomputed);")
        print("  hits*: the same Cache object reused (fingerprints memoised)")
        t = bench_throughput(args.mb, root, max(3, args.repeat // 2))
        print(
            f"{args.mb} MB bytes value: store {t['write_mb_s']:.0f} MB/s "
            f"(median {t['write_mb_s_median']:.0f}), load {t['read_mb_s']:.0f} MB/s "
            f"(median {t['read_mb_s_median']:.0f})"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
