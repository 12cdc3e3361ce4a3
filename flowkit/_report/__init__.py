"""The HTML run report: one self-contained file (inline CSS and SVG, no script, no network)
that shows a run read back from its event log.

For each run: a header (pipeline, run id, status, totals, duration), the DAG coloured by
final status, a Gantt timeline of every attempt and a table of the stages with their errors
and tracebacks. Only what the log holds is shown, and the log never holds input or output
values. Every name and message is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from html import escape

import flowkit
from flowkit._report._dag import dag_svg
from flowkit._report._format import seconds
from flowkit._report._style import CSS
from flowkit._report._timeline import timeline_svg
from flowkit._runlog import RunRecord, StageRecord

__all__ = ["render_html"]

_COUNT_KEYS = ("succeeded", "failed", "skipped", "cancelled")
_LEGEND = (
    ("s-success", "succeeded"),
    ("s-failed", "failed"),
    ("s-retrying", "failed attempt, retried"),
    ("s-cached", "cache hit"),
    ("s-skipped", "skipped"),
    ("s-cancelled", "cancelled"),
    ("s-running", "running when the log ends"),
    ("s-pending", "never started"),
)


def _counts(run: RunRecord) -> dict[str, int]:
    if run.counts is not None:
        return run.counts
    statuses = [stage.status for stage in run.stages.values()]
    found = {"succeeded": statuses.count("success")}
    found.update((key, statuses.count(key)) for key in _COUNT_KEYS[1:])
    return found


def _pending(run: RunRecord) -> list[str]:
    """Stages of the run's DAG that the log never mentions."""
    return [name for name in run.dependencies or {} if name not in run.stages]


def _header(run: RunRecord) -> str:
    begin = run.started if run.started is not None else run.first
    when = ""
    if begin is not None:
        moment = dt.datetime.fromtimestamp(begin, dt.UTC)
        when = f" \N{MIDDLE DOT} started {moment.isoformat(timespec='seconds')[:-6]}Z"
    verb = "after" if run.status == "unfinished" else "in"
    total = run.declared if run.declared is not None else len(run.stages)
    tiles = [(str(total), "stages"), (f"{seconds(run.span())}", f"{run.status} {verb}")]
    tiles += [(str(n), key) for key, n in _counts(run).items()]
    warnings = []
    if run.status == "unfinished":
        running = [s.name for s in run.stages.values() if s.status == "running"]
        warnings.append(
            "The log ends before the pipeline did (the run was killed or is still going)"
            + (f"; still running: {', '.join(running)}" if running else "")
        )
    if run.declared is not None and run.declared > len(run.stages):
        warnings.append(f"{run.declared - len(run.stages)} stage(s) never appear in the log")
    return (
        f'<h1>{escape(run.pipeline)} <span class="badge s-{escape(run.status)}">'
        f"{escape(run.status)}</span></h1>"
        f'<p class="meta">run <code>{escape(run.run_id)}</code>{when}</p>'
        '<ul class="totals">'
        + "".join(
            f'<li><b>{escape(v)}</b><span class="k">{escape(k)}</span></li>' for v, k in tiles
        )
        + "</ul>"
        + "".join(f'<p class="warn">{escape(text)}</p>' for text in warnings)
    )


def _legend() -> str:
    keys = "".join(f'<span><i class="{css}"></i>{text}</span>' for css, text in _LEGEND)
    return f'<div class="legend">{keys}<span><i class="dash"></i>retry delay</span></div>'


def _detail(stage: StageRecord) -> str:
    parts = []
    if stage.error:
        parts.append(f'<div class="error">{escape(stage.error)}</div>')
    notes = []
    if stage.reason:
        notes.append(stage.reason)
    if stage.cached:
        notes.append("cache hit")
    if stage.status == "running":
        notes.append(f"still running when the log ends (attempt {max(stage.attempts, 1)})")
    items = stage.items
    if items is not None:
        total = items.total if items.total is not None else "?"
        notes.append(
            f"map_over: {items.done}/{total} items done, {items.succeeded} succeeded, "
            f"{items.failed} failed, {items.cached} cached, {items.retries} retries"
            + (f", slowest {seconds(items.slowest)}" if items.slowest is not None else "")
        )
    notes += stage.hook_errors
    parts += [f'<div class="detail">{escape(note)}</div>' for note in notes]
    parts += _tracebacks(stage)
    return "".join(parts)


def _tracebacks(stage: StageRecord) -> list[str]:
    blocks = []
    for attempt in stage.history:
        if attempt.status == "retrying" and attempt.error:
            text = f"attempt {attempt.number} failed: {attempt.error}"
            if attempt.delay is not None:
                text += f" (retried after {seconds(attempt.delay)})"
            blocks.append(f'<div class="detail">{escape(text)}</div>')
        if attempt.exception and attempt.exception != stage.exception:
            blocks.append(_traceback(f"traceback of attempt {attempt.number}", attempt.exception))
    if stage.exception:
        blocks.append(_traceback("traceback", stage.exception, opened=True))
    return blocks


def _traceback(title: str, text: str, *, opened: bool = False) -> str:
    state = " open" if opened else ""
    return f"<details{state}><summary>{escape(title)}</summary><pre>{escape(text)}</pre></details>"


def _duration(stage: StageRecord, run: RunRecord) -> str:
    took, running = run.stage_time(stage)
    return ("&gt;" if running else "") + seconds(took)


def _table(run: RunRecord) -> str:
    begin = run.started if run.started is not None else run.first
    rows = []
    stages = [*run.stages.values(), *(StageRecord(name) for name in _pending(run))]
    for stage in stages:
        offset = "-"
        if begin is not None and stage.started is not None:
            offset = f"+{seconds(stage.started - begin)}"
        rows.append(
            f'<tr class="s-{escape(stage.status)}" data-stage="{escape(stage.name)}">'
            f"<td><code>{escape(stage.name)}</code></td>"
            f'<td><span class="status s-{escape(stage.status)}">{escape(stage.status)}</span></td>'
            f'<td class="num">{stage.attempts}</td><td class="num">{offset}</td>'
            f'<td class="num">{_duration(stage, run)}</td><td>{_detail(stage)}</td></tr>'
        )
    return (
        '<table class="stages"><thead><tr><th>stage</th><th>status</th><th>attempts</th>'
        "<th>started</th><th>duration</th><th>error and details</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _section(run: RunRecord, key: int) -> str:
    return (
        f'<section class="run" id="run-{escape(run.run_id)}">{_header(run)}'
        f'<h2>DAG</h2>{_legend()}<div class="scroll center">{dag_svg(run, key)}</div>'
        f'<h2>Timeline</h2><div class="scroll">{timeline_svg(run, _pending(run))}</div>'
        f"<h2>Stages</h2>{_table(run)}</section>"
    )


def render_html(runs: RunRecord | Iterable[RunRecord], notes: Sequence[str] = ()) -> str:
    """The HTML report of one run, or of several (one section each), as a complete,
    self-contained page. ``notes`` (e.g. about unreadable log lines) go at the end."""
    records = [runs] if isinstance(runs, RunRecord) else list(runs)
    title = ", ".join(f"{run.pipeline} {run.status}" for run in records[:3])
    sections = "".join(_section(run, key) for key, run in enumerate(records))
    footer = "".join(f"<p>note: {escape(note)}</p>" for note in notes)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>flowkit run: {escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{sections}<footer>{footer}<p>written by flowkit "
        f"{escape(flowkit.__version__)} from the run's event log</p></footer></main>"
        "</body></html>\n"
    )
