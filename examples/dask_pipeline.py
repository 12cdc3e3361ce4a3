"""The same kind of pipeline on a Dask cluster: each stage call is a Dask task.

``DaskExecutor()`` with no address starts a ``LocalCluster`` on this machine (worker
processes) and stops it at the end of the run; give it ``"tcp://host:port"`` or a
``distributed.Client`` to use a cluster you already have. The driver (this process) still
schedules the DAG, retries, times out and emits every event; the workers only run the
calls. The ``map_over`` stage becomes one task per chunk.

Needs the dask extra: ``pip install "flowkit[dask]"``. Run it:

    flowkit run examples/dask_pipeline.py:pipeline --executor dask -i chunks=4

or from Python: ``python examples/dask_pipeline.py``.
"""

from __future__ import annotations

import math
import os

from flowkit import Pipeline, stage


@stage
def ranges(chunks: int, size: int = 250_000) -> list[tuple[int, int]]:
    """Split ``[0, chunks * size)`` into ``chunks`` half-open ranges."""
    return [(start, start + size) for start in range(0, chunks * size, size)]


@stage(map_over="ranges", retries=2, backoff=0.1, timeout=60)
def partial_sums(ranges: tuple[int, int]) -> dict[str, float]:
    """Sum of squares and of square roots over one range (one Dask task per range)."""
    start, stop = ranges
    return {
        "squares": float(sum(n * n for n in range(start, stop))),
        "roots": math.fsum(math.sqrt(n) for n in range(start, stop)),
        "pid": float(os.getpid()),
    }


@stage
def totals(partial_sums: list[dict[str, float]]) -> dict[str, float]:
    """Add up the partial results."""
    return {
        "squares": sum(part["squares"] for part in partial_sums),
        "roots": math.fsum(part["roots"] for part in partial_sums),
        "processes": float(len({part["pid"] for part in partial_sums})),
    }


@stage
def check(totals: dict[str, float], chunks: int, size: int = 250_000) -> str:
    """Compare with the closed form of the sum of squares."""
    n = chunks * size
    expected = (n - 1) * n * (2 * n - 1) / 6
    ok = math.isclose(totals["squares"], expected, rel_tol=1e-12)
    return f"sum of squares below {n}: {totals['squares']:.6e} ({'ok' if ok else 'WRONG'})"


pipeline = Pipeline.from_module(__name__, name="dask_pipeline")

if __name__ == "__main__":
    # Dask workers import stages by module and name, and a script runs as "__main__": run
    # the pipeline of this same file imported under its own name (its folder is on sys.path).
    from dask_pipeline import pipeline as importable

    from flowkit.executors import DaskExecutor

    result = importable.run({"chunks": 4}, executor=DaskExecutor())
    result.raise_on_failure()
    print(result["check"])
    print(f"the chunks ran in {int(result['totals']['processes'])} worker process(es)")
