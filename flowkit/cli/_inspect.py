"""``flowkit inspect``: rebuild runs from a JSON-lines event log alone.

Each run (one ``run_id``) gets each stage's final status, attempts, duration and error, the
pipeline's outcome ("unfinished" when the log ends before it, e.g. a killed run) and a text
timeline: one bar per stage on a shared time axis, so what overlapped and what was slow shows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import attrs
import click

from flowkit.cli._describe import table

_FINAL = {
    "stage.succeeded": "success",
    "stage.failed": "failed",
    "stage.skipped": "skipped",
    "stage.cancelled": "cancelled",
}
_OUTCOMES = {
    "pipeline.succeeded": "success",
    "pipeline.failed": "failed",
    "pipeline.cancelled": "cancelled",
}
_GLYPHS = {"success": "#", "failed": "X", "running": "~", "cancelled": "-", "skipped": "."}
LEGEND = (
    "# ran  X failed  ~ running when the log ends  - cancelled while running  "
    ". skipped or cancelled before starting  c cached"
)
_MAX_DETAIL = 160


class LogError(click.ClickException):
    """The file is missing or is not a JSON-lines event log (exit code 2)."""

    exit_code = 2


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
    reason: str | None = None
    cached: bool = False
    retried: list[str] = attrs.Factory(list)
    hook_errors: list[str] = attrs.Factory(list)


@attrs.define
class RunRecord:
    """What the log says about one run."""

    run_id: str
    pipeline: str = "?"
    status: str = "unfinished"
    started: float | None = None
    ended: float | None = None
    duration: float | None = None
    declared: int | None = None
    first: float | None = None
    last: float | None = None
    counts: dict[str, int] | None = None
    stages: dict[str, StageRecord] = attrs.Factory(dict)

    def observe(self, event: dict[str, Any], ts: float | None) -> None:
        """Apply one event (in log order)."""
        if ts is not None:
            self.first = ts if self.first is None else min(self.first, ts)
            self.last = ts if self.last is None else max(self.last, ts)
        name = event["event"]
        self.pipeline = str(event.get("pipeline", self.pipeline))
        if name == "pipeline.started":
            self.started = ts
            self.declared = event.get("stages") if isinstance(event.get("stages"), int) else None
        elif name in _OUTCOMES:
            self.status, self.ended = _OUTCOMES[name], ts
            self.duration = _number(event.get("duration_s"))
            keys = ("succeeded", "failed", "skipped", "cancelled")
            if all(isinstance(event.get(key), int) for key in keys):
                self.counts = {key: event[key] for key in keys}
        elif name.startswith("stage.") and isinstance(event.get("stage"), str):
            stage = self.stages.setdefault(event["stage"], StageRecord(event["stage"]))
            _observe_stage(stage, name, event, ts)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _error(event: dict[str, Any]) -> str:
    return f"{event.get('error_type', 'Error')}: {event.get('error', '')}".rstrip(": ")


def _observe_stage(stage: StageRecord, name: str, event: dict[str, Any], ts: float | None) -> None:
    attempt = event.get("attempt")
    if isinstance(attempt, int):
        stage.attempts = max(stage.attempts, attempt)
    if name == "stage.started":
        stage.status = "running"
        if stage.started is None:
            stage.started = ts
    elif name == "stage.retrying":
        stage.status = "running"
        stage.retried.append(str(event.get("error_type", "Error")))
    elif name in _FINAL:
        stage.status, stage.ended = _FINAL[name], ts
        stage.duration = _number(event.get("duration_s"))
        stage.cached = bool(event.get("cached"))
        if name == "stage.failed":
            stage.error = _error(event)
        elif name != "stage.succeeded":
            stage.reason = str(event.get("reason") or "")
    elif name == "stage.hook_failed":
        stage.hook_errors.append(f"{event.get('hook', 'hook')} failed: {_error(event)}")


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def read_log(path: Path) -> tuple[dict[str, RunRecord], list[str]]:
    """The runs in the log at ``path``, by run id in order of appearance, and notes about
    lines that could not be read.

    Raises:
        LogError: The file is missing, unreadable, or holds no flowkit event.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LogError(f"log file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise LogError(f"cannot read {str(path)!r}: {error}") from None
    runs: dict[str, RunRecord] = {}
    bad: list[int] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            bad.append(number)
            continue
        if not (
            isinstance(event, dict)
            and isinstance(event.get("event"), str)
            and isinstance(event.get("run_id"), str)
        ):
            continue  # not a flowkit event (e.g. another program's line): ignored
        run = runs.setdefault(event["run_id"], RunRecord(event["run_id"]))
        run.observe(event, _timestamp(event.get("timestamp")))
    if not runs:
        raise LogError(
            f"{str(path)!r} is not a flowkit event log: no line is a JSON object with "
            "'event' and 'run_id' (write one with `flowkit run ... --log-file PATH`)"
        )
    notes = []
    if bad and bad[-1] == len(lines) and lines[-1].strip():
        notes.append(f"line {bad.pop()} is cut short (the log ends mid-line)")
    if bad:
        notes.append(f"{len(bad)} line(s) are not JSON and were skipped (first: line {bad[0]})")
    return runs, notes


# -- rendering -----------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.0f}us"
    return f"{value * 1000:.1f}ms" if value < 1 else f"{value:.2f}s"


def _detail(stage: StageRecord) -> str:
    parts = []
    if stage.status == "failed" and stage.error:
        parts.append(stage.error)
    elif stage.status == "running":
        parts.append(f"still running when the log ends (attempt {max(stage.attempts, 1)})")
    elif stage.reason:
        parts.append(stage.reason)
    if stage.cached:
        parts.append("cached")
    if stage.retried:
        parts.append(f"retried after {', '.join(stage.retried)}")
    parts.extend(stage.hook_errors)
    text = "; ".join(parts)
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _duration(stage: StageRecord, run: RunRecord) -> str:
    if stage.status == "running" and stage.started is not None and run.last is not None:
        return f">{_seconds(run.last - stage.started)}"
    if stage.duration is None and stage.started is not None and stage.ended is not None:
        return _seconds(stage.ended - stage.started)
    return _seconds(stage.duration)


def _counts(run: RunRecord) -> dict[str, int]:
    if run.counts is not None:
        return run.counts
    statuses = [s.status for s in run.stages.values()]
    counts = {"succeeded": statuses.count("success")}
    counts.update((key, statuses.count(key)) for key in ("failed", "skipped", "cancelled"))
    return counts


def _headline(run: RunRecord) -> list[str]:
    span = run.duration
    if span is None and run.last is not None:
        span = run.last - (run.started if run.started is not None else run.first or run.last)
    counts = ", ".join(f"{n} {key}" for key, n in _counts(run).items())
    verb = "after" if run.status == "unfinished" else "in"
    lines = [
        f"run {run.run_id}",
        f"pipeline {run.pipeline}: {run.status} {verb} {_seconds(span or 0)}",
    ]
    lines[-1] += f" ({counts})"
    begin = run.started if run.started is not None else run.first
    if begin is not None:
        moment = dt.datetime.fromtimestamp(begin, dt.UTC)
        lines.append(f"started {moment.isoformat(timespec='milliseconds')[:-6]}Z")
    if run.status == "unfinished":
        running = [s.name for s in run.stages.values() if s.status == "running"]
        lines.append(
            "the log ends before the pipeline did"
            + (f"; still running: {', '.join(running)}" if running else "")
        )
    if run.declared is not None and run.declared > len(run.stages):
        lines.append(f"{run.declared - len(run.stages)} stage(s) never appear in the log")
    return lines


def timeline(run: RunRecord, width: int, label_width: int) -> list[str]:
    """One bar per stage on the run's time axis (empty when the log has no timestamps)."""
    t0 = run.started if run.started is not None else run.first
    t1 = run.ended if run.ended is not None else run.last
    if t0 is None or t1 is None:
        return []
    span = max(t1 - t0, 1e-9)

    def column(t: float, end: bool = False) -> int:
        # Column k covers [k, k + 1) * span / width: a bar covers every column it touches.
        position = max(0.0, (t - t0) / span * width)
        return min(width, math.ceil(position)) if end else min(width - 1, int(position))

    lines = [f"timeline: 0 to {_seconds(t1 - t0)}, one column = {_seconds(span / width)}"]
    for stage in run.stages.values():
        cells = [" "] * width
        begin = stage.started if stage.started is not None else stage.ended
        end = stage.ended if stage.ended is not None else run.last
        if begin is not None and end is not None:
            glyph = _GLYPHS.get(stage.status, "?")
            if stage.started is None:  # never ran: a point where it was decided
                glyph = "c" if stage.cached else "."
            first = column(begin)
            for i in range(first, max(column(end, end=True), first + 1)):
                cells[i] = glyph
        lines.append(f"  {stage.name.ljust(label_width)}  |{''.join(cells)}|")
    lines.append(f"  {LEGEND}")
    return lines


def render_run(run: RunRecord, width: int) -> str:
    """The report of one run."""
    rows = [
        (s.name, s.status, str(s.attempts), _duration(s, run), _detail(s))
        for s in run.stages.values()
    ]
    lines = _headline(run)
    lines.append("")
    lines += table(("STAGE", "STATUS", "ATTEMPTS", "DURATION", "DETAIL"), rows)
    label_width = max([len("STAGE"), *(len(s) for s in run.stages)])
    bars = timeline(run, width, label_width)
    if bars:
        lines += ["", *bars]
    return "\n".join(line.rstrip() for line in lines)


def render(runs: dict[str, RunRecord], notes: list[str], width: int = 60) -> str:
    """The report of every run in a log, one section per run id."""
    sections = [render_run(run, width) for run in runs.values()]
    text = "\n\n".join(sections)
    if notes:
        text += "\n\n" + "\n".join(f"note: {note}" for note in notes)
    return text
