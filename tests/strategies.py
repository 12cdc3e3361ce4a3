"""Hypothesis strategies: random DAGs of stages (and DAGs with one injected back-edge)."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import strategies as st

from flowkit import FunctionStage, Pipeline

Body = Callable[[str, Mapping[str, Any]], object]


def _sum_body(name: str, kwargs: Mapping[str, Any]) -> object:
    return 1 + sum(kwargs.values())


@dataclasses.dataclass(frozen=True)
class Dag:
    """A set of stage names and the edges between them.

    ``edges`` holds ``(producer, consumer)`` pairs: the consumer depends on the producer.
    An edge in ``order_only`` is declared with ``depends_on``; every other edge is a
    parameter of the consumer named after the producer (its output is injected).
    """

    names: tuple[str, ...]  # registration order
    edges: frozenset[tuple[str, str]]
    order_only: frozenset[tuple[str, str]] = frozenset()

    def dependencies(self, name: str) -> list[str]:
        """The producers ``name`` depends on, in registration order."""
        return [n for n in self.names if (n, name) in self.edges]

    def data_dependencies(self, name: str) -> list[str]:
        return [d for d in self.dependencies(name) if (d, name) not in self.order_only]

    def ancestors(self, name: str) -> set[str]:
        """Every stage ``name`` needs, directly or not (not ``name`` itself in a DAG)."""
        seen: set[str] = set()
        stack = self.dependencies(name)
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(self.dependencies(node))
        return seen

    def make_stage(self, name: str, body: Body = _sum_body) -> FunctionStage[..., object]:
        """A stage whose parameters are ``name``'s data dependencies and whose function
        returns ``body(name, kwargs)``."""
        params = self.data_dependencies(name)

        def fn(**kwargs: Any) -> object:
            return body(name, kwargs)

        # Give the function a plain keyword signature so it reads like a hand-written stage.
        fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY) for p in params]
        )
        fn.__name__ = fn.__qualname__ = name
        order_only = [d for d in self.dependencies(name) if (d, name) in self.order_only]
        return FunctionStage(fn, depends_on=order_only)

    def pipeline(self, body: Body = _sum_body, **options: Any) -> Pipeline:
        """A pipeline of all stages, registered in ``names`` order."""
        return Pipeline([self.make_stage(n, body) for n in self.names], **options)


@st.composite
def dags(draw: st.DrawFn, min_stages: int = 1, max_stages: int = 8) -> Dag:
    """A random DAG. Registration order is a random permutation of a hidden topological
    order, so registration order alone is not a valid order."""
    count = draw(st.integers(min_stages, max_stages))
    topo = [f"s{i}" for i in range(count)]
    pairs = [(topo[i], topo[j]) for i in range(count) for j in range(i + 1, count)]
    edges = draw(st.sets(st.sampled_from(pairs), max_size=len(pairs))) if pairs else set()
    order_only = draw(st.sets(st.sampled_from(sorted(edges)))) if edges else set()
    names = tuple(draw(st.permutations(topo)))
    return Dag(names, frozenset(edges), frozenset(order_only))


@st.composite
def dags_with_back_edge(draw: st.DrawFn, max_stages: int = 8) -> tuple[Dag, tuple[str, str]]:
    """A random DAG plus one edge that closes a loop: from a stage to one it (indirectly)
    feeds. Returns the graph with the back-edge included, and the back-edge."""
    dag = draw(dags(min_stages=2, max_stages=max_stages).filter(lambda d: bool(d.edges)))
    sources = sorted({producer for producer, _ in dag.edges})
    start = draw(st.sampled_from(sources))
    reachable = sorted(n for n in dag.names if start in dag.ancestors(n))
    end = draw(st.sampled_from(reachable))
    back = (end, start)  # `end` now feeds `start`, which already feeds `end`
    as_order_only = draw(st.booleans())
    return (
        Dag(
            dag.names,
            dag.edges | {back},
            dag.order_only | ({back} if as_order_only else set()),
        ),
        back,
    )
