"""Calling a stage once: timeouts for sync and async stages, and the context argument."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from flowkit._stage import Stage
from flowkit.errors import StageTimeoutError


def call_in_thread(fn: Callable[[], Any], name: str, timeout: float) -> Any:
    """Run ``fn`` in a daemon thread and wait at most ``timeout`` seconds for it.

    A thread cannot be killed: on timeout it is abandoned (being a daemon, it never keeps
    the interpreter alive) and its late result is discarded.
    """
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()

    def target() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            outcome.append((False, error))
        finally:
            done.set()

    threading.Thread(target=target, name=f"flowkit-{name}", daemon=True).start()
    if not done.wait(timeout):
        raise StageTimeoutError(name, timeout)
    ok, value = outcome[0]
    if ok:
        return value
    raise value


async def await_with_timeout(awaitable: Any, name: str, timeout: float | None) -> Any:
    """Await ``awaitable``; past ``timeout`` it is cancelled and ``StageTimeoutError`` raised."""
    if timeout is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except TimeoutError:
        raise StageTimeoutError(name, timeout) from None


def call_sync(stage: Stage, kwargs: dict[str, Any], name: str) -> Any:
    """Call ``stage`` once from synchronous code, honouring its timeout.

    An async stage runs on an event loop of its own in the calling thread, so its timeout
    really cancels it.
    """
    timeout = stage.timeout
    if stage.is_async:
        return asyncio.run(await_with_timeout(stage.execute(kwargs), name, timeout))
    if timeout is None:
        return stage.execute(kwargs)
    return call_in_thread(lambda: stage.execute(kwargs), name, timeout)
