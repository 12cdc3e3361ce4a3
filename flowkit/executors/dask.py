"""Run stages on a Dask cluster (placeholder: being implemented)."""

from __future__ import annotations

from typing import Any


class DaskExecutor:
    """Runs each stage call as a task on a Dask cluster."""

    def __init__(self, address: Any = None) -> None:
        raise NotImplementedError("DaskExecutor is not implemented yet")
