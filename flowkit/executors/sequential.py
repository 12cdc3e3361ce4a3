"""The ``sequential`` executor: every call runs inline, in the calling thread, one at a time.

The engine hands out the ready stage with the smallest index first, so stages run exactly
in ``pipeline.order`` (retries aside). A retry delay is a sleep: there is nothing else to do.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from flowkit._calls import Call, run_here

if TYPE_CHECKING:
    from flowkit._schedule import Report, Scheduler


class InlinePool:
    """Runs each call as it is submitted; `wait` returns its outcome. The scheduler sees
    ``inline`` and runs its lean inline loop instead (`flowkit._schedule`)."""

    inline = True
    capacity = 1
    timeouts = True  # a timed call runs in a helper thread (see flowkit._calls)

    def __init__(self) -> None:
        self._done: list[Report] = []

    def open(self, scheduler: Scheduler) -> None:
        self._done = []

    def submit(self, call: Call) -> None:
        ok, value = run_here(call)
        self._done.append((call, ok, value, None))

    def wait(self, timeout: float | None) -> list[Report]:
        done = self._done
        if done:
            self._done = []
            return done
        if timeout:
            time.sleep(timeout)  # only retry timers are left
        return done

    def cancel(self, call: Call) -> None:
        """Nothing to stop: a call ends before `submit` returns."""

    def close(self) -> None:
        self._done = []

    def __repr__(self) -> str:
        return "InlinePool()"


def sequential_pool(max_workers: Any = None) -> InlinePool:
    """The pool of ``executor="sequential"`` (``max_workers`` does not apply)."""
    return InlinePool()
