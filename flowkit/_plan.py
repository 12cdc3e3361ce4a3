"""``Plan``: the stages one run considers, compiled to index-addressed arrays."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from flowkit._composite import ParallelStage
from flowkit._graph import Graph
from flowkit._retry import NO_RETRY
from flowkit._stage import CONTEXT, FunctionStage, Stage


class Plan:
    """The stages one run considers, as index-addressed arrays (built once, reused)."""

    __slots__ = (
        "args",
        "conditional",
        "dependents",
        "deps",
        "direct",
        "fast",
        "index",
        "input_params",
        "names",
        "order_only",
        "overridden",
        "required",
        "retries",
        "stages",
        "wants_context",
    )

    def __init__(self, graph: Graph, names: list[str], overridden: Collection[str]) -> None:
        index = {name: k for k, name in enumerate(names)}
        self.names = names
        self.index = index
        self.overridden = frozenset(index[name] for name in overridden if name in index)
        self.stages: list[Stage] = [graph.stages[name] for name in names]
        # A fan-out stage retries each item and a group each child, never the whole stage.
        self.retries = [
            NO_RETRY if s.map_over is not None or isinstance(s, ParallelStage) else s.retry
            for s in self.stages
        ]
        # The hot path calls a plain sync function stage directly, skipping the dispatch.
        self.direct: list[Callable[..., Any] | None] = [
            s.fn
            if type(s) is FunctionStage
            and not s.is_async
            and s.timeout is None
            and s.map_over is None
            else None
            for s in self.stages
        ]
        self.conditional = [type(s).should_run is not Stage.should_run for s in self.stages]
        self.deps: list[tuple[int, ...]] = []
        self.args: list[tuple[tuple[str, int], ...]] = []
        self.order_only: list[tuple[int, ...]] = []
        self.input_params: list[tuple[str, ...]] = []
        self.wants_context: list[bool] = []
        for k, stage in enumerate(self.stages):
            params = stage.parameters
            deps = (
                ()
                if k in self.overridden
                else tuple(index[d] for d in graph.dependencies[names[k]])
            )
            self.deps.append(deps)
            self.args.append(
                tuple((p, index[p]) for p in params if p in index and index[p] in deps)
            )
            self.order_only.append(tuple(j for j in deps if names[j] not in params))
            self.input_params.append(
                tuple(p for p in params if p not in graph.stages and p != CONTEXT)
            )
            self.wants_context.append(CONTEXT in params)
        dependents: list[list[int]] = [[] for _ in names]
        for k, deps in enumerate(self.deps):
            for j in deps:
                dependents[j].append(k)
        self.dependents = [tuple(d) for d in dependents]
        # Stages the engine may run on its hot path (see Run.advance): a plain function
        # with nothing to do around the call.
        self.fast = [
            self.direct[k] is not None
            and not self.conditional[k]
            and not self.wants_context[k]
            and not s.cache
            and s.on_success is None
            and s.on_failure is None
            for k, s in enumerate(self.stages)
        ]
        # Required input -> the stages that need it (an overridden stage needs nothing).
        self.required: dict[str, list[str]] = {}
        for k, stage in enumerate(self.stages):
            if k not in self.overridden:
                for param in self.input_params[k]:
                    if param not in stage.defaults:
                        self.required.setdefault(param, []).append(names[k])
