"""The state machine of one run, shared by every driver.

A driver (``flowkit._drivers``) decides *where* attempts run; this module decides *what*
happens: arguments and skip propagation, conditions, attempts and retries, statuses, hooks
and events. Stages are addressed by their index in the run's plan.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from flowkit import _events as ev
from flowkit._context import StageContext
from flowkit._plan import Plan
from flowkit._results import (
    NO_CHILDREN,
    PipelineResult,
    PipelineStatus,
    Record,
    StageResult,
    StageResults,
    StageStatus,
    Success,
)
from flowkit._seed import final_hooks, output_key
from flowkit._stage import CONTEXT, Stage

PENDING = StageStatus.PENDING
SUCCESS, FAILED = StageStatus.SUCCESS, StageStatus.FAILED
SKIPPED, CANCELLED = StageStatus.SKIPPED, StageStatus.CANCELLED

monotonic = time.monotonic


_CACHED = {"cached": True}
_NOWHERE: dict[str, str] = {}


def _where(worker: str | None) -> dict[str, str]:
    return _NOWHERE if worker is None else {"worker": worker}


Caller = Callable[["Run", int, Stage, dict[str, Any], str], Any]


class CacheBackend(Protocol):
    """What the engine needs of a cache (``flowkit.Cache`` implements it)."""

    def key(self, stage: Stage, kwargs: Mapping[str, Any]) -> str | None:
        """The entry key of one call, or None when the arguments cannot be hashed."""

    def load(self, key: str) -> tuple[bool, Any]:
        """``(True, value)`` on a valid hit, ``(False, None)`` otherwise."""

    def store(self, key: str, value: Any) -> None:
        """Save ``value`` (never raises for a value that cannot be pickled)."""


class Run:
    """The state of one run. ``advance`` and ``record`` are the two steps a driver takes for
    each stage; ``record`` must be called under the driver's lock when it has threads."""

    def __init__(
        self,
        plan: Plan,
        inputs: Mapping[str, Any],
        *,
        name: str,
        fail_fast: bool,
        call: Caller,
        overrides: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        events: ev.Events | None = None,
        max_workers: int = 1,
        cache: CacheBackend | None = None,
    ) -> None:
        self.plan = plan
        self.name = name
        self.fail_fast = fail_fast
        self.call = call
        self.max_workers = max_workers
        self.cache = cache
        self.run_id = run_id or uuid.uuid4().hex
        self.events = events or ev.Events(self.run_id, name)
        self.nested = events is not None  # a parallel group's children: no pipeline events
        self.inputs = inputs
        n = len(plan.names)
        self.status: list[StageStatus] = [PENDING] * n
        self.outputs: list[Any] = [None] * n
        self.results: list[Record | None] = [None] * n
        self.attempts = [0] * n
        self.first_start = [0.0] * n
        self.children: dict[int, Mapping[str, StageResult]] = {}
        self.cache_keys: dict[int, str] = {}
        self.waiting = [len(deps) for deps in plan.deps]
        self.remaining = n
        self.stopping = False
        self.interrupted = False
        no_inputs: dict[str, Any] = {}  # shared: each attempt copies its base
        self.base_kwargs = [
            {p: inputs[p] for p in params if p in inputs} if params else no_inputs
            for params in plan.input_params
        ]
        self.wall0, self.mono0 = time.time(), monotonic()
        overrides = overrides or {}
        for k in plan.overridden:
            self.record(k, StageResult(plan.names[k], SUCCESS, overrides[plan.names[k]]))

    # -- the driver's steps ------------------------------------------------------------

    def announce(self) -> None:
        """Emit ``pipeline.started``: the run begins."""
        self.events.emit(
            ev.PIPELINE_STARTED,
            status="running",
            stages=len(self.plan.names),
            dependencies=ev.dependency_names(self.plan.names, self.plan.deps),
        )

    def initial(self) -> list[int]:
        """The stages that can start at once."""
        return [k for k, w in enumerate(self.waiting) if w == 0 and self.status[k] is PENDING]

    def advance(self, k: int) -> Record | float:
        """Run stage ``k`` from its next attempt until it ends (its final result, hooks run,
        event emitted) or must wait for a retry (the delay in seconds)."""
        stage = self.plan.stages[k]
        kwargs = self.arguments(k, stage)
        if kwargs.__class__ is not dict:
            return kwargs  # type: ignore[return-value]
        name = self.plan.names[k]
        direct = self.plan.direct[k]
        if self.plan.fast[k] and not self.events.info and not self.attempts[k]:
            # The hot path: a plain function's first attempt, with nobody listening to
            # info events; failures and retries take the general path below.
            self.attempts[k] = 1
            start = self.first_start[k] = monotonic()
            try:
                output = direct(**kwargs)  # type: ignore[misc]
            except Exception as error:  # noqa: BLE001 - any stage error is an attempt failure
                outcome = self.failed(k, error, start)
                if outcome.__class__ is not float or outcome > 0:
                    return outcome
            else:
                end = monotonic()
                shift = self.wall0 - self.mono0
                return Success(name, output, 1, start + shift, end + shift, end - start)
        while True:
            start = monotonic()
            try:
                final = self.begin(k, stage, kwargs)
                if final is not None:
                    return final
                if direct is not None:
                    output = direct(**kwargs)
                else:
                    output = self.call(self, k, stage, kwargs, name)
            except Exception as error:  # noqa: BLE001 - any stage error is an attempt failure
                outcome = self.failed(k, error, start)
                if outcome.__class__ is not float or outcome > 0:
                    return outcome
            else:
                return self.succeeded(k, output)

    def begin(self, k: int, stage: Stage, kwargs: dict[str, Any]) -> StageResult | None:
        """Start the next attempt of stage ``k``: evaluate its condition, add its context,
        look it up in the cache, emit ``stage.started``. Returns the final result when the
        stage ends here (condition false, cache hit), else None: call it now."""
        attempt = self.attempts[k] = self.attempts[k] + 1
        if self.plan.wants_context[k]:  # before the condition, which may take it too
            kwargs[CONTEXT] = self._context(k, kwargs, attempt)
        if self.plan.conditional[k] and not stage.should_run(kwargs):
            return self.conclude(k, SKIPPED, reason="condition is false")
        if not self.first_start[k]:
            self.first_start[k] = monotonic()
        cache = self.cache
        if cache is not None and stage.cache and stage.map_over is None:
            key = cache.key(stage, kwargs)
            if key is not None:
                hit, value = cache.load(key)
                if hit:
                    self.attempts[k] = 0
                    return self.conclude(k, SUCCESS, value, cached=True)
                self.cache_keys[k] = key
        if self.events.info:
            self.events.emit(
                ev.STAGE_STARTED, stage=self.plan.names[k], status="running", attempt=attempt
            )
        return None

    def failed(
        self, k: int, error: Exception, start: float, worker: str | None = None
    ) -> StageResult | float:
        """An attempt of stage ``k`` raised: the final result, or the delay before a retry.
        ``worker`` (where it ran, for executor objects) is added to the event."""
        attempt = self.attempts[k]
        if not self.first_start[k]:
            self.first_start[k] = start  # the condition raised: the attempt still counts
        if self.stopping or not self.plan.retries[k].should_retry(attempt, error):
            self.cache_keys.pop(k, None)
            return self.conclude(k, FAILED, error=error, worker=worker)
        delay = self.plan.retries[k].delay(attempt)
        self.retrying(k, attempt, delay, error, start, worker=worker)
        return delay

    def retrying(
        self,
        k: int,
        attempt: int,
        delay: float,
        error: BaseException,
        start: float,
        *,
        item: int | None = None,
        worker: str | None = None,
    ) -> None:
        """Emit ``stage.retrying`` for failed attempt ``attempt`` of stage ``k`` (or of
        its ``map_over`` item ``item``), which started at ``start`` (monotonic)."""
        self.events.emit(
            ev.STAGE_RETRYING,
            stage=self.plan.names[k],
            status="running",
            attempt=attempt,
            delay_s=delay,
            duration_s=monotonic() - start,
            **ev.failure_fields(error),
            **({} if item is None else {"item": item}),
            **_where(worker),
        )

    def item_ended(
        self,
        k: int,
        index: int,
        items: int,
        attempt: int,
        took: float,
        *,
        error: BaseException | None = None,
        cached: bool = False,
        worker: str | None = None,
    ) -> None:
        """Emit the end of item ``index`` (of ``items``) of ``map_over`` stage ``k``:
        ``stage.succeeded`` or ``stage.failed`` with ``item``, which the progress line and
        the run report count. ``took``: seconds from its first attempt to its end."""
        if error is None and not self.events.info:
            return
        self.events.emit(
            ev.STAGE_SUCCEEDED if error is None else ev.STAGE_FAILED,
            stage=self.plan.names[k],
            status=SUCCESS.value if error is None else FAILED.value,
            attempt=attempt,
            item=index,
            items=items,
            duration_s=took,
            **({} if error is None else ev.error_fields(error)),
            **(_CACHED if cached else {}),
            **_where(worker),
        )

    def succeeded(self, k: int, output: Any, worker: str | None = None) -> Record:
        """An attempt of stage ``k`` returned ``output``: store it, return the final result.
        ``worker`` (where it ran, for executor objects) is added to the event."""
        if self.cache_keys:
            key = self.cache_keys.pop(k, None)
            if key is not None:
                self.cache.store(key, output)  # type: ignore[union-attr]
        return self.conclude(k, SUCCESS, output, worker=worker)

    def crashed(self, k: int, error: Exception) -> StageResult:
        """Stage ``k``'s result when flowkit itself failed around it (e.g. a log sink
        raised while emitting its event): FAILED with that error, no hook, no event, so
        the run still ends and keeps everything else."""
        return StageResult(self.plan.names[k], FAILED, None, error, self.attempts[k])

    def record(self, k: int, result: Record) -> list[int]:
        """Store stage ``k``'s final result; return the stages that became ready."""
        if self.results[k] is not None:
            return []  # a stage abandoned at an interrupt finished late: its result is void
        status = result.status
        self.results[k] = result
        self.status[k] = status
        if status is SUCCESS:
            self.outputs[k] = result.output
        elif status is FAILED and self.fail_fast:
            self.stopping = True
        self.remaining -= 1
        ready = []
        waiting = self.waiting
        for j in self.plan.dependents[k]:
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
        return ready

    @property
    def done(self) -> bool:
        """True when nothing is left to run or wait for."""
        return self.remaining == 0

    def finish(self) -> PipelineResult:
        """Cancel every stage that did not end, emit the pipeline's event, return the result."""
        reason = "interrupted" if self.interrupted else "fail-fast: another stage failed"
        for k, stage_result in enumerate(self.results):
            if stage_result is None:
                self.record(k, self.conclude(k, CANCELLED, reason=reason))
        if self.interrupted:
            status = PipelineStatus.CANCELLED
        elif FAILED in self.status:
            status = PipelineStatus.FAILED
        else:
            status = PipelineStatus.SUCCESS
        end = monotonic()
        result = PipelineResult(
            self.run_id,
            self.name,
            status,
            StageResults(self.plan.names, self.results),  # type: ignore[arg-type]
            self.wall0,
            self.wall0 + (end - self.mono0),
            end - self.mono0,
        )
        if not self.nested and (self.events.info or status is not PipelineStatus.SUCCESS):
            self.events.emit(
                f"pipeline.{'succeeded' if status is PipelineStatus.SUCCESS else status.value}",
                status=status.value,
                duration_s=result.duration,
                succeeded=result.succeeded,
                failed=result.failed,
                skipped=result.skipped,
                cancelled=result.cancelled,
            )
        return result

    # -- helpers ---------------------------------------------------------------------------

    def arguments(self, k: int, stage: Stage) -> dict[str, Any] | StageResult:
        kwargs = self.base_kwargs[k].copy()
        status, outputs, names = self.status, self.outputs, self.plan.names
        for param, j in self.plan.args[k]:
            dep_status = status[j]
            if dep_status is SUCCESS:
                kwargs[param] = outputs[j]
            elif dep_status is SKIPPED:
                if param not in stage.defaults:
                    return self.conclude(k, SKIPPED, reason=f"dependency {names[j]!r} was skipped")
            else:
                return self.conclude(
                    k, CANCELLED, reason=f"dependency {names[j]!r} {dep_status.value}"
                )
        for j in self.plan.order_only[k]:
            if status[j] is FAILED or status[j] is CANCELLED:
                return self.conclude(
                    k, CANCELLED, reason=f"dependency {names[j]!r} {status[j].value}"
                )
        return kwargs

    def _context(self, k: int, kwargs: dict[str, Any], attempt: int) -> StageContext:
        data = dict(self.inputs)
        data.update((param, self.outputs[j]) for param, j in self.plan.args[k] if param in kwargs)
        for j in self.plan.order_only[k]:
            if self.status[j] is SUCCESS:
                data[self.plan.names[j]] = self.outputs[j]
        return StageContext(
            data,
            run_id=self.run_id,
            pipeline=self.name,
            stage=self.plan.names[k],
            attempt=attempt,
            log_factory=self.events.stage_logger,
        )

    def conclude(
        self,
        k: int,
        status: StageStatus,
        output: Any = None,
        *,
        error: BaseException | None = None,
        reason: str | None = None,
        cached: bool = False,
        worker: str | None = None,
    ) -> StageResult:
        """Build stage ``k``'s final result, run its hook and emit its event."""
        end = monotonic()
        start = self.first_start[k]
        attempts = self.attempts[k] if status is not SKIPPED else self.attempts[k] - 1
        name = self.plan.names[k]
        shift = self.wall0 - self.mono0
        result = StageResult(
            name,
            status,
            output,
            error,
            max(attempts, 0),
            start + shift if start else None,
            end + shift if start else None,
            end - start if start else 0.0,
            self.children.get(k, NO_CHILDREN) if self.children else NO_CHILDREN,
            reason if status is SKIPPED else None,
            cached,
        )
        if self.results[k] is not None:
            return result  # abandoned at an interrupt and ended late: no hook, no event
        if status is FAILED and self.fail_fast:
            self.stopping = True  # before events and hooks, so no stage starts meanwhile
        events = self.events
        if status is SUCCESS:
            if events.info:
                events.emit(
                    ev.STAGE_SUCCEEDED,
                    stage=name,
                    status="success",
                    attempt=result.attempts,
                    duration_s=result.duration,
                    **_CACHED if cached else _where(worker),
                )
        elif status is FAILED:
            events.emit(
                ev.STAGE_FAILED,
                stage=name,
                status="failed",
                attempt=result.attempts,
                duration_s=result.duration,
                **ev.failure_fields(error),  # type: ignore[arg-type]
                **_where(worker),
            )
        else:
            events.emit(f"stage.{status.value}", stage=name, status=status.value, reason=reason)
        # Hooks run once the final status is known and reported; they cannot change it.
        for hook in final_hooks(self.plan.stages[k], status.value, lambda: self.hook_context(k)):
            self._run_hook(hook, result)
        return result

    def hook_context(self, k: int) -> Mapping[str, Any]:
        """The context a hook method of stage ``k`` receives: the inputs and the outputs
        of its dependencies (also under ``stage_<name>_output``)."""
        done = {
            self.plan.names[j]: self.outputs[j]
            for j in self.plan.deps[k]
            if self.status[j] is SUCCESS
        }
        return MappingProxyType(
            {**self.inputs, **done, **{output_key(n): v for n, v in done.items()}}
        )

    def _run_hook(self, hook: Callable[[StageResult], object], result: StageResult) -> None:
        try:
            hook(result)
        except Exception as error:  # noqa: BLE001 - a hook never changes the status
            self.events.emit(
                ev.STAGE_HOOK_FAILED,
                stage=result.name,
                status=result.status.value,
                hook=getattr(hook, "__name__", repr(hook)),
                **ev.error_fields(error),
            )
