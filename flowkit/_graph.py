"""The pure DAG: dependency inference, validation and topological order. No I/O, no logging."""

from __future__ import annotations

import functools
import gc
import heapq
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

from flowkit._stage import CONTEXT, Stage
from flowkit.errors import (
    CycleError,
    MissingInputError,
    PipelineDefinitionError,
    UnknownDependencyError,
    did_you_mean,
)


@attrs.frozen
class InputSpec:
    """A pipeline input: a parameter that no stage produces."""

    required: bool
    default: Any
    annotation: Any
    stages: tuple[str, ...]


@attrs.frozen
class Graph:
    """The validated DAG of a set of stages. All tuples of names follow registration order
    unless named otherwise."""

    stages: Mapping[str, Stage]
    dependencies: Mapping[str, tuple[str, ...]]
    order: tuple[str, ...]
    inputs: Mapping[str, InputSpec]

    @functools.cached_property
    def dependents(self) -> Mapping[str, tuple[str, ...]]:
        """The stages that depend on each stage. Made when first read: a run needs only
        ``dependencies``, and a tuple per stage is a tenth of a large graph's memory."""
        found = _dependents(self.stages, self.dependencies)
        return {name: tuple(names) for name, names in found.items()}


def compile_graph(stages: Mapping[str, Stage], outside: Collection[str] = ()) -> Graph:
    """Infer and validate the DAG of ``stages`` (name -> stage, registration order).

    ``depends_on`` names in ``outside`` are ordering edges handled elsewhere (a parallel
    group's children: the group itself waits for them), not errors.

    Raises:
        UnknownDependencyError: A ``depends_on`` names no stage.
        CycleError: The stages depend on each other in a loop.
        PipelineDefinitionError: A producer's return type cannot feed a consumer's parameter.
    """
    # The graph is a few containers per stage and no reference cycle. With the collector on,
    # building one of 100,000 stages set off full collections that walked every object the
    # program holds, so the cost per stage grew with the pipeline. It resumes at the end.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _infer(stages, outside)
    finally:
        if collecting:
            gc.enable()


def _infer(stages: Mapping[str, Stage], outside: Collection[str]) -> Graph:
    dependencies: dict[str, tuple[str, ...]] = {}
    takers: dict[str, list[Stage]] = {}
    mismatch: PipelineDefinitionError | None = None  # raised after the cycle check
    ordered = True  # so far every dependency was registered before its dependent
    for name, stage in stages.items():
        deps: dict[str, None] = {}
        params = stage.parameters
        for param in params:
            if param in stages:
                deps[param] = None
                ordered = ordered and param in dependencies  # those are the stages seen
                if mismatch is None:
                    mismatch = _mismatch(stage, param, stages[param])
            elif param != CONTEXT:
                takers.setdefault(param, []).append(stage)
        for dep in stage.depends_on:
            if dep in stages:
                deps[dep] = None
                ordered = ordered and dep in dependencies
            elif dep not in outside:
                raise UnknownDependencyError(name, dep, stages)
        found = tuple(deps)
        # Most stages depend on exactly their parameters: share that tuple (48 bytes a stage).
        dependencies[name] = params if found == params else found
    # Registration order, when topological, is what Kahn's algorithm would return.
    order = tuple(stages) if ordered else _topological_order(stages, dependencies)
    if mismatch is not None:
        raise mismatch
    return Graph(
        stages=stages,
        dependencies=dependencies,
        order=order,
        inputs={param: _input_spec(param, users) for param, users in takers.items()},
    )


def _dependents(
    stages: Mapping[str, Stage], dependencies: Mapping[str, tuple[str, ...]]
) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {name: [] for name in stages}
    for name, deps in dependencies.items():
        for dep in deps:
            found[dep].append(name)
    return found


def _input_spec(param: str, users: list[Stage]) -> InputSpec:
    defaults = [s.defaults[param] for s in users if param in s.defaults]
    annotation = next((s.annotations[param] for s in users if param in s.annotations), None)
    return InputSpec(
        required=len(defaults) < len(users),
        default=defaults[0] if defaults else None,
        annotation=annotation,
        stages=tuple(s.name for s in users),
    )


def _topological_order(
    stages: Mapping[str, Stage], dependencies: Mapping[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """Kahn's algorithm; ties broken by registration order, so the order is deterministic."""
    dependents = _dependents(stages, dependencies)
    index = {name: i for i, name in enumerate(stages)}
    names = list(stages)
    waiting = {name: len(deps) for name, deps in dependencies.items()}
    ready = [index[name] for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, index[dependent])
    if len(order) < len(names):
        raise CycleError(_find_cycle(names, dependencies, waiting))
    return tuple(order)


def _find_cycle(
    names: list[str], dependencies: Mapping[str, tuple[str, ...]], waiting: Mapping[str, int]
) -> list[str]:
    """Return one real loop among the stages Kahn's algorithm could not order.

    Each of them still has an unordered dependency, so walking from dependency to dependency
    must come back to a stage already on the path.
    """
    left = {name for name, count in waiting.items() if count > 0}
    path: list[str] = []
    seen: dict[str, int] = {}
    node = next(name for name in names if name in left)
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(dep for dep in dependencies[node] if dep in left)
    loop = path[seen[node] :][::-1]  # walked against the data flow; turn it around
    position = {name: i for i, name in enumerate(names)}
    start = min(range(len(loop)), key=lambda i: position[loop[i]])
    loop = loop[start:] + loop[:start]
    return [*loop, loop[0]]


def _resolve(annotation: Any, stage: Stage) -> type | None:
    if isinstance(annotation, str):
        namespace = getattr(getattr(stage, "fn", None), "__globals__", None)
        if namespace is None:
            return None
        try:
            # The module's own globals, not a copy: copying costs as much as the module is
            # big, per annotation (89 us per stage in a 10,000-stage module).
            annotation = eval(annotation, namespace, {})  # noqa: S307 - its own annotation
        except Exception:  # noqa: BLE001 - an unresolvable annotation is not checked
            return None
    return annotation if isinstance(annotation, type) and annotation is not Any else None


_NUMERIC_WIDENING = {float: (int,), complex: (int, float)}


def _annotations(stage: Stage) -> Mapping[str, Any]:
    # A function stage's own dict, read-only here: `annotations` wraps it anew per access.
    raw: Mapping[str, Any] | None = getattr(stage, "_annotations", None)
    return stage.annotations if raw is None else raw


def _mismatch(consumer: Stage, param: str, producer: Stage) -> PipelineDefinitionError | None:
    """Where both sides are annotated with plain classes, the producer must fit the consumer:
    the error when it does not (checked as the graph is read, while both stages are fresh in
    the CPU's caches: a second pass over 100,000 stages cost more than the check itself)."""
    if param == consumer.map_over or producer.map_over is not None:
        return None  # fan-out: the consumer takes one item, the producer returns a list
    wanted = _annotations(consumer).get(param)
    produced = _annotations(producer).get("return")
    if wanted is None or produced is None:
        return None
    wanted_t, produced_t = _resolve(wanted, consumer), _resolve(produced, producer)
    if wanted_t is None or produced_t is None or produced_t is type(None):
        return None
    if issubclass(produced_t, wanted_t) or produced_t in _NUMERIC_WIDENING.get(wanted_t, ()):
        return None
    return PipelineDefinitionError(
        f"type mismatch: stage {producer.name!r} returns {produced_t.__qualname__} but "
        f"stage {consumer.name!r} takes parameter {param!r} as {wanted_t.__qualname__}; "
        "change one of the annotations or convert the value in a stage between them"
    )


def needed_stages(
    graph: Graph, targets: Iterable[str] | None, overrides: Collection[str]
) -> list[str]:
    """The stages a run must consider, in graph order: ``targets`` (all stages when None) and
    everything they need, not looking past overridden stages.

    Raises:
        PipelineDefinitionError: A target or override names no stage ("did you mean").
    """
    for kind, names in (("target", targets or ()), ("override", overrides)):
        for name in names:
            if name not in graph.stages:
                raise PipelineDefinitionError(
                    f"unknown {kind} {name!r}: not a stage of this pipeline"
                    f"{did_you_mean(name, graph.stages)}"
                )
    if targets is None and not overrides:
        return list(graph.order)
    # Without targets, start from the sinks: a stage that only an overridden stage needed
    # is then left out, because nothing else leads to it.
    wanted = (
        {name for name, users in graph.dependents.items() if not users}
        if targets is None
        else set(targets)
    )
    keep: set[str] = set()
    stack = list(wanted)
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        keep.add(name)
        if name not in overrides:
            stack.extend(graph.dependencies[name])
    return [name for name in graph.order if name in keep]


def check_inputs(
    graph: Graph, required: Mapping[str, list[str]], inputs: Mapping[str, Any], pipeline: str
) -> None:
    """Refuse an input that names a stage, then any missing required input.

    Raises:
        PipelineDefinitionError: An input is named like a stage (``overrides=`` is the way).
        MissingInputError: ``required`` names inputs that ``inputs`` lacks.
    """
    for name in inputs:
        if name in graph.stages:
            raise PipelineDefinitionError(
                f"input {name!r} names stage {name!r} of pipeline {pipeline!r}: a stage's "
                f"output cannot be given as an input; to use a value instead of running "
                f"the stage, pass overrides={{{name!r}: value}}"
            )
    missing = {name: users for name, users in required.items() if name not in inputs}
    if missing:
        raise MissingInputError(missing, graph.stages)
