"""How a stage ends: its `StageResult`, its event and its hook; and the `StageContext` an
attempt receives. The engine decides *that* a stage ends; this module writes it down."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from flowkit import _events as ev
from flowkit._context import StageContext
from flowkit._plan import HOOKED
from flowkit._results import NO_CHILDREN, StageResult
from flowkit._seed import final_hooks, output_key
from flowkit._status import StageStatus

if TYPE_CHECKING:
    from flowkit._state import RunState as Run

SUCCESS, FAILED, SKIPPED = StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.SKIPPED
_CACHED = {"cached": True}
_NOWHERE: dict[str, str] = {}


def conclude(
    run: Run,
    k: int,
    status: StageStatus,
    output: Any = None,
    *,
    error: BaseException | None = None,
    reason: str | None = None,
    cached: bool = False,
    worker: str | None = None,
) -> StageResult:
    """Stage ``k`` of ``run`` ends with ``status``: its result, after its event and hook."""
    now, start, shift = time.monotonic(), run.first_start[k], run.shift
    attempts = run.attempts[k] - 1 if status is SKIPPED else run.attempts[k]
    result = StageResult(
        run.plan.names[k],
        status,
        output,
        error,
        max(attempts, 0),
        start + shift if start else None,
        now + shift if start else None,
        now - start if start else 0.0,
        run.children.get(k, NO_CHILDREN),
        reason if status is SKIPPED else None,
        cached,
    )
    where = _CACHED if cached else (_NOWHERE if worker is None else {"worker": worker})
    ev.emit_ended(run.events, result, reason, where)
    # Hooks run once the final status is known and reported; they cannot change it. The
    # plan already knows which stages have any, so the others skip the look-up.
    if run.plan.shape[k] & HOOKED:
        for hook in final_hooks(run.plan.stages[k], status.value, lambda: hook_context(run, k)):
            _run_hook(run.events, hook, result)
    return result


def hook_context(run: Run, k: int) -> Mapping[str, Any]:
    """The context a hook method of stage ``k`` receives: the inputs and the outputs of
    its dependencies (also under ``stage_<name>_output``)."""
    plan = run.plan
    deps = [j for _, j in plan.args[k]] + list(plan.order_only[k])
    done = {plan.names[j]: run.outputs[j] for j in deps if run.status[j] is SUCCESS}
    return MappingProxyType({**run.inputs, **done, **{output_key(n): v for n, v in done.items()}})


def _run_hook(
    events: ev.Events, hook: Callable[[StageResult], object], result: StageResult
) -> None:
    try:
        hook(result)
    except Exception as error:  # noqa: BLE001 - a hook never changes the status
        events.emit(
            ev.STAGE_HOOK_FAILED,
            stage=result.name,
            status=result.status.value,
            hook=getattr(hook, "__name__", repr(hook)),
            **ev.error_fields(error),
        )


def context(run: Run, k: int, kwargs: dict[str, Any], attempt: int) -> StageContext:
    """The `StageContext` of attempt ``attempt`` of stage ``k``: the inputs and the outputs
    of its dependencies."""
    plan = run.plan
    data = dict(run.inputs)
    data.update((param, run.outputs[j]) for param, j in plan.args[k] if param in kwargs)
    for j in plan.order_only[k]:
        if run.status[j] is SUCCESS:
            data[plan.names[j]] = run.outputs[j]
    return StageContext(
        data,
        run_id=run.run_id,
        pipeline=run.name,
        stage=plan.names[k],
        attempt=attempt,
        log_factory=run.events.stage_logger,
    )
