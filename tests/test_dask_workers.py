"""Dask worker loss, the way Dask users expect (DESIGN 11.1), against a real ``dask
scheduler`` and two ``dask worker`` processes (each with its nanny, which restarts a killed
worker) started here; and timeouts, fail-fast and conditions on that cluster.

The scheduler runs with ``allowed-failures`` 1: a task is run again after one lost worker
and given up on after the second.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from dask_pipelines import shapes, workers  # noqa: E402 - after the importorskip on purpose

from flowkit import PipelineResult, PipelineStatus, StageStatus  # noqa: E402
from flowkit.executors import DaskExecutor, WorkerDiedError  # noqa: E402

TESTS = Path(__file__).parent
STARTUP_S = 60  # generous: the machine may be busy with other test runs
ALLOWED_FAILURES = 1


def _wait_for(path: Path, limit: float = STARTUP_S) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {limit} s")
        time.sleep(0.02)  # polling for a file another process writes


class Cluster:
    """``dask scheduler`` and two ``dask worker`` subprocesses (with nannies)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.scheduler_file = workdir / "scheduler.json"
        self.processes: list[subprocess.Popen[bytes]] = []
        pythonpath = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
        self.env = {
            **os.environ,
            "PYTHONPATH": pythonpath,
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(ALLOWED_FAILURES),
        }

    def spawn(self, name: str, *args: str) -> None:
        with (self.workdir / f"{name}.log").open("wb") as log:
            command = [sys.executable, "-m", "dask", *args, "--host=127.0.0.1", "--no-dashboard"]
            self.processes.append(
                subprocess.Popen(
                    [*command, "--dashboard-address=127.0.0.1:0"],  # /health: loopback
                    cwd=self.workdir,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def start(self) -> str:
        self.spawn("scheduler", "scheduler", "--port=0", f"--scheduler-file={self.scheduler_file}")
        _wait_for(self.scheduler_file)
        for n in range(2):
            self.spawn(
                f"worker{n}", "worker", f"--scheduler-file={self.scheduler_file}", "--nthreads=1"
            )
        return str(json.loads(self.scheduler_file.read_text())["address"])

    def stop(self) -> None:
        for process in reversed(self.processes):  # workers (and nannies) first
            process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def cluster_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    cluster = Cluster(tmp_path_factory.mktemp("dask-workers"))
    try:
        address = cluster.start()
        with distributed.Client(address, set_as_default=False) as client:
            yield client
    finally:
        cluster.stop()


@pytest.fixture
def executor(cluster_client: Any) -> DaskExecutor:
    """A DaskExecutor on the cluster, once both workers are up (a killed one restarts)."""
    cluster_client.wait_for_workers(2, timeout=STARTUP_S)
    return DaskExecutor(cluster_client)


def _kill_when_started(marker: Path, killed: list[int]) -> None:
    _wait_for(marker)
    pid = int(marker.read_text())
    os.kill(pid, signal.SIGKILL)
    killed.append(pid)


def _of(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


# -- worker loss -----------------------------------------------------------------------------


def test_a_worker_killed_mid_stage_is_rescheduled_and_the_run_succeeds_without_retries(
    executor: DaskExecutor, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    killed: list[int] = []
    killer = threading.Thread(
        target=_kill_when_started, args=(tmp_path / "held.pid", killed), daemon=True
    )
    killer.start()

    result = workers.survives.run({"workdir": str(tmp_path)}, executor=executor)
    killer.join(STARTUP_S)

    assert result.status is PipelineStatus.SUCCESS
    held = result.stages["held"]
    assert (held.status, held.attempts) == (StageStatus.SUCCESS, 1)
    assert killed
    assert held.output != f"ran in {killed[0]}"  # it ran again on another worker
    assert result["after_held"] == len(held.output)
    (lost,) = _of(events, "stage.worker_lost")
    assert (lost["stage"], lost["attempt"], lost["rescheduled"]) == ("held", 1, True)
    assert lost["worker"].startswith("tcp://127.0.0.1:")
    assert [e["event"] for e in events if e.get("stage") == "held"] == [
        "stage.started",
        "stage.worker_lost",
        "stage.succeeded",
    ]


def test_a_stage_killing_every_worker_fails_with_worker_died_after_dask_gives_up(
    executor: DaskExecutor, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    result = workers.kills_workers.run(
        {"workdir": str(tmp_path)}, executor=executor, fail_fast=False
    )

    assert result.status is PipelineStatus.FAILED
    killer = result.stages["killer"]
    assert (killer.status, killer.attempts) == (StageStatus.FAILED, 1)
    assert isinstance(killer.error, WorkerDiedError)
    assert "'killer'" in str(killer.error)
    assert "Dask worker tcp://127.0.0.1:" in str(killer.error)
    assert "gave up after 2 workers died" in str(killer.error)
    pids = (tmp_path / "killer.pids").read_text().split()
    assert len(pids) == ALLOWED_FAILURES + 1  # Dask ran it again once, then gave up
    # (a task Dask had queued on a dying worker, e.g. bystander, may see a loss too)
    lost = [e["rescheduled"] for e in _of(events, "stage.worker_lost") if e["stage"] == "killer"]
    assert lost == [True, False]
    (failed,) = _of(events, "stage.failed")
    assert (failed["stage"], failed["error_type"]) == ("killer", "WorkerDiedError")
    assert result.stages["after_killer"].status is StageStatus.CANCELLED
    assert result["bystander"] == "fine"


def test_retries_apply_once_dask_gives_up(
    executor: DaskExecutor, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    result = workers.kills_twice.run({"workdir": str(tmp_path)}, executor=executor)

    stage = result.stages["retried_killer"]
    assert (stage.status, stage.attempts) == (StageStatus.FAILED, 2)
    assert isinstance(stage.error, WorkerDiedError)
    assert len((tmp_path / "retried_killer.pids").read_text().split()) == 4
    (retrying,) = _of(events, "stage.retrying")
    assert retrying["error_type"] == "WorkerDiedError"
    assert [e["rescheduled"] for e in _of(events, "stage.worker_lost")] == [  # its own only
        True,
        False,
        True,
        False,
    ]


# -- timeouts, fail-fast and conditions on the same cluster ----------------------------------


def summary(result: PipelineResult) -> dict[str, Any]:
    return {
        name: (
            s.status,
            s.output,
            None if s.error is None else (type(s.error).__name__, str(s.error)),
            s.attempts,
            s.skip_reason,
        )
        for name, s in result.stages.items()
    }


CASES = {
    "fail-fast": (shapes.failing, {"x": 2}, {"fail_fast": True}),
    "no-fail-fast": (shapes.failing, {"x": 2}, {"fail_fast": False}),
    "condition-false": (shapes.mapped, {"x": 4}, {}),
    "condition-true": (shapes.mapped, {"x": 20}, {}),
    "retries": (shapes.retrying, {}, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fail_fast_conditions_and_retries_match_the_threads_executor(
    executor: DaskExecutor, case: str, tmp_path: Path
) -> None:
    pipeline, inputs, options = CASES[case]
    (tmp_path / "threads").mkdir()
    (tmp_path / "dask").mkdir()

    expected = pipeline.run({**inputs, "workdir": str(tmp_path / "threads")}, **options)
    actual = pipeline.run(
        {**inputs, "workdir": str(tmp_path / "dask")}, executor=executor, **options
    )

    assert summary(actual) == summary(expected)
    assert actual.status == expected.status


def test_a_timeout_fails_the_stage_and_the_rest_of_the_run_goes_on(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    shapes.check_a_timeout_fails_only_its_stage(executor, tmp_path)
