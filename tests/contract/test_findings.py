"""The seven findings of issue 11, each as the smallest test that shows it, on the
executors where it was seen (the thematic modules cover every executor)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from structlog.testing import capture_logs

from contract import kinds, stages
from contract.harness import sequence, stamps
from contract.scripts import HARD_TIMEOUT_S
from flowkit import ParallelStage, Pipeline, StageStatus

REPEAT = 30  # the fail-fast drift showed in about 1 run in 10


@pytest.mark.parametrize("executor", ["threads", "sequential", "async"])
def test_1_sys_exit_in_a_stage_neither_hangs_nor_escapes(executor: str) -> None:
    code = (
        "import sys, flowkit\n"
        "f = flowkit.stage(name='f')(lambda: sys.exit(3))\n"
        f"result = flowkit.Pipeline([f]).run(executor={executor!r})\n"
        "print('status', result.stages['f'].status.value, type(result.stages['f'].error).__name__)"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=HARD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"run() hung on {executor}")

    outcome = [line.split() for line in done.stdout.splitlines() if line.startswith("status ")]
    assert outcome == [["status", "failed", "SystemExit"]], done.stderr
    assert done.returncode == 0


@pytest.mark.parametrize("executor_spec", ["async", "threads", "fake"], indirect=True)
def test_2_no_stage_starts_after_a_fail_fast_failure(executor: Any, workdir: str) -> None:
    pipeline = Pipeline(
        [stages.independent, stages.boom, stages.after_independent, stages.bystander]
    )
    for _ in range(REPEAT):
        with capture_logs() as events:
            pipeline.run({"workdir": workdir}, executor=executor, max_workers=2)
        failed = next(i for i, e in enumerate(events) if e["event"] == "stage.failed")
        late = [e["stage"] for e in events[failed:] if e["event"] == "stage.started"]
        assert late == [], f"started after the failure: {late}"


@pytest.mark.parametrize("executor", ["threads", "sequential"])
def test_3_cancel_beats_skip_whatever_the_parameter_order(executor: str) -> None:
    pipeline = Pipeline(
        [kinds.skipped_stage, kinds.failed_stage, kinds.skip_then_fail, kinds.fail_then_skip],
        fail_fast=False,
    )

    result = pipeline.run(executor=executor)

    assert result.stages["skip_then_fail"].status is StageStatus.CANCELLED
    assert result.stages["fail_then_skip"].status is StageStatus.CANCELLED


@pytest.mark.parametrize("executor", ["threads", "sequential", "async"])
def test_4_a_map_item_retry_delay_holds_no_worker(executor: str, workdir: str) -> None:
    pipeline = Pipeline([stages.item_retry, stages.bystander])

    pipeline.run({"items": [0], "workdir": workdir}, executor=executor, max_workers=1)

    _, second = stamps(workdir, "item_retry0")
    (ran,) = stamps(workdir, "bystander")
    assert ran < second, "bystander waited for the item's backoff"


@pytest.mark.usefixtures("failing_log_sink")
@pytest.mark.parametrize("executor_spec", ["processes", "dask"], indirect=True)
def test_5_a_raising_log_sink_does_not_lose_the_result(executor: Any) -> None:
    pipeline = Pipeline([kinds.logged_a, kinds.logged_independent], fail_fast=False)

    result = pipeline.run(executor=executor)

    assert result.stages["logged_a"].status is StageStatus.FAILED
    assert result["logged_independent"] == 2


def test_6_module_level_functions_and_parallel_stages_pickle_for_processes() -> None:
    pipeline = Pipeline([kinds.plain_double, ParallelStage("pair", [kinds.child_one])])

    result = pipeline.run({"x": 2}, executor="processes")

    assert result.outputs == {"plain_double": 4, "pair": {"child_one": 3}}


@pytest.mark.parametrize("executor_spec", ["fake", "dask"], indirect=True)
def test_7_parallel_children_on_executor_objects_have_events_and_results(
    executor: Any, events: list[dict[str, Any]]
) -> None:
    result = Pipeline([kinds.group]).run({"x": 1}, executor=executor)

    assert set(result.stages["group"].children) == {"child_one", "child_two"}
    assert sequence(events, "child_one") == ["stage.started", "stage.succeeded"]
