"""A stage that blocks until the process is interrupted (for the SIGTERM/SIGINT tests)."""

import threading

from flowkit import Pipeline, stage

_never = threading.Event()


@stage
def quick() -> int:
    return 1


@stage
def slow(quick: int) -> int:
    _never.wait(60)  # the test interrupts the run long before this returns
    return quick


@stage
def final(slow: int) -> int:
    return slow


pipeline = Pipeline.from_module(__name__, name="slow")
