"""Executors: where a pipeline's stages run.

Built in, by name: ``"threads"`` (the default), ``"sequential"``, ``"processes"`` and
``"async"``. :class:`DaskExecutor` (``pip install "flowkit[dask]"``) runs stages on a Dask
cluster; any object implementing :class:`Executor` can be passed as ``executor=``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flowkit._drivers import run_sequential, run_threads
from flowkit.errors import PipelineDefinitionError, did_you_mean

if TYPE_CHECKING:
    from flowkit._pipeline import Pipeline
    from flowkit._results import PipelineResult

__all__ = ["EXECUTORS", "execute"]

EXECUTORS = ("threads", "sequential", "processes", "async")


def execute(
    pipeline: Pipeline,
    executor: Any,
    *,
    inputs: Mapping[str, Any] | None,
    targets: Iterable[str] | None,
    overrides: Mapping[str, Any] | None,
    max_workers: int | None,
    fail_fast: bool | None,
    cache: Any = None,
) -> PipelineResult:
    """Validate, run ``pipeline`` on ``executor`` and return its result."""
    from flowkit._pipeline import announce

    name = "threads" if executor is None else executor
    if isinstance(name, str) and name not in EXECUTORS:
        raise PipelineDefinitionError(
            f"unknown executor {name!r}{did_you_mean(name, EXECUTORS)}; "
            f"choose one of {', '.join(EXECUTORS)} or pass an executor object"
        )
    run = pipeline.prepare(
        inputs,
        targets=targets,
        overrides=overrides,
        fail_fast=fail_fast,
        max_workers=1 if name == "sequential" else max_workers,
        cache=cache,
    )
    announce(run)
    if name == "sequential":
        run_sequential(run)
    elif name == "threads":
        run_threads(run, run.max_workers)
    else:
        raise NotImplementedError(name)
    return run.finish()
