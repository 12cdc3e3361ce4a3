"""Retries with delays (DESIGN §2 Retry, §10 attempts, §11.1), on every executor."""

from __future__ import annotations

from typing import Any

from contract import stages
from contract.harness import count, of, retried, sequence, stamps
from flowkit import Pipeline, StageStatus


def test_a_stage_succeeding_on_its_third_attempt(
    executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    result = Pipeline([stages.flaky]).run({"workdir": workdir, "fails": 2}, executor=executor)

    outcome = result.stages["flaky"]
    assert (outcome.status, outcome.attempts, outcome.output) == (
        StageStatus.SUCCESS,
        3,
        "ok on attempt 3",
    )
    assert count(workdir, "flaky") == 3
    assert sequence(events, "flaky") == retried(3, "stage.succeeded")
    assert [e["attempt"] for e in of(events, "flaky", "stage.started")] == [1, 2, 3]
    retrying = of(events, "flaky", "stage.retrying")
    assert [(e["attempt"], e["delay_s"]) for e in retrying] == [(1, 0.05), (2, 0.1)]
    assert {(e["error_type"], e["status"]) for e in retrying} == {("ConnectionError", "running")}


def test_a_stage_failing_every_attempt(
    executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    result = Pipeline([stages.flaky]).run({"workdir": workdir, "fails": 9}, executor=executor)

    outcome = result.stages["flaky"]
    assert (outcome.status, outcome.attempts) == (StageStatus.FAILED, 3)
    assert isinstance(outcome.error, ConnectionError)
    assert str(outcome.error) == "attempt 3 failed"
    assert sequence(events, "flaky") == retried(3, "stage.failed")
    failed = of(events, "flaky", "stage.failed")[0]
    assert (failed["attempt"], failed["error_type"], failed["status"]) == (
        3,
        "ConnectionError",
        "failed",
    )


def test_an_error_outside_retry_on_is_not_retried(
    executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    result = Pipeline([stages.wrong_error]).run({"workdir": workdir}, executor=executor)

    assert result.stages["wrong_error"].attempts == 1
    assert count(workdir, "wrong_error") == 1
    assert sequence(events, "wrong_error") == ["stage.started", "stage.failed"]


def test_a_retry_delay_holds_no_worker(executor: Any, workdir: str) -> None:
    """With one worker, ``bystander`` runs while ``slow_retry`` waits its 0.5 s backoff."""
    pipeline = Pipeline([stages.slow_retry, stages.bystander])

    result = pipeline.run({"workdir": workdir}, executor=executor, max_workers=1)

    assert result.stages["slow_retry"].attempts == 2
    first, second = stamps(workdir, "slow_retry")
    (ran,) = stamps(workdir, "bystander")
    assert ran < second
    assert second - first >= 0.5
