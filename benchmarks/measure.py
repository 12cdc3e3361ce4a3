"""Timing and the benchmark's records: cells, rows, goals; structlog set-ups for workload E."""

from __future__ import annotations

import gc
import logging
import math
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

PLAIN, SEQ, THREADS = "plain", "flowkit seq", "flowkit threads"
PEER_COLUMNS = ("hamilton", "pipefunc")
COLUMNS = (PLAIN, SEQ, THREADS, *PEER_COLUMNS)
US, SECONDS, TIMES = "us/stage", "s", "x"


@dataclass
class Cell:
    """One framework's measurement in one row: the median (in the row's unit), or a note
    saying why there is none (``RecursionError``, not installed, skipped)."""

    value: float | None = None
    note: str | None = None
    samples: list[float] = field(default_factory=list)  # seconds per run

    @property
    def best(self) -> float | None:
        """The fastest run, in the row's unit (less disturbed by a busy machine)."""
        if self.value is None or not self.samples:
            return None
        return self.value * min(self.samples) / statistics.median(self.samples)


@dataclass
class Row:
    workload: str
    variant: str
    unit: str
    cells: dict[str, Cell] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)

    def value(self, column: str) -> float | None:
        cell = self.cells.get(column)
        return None if cell is None else cell.value


@dataclass
class Goal:
    name: str
    passed: bool
    detail: str


def describe(error: BaseException) -> str:
    """The table's note for a framework that raised."""
    if isinstance(error, RecursionError):
        return "RecursionError"
    return f"{type(error).__name__}: {str(error)[:80]}"


def measure(
    fn: Callable[[], Any],
    reps: int,
    *,
    per: float = 1,
    expected: Any = None,
    check: bool = True,
    warmup: bool = True,
    budget_s: float = math.inf,
    keep: list[Any] | None = None,
    min_sample_s: float = 0.02,
) -> Cell:
    """Time ``fn``: one untimed warm-up call, then ``reps`` samples; the cell holds the
    median seconds per call divided by ``per``. Every output is compared with ``expected``
    (unless ``check`` is false). ``keep`` receives the last output.

    Like :mod:`timeit`, a sample times as many back-to-back calls as fill ``min_sample_s``:
    a lone short call right after a full collection runs with cold caches and measures up to
    twice slower than the same call in a loop. The collector runs before each sample, so one
    sample's garbage is not charged to the next; collections a call triggers itself count.
    Short calls are warmed up for two samples' worth of calls before the first sample.
    A warm-up slower than ``budget_s / reps`` becomes the only sample, so a peer that needs
    a minute is run once rather than seven times.
    """
    samples: list[float] = []
    value: Any = None
    calls = 1
    try:
        if warmup:
            gc.collect()
            start = time.perf_counter()
            value = fn()
            elapsed = time.perf_counter() - start
            _check(value, expected, check)
            if elapsed * reps > budget_s:
                samples = [elapsed]
                reps = 0
            elif elapsed < min_sample_s:
                # The first call pays one-off costs (flowkit plans a run on its first call):
                # size the samples on a second call, then keep calling for two samples'
                # worth, since short calls still measure slower for the first tens of ms.
                start = time.perf_counter()
                value = fn()
                elapsed = time.perf_counter() - start
                calls = max(1, min(1000, int(min_sample_s / max(elapsed, 1e-9))))
                for _ in range(2 * calls):
                    value = fn()
        for _ in range(reps):
            value = None
            gc.collect()
            start = time.perf_counter()
            for _ in range(calls):
                value = fn()
            samples.append((time.perf_counter() - start) / calls)
            _check(value, expected, check)
    except Exception as error:
        return Cell(None, describe(error))
    if keep is not None:
        keep.append(value)
    note = f"1 run ({samples[0]:.1f} s)" if reps == 0 else None
    return Cell(statistics.median(samples) / per, note, samples)


def _check(value: Any, expected: Any, check: bool) -> None:
    if check and value != expected:
        raise AssertionError(f"wrong output {value!r}, expected {expected!r}")


def scaled(cell: Cell, factor: float) -> Cell:
    """The same cell in another unit (e.g. seconds to microseconds)."""
    value = None if cell.value is None else cell.value * factor
    return Cell(value, cell.note, cell.samples)


# -- structlog set-ups (workload E) ----------------------------------------------------------


def quiet_logs() -> None:
    """flowkit's events filtered out: the configuration of every workload but E."""
    structlog.reset_defaults()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


@contextmanager
def log_config(kind: str) -> Iterator[Path | None]:
    """Configure structlog for ``kind`` (``filtered``, ``json`` or ``console``) and yield the
    log file (None when filtered). JSON and console both add the level and an ISO timestamp
    and write to a temporary file, one line per event, as a CLI run with ``--log-file`` would.
    """
    if kind == "filtered":
        quiet_logs()
        yield None
        return
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if kind == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"events.{kind}"
        with path.open("w") as stream:
            structlog.reset_defaults()
            structlog.configure(
                processors=[
                    structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso"),
                    renderer,
                ],
                wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
                logger_factory=structlog.WriteLoggerFactory(file=stream),
                cache_logger_on_first_use=True,
            )
            try:
                yield path
            finally:
                quiet_logs()


def count_lines(path: Path | None) -> int:
    """Lines written so far to ``path`` (0 for None)."""
    if path is None:
        return 0
    with path.open("rb") as stream:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 16), b""))


def direct_events(names: Sequence[str]) -> None:
    """The events of a successful flowkit run of stages ``names``, emitted with structlog
    directly: the floor that workload E compares flowkit's logging with."""
    log = structlog.get_logger("flowkit").bind(run_id=uuid.uuid4().hex, pipeline="chain")
    start = time.monotonic()
    log.info("pipeline.started", status="running", stages=len(names))
    for name in names:
        t0 = time.monotonic()
        log.info("stage.started", stage=name, status="running", attempt=1)
        log.info(
            "stage.succeeded",
            stage=name,
            status="success",
            attempt=1,
            duration_s=time.monotonic() - t0,
        )
    log.info(
        "pipeline.succeeded",
        status="success",
        duration_s=time.monotonic() - start,
        succeeded=len(names),
        failed=0,
        skipped=0,
        cancelled=0,
    )
