"""The run's DAG as inline SVG, each stage coloured by its final status.

A layered layout: a stage's layer is the length of the longest dependency path to it, a
wide layer wraps onto several rows, and each row is ordered by where its dependencies sit
(one barycentre pass), which keeps most edges short. No Graphviz needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from flowkit._report._format import label, seconds
from flowkit._runlog import RunRecord, StageRecord

NODE_W, NODE_H = 156, 34
GAP_X, GAP_Y = 22, 46
PER_ROW = 8
MARGIN = 12
_BAND_TITLE_H = 30


def levels(names: Sequence[str], deps: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each stage's layer: 0 for a stage without dependencies, else one more than its
    deepest dependency (dependencies outside ``names`` are ignored)."""
    level = dict.fromkeys(names, 0)
    for _ in range(len(names)):  # one pass when names are in topological order
        changed = False
        for name in names:
            for dep in deps.get(name, ()):
                if dep in level and level[dep] + 1 > level[name] and dep != name:
                    level[name] = level[dep] + 1
                    changed = True
        if not changed:
            break
    return level


def _rows(names: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The rows of the drawing, top to bottom: each layer, wrapped every ``PER_ROW``."""
    level = levels(names, deps)
    layers: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name in names:
        layers[level[name]].append(name)
    rows: list[list[str]] = []
    column: dict[str, float] = {}
    for layer in layers:

        def centre(name: str) -> float:
            placed = [column[d] for d in deps.get(name, ()) if d in column]
            return sum(placed) / len(placed) if placed else float("inf")

        ordered = sorted(layer, key=centre)  # stable: ties keep the log's order
        for start in range(0, len(ordered), PER_ROW):
            row = ordered[start : start + PER_ROW]
            rows.append(row)
            for i, name in enumerate(row):
                column[name] = i - (len(row) - 1) / 2
    return rows


def _place(rows: list[list[str]], top: float, width: float) -> dict[str, tuple[float, float]]:
    where = {}
    for r, row in enumerate(rows):
        row_width = len(row) * NODE_W + (len(row) - 1) * GAP_X
        left = (width - row_width) / 2
        for i, name in enumerate(row):
            where[name] = (left + i * (NODE_W + GAP_X), top + r * (NODE_H + GAP_Y))
    return where


def _node(name: str, stage: StageRecord | None, x: float, y: float) -> str:
    status = stage.status if stage is not None else "pending"
    classes = f"node s-{status}" + (" cached" if stage is not None and stage.cached else "")
    facts = [status]
    if stage is not None:
        facts += ["cached"] * stage.cached + ([seconds(stage.duration)] if stage.duration else [])
        if stage.attempts > 1:
            facts.append(f"{stage.attempts} attempts")
        if stage.error:
            facts.append(stage.error)
    tip = escape(f"{name}: {', '.join(facts)}")
    mark = " \N{CIRCLED LATIN SMALL LETTER C}" if stage is not None and stage.cached else ""
    return (
        f'<g class="{classes}" data-stage="{escape(name)}"><title>{tip}</title>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="7"/>'
        f'<text x="{x + NODE_W / 2:.1f}" y="{y + NODE_H / 2 + 4:.1f}">'
        f"{escape(label(name, 19))}{mark}</text></g>"
    )


def _edge(start: tuple[float, float], end: tuple[float, float], marker: str) -> str:
    x1, y1 = start[0] + NODE_W / 2, start[1] + NODE_H
    x2, y2 = end[0] + NODE_W / 2, end[1]
    bend = max((y2 - y1) / 2, 12)
    return (
        f'<path d="M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} {x2:.1f},{y2 - bend:.1f} '
        f'{x2:.1f},{y2 - 2:.1f}" marker-end="url(#{marker})"/>'
    )


def dag_svg(run: RunRecord, key: int = 0) -> str:
    """The DAG of ``run`` (from ``pipeline.started``'s ``dependencies``) as an ``<svg>``;
    stages the log shows but the DAG does not list (a parallel group's children) get a band
    of their own below it. ``key`` tells apart the drawings of one page."""
    deps = run.dependencies or {}
    names = list(deps)
    extra = [name for name in run.stages if name not in deps]
    rows = _rows(names, deps)
    extra_rows = [extra[i : i + PER_ROW] for i in range(0, len(extra), PER_ROW)]
    widest = max((len(row) for row in rows + extra_rows), default=1)
    width = 2 * MARGIN + widest * NODE_W + (widest - 1) * GAP_X
    where = _place(rows, MARGIN, width)
    height = MARGIN + len(rows) * (NODE_H + GAP_Y) - GAP_Y + MARGIN
    parts = []
    if extra_rows:
        band_top = height + MARGIN if rows else MARGIN
        title = (
            "in the log, not in its DAG (parallel group children)"
            if run.dependencies is not None
            else "this log does not record the DAG: stages without their edges"
        )
        parts.append(f'<text class="band" x="{MARGIN}" y="{band_top + 16:.1f}">{title}</text>')
        where.update(_place(extra_rows, band_top + _BAND_TITLE_H, width))
        height = band_top + _BAND_TITLE_H + len(extra_rows) * (NODE_H + GAP_Y) - GAP_Y + MARGIN
    edges = [
        _edge(where[dep], where[name], f"arrow-{key}")
        for name in names
        for dep in deps[name]
        if dep in where and dep != name
    ]
    nodes = [_node(name, run.stages.get(name), *where[name]) for name in [*names, *extra]]
    return (
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="DAG of the run"><defs><marker id="arrow-{key}" viewBox="0 0 10 10" refX="9" '
        'refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>'
        f'<g class="edges">{"".join(edges)}</g>{"".join(parts)}{"".join(nodes)}</svg>'
    )
