"""The Dask executor, against real clusters: a LocalCluster of worker processes, and a
``dask scheduler`` with two ``dask worker`` processes started here on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

from dask_pipelines import shapes  # noqa: E402 - after the importorskip on purpose

from flowkit import (  # noqa: E402
    FunctionStage,
    Pipeline,
    PipelineDefinitionError,
    PipelineResult,
    PipelineStatus,
    StageStatus,
)
from flowkit.executors import Completion, DaskExecutor, Executor  # noqa: E402
from flowkit.executors.dask import QUEUED  # noqa: E402

TESTS = Path(__file__).parent
STARTUP_S = 60  # generous: the machine may be busy with other test runs


def _wait_for(path: Path, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {limit} s")
        time.sleep(0.02)


# -- clusters --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_executor() -> Iterator[DaskExecutor]:
    """A DaskExecutor owning a LocalCluster of two single-threaded worker processes, kept
    for the whole module."""
    with DaskExecutor(n_workers=2, threads_per_worker=1) as executor:
        yield executor


class RemoteCluster:
    """A scheduler and worker subprocesses; ``stop`` ends them all."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.scheduler_file = workdir / "scheduler.json"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p
            ),
        }

    def spawn(self, name: str, *args: str) -> None:
        with (self.workdir / f"{name}.log").open("wb") as log:
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dask", *args],
                    cwd=self.workdir,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def start(self, workers: int) -> str:
        self.spawn(
            "scheduler",
            "scheduler",
            "--host=127.0.0.1",
            "--port=0",
            "--no-dashboard",
            "--dashboard-address=127.0.0.1:0",  # /health and /metrics: loopback, free port
            f"--scheduler-file={self.scheduler_file}",
        )
        _wait_for(self.scheduler_file, STARTUP_S)
        for n in range(workers):
            self.spawn(
                f"worker{n}",
                "worker",
                f"--scheduler-file={self.scheduler_file}",
                "--nthreads=1",
                "--no-nanny",  # the test's SIGKILL hits the very process running the stage
                "--no-dashboard",
                "--dashboard-address=127.0.0.1:0",
                "--host=127.0.0.1",
            )
        address = str(json.loads(self.scheduler_file.read_text())["address"])
        with distributed.Client(address, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=STARTUP_S)
        return address

    def stop(self) -> None:
        for process in reversed(self.processes):  # workers first, the scheduler last
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def remote_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a ``dask scheduler`` with two ``dask worker`` processes."""
    cluster = RemoteCluster(tmp_path_factory.mktemp("dask-cluster"))
    try:
        yield cluster.start(workers=2)
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def remote_executor(remote_address: str) -> Iterator[DaskExecutor]:
    """A DaskExecutor connected to the scheduler subprocess (its Client kept for the module)."""
    with DaskExecutor(remote_address) as executor:
        yield executor


@pytest.fixture(params=["local-cluster", "scheduler-and-workers"])
def dask_executor(request: pytest.FixtureRequest) -> DaskExecutor:
    """Each Dask deployment in turn."""
    name = "local_executor" if request.param == "local-cluster" else "remote_executor"
    executor: DaskExecutor = request.getfixturevalue(name)
    return executor


# -- same results as the threads executor ----------------------------------------------------


def summary(result: PipelineResult) -> dict[str, Any]:
    """What must not depend on the executor: statuses, outputs, errors, attempts, reasons."""
    return {
        "status": result.status,
        "stages": {
            name: (
                s.status,
                s.output,
                None if s.error is None else (type(s.error).__name__, str(s.error)),
                s.attempts,
                s.skip_reason,
            )
            for name, s in result.stages.items()
        },
    }


CASES = {
    "chain": (shapes.chain, {"x": 1}, {}),
    "chain-targets": (shapes.chain, {"x": 1}, {"targets": ["second"]}),
    "chain-overrides": (shapes.chain, {"x": 1}, {"overrides": {"first": 100}}),
    "diamond": (shapes.diamond, {"x": 5}, {}),
    "fan-in": (shapes.fan_in, {"x": 1}, {}),
    "map-condition-false": (shapes.mapped, {"x": 4}, {}),
    "map-condition-true": (shapes.mapped, {"x": 20}, {}),
    "fail-fast": (shapes.failing, {"x": 2}, {"fail_fast": True}),
    "no-fail-fast": (shapes.failing, {"x": 2}, {"fail_fast": False}),
    "retries": (shapes.retrying, {}, {}),
    "async-stage": (shapes.async_stage, {"x": 3}, {}),
    "parallel-group": (shapes.grouped, {"x": 3}, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_results_equal_the_threads_executor(
    dask_executor: DaskExecutor, case: str, tmp_path: Path
) -> None:
    pipeline, inputs, options = CASES[case]
    threads_dir, dask_dir = tmp_path / "threads", tmp_path / "dask"
    threads_dir.mkdir()
    dask_dir.mkdir()

    expected = pipeline.run({**inputs, "workdir": str(threads_dir)}, executor="threads", **options)
    actual = pipeline.run({**inputs, "workdir": str(dask_dir)}, executor=dask_executor, **options)

    assert summary(expected) == summary(actual)


def test_the_executor_implements_the_protocol() -> None:
    assert isinstance(DaskExecutor(), Executor)


def test_completions_carry_the_value_a_future_for_dependents_and_the_worker(
    local_executor: DaskExecutor,
) -> None:
    def next_completion() -> Completion:
        done: list[Completion] = []
        while not done:
            done = local_executor.wait(STARTUP_S)
        return done[0]

    capacity = local_executor.start(max_workers=99)
    try:
        local_executor.submit("first", shapes.first, {"x": 1})
        first = next_completion()
        local_executor.submit("second", shapes.second, {"first": first.ref})
        second = next_completion()
        workers = set(local_executor.client.nthreads())
    finally:
        local_executor.shutdown()

    assert capacity == 99  # max_workers caps the calls in flight; Dask queues the rest
    assert (first.key, first.ok, first.value) == ("first", True, 2)
    assert isinstance(first.ref, distributed.Future)
    assert first.worker in workers
    assert (second.key, second.ok, second.value) == ("second", True, 20)


def test_calls_go_to_the_scheduler_without_waiting_for_a_free_worker(
    local_executor: DaskExecutor,
) -> None:
    try:
        capacity = local_executor.start(max_workers=None)
    finally:
        local_executor.shutdown()

    assert capacity == QUEUED > sum(local_executor.client.nthreads().values())


def test_the_cache_serves_stages_and_items_on_dask(
    local_executor: DaskExecutor, tmp_path: Path
) -> None:
    inputs = {"x": 3, "cached_square_items": [1, 2]}

    first = shapes.caching.run(inputs, executor=local_executor, cache=tmp_path)
    second = shapes.caching.run(inputs, executor=local_executor, cache=tmp_path)

    assert first.outputs == second.outputs == {"cached_square": 9, "cached_items": [2, 3]}
    assert not first.stages["cached_square"].cached
    assert second.stages["cached_square"].cached


def test_stages_run_in_worker_processes(local_executor: DaskExecutor) -> None:
    pipeline = Pipeline([FunctionStage(os.getpid, name="pid")], name="pids")

    result = pipeline.run(executor=local_executor)

    assert result.ok
    assert result["pid"] != os.getpid()


def test_retries_wait_their_backoff_and_are_logged(
    local_executor: DaskExecutor, events: list[dict[str, Any]]
) -> None:
    start = time.monotonic()
    result = shapes.retrying.run(executor=local_executor)
    elapsed = time.monotonic() - start

    assert result["flaky"] == "ok at attempt 3"
    retrying = [e for e in events if e["event"] == "stage.retrying"]
    assert [(e["attempt"], e["delay_s"], e["error_type"]) for e in retrying] == [
        (1, 0.05, "ConnectionError"),
        (2, 0.1, "ConnectionError"),
    ]
    assert elapsed >= 0.15


def test_a_failed_stage_s_traceback_shows_its_own_file_and_line(
    local_executor: DaskExecutor,
) -> None:
    from pipelines import crash

    result = crash.pipeline.run(executor=local_executor)
    text = "".join(traceback.format_exception(result.stages["clean_orders"].error))
    lines = Path(crash.__file__).read_text().splitlines()
    failing = next(n for n, line in enumerate(lines, 1) if "return rows[key]" in line)

    assert f'File "{crash.__file__}", line {failing}, in lookup' in text
    assert text.rstrip().endswith("KeyError: 'b'")


def test_a_stage_past_its_timeout_fails_quickly_and_the_pipeline_goes_on(
    local_executor: DaskExecutor, tmp_path: Path
) -> None:
    shapes.check_a_timeout_fails_only_its_stage(local_executor, tmp_path)


# -- what cannot travel ----------------------------------------------------------------------


def test_a_stage_from_main_is_refused_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[int] = []

    def in_main(x: int) -> int:
        ran.append(x)
        return x

    in_main.__qualname__ = "in_main"
    main_stage = FunctionStage(in_main)
    main_stage.__module__ = "__main__"
    # Like `@stage def in_main` in a script: it pickles as "__main__.in_main", which on a
    # worker names nothing (or something else).
    monkeypatch.setattr(sys.modules["__main__"], "in_main", main_stage, raising=False)
    executor = DaskExecutor()

    with pytest.raises(PipelineDefinitionError, match=r"'in_main' is defined in __main__"):
        Pipeline([main_stage], name="m").run({"x": 1}, executor=executor)
    assert ran == []
    assert executor.client is None  # refused before a cluster was started


def test_an_unpicklable_stage_is_refused_naming_it() -> None:
    lock = threading.Lock()

    def guarded(x: int) -> int:
        with lock:
            return x

    with pytest.raises(PipelineDefinitionError, match=r"stage 'guarded'.*cannot be pickled"):
        Pipeline([guarded], name="g").run({"x": 1}, executor=DaskExecutor())


def test_lambdas_and_local_functions_travel_by_value(local_executor: DaskExecutor) -> None:
    offset = 5

    def shifted(x: int) -> int:
        return x + offset

    pipeline = Pipeline(
        [FunctionStage(lambda shifted: shifted * 2, name="doubled"), shifted], name="local"
    )

    assert pipeline.run({"x": 1}, executor=local_executor)["doubled"] == 12


def test_an_unpicklable_argument_fails_the_stage_naming_it_and_its_type(
    local_executor: DaskExecutor,
) -> None:
    result = shapes.unpicklable_input.run({"anything": threading.Lock()}, executor=local_executor)

    failed = result.stages["takes_anything"]
    assert failed.status is StageStatus.FAILED
    assert isinstance(failed.error, TypeError)
    assert "'takes_anything'" in str(failed.error)
    assert "argument 'anything'" in str(failed.error)
    assert "type lock" in str(failed.error)


def test_an_unpicklable_output_fails_its_stage_not_its_dependents(
    local_executor: DaskExecutor,
) -> None:
    result = shapes.unpicklable_output.run(executor=local_executor)

    failed = result.stages["makes_lock"]
    assert failed.status is StageStatus.FAILED
    assert "'makes_lock'" in str(failed.error)
    assert "lock" in str(failed.error)
    assert "Traceback" not in str(failed.error)
    assert result.stages["uses_lock"].status is StageStatus.CANCELLED


def test_a_module_the_workers_cannot_import_is_named_in_the_error(
    local_executor: DaskExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "driver_only_stages.py").write_text(
        "from flowkit import stage\n\n@stage\ndef driver_only(x: int) -> int:\n    return x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # the driver sees it; the workers never did
    module = __import__("driver_only_stages")
    try:
        result = Pipeline.from_module(module).run({"x": 1}, executor=local_executor)
    finally:
        del sys.modules["driver_only_stages"]

    error = result.stages["driver_only"].error
    assert isinstance(error, ImportError)
    assert "stage 'driver_only' cannot be loaded on Dask worker tcp://127.0.0.1:" in str(error)


# -- worker loss -----------------------------------------------------------------------------


def _kill_when_started(marker: Path, killed: list[int]) -> None:
    _wait_for(marker, STARTUP_S)
    pid = int(marker.read_text())
    os.kill(pid, signal.SIGKILL)
    killed.append(pid)


def test_a_worker_killed_mid_stage_is_rescheduled_by_dask_not_a_failed_attempt(
    dask_executor: DaskExecutor, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    killed: list[int] = []
    killer = threading.Thread(
        target=_kill_when_started, args=(tmp_path / "victim.pid", killed), daemon=True
    )
    killer.start()

    result = shapes.killing.run({"workdir": str(tmp_path)}, executor=dask_executor)
    killer.join(STARTUP_S)

    assert result.status is PipelineStatus.SUCCESS
    victim = result.stages["victim"]
    assert victim.attempts == 1  # no retries configured: Dask ran the task again
    assert killed
    assert victim.output != f"survived in {killed[0]}"
    assert result["after_victim"] == len(victim.output)
    assert not [e for e in events if e["event"] == "stage.retrying"]
    lost = [e for e in events if e["event"] == "stage.worker_lost"]
    assert [(e["stage"], e["attempt"], e["rescheduled"]) for e in lost] == [("victim", 1, True)]
    assert lost[0]["worker"].startswith("tcp://127.0.0.1:")


# -- lifecycle -------------------------------------------------------------------------------


def test_a_private_cluster_lives_for_one_run_when_not_kept() -> None:
    executor = DaskExecutor(n_workers=1)
    pipeline = Pipeline([FunctionStage(os.getpid, name="pid")], name="pids")

    first = pipeline.run(executor=executor)

    assert first.ok
    assert executor.client is None
    with pytest.raises(ProcessLookupError):
        os.kill(first["pid"], 0)  # the worker process is gone
    second = pipeline.run(executor=executor)  # reusable: a new cluster for the new run
    assert second.ok
    assert second["pid"] != first["pid"]


def test_a_given_client_is_left_running(remote_address: str) -> None:
    with distributed.Client(remote_address, set_as_default=False) as client:
        executor = DaskExecutor(client)

        first = shapes.chain.run({"x": 1}, executor=executor)
        second = shapes.chain.run({"x": 2}, executor=executor)

        assert (first["third"], second["third"]) == ("20!", "30!")
        assert client.status == "running"


def test_an_unreachable_scheduler_is_one_clear_error() -> None:
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        executor = DaskExecutor("tcp://127.0.0.1:1")

        with pytest.raises(OSError, match=r"tcp://127.0.0.1:1.*start a scheduler there"):
            shapes.chain.run({"x": 1}, executor=executor)
    assert executor.client is None


def test_cluster_options_need_the_private_cluster() -> None:
    with pytest.raises(TypeError, match="n_workers"):
        DaskExecutor("tcp://127.0.0.1:8786", n_workers=2)
