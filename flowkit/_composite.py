"""Stages made of other stages: ``ConditionalStage`` and ``ParallelStage``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Generic, overload

import attrs

from flowkit._graph import Graph, compile_graph
from flowkit._introspect import introspect
from flowkit._seed import ContextPredicate, direct_arguments, is_run_call, seed_context
from flowkit._stage import CONTEXT, FunctionStage, P, R, Stage, _caller_module, _names
from flowkit.errors import PipelineDefinitionError


def _as_stage(value: Stage | Callable[..., Any]) -> Stage:
    return value if isinstance(value, Stage) else FunctionStage(value)


_COPIED_FIELDS = [f for f in attrs.fields(Stage) if f.name != "name"]


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class ConditionalStage(Stage, Generic[P, R]):
    """Runs ``inner`` only when ``condition`` is true; otherwise the stage is ``SKIPPED``.

    The condition's parameters are injected by name like a stage's, so a parameter that names a
    stage makes that stage a dependency.
    """

    inner: Stage
    condition: Callable[..., object]
    _condition_parameters: tuple[str, ...]
    _parameters: tuple[str, ...]
    _defaults: Mapping[str, Any]

    @overload
    def __init__(self, inner: Stage, condition: Callable[..., object], /) -> None: ...

    @overload
    def __init__(
        self: ConditionalStage[..., Any],
        stage_id: str,
        condition: Callable[[Any], object],
        stage: Stage,
        /,
    ) -> None: ...

    def __init__(
        self,
        inner: Stage | str,
        condition: Callable[..., object],
        stage: Stage | None = None,
        /,
    ) -> None:
        """``ConditionalStage(inner, condition)``, or the seed's ``ConditionalStage(stage_id,
        condition, stage)`` whose ``condition(context)`` takes the context mapping."""
        name = inner if isinstance(inner, str) else None
        if name is not None and stage is None:
            raise PipelineDefinitionError(
                f"ConditionalStage({name!r}, condition, stage): the stage to run is missing"
            )
        inner = _as_stage(stage if isinstance(inner, str) else inner)  # type: ignore[arg-type]
        if not callable(condition):
            raise PipelineDefinitionError(
                f"stage {name or inner.name!r}: when= must be a callable predicate, "
                f"got {condition!r}"
            )
        if name is not None:
            condition = ContextPredicate(condition, inner.depends_on)
        cond_params, cond_defaults, _ = introspect(condition, name or inner.name)
        params = inner.parameters + tuple(p for p in cond_params if p not in inner.parameters)
        self.__attrs_init__(
            inner=inner,
            condition=condition,
            condition_parameters=cond_params,
            defaults=MappingProxyType({**cond_defaults, **inner.defaults}),
            parameters=params,
            name=name or inner.name,
            **{f.name: getattr(inner, f.name) for f in _COPIED_FIELDS},
        )
        for attr in ("__module__", "__name__", "__qualname__", "__doc__", "__wrapped__"):
            if hasattr(inner, attr):
                setattr(self, attr, getattr(inner, attr))

    @property
    def parameters(self) -> tuple[str, ...]:
        return self._parameters

    @property
    def defaults(self) -> Mapping[str, Any]:
        return self._defaults

    @property
    def annotations(self) -> Mapping[str, Any]:
        return self.inner.annotations

    @property
    def is_async(self) -> bool:
        return self.inner.is_async

    def should_run(self, kwargs: Mapping[str, Any]) -> bool:
        # An input left out falls back to its default, the condition's own or else the
        # stage's (`when=lambda verbose: verbose` on `def report(verbose=False)`).
        fallback = self._defaults
        return bool(
            self.condition(
                **{
                    p: kwargs[p] if p in kwargs else fallback[p]
                    for p in self._condition_parameters
                    if p in kwargs or p in fallback
                }
            )
        )

    def execute(self, kwargs: dict[str, Any]) -> object:
        """Run the inner stage. Called by hand with a context mapping (the seed's form), the
        condition is checked first and a false one returns None."""
        if isinstance(self.condition, ContextPredicate) and not is_run_call(kwargs):
            if not self.condition.predicate(kwargs):
                return None
            return self.inner.execute(direct_arguments(self.inner, kwargs))
        inner = self.inner.parameters
        return self.inner.execute({p: v for p, v in kwargs.items() if p in inner})

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.inner(*args, **kwargs)  # type: ignore[operator,no-any-return]

    def __repr__(self) -> str:
        return f"<ConditionalStage {self.name!r}>"

    def __reduce__(self) -> str | tuple[Any, ...]:
        return FunctionStage.__reduce__(self)  # type: ignore[arg-type]


def _unique_children(name: str, stages: Iterable[Stage | Callable[..., Any]]) -> tuple[Stage, ...]:
    children = tuple(map(_as_stage, stages))
    seen: set[str] = set()
    for child in children:
        if child.name in seen:
            raise PipelineDefinitionError(
                f"parallel stage {name!r}: two children are named {child.name!r}"
            )
        seen.add(child.name)
    return children


def _outside_needs(
    children: tuple[Stage, ...], depends_on: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a group takes from outside it (siblings' outputs stay inside) and what it waits
    for outside it. It takes ``context`` when a child does: the children's context is the
    group's."""
    inside = {child.name for child in children}
    params: dict[str, None] = {}
    waits: dict[str, None] = dict.fromkeys(depends_on)
    for child in children:
        params.update(dict.fromkeys(p for p in child.parameters if p not in inside))
        waits.update(dict.fromkeys(d for d in child.depends_on if d not in inside))
    return tuple(params), tuple(waits)


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class ParallelStage(Stage):
    """Runs its children concurrently in a thread pool; its output is ``{child: output}``.

    Children are internal to the group: other stages depend on the group's name. Each child
    keeps its own retries and timeout; the group fails if any child fails, after all finish.
    """

    stages: tuple[Stage, ...]
    max_workers: int | None
    graph: Graph
    _parameters: tuple[str, ...]
    _defaults: Mapping[str, Any]

    def __init__(
        self,
        name: str,
        stages: Iterable[Stage | Callable[..., Any]],
        max_workers: int | None = None,
        **options: Any,
    ) -> None:
        children = _unique_children(name, stages)
        if max_workers is not None and max_workers < 1:
            raise PipelineDefinitionError(
                f"parallel stage {name!r}: max_workers must be >= 1, got {max_workers!r}"
            )
        params, depends_on = _outside_needs(children, _names(options.pop("depends_on", None) or ()))
        defaults: dict[str, Any] = {}
        for child in reversed(children):
            defaults.update(child.defaults)
        self.__module__ = _caller_module() or __name__
        self.__attrs_init__(
            name=name,
            stages=children,
            max_workers=max_workers,
            graph=compile_graph({child.name: child for child in children}, depends_on),
            parameters=params,
            defaults=MappingProxyType(defaults),
            depends_on=depends_on,
            **options,
        )

    def child_inputs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The inputs of the children's run: the group's arguments, with the group's
        context (inputs and dependency outputs, for children that take ``context``)
        spread out beside them, each dependency's also under ``stage_<name>_output``."""
        if not is_run_call(kwargs):
            return kwargs
        context = seed_context(kwargs, self.depends_on)
        return {**context, **{k: v for k, v in kwargs.items() if k != CONTEXT}}

    @property
    def parameters(self) -> tuple[str, ...]:
        return self._parameters

    @property
    def defaults(self) -> Mapping[str, Any]:
        return self._defaults

    def execute(self, kwargs: dict[str, Any]) -> object:
        """Run the children concurrently, without events (the engine runs them itself and
        reports each child; this path serves executor objects that run the group as one
        call on a worker).

        Raises:
            Exception: The first failed child's error, after all children finished.
        """
        from flowkit.executors import run_group

        return run_group(self, kwargs)

    def __repr__(self) -> str:
        return f"<ParallelStage {self.name!r} of {[s.name for s in self.stages]!r}>"
