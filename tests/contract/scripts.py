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
def bystander() -> str:
    return "ran"


@stage
def after(
    first: int, interrupts: int = 0, exits: int = 0, aborts: int = 0, waits_for_signal: int = 0
) -> str:
    return "never"


SCENARIOS = {
    "keyboard_interrupt": interrupts,
    "system_exit": exits,
    "base_exception": aborts,
    "signal": waits_for_signal,
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


def main(scenario: str, spec: str, workdir: str) -> None:
    stages = [first, SCENARIOS[scenario], after, bystander]
    executor = make_executor(spec)
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
    report = {
        "raised": type(raised).__name__ if raised else None,
        "raised_pipeline_interrupted": bool(interrupted and isinstance(raised, interrupted)),
        "raised_keyboard_interrupt": isinstance(raised, KeyboardInterrupt),
        "events": [[e["event"], e.get("stage")] for e in events],
        **summary(result),
    }
    print("RESULT", json.dumps(report), flush=True)


def command(scenario: str, spec: str, workdir: str) -> list[str]:
    """The command running ``scenario`` (stages stay importable as ``contract.scripts``,
    which the processes executor and Dask workers need; ``__main__`` would not be)."""
    code = "import sys; from contract.scripts import main; main(*sys.argv[1:])"
    return [sys.executable, "-c", code, scenario, spec, workdir]


def environment() -> dict[str, str]:
    """The environment of a scenario's process: ``contract`` importable."""
    paths = [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def read_report(stdout: str, stderr: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the run printed no result\nstdout:\n{stdout}\nstderr:\n{stderr}"
    report: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return report


def run_scenario(scenario: str, spec: str, workdir: str) -> dict[str, Any]:
    """Run ``scenario`` in a subprocess; fail the test if it hangs."""
    import pytest

    try:
        done = subprocess.run(
            command(scenario, spec, workdir),
            capture_output=True,
            text=True,
            env=environment(),
            timeout=HARD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{scenario} on {spec}: run() hung for {HARD_TIMEOUT_S} s")
    return read_report(done.stdout, done.stderr)
