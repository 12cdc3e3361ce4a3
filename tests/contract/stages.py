"""Module-level stages of the contract suite, so every executor can run them (``processes``
and Dask import them by name). State crosses processes through files in ``workdir``, a
pipeline input; hooks run in the driver and find it in ``CONTRACT_WORKDIR``."""

from __future__ import annotations

from contract.harness import bump, stamp, wait_for
from flowkit import stage

# -- retries ---------------------------------------------------------------------------------


@stage(retries=2, backoff=0.05)
def flaky(workdir: str, fails: int) -> str:
    attempt = bump(workdir, "flaky")
    if attempt <= fails:
        raise ConnectionError(f"attempt {attempt} failed")
    return f"ok on attempt {attempt}"


@stage(retries=3, retry_on=KeyError)
def wrong_error(workdir: str) -> None:
    bump(workdir, "wrong_error")
    raise ValueError("not a KeyError")


@stage(retries=1, backoff=0.5)
def slow_retry(workdir: str) -> int:
    stamp(workdir, "slow_retry")
    attempt = bump(workdir, "slow_retry")
    if attempt == 1:
        raise ConnectionError("first attempt fails")
    return attempt


@stage
def bystander(workdir: str) -> str:
    stamp(workdir, "bystander")
    return "ran"


# -- map_over --------------------------------------------------------------------------------


@stage(map_over="items", retries=2)
def per_item(items: int, workdir: str) -> int:
    """Item ``i`` fails its first ``i % 3`` attempts."""
    attempt = bump(workdir, f"item{items}")
    if attempt <= items % 3:
        raise ConnectionError(f"item {items}: attempt {attempt} failed")
    return items * 10


@stage(map_over="items")
def breaks_on_big(items: int) -> int:
    if items >= 12:
        raise ValueError(f"too big: {items}")
    return items


@stage(map_over="items", retries=1, backoff=0.5)
def item_retry(items: int, workdir: str) -> int:
    stamp(workdir, f"item_retry{items}")
    if bump(workdir, f"item_retry{items}") == 1:
        raise ConnectionError(f"item {items} fails once")
    return items


# -- cache -----------------------------------------------------------------------------------


@stage(cache=True)
def cached_total(numbers: list[int], workdir: str) -> int:
    bump(workdir, "cached_total")
    return sum(numbers)


@stage
def after_cache(cached_total: int) -> int:
    return cached_total + 1


@stage(cache=True, map_over="items")
def cached_item(items: int, workdir: str) -> int:
    bump(workdir, f"cached_item{items}")
    return items * 2


# -- timeouts --------------------------------------------------------------------------------


@stage(timeout=0.5)
def stuck(workdir: str) -> str:
    wait_for(workdir, "release")
    return "too late"


# retries=2: under load a replacement worker process may take its attempt's whole second
# to start, so attempt 2 may time out too (the executor's cost, not what is tested here).
@stage(timeout=1.0, retries=2)
def stuck_once(workdir: str) -> int:
    attempt = bump(workdir, "stuck_once")
    if attempt == 1:
        wait_for(workdir, "release")
    return attempt


@stage(timeout=0.3)
def quick_with_timeout() -> str:
    return "in time"


@stage
def after_stuck(stuck: str) -> str:
    return stuck


# -- fail-fast -------------------------------------------------------------------------------


@stage
def boom() -> None:
    raise RuntimeError("boom")


@stage
def after_boom(boom: None) -> str:
    return "never"


@stage
def independent() -> str:
    return "independent"


@stage
def after_independent(independent: str) -> str:
    return independent + "!"


@stage(depends_on=["after_boom"])
def two_down() -> str:
    return "never"


@stage(retries=3, backoff=5.0)
def retry_forever(workdir: str) -> None:
    bump(workdir, "retry_forever")
    raise ConnectionError("still down")


@stage
def fails_while_retry_waits(workdir: str) -> None:
    wait_for(workdir, "retry_forever@stage.retrying")
    raise RuntimeError("boom while another stage waits to retry")


@stage
def fails_soon(workdir: str) -> None:
    wait_for(workdir, "outlives@stage.started")
    raise RuntimeError("fails while outlives runs")


@stage
def outlives(workdir: str) -> str:
    wait_for(workdir, "fails_soon@stage.failed")
    return "finished after the failure"


@stage
def queued(workdir: str) -> str:
    bump(workdir, "queued")
    return "should not start"


@stage
def after_outlives(outlives: str) -> str:
    return outlives


@stage
def fails_first(workdir: str) -> None:
    wait_for(workdir, "fails_later@stage.started")
    raise RuntimeError("the first failure")


@stage(retries=2)
def fails_later(workdir: str) -> None:
    wait_for(workdir, "fails_first@stage.failed")
    bump(workdir, "fails_later")
    raise ConnectionError("an attempt that fails after the fail-fast moment")
