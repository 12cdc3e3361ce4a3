"""flowkit: plain functions become a DAG that runs concurrently, with retries, timeouts,
conditions, fan-out and one structlog event per state transition."""

from importlib.metadata import PackageNotFoundError, version

from flowkit._cache import Cache
from flowkit._context import StageContext
from flowkit._decorator import stage
from flowkit._graph import InputSpec
from flowkit._pipeline import Pipeline, PipelineBuilder
from flowkit._results import PipelineResult, PipelineStatus, StageResult, StageStatus
from flowkit._retry import Retry
from flowkit._stage import ConditionalStage, FunctionStage, ParallelStage, Stage
from flowkit.errors import (
    CacheError,
    CycleError,
    DuplicateStageError,
    FlowkitError,
    MissingInputError,
    PipelineDefinitionError,
    PipelineFailedError,
    StageTimeoutError,
    UnknownDependencyError,
)

try:
    __version__ = version("flowkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Cache",
    "CacheError",
    "ConditionalStage",
    "CycleError",
    "DuplicateStageError",
    "FlowkitError",
    "FunctionStage",
    "InputSpec",
    "MissingInputError",
    "ParallelStage",
    "Pipeline",
    "PipelineBuilder",
    "PipelineDefinitionError",
    "PipelineFailedError",
    "PipelineResult",
    "PipelineStatus",
    "Retry",
    "Stage",
    "StageContext",
    "StageResult",
    "StageStatus",
    "StageTimeoutError",
    "UnknownDependencyError",
    "__version__",
    "stage",
]
