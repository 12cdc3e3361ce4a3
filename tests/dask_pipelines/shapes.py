"""Pipelines of every shape the Dask executor must run exactly like the threads executor."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from flowkit import ParallelStage, Pipeline, StageContext, StageStatus, StageTimeoutError, stage


def _wait_for(path: Path, limit: float) -> bool:
    """Poll for ``path`` up to ``limit`` seconds (a stage blocking until the test says)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.02)
    return False


# -- chain: a -> b -> c --------------------------------------------------------------------


@stage
def first(x: int) -> int:
    return x + 1


@stage
def second(first: int) -> int:
    return first * 10


@stage
def third(second: int, suffix: str = "!") -> str:
    return f"{second}{suffix}"


chain = Pipeline([first, second, third], name="chain")

# -- diamond: source -> left, right -> joined ------------------------------------------------


@stage
def source(x: int) -> list[int]:
    return list(range(x))


@stage
def left(source: list[int]) -> int:
    return sum(source)


@stage
def right(source: list[int]) -> int:
    return max(source, default=0)


@stage
def joined(left: int, right: int) -> dict[str, int]:
    return {"left": left, "right": right}


diamond = Pipeline([source, left, right, joined], name="diamond")

# -- fan-in: five independent parts feed one stage -----------------------------------------


@stage
def part0(x: int) -> int:
    return x


@stage
def part1(x: int) -> int:
    return x + 1


@stage
def part2(x: int) -> int:
    return x + 2


@stage
def part3(x: int) -> int:
    return x + 3


@stage
def part4(x: int) -> int:
    return x + 4


@stage
def gathered(part0: int, part1: int, part2: int, part3: int, part4: int) -> list[int]:
    return [part0, part1, part2, part3, part4]


fan_in = Pipeline([part0, part1, part2, part3, part4, gathered], name="fan_in")

# -- map_over, conditions, hooks and context -------------------------------------------------


@stage
def numbers(x: int) -> list[int]:
    return list(range(x))


@stage(map_over="numbers", retries=1)
def squared(numbers: int) -> int:
    return numbers * numbers


@stage
def total(squared: list[int]) -> int:
    return sum(squared)


@stage(when=lambda total: total > 1000)
def big_report(total: int) -> str:
    return f"big: {total}"


@stage
def after_report(big_report: str) -> str:  # skipped with big_report (no default)
    return big_report.upper()


@stage
def with_default(big_report: str = "no report") -> str:  # runs: the parameter has a default
    return big_report


@stage
def described(context: StageContext, total: int) -> str:
    return f"{context.stage}#{context.attempt}: {context['x']} -> {total}"


mapped = Pipeline(
    [numbers, squared, total, big_report, after_report, with_default, described], name="mapped"
)

# -- failures ---------------------------------------------------------------------------------


@stage
def ok_early(x: int) -> int:
    return x


@stage
def independent(x: int, workdir: str) -> int:
    (Path(workdir) / "independent.done").touch()
    return x * 3


@stage
def broken(ok_early: int, workdir: str) -> int:
    # Fail only once `independent` ran, so every executor starts it before the failure and
    # fail-fast leaves the same stages behind (no race between the two branches).
    _wait_for(Path(workdir) / "independent.done", 30)
    raise ValueError(f"broken on purpose with {ok_early}")


@stage
def needs_broken(broken: int) -> int:
    return broken + 1


@stage(depends_on="broken")
def after_broken(x: int) -> int:  # waits for broken (ordering only): cancelled with it
    return x * 2


failing = Pipeline([ok_early, independent, broken, needs_broken, after_broken], name="failing")

# -- retries, timeouts, worker loss ----------------------------------------------------------


@stage(retries=3, backoff=0.05)
def flaky(context: StageContext) -> str:
    if context.attempt < 3:
        raise ConnectionError(f"attempt {context.attempt} fails")
    return f"ok at attempt {context.attempt}"


retrying = Pipeline([flaky], name="retrying")


@stage(timeout=0.5)
def hangs(release: str) -> str:
    _wait_for(Path(release), 60)  # far past its timeout, until the test releases it
    return "late"


@stage
def unaffected(x: int) -> int:
    return x + 100


@stage
def after_unaffected(unaffected: int) -> int:
    return unaffected + 1


timing_out = Pipeline([hangs, unaffected, after_unaffected], name="timing_out")


@stage(retries=2, backoff=0.05)
def victim(workdir: str) -> str:
    """Attempt 1 says where it runs and blocks until its worker is killed; later runs return."""
    marker = Path(workdir) / "victim.pid"
    if not marker.exists():
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(str(os.getpid()))
        tmp.rename(marker)  # atomic: the test never reads a half-written pid
        _wait_for(Path(workdir) / "never", 60)
    return f"survived in {os.getpid()}"


@stage
def after_victim(victim: str) -> int:
    return len(victim)


killing = Pipeline([victim, after_victim], name="killing")

# -- values that do not travel ----------------------------------------------------------------


@stage
def takes_anything(anything: object) -> str:
    return type(anything).__name__


unpicklable_input = Pipeline([takes_anything], name="unpicklable_input")


@stage
def makes_lock() -> object:
    import threading

    return threading.Lock()


@stage
def uses_lock(makes_lock: object) -> str:
    return type(makes_lock).__name__


unpicklable_output = Pipeline([makes_lock, uses_lock], name="unpicklable_output")


@stage
async def awaited(x: int) -> int:
    return x * 7


async_stage = Pipeline([awaited], name="async_stage")


@stage
def child_a(x: int) -> int:
    return x + 1


@stage
def child_b(x: int) -> int:
    return x * 2


both = ParallelStage("both", [child_a, child_b])


@stage
def combined(both: dict[str, int]) -> int:
    return both["child_a"] + both["child_b"]


grouped = Pipeline([both, combined], name="grouped")


@stage(cache=True)
def cached_square(x: int) -> int:
    return x * x


@stage(cache=True, map_over="cached_square_items")
def cached_items(cached_square_items: int) -> int:
    return cached_square_items + 1


caching = Pipeline([cached_square, cached_items], name="caching")


def check_a_timeout_fails_only_its_stage(executor: Any, workdir: Path) -> None:
    """Run `timing_out` on ``executor``: ``hangs`` (which would block for 60 s) fails with
    `StageTimeoutError` soon, and the rest of the run goes on."""
    release = workdir / "release"
    try:
        start = time.monotonic()
        result = timing_out.run(
            {"release": str(release), "x": 1}, executor=executor, fail_fast=False
        )
        elapsed = time.monotonic() - start
    finally:
        release.touch()  # frees the worker thread the abandoned task still occupies
    hangs = result.stages["hangs"]
    assert hangs.status is StageStatus.FAILED
    assert isinstance(hangs.error, StageTimeoutError)
    assert result["after_unaffected"] == 102
    assert elapsed < 20  # the driver stopped waiting
