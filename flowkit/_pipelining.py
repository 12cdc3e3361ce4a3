"""Pipelined submission (DESIGN 11.6): calls handed to an executor before their
dependencies have ended, with references to the dependencies' pending results.

The engine stays the one state machine. When a call of stage ``k`` goes to an executor
that takes early calls (Dask), `EarlyCalls` also builds the first call of each dependent
whose every dependency has either succeeded or is itself on the executor, and whose
opening needs nothing the driver only knows once those dependencies have ended: no
condition, no context, no fan-out or group, no cache key, no concurrency limit. The
executor queues it behind the pending results (Dask runs a task only once its inputs
exist, and never when one of them failed), so the scheduler, not the driver, moves a chain
forward.

Nothing is decided early. The engine opens the dependent as usual once its dependencies
have ended (arguments, skips, cancel-beats-skip, fail-fast, ``stage.started``); the pool
then *adopts* the early call instead of submitting a new one, but only if every pending
dependency it was queued behind ended with the very submission it was queued behind (a
retried dependency's next attempt is a new submission: the early call is dropped and a
fresh one submitted). An early call the engine never opens (a dependency failed, fail-fast,
an interrupt) is cancelled; its task never ran, since a failed input fails it unrun.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from flowkit._calls import Call
from flowkit._plan import CACHED, CONDITIONAL, CONTEXT_ARG, FAN_OUT, GROUP
from flowkit._status import StageStatus

if TYPE_CHECKING:
    from flowkit._engine import Run

__all__ = ["EARLY_LIMIT", "DeferredInterrupt", "Early", "EarlyCalls", "Withdrawn", "withdraw"]

PENDING, SUCCESS, SKIPPED = StageStatus.PENDING, StageStatus.SUCCESS, StageStatus.SKIPPED
_NOT_EARLY = CONDITIONAL | CONTEXT_ARG | FAN_OUT | GROUP | CACHED
EARLY_LIMIT = 10_000  # early calls outstanding at most (bounds what waits in the executor)


class Withdrawn(Exception):  # noqa: N818 - an outcome, not an error anyone sees
    """The outcome of a call the executor never started because the run was stopping
    (fail-fast came while the call waited in the executor's queue)."""


def withdraw(run: Run, call: Call) -> None:
    """End ``call``, which never started: its attempt does not count, and it ends as if
    it had waited for a free worker when fail-fast came (a first attempt: the stage never
    started; a retry: cut while it waited)."""
    from flowkit._fanout import item_settled
    from flowkit._state import FAIL_FAST, NOT_STARTED

    k = call.node
    if call.item is not None:
        run.fans[k].attempts[call.item] -= 1
        item_settled(run, k, call.item, None, None)
        return
    run.attempts[k] -= 1
    reason = FAIL_FAST if run.attempts[k] else NOT_STARTED
    run.conclude(k, StageStatus.CANCELLED, reason=reason)


class Early:
    """An early call: the call and the submissions of the pending dependencies it waits
    behind (``(key, submission)`` pairs)."""

    __slots__ = ("call", "waits_for")

    def __init__(self, call: Call, waits_for: tuple[tuple[Hashable, int], ...]) -> None:
        self.call = call
        self.waits_for = waits_for


class EarlyCalls:
    """The early calls of one run on one executor, and the submissions they wait behind.

    ``live`` maps each key on the executor (a call or an early call) to its submission
    number; ``succeeded`` maps a key to the submission that ended it successfully.
    """

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self.live: dict[Hashable, int] = {}
        self.succeeded: dict[Hashable, int] = {}
        self.early: dict[Hashable, Early] = {}
        self.stopped = False
        self._count = 0

    def number(self, key: Hashable) -> int:
        """A new submission of ``key``: its number."""
        self._count += 1
        self.live[key] = self._count
        return self._count

    def adopt(self, call: Call) -> bool:
        """True when the early call of ``call``'s key computes exactly ``call`` (the
        executor then takes it as submitted); else the early call is cancelled."""
        early = self.early.pop(call.key, None)
        if early is None:
            return False
        succeeded = self.succeeded
        valid = call.attempt == 1 and all(succeeded.get(k) == n for k, n in early.waits_for)
        if valid and self.executor.adopt(call.key):
            return True
        self.live.pop(call.key, None)
        self.executor.cancel(call.key)
        return False

    def ended(self, key: Hashable, ok: bool) -> None:
        """``key``'s submission reported its outcome."""
        number = self.live.pop(key, None)
        if ok and number is not None:
            self.succeeded[key] = number

    def stop(self, interrupted: bool) -> None:
        """The run is stopping: no early call will be opened; on fail-fast, calls still
        waiting in the executor's queue must not start either (they come back
        `Withdrawn`). An interrupt cancels them at the end instead, without a round trip
        inside the second it waits for running calls."""
        if self.stopped:
            return
        self.stopped = True
        self.drop_all()
        withdraw_queued = getattr(self.executor, "withdraw_queued", None)
        if withdraw_queued is not None and not interrupted:
            withdraw_queued()

    def drop_all(self) -> None:
        """No early call will be opened: cancel them."""
        for key in self.early:
            self.live.pop(key, None)
            self.executor.cancel(key)
        self.early.clear()

    def follow(self, call: Call, refs: dict[Any, Any]) -> None:
        """``call`` went to the executor: send its dependents early where they may go (and
        theirs, and so on). ``refs`` are the executor's references to finished outputs."""
        if call.item is not None:
            return
        run, frontier = call.run, [call.node]
        while frontier and len(self.early) < EARLY_LIMIT:
            k = frontier.pop()
            frontier.extend(j for j in run.plan.dependents[k] if self._send_early(run, j, refs))

    def _send_early(self, run: Run, j: int, refs: dict[Any, Any]) -> bool:
        plan = run.plan
        if run.status[j] is not PENDING or plan.shape[j] & _NOT_EARLY or run.root.stopping:
            return False
        if j in plan.overridden or _limited(run, j) or run.cap is not None:
            return False  # a limit or a group's max_workers counts calls as they start
        key = ((*run.path, j) if run.path else j, None)
        if key in self.live or not _last_known(run, j, self.live):
            return False
        kwargs, pending, after = _early_arguments(run, j, refs, self.live)
        if kwargs is None:
            return False
        waits_for = tuple((k, self.live[k]) for k in (*pending.values(), *after))
        if not waits_for:
            return False  # nothing pending: the engine opens it at once anyway
        call = Call(run, j, plan.stages[j], kwargs, plan.direct[j])
        call.attempt = 1
        self.number(key)
        if not self.executor.submit_early(key, call.stage, kwargs, pending, after):
            self.live.pop(key, None)
            return False
        self.early[key] = Early(call, waits_for)
        return True


def _last_known(run: Run, j: int, live: dict[Hashable, int]) -> bool:
    """A quick look at ``j``'s last data dependency, the one most likely still missing
    (dependencies go out in pipeline order): keeps a wide fan-in from rescanning all of
    its dependencies each time one more of them goes out."""
    args = run.plan.args[j]
    if not args:
        return True
    d = args[-1][1]
    return run.status[d] is not PENDING or ((*run.path, d) if run.path else d, None) in live


def _limited(run: Run, j: int) -> bool:
    gate = getattr(run, "gate", None)  # a LimitedRun's: its tagged stages wait for slots
    return gate is not None and bool(gate.tags(run.plan.stages[j]))


def _early_arguments(
    run: Run, j: int, refs: dict[Any, Any], live: dict[Hashable, int]
) -> tuple[dict[str, Any] | None, dict[str, Hashable], tuple[Hashable, ...]]:
    """Stage ``j``'s arguments as far as they are known (``None`` when a dependency is
    neither finished nor on the executor), the pending ones by parameter (param -> key),
    and the keys of the pending ordering-only dependencies."""
    plan, status, path = run.plan, run.status, run.path
    inputs = run.inputs
    kwargs = {p: inputs[p] for p in plan.inputs[j] if p in inputs}
    pending: dict[str, Hashable] = {}
    for param, d in plan.args[j]:
        if status[d] is SUCCESS:
            ref = refs.get((path, d))
            kwargs[param] = ref if ref is not None else run.outputs[d]
            continue
        key = ((*path, d) if path else d, None)
        if status[d] is not PENDING or key not in live:
            return None, {}, ()
        pending[param] = key
    after = []
    for d in plan.order_only[j]:
        key = ((*path, d) if path else d, None)
        if status[d] is PENDING and key in live:
            after.append(key)
        elif status[d] is not SUCCESS and status[d] is not SKIPPED:
            return None, {}, ()  # not on the executor yet, failed or cancelled
    return kwargs, pending, tuple(after)


class DeferredInterrupt:
    """Ctrl-C (and SIGTERM, which flowkit maps to it) while the driver records outcomes.

    Early dependents run ahead of the driver: a stage that waits for a signal may already
    run while the driver still records the dependency that finished just before it. The
    default handler would raise `KeyboardInterrupt` wherever the driver is, and an outcome
    being recorded would be lost. While installed (main thread only, and only over
    Python's default handler), a signal is noted and the executor woken instead; the pool
    raises it at its next ``wait``, between outcomes.
    """

    def __init__(self, wake: Any) -> None:
        self.wake = wake
        self.caught = False
        self._previous: Any = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._note)

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def raise_caught(self) -> None:
        if self.caught:
            self.caught = False
            raise KeyboardInterrupt

    def _note(self, signum: int, frame: Any) -> None:
        self.caught = True
        self.wake()
