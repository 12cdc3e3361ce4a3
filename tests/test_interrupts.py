"""SIGTERM during ``run()`` cancels cleanly, like Ctrl-C, in every local executor: run()
raises ``PipelineInterrupted`` carrying the cancelled result."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from flowkit import Pipeline, PipelineInterrupted, stage

    @stage
    def quick() -> int:
        return 1

    @stage
    def slow(quick: int) -> int:
        print("slow started", flush=True)
        time.sleep(30)
        return 2

    @stage
    async def aslow(quick: int) -> int:
        print("slow started", flush=True)
        await asyncio.sleep(30)
        return 2

    executor = sys.argv[1]
    pipeline = Pipeline([quick, aslow if executor == "async" else slow])
    try:
        pipeline.run(executor=executor)
    except PipelineInterrupted as interrupted:  # DESIGN 11.1: run() raises, with the result
        result = interrupted.result
    print("result:", result.status.value, *(r.status.value for r in result.stages.values()))
    """
)


@pytest.mark.parametrize("executor", ["sequential", "threads", "async"])
def test_sigterm_returns_a_cancelled_result_keeping_finished_stages(executor: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", SCRIPT, executor],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        lines = []
        for line in child.stdout:  # structlog's default prints the events to stdout too
            lines.append(line)
            if line.startswith("slow started"):
                child.send_signal(signal.SIGTERM)
                break
        out, err = child.communicate(timeout=20)
        lines.extend(out.splitlines())

    assert child.returncode == 0, err
    assert lines[-1].split() == ["result:", "cancelled", "success", "cancelled"]
    assert "pipeline.cancelled" in lines[-2]
