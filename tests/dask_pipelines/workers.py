"""Stages that lose their Dask workers, for ``tests/test_dask_workers.py`` (workers import
them by name)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from flowkit import Pipeline, stage


@stage
def held(workdir: str) -> str:
    """The first run says where it runs and blocks until the test kills its worker; a run
    on the next worker returns at once."""
    marker = Path(workdir) / "held.pid"
    if not marker.exists():
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(str(os.getpid()))
        tmp.rename(marker)  # atomic: the test never reads a half-written pid
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the SIGKILL comes
            time.sleep(0.05)
    return f"ran in {os.getpid()}"


@stage
def after_held(held: str) -> int:
    return len(held)


survives = Pipeline([held, after_held], name="survives")


def _kill_own_worker(workdir: str, name: str) -> str:
    with (Path(workdir) / f"{name}.pids").open("a") as pids:
        pids.write(f"{os.getpid()}\n")  # each run leaves its pid behind first
    os.kill(os.getpid(), signal.SIGKILL)
    return "never"


@stage
def killer(workdir: str) -> str:
    """Kills every worker it lands on."""
    return _kill_own_worker(workdir, "killer")


@stage
def after_killer(killer: str) -> str:
    return killer


@stage
def bystander(workdir: str) -> str:
    return "fine"


kills_workers = Pipeline([killer, after_killer, bystander], name="kills_workers")


@stage(retries=1, backoff=0.0)
def retried_killer(workdir: str) -> str:
    """Kills every worker it lands on, and is retried once after Dask gives up."""
    return _kill_own_worker(workdir, "retried_killer")


kills_twice = Pipeline([retried_killer], name="kills_twice")
