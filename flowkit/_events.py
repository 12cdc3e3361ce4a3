"""The one module that talks to structlog: event names, levels and the per-run emitter.

Events carry names, statuses, timings, error types, messages and tracebacks (the source
lines, never local variables), never input or output values.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import structlog

from flowkit._traceback import format_error

LOGGER_NAME = "flowkit"

PIPELINE_STARTED = "pipeline.started"
PIPELINE_SUCCEEDED = "pipeline.succeeded"
PIPELINE_FAILED = "pipeline.failed"
PIPELINE_CANCELLED = "pipeline.cancelled"
STAGE_STARTED = "stage.started"
STAGE_SUCCEEDED = "stage.succeeded"
STAGE_FAILED = "stage.failed"
STAGE_RETRYING = "stage.retrying"
STAGE_SKIPPED = "stage.skipped"
STAGE_CANCELLED = "stage.cancelled"
STAGE_HOOK_FAILED = "stage.hook_failed"
STAGE_WORKER_LOST = "stage.worker_lost"  # Dask only: a worker died under a call

LEVELS = {
    PIPELINE_STARTED: "info",
    PIPELINE_SUCCEEDED: "info",
    PIPELINE_FAILED: "error",
    PIPELINE_CANCELLED: "warning",
    STAGE_STARTED: "info",
    STAGE_SUCCEEDED: "info",
    STAGE_FAILED: "error",
    STAGE_RETRYING: "warning",
    STAGE_SKIPPED: "info",
    STAGE_CANCELLED: "warning",
    STAGE_HOOK_FAILED: "error",
    STAGE_WORKER_LOST: "warning",
}
EVENTS = tuple(LEVELS)


def _is_enabled(log: Any, level: int) -> bool:
    check = getattr(log, "is_enabled_for", None) or getattr(log, "isEnabledFor", None)
    if check is None:
        return True
    try:
        return bool(check(level))
    except Exception:  # noqa: BLE001 - a logger that cannot tell is treated as enabled
        return True


def error_fields(error: BaseException) -> dict[str, str]:
    """The error keys of an event: the type's name and the message."""
    return {"error_type": type(error).__name__, "error": str(error)}


def dependency_names(names: Sequence[str], deps: Sequence[Sequence[int]]) -> dict[str, list[str]]:
    """``pipeline.started``'s ``dependencies``: each stage's dependencies by name (the DAG,
    names only), so a log alone can redraw it."""
    return {name: [names[d] for d in deps[k]] for k, name in enumerate(names)}


def failure_fields(error: BaseException) -> dict[str, str]:
    """The error keys of ``stage.failed`` and ``stage.retrying``: `error_fields` and the
    formatted traceback as ``exception`` (computed only when an attempt failed)."""
    return {**error_fields(error), "exception": format_error(error)}


class Events:
    """Emits the events of one run through a logger bound to its run id and pipeline name.

    ``info`` is False when info-level events are filtered out, so the engine can skip even
    building their keyword arguments on the hot path.
    """

    __slots__ = ("info", "log")

    def __init__(self, run_id: str, pipeline: str) -> None:
        self.log: Any = structlog.get_logger(LOGGER_NAME).bind(run_id=run_id, pipeline=pipeline)
        self.info = _is_enabled(self.log, logging.INFO)

    def emit(self, event: str, **fields: Any) -> None:
        """Emit ``event`` at its level with ``fields``."""
        getattr(self.log, LEVELS[event])(event, **fields)

    def stage_logger(self, stage: str) -> Any:
        """A logger bound to run, pipeline and ``stage``, for user code."""
        return self.log.bind(stage=stage)


class SilentEvents(Events):
    """Emits nothing: for a parallel group run as one call on a remote worker, where the
    driver, not the worker, reports the group's outcome."""

    def __init__(self, run_id: str, pipeline: str) -> None:
        super().__init__(run_id, pipeline)
        self.info = False

    def emit(self, event: str, **fields: Any) -> None:
        """Drop the event."""


def emit_started(events: Events, call: Any) -> None:
    """``stage.started`` for the attempt ``call`` begins."""
    events.emit(STAGE_STARTED, stage=call.stage.name, status="running", attempt=call.attempt)


def emit_worker_lost(events: Events, call: Any, *, worker: str, rescheduled: bool) -> None:
    """``stage.worker_lost``: the Dask worker running attempt ``call`` died; ``rescheduled``
    says whether Dask runs the task again elsewhere (else the attempt fails next)."""
    fields: dict[str, Any] = {} if call.item is None else {"item": call.item}
    events.emit(
        STAGE_WORKER_LOST,
        stage=call.stage.name,
        status="running",
        attempt=call.attempt,
        worker=worker,
        rescheduled=rescheduled,
        **fields,
    )


def emit_retrying(
    events: Events,
    call: Any,
    *,
    delay: float,
    error: BaseException,
    duration: float,
    worker: str | None,
) -> None:
    """``stage.retrying`` after failed attempt ``call`` (of a stage or of one item)."""
    fields: dict[str, Any] = {}
    if call.item is not None:
        fields["item"] = call.item
    if worker is not None:
        fields["worker"] = worker
    events.emit(
        STAGE_RETRYING,
        stage=call.stage.name,
        status="running",
        attempt=call.attempt,
        delay_s=delay,
        duration_s=duration,
        **error_fields(error),
        exception=format_error(error),
        **fields,
    )


def emit_ended(events: Events, result: Any, reason: str | None, where: dict[str, Any]) -> None:
    """The event of a stage's final status (``result`` is its `StageResult`)."""
    status = result.status.value
    if status == "success":
        if events.info:
            events.emit(
                STAGE_SUCCEEDED,
                stage=result.name,
                status=status,
                attempt=result.attempts,
                duration_s=result.duration,
                **where,
            )
    elif status == "failed":
        events.emit(
            STAGE_FAILED,
            stage=result.name,
            status=status,
            attempt=result.attempts,
            duration_s=result.duration,
            **error_fields(result.error),
            exception=format_error(result.error),
            **where,
        )
    else:
        events.emit(f"stage.{status}", stage=result.name, status=status, reason=reason)


def emit_finished(events: Events, result: Any) -> None:
    """``pipeline.succeeded``, ``pipeline.failed`` or ``pipeline.cancelled``."""
    status = result.status.value
    events.emit(
        PIPELINE_SUCCEEDED if status == "success" else f"pipeline.{status}",
        status=status,
        duration_s=result.duration,
        succeeded=result.succeeded,
        failed=result.failed,
        skipped=result.skipped,
        cancelled=result.cancelled,
    )


def emit_item_ended(
    events: Events,
    stage: str,
    *,
    index: int,
    items: int,
    attempt: int,
    took: float,
    error: BaseException | None = None,
    worker: str | None = None,
    cached: bool = False,
) -> None:
    """The end of item ``index`` (of ``items``) of a ``map_over`` stage: ``stage.succeeded``
    or ``stage.failed`` with ``item``, which the progress line and the run report count.
    ``took``: seconds from the item's first attempt to its end."""
    if error is None and not events.info:
        return
    fields: dict[str, Any] = {}
    if error is not None:
        fields.update(error_fields(error))
    if cached:
        fields["cached"] = True
    if worker is not None:
        fields["worker"] = worker
    events.emit(
        STAGE_SUCCEEDED if error is None else STAGE_FAILED,
        stage=stage,
        status="success" if error is None else "failed",
        attempt=attempt,
        item=index,
        items=items,
        duration_s=took,
        **fields,
    )
