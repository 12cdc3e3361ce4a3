"""Timeouts on every executor (DESIGN §3, §10): StageTimeoutError, retried like any failure,
and run() returns without waiting for the abandoned call."""

from __future__ import annotations

import time
from typing import Any

import pytest

from contract import stages
from contract.harness import EXECUTORS, of, retried, sequence
from flowkit import Pipeline, StageStatus, StageTimeoutError


def test_an_attempt_past_its_timeout_fails_with_stage_timeout_error(
    executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    start = time.monotonic()

    result = Pipeline([stages.stuck, stages.after_stuck]).run(
        {"workdir": workdir}, executor=executor
    )

    assert time.monotonic() - start < 8  # the stage waits 10 s: it was not waited for
    outcome = result.stages["stuck"]
    assert outcome.status is StageStatus.FAILED
    assert isinstance(outcome.error, StageTimeoutError)
    assert (outcome.error.stage, outcome.error.timeout) == ("stuck", 0.5)
    assert result.stages["after_stuck"].status is StageStatus.CANCELLED
    assert of(events, "stuck", "stage.failed")[0]["error_type"] == "StageTimeoutError"


def test_a_timed_out_attempt_is_retried(
    executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    result = Pipeline([stages.stuck_once]).run({"workdir": workdir}, executor=executor)

    outcome = result.stages["stuck_once"]
    assert (outcome.status, outcome.output) == (StageStatus.SUCCESS, outcome.attempts)
    assert outcome.attempts in {2, 3}
    assert sequence(events, "stuck_once") == retried(outcome.attempts, "stage.succeeded")
    assert of(events, "stuck_once", "stage.retrying")[0]["error_type"] == "StageTimeoutError"


# Not Dask: a Dask worker's first call of a run imports flowkit and the stage's module while
# it unpickles the call, which no driver can time apart from the call itself.
@pytest.mark.parametrize("executor_spec", [e for e in EXECUTORS if e != "dask"], indirect=True)
def test_a_quick_stage_is_in_time_even_on_its_executors_first_call(executor: Any) -> None:
    """The timeout bounds the attempt's own running time, not the start of a worker
    process (a fresh one per run under processes, half a second and more on a busy
    machine)."""
    result = Pipeline([stages.quick_with_timeout]).run(executor=executor)

    assert result["quick_with_timeout"] == "in time"
