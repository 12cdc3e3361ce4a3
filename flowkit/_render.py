"""Renderings of a pipeline's DAG: Mermaid and Graphviz DOT text, and SVG/PNG through
Graphviz's ``dot`` program when it is installed.

Each kind of node looks different in both texts: inputs are dashed ovals, conditional
stages hexagons, ``map_over`` stages stacked boxes, parallel groups double boxes (listing
their children), cacheable stages cylinders; the label says the kind in words too, so a
stage that is two kinds at once (a cached fan-out) still reads right.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from flowkit._composite import ParallelStage
from flowkit._graph import Graph
from flowkit._nested import nesting
from flowkit._stage import Stage
from flowkit.errors import GraphvizError, GraphvizNotFoundError

IMAGE_FORMATS = ("svg", "png")
_DOT_TIMEOUT_S = 60

# kind -> (mermaid shape open/close, dot attributes); the first kind a stage has wins.
_SHAPES = {
    "parallel": (("[[", "]]"), 'shape=box, peripheries=2, style="rounded,filled", fillcolor="#ede7f6"'),  # noqa: E501
    "conditional": (("{{", "}}"), 'shape=hexagon, style=filled, fillcolor="#fff4e0"'),
    "map_over": (("[/", "\\]"), 'shape=box3d, style=filled, fillcolor="#e3f2fd"'),
    "cache": (("[(", ")]"), 'shape=cylinder, style=filled, fillcolor="#e8f5e9"'),
    "stage": (("[", "]"), 'shape=box, style="rounded,filled", fillcolor="#f5f5f5"'),
}  # fmt: skip
_MERMAID_CLASSES = {
    "input": "fill:#ffffff,stroke:#888,stroke-dasharray:4 3",
    "parallel": "fill:#ede7f6,stroke:#5e35b1,stroke-width:3px",
    "conditional": "fill:#fff4e0,stroke:#ef6c00",
    "map_over": "fill:#e3f2fd,stroke:#1565c0",
    "cache": "fill:#e8f5e9,stroke:#2e7d32",
}


def stage_kinds(stage: Stage) -> list[str]:
    """What a stage is, beyond a plain call: ``parallel``, ``conditional``, ``map_over``,
    ``cache`` (in that order; empty for a plain stage)."""
    kinds = []
    if isinstance(stage, ParallelStage):
        kinds.append("parallel")
    if type(stage).should_run is not Stage.should_run:
        kinds.append("conditional")
    if stage.map_over is not None:
        kinds.append("map_over")
    if stage.cache:
        kinds.append("cache")
    return kinds


def _notes(stage: Stage) -> list[str]:
    notes = []
    if isinstance(stage, ParallelStage):
        notes.append("parallel: " + ", ".join(stage.graph.order))
    if type(stage).should_run is not Stage.should_run:
        notes.append("when ...")
    if stage.map_over is not None:
        notes.append(f"map_over {stage.map_over}")
    if stage.cache:
        notes.append("cache")
    return notes


def _node_id(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_mermaid(graph: Graph, title: str) -> str:
    """A Mermaid ``flowchart``: stages as boxes (shaped by kind), inputs as dashed stadiums,
    edges as data flow."""
    lines = [f"%% pipeline {title}", "flowchart TD"]
    lines.extend(f'    input_{_node_id(name)}(["{_mermaid_text(name)}"])' for name in graph.inputs)
    members: dict[str, list[str]] = {"input": [f"input_{_node_id(n)}" for n in graph.inputs]}
    nodes = {}
    for name in graph.order:
        stage = graph.stages[name]
        kinds = stage_kinds(stage)
        (left, right), _ = _SHAPES[kinds[0] if kinds else "stage"]
        label = "<br/>".join(_mermaid_text(part) for part in [name, *_notes(stage)])
        nodes[name] = f'{_node_id(name)}{left}"{label}"{right}'
        for kind in kinds:
            members.setdefault(kind, []).append(_node_id(name))
    groups = nesting(graph)
    nested = {name for names in groups.values() for name in names}
    lines.extend(f"    {nodes[name]}" for name in graph.order if name not in nested)
    for prefix, names in groups.items():
        lines.append(f'    subgraph nested_{_node_id(prefix)} ["{_mermaid_text(prefix)}"]')
        lines.extend(f"        {nodes[name]}" for name in names)
        lines.append("    end")
    for name, spec in graph.inputs.items():
        lines.extend(f"    input_{_node_id(name)} -.-> {_node_id(s)}" for s in spec.stages)
    for name in graph.order:
        lines.extend(
            f"    {_node_id(dep)} --> {_node_id(name)}" for dep in graph.dependencies[name]
        )
    for kind, style in _MERMAID_CLASSES.items():
        if members.get(kind):
            lines.append(f"    classDef {kind} {style}")
            lines.append(f"    class {','.join(members[kind])} {kind}")
    return "\n".join(lines) + "\n"


def to_dot(graph: Graph, title: str) -> str:
    """A Graphviz ``digraph``: stages as boxes (shaped by kind), inputs as dashed ellipses."""
    lines = [
        f'digraph "{_dot_text(title)}" {{',
        "    rankdir=TB;",
        '    node [shape=box, fontname="Helvetica", fontsize=11];',
        '    edge [color="#555555"];',
    ]
    lines.extend(
        f'    "input:{_dot_text(n)}" [label="{_dot_text(n)}", shape=ellipse, style=dashed];'
        for n in graph.inputs
    )
    nodes = {}
    for name in graph.order:
        stage = graph.stages[name]
        kinds = stage_kinds(stage)
        _, attributes = _SHAPES[kinds[0] if kinds else "stage"]
        label = "\\n".join(_dot_text(part) for part in [name, *_notes(stage)])
        nodes[name] = f'"{_dot_text(name)}" [label="{label}", {attributes}];'
    groups = nesting(graph)
    nested = {name for names in groups.values() for name in names}
    lines.extend(f"    {nodes[name]}" for name in graph.order if name not in nested)
    for prefix, names in groups.items():
        lines.append(f'    subgraph "cluster_{_dot_text(prefix)}" {{')
        lines.append(f'        label="{_dot_text(prefix)}";')
        lines.extend(f"        {nodes[name]}" for name in names)
        lines.append("    }")
    for name, spec in graph.inputs.items():
        lines.extend(
            f'    "input:{_dot_text(name)}" -> "{_dot_text(s)}" [style=dashed];'
            for s in spec.stages
        )
    for name in graph.order:
        lines.extend(
            f'    "{_dot_text(dep)}" -> "{_dot_text(name)}";' for dep in graph.dependencies[name]
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def graphviz_available() -> bool:
    """True when Graphviz's ``dot`` program is on PATH."""
    return shutil.which("dot") is not None


def render_image(dot_text: str, fmt: str) -> bytes:
    """``dot_text`` rendered by Graphviz's ``dot`` as ``fmt`` (``svg`` or ``png``).

    Raises:
        GraphvizNotFoundError: ``dot`` is not on PATH.
        GraphvizError: ``dot`` failed or did not finish.
        ValueError: ``fmt`` is not an image format.
    """
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"unknown image format {fmt!r}: use one of {', '.join(IMAGE_FORMATS)}")
    program = shutil.which("dot")
    if program is None:
        raise GraphvizNotFoundError(fmt)
    try:
        done = subprocess.run(  # noqa: S603 - our own DOT text, fed to the dot found on PATH
            [program, f"-T{fmt}"],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=_DOT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GraphvizError(f"Graphviz's dot did not finish within {_DOT_TIMEOUT_S}s") from None
    if done.returncode != 0:
        problem = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = problem[0] if problem else f"exit code {done.returncode}"
        raise GraphvizError(f"Graphviz's dot failed: {detail}")
    return done.stdout


def svg_or_none(dot_text: str) -> str | None:
    """``dot_text`` as SVG, or None when Graphviz is missing or broken (for Jupyter's
    ``_repr_svg_``, which must not raise)."""
    if not graphviz_available():
        return None
    try:
        return render_image(dot_text, "svg").decode("utf-8")
    except (GraphvizError, OSError):
        return None
