"""The state machine of one run: calls out, outcomes in.

`Run` hands out calls (`next_call`) and takes back their outcomes (`complete`); it alone
decides arguments, skips and cancellations, conditions, the cache, retries (a retry waits in
``delayed`` for the scheduler's timers, then comes back through `wake`), fail-fast, hooks,
statuses and events. It never runs a stage and never waits: `flowkit._schedule` loops, and
executors run the calls. It is not thread-safe: the scheduler serialises every call into it.
Stages are addressed by their index in the run's `Plan`; a parallel group's children are
a nested `Run` over the group's own plan, sharing the root's events and fail-fast.
"""

from __future__ import annotations

import time
from heapq import heappop
from typing import Any

from flowkit import _events as ev
from flowkit._calls import Call
from flowkit._conclude import context
from flowkit._fanout import fan_out, free_group_slots, item_done, item_settled, open_group
from flowkit._hot import open_call, record_success
from flowkit._pipelining import Withdrawn, withdraw
from flowkit._plan import CACHED, CONDITIONAL, CONTEXT_ARG, FAN_OUT, GROUP
from flowkit._stage import CONTEXT
from flowkit._state import (
    CANCELLED,
    FAIL_FAST,
    FAILED,
    PENDING,
    SKIPPED,
    SUCCESS,
    CacheBackend,
    RunState,
    monotonic,
)

__all__ = ["CacheBackend", "Run", "monotonic"]


class Run(RunState):
    """One run: the steps that hand out calls and take their outcomes back."""

    # Pipelining hook (flowkit._pipelining): True when the pool emits each attempt's
    # ``stage.started`` itself, once the call really starts where it runs.
    starts_elsewhere = False

    # -- the protocol ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the clock, emit ``pipeline.started`` and make the first stages ready."""
        self.wall0, self.mono0 = time.time(), monotonic()
        self.shift = self.wall0 - self.mono0
        if self.events.info:
            self.events.emit(
                ev.PIPELINE_STARTED,
                status="running",
                stages=len(self.plan.names),
                dependencies=self.plan.dependency_names(),
            )
        self.open_initial()

    def next_call(self) -> Call | None:
        """The next call to run now, or None when nothing can start at the moment."""
        root = self.root
        while not root.interrupted:
            if self.urgent or self.groups:
                started = self._next_started()
                if started is not None:
                    return started
            if not self.ready or root.stopping:
                return None
            k = heappop(self.ready)
            try:
                opened = open_call(self, k) if self.hot[k] else self._open(k)
            except Exception as error:  # noqa: BLE001 - flowkit's own failure, see crash
                self.crash(k, error)
                continue
            if opened is not None:
                return opened
        return None

    def complete(self, call: Call, ok: bool, value: Any, worker: str | None = None) -> None:
        """Take the outcome of ``call``: its output (``ok``) or its error. ``worker`` (where
        it ran, for executor objects) goes into the events."""
        if call.run is not self:
            free_group_slots(call.run)
            call.run.complete(call, ok, value, worker)  # a parallel group's child
            return
        k = call.node
        if self.status[k] is not PENDING:
            return  # the stage already ended (interrupt, a crash): a late outcome is void
        try:
            if call.item is not None:
                item_done(self, call, ok, value, worker)
            elif not ok:
                self.attempt_failed(call, value, worker)
            elif self.hot[k]:
                record_success(self, k, value)
            else:
                self._succeeded(call, value, worker)
        except Exception as error:  # noqa: BLE001 - flowkit's own failure, see crash
            self.crash(k, error)

    def crashed(self, call: Call, error: Exception) -> None:
        """flowkit failed around ``call`` (e.g. the executor could not send it): its stage
        ends FAILED with ``error``, without hook or event, and the run goes on."""
        if call.run is not self:
            free_group_slots(call.run)
            call.run.crashed(call, error)
        else:
            self.crash(call.node, error)

    def wake(self, call: Call) -> None:
        """The retry delay of ``call`` passed (or the run is stopping): let it run again,
        or end it CANCELLED when fail-fast or an interrupt stopped the run meanwhile."""
        if call.run is not self:
            call.run.wake(call)
        elif self.status[call.node] is not PENDING:
            return
        elif self.root.stopping:
            self.guarded(call.node, self._cut, call)
        else:
            self.urgent.append(call)

    def interrupt(self) -> None:
        """Ctrl-C: nothing starts any more; what has not ended is cancelled at `finish`."""
        root = self.root
        root.interrupted = root.stopping = True

    # -- stages --------------------------------------------------------------------------

    def _next_started(self) -> Call | None:
        """A retry whose delay passed, a ``map_over`` item or a group's child, or None."""
        while self.urgent:
            call = self.urgent.popleft()
            if self.guarded(call.node, self._relaunch, call):
                return call
        for group in tuple(self.groups):
            if group.cap is not None and group.active >= group.cap:
                continue  # the group's max_workers children run already
            child = group.next_call()
            if child is not None:
                group.active += 1
                return child
        return None

    def _open(self, k: int) -> Call | None:
        """Stage ``k`` is ready: its first call, or None when it ended already."""
        kwargs = self._arguments(k)
        if kwargs is None:
            return None
        call = Call(self, k, self.plan.stages[k], kwargs, self.plan.direct[k])
        return call if self._launch(call) else None

    def _arguments(self, k: int) -> dict[str, Any] | None:
        """Stage ``k``'s arguments, or None after cancelling or skipping it. A dependency
        that failed or was cancelled cancels it, whatever else it depends on (§11.1)."""
        plan, status, outputs = self.plan, self.status, self.outputs
        params, inputs = plan.inputs[k], self.inputs
        kwargs = {p: inputs[p] for p in params if p in inputs} if params else {}
        skipped_by = -1
        for param, j in plan.args[k]:
            dep = status[j]
            if dep is SUCCESS:
                kwargs[param] = outputs[j]
            elif dep is not SKIPPED:
                self._cancel(k, j)
                return None
            elif skipped_by < 0 and param not in plan.stages[k].defaults:
                skipped_by = j
        for j in plan.order_only[k]:
            if status[j] is FAILED or status[j] is CANCELLED:
                self._cancel(k, j)
                return None
        if skipped_by >= 0:
            reason = f"dependency {plan.names[skipped_by]!r} was skipped"
            self.conclude(k, SKIPPED, reason=reason)
            return None
        return kwargs

    def _cancel(self, k: int, dep: int) -> None:
        reason = f"dependency {self.plan.names[dep]!r} {self.status[dep].value}"
        self.conclude(k, CANCELLED, reason=reason)

    def _launch(self, call: Call) -> bool:
        """Start the next attempt of ``call``'s stage; False when it ends or fans out here."""
        k = call.node
        call.attempt = self.attempts[k] = self.attempts[k] + 1
        call.started = monotonic()
        shape = self.plan.shape[k]
        if shape & CONTEXT_ARG:  # before the condition, which may take it too
            call.kwargs[CONTEXT] = context(self, k, call.kwargs, call.attempt)
        if shape & CONDITIONAL and not self._condition(call):
            return False
        if not self.first_start[k]:
            self.first_start[k] = call.started
        if shape and not self._prepare(call, shape):
            return False
        if self.events.info and not self.root.starts_elsewhere:  # type: ignore[attr-defined]
            ev.emit_started(self.events, call)
        return True

    def _condition(self, call: Call) -> bool:
        """Evaluate the stage's condition before the attempt: False when it ends here
        (skipped, never started) or the condition raised (a failed attempt)."""
        k = call.node
        try:
            run = call.stage.should_run(call.kwargs)
        except Exception as error:  # noqa: BLE001 - a raising condition is a failed attempt
            if not self.first_start[k]:
                self.first_start[k] = call.started
            self.attempt_failed(call, error)
            return False
        if not run:
            self.conclude(k, SKIPPED, reason="condition is false")
        return bool(run)

    def _prepare(self, call: Call, shape: int) -> bool:
        """What happens before an attempt of a stage that is not a plain function."""
        k, stage, kwargs = call.node, call.stage, call.kwargs
        if shape & FAN_OUT:
            fan_out(self, call)
            return False
        if shape & GROUP:
            open_group(self, call)
            return False
        if shape & CACHED and self.cache is not None:
            key = self.cache.key(stage, kwargs)
            if key is not None:
                hit, value = self.cache.load(key)
                if hit:
                    self.attempts[k] = 0
                    self.conclude(k, SUCCESS, value, cached=True)
                    return False
                self.cache_keys[k] = key
        return True

    def _relaunch(self, call: Call) -> bool:
        """Start a woken retry or a ``map_over`` item; False when it ends here instead (a
        retry that fail-fast overtook on its way out of the timers)."""
        if self.root.stopping and (call.item is None or self.fans[call.node].attempts[call.item]):
            self._cut(call)  # a retry (an item's first attempt still runs)
            return False
        if call.item is None:
            return self._launch(call)
        fan = self.fans[call.node]
        call.attempt = fan.attempts[call.item] = fan.attempts[call.item] + 1
        call.started = now = monotonic()
        if call.attempt == 1:
            fan.first[call.item] = now
        return True

    def _succeeded(self, call: Call, value: Any, worker: str | None) -> None:
        k = call.node
        key = self.cache_keys.pop(k, None) if self.cache_keys else None
        if key is not None:
            self.cache.store(key, value)  # type: ignore[union-attr]
        self.conclude(k, SUCCESS, value, worker=worker)

    def will_retry(self, call: Call, error: BaseException, worker: str | None) -> bool:
        """True when ``call`` is retried after ``error`` (it then waits in ``delayed``)."""
        if isinstance(error, Withdrawn):  # pipelining hook: the executor never started it
            self.guarded(call.node, withdraw, self, call)
            return True
        if isinstance(error, KeyboardInterrupt):
            self.interrupt()  # a stage raising it interrupts the run, as Ctrl-C does
            return True
        retry = call.stage.retry if call.item is not None else self.plan.retries[call.node]
        if not retry.should_retry(call.attempt, error):  # a stopping run cuts it in `wake`
            return False
        delay = retry.delay(call.attempt)
        took = monotonic() - call.started
        ev.emit_retrying(self.events, call, delay=delay, error=error, duration=took, worker=worker)
        call.due = monotonic() + delay
        self.root.delayed.append(call)
        return True

    def attempt_failed(self, call: Call, error: BaseException, worker: str | None = None) -> None:
        if not self.will_retry(call, error, worker):
            self.cache_keys.pop(call.node, None)
            self.conclude(call.node, FAILED, error=error, worker=worker)

    def _cut(self, call: Call) -> None:
        """A retry that fail-fast (or an interrupt) stopped while it waited."""
        if call.item is None:
            self.conclude(call.node, CANCELLED, reason=FAIL_FAST)
        else:
            item_settled(self, call.node, call.item, None, None)
