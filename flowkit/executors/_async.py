"""The ``async`` driver: every stage is a task on the running event loop.

``async def`` stages are awaited on the loop (a timeout really cancels them); sync stages,
fan-out and parallel groups run in daemon threads (at most ``max_workers`` at once). A retry
delay is an ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from flowkit._calls import await_with_timeout
from flowkit._composite import ParallelStage
from flowkit._engine import Run, monotonic
from flowkit._results import Record, StageResult
from flowkit._stage import Stage


async def drive_async(run: Run, *, reraise: bool) -> None:
    """Run ``run`` on the current event loop.

    If the task running this is cancelled (Ctrl-C under ``asyncio.run``, or a caller's
    cancel), every stage task is cancelled and the run is marked interrupted; with
    ``reraise`` the ``CancelledError`` propagates after ``run.finish()`` logged
    ``pipeline.cancelled``.
    """
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(run.max_workers)
    tasks: set[asyncio.Task[None]] = set()

    async def call(k: int, stage: Stage, kwargs: dict[str, Any], name: str) -> Any:
        if stage.is_async and stage.map_over is None and not isinstance(stage, ParallelStage):
            return await await_with_timeout(stage.execute(kwargs), name, stage.timeout)
        async with slots:
            return await in_daemon_thread(loop, run.call, run, k, stage, kwargs, name)

    async def advance(k: int) -> Record | None:
        stage = run.plan.stages[k]
        kwargs = run.arguments(k, stage)
        if isinstance(kwargs, StageResult):
            return kwargs
        name = run.plan.names[k]
        while True:
            start = monotonic()
            try:
                final = run.begin(k, stage, kwargs)
                if final is not None:
                    return final
                output = await call(k, stage, kwargs, name)
            except Exception as error:  # noqa: BLE001 - any stage error is an attempt failure
                outcome = run.failed(k, error, start)
                if isinstance(outcome, StageResult):
                    return outcome
                await asyncio.sleep(outcome)
                if run.stopping:
                    return None  # fail-fast while waiting: never retried, cancelled at finish
            else:
                return run.succeeded(k, output)

    async def one(k: int) -> None:
        try:
            result = await advance(k)
        except Exception as error:  # noqa: BLE001 - flowkit's own failure, see Run.crashed
            result = run.crashed(k, error)
        if result is None:
            return
        for j in run.record(k, result):
            if not run.stopping:
                launch(j)

    def launch(k: int) -> None:
        tasks.add(asyncio.create_task(one(k), name=f"flowkit:{run.plan.names[k]}"))

    for k in run.initial():
        launch(k)
    try:
        while tasks:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            tasks.difference_update(done)
            for task in done:
                task.result()  # an error of flowkit itself must not pass silently
    except asyncio.CancelledError:
        run.interrupted = run.stopping = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if reraise:
            run.finish()
            raise


def in_daemon_thread(
    loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any
) -> asyncio.Future[Any]:
    """Run ``fn(*args)`` in a new daemon thread; a future on ``loop`` gets its outcome.

    Not a ThreadPoolExecutor: its threads are joined at interpreter exit, so a sync stage
    abandoned at an interrupt would keep the process alive until it returned.
    """
    future: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            (future.set_result if ok else future.set_exception)(value)

    def target() -> None:
        try:
            outcome = (True, fn(*args))
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
            outcome = (False, error)
        # If the loop closed while this call was abandoned, its outcome is void.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=target, name="flowkit-async", daemon=True).start()
    return future
