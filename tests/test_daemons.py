"""Daemon threads are reused across runs and jobs (`flowkit._daemons`)."""

from __future__ import annotations

import contextvars
import os
import threading
import time
import warnings
from collections.abc import Iterator

import pytest

from flowkit import Pipeline, _daemons, stage

TIMEOUT_S = 10.0

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker")


def _wait_parked(count: int) -> None:
    """Until ``count`` threads are parked (a finished job's thread parks right after it)."""
    deadline = time.monotonic() + TIMEOUT_S
    while _daemons._parking.parked < count:
        assert time.monotonic() < deadline, "no thread parked"
        time.sleep(0.001)


@pytest.fixture
def fresh_parking() -> Iterator[None]:
    """No thread parked from an earlier test, and a long idle time."""
    saved, idle = _daemons._parking, _daemons.IDLE_S
    _daemons._parking, _daemons.IDLE_S = _daemons._Parking(), 30.0
    yield
    _daemons._parking, _daemons.IDLE_S = saved, idle


@pytest.mark.usefixtures("fresh_parking")
def test_a_threads_run_reuses_the_worker_of_the_run_before() -> None:
    idents: list[int] = []

    @stage
    def where() -> int:
        idents.append(threading.get_ident())
        return 1

    pipeline = Pipeline([where])
    pipeline.run(executor="threads")
    _wait_parked(1)
    before = threading.active_count()
    pipeline.run(executor="threads")
    assert idents[0] == idents[1]
    assert before == threading.active_count()


@pytest.mark.usefixtures("fresh_parking")
def test_a_busy_thread_is_not_handed_a_job() -> None:
    release, idents = threading.Event(), []

    def blocked() -> None:
        idents.append(threading.get_ident())
        release.wait(TIMEOUT_S)

    done = threading.Event()

    def second() -> None:
        idents.append(threading.get_ident())
        done.set()

    _daemons.start(blocked, "flowkit-test")
    _daemons.start(second, "flowkit-test")
    assert done.wait(TIMEOUT_S)
    release.set()
    assert idents[0] != idents[1]


@pytest.mark.usefixtures("fresh_parking")
def test_each_job_starts_in_an_empty_context_under_its_own_name() -> None:
    seen: list[tuple[str | None, str]] = []
    done = threading.Event()

    def first() -> None:
        marker.set("left over")

    def second() -> None:
        seen.append((marker.get(None), threading.current_thread().name))
        done.set()

    _daemons.start(first, "flowkit-first")
    _wait_parked(1)
    _daemons.start(second, "flowkit-second")
    assert done.wait(TIMEOUT_S)
    assert seen == [(None, "flowkit-second")]


@pytest.mark.usefixtures("fresh_parking")
def test_a_parked_thread_ends_after_the_idle_time() -> None:
    _daemons.IDLE_S = 0.01
    threads: list[threading.Thread] = []
    started = threading.Event()

    def job() -> None:
        threads.append(threading.current_thread())
        started.set()

    _daemons.start(job, "flowkit-idle")
    assert started.wait(TIMEOUT_S)
    threads[0].join(TIMEOUT_S)
    assert not threads[0].is_alive()
    assert _daemons._parking.parked == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.usefixtures("fresh_parking")
def test_a_forked_child_starts_new_threads() -> None:
    _daemons.start(lambda: None, "flowkit-parent")
    _wait_parked(1)
    with warnings.catch_warnings():  # Python 3.12 warns of fork() with threads running
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: the parent's parked thread does not exist here
        done = threading.Event()
        _daemons.start(done.set, "flowkit-child")
        os._exit(0 if done.wait(TIMEOUT_S) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
