"""The frameworks under test, behind one small interface each.

``build(workload)`` is what workload D times: turn the workload's plain functions into a
validated pipeline. ``runner(built, workload)`` returns a zero-argument callable that runs the
pipeline once and returns the target stage's output (so the benchmark checks every run).
Peers that are not installed are reported as missing, never imported at module level.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from workloads import Workload

# Hamilton may send usage telemetry on import; the benchmark must not (and has no network).
os.environ.setdefault("HAMILTON_TELEMETRY_ENABLED", "false")

Runner = Callable[[], Any]


def version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


class Flowkit:
    """flowkit: ``@stage`` on every function, ``Pipeline(...)``, ``validate()``, ``run()``."""

    label = "flowkit"
    distribution = "flowkit"

    def __init__(self) -> None:
        import flowkit

        self._flowkit = flowkit

    def build(self, workload: Workload) -> Any:
        fk = self._flowkit
        pipeline = fk.Pipeline([fk.stage(fn) for fn in workload.functions], name=workload.kind)
        pipeline.validate()
        return pipeline

    def runner(
        self, pipeline: Any, workload: Workload, executor: str, max_workers: int | None = None
    ) -> Runner:
        inputs, target = workload.inputs, workload.target

        def run() -> Any:
            return pipeline.run(inputs, executor=executor, max_workers=max_workers)[target]

        return run


class Hamilton:
    """Apache Hamilton: a driver over the workload's module; ``execute([target])``.

    Concurrency (workload C) uses Hamilton's ``FutureAdapter``, which submits every node to a
    thread pool as soon as its inputs are futures.
    """

    label = "hamilton"
    distribution = "apache-hamilton"

    def __init__(self) -> None:
        from hamilton import base, driver

        # Hamilton logs a "need help? join our slack" banner on every error (RecursionError
        # included); the table reports the error instead.
        logging.getLogger("hamilton").setLevel(logging.CRITICAL)
        self._base, self._driver = base, driver

    def build(self, workload: Workload, max_workers: int | None = None) -> Any:
        builder = self._driver.Builder().with_modules(workload.module)
        if max_workers is None:
            adapter: Any = self._base.DictResult()
        else:
            from hamilton.plugins.h_threadpool import FutureAdapter

            adapter = FutureAdapter(max_workers=max_workers, result_builder=self._base.DictResult())
        return builder.with_adapters(adapter).build()

    def runner(self, driver: Any, workload: Workload) -> Runner:
        inputs, target = workload.inputs, workload.target
        return lambda: driver.execute([target], inputs=inputs)[target]


class Pipefunc:
    """pipefunc: ``PipeFunc`` per function, ``Pipeline(...)``, ``validate()``; ``run`` for one
    output, ``map(..., executor=ThreadPoolExecutor(n))`` for concurrency (workload C)."""

    label = "pipefunc"
    distribution = "pipefunc"

    def __init__(self) -> None:
        import pipefunc

        self._pipefunc = pipefunc

    def build(self, workload: Workload) -> Any:
        pf = self._pipefunc
        pipeline = pf.Pipeline(
            [pf.PipeFunc(fn, output_name=fn.__name__) for fn in workload.functions]
        )
        pipeline.validate()
        return pipeline

    def runner(self, pipeline: Any, workload: Workload) -> Runner:
        inputs, target = workload.inputs, workload.target
        return lambda: pipeline.run(target, kwargs=inputs)

    def parallel_runner(
        self, pipeline: Any, workload: Workload, pool: ThreadPoolExecutor
    ) -> Runner:
        inputs, target = workload.inputs, workload.target

        def run() -> Any:
            results = pipeline.map(
                inputs, executor=pool, parallel=True, storage="dict", show_progress=False
            )
            return results[target].output

        return run


PEERS: tuple[type[Hamilton] | type[Pipefunc], ...] = (Hamilton, Pipefunc)


def load_peers(wanted: set[str] | None = None) -> tuple[list[Any], list[str]]:
    """The peers that import, and one message for each one that does not."""
    loaded: list[Any] = []
    messages: list[str] = []
    for peer in PEERS:
        if wanted is not None and peer.label not in wanted:
            continue
        try:
            loaded.append(peer())
        except ImportError as error:
            messages.append(
                f"skipping {peer.label}: {error} (pip install '{peer.distribution}', "
                "or pip install -e '.[bench]')"
            )
    return loaded, messages
