"""Local drivers: where the attempts of a `Run` execute.

``sequential`` runs everything in the calling thread. ``threads`` lets worker threads drive
the run themselves: a worker that finishes a stage continues with one stage that became
ready and leaves the others in a queue, so a chain costs no thread switch per stage. The
calling thread adds workers while the queue stops moving, releases delayed retries and
handles Ctrl-C.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from flowkit import _events as ev
from flowkit._calls import call_sync
from flowkit._composite import ParallelStage
from flowkit._engine import FAILED, Run, monotonic
from flowkit._plan import Plan
from flowkit._stage import Stage

INTERRUPT_GRACE_S = 1.0
# Ready stages wait this long for a busy worker to take them before another worker is
# woken: trivial stages then run on one thread (no lock and GIL convoy), while stages that
# block (I/O, sleeps, C code releasing the GIL) still fan out to every worker within
# max_workers * HANDOFF_S.
HANDOFF_S = 0.0002


def default_workers() -> int:
    """``min(32, cpu + 4)``, like `concurrent.futures.ThreadPoolExecutor`."""
    return min(32, (os.cpu_count() or 1) + 4)


def run_sequential(run: Run) -> None:
    """Run every attempt in the calling thread, in pipeline order.

    Plan indices follow the pipeline's topological order, so always taking the smallest
    ready index runs the stages exactly in ``pipeline.order`` (retries aside).
    """
    ready = run.initial()
    heapq.heapify(ready)
    timers: list[tuple[float, int]] = []
    advance, record = run.advance, run.record
    try:
        while not run.stopping:
            if ready:
                k = heapq.heappop(ready)
                try:
                    outcome = advance(k)
                except Exception as error:  # noqa: BLE001 - flowkit's own failure, see crashed()
                    outcome = run.crashed(k, error)
                if outcome.__class__ is float:
                    heapq.heappush(timers, (monotonic() + outcome, k))
                else:
                    for j in record(k, outcome):  # type: ignore[arg-type]
                        heapq.heappush(ready, j)
            elif timers:
                due, k = heapq.heappop(timers)
                time.sleep(max(0.0, due - monotonic()))
                heapq.heappush(ready, k)
            else:
                return
    except KeyboardInterrupt:
        run.interrupted = run.stopping = True


class _Threads:
    """Shared state of one threaded run; everything below is guarded by ``lock``."""

    def __init__(self, run: Run, max_workers: int) -> None:
        self.run = run
        self.max_workers = max_workers
        self.lock = threading.Lock()
        self.work = threading.Condition(self.lock)  # workers wait here for ready stages
        self.main = threading.Condition(self.lock)  # the calling thread waits here
        self.ready: deque[int] = deque()
        self.timers: list[tuple[float, int]] = []
        self.running = 0
        self.idle = 0
        self.threads = 0
        self.waking = 0  # workers woken or started that have not looked for work yet
        self.taken = 0  # stages handed to workers so far: the ready queue's progress
        self.closed = False

    def drive(self) -> None:
        run = self.run
        with self.lock:
            try:
                self.ready.extend(run.initial())
                self._wake(min(1, len(self.ready)))
                while not self._over():
                    if self._may_add_worker():
                        taken = self.taken
                        if not self.running and not self.waking:
                            self._wake(1)  # nobody is working: no reason to wait
                        self.main.wait(HANDOFF_S)
                        if self.ready and self.taken == taken:
                            self._wake(1)  # the queue did not move: add a worker
                    else:
                        wait = self.timers[0][0] - monotonic() if self.timers else None
                        if wait is None or wait > 0:
                            self.main.wait(wait)
                    self._release_due()
            except KeyboardInterrupt:
                run.interrupted = run.stopping = True
                deadline = monotonic() + INTERRUPT_GRACE_S
                while self.running and (left := deadline - monotonic()) > 0:
                    self.main.wait(left)
            finally:
                self.closed = True
                self.work.notify_all()

    def _over(self) -> bool:
        return self.run.remaining == 0 or (self.run.stopping and self.running == 0)

    def _may_add_worker(self) -> bool:
        """Stages are waiting and another worker could take them."""
        return (
            bool(self.ready)
            and not self.run.stopping
            and (self.idle > 0 or self.threads < self.max_workers)
        )

    def _release_due(self) -> None:
        now = monotonic()
        while self.timers and self.timers[0][0] <= now and not self.run.stopping:
            self.ready.append(heapq.heappop(self.timers)[1])

    def _wake(self, count: int) -> None:
        notify = min(count, self.idle)
        if notify:
            self.idle -= notify
            self.waking += notify
            self.work.notify(notify)
        for _ in range(min(count - notify, self.max_workers - self.threads)):
            self.threads += 1
            self.waking += 1
            threading.Thread(target=self._worker, name="flowkit-worker", daemon=True).start()

    def _next(self) -> int | None:
        """Wait for a ready stage (lock held); None when the run is over."""
        while not self.closed:
            if self.ready and not self.run.stopping:
                self.running += 1
                self.taken += 1
                return self.ready.popleft()
            self.idle += 1
            self.work.wait()
            self.waking = max(0, self.waking - 1)
        return None

    def _worker(self) -> None:
        run, lock = self.run, self.lock
        with lock:
            self.waking -= 1
            k = self._next()
        while k is not None:
            try:
                outcome = run.advance(k)
            except Exception as error:  # noqa: BLE001 - a dead worker would hang the run
                outcome = run.crashed(k, error)
            with lock:
                self.running -= 1
                if outcome.__class__ is float:
                    heapq.heappush(self.timers, (monotonic() + outcome, k))
                    self.main.notify()
                    ready: list[int] = []
                else:
                    ready = run.record(k, outcome)  # type: ignore[arg-type]
                    if self._over():
                        self.main.notify()
                if ready and not run.stopping and not self.closed:
                    k = ready[0]
                    self.running += 1
                    self.taken += 1
                    if len(ready) > 1:
                        if not self.ready:
                            self.main.notify()  # the calling thread decides on more workers
                        self.ready.extend(ready[1:])
                else:
                    self.ready.extend(ready)
                    k = self._next()


def run_threads(run: Run, max_workers: int) -> None:
    """Run the attempts on up to ``max_workers`` worker threads."""
    _Threads(run, max_workers).drive()


def local_call(run: Run, k: int, stage: Stage, kwargs: dict[str, Any], name: str) -> Any:
    """Call stage ``k`` once in this process: plain, fan-out or parallel group."""
    if stage.map_over is not None:
        return _map(run, k, stage, kwargs, stage.map_over)
    if isinstance(stage, ParallelStage):
        return run_group(stage, kwargs, run)
    return call_sync(stage, kwargs, name)


def _map(run: Run, k: int, stage: Stage, kwargs: dict[str, Any], param: str) -> list[Any]:
    """Call ``stage`` once per item of its ``map_over`` argument ``param``, each with its
    own retries and timeout; the output is the list of results in input order."""
    name = run.plan.names[k]
    items = list(kwargs[param])
    attempts = [0] * len(items)

    cache = run.cache if stage.cache else None

    def one(index: int) -> Any:
        item_kwargs = {**kwargs, param: items[index]}
        key = cache.key(stage, item_kwargs) if cache is not None else None
        first = monotonic()
        if key is not None:
            hit, value = cache.load(key)  # type: ignore[union-attr]
            if hit:
                run.item_ended(k, index, len(items), 0, monotonic() - first, cached=True)
                return value
        while True:
            attempts[index] += 1
            start = monotonic()
            try:
                output = call_sync(stage, item_kwargs, name)
            except Exception as error:
                attempt = attempts[index]
                if not stage.retry.should_retry(attempt, error) or run.stopping:
                    run.item_ended(k, index, len(items), attempt, monotonic() - first, error=error)
                    raise
                delay = stage.retry.delay(attempt)
                run.retrying(k, attempt, delay, error, start, item=index)
                time.sleep(delay)
            else:
                if key is not None:
                    cache.store(key, output)  # type: ignore[union-attr]
                run.item_ended(k, index, len(items), attempts[index], monotonic() - first)
                return output

    try:
        outcomes = _each(lambda i: _outcome(one, i), len(items), min(run.max_workers, len(items)))
    finally:
        run.attempts[k] = max(attempts, default=1)
    for index, (ok, value) in enumerate(outcomes):
        if not ok:
            raise fail_item(value, index, name)
    return [value for _, value in outcomes]


def fail_item(error: BaseException, index: int, name: str) -> BaseException:
    """Make the error of a failed ``map_over`` item name its index (type kept)."""
    error.add_note(f"map_over item {index} of stage {name!r} failed")
    if error.args and isinstance(error.args[0], str):
        error.args = (f"item {index}: {error.args[0]}", *error.args[1:])
    return error


def _each(fn: Callable[[int], Any], count: int, workers: int) -> list[Any]:
    """``[fn(0), ..., fn(count - 1)]`` on up to ``workers`` daemon threads.

    Not a ThreadPoolExecutor: its threads are joined at interpreter exit, so an item
    abandoned at an interrupt would keep the process alive until it returned.
    """
    if workers <= 1:
        return [fn(i) for i in range(count)]
    results: list[Any] = [None] * count
    indices = iter(range(count))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(indices, None)
            if index is None:
                return
            results[index] = fn(index)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _outcome(fn: Any, index: int) -> tuple[bool, Any]:
    try:
        return True, fn(index)
    except Exception as error:  # noqa: BLE001 - the lowest failing index is raised
        return False, error


def run_group(
    stage: ParallelStage, kwargs: dict[str, Any], parent: Run | None = None
) -> dict[str, Any]:
    """Run a parallel group's children as a nested run on their own worker threads and
    return their outputs by name.

    With a ``parent`` run, children report through its events and their results are kept
    for the group's ``StageResult.children``; without one they run silently.

    Raises:
        Exception: The first failed child's error, after all children finished.
    """
    kwargs = stage.child_inputs(kwargs)
    graph = stage.graph
    # A group runs its children concurrently whatever the executor (DESIGN §2): its own
    # max_workers, else the default pool size.
    workers = stage.max_workers or default_workers()
    child_run = Run(
        Plan(graph, list(graph.order), ()),
        kwargs,
        name=parent.name if parent else stage.name,
        fail_fast=False,
        call=local_call,
        run_id=parent.run_id if parent else "",
        events=parent.events if parent else ev.SilentEvents("", stage.name),
        max_workers=workers,
    )
    run_threads(child_run, workers)
    result = child_run.finish()
    if parent is not None:
        parent.children[parent.plan.index[stage.name]] = result.stages
    for child in result.stages.values():
        if child.status is FAILED and child.error is not None:
            raise child.error
    return result.outputs
