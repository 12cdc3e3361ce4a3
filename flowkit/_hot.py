"""The engine's fast path for plain stages, in one place.

A stage is *hot* in a run (``RunState.hot``) when it is a plain function (no condition,
timeout, cache, hook, context, fan-out or ordering-only dependency) and nobody listens to
info events: then nothing happens around its call but its timing, and the engine skips its
general steps. `open_call` and `record_success` are those steps for every executor;
`sweep` runs a whole stretch of hot stages for an inline executor (``sequential``) without
making a `Call` at all, which is most of what a plain stage costs there.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from flowkit._calls import Call
from flowkit._state import PENDING, SUCCESS, monotonic

if TYPE_CHECKING:
    from threading import Lock

    from flowkit._engine import Run
    from flowkit._state import RunState


def open_call(run: Run, k: int) -> Call | None:
    """The first call of hot stage ``k``; the general `Run._open` when a dependency did
    not succeed (it then cancels or skips the stage)."""
    plan, status, outputs, inputs = run.plan, run.status, run.outputs, run.inputs
    params = plan.inputs[k]
    kwargs = {p: inputs[p] for p in params if p in inputs} if params else {}
    for param, j in plan.args[k]:
        if status[j] is not SUCCESS:
            return run._open(k)  # noqa: SLF001 - the engine's own general step
        kwargs[param] = outputs[j]
    call = Call(run, k, plan.stages[k], kwargs, plan.direct[k])
    call.attempt = run.attempts[k] = 1
    call.started = run.first_start[k] = monotonic()
    return call


def record_success(run: RunState, k: int, value: Any) -> None:
    """A hot stage succeeded: `RunState.record` without building a result (the result
    is made from the run's arrays when it is read)."""
    run.ended[k] = monotonic()
    run.status[k] = SUCCESS
    run.outputs[k] = value
    run.release(k)


def sweep(run: Run, lock: Lock | None, others: Callable[[], None] = lambda: None) -> None:
    """Run the ready hot stages of root run ``run`` in this thread, in pipeline order,
    until the next ready stage is not hot or takes pipeline inputs (`open_call` makes its
    call), a dependency of it did not succeed, one fails, the run stops, or a due retry, a
    ``map_over`` item or a group's child waits (those go first, via `Run.next_call`).

    ``lock`` is the scheduler's, held by the caller and released around each call, so other
    workers (``threads``) go on meanwhile; ``others()`` is then called before a call while
    more stages are ready, so the scheduler can hand those to other workers. ``sequential``
    passes None: no other thread takes the lock.

    The same steps as `open_call`, the call and `record_success`, inlined, with the
    arguments passed by position (a stage whose parameters are all dependencies takes them
    in parameter order): making a `Call`, a keyword dict and the function calls around
    them are most of what a plain stage costs. A failed call goes to `Run.complete` like
    any other (retries, fail-fast), and the sweep ends there.
    """
    plan, root, ready, hot, urgent, groups = (
        run.plan,
        run.root,
        run.ready,
        run.hot,
        run.urgent,
        run.groups,
    )
    args, takes_inputs, direct, dependents = plan.args, plan.inputs, plan.direct, plan.dependents
    status, outputs, waiting = run.status, run.outputs, run.waiting
    attempts, first_start, ended = run.attempts, run.first_start, run.ended
    while ready and hot[k := ready[0]] and not takes_inputs[k]:
        if root.stopping or urgent or groups:
            return
        values = []
        for _, j in args[k]:
            if status[j] is not SUCCESS:
                return
            values.append(outputs[j])
        heappop(ready)
        attempts[k] = 1
        first_start[k] = started = monotonic()
        if lock is not None:
            if ready:
                others()
            lock.release()
        try:
            ok, value = True, direct[k](*values)  # type: ignore[misc]
        except BaseException as error:  # noqa: BLE001 - the engine decides what it means
            ok, value = False, error
        if lock is not None:  # no `finally`: a worker thread gets no asynchronous exception
            lock.acquire()
        if not ok or status[k] is not PENDING:
            _not_a_success(run, k, value, started)
            return
        ended[k] = monotonic()
        status[k] = SUCCESS
        outputs[k] = value
        run.remaining -= 1
        for j in dependents[k]:
            waiting[j] -= 1
            if not waiting[j]:
                heappush(ready, j)


def _not_a_success(run: Run, k: int, error: BaseException, started: float) -> None:
    """A swept call failed (the engine decides on its retries), or the run ended while it
    ran (an interrupt): then its outcome is void."""
    if run.status[k] is not PENDING:
        return
    plan = run.plan
    kwargs = {param: run.outputs[j] for param, j in plan.args[k]}
    call = Call(run, k, plan.stages[k], kwargs, plan.direct[k])
    call.attempt, call.started = 1, started
    run.complete(call, False, error)
