"""The immutable results of a run (the statuses are in :mod:`flowkit._status`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from flowkit._status import PipelineStatus, StageStatus
from flowkit.errors import PipelineFailedError

NO_CHILDREN: Mapping[str, StageResult] = MappingProxyType({})


def _local_time(timestamp: float | None) -> datetime | None:
    # Naive local time, as the seed's datetime.now(): comparable with the seed users' own.
    return None if timestamp is None else datetime.fromtimestamp(timestamp)


def _stage_results(stages: Mapping[str, StageResult]) -> StageResults:
    if isinstance(stages, StageResults):
        return stages
    return StageResults(list(stages), list(stages.values()))


@attrs.frozen(repr=False)
class StageResult:
    """What happened to one stage in one run.

    ``started_at``/``finished_at`` are Unix timestamps (seconds, ``None`` when the stage never
    started); ``duration`` is measured with the monotonic clock. ``children`` holds the
    results of a `ParallelStage`'s children.
    """

    name: str
    status: StageStatus
    output: Any = None
    error: BaseException | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    duration: float = 0.0
    children: Mapping[str, StageResult] = NO_CHILDREN
    skip_reason: str | None = None
    cached: bool = False

    @property
    def stage_id(self) -> str:
        """The seed's name for `name`."""
        return self.name

    @property
    def is_success(self) -> bool:
        """True when the stage succeeded."""
        return self.status is StageStatus.SUCCESS

    @property
    def duration_ms(self) -> float:
        """`duration` in milliseconds."""
        return self.duration * 1000.0

    @property
    def start_time(self) -> datetime | None:
        """`started_at` as a local ``datetime`` (naive, like the seed's ``datetime.now()``)."""
        return _local_time(self.started_at)

    @property
    def end_time(self) -> datetime | None:
        """`finished_at` as a local ``datetime`` (naive, like the seed's)."""
        return _local_time(self.finished_at)

    def __repr__(self) -> str:
        # Outputs may be large or secret: the repr shows their type, never their value.
        error = f", error={type(self.error).__name__}" if self.error is not None else ""
        return (
            f"StageResult(name={self.name!r}, status={self.status.value}, "
            f"attempts={self.attempts}, duration={self.duration:.6f}{error})"
        )


class Outputs(dict[str, Any]):
    """``PipelineResult.outputs``: a dict (JSON-able, comparable) that refuses changes, so
    one dict can serve every access."""

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("PipelineResult.outputs is read-only; copy it with dict(...) to change it")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __ior__(self, other: object) -> Outputs:  # type: ignore[override,misc]
        self._refuse()
        return self


@attrs.frozen(repr=False)
class PipelineResult:
    """The outcome of one pipeline run: every stage's result, in pipeline order."""

    run_id: str
    name: str
    status: PipelineStatus
    stages: StageResults = attrs.field(converter=_stage_results)
    started_at: float
    finished_at: float
    duration: float
    _outputs: dict[str, Any] | None = attrs.field(
        default=None, init=False, eq=False, repr=False, alias="_outputs"
    )

    def _count(self, status: StageStatus) -> int:
        return sum(1 for r in self.stages.records() if r.status is status)

    def _names(self, status: StageStatus) -> list[str]:
        stages = self.stages
        return [n for n, r in zip(stages, stages.records(), strict=True) if r.status is status]

    @property
    def succeeded(self) -> int:
        """Number of stages that succeeded."""
        return self._count(StageStatus.SUCCESS)

    @property
    def failed(self) -> int:
        """Number of stages that failed."""
        return self._count(StageStatus.FAILED)

    @property
    def skipped(self) -> int:
        """Number of stages that were skipped."""
        return self._count(StageStatus.SKIPPED)

    @property
    def cancelled(self) -> int:
        """Number of stages that were cancelled."""
        return self._count(StageStatus.CANCELLED)

    @property
    def successful_stages(self) -> list[str]:
        """The ids of the stages that succeeded, in pipeline order."""
        return self._names(StageStatus.SUCCESS)

    @property
    def failed_stages(self) -> list[str]:
        """The ids of the stages that failed, in pipeline order."""
        return self._names(StageStatus.FAILED)

    @property
    def pipeline_id(self) -> str:
        """The seed's name for `name`."""
        return self.name

    @property
    def duration_ms(self) -> float:
        """`duration` in milliseconds."""
        return self.duration * 1000.0

    @property
    def ok(self) -> bool:
        """True when the pipeline succeeded."""
        return self.status is PipelineStatus.SUCCESS

    @property
    def outputs(self) -> dict[str, Any]:
        """The output of every successful stage, by name (read-only; built on first use)."""
        outputs = self._outputs
        if outputs is None:
            stages = self.stages
            # The raw records: no StageResult is built for a stage just to read its output.
            records = stages.records() if isinstance(stages, StageResults) else stages.values()
            success = StageStatus.SUCCESS
            outputs = Outputs(
                (n, r.output) for n, r in zip(stages, records, strict=True) if r.status is success
            )
            object.__setattr__(self, "_outputs", outputs)
        return outputs

    def __getitem__(self, name: str) -> Any:
        """Return the output of stage ``name``.

        Raises:
            KeyError: The stage is not in this run or has no output; the message says its
                status.
        """
        result = self.stages.get(name)
        if result is None:
            raise KeyError(f"stage {name!r} is not part of this run")
        if result.status is not StageStatus.SUCCESS:
            raise KeyError(f"stage {name!r} has no output: its status is {result.status.value}")
        return result.output

    def raise_on_failure(self) -> None:
        """Raise `PipelineFailedError` unless the run succeeded.

        The error is chained to the first failed stage's error (in pipeline order).
        """
        if self.ok:
            return
        cause = next(
            (r.error for r in self.stages.values() if r.status is StageStatus.FAILED), None
        )
        raise PipelineFailedError(self) from cause

    def __repr__(self) -> str:
        return (
            f"PipelineResult(name={self.name!r}, status={self.status.value}, "
            f"succeeded={self.succeeded}, failed={self.failed}, skipped={self.skipped}, "
            f"cancelled={self.cancelled}, duration={self.duration:.6f})"
        )


class Success:
    """A plain success as the engine records it on its hot path; `StageResults` turns it
    into a `StageResult` when it is read (building a frozen attrs object per stage costs
    a fifth of the engine's per-stage time, and most results are never looked at)."""

    __slots__ = ("attempts", "duration", "finished_at", "name", "output", "started_at")
    status = StageStatus.SUCCESS

    def __init__(  # noqa: PLR0917 - positional on purpose: built once per stage, hot path
        self,
        name: str,
        output: Any,
        attempts: int,
        started_at: float,
        finished_at: float,
        duration: float,
    ) -> None:
        self.name = name
        self.output = output
        self.attempts = attempts
        self.started_at = started_at
        self.finished_at = finished_at
        self.duration = duration

    def result(self) -> StageResult:
        """The `StageResult` this stands for."""
        return StageResult(
            self.name,
            StageStatus.SUCCESS,
            self.output,
            None,
            self.attempts,
            self.started_at,
            self.finished_at,
            self.duration,
        )


class StageResults(Mapping[str, StageResult]):
    """Stage name -> `StageResult`, in pipeline order, over the engine's records; an
    ``int`` index gives the i-th result (the seed's ``result.stages[0]``)."""

    __slots__ = ("_index", "_names", "_records")

    def __init__(
        self, names: list[str], records: list[Record], index: dict[str, int] | None = None
    ) -> None:
        self._names = names
        self._records = records
        self._index = index  # the plan's own name -> position, when given: not a copy

    def __getitem__(self, key: str | int) -> StageResult:
        # An int is a position (the seed's list of results), anything else a name.
        k = range(len(self._names))[key] if isinstance(key, int) else self._names_index()[key]
        record = self._records[k]
        if isinstance(record, Success):
            record = self._records[k] = record.result()
        return record

    def _names_index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {n: k for k, n in enumerate(self._names)}
        return self._index

    def __contains__(self, key: object) -> bool:
        return key in self._names_index()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def records(self) -> list[Record]:
        """The raw records (each has ``status``), without building results."""
        return self._records

    def __repr__(self) -> str:
        return f"StageResults({dict(self)!r})"


Record = StageResult | Success
"""What the engine stores per finished stage."""
