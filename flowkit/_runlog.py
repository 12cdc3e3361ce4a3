"""A run read back from its JSON-lines event log alone (what ``flowkit inspect`` shows).

Each run (one ``run_id``) gets each stage's final status, its attempts (start, end, outcome,
error and traceback), duration and error, a summary of its ``map_over`` items (events that
carry ``item``), the DAG when the log has it (``pipeline.started``
carries ``dependencies``) and the pipeline's outcome ("unfinished" when the log ends before it,
e.g. a killed run). Library code: the CLI's text report and the HTML report both read runs
through :func:`read_log`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import attrs

from flowkit._stagelog import AttemptRecord, StageRecord, observe_stage, seconds_or_none
from flowkit.errors import LogError

__all__ = ["AttemptRecord", "RunRecord", "StageRecord", "read_log"]

_OUTCOMES = {
    "pipeline.succeeded": "success",
    "pipeline.failed": "failed",
    "pipeline.cancelled": "cancelled",
}


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
    dependencies: dict[str, list[str]] | None = None
    stages: dict[str, StageRecord] = attrs.Factory(dict)

    def observe(self, event: dict[str, Any], ts: float | None) -> None:
        """Apply one event (in log order)."""
        if ts is not None:
            self.first = ts if self.first is None else min(self.first, ts)
            self.last = ts if self.last is None else max(self.last, ts)
        name = event["event"]
        self.pipeline = str(event.get("pipeline", self.pipeline))
        if name == "pipeline.started":
            self._started(event, ts)
        elif name in _OUTCOMES:
            self.status, self.ended = _OUTCOMES[name], ts
            self.duration = seconds_or_none(event.get("duration_s"))
            keys = ("succeeded", "failed", "skipped", "cancelled")
            if all(isinstance(event.get(key), int) for key in keys):
                self.counts = {key: event[key] for key in keys}
        elif name.startswith("stage.") and isinstance(event.get("stage"), str):
            stage = self.stages.setdefault(event["stage"], StageRecord(event["stage"]))
            observe_stage(stage, name, event, ts)

    def span(self) -> float | None:
        """Seconds the run took: its own ``duration_s``, else from its first event to its
        last (a killed run); None without timestamps."""
        if self.duration is not None:
            return self.duration
        begin = self.started if self.started is not None else self.first
        return None if begin is None or self.last is None else self.last - begin

    def stage_time(self, stage: StageRecord) -> tuple[float | None, bool]:
        """How long ``stage`` took, and whether it was still running when the log ends
        (then the time it had run by the log's last event)."""
        if stage.status == "running" and stage.started is not None and self.last is not None:
            return self.last - stage.started, True
        if stage.duration is None and stage.started is not None and stage.ended is not None:
            return stage.ended - stage.started, False
        return stage.duration, False

    def _started(self, event: dict[str, Any], ts: float | None) -> None:
        self.started = ts
        self.declared = event.get("stages") if isinstance(event.get("stages"), int) else None
        dependencies = event.get("dependencies")
        if isinstance(dependencies, dict):
            self.dependencies = {
                str(name): [str(d) for d in deps]
                for name, deps in dependencies.items()
                if isinstance(deps, list)
            }


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
