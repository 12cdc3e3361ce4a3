"""Interrupts and other BaseExceptions on every executor (DESIGN §11.1), each run in a
subprocess so that a run that hangs or lets the exception escape fails only its test.

- A stage raising KeyboardInterrupt, SIGINT and SIGTERM: run() raises
  flowkit.PipelineInterrupted (a KeyboardInterrupt) whose .result is CANCELLED and keeps
  what finished.
- SystemExit or another BaseException in a stage: that stage FAILED (not retried), run()
  returns, nothing hangs.
"""

from __future__ import annotations

import signal
import subprocess
from typing import Any

import pytest

import flowkit
from contract.harness import touch, wait_for
from contract.scripts import HARD_TIMEOUT_S, ScenarioRuns, command, environment, read_reports

# One process per executor runs these in turn (a process start costs up to seconds).
BASE_EXCEPTIONS = ("system_exit", "base_exception", "keyboard_interrupt")


@pytest.fixture(scope="session")
def scenario_runs(tmp_path_factory: pytest.TempPathFactory) -> ScenarioRuns:
    return ScenarioRuns(tmp_path_factory.mktemp("scenarios"))


def run_scenario(runs: ScenarioRuns, scenario: str, spec: str) -> dict[str, Any]:
    return runs.report(scenario, spec, BASE_EXCEPTIONS)


def test_pipeline_interrupted_is_a_keyboard_interrupt_outside_flowkit_errors() -> None:
    interrupted = getattr(flowkit, "PipelineInterrupted", None)

    assert interrupted is not None, "flowkit.PipelineInterrupted is missing"
    assert issubclass(interrupted, KeyboardInterrupt)
    assert not issubclass(interrupted, Exception)
    assert "PipelineInterrupted" in flowkit.__all__


def test_a_stage_raising_keyboard_interrupt_interrupts_the_run(
    executor_spec: str, scenario_runs: ScenarioRuns
) -> None:
    report = run_scenario(scenario_runs, "keyboard_interrupt", executor_spec)

    assert report["raised_pipeline_interrupted"], report
    assert report["raised_keyboard_interrupt"]
    assert report["status"] == "cancelled"
    assert report["stages"]["first"] == "success"
    assert report["outputs"]["first"] == "1"
    assert report["stages"]["interrupts"] != "success"
    assert report["stages"]["after"] == "cancelled"
    assert report["events"][-1] == ["pipeline.cancelled", None]


def test_system_exit_in_a_stage_fails_that_stage_and_run_returns(
    executor_spec: str, scenario_runs: ScenarioRuns
) -> None:
    report = run_scenario(scenario_runs, "system_exit", executor_spec)

    assert report["raised"] is None, report
    assert report["status"] == "failed"
    assert report["stages"] == {
        "first": "success",
        "exits": "failed",
        "after": "cancelled",
        "bystander": "success",
    }
    assert report["errors"]["exits"] == "SystemExit"


def test_another_base_exception_fails_that_stage_without_retries(
    executor_spec: str, scenario_runs: ScenarioRuns
) -> None:
    report = run_scenario(scenario_runs, "base_exception", executor_spec)

    assert report["raised"] is None, report
    assert report["stages"]["aborts"] == "failed"
    assert report["errors"]["aborts"] == "Abort"
    assert report["attempts"]["aborts"] == 1  # retry_on is Exception: Abort is not retried
    assert report["stages"]["bystander"] == "success"


def interrupt(
    scenario: str, spec: str, workdir: str, signum: signal.Signals, release_at_once: bool
) -> dict[str, Any]:
    """Run ``scenario``, send ``signum`` once its stage runs, and return the report. The
    stage waits for ``release`` (30 s at most): sent right after the signal when
    ``release_at_once``, else only once the run ended."""
    with subprocess.Popen(
        command(scenario, spec, workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    ) as child:
        try:
            assert wait_for(workdir, "started", limit=HARD_TIMEOUT_S), "the stage never started"
            child.send_signal(signum)
            if release_at_once:
                touch(workdir, "release")
            # run() must not wait for a stage still running after 1 s, nor may its thread
            # keep the process alive.
            stdout, stderr = child.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            pytest.fail(f"the run did not end within 20 s of {signum.name}")
        finally:
            touch(workdir, "release")
    report = read_reports(stdout).get(scenario)
    assert report, f"no result\nstdout:\n{stdout}\nstderr:\n{stderr}"
    return report


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_interrupts_the_run_and_keeps_what_finished(
    executor_spec: str, workdir: str, signum: signal.Signals
) -> None:
    report = interrupt("signal", executor_spec, workdir, signum, release_at_once=False)

    assert report["raised_pipeline_interrupted"], report
    assert report["status"] == "cancelled"
    assert report["stages"]["first"] == "success"
    assert report["outputs"]["first"] == "1"
    assert report["stages"]["waits_for_signal"] == "cancelled"
    assert report["stages"]["after"] == "cancelled"
    assert report["events"][-1] == ["pipeline.cancelled", None]


@pytest.mark.parametrize("executor_spec", ["threads", "async", "processes"], indirect=True)
def test_a_stage_finishing_within_a_second_of_the_interrupt_keeps_its_result(
    executor_spec: str, workdir: str
) -> None:
    report = interrupt(
        "signal_then_finish", executor_spec, workdir, signal.SIGINT, release_at_once=True
    )

    assert report["raised_pipeline_interrupted"], report
    assert report["status"] == "cancelled"
    assert report["stages"]["finishes_soon"] == "success"
    assert report["outputs"]["finishes_soon"] == "2"
    assert report["stages"]["after"] == "cancelled"  # not started before the interrupt
