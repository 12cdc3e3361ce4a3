"""The threads executor's worker limit: ``max_workers`` defaults to ``min(32, cpu + 4)``."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from flowkit import Pipeline, stage

DEFAULT_WORKERS = min(32, (os.cpu_count() or 1) + 4)  # DESIGN §6


def peak_concurrency(width: int, **run_options: Any) -> int:
    """Run ``width`` independent 50 ms stages; return how many ran at once at most."""
    lock = threading.Lock()
    active, peak = [0], [0]

    def busy() -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1

    pipeline = Pipeline([stage(name=f"s{i}")(busy) for i in range(width)])
    pipeline.run(executor="threads", **run_options)
    return peak[0]


def test_no_more_stages_run_at_once_than_max_workers() -> None:
    assert 1 < peak_concurrency(12, max_workers=3) <= 3


def test_without_max_workers_the_default_limit_applies() -> None:
    assert 1 < peak_concurrency(DEFAULT_WORKERS + 4) <= DEFAULT_WORKERS
