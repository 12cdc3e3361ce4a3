"""The one loop that moves a run forward: calls from the engine to a pool and back.

The model is dask's ``local.get_async``: one loop holds the calls in flight, the retry
timers and the deadlines, and handles interrupts; a pool (`flowkit.executors`) only runs
calls and reports each outcome once, as ``(call, ok, value, worker)``. The engine
(`flowkit._engine.Run`) decides everything else.

Two shapes of the same loop: `drive` for pools with a blocking ``wait`` and `drive_async`
for the event loop. A threads pool's workers also settle their own outcomes and continue with
the next call under the scheduler's lock (`Scheduler.report`), so a chain of stages costs no
thread switch per stage.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from flowkit._calls import Call, run_here
from flowkit._engine import Run, monotonic
from flowkit._hot import sweep
from flowkit.errors import StageTimeoutError

INTERRUPT_GRACE_S = 1.0

Report = tuple[Call, bool, Any, "str | None"]  # call, ok, output or error, worker


class Pool(Protocol):
    """What the scheduler needs of an executor (see ``docs/engine.md``)."""

    capacity: int  # calls in flight at most
    timeouts: bool  # True when the pool enforces each call's timeout itself

    def open(self, scheduler: Scheduler) -> None:
        """Get ready (before the run's clock starts); raise if the pool cannot run."""

    def submit(self, call: Call) -> None:
        """Start running ``call``; its outcome comes back once, from `wait` or `report`."""

    def wait(self, timeout: float | None) -> list[Report]:
        """Block until outcomes arrive (or the scheduler is notified) or ``timeout`` passed."""

    def cancel(self, call: Call) -> None:
        """``call`` is no longer wanted (timed out, interrupted): stop it if possible."""

    def close(self) -> None:
        """Release every resource; calls still running are abandoned."""


class Scheduler:
    """The calls in flight, retry timers and deadlines of one run on one pool."""

    def __init__(self, run: Run, pool: Pool) -> None:
        self.run = run
        self.pool = pool
        self.lock = threading.Lock()
        self.notify = threading.Condition(self.lock)  # a threads pool wakes the loop here
        self.inflight: set[Call] = set()
        self.timers: list[tuple[float, int, Call]] = []
        self.deadlines: list[tuple[float, int, Call]] = []
        self.sweeping = 0  # threads workers running hot stages with no Call (flowkit._hot)
        self._order = itertools.count()

    # -- steps (called with ``lock`` held) ---------------------------------------------------

    def fill(self) -> None:
        """Hand the pool every call that may start now, up to its capacity."""
        run, pool, inflight = self.run, self.pool, self.inflight
        while len(inflight) + self.sweeping < pool.capacity:
            call = run.next_call()
            if call is None:
                break
            self._submit(call)
        if run.delayed:
            self.take_delayed()

    def take(self) -> Call | None:
        """One call to start now (for a worker that just finished one), or None."""
        if len(self.inflight) + self.sweeping >= self.pool.capacity:
            return None
        call = self.run.next_call()
        if call is not None:
            self._track(call)
        if self.run.delayed:
            self.take_delayed()
        return call

    def settle(self, call: Call, ok: bool, value: Any, worker: str | None = None) -> None:
        """Give the engine ``call``'s outcome (a void one, e.g. after its timeout, is dropped)."""
        inflight = self.inflight
        if call not in inflight:
            return
        inflight.remove(call)
        self.run.complete(call, ok, value, worker)
        if self.run.delayed:
            self.take_delayed()

    def report(self, call: Call, ok: bool, value: Any, others: Callable[[], None]) -> Call | None:
        """A threads worker's outcome: settle it and return the next call for that worker
        (`settle` and `take` in one step: this runs once per stage). The worker sweeps the
        hot stages first (`flowkit._hot.sweep`), calling ``others()`` while more are ready."""
        run, inflight = self.run, self.inflight
        try:
            inflight.remove(call)
        except KeyError:
            pass  # void: abandoned at an interrupt
        else:
            run.complete(call, ok, value)
        following = None
        if not run.stopping and len(inflight) + self.sweeping < self.pool.capacity:
            if run.ready:
                self.sweeping += 1
                try:
                    sweep(run, self.lock, others)
                finally:
                    self.sweeping -= 1
            following = run.next_call()
            if following is not None:
                inflight.add(following)  # a threads pool enforces its timeouts itself
        if run.delayed:
            self.take_delayed()
        return following

    def tick(self) -> None:
        """Time out calls past their deadline and release retries whose delay passed (all of
        them once the run is stopping: the engine then cancels them)."""
        now = monotonic()
        while self.deadlines and self.deadlines[0][0] <= now:
            call = heapq.heappop(self.deadlines)[2]
            if call in self.inflight:
                self.pool.cancel(call)
                self.settle(call, False, StageTimeoutError(call.name, call.stage.timeout or 0))
        stopping = self.run.stopping
        while self.timers and (stopping or self.timers[0][0] <= now):
            self.run.wake(heapq.heappop(self.timers)[2])

    def idle(self) -> bool:
        """Nothing runs and nothing waits: the run is over (`fill` found nothing to start)."""
        return not self.inflight and not self.timers and not self.sweeping

    def wakeup(self) -> float | None:
        """Seconds until the next timer or deadline, None when there is none."""
        due = [heap[0][0] for heap in (self.timers, self.deadlines) if heap]
        if self.run.stopping and self.timers:
            return 0.0
        return max(0.0, min(due) - monotonic()) if due else None

    def cancel_all(self) -> None:
        for call in list(self.inflight):
            self.pool.cancel(call)
        self.inflight.clear()

    def _track(self, call: Call) -> None:
        self.inflight.add(call)
        if not self.pool.timeouts:
            deadline = call.deadline
            if deadline is not None:
                heapq.heappush(self.deadlines, (deadline, next(self._order), call))

    def _submit(self, call: Call) -> None:
        self._track(call)
        try:
            self.pool.submit(call)
        except Exception as error:  # noqa: BLE001 - the executor failed: that stage fails
            self.inflight.discard(call)
            self.run.crashed(call, error)

    def take_delayed(self) -> None:
        for call in self.run.delayed:
            heapq.heappush(self.timers, (call.due, next(self._order), call))
        self.run.delayed.clear()


def drive(run: Run, pool: Pool) -> None:
    """Run ``run`` on ``pool`` until it is over; Ctrl-C interrupts it (see `_grace`)."""
    scheduler = Scheduler(run, pool)
    pool.open(scheduler)
    try:
        with scheduler.lock:
            run.start()
            try:
                (_inline if getattr(pool, "inline", False) else _loop)(scheduler)
            except KeyboardInterrupt:
                run.interrupt()
                _grace(scheduler)
    finally:
        with scheduler.lock:
            scheduler.cancel_all()
            pool.close()


def _loop(scheduler: Scheduler) -> None:
    run, pool = scheduler.run, scheduler.pool
    while True:
        scheduler.fill()
        if scheduler.idle() or run.interrupted:
            break
        for call, ok, value, worker in pool.wait(scheduler.wakeup()):
            scheduler.settle(call, ok, value, worker)
        scheduler.tick()
    if run.interrupted:
        _grace(scheduler)


def _inline(scheduler: Scheduler) -> None:
    """The loop of an inline pool (``sequential``): each call runs in this thread as soon
    as the engine hands it out; only retry timers are waited for. Due retries go first,
    so a retry without delay follows its failed attempt at once."""
    run = scheduler.run
    next_call, complete, delayed, timers = (
        run.next_call,
        run.complete,
        run.delayed,
        scheduler.timers,
    )
    while not run.interrupted:
        if timers:
            scheduler.tick()
        if run.ready:
            sweep(run, None)  # no other thread takes the lock
        call = next_call()
        if call is not None:
            ok, value = run_here(call)
            complete(call, ok, value)
        if delayed:  # a failed attempt (or a raising condition) waits for its retry
            scheduler.take_delayed()
        if call is None:
            if not timers:
                return
            wait = scheduler.wakeup()
            if wait:
                time.sleep(wait)


def _grace(scheduler: Scheduler) -> None:
    """After an interrupt: wait up to ``INTERRUPT_GRACE_S`` for the calls in flight."""
    deadline = monotonic() + INTERRUPT_GRACE_S
    while (scheduler.inflight or scheduler.sweeping) and (left := deadline - monotonic()) > 0:
        for call, ok, value, worker in scheduler.pool.wait(left):
            scheduler.settle(call, ok, value, worker)


class AsyncPool(Protocol):
    """A pool for `drive_async`: ``wait`` is a coroutine."""

    capacity: int
    timeouts: bool

    def submit(self, call: Call) -> None: ...
    async def wait(self, timeout: float | None) -> list[Report]: ...
    def cancel(self, call: Call) -> None: ...


async def drive_async(run: Run, pool: AsyncPool) -> None:
    """Run ``run`` on the running event loop. Cancelling the task running this interrupts
    the run (``run.interrupted``): the calls in flight get up to ``INTERRUPT_GRACE_S``,
    then the ``CancelledError`` propagates; the caller decides whether to re-raise it."""
    scheduler = Scheduler(run, pool)  # type: ignore[arg-type]
    run.start()
    try:
        while True:
            scheduler.fill()
            if scheduler.idle() or run.interrupted:
                break
            for call, ok, value, worker in await pool.wait(scheduler.wakeup()):
                scheduler.settle(call, ok, value, worker)
            scheduler.tick()
        if run.interrupted:  # a stage raised KeyboardInterrupt
            await _grace_async(scheduler, pool)
    except asyncio.CancelledError:
        run.interrupt()
        await _grace_async(scheduler, pool)
        raise
    finally:
        scheduler.cancel_all()


async def _grace_async(scheduler: Scheduler, pool: AsyncPool) -> None:
    deadline = monotonic() + INTERRUPT_GRACE_S
    while scheduler.inflight and (left := deadline - monotonic()) > 0:
        for call, ok, value, worker in await pool.wait(left):
            scheduler.settle(call, ok, value, worker)
