"""Text renderings of a pipeline's DAG: Mermaid and Graphviz DOT."""

from __future__ import annotations

import re

from flowkit._graph import Graph


def _node_id(name: str) -> str:
    return re.sub(r"\W", "_", name)


def to_mermaid(graph: Graph, title: str) -> str:
    """A Mermaid ``flowchart``: stages as boxes, inputs as rounded nodes, edges as data flow."""
    lines = [f"%% pipeline {title}", "flowchart TD"]
    lines.extend(f'    input_{_node_id(name)}(["{name}"])' for name in graph.inputs)
    lines.extend(f'    {_node_id(name)}["{name}"]' for name in graph.order)
    for name, spec in graph.inputs.items():
        lines.extend(f"    input_{_node_id(name)} -.-> {_node_id(s)}" for s in spec.stages)
    for name in graph.order:
        lines.extend(
            f"    {_node_id(dep)} --> {_node_id(name)}" for dep in graph.dependencies[name]
        )
    return "\n".join(lines) + "\n"


def to_dot(graph: Graph, title: str) -> str:
    """A Graphviz ``digraph``: stages as boxes, inputs as dashed ellipses."""
    lines = [f'digraph "{title}" {{', "    rankdir=TB;", "    node [shape=box];"]
    lines.extend(
        f'    "input:{n}" [label="{n}", shape=ellipse, style=dashed];' for n in graph.inputs
    )
    lines.extend(f'    "{name}";' for name in graph.order)
    for name, spec in graph.inputs.items():
        lines.extend(f'    "input:{name}" -> "{s}" [style=dashed];' for s in spec.stages)
    for name in graph.order:
        lines.extend(f'    "{dep}" -> "{name}";' for dep in graph.dependencies[name])
    lines.append("}")
    return "\n".join(lines) + "\n"
