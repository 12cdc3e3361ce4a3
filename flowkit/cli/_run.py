"""What ``flowkit run`` needs besides click wiring: the executor from the options and the
exit codes (``run()`` itself treats SIGTERM like Ctrl-C)."""

from __future__ import annotations

from typing import Any

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
