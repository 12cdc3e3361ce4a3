"""Async stages: fake I/O with ``asyncio.sleep``, awaited concurrently on one event loop.

``user`` and ``orders`` both depend only on the input ``user_id``, so they run at the same
time: the run takes about as long as the slower of the two, not their sum. ``summary`` is a
plain sync stage in the same pipeline (under the async executor it runs in a worker
thread, so it never blocks the loop).

Run it:

    flowkit run examples/async_pipeline.py:pipeline --executor async -i user_id=7

or from Python: ``python examples/async_pipeline.py`` runs it twice, once with
``pipeline.run(..., executor="async")`` (from sync code) and once with
``await pipeline.run_async(...)`` (from inside a running event loop).
"""

from __future__ import annotations

import asyncio
import time

from flowkit import Pipeline, stage

LATENCY_S = 0.2  # the fake network round trip


@stage(timeout=2, retries=1)
async def user(user_id: int) -> dict[str, object]:
    """Fetch the user record (fake I/O)."""
    await asyncio.sleep(LATENCY_S)
    return {"id": user_id, "name": f"user-{user_id}"}


@stage(timeout=2, retries=1)
async def orders(user_id: int) -> list[float]:
    """Fetch the user's order amounts (fake I/O)."""
    await asyncio.sleep(LATENCY_S)
    return [19.5, 5.25, 100.0]


@stage
def summary(user: dict[str, object], orders: list[float]) -> str:
    """A sync stage mixing both results."""
    return f"{user['name']}: {len(orders)} orders, {sum(orders):.2f} in total"


pipeline = Pipeline.from_module(__name__, name="async_pipeline")


async def main() -> None:
    """Run the pipeline from inside an event loop, as an async web handler would."""
    result = await pipeline.run_async({"user_id": 8})
    result.raise_on_failure()
    print(f"run_async: {result['summary']} ({result.duration:.2f}s)")


if __name__ == "__main__":
    start = time.perf_counter()
    result = pipeline.run({"user_id": 7}, executor="async")
    result.raise_on_failure()
    elapsed = time.perf_counter() - start
    print(f"executor='async': {result['summary']} ({elapsed:.2f}s for two {LATENCY_S}s calls)")
    asyncio.run(main())
