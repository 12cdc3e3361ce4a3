"""What ``flowkit run`` needs besides click wiring: the executor from the options, SIGTERM
as Ctrl-C, exit codes, and leaving promptly after an interrupt."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any, NoReturn

import click

from flowkit._results import PipelineStatus

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = {
    PipelineStatus.SUCCESS: EXIT_OK,
    PipelineStatus.FAILED: EXIT_FAILED,
    PipelineStatus.CANCELLED: EXIT_INTERRUPTED,
}
EXECUTOR_NAMES = ("threads", "sequential", "processes", "async", "dask")


class UsageFailure(click.ClickException):
    """An error the user must fix before the run can happen (exit code 2)."""

    exit_code = EXIT_USAGE


def make_executor(name: str | None, address: str | None) -> Any:
    """The ``executor=`` argument for ``--executor NAME`` and ``--dask-address ADDR``.

    Raises:
        click.UsageError: An address without the dask executor, or Dask is not installed.
    """
    if address is not None and name not in (None, "dask"):
        raise click.UsageError(f"--dask-address needs --executor dask, not --executor {name}")
    if name != "dask" and address is None:
        return name
    try:
        from flowkit.executors import DaskExecutor
    except ImportError as error:
        raise click.UsageError(
            f'--executor dask needs Dask: pip install "flowkit[dask]" ({error})'
        ) from None
    return DaskExecutor(address)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Make SIGTERM interrupt the run exactly like Ctrl-C: the engine then cancels what has
    not finished and returns a CANCELLED result.

    The SIGINT handler in force is called, so the async executor's event loop (which
    replaces it while it runs) cancels its tasks gracefully; otherwise KeyboardInterrupt is
    raised in the main thread.
    """

    def interrupt(signum: int, frame: FrameType | None) -> None:
        on_sigint = signal.getsignal(signal.SIGINT)
        if callable(on_sigint):
            on_sigint(signal.SIGINT, frame)
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def leave(code: int) -> NoReturn:
    """Exit with ``code``; after an interrupt, without waiting for abandoned stages."""
    if code == EXIT_INTERRUPTED:
        # A stage abandoned at the interrupt may still run in a thread that the interpreter
        # would join at exit (the async executor's default thread pool does): the user asked
        # to stop, so exit now. Everything to keep (logs, summary, result JSON) is written.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    sys.exit(code)
