"""Shared fixtures of the flowkit test suite."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

LOCAL_EXECUTORS = ("sequential", "threads", "async")


@pytest.fixture(params=LOCAL_EXECUTORS)
def executor(request: pytest.FixtureRequest) -> str:
    """The name of a local executor; a test taking it runs once per executor."""
    return str(request.param)


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event emitted while the test runs, as dicts."""
    with capture_logs() as captured:
        yield captured


class Calls:
    """A thread-safe record of which stages ran, in call order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.names: list[str] = []

    def add(self, name: str) -> None:
        with self._lock:
            self.names.append(name)

    def count(self, name: str) -> int:
        with self._lock:
            return self.names.count(name)

    def __len__(self) -> int:
        with self._lock:
            return len(self.names)


@pytest.fixture
def calls() -> Calls:
    """A :class:`Calls` record that stages can append their name to."""
    return Calls()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event that blocked stage threads wait on; set at teardown so none outlives the test."""
    event = threading.Event()
    yield event
    event.set()
