"""SIGTERM during ``run()`` cancels cleanly, like Ctrl-C, in every local executor."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, signal, sys, threading, time
    from flowkit import Pipeline, stage

    executor = sys.argv[1]
    started = threading.Event()

    @stage
    def quick() -> int:
        return 1

    @stage
    def slow(quick: int) -> int:
        started.set()
        time.sleep(30)
        return 2

    @stage
    async def aslow(quick: int) -> int:
        started.set()
        await asyncio.sleep(30)
        return 2

    def terminate() -> None:
        started.wait(10)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate, daemon=True).start()
    pipeline = Pipeline([quick, aslow if executor == "async" else slow])
    result = pipeline.run(executor=executor)
    print(result.status.value, *(r.status.value for r in result.stages.values()))
    """
)


@pytest.mark.parametrize("executor", ["sequential", "threads", "async"])
def test_sigterm_returns_a_cancelled_result_keeping_finished_stages(executor: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, executor],
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    *logs, summary = completed.stdout.splitlines()  # structlog's default prints to stdout
    assert summary.split() == ["cancelled", "success", "cancelled"]
    assert "pipeline.cancelled" in logs[-1]
