"""A pipeline used as a stage of another: ``inner.as_stage("prep", inputs=..., outputs=...)``.

`PipelineStage` is what ``as_stage`` returns and what the outer pipeline registers. When the
outer pipeline compiles its DAG, it is flattened: each inner stage becomes a `NestedStage`
named ``prep.<name>`` whose parameters are renamed to the outer names (inner stages get the
``prep.`` prefix, inner inputs the names ``inputs=`` maps them to), plus a `CollectorStage`
named ``prep`` whose output is ``{inner_name: output}`` of the chosen inner stages. The engine
thus runs every inner stage itself, with its own events, retries and results, on the outer
executor and under the outer fail-fast; the inner pipeline object is never changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from flowkit._base import Stage
from flowkit._graph import Graph, needed_stages
from flowkit._seed import CONTEXT
from flowkit.errors import DuplicateStageError, PipelineDefinitionError, did_you_mean

if TYPE_CHECKING:
    from flowkit._pipeline import Pipeline

_COPIED = ("retry", "timeout", "on_success", "on_failure", "tags", "cache", "version", "cache_ttl")


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class PipelineStage(Stage):
    """A whole pipeline as one node of another; flattened when the outer DAG is compiled."""

    pipeline: Pipeline
    renamed: Mapping[str, str]
    chosen: tuple[str, ...] | None

    def __init__(
        self,
        pipeline: Pipeline,
        name: str,
        inputs: Mapping[str, str] | None = None,
        outputs: Iterable[str] | None = None,
    ) -> None:
        graph = pipeline._compiled()  # noqa: SLF001 - a pipeline reads its own kind
        renamed = dict(inputs or {})
        for inner in renamed:
            if inner not in graph.inputs:
                raise PipelineDefinitionError(
                    f"nested pipeline {name!r}: inputs= renames {inner!r}, which is not an "
                    f"input of pipeline {pipeline.name!r}{did_you_mean(inner, graph.inputs)}"
                )
        chosen = None if outputs is None else tuple(outputs)
        for output in chosen or ():
            if output not in graph.stages:
                raise PipelineDefinitionError(
                    f"nested pipeline {name!r}: outputs= names {output!r}, which is not a "
                    f"stage of pipeline {pipeline.name!r}{did_you_mean(output, graph.stages)}"
                )
        self.__attrs_init__(
            pipeline=pipeline, renamed=MappingProxyType(renamed), chosen=chosen, name=name
        )

    @property
    def parameters(self) -> tuple[str, ...]:
        graph = self.pipeline._compiled()  # noqa: SLF001
        return tuple(self.renamed.get(p, p) for p in graph.inputs)

    def execute(self, kwargs: dict[str, Any]) -> object:
        raise TypeError(
            f"nested pipeline {self.name!r} runs as part of its outer pipeline; "
            f"to run it alone, call run() on pipeline {self.pipeline.name!r}"
        )

    def flatten(self) -> dict[str, Stage]:
        """The stages this node stands for in the outer DAG, collector last."""
        graph = self.pipeline._compiled()  # noqa: SLF001
        names = needed_stages(graph, self.chosen, ())
        leaves = self.chosen or tuple(n for n in names if not graph.dependents[n])
        prefix = self.name + "."
        rename = {**{n: prefix + n for n in graph.stages}, **self.renamed}
        flat: dict[str, Stage] = {
            prefix + n: _nested(graph.stages[n], prefix + n, rename) for n in names
        }
        flat[self.name] = CollectorStage(self.name, {prefix + n: n for n in leaves})
        return flat

    def __repr__(self) -> str:
        return f"<PipelineStage {self.name!r} of pipeline {self.pipeline.name!r}>"


def _nested(stage: Stage, name: str, rename: Mapping[str, str]) -> Stage:
    kind = ConditionalNestedStage if type(stage).should_run is not Stage.should_run else NestedStage
    return kind(stage, name, rename)


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class NestedStage(Stage):
    """An inner pipeline's stage under its dotted name, its parameters renamed."""

    inner: Stage
    inner_names: tuple[str, ...]
    _parameters: tuple[str, ...]

    def __init__(self, inner: Stage, name: str, rename: Mapping[str, str]) -> None:
        params = tuple(rename.get(p, p) if p != CONTEXT else p for p in inner.parameters)
        self.__attrs_init__(
            inner=inner,
            inner_names=inner.parameters,
            parameters=params,
            name=name,
            depends_on=tuple(rename.get(d, d) for d in inner.depends_on),
            map_over=None if inner.map_over is None else rename.get(inner.map_over, inner.map_over),
            outputs=None,
            **{field: getattr(inner, field) for field in _COPIED},
        )
        # Where its code lives: the processes executor refuses stages from __main__.
        self.__module__ = getattr(inner, "__module__", __name__)

    @property
    def parameters(self) -> tuple[str, ...]:
        return self._parameters

    @property
    def defaults(self) -> Mapping[str, Any]:
        mine = dict(zip(self.inner_names, self._parameters, strict=True))
        return {mine[p]: v for p, v in self.inner.defaults.items() if p in mine}

    @property
    def annotations(self) -> Mapping[str, Any]:
        mine = dict(zip(self.inner_names, self._parameters, strict=True))
        return {mine.get(p, p): v for p, v in self.inner.annotations.items()}

    @property
    def is_async(self) -> bool:
        return self.inner.is_async

    def inner_kwargs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {
            inner: kwargs[outer]
            for inner, outer in zip(self.inner_names, self._parameters, strict=True)
            if outer in kwargs
        }

    def execute(self, kwargs: dict[str, Any]) -> object:
        return self.inner.execute(self.inner_kwargs(kwargs))

    def __repr__(self) -> str:
        return f"<NestedStage {self.name!r}>"


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class ConditionalNestedStage(NestedStage):
    """A `NestedStage` of a stage with a condition."""

    def should_run(self, kwargs: Mapping[str, Any]) -> bool:
        return self.inner.should_run(self.inner_kwargs(kwargs))


@attrs.define(slots=False, eq=False, init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class CollectorStage(Stage):
    """The nested pipeline's own node: ``{inner_name: output}`` of its chosen stages."""

    picks: Mapping[str, str]

    def __init__(self, name: str, picks: Mapping[str, str]) -> None:
        self.__attrs_init__(picks=dict(picks), name=name)

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(self.picks)

    @property
    def defaults(self) -> Mapping[str, Any]:
        # Every pick "has a default", so a skipped inner stage is left out of the output
        # instead of skipping the whole nested stage.
        return dict.fromkeys(self.picks)

    def execute(self, kwargs: dict[str, Any]) -> object:
        return {inner: kwargs[outer] for outer, inner in self.picks.items() if outer in kwargs}

    def __repr__(self) -> str:
        return f"<CollectorStage {self.name!r}>"


def flatten(stages: Mapping[str, Stage]) -> Mapping[str, Stage]:
    """``stages`` with every `PipelineStage` replaced by the stages it stands for.

    Raises:
        DuplicateStageError: A dotted name is also the name of another stage.
    """
    if not any(type(s) is PipelineStage for s in stages.values()):
        return stages
    flat: dict[str, Stage] = {}
    for name, stage in stages.items():
        parts = stage.flatten() if isinstance(stage, PipelineStage) else {name: stage}
        for part_name, part in parts.items():
            if part_name in flat or (part_name != name and part_name in stages):
                raise DuplicateStageError(part_name)
            flat[part_name] = part
    return flat


def nesting(graph: Graph) -> dict[str, list[str]]:
    """Dotted prefix -> the stage names under it (for renderings that group them)."""
    groups: dict[str, list[str]] = {}
    for name, stage in graph.stages.items():
        if isinstance(stage, NestedStage):
            groups.setdefault(name.rpartition(".")[0], []).append(name)
    return groups
