"""The ``async`` driver: every stage is a task on the running event loop.

``async def`` stages are awaited on the loop (a timeout really cancels them); sync stages,
fan-out and parallel groups run in worker threads. A retry delay is an ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flowkit._calls import await_with_timeout
from flowkit._engine import Run, monotonic
from flowkit._results import StageResult
from flowkit._stage import ParallelStage, Stage


async def drive_async(run: Run, *, reraise: bool) -> None:
    """Run ``run`` on the current event loop.

    If the task running this is cancelled (Ctrl-C under ``asyncio.run``, or a caller's
    cancel), every stage task is cancelled and the run is marked interrupted; with
    ``reraise`` the ``CancelledError`` propagates after ``run.finish()`` logged
    ``pipeline.cancelled``.
    """
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(run.max_workers, thread_name_prefix="flowkit-async")
    tasks: set[asyncio.Task[None]] = set()

    async def call(k: int, stage: Stage, kwargs: dict[str, Any], name: str) -> Any:
        if stage.is_async and stage.map_over is None and not isinstance(stage, ParallelStage):
            return await await_with_timeout(stage.execute(kwargs), name, stage.timeout)
        return await loop.run_in_executor(pool, run.call, run, k, stage, kwargs, name)

    async def advance(k: int) -> StageResult | None:
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
        result = await advance(k)
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
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
