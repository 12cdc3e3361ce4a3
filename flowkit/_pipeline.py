"""``Pipeline``, the registry of stages, and the fluent ``PipelineBuilder``."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any

from flowkit._decorator import StageDecorator
from flowkit._engine import CacheBackend, Run
from flowkit._graph import Graph, InputSpec, check_inputs, compile_graph, needed_stages
from flowkit._limits import limit_values, new_run
from flowkit._modules import module_stages
from flowkit._nested import PipelineStage, flatten
from flowkit._outputs import with_outputs
from flowkit._plan import Plan
from flowkit._refresh import as_cache, run_cache
from flowkit._render import svg_or_none, to_dot, to_mermaid
from flowkit._results import PipelineResult
from flowkit._seed import SeedPipelineMethods, pipeline_names, run_inputs
from flowkit._stage import FunctionStage, Stage
from flowkit.errors import (
    DuplicateStageError,
    PipelineDefinitionError,
    did_you_mean,
)

if TYPE_CHECKING:
    from flowkit.executors import Executor, ExecutorName

StageLike = Stage | Callable[..., Any]


class Pipeline(SeedPipelineMethods):
    """A named set of stages whose dependencies come from their parameter names.

    Args:
        stages: Stages or plain callables (wrapped in `FunctionStage`); a string is the
            seed's ``Pipeline(pipeline_id)``.
        name: The pipeline's name, used in events and results (with ``pipeline_id``, the
            seed's display name, kept as ``display_name``).
        fail_fast: Stop starting new stages after the first failure.
        context: Default input values; ``run(inputs=...)`` overrides them.
        pipeline_id: The seed's id of the pipeline: then it is the name.
        limits: Tag -> how many stages carrying it run at once (``run(limits=)`` wins).
    """

    def __init__(
        self,
        stages: Iterable[StageLike] | str = (),
        name: str | None = None,
        fail_fast: bool = True,
        *,
        context: Mapping[str, Any] | None = None,
        pipeline_id: str | None = None,
        limits: Mapping[str, int] | None = None,
    ) -> None:
        items, self.name, self.display_name = pipeline_names(stages, name, pipeline_id)
        self.fail_fast, self.limits = fail_fast, limit_values(limits)
        self.context: dict[str, Any] = dict(context or {})
        self._stages: dict[str, Stage] = {}
        self._graph: Graph | None = None
        self._plans: dict[tuple[tuple[str, ...], frozenset[str]], Plan] = {}
        self.stage = StageDecorator(register=self.add)
        """The `flowkit.stage` decorator, also registering the stage here."""
        for item in items:
            self.add(item)

    @classmethod
    def from_module(
        cls, module_or_name: ModuleType | str, *, name: str | None = None, **options: Any
    ) -> Pipeline:
        """A pipeline of the stages defined in a module (not those it imports), in definition
        order. The default name is the module's last dotted part."""
        module = (
            importlib.import_module(module_or_name)
            if isinstance(module_or_name, str)
            else module_or_name
        )
        stages = module_stages(module)
        return cls(stages, name=name or module.__name__.rpartition(".")[2], **options)

    def add(self, stage: StageLike) -> Stage:
        """Register a stage (a plain callable is wrapped in `FunctionStage`).

        Raises:
            DuplicateStageError: A stage of that name is already registered.
        """
        made = stage if isinstance(stage, Stage) else FunctionStage.of(stage)
        if made.name in self._stages:
            raise DuplicateStageError(made.name)
        self._stages[made.name] = made
        self._graph = None
        self._plans.clear()
        return made

    # -- the DAG ---------------------------------------------------------------------------

    def _compiled(self) -> Graph:
        if self._graph is None:
            self._graph = compile_graph(dict(with_outputs(flatten(self._stages))))
        return self._graph

    @property
    def stages(self) -> Mapping[str, Stage]:
        """Stages by name, in registration order."""
        return MappingProxyType(self._stages)

    @property
    def inputs(self) -> Mapping[str, InputSpec]:
        """Pipeline inputs by name: ``required``, ``default``, ``annotation``, ``stages``."""
        return MappingProxyType(dict(self._compiled().inputs))

    @property
    def order(self) -> tuple[str, ...]:
        """A topological order of the stage names; ties keep registration order."""
        return self._compiled().order

    def dependencies(self, name: str) -> tuple[str, ...]:
        """The stages ``name`` depends on (data and ordering)."""
        return self._compiled().dependencies[self._known(name)]

    def dependents(self, name: str) -> tuple[str, ...]:
        """The stages that depend on ``name``."""
        return self._compiled().dependents[self._known(name)]

    def _known(self, name: str) -> str:
        stages = self._compiled().stages
        if name not in stages:
            raise KeyError(
                f"{name!r} is not a stage of pipeline {self.name!r}{did_you_mean(name, stages)}"
            )
        return name

    def as_stage(
        self,
        name: str,
        *,
        inputs: Mapping[str, str] | None = None,
        outputs: Iterable[str] | None = None,
    ) -> Stage:
        """This pipeline as a stage ``name`` of another: its stages run there as
        ``name.<stage>``; ``inputs`` maps inner input names to outer ones; its output is
        ``{stage: output}`` of ``outputs`` (default: the leaves). See docs/nested.md."""
        return PipelineStage(self, name, inputs, outputs)

    def validate(self, inputs: Mapping[str, Any] | None = None) -> None:
        """Check the definition and, given ``inputs``, that every required input is there.

        Raises:
            PipelineDefinitionError: A cycle, unknown dependency or type mismatch, or an
                input that names a stage (use ``overrides=`` for that).
            MissingInputError: Required inputs are missing (only when ``inputs`` is given).
        """
        graph = self._compiled()
        if inputs is not None:
            check_inputs(
                graph, self._plan(graph.order, ()).required, {**self.context, **inputs}, self.name
            )

    def _plan(self, names: Iterable[str], overrides: Iterable[str]) -> Plan:
        key = (tuple(names), frozenset(overrides))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = Plan(self._compiled(), list(key[0]), key[1])
        return plan

    # -- running ---------------------------------------------------------------------------

    def _prepare(
        self,
        inputs: Mapping[str, Any] | None,
        *,
        targets: Iterable[str] | None,
        overrides: Mapping[str, Any] | None,
        fail_fast: bool | None,
        max_workers: int | None,
        cache: Any,
        limits: Mapping[str, int] | None = None,
    ) -> Run:
        """Validate and set up a run without starting it."""
        graph = self._compiled()
        overrides = dict(overrides or {})
        names = needed_stages(graph, [targets] if isinstance(targets, str) else targets, overrides)
        merged = {**self.context, **(inputs or {})}
        plan = self._plan(names, overrides)
        check_inputs(graph, plan.required, merged, self.name)
        if max_workers is not None and (isinstance(max_workers, bool) or max_workers < 1):
            raise PipelineDefinitionError(f"max_workers must be >= 1, got {max_workers!r}")
        return new_run(
            graph.stages.values(),
            {**self.limits, **limit_values(limits)},
            plan,
            merged,
            name=self.name,
            fail_fast=self.fail_fast if fail_fast is None else fail_fast,
            overrides=overrides,
            cache=as_cache(cache),
        )

    def run(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        targets: Iterable[str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        executor: ExecutorName | Executor | None = None,
        max_workers: int | None = None,
        fail_fast: bool | None = None,
        cache: str | os.PathLike[str] | CacheBackend | None = None,
        refresh: Iterable[str] | bool | None = None,
        initial_context: Mapping[str, Any] | None = None,
        limits: Mapping[str, int] | None = None,
    ) -> PipelineResult:
        """Run the pipeline and return its result (it does not raise when a stage fails;
        see `PipelineResult.raise_on_failure`).

        Args:
            inputs: Input values by name (they override ``context``).
            targets: Run only these stages and what they need.
            overrides: Stage name -> value used instead of running that stage.
            executor: ``"threads"`` (default), ``"sequential"``, ``"processes"``,
                ``"async"``, or an executor object such as ``DaskExecutor``.
            max_workers: Concurrency limit (default ``min(32, cpu + 4)``).
            fail_fast: Override the pipeline's ``fail_fast``.
            cache: A directory or `flowkit.Cache`; stages marked ``cache=True`` are
                then loaded from it when their code and arguments are unchanged.
            refresh: Stage names (or True: all) to recompute and store again.
            limits: Tag -> how many stages (or ``map_over`` items) carrying it run at once.
            initial_context: The seed's name for ``inputs``.

        Raises:
            PipelineDefinitionError: The definition, a target, an override or the executor
                is invalid.
            MissingInputError: Required inputs are missing.
            PipelineInterrupted: Ctrl-C, SIGTERM or a stage's ``KeyboardInterrupt`` stopped
                the run; its ``.result`` is the ``CANCELLED`` result.
        """
        from flowkit.executors import check, execute

        chosen = check(executor)
        run = self._prepare(
            run_inputs(inputs, initial_context),
            targets=targets,
            overrides=overrides,
            fail_fast=fail_fast,
            max_workers=1 if chosen == "sequential" else max_workers,
            cache=run_cache(self._compiled(), cache, refresh),
            limits=limits,
        )
        return execute(run, chosen, max_workers)

    async def run_async(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        targets: Iterable[str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        max_workers: int | None = None,
        fail_fast: bool | None = None,
        cache: str | os.PathLike[str] | CacheBackend | None = None,
        refresh: Iterable[str] | bool | None = None,
        limits: Mapping[str, int] | None = None,
    ) -> PipelineResult:
        """Run the pipeline on the running event loop; arguments as `run`.

        ``async def`` stages are awaited on the loop; sync stages run in worker threads.
        Cancelling the awaiting task cancels the stages, logs ``pipeline.cancelled`` and
        re-raises ``CancelledError``.
        """
        from flowkit.executors import execute_async

        run = self._prepare(
            inputs,
            targets=targets,
            overrides=overrides,
            fail_fast=fail_fast,
            max_workers=max_workers,
            cache=run_cache(self._compiled(), cache, refresh),
            limits=limits,
        )
        return await execute_async(run, max_workers)

    def to_mermaid(self) -> str:
        """The DAG as a Mermaid flowchart."""
        return to_mermaid(self._compiled(), self.name)

    def to_dot(self) -> str:
        """The DAG as a Graphviz digraph."""
        return to_dot(self._compiled(), self.name)

    def _repr_svg_(self) -> str | None:
        """The DAG as SVG for Jupyter; None (the plain repr) without a working Graphviz."""
        return svg_or_none(self.to_dot())

    def __repr__(self) -> str:
        return f"Pipeline(name={self.name!r}, stages={list(self._stages)!r})"
