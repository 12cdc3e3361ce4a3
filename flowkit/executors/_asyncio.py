"""The ``async`` executor: every call is a task on the running event loop.

``async def`` stages are awaited on the loop (a timeout really cancels them); sync stages
run in daemon threads, at most ``max_workers`` at once. Retry delays are the scheduler's
timers, so a waiting retry holds neither a task nor a thread.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from flowkit._calls import Call, run_on_loop
from flowkit.executors.threads import default_workers

if TYPE_CHECKING:
    from flowkit._schedule import Report

ASYNC_CAPACITY = 256  # calls in flight when max_workers is not given: async stages are cheap


class LoopPool:
    """Tasks on the running loop; sync calls take one of ``threads`` slots."""

    timeouts = True

    def __init__(self, max_workers: int | None = None) -> None:
        self.capacity = max_workers or ASYNC_CAPACITY
        self._slots = asyncio.Semaphore(max_workers or default_workers())
        self._tasks: dict[asyncio.Task[tuple[bool, object]], Call] = {}
        self._by_call: dict[Call, asyncio.Task[tuple[bool, object]]] = {}

    def submit(self, call: Call) -> None:
        task = asyncio.get_running_loop().create_task(
            run_on_loop(call, self._slots), name=f"flowkit:{call.name}"
        )
        self._tasks[task] = call
        self._by_call[call] = task

    async def wait(self, timeout: float | None) -> list[Report]:
        if not self._tasks:
            await asyncio.sleep(timeout or 0)
            return []
        done, _ = await asyncio.wait(
            self._tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        reports: list[Report] = []
        for task in done:
            call = self._tasks.pop(task)
            del self._by_call[call]
            ok, value = task.result()
            reports.append((call, ok, value, None))
        return reports

    def cancel(self, call: Call) -> None:
        task = self._by_call.pop(call, None)
        if task is not None:
            self._tasks.pop(task, None)
            task.cancel()

    async def drain(self) -> None:
        """Cancel what is left and wait for the cancellations to land."""
        tasks = list(self._tasks)
        self._tasks.clear()
        self._by_call.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
