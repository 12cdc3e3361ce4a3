"""The report's own DAG layout (no Graphviz): every edge points right, every stage is drawn
once, and logs with odd orders or loops still give a drawing."""

from __future__ import annotations

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import Dag, dags

from flowkit._report._dag import NODE_W, dag_svg, levels
from flowkit._runlog import RunRecord


def positions(svg: str) -> dict[str, float]:
    found = re.findall(r'data-stage="([^"]+)"><title>[^<]*</title><rect x="([\d.]+)"', svg)
    return {name: float(x) for name, x in found}


@settings(max_examples=50, deadline=None)
@given(dag=dags(max_stages=12), seed=st.integers(0, 1000))
def test_every_edge_points_right_in_any_log_order(dag: Dag, seed: int) -> None:
    deps = {name: dag.dependencies(name) for name in dag.names}
    shuffled = list(deps.items())
    random.Random(seed).shuffle(shuffled)  # a log need not list stages in order
    run = RunRecord("r", dependencies=dict(shuffled))

    x = positions(dag_svg(run))

    assert sorted(x) == sorted(dag.names)
    for producer, consumer in dag.edges:
        assert x[producer] + NODE_W < x[consumer], (producer, consumer)


def test_levels_are_longest_paths() -> None:
    deps = {"d": ["b", "c"], "a": [], "b": ["a"], "c": ["b"]}

    assert levels(list(deps), deps) == {"a": 0, "b": 1, "c": 2, "d": 3}


def test_a_loop_in_a_broken_log_still_draws() -> None:
    deps = {"a": ["b"], "b": ["a"], "c": ["c"]}

    svg = dag_svg(RunRecord("r", dependencies=deps))

    assert sorted(positions(svg)) == ["a", "b", "c"]
