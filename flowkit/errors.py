"""The flowkit error hierarchy.

Every error subclasses `FlowkitError` and the builtin it resembles, carries its data
as attributes, and says what went wrong, where, and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowkit._results import PipelineResult

__all__ = [
    "CacheError",
    "CycleError",
    "DuplicateStageError",
    "FlowkitError",
    "InvalidLimitError",
    "LogError",
    "MissingInputError",
    "PipelineDefinitionError",
    "PipelineFailedError",
    "PipelineInterrupted",
    "StageOutputError",
    "StageTimeoutError",
    "UnknownDependencyError",
    "WorkerDiedError",
    "did_you_mean",
]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class FlowkitError(Exception):
    """The root of every error flowkit raises."""


class PipelineDefinitionError(FlowkitError, ValueError):
    """A stage or pipeline is defined in a way that cannot run."""


class InvalidLimitError(PipelineDefinitionError):
    """A concurrency limit (``limits=`` or ``--limit``) is not a known tag with an int >= 1."""


class CycleError(PipelineDefinitionError):
    """The stages depend on each other in a loop.

    Attributes:
        cycle: The stage names along the loop, following data flow, first name repeated last.
    """

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = list(cycle)
        super().__init__(
            f"cycle: {' -> '.join(self.cycle)}; a stage cannot depend on its own output, "
            "remove or rename one of these dependencies"
        )


class DuplicateStageError(PipelineDefinitionError):
    """Two stages of one pipeline have the same name.

    Attributes:
        name: The name used twice.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"duplicate stage name {name!r}: stage names must be unique within a pipeline; "
            "pass name=... to @stage to rename one"
        )


class UnknownDependencyError(PipelineDefinitionError):
    """A stage names a dependency that is not a stage of the pipeline.

    Attributes:
        stage: The stage that declares the dependency.
        name: The unknown name.
    """

    def __init__(self, stage: str, name: str, known: Iterable[str] = ()) -> None:
        self.stage = stage
        self.name = name
        super().__init__(
            f"stage {stage!r} depends on {name!r}, which is not a stage of this pipeline"
            f"{did_you_mean(name, known)}; fix the name in depends_on or add the stage"
        )


class StageOutputError(FlowkitError, ValueError):
    """A stage declared with ``outputs=`` returned something that does not fit them.

    Attributes:
        stage: The stage.
        output: The output name that is missing, or None when the tuple has the wrong length.
    """

    def __init__(self, stage: str, output: str | None, message: str) -> None:
        self.stage = stage
        self.output = output
        super().__init__(message)

    def __reduce__(self) -> tuple[type[StageOutputError], tuple[str, str | None, str]]:
        # It travels back from worker processes.
        return (type(self), (self.stage, self.output, str(self)))


class MissingInputError(FlowkitError, ValueError):
    """Required pipeline inputs were not given.

    Attributes:
        names: The missing input names, sorted.
        needed_by: For each missing name, the stages that take it.
    """

    def __init__(self, needed_by: dict[str, list[str]], stage_names: Iterable[str] = ()) -> None:
        self.names = sorted(needed_by)
        self.needed_by = {name: list(needed_by[name]) for name in self.names}
        stage_names = list(stage_names)
        details = "; ".join(
            f"{name!r} (needed by {', '.join(map(repr, self.needed_by[name]))})"
            + did_you_mean(name, stage_names).replace(
                "did you mean", "a misspelt stage? did you mean"
            )
            for name in self.names
        )
        super().__init__(
            f"missing required input(s): {details}; pass them with run(inputs={{...}}), "
            "the builder's .context(...) or `flowkit run -i NAME=VALUE`"
        )


class StageTimeoutError(FlowkitError, TimeoutError):
    """An attempt of a stage ran longer than its timeout.

    Attributes:
        stage: The stage name.
        timeout: The timeout in seconds.
    """

    def __init__(self, stage: str, timeout: float) -> None:
        self.stage = stage
        self.timeout = timeout
        super().__init__(
            f"stage {stage!r} timed out after {timeout:g}s; raise its timeout= or make it faster"
        )

    def __reduce__(self) -> tuple[type[StageTimeoutError], tuple[str, float]]:
        return (type(self), (self.stage, self.timeout))


class PipelineFailedError(FlowkitError, RuntimeError):
    """A pipeline run did not succeed; raised by ``PipelineResult.raise_on_failure()``.

    Attributes:
        result: The `PipelineResult` of the run.
    """

    def __init__(self, result: PipelineResult) -> None:
        self.result = result
        failed = [name for name, r in result.stages.items() if r.status.value == "failed"]
        detail = f"failed stage(s): {', '.join(failed)}" if failed else "no stage failed"
        super().__init__(
            f"pipeline {result.name!r} {result.status.value} ({detail}); "
            "see the chained error and result.stages for details"
        )


class PipelineInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped ``run()``, or a stage raised ``KeyboardInterrupt``.

    A ``KeyboardInterrupt``, not a `FlowkitError`: uncaught, the program stops as on any
    Ctrl-C. Raised after the run cancelled what had not started, waited up to 1 s for the
    running stages and recorded everything that finished.

    Attributes:
        result: The run's `PipelineResult` (status ``CANCELLED``).
    """

    def __init__(self, result: PipelineResult) -> None:
        self.result = result
        super().__init__(
            f"pipeline {result.name!r} was interrupted: {result.succeeded} stage(s) finished, "
            f"{result.cancelled} cancelled; the partial result is in .result"
        )

    def __reduce__(self) -> tuple[type[PipelineInterrupted], tuple[PipelineResult]]:
        return (type(self), (self.result,))


class WorkerDiedError(FlowkitError, RuntimeError):
    """A worker process ended while running a call (killed, crashed, out of memory), or a
    Dask cluster gave up on a task whose workers died. The attempt fails; ``retries`` apply."""


class CacheError(FlowkitError, OSError):
    """A cache directory cannot be used safely (e.g. it is writable by other users)."""


class LogError(FlowkitError, ValueError):
    """A file given as an event log is missing, unreadable, or holds no flowkit event."""


class GraphvizError(FlowkitError, RuntimeError):
    """Graphviz's ``dot`` program could not draw a DAG (it failed or did not finish)."""


class GraphvizNotFoundError(GraphvizError):
    """Drawing a DAG as an image needs Graphviz's ``dot`` program, and it is not on PATH."""

    def __init__(self, fmt: str) -> None:
        self.format = fmt
        super().__init__(
            f"--format {fmt} needs Graphviz's `dot` program on PATH: install Graphviz "
            "(`apt-get install graphviz`, `brew install graphviz`, or https://graphviz.org/download/)"
            " or use --format mermaid or dot"
        )
