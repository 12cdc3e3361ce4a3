"""``PipelineBuilder``: the fluent way to assemble a `Pipeline`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flowkit._composite import ParallelStage
from flowkit._decorator import make_stage
from flowkit._pipeline import Pipeline, StageLike
from flowkit._stage import FunctionStage, Stage
from flowkit.errors import PipelineDefinitionError

_UNSET: Any = object()


class PipelineBuilder:
    """Builds a `Pipeline` step by step; every method but `build` returns the
    builder."""

    def __init__(self, name: str = "pipeline") -> None:
        self._name = name
        self._stages: list[Stage] = []
        self._context: dict[str, Any] = {}
        self._fail_fast = True

    def stage(
        self, fn_or_stage: StageLike | str, func: Callable[..., Any] | None = None, **options: Any
    ) -> PipelineBuilder:
        """Add a stage; ``options`` are those of `flowkit.stage` (``when=`` too). The seed's
        form ``stage(stage_id, func, depends_on=None, retry_count=0)`` adds
        ``FunctionStage(stage_id, func, ...)``: ``func`` takes the context mapping."""
        if isinstance(fn_or_stage, str):
            self._stages.append(FunctionStage(fn_or_stage, func, **options))  # type: ignore[arg-type]
        elif isinstance(fn_or_stage, Stage):
            if options or func is not None:
                raise PipelineDefinitionError(
                    f"stage {fn_or_stage.name!r} is already a Stage; options apply to functions"
                )
            self._stages.append(fn_or_stage)
        else:
            self._stages.append(make_stage(fn_or_stage, **options))
        return self

    def parallel(
        self,
        name: str,
        *stages: StageLike | Iterable[StageLike],
        max_workers: int | None = None,
        depends_on: str | Iterable[str] | None = None,
    ) -> PipelineBuilder:
        """Add a `ParallelStage` named ``name`` running ``stages`` concurrently (given one
        by one, or as one list as the seed does)."""
        children = stages[0] if len(stages) == 1 and isinstance(stages[0], list | tuple) else stages
        self._stages.append(
            ParallelStage(name, children, max_workers=max_workers, depends_on=depends_on)  # type: ignore[arg-type]
        )
        return self

    def context(
        self, key: str | None = None, value: Any = _UNSET, /, **inputs: Any
    ) -> PipelineBuilder:
        """Set default input values: ``context(name=value, ...)``, or the seed's
        ``context(key, value)``."""
        if key is not None:
            if value is _UNSET:
                raise TypeError(f"context({key!r}) needs a value: context({key!r}, value)")
            inputs[key] = value
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
