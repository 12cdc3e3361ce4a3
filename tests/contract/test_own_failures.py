"""flowkit's own failures (DESIGN §11.1): a log sink that raises ends the affected stage
FAILED and run() still returns its result, on every executor."""

from __future__ import annotations

from typing import Any

from contract import kinds
from contract.harness import FakeExecutor
from flowkit import Pipeline, StageStatus


def test_a_raising_log_sink_fails_that_stage_and_the_run_returns(
    executor: Any, failing_log_sink: list[Any]
) -> None:
    pipeline = Pipeline([kinds.logged_a, kinds.logged_b, kinds.logged_independent], fail_fast=False)

    result = pipeline.run(executor=executor)

    assert result.stages["logged_a"].status is StageStatus.FAILED
    assert isinstance(result.stages["logged_a"].error, OSError)
    assert result.stages["logged_b"].status is StageStatus.CANCELLED
    assert result["logged_independent"] == 2
    assert failing_log_sink[-1]["event"] == "pipeline.failed"


class BrokenTransport(FakeExecutor):
    """An executor object whose first ``wait`` fails, as a lost connection would."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    def wait(self, timeout: float | None) -> list[Any]:
        if self.broken:
            self.broken = False
            raise ConnectionResetError("connection to the cluster lost")
        return super().wait(timeout)


def test_a_transport_error_fails_the_calls_in_flight_and_the_run_returns() -> None:
    pipeline = Pipeline([kinds.logged_a, kinds.logged_independent], fail_fast=False)

    result = pipeline.run(executor=BrokenTransport(), max_workers=1)

    lost = result.stages["logged_a"]
    assert lost.status is StageStatus.FAILED
    assert isinstance(lost.error, ConnectionResetError)
    assert result["logged_independent"] == 2
