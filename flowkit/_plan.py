"""``Plan``: the stages one run considers, compiled to index-addressed arrays."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from types import FunctionType
from typing import Any

from flowkit._graph import Graph
from flowkit._retry import NO_RETRY, Retry
from flowkit._seed import HOOK_METHODS, hook_method
from flowkit._stage import CONTEXT, FunctionStage, Stage

# What the engine does around a stage's call, as bits of `Plan.shape`.
CONDITIONAL = 1  # a condition decides before each attempt
CONTEXT_ARG = 2  # takes a StageContext
FAN_OUT = 4  # map_over: one call per item
GROUP = 8  # a parallel group: its children are calls of their own
CACHED = 16  # cache=True
HOOKED = 32  # on_success or on_failure


def _shape(stage: Stage) -> int:
    shape = CONDITIONAL if type(stage).should_run is not Stage.should_run else 0
    if CONTEXT in stage.parameters:
        shape |= CONTEXT_ARG
    if stage.map_over is not None:
        shape |= FAN_OUT
    if isinstance(getattr(stage, "graph", None), Graph):  # a parallel group
        shape |= GROUP
    if stage.cache:
        shape |= CACHED
    if stage.on_success is not None or stage.on_failure is not None or _hook_methods(stage):
        shape |= HOOKED
    return shape


def _hook_methods(stage: Stage) -> bool:
    return any(hook_method(stage, status) is not None for status in HOOK_METHODS)


def _direct(stage: Stage, shape: int, dependencies: int) -> Callable[..., Any] | None:
    """The plain function the engine may call with the arguments themselves (the fast
    path), when nothing has to happen around the call but its timing. ``dependencies``:
    how many of its parameters are data dependencies."""
    if shape & (CONDITIONAL | CONTEXT_ARG | FAN_OUT | GROUP):
        return None
    if type(stage).execute is not FunctionStage.execute or stage.is_async:
        return None
    if stage.timeout is not None:
        return None
    fn: Callable[..., Any] = stage.fn  # type: ignore[attr-defined]
    count = len(stage.parameters)
    if count >= WIDE and dependencies == count and positional(stage):
        return _by_position(fn, count)
    return fn


WIDE = 8


def positional(stage: Stage) -> bool:
    """True when the function of ``stage`` takes its parameters by position, in order (the
    hot path passes a stage's dependencies that way): a plain function whose own positional
    parameters are exactly those (not one that only claims them with ``__signature__``,
    not a keyword-only one)."""
    fn = getattr(stage, "fn", None)
    if not isinstance(fn, FunctionType):
        return False
    code = fn.__code__
    params = stage.parameters
    return not code.co_kwonlyargcount and code.co_varnames[: code.co_argcount] == params


def _by_position(fn: Callable[..., Any], count: int) -> Callable[..., Any]:
    """``fn`` taking its arguments by keyword, passed on by position. CPython matches each
    keyword against the parameter list in turn, so a call by keyword costs O(n²) in the
    parameters (350 µs for a 1,000-way fan-in); the engine builds the keywords of a stage
    whose parameters are all dependencies in parameter order."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if args:
            return fn(*args)
        if len(kwargs) == count:
            return fn(*kwargs.values())
        return fn(**kwargs)  # a skipped dependency left a parameter to its default

    return call


class Plan:
    """The stages one run considers, as index-addressed arrays (built once, reused).

    Attributes:
        names, stages: By index; indices follow the pipeline's topological order.
        args: Per stage, ``(parameter, index)`` of each data dependency.
        order_only: Per stage, the indices of its ``depends_on`` dependencies.
        inputs: Per stage, the parameters that are pipeline inputs.
        waiting: Per stage, how many dependencies it waits for.
        sources: The stages ready when a run starts (no dependency, not overridden).
        dependents: Per stage, the indices of the stages that wait for it.
        shape: Per stage, the bits above; ``direct``: the fast path's function or None.
        quiet: Per stage, True when the engine may skip everything but the call itself
            (a direct function with no cache, no hooks and no ordering-only dependency).
    """

    __slots__ = (
        "args",
        "dependents",
        "direct",
        "graph",
        "index",
        "inputs",
        "loud",
        "names",
        "order_only",
        "overridden",
        "quiet",
        "required",
        "retries",
        "shape",
        "sources",
        "stages",
        "waiting",
    )

    def __init__(self, graph: Graph, names: list[str], overridden: Collection[str]) -> None:
        index = {name: k for k, name in enumerate(names)}
        self.graph = graph
        self.names = names
        self.index = index
        self.overridden = frozenset(index[name] for name in overridden if name in index)
        self.stages: list[Stage] = [graph.stages[name] for name in names]
        self.shape = [_shape(s) for s in self.stages]
        # A fan-out stage retries each item and a group each child, never the whole stage.
        self.retries: list[Retry] = [
            NO_RETRY if shape & (FAN_OUT | GROUP) else s.retry
            for s, shape in zip(self.stages, self.shape, strict=True)
        ]
        self.args: list[tuple[tuple[str, int], ...]] = []
        self.order_only: list[tuple[int, ...]] = []
        self.inputs: list[tuple[str, ...]] = []
        self.waiting: list[int] = []
        dependents: list[list[int]] = [[] for _ in names]
        # The index's own int objects, not enumerate's copies: 28 bytes a stage past 256.
        for stage, k in zip(self.stages, index.values(), strict=True):
            self._link(k, stage, graph, dependents)
        self.dependents = [tuple(d) for d in dependents]
        self.sources = [k for k, n in enumerate(self.waiting) if not n and k not in self.overridden]
        self.direct = [
            _direct(s, shape, len(args))
            for s, shape, args in zip(self.stages, self.shape, self.args, strict=True)
        ]
        fast = [
            fn is not None and not shape & (CACHED | HOOKED) and positional(s)
            for s, fn, shape in zip(self.stages, self.direct, self.shape, strict=True)
        ]
        self.required = self._required()
        # The engine's hot path: a plain stage with no ordering-only dependency (and, per
        # run, nobody listening to info events: then `quiet` applies, else `loud`).
        self.quiet = [plain and not self.order_only[k] for k, plain in enumerate(fast)]
        self.loud = [False] * len(names)

    def _link(self, k: int, stage: Stage, graph: Graph, dependents: list[list[int]]) -> None:
        index, params = self.index, stage.parameters
        deps = () if k in self.overridden else graph.dependencies[self.names[k]]
        self.args.append(tuple((p, index[p]) for p in params if p in deps))
        self.order_only.append(tuple(index[d] for d in deps if d not in params))
        self.inputs.append(tuple(p for p in params if p not in graph.stages and p != CONTEXT))
        self.waiting.append(len(deps))
        for dep in deps:
            dependents[index[dep]].append(k)

    def _required(self) -> dict[str, list[str]]:
        """Required input -> the stages that need it (an overridden stage needs nothing)."""
        required: dict[str, list[str]] = {}
        for k, stage in enumerate(self.stages):
            if k in self.overridden:
                continue
            defaults: Mapping[str, Any] = stage.defaults
            for param in self.inputs[k]:
                if param not in defaults:
                    required.setdefault(param, []).append(self.names[k])
        return required

    def dependency_names(self) -> dict[str, list[str]]:
        """Stage name -> the names of its dependencies (data and ordering), for events."""
        deps = self.graph.dependencies
        return {name: list(deps[name]) for name in self.names}
