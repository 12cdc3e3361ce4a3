"""Async stages: awaited on the loop, really cancelled at their timeout, in every mode."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

import pytest
from structlog.testing import capture_logs

from flowkit import Pipeline, PipelineStatus, StageStatus, StageTimeoutError, stage

EXECUTORS = ["sequential", "threads", "async"]


def make_pipeline() -> Pipeline:
    pipeline = Pipeline(name="aio")

    @pipeline.stage
    async def fetch(n: int) -> list[int]:
        await asyncio.sleep(0)
        return list(range(n))

    @pipeline.stage
    def total(fetch: list[int]) -> int:
        return sum(fetch)

    @pipeline.stage
    async def doubled(total: int) -> int:
        return total * 2

    return pipeline


@pytest.mark.parametrize("executor", EXECUTORS)
def test_async_and_sync_stages_mix_in_every_mode(executor: str) -> None:
    result = make_pipeline().run({"n": 4}, executor=executor)

    assert result.ok
    assert result.outputs == {"fetch": [0, 1, 2, 3], "total": 6, "doubled": 12}


def test_run_async_from_inside_an_event_loop() -> None:
    async def main() -> int:
        result = await make_pipeline().run_async({"n": 5})
        return result["doubled"]  # type: ignore[no-any-return]

    assert asyncio.run(main()) == 20


def test_async_executor_runs_sync_stages_in_worker_threads() -> None:
    loop_thread: list[int] = []
    stage_thread: list[int] = []

    @stage
    async def on_loop() -> int:
        loop_thread.append(threading.get_ident())
        return 1

    @stage
    def in_thread(on_loop: int) -> int:
        stage_thread.append(threading.get_ident())
        return on_loop

    Pipeline([on_loop, in_thread]).run(executor="async")

    assert loop_thread != stage_thread


@pytest.mark.parametrize("executor", EXECUTORS)
def test_an_async_stage_past_its_timeout_is_cancelled(executor: str) -> None:
    cleaned_up = threading.Event()

    @stage(timeout=0.2)
    async def slow() -> str:
        try:
            await asyncio.sleep(30)
        finally:
            cleaned_up.set()
        return "late"

    start = time.monotonic()
    result = Pipeline([slow]).run(executor=executor)

    assert time.monotonic() - start < 10
    assert result.stages["slow"].status is StageStatus.FAILED
    assert isinstance(result.stages["slow"].error, StageTimeoutError)
    assert cleaned_up.wait(5)  # its `finally` ran: it was really cancelled


def test_async_stages_overlap_on_the_loop() -> None:
    pipeline = Pipeline(name="overlap")
    for i in range(8):

        async def sleeper() -> int:
            await asyncio.sleep(0.25)
            return 1

        pipeline.add(stage(name=f"s{i}")(sleeper))

    start = time.monotonic()
    result = pipeline.run(executor="async")
    elapsed = time.monotonic() - start

    assert result.ok
    assert elapsed < 8 * 0.25 / 2  # sequential would take 2 s


def test_retry_delays_on_the_loop_do_not_block_other_stages() -> None:
    attempts: list[float] = []

    @stage(retries=1, backoff=0.3)
    async def flaky() -> int:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise ConnectionError("first try fails")
        return 1

    @stage
    async def other() -> int:
        return 2

    result = Pipeline([flaky, other]).run(executor="async")

    assert result.ok
    assert attempts[1] - attempts[0] >= 0.3
    assert result.stages["other"].finished_at < result.stages["flaky"].finished_at  # type: ignore[operator]


def test_cancelling_run_async_cancels_stages_logs_and_reraises() -> None:
    started = asyncio.Event()

    @stage
    async def forever() -> None:
        started.set()
        await asyncio.sleep(60)

    async def main() -> None:
        task = asyncio.create_task(Pipeline([forever], name="c").run_async())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture_logs() as logs:
        asyncio.run(main())

    events = [log["event"] for log in logs]
    assert events[-2:] == ["stage.cancelled", "pipeline.cancelled"]
    assert logs[-1]["status"] == PipelineStatus.CANCELLED.value


def test_run_with_the_async_executor_inside_a_loop_points_to_run_async() -> None:
    async def main() -> None:
        with capture_logs() as logs, pytest.raises(RuntimeError, match="run_async"):
            make_pipeline().run({"n": 1}, executor="async")
        assert logs == []

    asyncio.run(main())


def test_a_condition_uses_the_stage_default_for_an_input_left_out() -> None:
    @stage(when=lambda verbose: verbose)
    def report(verbose: bool = False) -> str:
        return "loud"

    assert Pipeline([report]).run().stages["report"].status is StageStatus.SKIPPED
    assert Pipeline([report]).run({"verbose": True})["report"] == "loud"


RUN_ASYNC_KEYBOARD_INTERRUPT = """
import asyncio, json
from flowkit import Pipeline, PipelineInterrupted, stage

@stage
def first() -> int:
    return 1

@stage
async def interrupts(first: int) -> int:
    raise KeyboardInterrupt

@stage
def after(interrupts: int) -> int:
    return 2

async def main():
    try:
        await Pipeline([first, interrupts, after]).run_async()
    except PipelineInterrupted as interrupted:
        result = interrupted.result
        return {"status": result.status.value, "outputs": result.outputs,
                "stages": {n: r.status.value for n, r in result.stages.items()}}
    return {"raised": None}

print(json.dumps(asyncio.run(main())))
"""


def test_a_stage_raising_keyboard_interrupt_interrupts_run_async() -> None:
    # In a subprocess: a KeyboardInterrupt escaping the run would stop pytest itself.
    proc = subprocess.run(
        [sys.executable, "-c", RUN_ASYNC_KEYBOARD_INTERRUPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])  # after the events
    assert report == {
        "status": "cancelled",
        "outputs": {"first": 1},
        "stages": {"first": "success", "interrupts": "cancelled", "after": "cancelled"},
    }
