"""Fail-fast is one moment, on every executor (DESIGN §3, §11.1); fail_fast=False cancels
only dependents."""

from __future__ import annotations

import time
from typing import Any

from contract import stages
from contract.harness import count, of, sequence
from flowkit import Pipeline, PipelineStatus, StageStatus

SUCCESS, FAILED, CANCELLED = StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.CANCELLED


def test_without_fail_fast_only_dependents_are_cancelled(
    executor: Any, events: list[dict[str, Any]]
) -> None:
    pipeline = Pipeline(
        [
            stages.boom,
            stages.after_boom,
            stages.two_down,
            stages.independent,
            stages.after_independent,
        ],
        fail_fast=False,
    )

    result = pipeline.run(executor=executor)

    assert result.status is PipelineStatus.FAILED
    assert {n: r.status for n, r in result.stages.items()} == {
        "boom": FAILED,
        "after_boom": CANCELLED,
        "two_down": CANCELLED,
        "independent": SUCCESS,
        "after_independent": SUCCESS,
    }
    assert result["after_independent"] == "independent!"
    assert sequence(events, "after_boom") == ["stage.cancelled"]
    assert sequence(events, "two_down") == ["stage.cancelled"]


def test_a_stage_waiting_to_retry_is_cancelled_at_the_failure(
    executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    pipeline = Pipeline([stages.retry_forever, stages.fails_while_retry_waits])
    start = time.monotonic()

    result = pipeline.run({"workdir": workdir}, executor=executor)

    assert time.monotonic() - start < 4.5  # the 5 s backoff was not waited out
    waiting = result.stages["retry_forever"]
    assert (waiting.status, waiting.attempts) == (CANCELLED, 1)
    assert count(workdir, "retry_forever") == 1
    assert sequence(events, "retry_forever") == [
        "stage.started",
        "stage.retrying",
        "stage.cancelled",
    ]
    assert of(events, "retry_forever", "stage.cancelled")[0]["reason"] == "fail_fast"


def test_running_stages_finish_and_nothing_new_starts(
    concurrent_executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    """``outlives`` runs until ``fails_soon`` has failed; it keeps its result, while
    ``queued`` (no free worker) and ``after_outlives`` never start."""
    pipeline = Pipeline([stages.fails_soon, stages.outlives, stages.queued, stages.after_outlives])

    result = pipeline.run({"workdir": workdir}, executor=concurrent_executor, max_workers=2)

    assert result.stages["fails_soon"].status is FAILED
    assert result.stages["outlives"].status is SUCCESS
    assert result["outlives"] == "finished after the failure"
    for name in ("queued", "after_outlives"):
        assert result.stages[name].status is CANCELLED, name
        assert sequence(events, name) == ["stage.cancelled"], name
    assert count(workdir, "queued") == 0


def test_an_attempt_failing_after_the_failure_is_not_retried_and_ends_cancelled(
    concurrent_executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    """``fails_later`` had retries left when its running attempt failed, after
    ``fails_first`` had failed: it is not retried, and it did not fail its last attempt, so
    it ends CANCELLED like a stage waiting for its retry (§3: FAILED is after the last
    attempt)."""
    pipeline = Pipeline([stages.fails_first, stages.fails_later])

    result = pipeline.run({"workdir": workdir}, executor=concurrent_executor)

    assert result.stages["fails_first"].status is FAILED
    late = result.stages["fails_later"]
    assert (late.status, late.attempts) == (CANCELLED, 1)
    assert count(workdir, "fails_later") == 1
    assert sequence(events, "fails_later") == [
        "stage.started",
        "stage.retrying",
        "stage.cancelled",
    ]
