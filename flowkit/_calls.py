"""``Call``: one attempt the engine wants run, and how a local executor runs it.

The engine (`flowkit._engine`) makes calls and takes their outcomes back; executors only run
them. Running a call here never raises: its outcome is ``(True, output)`` or ``(False, error)``
for any error, ``BaseException`` included, and the engine decides what that error means.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from flowkit import _daemons as daemons
from flowkit._stage import Stage
from flowkit.errors import StageTimeoutError

if TYPE_CHECKING:
    from flowkit._engine import Run

Outcome = tuple[bool, Any]


class Call:
    """One attempt of a stage, of one ``map_over`` item, or of a parallel group's child.

    Attributes:
        run: The run (or group of a run) the stage belongs to.
        node: The stage's index in that run's plan.
        item: The ``map_over`` item's index, or None.
        stage: The stage; ``kwargs`` are its arguments by name.
        attempt: 1-based, set when the attempt starts (``started``, monotonic).
        due: Monotonic time before which a retry must not start (0.0: at once).
        direct: A plain function to call with ``kwargs`` instead of the stage (the fast path;
            set by the engine only).
    """

    __slots__ = (
        "attempt",
        "direct",
        "due",
        "item",
        "kwargs",
        "node",
        "run",
        "stage",
        "started",
    )
    attempt: int
    started: float
    due: float

    def __init__(
        self,
        run: Run,
        node: int,
        stage: Stage,
        kwargs: dict[str, Any],
        direct: Callable[..., Any] | None = None,
        *,
        item: int | None = None,
    ) -> None:
        self.run = run
        self.node = node
        self.stage = stage
        self.kwargs = kwargs
        self.direct = direct
        self.item = item
        # ``attempt`` and ``started`` are set when the attempt starts, ``due`` when the
        # engine delays a retry: the only times they are read.

    @property
    def deadline(self) -> float | None:
        """Monotonic time past which this attempt has timed out, or None."""
        timeout = self.stage.timeout
        return None if timeout is None else self.started + timeout

    @property
    def name(self) -> str:
        """The stage's name."""
        return self.stage.name

    @property
    def key(self) -> Hashable:
        """A key unique within the run: ``(stage index, item)``, the stage index being a
        tuple of indices for a parallel group's child."""
        path = self.run.path
        return ((*path, self.node) if path else self.node, self.item)

    def __repr__(self) -> str:
        item = "" if self.item is None else f"[{self.item}]"
        return f"<Call {self.stage.name}{item} attempt {self.attempt}>"


def run_here(call: Call) -> Outcome:
    """Run ``call`` in this thread (its timeout in a helper thread) and pack its outcome."""
    try:
        direct = call.direct
        if direct is not None:
            return True, direct(**call.kwargs)
        return True, call_sync(call.stage, call.kwargs)
    except BaseException as error:  # noqa: BLE001 - every outcome goes back to the engine
        return False, error


async def run_on_loop(call: Call, slots: asyncio.Semaphore) -> Outcome:
    """Run ``call`` from the event loop: an async stage is awaited there (its timeout really
    cancels it), a sync one runs in a daemon thread, at most ``slots`` at once."""
    stage = call.stage
    try:
        if stage.is_async:
            return True, await await_with_timeout(stage.execute(call.kwargs), stage)
        async with slots:
            outcome: Outcome = await in_daemon_thread(asyncio.get_running_loop(), run_here, call)
            return outcome
    except asyncio.CancelledError:
        raise
    except BaseException as error:  # noqa: BLE001 - every outcome goes back to the engine
        return False, error


def call_in_thread(fn: Callable[[], Any], name: str, timeout: float) -> Any:
    """Run ``fn`` in a daemon thread and wait at most ``timeout`` seconds for it.

    A thread cannot be killed: on timeout it is abandoned (being a daemon, it never keeps
    the interpreter alive) and its late result is discarded.
    """
    outcome: list[Outcome] = []
    done = threading.Event()

    def target() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            outcome.append((False, error))
        finally:
            done.set()

    daemons.start(target, f"flowkit-{name}")
    if not done.wait(timeout):
        raise StageTimeoutError(name, timeout)
    ok, value = outcome[0]
    if ok:
        return value
    raise value


async def await_with_timeout(awaitable: Any, stage: Stage) -> Any:
    """Await ``awaitable``; past the stage's timeout it is cancelled (`StageTimeoutError`)."""
    if stage.timeout is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, stage.timeout)
    except TimeoutError:
        raise StageTimeoutError(stage.name, stage.timeout) from None


def call_sync(stage: Stage, kwargs: dict[str, Any]) -> Any:
    """Call ``stage`` once from synchronous code, honouring its timeout.

    An async stage runs on an event loop of its own in the calling thread, so its timeout
    really cancels it.
    """
    timeout = stage.timeout
    if stage.is_async:
        return asyncio.run(await_with_timeout(stage.execute(kwargs), stage))
    if timeout is None:
        return stage.execute(kwargs)
    return call_in_thread(lambda: stage.execute(kwargs), stage.name, timeout)


def in_daemon_thread(
    loop: asyncio.AbstractEventLoop, fn: Callable[[Call], Outcome], call: Call
) -> asyncio.Future[Any]:
    """Run ``fn(call)`` in a daemon thread (`flowkit._daemons`); the returned future gets
    its outcome."""
    future: asyncio.Future[Any] = loop.create_future()

    def settle(outcome: Outcome) -> None:
        if not future.done():
            future.set_result(outcome)

    def target() -> None:
        outcome = fn(call)
        # If the loop closed while this call was abandoned, its outcome is void.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, outcome)

    daemons.start(target, "flowkit-async")
    return future
