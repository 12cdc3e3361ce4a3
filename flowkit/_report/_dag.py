"""The run's DAG as inline SVG, each stage coloured by its final status.

A layered layout, left to right: a stage's column is the length of the longest dependency
path to it, and each column is ordered by where its stages' dependencies sit (one
barycentre pass), which keeps most edges short. A wide DAG grows downwards and a deep one
sideways; the page scrolls both. No Graphviz needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from flowkit._report._format import label, seconds
from flowkit._runlog import RunRecord, StageRecord

NODE_W, NODE_H = 156, 30
GAP_X, GAP_Y = 44, 12
MARGIN = 12
_BAND_TITLE_H = 30
PER_BAND_ROW = 6


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


def _columns(names: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The columns of the drawing, left to right: one per layer, each ordered by where the
    stages' dependencies sit (stable: ties keep the log's order)."""
    level = levels(names, deps)
    columns: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name in names:
        columns[level[name]].append(name)
    row: dict[str, float] = {}
    for column in columns:

        def centre(name: str) -> float:
            placed = [row[d] for d in deps.get(name, ()) if d in row]
            return sum(placed) / len(placed) if placed else float("inf")

        column.sort(key=centre)
        for i, name in enumerate(column):
            row[name] = i - (len(column) - 1) / 2
    return columns


def _place(columns: list[list[str]], height: float) -> dict[str, tuple[float, float]]:
    where: dict[str, tuple[float, float]] = {}
    for c, column in enumerate(columns):
        column_height = len(column) * NODE_H + (len(column) - 1) * GAP_Y
        top = MARGIN + (height - 2 * MARGIN - column_height) / 2
        for i, name in enumerate(column):
            where[name] = (MARGIN + c * (NODE_W + GAP_X), top + i * (NODE_H + GAP_Y))
    return where


def _place_band(names: Sequence[str], top: float) -> dict[str, tuple[float, float]]:
    return {
        name: (
            MARGIN + (i % PER_BAND_ROW) * (NODE_W + GAP_X),
            top + (i // PER_BAND_ROW) * (NODE_H + GAP_Y),
        )
        for i, name in enumerate(names)
    }


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
    x1, y1 = start[0] + NODE_W, start[1] + NODE_H / 2
    x2, y2 = end[0], end[1] + NODE_H / 2
    bend = max((x2 - x1) / 2, 12)
    return (
        f'<path d="M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} '
        f'{x2 - 2:.1f},{y2:.1f}" marker-end="url(#{marker})"/>'
    )


def dag_svg(run: RunRecord, key: int = 0) -> str:
    """The DAG of ``run`` (from ``pipeline.started``'s ``dependencies``) as an ``<svg>``;
    stages the log shows but the DAG does not list (a parallel group's children) get a band
    of their own below it. ``key`` tells apart the drawings of one page."""
    deps = run.dependencies or {}
    names = list(deps)
    extra = [name for name in run.stages if name not in deps]
    columns = _columns(names, deps)
    tallest = max((len(column) for column in columns), default=0)
    height = 2 * MARGIN + tallest * NODE_H + max(tallest - 1, 0) * GAP_Y if columns else 0
    width = 2 * MARGIN + max(len(columns), min(len(extra), PER_BAND_ROW)) * (NODE_W + GAP_X)
    width -= GAP_X
    where = _place(columns, height)
    parts = []
    if extra:
        title = (
            "in the log, not in its DAG (parallel group children)"
            if run.dependencies is not None
            else "this log does not record the DAG: stages without their edges"
        )
        parts.append(f'<text class="band" x="{MARGIN}" y="{height + 18:.1f}">{title}</text>')
        where.update(_place_band(extra, height + _BAND_TITLE_H))
        band_rows = -(-len(extra) // PER_BAND_ROW)
        height += _BAND_TITLE_H + band_rows * (NODE_H + GAP_Y) - GAP_Y + MARGIN
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
