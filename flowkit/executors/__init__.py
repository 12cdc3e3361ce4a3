"""Executors: where a pipeline's calls run.

Built in, by name: ``"threads"`` (the default), ``"sequential"``, ``"processes"`` and
``"async"``. `DaskExecutor` (``pip install "flowkit[dask]"``) runs calls on a Dask cluster;
any object implementing `Executor` can be passed as ``executor=``. Every one of them runs
under the same scheduler (`flowkit._schedule`) and engine (`flowkit._engine`), so the
semantics are the same everywhere; ``docs/engine.md`` says how to add one.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from flowkit._engine import Run
from flowkit._plan import GROUP, Plan
from flowkit._schedule import Pool, drive, drive_async
from flowkit.errors import PipelineDefinitionError, PipelineInterrupted, did_you_mean
from flowkit.executors._asyncio import LoopPool
from flowkit.executors._protocol import Completion, Executor, ObjectPool, call_stage
from flowkit.executors.processes import ProcessExecutor
from flowkit.executors.sequential import InlinePool
from flowkit.executors.threads import ThreadPool

if TYPE_CHECKING:
    from flowkit._results import PipelineResult
    from flowkit._stage import Stage

__all__ = [
    "Completion",
    "DaskExecutor",
    "Executor",
    "ExecutorName",
    "ProcessExecutor",
    "WorkerDiedError",
    "call_stage",
]

ExecutorName = Literal["threads", "sequential", "processes", "async"]
NAMES: tuple[ExecutorName, ...] = ("threads", "sequential", "processes", "async")


def __getattr__(name: str) -> Any:
    if name == "DaskExecutor":  # imported on first use: dask is an optional extra
        try:
            from flowkit.executors.dask import DaskExecutor
        except ImportError as error:
            raise ImportError(
                f'DaskExecutor needs the dask extra: pip install "flowkit[dask]" ({error})'
            ) from None
        return DaskExecutor
    if name == "WorkerDiedError":  # it lives in flowkit.errors now
        from flowkit.errors import WorkerDiedError

        return WorkerDiedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check(executor: object) -> ExecutorName | Executor:
    """``executor`` as given to ``run()``, checked before any work starts.

    Raises:
        PipelineDefinitionError: An unknown name, or an object that is not an `Executor`.
    """
    if executor is None:
        return "threads"
    if isinstance(executor, str):
        if executor not in NAMES:
            raise PipelineDefinitionError(
                f"unknown executor {executor!r}{did_you_mean(executor, NAMES)}; "
                f"choose one of {', '.join(NAMES)} or pass an executor object"
            )
        return executor
    if not isinstance(executor, Executor):
        raise PipelineDefinitionError(
            f"executor {executor!r} is neither a name ({', '.join(NAMES)}) nor an object "
            "with start/submit/wait/cancel/shutdown (see flowkit.executors.Executor)"
        )
    return executor


def sent_stages(plan: Plan) -> Iterator[Stage]:
    """The stages whose calls a run sends to its executor: a group's children, not the
    group itself."""
    for k, stage in enumerate(plan.stages):
        if k in plan.overridden:
            continue
        if plan.shape[k] & GROUP:
            from flowkit._fanout import group_plan

            yield from sent_stages(group_plan(stage))
        else:
            yield stage


def execute(run: Run, executor: ExecutorName | Executor, max_workers: int | None) -> PipelineResult:
    """Run ``run`` on ``executor`` and return its result.

    Raises:
        PipelineInterrupted: Ctrl-C, SIGTERM or a stage's ``KeyboardInterrupt`` stopped it.
    """
    if executor == "async":
        if _in_event_loop():
            raise RuntimeError(
                "run(executor='async') was called inside a running event loop; "
                "use `await pipeline.run_async(...)` there"
            )
        with _sigterm_interrupts():
            asyncio.run(_on_loop(run, max_workers, reraise=False))
    else:
        pool = _pool(executor, max_workers, run.plan)
        with _sigterm_interrupts():
            drive(run, pool)
    return _finish(run)


async def execute_async(run: Run, max_workers: int | None) -> PipelineResult:
    """Run ``run`` on the running event loop (``Pipeline.run_async``); cancelling the
    awaiting task cancels the stages, logs ``pipeline.cancelled`` and re-raises.

    Raises:
        PipelineInterrupted: A stage raised ``KeyboardInterrupt``.
    """
    await _on_loop(run, max_workers, reraise=True)
    return _finish(run)


def _finish(run: Run) -> PipelineResult:
    """The run's result; `PipelineInterrupted` carrying it when a stage's
    ``KeyboardInterrupt`` (or Ctrl-C) interrupted the run."""
    result = run.finish()
    if run.interrupted:
        raise PipelineInterrupted(result)
    return result


async def _on_loop(run: Run, max_workers: int | None, *, reraise: bool) -> None:
    pool = LoopPool(max_workers)
    try:
        await drive_async(run, pool)
    except asyncio.CancelledError:
        await pool.drain()
        if reraise:
            run.finish()
            raise
    finally:
        await pool.drain()


def _pool(executor: ExecutorName | Executor, max_workers: int | None, plan: Plan) -> Pool:
    if executor == "sequential":
        return InlinePool()
    if executor == "threads":
        return ThreadPool(max_workers)
    chosen: Any = ProcessExecutor() if executor == "processes" else executor
    validate = getattr(chosen, "validate", None)
    if validate is not None:
        validate(sent_stages(plan))
    return ObjectPool(chosen, max_workers)


def run_group(stage: Stage, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run a parallel group's children on threads, silently, and return their outputs by
    name (``ParallelStage.execute``, for code that calls a group directly).

    Raises:
        Exception: The first failed child's error, after all children finished.
    """
    from flowkit import _events as ev
    from flowkit._fanout import group_plan

    child_inputs = getattr(stage, "child_inputs", None)  # seed-style groups
    group = Run(
        group_plan(stage),
        child_inputs(kwargs) if child_inputs is not None else kwargs,
        name=stage.name,
        fail_fast=False,
        events=ev.SilentEvents("", stage.name),
    )
    drive(group, ThreadPool(getattr(stage, "max_workers", None)))
    result = group.finish()
    for child in result.stages.values():
        if child.error is not None:
            raise child.error
    return dict(result.outputs)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Whatever handles Ctrl-C handles SIGTERM: the default raises KeyboardInterrupt;
    # asyncio.run's handler cancels the main task, so the async loop winds down cleanly.
    on_sigint = signal.getsignal(signal.SIGINT)
    if callable(on_sigint):
        on_sigint(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Let SIGTERM cancel a run like Ctrl-C (DESIGN §11.1), unless the application already
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
