"""Helpers for testing your own pipelines.

Stages stay plain functions, so most tests call them directly. These helpers cover the rest:
running one stage with its retries, timeout, condition and hooks, and capturing the events
of a run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from structlog.testing import capture_logs

from flowkit._events import EVENTS
from flowkit._pipeline import Pipeline
from flowkit._results import StageResult
from flowkit._stage import Stage

__all__ = ["capture_events", "run_stage"]


def run_stage(stage: Stage, /, **arguments: Any) -> StageResult:
    """Run one stage as flowkit would, with ``arguments`` standing in for its dependencies
    and inputs, and return its `StageResult` (it does not raise).

    Examples:
        ```python
        @stage(retries=2)
        def double(number: int) -> int:
            return number * 2

        assert run_stage(double, number=21).output == 42
        ```
    """
    result = Pipeline([stage], name=f"test:{stage.name}").run(arguments, executor="sequential")
    return result.stages[stage.name]


@contextmanager
def capture_events() -> Iterator[list[dict[str, Any]]]:
    """Capture flowkit's events (as dicts, in order) while the block runs; the list is
    filled when the block exits.

    Examples:
        >>> from flowkit import Pipeline, stage
        >>> with capture_events() as events:
        ...     _ = Pipeline([stage(lambda: 1, name="one")]).run()
        >>> print(" ".join(event["event"] for event in events))
        pipeline.started stage.started stage.succeeded pipeline.succeeded
    """
    events: list[dict[str, Any]] = []
    with capture_logs() as logs:
        yield events
    events.extend(dict(log) for log in logs if log.get("event") in EVENTS)
