"""What ``flowkit run`` needs besides click wiring: the executor from the options
(``run()`` itself treats SIGTERM like Ctrl-C)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowkit.cli._usage import UsageFailure

EXECUTOR_NAMES = ("threads", "sequential", "processes", "async", "dask")


def make_executor(name: str | None, address: str | None) -> Any:
    """The ``executor=`` argument for ``--executor NAME`` and ``--dask-address ADDR``.

    Raises:
        UsageFailure: An address without the dask executor, or Dask is not installed.
    """
    if address is not None and name not in (None, "dask"):
        raise UsageFailure(f"--dask-address needs --executor dask, not --executor {name}")
    if name != "dask" and address is None:
        return name
    try:
        from flowkit.executors import DaskExecutor
    except ImportError as error:
        raise UsageFailure(
            f'--executor dask needs Dask: pip install "flowkit[dask]" ({error})'
        ) from None
    return DaskExecutor(address)


def parse_limits(values: Sequence[str]) -> dict[str, int]:
    """``--limit TAG=N`` (repeatable) as ``limits=``; a malformed one is a usage error."""
    limits: dict[str, int] = {}
    for value in values:
        tag, sep, number = value.partition("=")
        if not sep or not tag.strip() or not number.strip().isdigit() or int(number) < 1:
            message = f"{value!r} is not TAG=N with N an integer >= 1, e.g. --limit db=2"
            raise UsageFailure(message, option="--limit")
        limits[tag.strip()] = int(number)
    return limits
