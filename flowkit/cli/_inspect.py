"""``flowkit inspect``: the text report of runs read back from a JSON-lines event log.

Each run gets each stage's final status, attempts, duration and error, the pipeline's outcome
a text timeline (one bar per stage on a shared time axis, so what overlapped and what was
slow shows) and the traceback of every failed stage; ``--stage NAME`` shows one stage's
attempts. Reading the log is :mod:`flowkit._runlog`'s job.
"""

from __future__ import annotations

import datetime as dt
import math

from flowkit._report._format import seconds
from flowkit._runlog import AttemptRecord, RunRecord, StageRecord
from flowkit.cli._describe import table
from flowkit.errors import did_you_mean

_GLYPHS = {"success": "#", "failed": "X", "running": "~", "cancelled": "-", "skipped": "."}
LEGEND = (
    "# ran  X failed  ~ running when the log ends  - cancelled while running  "
    ". skipped or cancelled before starting  c cached"
)
_MAX_DETAIL = 160


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
    took, running = run.stage_time(stage)
    return (">" if running else "") + seconds(took)


def _counts(run: RunRecord) -> dict[str, int]:
    if run.counts is not None:
        return run.counts
    statuses = [s.status for s in run.stages.values()]
    counts = {"succeeded": statuses.count("success")}
    counts.update((key, statuses.count(key)) for key in ("failed", "skipped", "cancelled"))
    return counts


def _moment(timestamp: float) -> str:
    return (
        dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    )


def _unfinished_line(run: RunRecord) -> str:
    running = [s.name for s in run.stages.values() if s.status == "running"]
    still = f"; still running: {', '.join(running)}" if running else ""
    return f"the log ends before the pipeline did{still}"


def _headline(run: RunRecord) -> list[str]:
    counts = ", ".join(f"{n} {key}" for key, n in _counts(run).items())
    verb = "after" if run.status == "unfinished" else "in"
    lines = [
        f"run {run.run_id}",
        f"pipeline {run.pipeline}: {run.status} {verb} {seconds(run.span() or 0.0)} ({counts})",
    ]
    begin = run.started if run.started is not None else run.first
    if begin is not None:
        lines.append(f"started {_moment(begin)}")
    if run.status == "unfinished":
        lines.append(_unfinished_line(run))
    if run.declared is not None and run.declared > len(run.stages):
        lines.append(f"{run.declared - len(run.stages)} stage(s) never appear in the log")
    return lines


def _indented(text: str, indent: str = "    ") -> list[str]:
    return [indent + line for line in text.rstrip().splitlines()]


def failure_tracebacks(run: RunRecord) -> list[str]:
    """The traceback of every failed stage of ``run`` that the log has one for."""
    lines = []
    for stage in run.stages.values():
        if stage.status == "failed" and stage.exception:
            lines += ["", f"{stage.name} failed (attempt {max(stage.attempts, 1)}):"]
            lines += _indented(stage.exception, "  ")
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

    lines = [f"timeline: 0 to {seconds(t1 - t0)}, one column = {seconds(span / width)}"]
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
    lines += failure_tracebacks(run)
    return "\n".join(line.rstrip() for line in lines)


def render(runs: dict[str, RunRecord], notes: list[str], width: int = 60) -> str:
    """The report of every run in a log, one section per run id."""
    sections = [render_run(run, width) for run in runs.values()]
    text = "\n\n".join(sections)
    if notes:
        text += "\n\n" + "\n".join(f"note: {note}" for note in notes)
    return text


def _attempt_lines(attempt: AttemptRecord) -> list[str]:
    parts = [f"attempt {attempt.number}:"]
    if attempt.started is not None:
        parts.append(f"started {_moment(attempt.started)},")
    if attempt.started is not None and attempt.ended is not None:
        parts.append(f"{seconds(attempt.ended - attempt.started)},")
    parts.append(attempt.status)
    line = " ".join(parts)
    if attempt.error:
        line += f": {attempt.error}"
    if attempt.delay is not None:
        line += f" (next attempt after {seconds(attempt.delay)})"
    return [line, *(_indented(attempt.exception) if attempt.exception else [])]


def _stage_report(run: RunRecord, stage: StageRecord) -> list[str]:
    lines = [
        f"run {run.run_id} (pipeline {run.pipeline}: {run.status})",
        f"stage {stage.name}: {stage.status}, {stage.attempts} attempt(s), "
        f"{_duration(stage, run)}" + ("; cached" if stage.cached else ""),
    ]
    if stage.reason:
        lines.append(f"  reason: {stage.reason}")
    for attempt in stage.history:
        lines += ["  " + line for line in _attempt_lines(attempt)]
    lines.extend(f"  {error}" for error in stage.hook_errors)
    return lines


def render_stage(runs: dict[str, RunRecord], name: str) -> str:
    """``flowkit inspect LOG --stage NAME``: each attempt of stage ``name`` in every run of
    the log that has it (start, duration, outcome, error and traceback).

    Raises:
        KeyError: No run in the log has a stage ``name`` (the message suggests the closest).
    """
    sections = [_stage_report(run, run.stages[name]) for run in runs.values() if name in run.stages]
    if not sections:
        known = sorted({stage for run in runs.values() for stage in run.stages})
        raise KeyError(
            f"no stage {name!r} in the log{did_you_mean(name, known)}; "
            f"its stages are: {', '.join(known) or '(none)'}"
        )
    return "\n\n".join("\n".join(line.rstrip() for line in section) for section in sections)
