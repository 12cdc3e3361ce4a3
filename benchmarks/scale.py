"""The engine's figures (issue 11), each against a plain-Python reference measured in the
same run: per-stage cost of a chain and a fan-in, of building, how both grow from 1,000 to
100,000 stages, memory per stage, and reading ``result.outputs``.

    python benchmarks/scale.py            # the full run (a few minutes)
    python benchmarks/scale.py --quick    # a smoke run: 1,000 and 10,000 stages

The garbage collector stays on (it is what makes a large pipeline's cost grow); times are
the best of ``--reps`` runs of CPU time, flowkit and its reference taking turns (a busy
machine disturbs that least).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # a plain script: its sibling modules import by name

import frameworks  # noqa: E402
import workloads  # noqa: E402
from measure import quiet_logs  # noqa: E402
from suite import plain_build  # noqa: E402

US = 1e6
Pair = tuple[float, float]  # flowkit's figure and the plain reference's


def best(fn: Callable[[], Any], reference: Callable[[], Any], reps: int, per: int) -> Pair:
    """Microseconds per stage of ``fn`` and of its plain ``reference``: the best of ``reps``
    runs of each in CPU time, the two taking turns, so a machine whose speed drifts (a
    shared one does, by 2x within seconds) slows both alike."""
    fn(), reference()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(reps):
        for call, kept in ((fn, times[0]), (reference, times[1])):
            start = time.process_time()
            call()
            kept.append(time.process_time() - start)
    return min(times[0]) / per * US, min(times[1]) / per * US


def per_stage_of(call: Callable[[Any], Any], workload: workloads.Workload, times: int) -> float:
    """CPU seconds per stage of ``call(workload)``, run ``times`` times."""
    start = time.process_time()
    for _ in range(times):
        call(workload)
    return (time.process_time() - start) / times / workload.size


def interpreter(workload: workloads.Workload) -> Callable[[], Any]:
    """The plain reference of a run: a ten-line name-based interpreter of the same DAG."""
    import inspect

    steps = [
        (fn, fn.__name__, tuple(inspect.signature(fn).parameters)) for fn in workload.functions
    ]

    def run() -> Any:
        values = dict(workload.inputs)
        for fn, name, params in steps:
            values[name] = fn(*[values[p] for p in params])
        return values[workload.target]

    return run


def memory(make: Callable[[], Any], per: int) -> float:
    """Bytes per stage that ``make()``'s result keeps alive."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = make()
    gc.collect()
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del kept
    return size / per


def rows(quick: bool, reps: int) -> list[tuple[str, float, float, str]]:
    """``(figure, flowkit, plain, unit)`` rows."""
    fk = frameworks.Flowkit()
    small, large = (1_000, 10_000) if quick else (1_000, 100_000)
    out = []
    chain = workloads.chain(10_000)
    pipeline = fk.build(chain)
    for executor in ("sequential", "threads"):
        runner = fk.runner(pipeline, chain, executor)
        pair = best(runner, interpreter(chain), reps, 10_000)
        out.append((f"chain 10,000 {executor}", *pair, "us/stage"))
    fan = workloads.fan_in(1_000)
    fan_pipeline = fk.build(fan)
    for executor in ("sequential", "threads"):
        runner = fk.runner(fan_pipeline, fan, executor)
        pair = best(runner, interpreter(fan), reps, 1_002)
        out.append((f"fan-in 1,000 {executor}", *pair, "us/stage"))
    pair = best(lambda: fk.build(chain), lambda: plain_build(chain), max(1, reps // 2), 10_000)
    out.append(("build 10,000", *pair, "us/stage"))
    out.extend(growth(fk, small, large, reps))
    out.append(outputs_access(fk, chain, pipeline))
    return out


def growth(fk: Any, small: int, large: int, reps: int) -> list[tuple[str, float, float, str]]:
    """How the per-stage cost grows from ``small`` to ``large`` stages, and memory.

    Each of ``reps`` rounds times both sizes back to back (the small one repeated to take
    as long as the large one) for flowkit, then for its reference; a figure is the median
    of the rounds' growths. Timing each size apart let the machine's drift between them
    decide the figure, for either side."""
    small_chain, big = workloads.chain(small), workloads.chain(large)
    runs = {w.size: fk.runner(fk.build(w), w, "sequential") for w in (small_chain, big)}
    references = {w.size: interpreter(w) for w in (small_chain, big)}
    timed = {
        "build": (lambda w: fk.build(w), plain_build),
        "run": (lambda w: runs[w.size](), lambda w: references[w.size]()),
    }
    grown: dict[tuple[str, int], list[float]] = {k: [] for k in itertools.product(timed, (0, 1))}
    for call in itertools.chain(*timed.values()):  # the first run also compiles the plan
        call(small_chain), call(big)
    for _ in range(reps):
        for kind, sides in timed.items():
            for side, call in enumerate(sides):
                per_small = per_stage_of(call, small_chain, max(1, large // small))
                grown[kind, side].append(per_stage_of(call, big, 1) / per_small)
    runs.clear()
    out = [
        (
            f"{kind} growth {small:,} -> {large:,} (x)",
            statistics.median(grown[kind, 0]),
            statistics.median(grown[kind, 1]),
            "x",
        )
        for kind in timed
    ]

    def flowkit_kept() -> Any:
        pipeline = fk.build(big)
        return pipeline, pipeline.run(big.inputs, executor="sequential")

    def plain_kept() -> Any:
        import inspect

        table = {fn.__name__: (fn, tuple(inspect.signature(fn).parameters)) for fn in big.functions}
        values = dict(big.inputs)
        for name, (fn, params) in table.items():
            values[name] = fn(*[values[p] for p in params])
        return table, values

    out.append(
        (
            f"memory, {large:,} stages (built + run + result)",
            memory(flowkit_kept, large),
            memory(plain_kept, large),
            "B/stage",
        )
    )
    workloads.forget(big)
    return out


def outputs_access(
    fk: Any, chain: workloads.Workload, pipeline: Any
) -> tuple[str, float, float, str]:
    """One ``result.outputs[name]`` after the first, against a dict lookup."""
    result = pipeline.run(chain.inputs, executor="sequential")
    result.outputs  # noqa: B018 - the first access builds it
    values = dict(result.outputs)
    n = 10_000
    start = time.process_time()
    for _ in range(n):
        result.outputs["s1"]
    flowkit_s = (time.process_time() - start) / n
    start = time.process_time()
    for _ in range(n):
        values["s1"]
    return (
        "result.outputs[name], 10,000 stages",
        flowkit_s * US,
        (time.process_time() - start) / n * US,
        "us",
    )


GOALS: dict[str, Callable[[float, float], bool]] = {
    "chain 10,000 sequential": lambda fk, _: fk <= 1.5,
    "chain 10,000 threads": lambda fk, _: fk <= 2.0,
    "fan-in 1,000 sequential": lambda fk, _: fk <= 2.0,
    "fan-in 1,000 threads": lambda fk, _: fk <= 2.0,
    "build 10,000": lambda fk, _: fk <= 10.0,
    "build growth": lambda fk, plain: fk <= plain * 1.1,
    "run growth": lambda fk, plain: fk <= plain * 1.1,
    "memory": lambda fk, _: fk <= 1024,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 stages")
    parser.add_argument("--reps", type=int, default=None, help="runs per figure (best kept)")
    args = parser.parse_args(argv)
    quiet_logs()
    table = rows(args.quick, args.reps or (2 if args.quick else 7))
    print("| figure | flowkit | plain Python | unit | flowkit / plain | goal |")
    print("|---|---:|---:|---|---:|---|")
    for name, value, plain, unit in table:
        goal = next((check for key, check in GOALS.items() if name.startswith(key)), None)
        verdict = "" if goal is None else ("pass" if goal(value, plain) else "miss")
        ratio = value / plain if plain else float("nan")
        print(f"| {name} | {value:,.3g} | {plain:,.3g} | {unit} | {ratio:,.3g} | {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
