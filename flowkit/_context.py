"""``StageContext``: what a stage's ``context`` parameter receives."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class StageContext(Mapping[str, Any]):
    """A read-only mapping of the pipeline inputs plus the outputs of this stage's
    dependencies, with facts about the current attempt.

    Attributes:
        run_id: The run's id.
        pipeline: The pipeline's name.
        stage: This stage's name.
        attempt: The current attempt, 1-based.
        log: A structlog logger bound to run, pipeline and stage (for your own events).
    """

    __slots__ = ("_data", "_log_factory", "attempt", "pipeline", "run_id", "stage")

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        run_id: str,
        pipeline: str,
        stage: str,
        attempt: int,
        log_factory: Any = None,
    ) -> None:
        self._data = data
        self.run_id = run_id
        self.pipeline = pipeline
        self.stage = stage
        self.attempt = attempt
        self._log_factory = log_factory

    @property
    def log(self) -> Any:
        """A structlog logger bound to ``run_id``, ``pipeline`` and ``stage``."""
        if self._log_factory is None:
            import structlog

            return structlog.get_logger("flowkit").bind(
                run_id=self.run_id, pipeline=self.pipeline, stage=self.stage
            )
        return self._log_factory(self.stage)

    def with_data(self, extra: Mapping[str, Any]) -> StageContext:
        """A copy of this context that also holds ``extra``."""
        return StageContext(
            {**self._data, **extra},
            run_id=self.run_id,
            pipeline=self.pipeline,
            stage=self.stage,
            attempt=self.attempt,
            log_factory=self._log_factory,
        )

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getstate__(self) -> dict[str, Any]:
        # A logger factory is bound to the driver; a pickled context rebuilds its logger.
        return {
            "_data": dict(self._data),
            "_log_factory": None,
            "attempt": self.attempt,
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "stage": self.stage,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)

    def __repr__(self) -> str:
        # Values may be secrets: show names only.
        return (
            f"StageContext(stage={self.stage!r}, attempt={self.attempt}, "
            f"keys={sorted(self._data)!r})"
        )
