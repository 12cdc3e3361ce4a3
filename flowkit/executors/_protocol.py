"""The executor-object protocol (`Executor`, `Completion`, `call_stage`) and `ObjectPool`,
which puts any object implementing it behind the scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from flowkit._calls import Call
from flowkit._events import emit_started, emit_worker_lost
from flowkit._pipelining import DeferredInterrupt, EarlyCalls, Withdrawn
from flowkit._stage import Stage

if TYPE_CHECKING:
    from flowkit._schedule import Report, Scheduler


@attrs.frozen
class Completion:
    """One finished call, as reported by `Executor.wait`.

    Attributes:
        key: The key given to `Executor.submit`.
        ok: True when the call returned, False when it raised.
        value: The output (``ok``) or the exception.
        ref: What dependents receive instead of ``value`` (e.g. a Dask future, so data moves
            worker to worker); ``None`` means ``value`` itself.
        worker: Where the call ran (an address or process name), for events.
    """

    key: Hashable
    ok: bool
    value: Any
    ref: Any = None
    worker: str | None = None


@runtime_checkable
class Executor(Protocol):
    """Runs stage calls somewhere else, like a `concurrent.futures.Executor` whose futures
    come back through `wait`. flowkit does the rest in the calling process: scheduling,
    retries and their delays, timeouts, events, hooks, the cache.

    flowkit calls `start` once (before ``pipeline.started``; it calls `shutdown` if
    ``start`` raises), then `submit` at most ``capacity`` calls at a time, `wait` for
    completions, `cancel` for a call whose timeout passed or that is no longer wanted, and
    `shutdown` once at the end (also after errors). A call is one attempt of a stage or of
    one ``map_over`` item, or of one child of a parallel group.
    """

    def start(self, max_workers: int | None) -> int:
        """Get ready; return how many calls may run at once (the capacity).
        ``max_workers`` is the run's limit, None when the user set none."""

    def submit(self, key: Hashable, stage: Stage, kwargs: dict[str, Any]) -> None:
        """Start ``call_stage(stage, kwargs)``; ``kwargs`` may hold refs of earlier
        completions. Report a call that cannot even start (e.g. an argument that does not
        pickle) as a failed completion, do not raise."""

    def wait(self, timeout: float | None) -> list[Completion]:
        """Block until at least one call finished or ``timeout`` seconds passed."""

    def cancel(self, key: Hashable) -> None:
        """Stop call ``key`` (kill it if it runs); its completion is not reported."""

    def shutdown(self) -> None:
        """Release every resource; calls still running are abandoned."""


def call_stage(stage: Stage, kwargs: dict[str, Any]) -> Any:
    """Call ``stage`` once; what an executor runs on its workers. An async stage runs to
    completion on an event loop of its own there (flowkit enforces timeouts)."""
    output = stage.execute(kwargs)
    if stage.is_async:
        return asyncio.run(output)  # type: ignore[arg-type]
    return output


class ObjectPool:
    """An `Executor` object behind the scheduler: calls become keyed submissions,
    completions become reports, and a completion's ``ref`` replaces its value in the
    arguments of later calls.

    An executor that takes early calls (``submit_early`` and ``adopt``, see
    `flowkit._pipelining`) also gets the dependents of each call it is sent, before their
    dependencies end; one that stops calls at their timeout itself says
    ``enforces_timeouts = True`` (else the scheduler's deadlines cancel them)."""

    def __init__(self, executor: Executor, max_workers: int | None) -> None:
        self.executor = executor
        self.max_workers = max_workers
        self.capacity = 1
        self.timeouts = bool(getattr(executor, "enforces_timeouts", False))
        self._calls: dict[Hashable, Call] = {}
        self._refs: dict[tuple[tuple[int, ...], int], Any] = {}
        self._early = EarlyCalls(executor) if hasattr(executor, "submit_early") else None
        wake = getattr(executor, "wake", None)
        self._interrupt = DeferredInterrupt(wake) if self._early and wake else None
        self._root: Any = None
        self._started: dict[Hashable, int] = {}  # key -> attempt whose start was logged

    def open(self, scheduler: Scheduler) -> None:
        self._root = scheduler.run.root
        if getattr(self.executor, "reports_starts", False):
            self._root.starts_elsewhere = True  # then `_log_starts` emits stage.started
        if self._interrupt is not None:
            self._interrupt.install()
        try:
            self.capacity = max(1, self.executor.start(self.max_workers))
        except BaseException:
            self.executor.shutdown()
            raise

    def submit(self, call: Call) -> None:
        key = call.key
        self._calls[key] = call
        early = self._early
        if early is None:
            self.executor.submit(key, call.stage, self._arguments(call))
            return
        if not early.adopt(call):
            early.number(key)
            self.executor.submit(key, call.stage, self._arguments(call))
        early.follow(call, self._refs)

    def _arguments(self, call: Call) -> dict[str, Any]:
        refs = self._refs
        if not refs:
            return call.kwargs
        kwargs = dict(call.kwargs)
        path, fanned = call.run.path, call.stage.map_over if call.item is not None else None
        for param, j in call.run.plan.args[call.node]:
            ref = refs.get((path, j))
            if ref is not None and param != fanned and param in kwargs:
                kwargs[param] = ref
        return kwargs

    def wait(self, timeout: float | None) -> list[Report]:
        if self._interrupt is not None:
            self._interrupt.raise_caught()  # between outcomes: none is lost
        early = self._early
        if early is not None and self._root.stopping:
            early.stop(self._root.interrupted)
        try:
            completions = self.executor.wait(timeout)
        except Exception as error:  # noqa: BLE001 - a transport error fails what is in flight
            calls, self._calls = list(self._calls.values()), {}
            return [(call, False, error, None) for call in calls]
        losses = getattr(self.executor, "worker_losses", None)
        if losses is not None:
            self._log_losses(losses())
        if self._root is not None and self._root.starts_elsewhere:
            self._log_starts(self.executor.started(), completions)  # type: ignore[attr-defined]
        reports: list[Report] = []
        for done in completions:
            call = self._calls.pop(done.key, None)
            if early is not None:
                early.ended(done.key, done.ok)
            if call is None:
                continue  # cancelled or timed out: a late result is void
            if done.ok and done.ref is not None and call.item is None:
                self._refs[call.run.path, call.node] = done.ref
            reports.append((call, done.ok, done.value, done.worker))
        return reports

    def _log_starts(self, started: list[Hashable], completions: list[Completion]) -> None:
        """``stage.started`` of each call that started where it runs (and of one that
        ended before its start was heard of), once per attempt; items have none."""
        emitted = self._started
        for key in (*started, *(c.key for c in completions if c.value.__class__ is not Withdrawn)):
            call = self._calls.get(key)
            if call is None or call.item is not None or emitted.get(key) == call.attempt:
                continue
            emitted[key] = call.attempt
            if call.run.events.info:
                emit_started(call.run.events, call)

    def _log_losses(self, losses: list[tuple[Hashable, str, bool]]) -> None:
        for key, worker, rescheduled in losses:
            call = self._calls.get(key)
            if call is not None:
                emit_worker_lost(call.run.events, call, worker=worker, rescheduled=rescheduled)

    def cancel(self, call: Call) -> None:
        if self._calls.pop(call.key, None) is not None:
            self.executor.cancel(call.key)
            if self._early is not None:
                self._early.ended(call.key, False)

    def close(self) -> None:
        if self._interrupt is not None:
            self._interrupt.uninstall()
        if self._early is not None:
            self._early.drop_all()
        self._refs.clear()
        self.executor.shutdown()


def unpicklable_argument(
    stage: Stage,
    kwargs: dict[str, Any],
    dumps: Callable[[Any], bytes],
    why: str,
    skip: Callable[[Any], bool] = lambda value: False,
) -> TypeError | None:
    """A ``TypeError`` naming the first argument of ``stage`` that ``dumps`` cannot pickle
    (its parameter and type; ``why`` says where it was going), or None."""
    for param, value in kwargs.items():
        if skip(value):
            continue
        try:
            dumps(value)
        except Exception as error:  # noqa: BLE001 - this is the culprit we report
            return TypeError(
                f"stage {stage.name!r}: argument {param!r}: a value of type "
                f"{type(value).__qualname__} cannot be pickled ({error}); {why}"
            )
    return None
