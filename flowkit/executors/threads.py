"""The ``threads`` executor (the default): calls run on up to ``max_workers`` daemon threads.

A worker that finishes a call settles it and continues with the next ready call itself,
under the scheduler's lock (`Scheduler.report`), so a chain costs no thread switch per
stage. Calls the scheduler submits wait in a queue; the scheduler's loop adds a worker only
when that queue stops moving for ``HANDOFF_S``, so trivial stages stay on one thread (no
lock and GIL convoy) while stages that block still fan out to every worker.

Workers are daemon threads, reused across runs (`flowkit._daemons`).
"""

from __future__ import annotations

import functools
import os
import threading
from collections import deque
from typing import TYPE_CHECKING

from flowkit import _daemons as daemons
from flowkit._calls import Call, run_here

if TYPE_CHECKING:
    from flowkit._schedule import Report, Scheduler

HANDOFF_S = 0.0002


@functools.cache  # os.cpu_count() takes 10 µs, a tenth of a small run
def default_workers() -> int:
    """``min(32, cpu + 4)``, like `concurrent.futures.ThreadPoolExecutor`."""
    return min(32, (os.cpu_count() or 1) + 4)


class ThreadPool:
    """Up to ``max_workers`` worker threads; everything below is guarded by the scheduler's
    lock."""

    timeouts = True  # a timed call runs in a helper thread (see flowkit._calls)

    def __init__(self, max_workers: int | None = None) -> None:
        self.capacity = max_workers or default_workers()
        self._queue: deque[Call] = deque()
        self._threads = self._idle = self._taken = 0
        self._closed = False
        self._main_waits = False  # the scheduler's loop waits to be needed (see wait)

    def open(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._work = threading.Condition(scheduler.lock)
        self._main = scheduler.notify

    def submit(self, call: Call) -> None:
        self._queue.append(call)
        if self._idle:
            self._work.notify()
        elif not self._threads:
            self._spawn()

    def wait(self, timeout: float | None) -> list[Report]:
        """Outcomes are settled by the workers themselves: wait to be needed."""
        if self._queue and (self._idle or self._threads < self.capacity):
            taken = self._taken
            self._main.wait(HANDOFF_S if timeout is None else min(timeout, HANDOFF_S))
            if self._queue and self._taken == taken:  # nobody took it: add a worker
                self._work.notify() if self._idle else self._spawn()
        else:
            self._main_waits = True
            self._main.wait(timeout)
            self._main_waits = False
        return []

    def _others(self) -> None:
        """A sweeping worker starts a call while more stages are ready: wake the loop (once
        until it waits again, not per stage) so it can hand them to other workers."""
        if self._main_waits:
            self._main_waits = False
            self._main.notify()

    def cancel(self, call: Call) -> None:
        if call in self._queue:
            self._queue.remove(call)

    def close(self) -> None:
        self._closed = True
        self._queue.clear()
        self._work.notify_all()

    def _spawn(self) -> None:
        self._threads += 1
        daemons.start(self._worker, "flowkit-worker")

    def _next(self) -> Call | None:
        """Wait for a submitted call (lock held); None once the pool is closed."""
        while not self._closed:
            if self._queue:
                self._taken += 1
                return self._queue.popleft()
            self._idle += 1
            self._work.wait()
            self._idle -= 1
        return None

    def _worker(self) -> None:
        scheduler, lock = self._scheduler, self._scheduler.lock
        run = scheduler.run
        with lock:
            call = self._next()
            while call is not None:
                lock.release()
                try:
                    ok, value = run_here(call)
                finally:
                    lock.acquire()
                if self._closed:
                    return
                if self._queue:  # calls the loop handed out wait: take the next of them
                    scheduler.settle(call, ok, value)
                    self._taken += 1
                    call = self._queue.popleft()
                    if run.delayed or scheduler.timers:
                        self._main.notify()
                    continue
                following = scheduler.report(call, ok, value, self._others)
                if following is None or run.ready or run.urgent or scheduler.timers:
                    self._main.notify()  # the loop decides: more workers, timers, the end
                call = following if following is not None else self._next()

    def __repr__(self) -> str:
        return f"ThreadPool(max_workers={self.capacity})"
