"""flowkit's own failures (a log sink that raises, an abandoned thread) never hang a run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
import structlog

from flowkit import Pipeline, StageStatus, stage


@pytest.fixture
def failing_log_sink() -> object:
    def explode(logger: object, method: str, event: dict[str, object]) -> dict[str, object]:
        if event["event"] == "stage.succeeded" and event.get("stage") == "a":
            raise OSError("log sink failed")
        return event

    structlog.configure(processors=[explode, structlog.testing.LogCapture()])
    yield explode
    structlog.reset_defaults()


@pytest.mark.parametrize("executor", ["sequential", "threads", "async"])
@pytest.mark.usefixtures("failing_log_sink")
def test_a_raising_log_sink_fails_that_stage_and_the_run_still_returns(executor: str) -> None:
    @stage
    def a() -> int:
        return 1

    @stage
    def b(a: int) -> int:
        return a

    @stage
    def independent() -> int:
        return 2

    result = Pipeline([a, b, independent], fail_fast=False).run(executor=executor)

    assert result.stages["a"].status is StageStatus.FAILED
    assert isinstance(result.stages["a"].error, OSError)
    assert result.stages["b"].status is StageStatus.CANCELLED
    assert result["independent"] == 2


def test_an_abandoned_sync_stage_does_not_keep_the_process_alive_after_an_interrupt() -> None:
    script = textwrap.dedent(
        """
        import os, signal, threading
        from flowkit import Pipeline, PipelineInterrupted, stage

        @stage
        def stuck() -> int:
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
            threading.Event().wait(30)
            return 1

        try:
            Pipeline([stuck]).run(executor="async")
        except PipelineInterrupted as interrupted:
            print("status:", interrupted.result.status.value)
        """
    )
    start = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=25, check=False
    )

    assert "status: cancelled" in completed.stdout
    assert time.monotonic() - start < 15  # the stage waits 30 s: its thread was not joined
