"""Executors: where a pipeline's stages run.

Built in, by name: ``"threads"`` (the default), ``"sequential"``, ``"processes"`` and
``"async"``. `DaskExecutor` (``pip install "flowkit[dask]"``) runs stages on a Dask
cluster; any object implementing `Executor` can be passed as ``executor=``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterable, Iterator, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any

from flowkit._drivers import run_sequential, run_threads
from flowkit.errors import PipelineDefinitionError, did_you_mean
from flowkit.executors._async import drive_async
from flowkit.executors._driver import ExecutorDriver
from flowkit.executors._processes import ProcessExecutor, WorkerDiedError
from flowkit.executors._protocol import Completion, Executor, call_stage

if TYPE_CHECKING:
    from flowkit._engine import Run
    from flowkit._pipeline import Pipeline
    from flowkit._results import PipelineResult

__all__ = [
    "EXECUTORS",
    "Completion",
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "WorkerDiedError",
    "call_stage",
]

EXECUTORS = ("threads", "sequential", "processes", "async")


def __getattr__(name: str) -> Any:
    if name == "DaskExecutor":  # imported on first use: dask is an optional extra
        try:
            from flowkit.executors.dask import DaskExecutor
        except ImportError as error:
            raise ImportError(
                f'DaskExecutor needs the dask extra: pip install "flowkit[dask]" ({error})'
            ) from None
        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _resolve(executor: Any) -> str | Executor:
    if executor is None:
        return "threads"
    if isinstance(executor, str):
        if executor not in EXECUTORS:
            raise PipelineDefinitionError(
                f"unknown executor {executor!r}{did_you_mean(executor, EXECUTORS)}; "
                f"choose one of {', '.join(EXECUTORS)} or pass an executor object"
            )
        return ProcessExecutor() if executor == "processes" else executor
    if not isinstance(executor, Executor):
        raise PipelineDefinitionError(
            f"executor {executor!r} is neither a name ({', '.join(EXECUTORS)}) nor an object "
            "with start/submit/wait/cancel/shutdown (see flowkit.executors.Executor)"
        )
    return executor


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
    chosen = _resolve(executor)
    if chosen == "async" and _in_event_loop():
        raise RuntimeError(
            "run(executor='async') was called inside a running event loop; "
            "use `await pipeline.run_async(...)` there"
        )
    run = pipeline.prepare(
        inputs,
        targets=targets,
        overrides=overrides,
        fail_fast=fail_fast,
        max_workers=1 if chosen == "sequential" else max_workers,
        cache=cache,
    )
    validate = getattr(chosen, "validate", None)
    if validate is not None:
        validate(s for k, s in enumerate(run.plan.stages) if k not in run.plan.overridden)
    driver = None
    if not isinstance(chosen, str):
        driver = ExecutorDriver(run, chosen)
        driver.start(max_workers)
    run.announce()
    with _sigterm_interrupts():
        if chosen == "sequential":
            run_sequential(run)
        elif chosen == "threads":
            run_threads(run, run.max_workers)
        elif chosen == "async":
            asyncio.run(drive_async(run, reraise=False))
        else:
            driver.drive()  # type: ignore[union-attr]
    return run.finish()


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Whatever handles Ctrl-C handles SIGTERM: the default raises KeyboardInterrupt;
    # asyncio.run's handler cancels the main task, so the async driver winds down cleanly.
    on_sigint = signal.getsignal(signal.SIGINT)
    if callable(on_sigint):
        on_sigint(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Let SIGTERM cancel a run like Ctrl-C (DESIGN §3), unless the application already
    handles SIGTERM or this is not the main thread (only it receives signals)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


async def execute_async(run: Run) -> PipelineResult:
    """Drive a prepared run on the running event loop (``Pipeline.run_async``)."""
    run.announce()
    await drive_async(run, reraise=True)
    return run.finish()
