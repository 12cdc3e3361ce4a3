"""The run's Gantt timeline as inline SVG: one row per stage, one bar per attempt.

Retry delays are dashed lines between attempts, a cache hit, a skip or a cancellation
before starting is a marker where it was decided, a stage still running when the log ends
is a hatched bar up to the log's last line, and a ``map_over`` stage says how its items did.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from html import escape

from flowkit._report._format import label, seconds
from flowkit._runlog import AttemptRecord, RunRecord, StageRecord

LABEL_W, PLOT_W, NOTE_W = 190, 760, 230
ROW_H, BAR_H, AXIS_H = 22, 14, 26
_CHAR_W = 6.3  # average width of a character of the notes' font, in pixels
_MARKERS = {"cached": "\N{BLACK DIAMOND}", "skipped": "\N{WHITE CIRCLE}"}
_MARKER_DEFAULT = "\N{MULTIPLICATION SIGN}"


class _Axis:
    """Seconds since the run started → x pixels."""

    def __init__(self, t0: float, t1: float) -> None:
        self.t0 = t0
        self.span = max(t1 - t0, 1e-6)

    def x(self, t: float) -> float:
        return LABEL_W + max(0.0, min(1.0, (t - self.t0) / self.span)) * PLOT_W

    def ticks(self) -> list[float]:
        """Round offsets (1, 2 or 5 times a power of ten) that split the span in 4 to 10."""
        raw = self.span / 6
        power = 10 ** math.floor(math.log10(raw))
        step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
        return [i * step for i in range(int(self.span / step) + 1)]


def _bar(axis: _Axis, y: float, attempt: AttemptRecord, end: float, stage: str) -> str:
    start = attempt.started if attempt.started is not None else end
    stop = attempt.ended if attempt.ended is not None else end
    x1, x2 = axis.x(start), axis.x(stop)
    what = {"retrying": "failed, retried"}.get(attempt.status, attempt.status)
    tip = f"{stage} attempt {attempt.number}: {what}, {seconds(stop - start)}"
    if attempt.error:
        tip += f"\n{attempt.error}"
    return (
        f'<rect class="bar a-{attempt.status}" x="{x1:.1f}" y="{y:.1f}" '
        f'width="{max(x2 - x1, 2):.1f}" height="{BAR_H}" rx="2"><title>{escape(tip)}</title></rect>'
    )


def _delays(axis: _Axis, y: float, history: Sequence[AttemptRecord]) -> list[str]:
    lines = []
    for before, after in itertools.pairwise(history):
        if before.ended is None or after.started is None:
            continue
        wait = after.started - before.ended
        mid = y + BAR_H / 2
        lines.append(
            f'<line class="delay" x1="{axis.x(before.ended):.1f}" y1="{mid:.1f}" '
            f'x2="{axis.x(after.started):.1f}" y2="{mid:.1f}">'
            f"<title>retry delay {escape(seconds(wait))}</title></line>"
        )
    return lines


def _marker(axis: _Axis, y: float, stage: StageRecord, at: float) -> str:
    kind = "cached" if stage.cached else stage.status
    glyph = _MARKERS.get(kind, _MARKER_DEFAULT)
    why = "cache hit" if stage.cached else f"{stage.status}: {stage.reason or 'not run'}"
    return (
        f'<text class="marker m-{kind}" x="{axis.x(at):.1f}" y="{y + BAR_H - 2:.1f}">{glyph}'
        f"<title>{escape(f'{stage.name}: {why}')}</title></text>"
    )


def _note(stage: StageRecord) -> str:
    """The words after a row's last bar."""
    parts = []
    if stage.status == "running":
        parts.append("still running when the log ends")
    elif stage.status == "pending":
        parts.append("never started (not in the log)")
    elif stage.cached:
        parts.append("cached")
    elif stage.status in {"skipped", "cancelled"} and not stage.history:
        parts.append(f"{stage.status}: {stage.reason}" if stage.reason else stage.status)
    elif stage.duration is not None:
        parts.append(seconds(stage.duration))
    elif stage.ended is not None and stage.started is not None:
        parts.append(seconds(stage.ended - stage.started))
    if stage.status == "failed":
        parts.append("failed")
    items = stage.items
    if items is not None:
        counts = f"{items.done}/{items.total if items.total is not None else '?'} items"
        extras = [f"{items.failed} failed"] * bool(items.failed)
        extras += [f"{items.retries} retries"] * bool(items.retries)
        extras += [f"{items.cached} cached"] * bool(items.cached)
        parts.append(counts + (f" ({', '.join(extras)})" if extras else ""))
    return " \N{MIDDLE DOT} ".join(parts)


def _row(axis: _Axis, index: int, stage: StageRecord, run: RunRecord) -> list[str]:
    y = AXIS_H + index * ROW_H + (ROW_H - BAR_H) / 2
    top = AXIS_H + index * ROW_H
    end = run.last if run.last is not None else axis.t0
    parts = [
        (
            f'<g class="row" data-stage="{escape(stage.name)}">'
            f'<rect class="stripe" x="0" y="{top}" width="{LABEL_W + PLOT_W + NOTE_W}" '
            f'height="{ROW_H}"/><text class="name" x="6" y="{top + ROW_H - 7}">'
            f"{escape(label(stage.name, 24))}<title>{escape(stage.name)}</title></text>"
        )
    ]
    ran = [a for a in stage.history if a.started is not None]
    parts += [_bar(axis, y, attempt, end, stage.name) for attempt in ran]
    parts += _delays(axis, y, ran)
    at = stage.ended if stage.ended is not None else stage.started
    if not ran and at is not None:
        parts.append(_marker(axis, y, stage, at))
    right = max([axis.x(a.ended if a.ended is not None else end) for a in ran], default=None)
    if right is None:
        right = axis.x(at) + 8 if at is not None else LABEL_W
    note = _note(stage)
    if note:
        x, anchor = right + 6, "start"
        if x + len(note) * _CHAR_W > LABEL_W + PLOT_W + NOTE_W:  # no room: left of the bars
            left = min([axis.x(a.started) for a in ran if a.started is not None], default=right)
            x, anchor = min(left, right - 8) - 6, "end"
        parts.append(
            f'<text class="note" x="{x:.1f}" y="{top + ROW_H - 7}" text-anchor="{anchor}">'
            f"{escape(note)}</text>"
        )
    parts.append("</g>")
    return parts


def _grid(axis: _Axis, height: float) -> list[str]:
    parts = []
    for offset in axis.ticks():
        x = axis.x(axis.t0 + offset)
        tick = seconds(offset) if offset else "0"
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{AXIS_H - 6}" x2="{x:.1f}" y2="{height:.1f}"/>'
            f'<text class="tick" x="{x:.1f}" y="{AXIS_H - 10}">{escape(tick)}</text>'
        )
    return parts


def timeline_svg(run: RunRecord, pending: Sequence[str] = ()) -> str:
    """The Gantt timeline of ``run`` as an ``<svg>``: the stages in the order the log first
    mentions them, then ``pending`` ones (in the DAG, never in the log) as empty rows."""
    t0 = run.started if run.started is not None else run.first
    t1 = run.ended if run.ended is not None else run.last
    if t0 is None or t1 is None:
        return '<p class="empty">The log has no timestamps: no timeline.</p>'
    axis = _Axis(t0, t1)
    stages = [*run.stages.values(), *(StageRecord(name) for name in pending)]
    height = AXIS_H + len(stages) * ROW_H + 4
    width = LABEL_W + PLOT_W + NOTE_W
    parts = _grid(axis, height)
    for index, stage in enumerate(stages):
        parts += _row(axis, index, stage, run)
    return (
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height:.0f}" viewBox="0 0 {width} {height:.0f}" role="img" '
        f'aria-label="Timeline of the run">{"".join(parts)}</svg>'
    )
