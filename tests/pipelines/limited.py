"""Four ``db`` stages on threads; each records how many ``db`` stages ran with it in the file
named by ``LIMITED_PEAK``, for ``flowkit run --limit db=N``."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from flowkit import Pipeline, stage

_lock = threading.Lock()
_active = [0, 0]  # running now, most at once


def _occupy() -> None:
    with _lock:
        _active[0] += 1
        _active[1] = max(_active)
    deadline = time.monotonic() + 1.0
    while _active[0] < 2 and time.monotonic() < deadline:
        time.sleep(0.005)  # waiting for a second db stage, which --limit db=1 never lets in
    with _lock:
        _active[0] -= 1
        Path(os.environ["LIMITED_PEAK"]).write_text(str(_active[1]))


@stage(tags={"db"})
def first() -> None:
    _occupy()


@stage(tags={"db"})
def second() -> None:
    _occupy()


pipeline = Pipeline([first, second], name="limited")
