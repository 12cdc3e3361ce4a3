"""The driver for executor objects: schedules a run's calls onto an `Executor`.

Everything but the call itself happens here, in the calling process: arguments, conditions,
the cache, retries and their delays, timeouts, events and hooks. A ``map_over`` stage becomes
one call per item, each with its own retries and timeout.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

from flowkit._drivers import INTERRUPT_GRACE_S, fail_item
from flowkit._engine import FAILED, Run, monotonic
from flowkit._results import Record, StageResult
from flowkit._stage import Stage
from flowkit.errors import StageTimeoutError
from flowkit.executors._protocol import Completion, Executor

Key = tuple[int, int | None]  # (stage index, map item index or None)


class _Fanout:
    """The items of one ``map_over`` stage in flight."""

    __slots__ = ("attempts", "first", "items", "keys", "left", "outcomes")

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.keys: list[str | None] = [None] * len(items)  # cache keys, when cached
        self.attempts = [0] * len(items)
        self.first = [0.0] * len(items)  # when each item's first attempt started
        self.outcomes: list[tuple[bool, Any] | None] = [None] * len(items)
        self.left = len(items)


class ExecutorDriver:
    """Runs one `Run` on one `Executor`."""

    def __init__(self, run: Run, executor: Executor) -> None:
        self.run = run
        self.executor = executor
        self.capacity = 1
        self.ready: deque[int] = deque()
        self.queue: deque[Key] = deque()  # calls of started stages waiting for capacity
        self.running: dict[Key, float] = {}  # key -> start time
        self.deadlines: list[tuple[float, Key]] = []
        self.timers: list[tuple[float, Key]] = []  # delayed retries
        self.kwargs: dict[int, dict[str, Any]] = {}
        self.refs: dict[int, Any] = {}
        self.fanouts: dict[int, _Fanout] = {}

    def start(self, max_workers: int | None) -> None:
        """Start the executor (before ``pipeline.started``: a cluster that cannot be
        reached fails the run before it begins)."""
        try:
            self.capacity = max(1, self.executor.start(max_workers))
        except BaseException:
            self.executor.shutdown()
            raise

    def drive(self) -> None:
        """Run until every stage ended, fail-fast stopped the run, or Ctrl-C; then shut
        the executor down."""
        run = self.run
        self.ready.extend(run.initial())
        try:
            while True:
                self._fill()
                if self._over():
                    return
                for completion in self.executor.wait(self._next_wakeup()):
                    self._complete(completion)
                self._expire(monotonic())
        except KeyboardInterrupt:
            run.interrupted = run.stopping = True
            deadline = monotonic() + INTERRUPT_GRACE_S
            while self.running and (left := deadline - monotonic()) > 0:
                for completion in self.executor.wait(left):
                    self._complete(completion)
        finally:
            for key in list(self.running):
                self.executor.cancel(key)
            self.executor.shutdown()

    # -- scheduling ------------------------------------------------------------------------

    def _over(self) -> bool:
        if self.run.done:
            return True
        idle = not self.running and not self.queue
        return idle and (self.run.stopping or (not self.ready and not self.timers))

    def _next_wakeup(self) -> float | None:
        due = [heap[0][0] for heap in (self.timers, self.deadlines) if heap]
        return max(0.0, min(due) - monotonic()) if due else None

    def _fill(self) -> None:
        now = monotonic()
        while self.timers and self.timers[0][0] <= now and not self.run.stopping:
            _, key = heapq.heappop(self.timers)
            if key[1] is None:
                self._attempt(key[0])
            else:
                self.queue.append(key)
        while len(self.running) < self.capacity:
            if self.queue:
                self._submit(self.queue.popleft())
            elif self.ready and not self.run.stopping:
                self._start(self.ready.popleft())
            else:
                return

    def _finish(self, k: int, result: Record) -> None:
        self.kwargs.pop(k, None)
        self.fanouts.pop(k, None)
        self.ready.extend(self.run.record(k, result))

    def _start(self, k: int) -> None:
        run = self.run
        stage = run.plan.stages[k]
        kwargs = run.arguments(k, stage)
        if isinstance(kwargs, StageResult):
            self._finish(k, kwargs)
            return
        self.kwargs[k] = kwargs
        self._attempt(k)

    def _attempt(self, k: int) -> None:
        run, stage, kwargs = self.run, self.run.plan.stages[k], self.kwargs[k]
        start = monotonic()
        try:
            final = run.begin(k, stage, kwargs)
        except Exception as error:  # noqa: BLE001 - a raising condition is a failed attempt
            self._failed(k, error, start)
            return
        if final is not None:
            self._finish(k, final)
        elif stage.map_over is None:
            self.queue.append((k, None))
        else:
            self._fan_out(k, stage, kwargs)

    def _fan_out(self, k: int, stage: Stage, kwargs: dict[str, Any]) -> None:
        fanout = self.fanouts[k] = _Fanout(list(kwargs[stage.map_over]))  # type: ignore[index]
        cache = self.run.cache if stage.cache else None
        for index, item in enumerate(fanout.items):
            if cache is not None:
                key = fanout.keys[index] = cache.key(stage, {**kwargs, str(stage.map_over): item})
                hit, value = cache.load(key) if key is not None else (False, None)
                if hit:
                    self.run.item_ended(k, index, len(fanout.items), 0, 0.0, cached=True)
                    fanout.outcomes[index] = (True, value)
                    fanout.left -= 1
                    continue
            self.queue.append((k, index))
        if fanout.left == 0:
            self._fan_in(k, fanout)

    def _submit(self, key: Key) -> None:
        k, index = key
        stage = self.run.plan.stages[k]
        kwargs = dict(self.kwargs[k])
        for param, j in self.run.plan.args[k]:
            if j in self.refs and param in kwargs:
                kwargs[param] = self.refs[j]
        if index is not None:
            fanout = self.fanouts[k]
            fanout.attempts[index] += 1
            kwargs[stage.map_over] = fanout.items[index]  # type: ignore[index]
        now = monotonic()
        if index is not None and self.fanouts[k].attempts[index] == 1:
            self.fanouts[k].first[index] = now
        self.running[key] = now
        if stage.timeout is not None:
            heapq.heappush(self.deadlines, (now + stage.timeout, key))
        self.executor.submit(key, stage, kwargs)

    # -- outcomes --------------------------------------------------------------------------

    def _complete(self, completion: Completion) -> None:
        key: Key = completion.key  # type: ignore[assignment]
        start = self.running.pop(key, None)
        if start is None:
            return  # cancelled or timed out: a late result is void
        k, index = key
        if index is not None:
            self._item_done(k, index, completion, start)
        elif completion.ok:
            if completion.ref is not None:
                self.refs[k] = completion.ref
            self._finish(k, self.run.succeeded(k, completion.value, completion.worker))
        else:
            self._failed(k, completion.value, start, completion.worker)

    def _failed(self, k: int, error: Exception, start: float, worker: str | None = None) -> None:
        outcome = self.run.failed(k, error, start, worker)
        if isinstance(outcome, StageResult):
            self._finish(k, outcome)
        else:
            heapq.heappush(self.timers, (monotonic() + outcome, (k, None)))

    def _expire(self, now: float) -> None:
        while self.deadlines and self.deadlines[0][0] <= now:
            _, key = heapq.heappop(self.deadlines)
            start = self.running.get(key)
            stage = self.run.plan.stages[key[0]]
            if start is None or start + stage.timeout > now + 1e-9:  # type: ignore[operator]
                continue  # finished already, or a later attempt of the same key
            self.executor.cancel(key)
            error = StageTimeoutError(self.run.plan.names[key[0]], stage.timeout)  # type: ignore[arg-type]
            self._complete(Completion(key, ok=False, value=error))

    def _item_done(self, k: int, index: int, completion: Completion, start: float) -> None:
        run, fanout = self.run, self.fanouts[k]
        stage = run.plan.stages[k]
        ok, value = completion.ok, completion.value
        if ok:
            key = fanout.keys[index]
            if key is not None:
                run.cache.store(key, value)  # type: ignore[union-attr]
        else:
            attempt = fanout.attempts[index]
            if not run.stopping and stage.retry.should_retry(attempt, value):
                delay = stage.retry.delay(attempt)
                run.retrying(k, attempt, delay, value, start, item=index, worker=completion.worker)
                heapq.heappush(self.timers, (monotonic() + delay, (k, index)))
                return
        took = monotonic() - fanout.first[index]
        run.item_ended(
            k, index, len(fanout.items), fanout.attempts[index], took,
            error=None if ok else value, worker=completion.worker,
        )  # fmt: skip
        fanout.outcomes[index] = (ok, value)
        fanout.left -= 1
        if fanout.left == 0:
            self._fan_in(k, fanout)

    def _fan_in(self, k: int, fanout: _Fanout) -> None:
        run = self.run
        run.attempts[k] = max(fanout.attempts, default=1)
        for index, (ok, value) in enumerate(fanout.outcomes):  # type: ignore[misc]
            if not ok:
                fail_item(value, index, run.plan.names[k])
                self._finish(k, run.conclude(k, FAILED, error=value))
                return
        self._finish(k, run.succeeded(k, [value for _, value in fanout.outcomes]))  # type: ignore[misc]
