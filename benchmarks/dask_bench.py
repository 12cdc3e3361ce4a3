"""Per-stage overhead of flowkit's DaskExecutor against plain ``dask.delayed`` on the same
graphs and the same LocalCluster, in one run.

    python benchmarks/dask_bench.py [--stages 200] [--items 1000] [--repeat 5] [--workers 2]

Graphs: a chain of N trivial stages (each takes the previous one's output) and an N-wide
fan-in (N independent stages feeding one), against the same graphs as ``dask.delayed``; and
a ``map_over`` of ``--items`` trivial items against ``client.map`` + ``gather`` of the same
function. Each side runs on the same cluster in the same run. Reports the best of
``--repeat`` runs in ms per stage (per item for the map).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import dask
import structlog

from flowkit import FunctionStage, Pipeline, StageStatus
from flowkit.executors import DaskExecutor

# Generated stage functions live in a module that workers cannot import, so cloudpickle
# sends them by value (exactly like stages written as lambdas or local functions).
_GENERATED = {"__name__": "flowkit_bench_generated"}


def _function(name: str, params: list[str], body: str) -> Callable[..., Any]:
    source = f"def {name}({', '.join(params)}):\n    return {body}\n"
    exec(source, _GENERATED)  # fixed, generated benchmark code
    return _GENERATED[name]  # type: ignore[return-value]


def chain_pipeline(n: int) -> Pipeline:
    stages = [FunctionStage(_function("s0", [], "0"))]
    stages += [
        FunctionStage(_function(f"s{i}", [f"s{i - 1}"], f"s{i - 1} + 1")) for i in range(1, n)
    ]
    return Pipeline(stages, name=f"chain{n}")


def fan_in_pipeline(n: int) -> Pipeline:
    parts = [FunctionStage(_function(f"p{i}", [], str(i))) for i in range(n)]
    names = [f"p{i}" for i in range(n)]
    total = FunctionStage(_function("total", names, " + ".join(names)))
    return Pipeline([*parts, total], name=f"fan_in{n}")


def map_pipeline(items: int) -> Pipeline:
    source = FunctionStage(_function("items", [], f"list(range({items}))"))
    mapped = FunctionStage(_function("mapped", ["items"], "items + 1"), map_over="items")
    return Pipeline([source, mapped], name=f"map{items}")


def chain_delayed(n: int) -> Any:
    node = dask.delayed(_GENERATED["s0"], pure=False)()
    for i in range(1, n):
        node = dask.delayed(_GENERATED[f"s{i}"], pure=False)(node)
    return node


def fan_in_delayed(n: int) -> Any:
    parts = [dask.delayed(_GENERATED[f"p{i}"], pure=False)() for i in range(n)]
    return dask.delayed(_GENERATED["total"], pure=False)(*parts)


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=200)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = args.stages
    # Events are part of flowkit's cost (built and rendered as JSON), terminal output is not.
    structlog.configure(
        processors=[structlog.processors.TimeStamper(), structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.ReturnLoggerFactory(),
    )

    graphs = [
        ("chain", chain_pipeline(n), chain_delayed, n - 1, n),
        ("fan-in", fan_in_pipeline(n), fan_in_delayed, sum(range(n)), n + 1),
    ]
    print(
        f"python {platform.python_version()}, dask {dask.__version__}, {os.cpu_count()} CPUs, "
        f"{n} stages, LocalCluster of {args.workers} worker processes x 1 thread, "
        f"best of {args.repeat}; ms per stage"
    )
    with DaskExecutor(n_workers=args.workers, threads_per_worker=1) as executor:
        client = executor.client
        trip = round_trip_ms(client)
        print(f"one Dask round trip (submit a trivial task, wait for its result): {trip:.2f} ms")
        print(
            f"{'graph':8} {'delayed':>9} {'unfused':>9} {'flowkit':>9} {'overhead':>9} {'ratio':>6}"
        )
        for label, pipeline, make_delayed, expected, nodes in graphs:
            pipeline.run(executor=executor)  # warm up: workers import, caches fill
            client.compute(make_delayed(n)).result()

            def run_flowkit(pipeline: Pipeline = pipeline) -> Any:
                result = pipeline.run(executor=executor)
                assert all(s.status is StageStatus.SUCCESS for s in result.stages.values())
                return result[pipeline.order[-1]]

            def run_delayed(make: Any = make_delayed, optimize: bool = True) -> Any:
                # A new graph each time: recomputing the same keys would only find the
                # results the scheduler still holds.
                return client.compute(make(n), optimize_graph=optimize).result()

            flowkit_s, flowkit_value = best(run_flowkit, args.repeat)
            dask_s, dask_value = best(run_delayed, args.repeat)
            unfused = functools.partial(run_delayed, make_delayed, False)
            unfused_s, unfused_value = best(unfused, args.repeat)
            assert flowkit_value == dask_value == unfused_value == expected
            per = 1000 / nodes
            print(
                f"{label:8} {dask_s * per:9.2f} {unfused_s * per:9.2f} {flowkit_s * per:9.2f} "
                f"{(flowkit_s - unfused_s) * per:+9.2f} {flowkit_s / unfused_s:5.2f}x"
            )
        map_row(executor, args.items, args.repeat)
    print(
        "delayed: the dask.delayed graph computed at once (default optimisation); unfused: "
        "the same with optimize_graph=False (one task per node); overhead: flowkit - unfused; "
        "ratio: flowkit / unfused"
    )


def map_row(executor: DaskExecutor, items: int, repeat: int) -> None:
    """flowkit's ``map_over`` against ``client.map`` + ``gather``, ms per item."""
    pipeline = map_pipeline(items)
    expected = list(range(1, items + 1))
    client = executor.client
    increment = _GENERATED["mapped"]

    def run_flowkit() -> Any:
        return pipeline.run(executor=executor)["mapped"]

    def run_map() -> Any:
        return client.gather(client.map(increment, range(items), pure=False))

    run_flowkit(), run_map()  # warm up
    flowkit_s, flowkit_value = best(run_flowkit, repeat)
    map_s, map_value = best(run_map, repeat)
    assert flowkit_value == map_value == expected
    per = 1000 / items
    print(
        f"map_over of {items} items, ms per item: client.map+gather {map_s * per:.3f}, "
        f"flowkit {flowkit_s * per:.3f} ({flowkit_s / map_s:.2f}x)"
    )


def round_trip_ms(client: Any, count: int = 50) -> float:
    """The median time to submit one trivial task and get its result back."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        client.submit(_GENERATED["s0"], pure=False).result()
        times.append(time.perf_counter() - start)
    return sorted(times)[count // 2] * 1000


if __name__ == "__main__":
    main()
