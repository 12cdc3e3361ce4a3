"""Text renderings of a pipeline's DAG: Mermaid and Graphviz DOT."""

from __future__ import annotations

import re

from flowkit._graph import Graph
from flowkit._nested import nesting


def _node_id(name: str) -> str:
    return re.sub(r"\W", "_", name)


def to_mermaid(graph: Graph, title: str) -> str:
    """A Mermaid ``flowchart``: stages as boxes, inputs as rounded nodes, edges as data flow."""
    lines = [f"%% pipeline {title}", "flowchart TD"]
    lines.extend(f'    input_{_node_id(name)}(["{name}"])' for name in graph.inputs)
    groups = nesting(graph)
    nested = {name for names in groups.values() for name in names}
    lines.extend(f'    {_node_id(name)}["{name}"]' for name in graph.order if name not in nested)
    for prefix, names in groups.items():
        lines.append(f'    subgraph nested_{_node_id(prefix)} ["{prefix}"]')
        lines.extend(f'        {_node_id(name)}["{name}"]' for name in names)
        lines.append("    end")
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
    groups = nesting(graph)
    nested = {name for names in groups.values() for name in names}
    lines.extend(f'    "{name}";' for name in graph.order if name not in nested)
    for prefix, names in groups.items():
        lines.append(f'    subgraph "cluster_{prefix}" {{')
        lines.append(f'        label="{prefix}";')
        lines.extend(f'        "{name}";' for name in names)
        lines.append("    }")
    for name, spec in graph.inputs.items():
        lines.extend(f'    "input:{name}" -> "{s}" [style=dashed];' for s in spec.stages)
    for name in graph.order:
        lines.extend(f'    "{dep}" -> "{name}";' for dep in graph.dependencies[name])
    lines.append("}")
    return "\n".join(lines) + "\n"
