"""Pipelines run in a subprocess by the interrupt and BaseException tests, so a run that
hangs or lets a BaseException escape fails its test instead of the suite.

`command(SCENARIO, EXECUTOR_SPEC, WORKDIR)` is the command line; it prints one line
``RESULT {json}``: what ``run()`` raised (if anything) and the result it returned or carried.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

import flowkit
from contract.harness import make_executor, touch, wait_for
from flowkit import Pipeline, PipelineResult, stage

TESTS = Path(__file__).parent.parent
HARD_TIMEOUT_S = 30  # a run that takes longer hangs


class Abort(BaseException):
    """A BaseException that is neither an Exception nor an interrupt."""


@stage
def first() -> int:
    return 1


@stage
def interrupts(first: int) -> int:
    raise KeyboardInterrupt


@stage
def exits(first: int) -> int:
    sys.exit(3)


@stage(retries=2)
def aborts(first: int) -> int:
    raise Abort("abort")


@stage
def waits_for_signal(first: int, workdir: str) -> int:
    touch(workdir, "started")
    wait_for(workdir, "release", limit=30)
    return 2


@stage
def finishes_soon(first: int, workdir: str) -> int:
    touch(workdir, "started")
    wait_for(workdir, "release", limit=30)
    time.sleep(0.3)  # well inside the 1 s an interrupt waits for running stages
    return 2


@stage
def bystander() -> str:
    return "ran"


@stage
def after(
    *,
    first: int,
    interrupts: int = 0,
    exits: int = 0,
    aborts: int = 0,
    waits_for_signal: int = 0,
    finishes_soon: int = 0,
) -> str:
    return "never"


SCENARIOS = {
    "keyboard_interrupt": interrupts,
    "system_exit": exits,
    "base_exception": aborts,
    "signal": waits_for_signal,
    "signal_then_finish": finishes_soon,
}


def summary(result: PipelineResult | None) -> dict[str, Any]:
    if result is None:
        return {}
    return {
        "status": result.status.value,
        "stages": {name: r.status.value for name, r in result.stages.items()},
        "errors": {name: type(r.error).__name__ for name, r in result.stages.items() if r.error},
        "attempts": {name: r.attempts for name, r in result.stages.items()},
        "outputs": {name: repr(value) for name, value in result.outputs.items()},
    }


def run_one(scenario: str, executor: Any, workdir: str) -> dict[str, Any]:
    stages = [first, SCENARIOS[scenario], after, bystander]
    raised: BaseException | None = None
    result = None
    with capture_logs() as events:
        try:
            result = Pipeline(stages, name=scenario, fail_fast=False).run(
                {"workdir": workdir}, executor=executor
            )
        except BaseException as error:  # what escaped run(), reported to the test
            raised = error
            result = getattr(error, "result", None)
    interrupted = getattr(flowkit, "PipelineInterrupted", None)
    return {
        "scenario": scenario,
        "raised": type(raised).__name__ if raised else None,
        "raised_pipeline_interrupted": bool(interrupted and isinstance(raised, interrupted)),
        "raised_keyboard_interrupt": isinstance(raised, KeyboardInterrupt),
        "events": [[e["event"], e.get("stage")] for e in events],
        **summary(result),
    }


def main(scenarios: str, spec: str, workdir: str) -> None:
    """Run each of the comma-separated ``scenarios`` in turn, printing a report for each."""
    for scenario in scenarios.split(","):
        report = run_one(scenario, make_executor(spec), workdir)
        print("RESULT", json.dumps(report), flush=True)


def command(scenarios: str, spec: str, workdir: str) -> list[str]:
    """The command running ``scenarios`` (stages stay importable as ``contract.scripts``,
    which the processes executor and Dask workers need; ``__main__`` would not be)."""
    code = "import sys; from contract.scripts import main; main(*sys.argv[1:])"
    return [sys.executable, "-c", code, scenarios, spec, workdir]


def environment() -> dict[str, str]:
    """The environment of a scenario's process: ``contract`` importable."""
    paths = [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def read_reports(stdout: str) -> dict[str, dict[str, Any]]:
    """The reports a scenario process printed, by scenario."""
    prefix = "RESULT "
    reports = [
        json.loads(line[len(prefix) :]) for line in stdout.splitlines() if line.startswith(prefix)
    ]
    return {report["scenario"]: report for report in reports}


class ScenarioRuns:
    """Runs scenarios in subprocesses, several per process to save start-up time, and
    remembers the reports; a process that hangs fails the tests of its scenarios."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._runs: dict[tuple[str, str], tuple[dict[str, dict[str, Any]], str]] = {}

    def report(self, scenario: str, spec: str, together: tuple[str, ...]) -> dict[str, Any]:
        import pytest

        key = (",".join(together), spec)
        if key not in self._runs:
            self._runs[key] = self._run(key[0], spec)
        reports, failure = self._runs[key]
        if scenario not in reports:
            pytest.fail(f"{scenario} on {spec}: no report. {failure}")
        return reports[scenario]

    def _run(self, scenarios: str, spec: str) -> tuple[dict[str, dict[str, Any]], str]:
        workdir = self.workdir / f"{spec.partition(':')[0]}-{len(self._runs)}"
        workdir.mkdir()
        try:
            done = subprocess.run(
                command(scenarios, spec, str(workdir)),
                capture_output=True,
                text=True,
                env=environment(),
                timeout=HARD_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as hung:
            output = hung.stdout.decode() if isinstance(hung.stdout, bytes) else hung.stdout or ""
            return read_reports(output), f"run() hung: no result within {HARD_TIMEOUT_S} s"
        return read_reports(done.stdout), f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
