"""``PipelineBuilder``: the fluent way to assemble a `Pipeline`."""

from __future__ import annotations

from typing import Any

from flowkit._composite import ParallelStage
from flowkit._decorator import make_stage
from flowkit._pipeline import Pipeline, StageLike
from flowkit._stage import Stage
from flowkit.errors import PipelineDefinitionError


class PipelineBuilder:
    """Builds a `Pipeline` step by step; every method but `build` returns the
    builder."""

    def __init__(self, name: str = "pipeline") -> None:
        self._name = name
        self._stages: list[Stage] = []
        self._context: dict[str, Any] = {}
        self._fail_fast = True

    def stage(self, fn_or_stage: StageLike, **options: Any) -> PipelineBuilder:
        """Add a stage; ``options`` are those of `flowkit.stage` (``when=`` too)."""
        if isinstance(fn_or_stage, Stage):
            if options:
                raise PipelineDefinitionError(
                    f"stage {fn_or_stage.name!r} is already a Stage; options apply to functions"
                )
            self._stages.append(fn_or_stage)
        else:
            self._stages.append(make_stage(fn_or_stage, **options))
        return self

    def parallel(
        self, name: str, *stages: StageLike, max_workers: int | None = None
    ) -> PipelineBuilder:
        """Add a `ParallelStage` named ``name`` running ``stages`` concurrently."""
        self._stages.append(ParallelStage(name, stages, max_workers=max_workers))
        return self

    def context(self, **inputs: Any) -> PipelineBuilder:
        """Set default input values."""
        self._context.update(inputs)
        return self

    def fail_fast(self, enabled: bool = True) -> PipelineBuilder:
        """Stop starting new stages after the first failure (the default)."""
        self._fail_fast = enabled
        return self

    def build(self) -> Pipeline:
        """The pipeline.

        Raises:
            PipelineDefinitionError: Duplicate names (the DAG is checked when it runs or by
                `Pipeline.validate`).
        """
        return Pipeline(
            self._stages, name=self._name, fail_fast=self._fail_fast, context=self._context
        )
