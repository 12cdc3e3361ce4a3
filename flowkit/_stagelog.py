"""What an event log says about one stage: its attempts, its ``map_over`` items and how it
ended (read event by event by :mod:`flowkit._runlog`)."""

from __future__ import annotations

from typing import Any

import attrs

_FINAL = {
    "stage.succeeded": "success",
    "stage.failed": "failed",
    "stage.skipped": "skipped",
    "stage.cancelled": "cancelled",
}


@attrs.define
class AttemptRecord:
    """One attempt of a stage: ``status`` is ``running`` until the log says how it ended
    (``retrying`` for a failed attempt that was retried, else the stage's final status)."""

    number: int
    started: float | None = None
    ended: float | None = None
    status: str = "running"
    error: str | None = None
    exception: str | None = None
    delay: float | None = None


@attrs.define
class ItemsRecord:
    """What the log says about the items of a ``map_over`` stage (events with ``item``)."""

    total: int | None = None
    succeeded: int = 0
    failed: int = 0
    cached: int = 0
    retries: int = 0
    busy: float = 0.0
    slowest: float | None = None
    first: float | None = None
    last: float | None = None

    def observe(self, name: str, event: dict[str, Any], ts: float | None) -> None:
        """Apply one item event."""
        total = event.get("items")
        if isinstance(total, int) and not isinstance(total, bool):
            self.total = total
        if ts is not None:
            self.first = ts if self.first is None else min(self.first, ts)
            self.last = ts if self.last is None else max(self.last, ts)
        if name == "stage.retrying":
            self.retries += 1
            return
        if name == "stage.succeeded":
            self.succeeded += 1
            self.cached += bool(event.get("cached"))
        elif name == "stage.failed":
            self.failed += 1
        took = seconds_or_none(event.get("duration_s"))
        if took is not None:
            self.busy += took
            self.slowest = took if self.slowest is None else max(self.slowest, took)

    @property
    def done(self) -> int:
        """Items that ended (succeeded or failed)."""
        return self.succeeded + self.failed


@attrs.define
class StageRecord:
    """What the log says about one stage."""

    name: str
    status: str = "pending"
    attempts: int = 0
    started: float | None = None
    ended: float | None = None
    duration: float | None = None
    error: str | None = None
    exception: str | None = None
    reason: str | None = None
    cached: bool = False
    retried: list[str] = attrs.Factory(list)
    hook_errors: list[str] = attrs.Factory(list)
    history: list[AttemptRecord] = attrs.Factory(list)
    items: ItemsRecord | None = None

    def attempt(self, number: int) -> AttemptRecord:
        """The record of attempt ``number``, created when the log first mentions it."""
        for record in reversed(self.history):
            if record.number == number:
                return record
        record = AttemptRecord(number)
        self.history.append(record)
        return record


def seconds_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _error(event: dict[str, Any]) -> str:
    return f"{event.get('error_type', 'Error')}: {event.get('error', '')}".rstrip(": ")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _observe_item(stage: StageRecord, name: str, event: dict[str, Any], ts: float | None) -> None:
    if stage.items is None:
        stage.items = ItemsRecord()
    stage.items.observe(name, event, ts)
    if name == "stage.retrying":
        stage.retried.append(str(event.get("error_type", "Error")))


def observe_stage(stage: StageRecord, name: str, event: dict[str, Any], ts: float | None) -> None:
    if isinstance(event.get("item"), int):  # one item of a map_over stage, not the stage
        _observe_item(stage, name, event, ts)
        return
    number = event.get("attempt")
    attempt = None
    if isinstance(number, int) and not isinstance(number, bool):
        stage.attempts = max(stage.attempts, number)
        if stage.items is not None and stage.history:
            # A fan-out's final ``attempt`` is its items' largest count: its one call ends.
            attempt = stage.history[-1]
        else:
            attempt = stage.attempt(number)
    if name == "stage.started":
        stage.status = "running"
        if stage.started is None:
            stage.started = ts
        if attempt is not None:
            attempt.started = ts
    elif name == "stage.retrying":
        stage.status = "running"
        stage.retried.append(str(event.get("error_type", "Error")))
        if attempt is not None:
            attempt.ended, attempt.status, attempt.error = ts, "retrying", _error(event)
            attempt.exception = _text(event.get("exception"))
            attempt.delay = seconds_or_none(event.get("delay_s"))
    elif name in _FINAL:
        _observe_final(stage, name, event, ts, attempt)
    elif name == "stage.hook_failed":
        stage.hook_errors.append(f"{event.get('hook', 'hook')} failed: {_error(event)}")


def _observe_final(
    stage: StageRecord,
    name: str,
    event: dict[str, Any],
    ts: float | None,
    attempt: AttemptRecord | None,
) -> None:
    stage.status, stage.ended = _FINAL[name], ts
    stage.duration = seconds_or_none(event.get("duration_s"))
    stage.cached = bool(event.get("cached"))
    if name == "stage.failed":
        stage.error = _error(event)
        stage.exception = _text(event.get("exception"))
    elif name != "stage.succeeded":
        stage.reason = str(event.get("reason") or "")
    if attempt is not None and attempt.status == "running":
        attempt.ended, attempt.status = ts, stage.status
        attempt.error, attempt.exception = stage.error, stage.exception
