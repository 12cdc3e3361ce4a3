"""Module-level stages for the skip, condition, hook, event and stage-kind tests (so every
executor can run them; see `contract.stages`)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from contract.harness import bump, wait_for
from flowkit import ParallelStage, Stage, StageResult, stage

# -- skips and conditions --------------------------------------------------------------------


@stage(when=lambda: False)
def skipped_stage() -> int:
    return 1


@stage
def failed_stage() -> int:
    raise ValueError("failed on purpose")


@stage
def skip_then_fail(skipped_stage: int, failed_stage: int) -> int:
    return 0


@stage
def fail_then_skip(failed_stage: int, skipped_stage: int) -> int:
    return 0


@stage(depends_on=["failed_stage"])
def skip_and_ordered_fail(skipped_stage: int) -> int:
    return 0


@stage(depends_on=["skipped_stage"])
def after_skipped() -> str:
    return "ran"


@stage
def uses_default(skipped_stage: int = 42) -> int:
    return skipped_stage


@stage
def needs_skipped(skipped_stage: int) -> int:
    return skipped_stage


def flaky_condition(workdir: str) -> bool:
    if bump(workdir, "flaky_condition") == 1:
        raise OSError("flaky predicate")
    return True


def broken_condition(workdir: str) -> bool:
    raise OSError("broken predicate")


@stage(when=flaky_condition, retries=1)
def guarded_retry(workdir: str) -> str:
    bump(workdir, "guarded_retry")
    return "ran"


@stage(when=broken_condition)
def guarded_fail(workdir: str) -> str:
    bump(workdir, "guarded_fail")
    return "never"


# -- hooks (they run in the driver) ----------------------------------------------------------


def record_hook(result: StageResult) -> None:
    with (Path(os.environ["CONTRACT_WORKDIR"]) / "hooks.log").open("a") as file:
        file.write(f"{result.name} {result.status.value} {result.attempts}\n")


def broken_hook(result: StageResult) -> None:
    raise RuntimeError("hook broke")


@stage(on_success=record_hook, on_failure=record_hook)
def hooked_ok() -> int:
    return 7


@stage(retries=2, on_success=record_hook, on_failure=record_hook)
def hooked_bad() -> None:
    raise ValueError("always")


@stage(on_success=broken_hook)
def broken_hook_ok() -> int:
    return 1


@stage(on_failure=broken_hook)
def broken_hook_bad() -> None:
    raise ValueError("stage broke")


@stage
def after_broken_hook(broken_hook_ok: int) -> int:
    return broken_hook_ok + 1


# -- events ----------------------------------------------------------------------------------


@stage
def sensitive(credential: str) -> str:
    return f"output-{credential}"


@stage(map_over="credentials", retries=1)
def per_credential(credentials: str) -> str:
    return credentials.upper()


@stage
def after_sensitive(sensitive: str) -> None:
    raise ValueError("failed without saying what it got")


# -- every stage kind ------------------------------------------------------------------------


def plain_double(x: int) -> int:
    return 2 * x


@stage
def decorated_inc(plain_double: int) -> int:
    return plain_double + 1


@stage
async def awaited(decorated_inc: int) -> int:
    await asyncio.sleep(0)
    return decorated_inc * 10


def is_positive(x: int) -> bool:
    return x > 0


def plain_conditional(x: int) -> str:
    return "positive"


class Tripler(Stage):
    """A custom stage kind defined at module level: three times ``decorated_inc``."""

    @property
    def parameters(self) -> tuple[str, ...]:
        return ("decorated_inc",)

    def execute(self, kwargs: dict[str, object]) -> object:
        return 3 * kwargs["decorated_inc"]  # type: ignore[operator]


def child_one(x: int) -> int:
    return x + 1


@stage
def child_two(x: int) -> int:
    return x + 2


group = ParallelStage("group", [child_one, child_two])


@stage
def after_group(group: dict[str, int]) -> int:
    return sum(group.values())


def child_ok() -> str:
    return "ok"


def child_raises() -> str:
    raise RuntimeError("child broke")


failing_group = ParallelStage("failing_group", [child_ok, child_raises])


@stage
def outer_boom(workdir: str) -> None:
    wait_for(workdir, "group_waiter@stage.started")
    raise RuntimeError("outer stage failed")


def group_waiter(workdir: str) -> str:
    wait_for(workdir, "outer_boom@stage.failed")
    return "finished"


def group_after(group_waiter: str) -> str:
    return "never"


fail_fast_group = ParallelStage("fail_fast_group", [group_waiter, group_after])


# -- flowkit's own failures ------------------------------------------------------------------


@stage
def logged_a() -> int:
    return 1


@stage
def logged_b(logged_a: int) -> int:
    return logged_a + 1


@stage
def logged_independent() -> int:
    return 2


@stage(retries=1)
def flaky_child(workdir: str) -> int:
    attempt = bump(workdir, "flaky_child")
    if attempt == 1:
        raise ConnectionError("child fails once")
    return attempt


def pid_child() -> int:
    return os.getpid()


retrying_group = ParallelStage("retrying_group", [flaky_child, pid_child])
