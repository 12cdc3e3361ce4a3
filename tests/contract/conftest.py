"""Fixtures of the contract suite: every test taking ``executor`` runs once per executor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from contract.harness import CONCURRENT, EXECUTORS, make_executor, touch


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    """One real ``LocalCluster`` of two single-threaded worker processes for the session."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
            # Even without a dashboard the scheduler serves /health over HTTP, by default
            # on port 8787, which another cluster on this machine may hold.
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


def _spec(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if name == "dask":
        client = request.getfixturevalue("dask_cluster")
        return f"dask:{client.scheduler.address}"
    return name


def _executor(request: pytest.FixtureRequest, spec: str) -> Any:
    client = request.getfixturevalue("dask_cluster") if spec.startswith("dask") else None
    return make_executor(spec, client)


@pytest.fixture(params=EXECUTORS)
def executor_spec(request: pytest.FixtureRequest) -> str:
    """The executor as a string a subprocess can rebuild (``dask:ADDRESS`` for Dask)."""
    return _spec(request)


@pytest.fixture
def executor(request: pytest.FixtureRequest, executor_spec: str) -> Any:
    """What to pass as ``executor=``: each of sequential, threads, async, processes, a Dask
    LocalCluster and a fake executor object."""
    return _executor(request, executor_spec)


@pytest.fixture(params=CONCURRENT)
def concurrent_executor(request: pytest.FixtureRequest) -> Any:
    """The executors that run at least two calls at once (all but sequential)."""
    return _executor(request, _spec(request))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A directory stages share through files (they may run in other processes); hooks,
    which run in the driver, find it in ``CONTRACT_WORKDIR``. At teardown the ``release``
    file lets every stage still waiting on it end."""
    monkeypatch.setenv("CONTRACT_WORKDIR", str(tmp_path))
    yield str(tmp_path)
    touch(str(tmp_path), "release")


@pytest.fixture
def events(workdir: str) -> Iterator[list[dict[str, Any]]]:
    """Every structlog event of the test, in order. Each stage event also leaves a marker
    file ``<stage>@<event>`` in ``workdir``, so stages (wherever they run) can wait for the
    driver to have reached a state."""

    def mark(logger: object, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if "stage" in event:
            touch(workdir, f"{event['stage']}@{event['event']}")
        return event

    with capture_logs(processors=[mark]) as captured:
        yield captured


@pytest.fixture
def failing_log_sink() -> Iterator[list[Any]]:
    """A log sink that raises on ``logged_a``'s ``stage.succeeded`` (flowkit's own failure,
    not the stage's); yields the events that got through."""

    def explode(logger: object, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if event["event"] == "stage.succeeded" and event.get("stage") == "logged_a":
            raise OSError("log sink failed")
        return event

    capture = structlog.testing.LogCapture()
    structlog.configure(processors=[explode, capture])
    yield capture.entries
    structlog.reset_defaults()
