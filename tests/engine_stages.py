"""Module-level stages whose worker processes (processes, Dask) import them by name."""

from __future__ import annotations

from flowkit import Pipeline, stage


@stage
def source() -> int:
    return 1


@stage
def breaks(source: int) -> int:
    raise ValueError(f"broken after {source}")  # the line a remote traceback must show


broken = Pipeline([source, breaks], name="broken")
