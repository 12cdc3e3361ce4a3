"""A nightly sales report with a bit of everything to look at: a fan-out over the days of a
month with flaky fetches (retried), a stage that fails once before it succeeds, a condition
that skips a stage, a parallel group, a cacheable stage, and a publish step that fails on
purpose when ``strict=true`` (its dependent is then cancelled).

Run it from Python (it succeeds):

    python examples/nightly.py

or with the CLI, keeping the events in a log and drawing the run afterwards:

    flowkit run examples/nightly.py:pipeline --log-file nightly.jsonl

With ``-i strict=true`` the publish step fails and ``archive`` is cancelled; see the run in
a browser with ``flowkit inspect nightly.jsonl --html nightly.html`` (docs/inspect.md).
"""

from __future__ import annotations

import itertools
import threading
import time

from flowkit import ParallelStage, Pipeline, stage

_lock = threading.Lock()
_calls: dict[str, itertools.count[int]] = {}


def _nth_call(key: str) -> int:
    """How many times ``key`` has been asked for in this process (1, 2, ...)."""
    with _lock:
        return next(_calls.setdefault(key, itertools.count(1)))


class WarehouseBusyError(ConnectionError):
    """The data warehouse asked us to come back later."""


@stage
def days(month: str = "2024-03", count: int = 12) -> list[str]:
    """The days of the month to report on."""
    return [f"{month}-{day:02d}" for day in range(1, count + 1)]


@stage(map_over="days", retries=2, backoff=0.05)
def sales(days: str) -> int:
    """One day's number of orders; every fifth day's first fetch times out."""
    time.sleep(0.04)
    if days.endswith(("05", "10")) and _nth_call(days) == 1:
        raise TimeoutError(f"warehouse did not answer for {days}")
    return 100 + sum(map(ord, days)) % 50


@stage(retries=2, backoff=0.1)
def totals(sales: list[int]) -> dict[str, int]:
    """Sum the month; the warehouse is busy on the first try."""
    time.sleep(0.05)
    if _nth_call("totals") == 1:
        raise WarehouseBusyError("warehouse busy: 12 queries queued")
    return {"orders": sum(sales), "days": len(sales)}


@stage(when=lambda totals: totals["orders"] > 10_000)
def alert(totals: dict[str, int]) -> str:
    """Page someone when the month is unusually big (it is not: skipped)."""
    return f"{totals['orders']} orders!"


def bar_chart(totals: dict[str, int]) -> str:
    time.sleep(0.12)
    return f"bars for {totals['days']} days"


def line_chart(totals: dict[str, int]) -> str:
    time.sleep(0.08)
    return f"line over {totals['days']} days"


charts = ParallelStage("charts", [bar_chart, line_chart])


@stage(cache=True)
def summary(totals: dict[str, int]) -> str:
    """The text of the report (cacheable: the same totals give the same text)."""
    time.sleep(0.03)
    return f"{totals['orders']} orders over {totals['days']} days"


@stage
def publish(summary: str, charts: dict[str, str], strict: bool = False) -> str:
    """Send the report; in strict mode the (pretend) mail server rejects it."""
    time.sleep(0.06)
    if strict:
        raise PermissionError("mail server refused the report: sender not allowed")
    return f"sent: {summary} with {len(charts)} charts"


@stage
def archive(publish: str) -> str:
    """Keep a copy of what was sent."""
    return f"archived ({len(publish)} characters)"


pipeline = Pipeline([days, sales, totals, alert, charts, summary, publish, archive], name="nightly")

if __name__ == "__main__":
    result = pipeline.run()
    result.raise_on_failure()
    print(result["archive"])
