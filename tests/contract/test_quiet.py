"""A run with info events filtered out (the engine's hot path: no event, no result object,
on sequential and threads no call object per plain stage) ends exactly as a run whose
events are listened to, on every executor: statuses, attempts, outputs and errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from structlog.testing import capture_logs

from contract.harness import bump
from flowkit import Pipeline, PipelineResult, stage


@stage
def head(n: int) -> int:
    return n


@stage
def middle(head: int) -> int:
    return head + 1


@stage(retries=2)
def flaky_step(middle: int, workdir: str) -> int:
    if bump(workdir, "flaky_step") == 1:
        raise ConnectionError("first attempt fails")
    return middle * 10


@stage
def broken_step(middle: int) -> int:
    raise ValueError("always")


@stage
def after_broken(broken_step: int) -> int:
    return broken_step


@stage
def tail(flaky_step: int, middle: int, head: int) -> tuple[int, int, int]:
    return (flaky_step, middle, head)


@contextmanager
def events_filtered_out() -> Iterator[None]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.reset_defaults()


def outcome(result: PipelineResult) -> dict[str, Any]:
    return {
        name: (r.status, r.attempts, r.output, type(r.error).__name__ if r.error else None)
        for name, r in result.stages.items()
    }


def test_a_quiet_run_ends_as_a_listened_one(executor: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(
        [head, middle, flaky_step, broken_step, after_broken, tail], fail_fast=False
    )
    runs = []
    for quiet in (True, False):
        workdir = tmp_path / ("quiet" if quiet else "heard")
        workdir.mkdir()
        with events_filtered_out() if quiet else capture_logs():
            runs.append(pipeline.run({"n": 1, "workdir": str(workdir)}, executor=executor))

    quiet_run, heard_run = runs
    assert outcome(quiet_run) == outcome(heard_run)
    assert quiet_run["tail"] == (20, 2, 1)
    assert quiet_run.stages["flaky_step"].attempts == 2
    assert quiet_run.stages["after_broken"].status.value == "cancelled"
