"""flowkit: plain functions become a DAG that runs concurrently, with retries, timeouts,
conditions, fan-out and one structlog event per state transition."""

from typing import Any

from flowkit._builder import PipelineBuilder
from flowkit._cache import Cache
from flowkit._composite import ConditionalStage, ParallelStage
from flowkit._context import StageContext
from flowkit._decorator import stage
from flowkit._graph import InputSpec
from flowkit._pipeline import Pipeline
from flowkit._results import PipelineResult, StageResult
from flowkit._retry import Retry
from flowkit._stage import FunctionStage, Stage
from flowkit._status import PipelineStatus, StageStatus
from flowkit.errors import (
    CacheError,
    CycleError,
    DuplicateStageError,
    FlowkitError,
    InvalidLimitError,
    MissingInputError,
    PipelineDefinitionError,
    PipelineFailedError,
    PipelineInterrupted,
    StageOutputError,
    StageTimeoutError,
    UnknownDependencyError,
    WorkerDiedError,
)


def __getattr__(name: str) -> Any:
    # importlib.metadata costs a third of `import flowkit`: read the version on first use.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("flowkit")
        except PackageNotFoundError:  # running from a source tree that was never installed
            return "0.0.0"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Cache",
    "CacheError",
    "ConditionalStage",
    "CycleError",
    "DuplicateStageError",
    "FlowkitError",
    "FunctionStage",
    "InputSpec",
    "InvalidLimitError",
    "MissingInputError",
    "ParallelStage",
    "Pipeline",
    "PipelineBuilder",
    "PipelineDefinitionError",
    "PipelineFailedError",
    "PipelineInterrupted",
    "PipelineResult",
    "PipelineStatus",
    "Retry",
    "Stage",
    "StageContext",
    "StageOutputError",
    "StageResult",
    "StageStatus",
    "StageTimeoutError",
    "UnknownDependencyError",
    "WorkerDiedError",
    "__version__",
    "stage",
]
