"""Execution semantics of the local executors (DESIGN.md §3, §10)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import structlog
from conftest import LOCAL_EXECUTORS, Calls
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import Dag, dags
from structlog.testing import capture_logs

from flowkit import (
    Pipeline,
    PipelineInterrupted,
    PipelineStatus,
    StageContext,
    StageResult,
    StageStatus,
    StageTimeoutError,
    stage,
)

SUCCESS, FAILED = StageStatus.SUCCESS, StageStatus.FAILED
SKIPPED, CANCELLED = StageStatus.SKIPPED, StageStatus.CANCELLED
TERMINAL = {SUCCESS, FAILED, SKIPPED, CANCELLED}


def statuses(result: Any) -> dict[str, StageStatus]:
    return {name: r.status for name, r in result.stages.items()}


class TestInjection:
    def test_outputs_are_injected_by_parameter_name(self, executor: str) -> None:
        @stage
        def numbers(count: int) -> list[int]:
            return list(range(count))

        @stage
        def doubled(numbers: list[int]) -> list[int]:
            return [2 * n for n in numbers]

        @stage
        def pair(numbers: list[int], doubled: list[int]) -> tuple[int, int]:
            return sum(numbers), sum(doubled)

        result = Pipeline([pair, doubled, numbers]).run({"count": 4}, executor=executor)

        assert result.outputs == {
            "numbers": [0, 1, 2, 3],
            "doubled": [0, 2, 4, 6],
            "pair": (6, 12),
        }

    def test_the_output_object_itself_is_passed(self, executor: str) -> None:
        produced: list[object] = []
        received: list[object] = []

        @stage
        def make() -> dict[str, int]:
            value = {"a": 1}
            produced.append(value)
            return value

        @stage
        def use(make: dict[str, int]) -> None:
            received.append(make)

        Pipeline([make, use]).run(executor=executor)

        assert received[0] is produced[0]

    def test_dependencies_run_before_dependents(self, executor: str, calls: Calls) -> None:
        @stage
        def a() -> None:
            calls.add("a")

        @stage(depends_on=["a"])
        def b() -> None:
            calls.add("b")

        @stage(depends_on="b")
        def c() -> None:
            calls.add("c")

        Pipeline([c, b, a]).run(executor=executor)

        assert calls.names == ["a", "b", "c"]

    def test_each_stage_runs_once(self, executor: str, calls: Calls) -> None:
        @stage
        def root() -> int:
            calls.add("root")
            return 1

        @stage
        def left(root: int) -> int:
            return root

        @stage
        def right(root: int) -> int:
            return root

        @stage
        def join(left: int, right: int) -> int:
            return left + right

        result = Pipeline([root, left, right, join]).run(executor=executor)

        assert calls.names == ["root"]
        assert result["join"] == 2


class TestConcurrency:
    def test_independent_stages_run_concurrently_with_threads(self) -> None:
        barrier = threading.Barrier(3, timeout=10)

        def make(name: str) -> Any:
            def fn() -> str:
                barrier.wait()  # raises BrokenBarrierError unless all three run at once
                return name

            fn.__name__ = name
            return fn

        result = Pipeline([make("a"), make("b"), make("c")]).run(executor="threads", max_workers=3)

        assert result.outputs == {"a": "a", "b": "b", "c": "c"}

    def test_stages_made_ready_by_a_plain_stage_run_concurrently_with_events_filtered(
        self,
    ) -> None:
        """A worker sweeping plain stages (the hot path) hands the other ready ones out."""
        barrier = threading.Barrier(4, timeout=10)

        def root() -> int:
            time.sleep(0.05)  # long enough for the loop to wait to be needed
            return 1

        def make(name: str) -> Any:
            namespace = {"barrier": barrier}
            source = f"def {name}(root):\n    barrier.wait()\n    return root\n"
            exec(source, namespace)  # noqa: S102 - a plain positional stage function
            return namespace[name]

        pipeline = Pipeline([root, *(make(f"d{i}") for i in range(4))])
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        try:
            result = pipeline.run(executor="threads", max_workers=4)
        finally:
            structlog.reset_defaults()

        assert result.ok, result  # BrokenBarrierError unless all four ran at once

    def test_no_level_barriers(self) -> None:
        """`deep` is two levels below `fast`; it must start while `slow` (level 0) runs."""
        deep_started = threading.Event()

        @stage
        def fast() -> int:
            return 1

        @stage
        def slow() -> bool:
            return deep_started.wait(10)

        @stage
        def middle(fast: int) -> int:
            return fast + 1

        @stage
        def deep(middle: int) -> int:
            deep_started.set()
            return middle + 1

        result = Pipeline([fast, slow, middle, deep]).run(executor="threads", max_workers=2)

        assert result["slow"] is True
        assert result["deep"] == 3

    def test_dependent_starts_while_unrelated_sibling_runs(self) -> None:
        child_started = threading.Event()

        @stage
        def quick() -> int:
            return 1

        @stage
        def lingering() -> bool:
            return child_started.wait(10)

        @stage
        def child(quick: int) -> int:
            child_started.set()
            return quick

        result = Pipeline([lingering, quick, child]).run(executor="threads")

        assert result["lingering"] is True

    @pytest.mark.parametrize("workers", [1, 2])
    def test_max_workers_bounds_concurrency(self, workers: int) -> None:
        lock = threading.Lock()
        active = [0]
        peak = [0]

        def make(name: str) -> Any:
            def fn() -> None:
                with lock:
                    active[0] += 1
                    peak[0] = max(peak[0], active[0])
                time.sleep(0.02)  # overlap window; the bound must hold whatever the timing
                with lock:
                    active[0] -= 1

            fn.__name__ = name
            return fn

        result = Pipeline([make(f"s{i}") for i in range(6)]).run(
            executor="threads", max_workers=workers
        )

        assert result.ok
        assert 1 <= peak[0] <= workers

    def test_sequential_follows_pipeline_order(self, calls: Calls) -> None:
        """Where a breadth-first walk and ``pipeline.order`` differ, sequential follows the
        documented order (ties broken by registration)."""

        def make(name: str, *deps: str) -> Any:
            def fn() -> None:
                calls.add(name)

            fn.__name__ = name
            return stage(depends_on=deps)(fn)

        pipeline = Pipeline([make("root"), make("child", "root"), make("other")])
        pipeline.run(executor="sequential")

        assert pipeline.order == ("root", "child", "other")
        assert calls.names == list(pipeline.order)

    def test_sequential_runs_one_stage_at_a_time_in_order(self, calls: Calls) -> None:
        def make(name: str) -> Any:
            def fn() -> None:
                calls.add(name)

            fn.__name__ = name
            return fn

        pipeline = Pipeline([make("x"), make("a"), make("m")])
        pipeline.run(executor="sequential")

        assert calls.names == list(pipeline.order) == ["x", "a", "m"]


class TestTimeouts:
    def test_timeout_fails_with_stage_timeout_error(
        self, executor: str, release: threading.Event
    ) -> None:
        @stage(timeout=0.2)
        def hangs() -> str:
            release.wait(30)
            return "late"

        start = time.monotonic()
        result = Pipeline([hangs]).run(executor=executor)
        elapsed = time.monotonic() - start

        outcome = result.stages["hangs"]
        assert outcome.status is FAILED
        assert isinstance(outcome.error, StageTimeoutError)
        assert isinstance(outcome.error, TimeoutError)
        assert (outcome.error.stage, outcome.error.timeout) == ("hangs", 0.2)
        assert outcome.attempts == 1
        assert elapsed < 10, "run() must not wait for the abandoned thread"
        assert result.status is PipelineStatus.FAILED

    def test_timeout_is_retried(self, executor: str, release: threading.Event) -> None:
        @stage(timeout=0.2, retries=2)
        def slow_once(context: StageContext) -> int:
            if context.attempt == 1:
                release.wait(30)
            return context.attempt

        with capture_logs() as captured:
            result = Pipeline([slow_once]).run(executor=executor)

        assert result["slow_once"] == 2
        assert result.stages["slow_once"].attempts == 2
        retrying = [e for e in captured if e["event"] == "stage.retrying"]
        assert [e["error_type"] for e in retrying] == ["StageTimeoutError"]

    def test_late_result_is_discarded(self, executor: str, release: threading.Event) -> None:
        finished = threading.Event()

        @stage(timeout=0.1)
        def hangs() -> str:
            release.wait(30)
            finished.set()
            return "late"

        result = Pipeline([hangs]).run(executor=executor)
        release.set()
        assert finished.wait(10)

        assert result.stages["hangs"].status is FAILED
        assert result.stages["hangs"].output is None
        assert "hangs" not in result.outputs

    def test_dependents_of_timed_out_stage_do_not_run(
        self, executor: str, release: threading.Event, calls: Calls
    ) -> None:
        @stage(timeout=0.1)
        def hangs() -> int:
            release.wait(30)
            return 1

        @stage
        def after(hangs: int) -> int:
            calls.add("after")
            return hangs

        result = Pipeline([hangs, after], fail_fast=False).run(executor=executor)

        assert statuses(result) == {"hangs": FAILED, "after": CANCELLED}
        assert len(calls) == 0

    def test_fast_stage_with_timeout_succeeds(self, executor: str) -> None:
        @stage(timeout=30)
        def quick(x: int) -> int:
            return x + 1

        assert Pipeline([quick]).run({"x": 1}, executor=executor)["quick"] == 2

    def test_stage_exception_inside_timeout_is_the_stage_error(self, executor: str) -> None:
        @stage(timeout=30)
        def broken() -> None:
            raise KeyError("inner")

        result = Pipeline([broken]).run(executor=executor)

        assert isinstance(result.stages["broken"].error, KeyError)


class TestFailFast:
    def test_not_started_stages_are_cancelled(self, executor: str, calls: Calls) -> None:
        @stage
        def bad() -> None:
            calls.add("bad")
            raise ValueError("boom")

        @stage
        def independent() -> None:
            calls.add("independent")

        @stage
        def child(bad: None) -> None:
            calls.add("child")

        result = Pipeline([bad, independent, child]).run(executor=executor, max_workers=1)

        assert calls.names == ["bad"]
        assert statuses(result) == {"bad": FAILED, "independent": CANCELLED, "child": CANCELLED}
        assert result.status is PipelineStatus.FAILED
        assert (result.failed, result.cancelled, result.succeeded) == (1, 2, 0)
        assert result.stages["independent"].attempts == 0

    def test_running_stages_finish_and_keep_results(self, calls: Calls) -> None:
        running_started = threading.Event()
        failure_seen = threading.Event()

        @stage(on_failure=lambda r: failure_seen.set())
        def bad() -> None:
            running_started.wait(10)
            raise ValueError("boom")

        @stage
        def running() -> str:
            running_started.set()
            failure_seen.wait(10)  # still running when `bad` has failed
            return "kept"

        @stage
        def after_running(running: str) -> None:
            calls.add("after_running")

        result = Pipeline([bad, running, after_running]).run(executor="threads", max_workers=2)

        assert running_started.is_set()
        assert failure_seen.is_set()
        assert statuses(result) == {
            "bad": FAILED,
            "running": SUCCESS,
            "after_running": CANCELLED,
        }
        assert result.outputs == {"running": "kept"}
        assert len(calls) == 0

    def test_earlier_outputs_are_kept(self, executor: str) -> None:
        @stage
        def first() -> int:
            return 1

        @stage
        def second(first: int) -> int:
            return first + 1

        @stage
        def bad(second: int) -> None:
            raise RuntimeError("late failure")

        result = Pipeline([first, second, bad]).run(executor=executor)

        assert result.status is PipelineStatus.FAILED
        assert result.outputs == {"first": 1, "second": 2}
        assert result["second"] == 2

    def test_run_argument_overrides_pipeline_setting(self, executor: str, calls: Calls) -> None:
        @stage
        def bad() -> None:
            raise ValueError("boom")

        @stage
        def other() -> None:
            calls.add("other")

        pipeline = Pipeline([bad, other], fail_fast=False)
        result = pipeline.run(executor=executor, max_workers=1, fail_fast=True)

        assert result.stages["other"].status is CANCELLED
        assert len(calls) == 0

    def test_stage_waiting_for_retry_is_cancelled(self, executor: str) -> None:
        other_failed = threading.Event()
        attempts: list[int] = []

        @stage(retries=1, backoff=5.0)
        def flaky(context: StageContext) -> None:
            attempts.append(context.attempt)
            raise OSError("retry me later")

        @stage(on_failure=lambda r: other_failed.set())
        def bad() -> None:
            raise ValueError("boom")

        start = time.monotonic()
        with capture_logs() as captured:
            result = Pipeline([flaky, bad]).run(executor=executor, max_workers=1)
        elapsed = time.monotonic() - start

        assert other_failed.is_set()
        assert attempts == [1]
        assert result.stages["flaky"].status is CANCELLED
        assert result.stages["bad"].status is FAILED
        assert elapsed < 4, "run() must not wait out a retry delay once it stops"
        assert (
            len(
                [
                    e
                    for e in captured
                    if e.get("stage") == "flaky" and e["event"] == "stage.cancelled"
                ]
            )
            == 1
        )


class TestNoFailFast:
    def test_only_dependents_are_cancelled(self, executor: str, calls: Calls) -> None:
        @stage
        def bad() -> int:
            raise ValueError("boom")

        @stage
        def child(bad: int) -> int:
            calls.add("child")
            return bad

        @stage(depends_on=["child"])
        def grandchild() -> None:
            calls.add("grandchild")

        @stage
        def fine() -> int:
            calls.add("fine")
            return 1

        @stage
        def after_fine(fine: int) -> int:
            calls.add("after_fine")
            return fine + 1

        @stage
        def mixed(fine: int, bad: int) -> int:
            calls.add("mixed")
            return fine

        pipeline = Pipeline([bad, child, grandchild, fine, after_fine, mixed], fail_fast=False)
        result = pipeline.run(executor=executor, max_workers=1)

        assert statuses(result) == {
            "bad": FAILED,
            "child": CANCELLED,
            "grandchild": CANCELLED,
            "fine": SUCCESS,
            "after_fine": SUCCESS,
            "mixed": CANCELLED,
        }
        assert sorted(calls.names) == ["after_fine", "fine"]
        assert result.status is PipelineStatus.FAILED
        assert result.outputs == {"fine": 1, "after_fine": 2}

    def test_run_argument(self, executor: str) -> None:
        @stage
        def bad() -> None:
            raise ValueError("boom")

        @stage
        def other() -> int:
            return 1

        result = Pipeline([bad, other]).run(executor=executor, max_workers=1, fail_fast=False)

        assert result.stages["other"].status is SUCCESS

    def test_several_failures_are_all_recorded(self, executor: str) -> None:
        @stage
        def bad1() -> None:
            raise ValueError("one")

        @stage
        def bad2() -> None:
            raise KeyError("two")

        result = Pipeline([bad1, bad2], fail_fast=False).run(executor=executor)

        assert result.failed == 2
        assert isinstance(result.stages["bad1"].error, ValueError)
        assert isinstance(result.stages["bad2"].error, KeyError)


class TestSkips:
    def test_false_condition_skips(self, executor: str, calls: Calls) -> None:
        @stage(when=lambda enabled: enabled)
        def gated(enabled: bool) -> str:
            calls.add("gated")
            return "ran"

        with capture_logs() as captured:
            result = Pipeline([gated]).run({"enabled": False}, executor=executor)

        outcome = result.stages["gated"]
        assert outcome.status is SKIPPED
        assert isinstance(outcome.skip_reason, str)
        assert outcome.skip_reason
        assert outcome.output is None
        assert outcome.attempts == 0
        assert len(calls) == 0
        assert result.status is PipelineStatus.SUCCESS
        assert result.skipped == 1
        assert "gated" not in result.outputs
        assert not [e for e in captured if e["event"] == "stage.started"]

    def test_true_condition_runs(self, executor: str) -> None:
        @stage(when=lambda enabled: enabled)
        def gated(enabled: bool) -> str:
            return "ran"

        assert Pipeline([gated]).run({"enabled": True}, executor=executor)["gated"] == "ran"

    def test_condition_reads_dependency_outputs(self, executor: str) -> None:
        @stage
        def rows() -> list[int]:
            return []

        @stage(when=lambda rows: bool(rows))
        def report(rows: list[int]) -> int:
            return len(rows)

        result = Pipeline([report, rows]).run(executor=executor)

        assert result.stages["report"].status is SKIPPED

    def test_condition_only_parameter_is_an_input(self, executor: str) -> None:
        @stage(when=lambda mode: mode == "full")
        def heavy() -> str:
            return "heavy"

        pipeline = Pipeline([heavy])

        assert pipeline.inputs["mode"].required is True
        assert pipeline.run({"mode": "full"}, executor=executor)["heavy"] == "heavy"
        quick = pipeline.run({"mode": "quick"}, executor=executor)
        assert quick.stages["heavy"].status is SKIPPED

    def test_dependent_without_default_is_skipped(self, executor: str, calls: Calls) -> None:
        @stage(when=lambda: False)
        def gated() -> int:
            return 1

        @stage
        def needs(gated: int) -> int:
            calls.add("needs")
            return gated

        @stage
        def deeper(needs: int) -> int:
            calls.add("deeper")
            return needs

        with capture_logs() as captured:
            result = Pipeline([gated, needs, deeper]).run(executor=executor)

        assert statuses(result) == {"gated": SKIPPED, "needs": SKIPPED, "deeper": SKIPPED}
        assert len(calls) == 0
        assert "gated" in (result.stages["needs"].skip_reason or "")
        assert result.ok
        skipped = [e["stage"] for e in captured if e["event"] == "stage.skipped"]
        assert sorted(skipped) == ["deeper", "gated", "needs"]

    def test_dependent_with_default_runs_with_the_default(self, executor: str) -> None:
        @stage(when=lambda: False)
        def gated() -> int:
            return 1

        @stage
        def tolerant(gated: int = 42) -> int:
            return gated

        result = Pipeline([gated, tolerant]).run(executor=executor)

        assert result.stages["tolerant"].status is SUCCESS
        assert result["tolerant"] == 42

    def test_skipped_ordering_only_dependency_does_not_skip(self, executor: str) -> None:
        @stage(when=lambda: False)
        def gated() -> int:
            return 1

        @stage(depends_on=["gated"])
        def after() -> str:
            return "ran"

        result = Pipeline([gated, after]).run(executor=executor)

        assert result.stages["after"].status is SUCCESS
        assert result["after"] == "ran"

    def test_skip_does_not_run_hooks(self, executor: str) -> None:
        seen: list[StageResult] = []

        @stage(when=lambda: False, on_success=seen.append, on_failure=seen.append)
        def gated() -> int:
            return 1

        Pipeline([gated]).run(executor=executor)

        assert seen == []

    def test_raising_condition_is_a_failed_attempt(self, executor: str, calls: Calls) -> None:
        def condition() -> bool:
            raise ValueError("bad predicate")

        @stage(when=condition)
        def guarded() -> int:
            calls.add("guarded")
            return 1

        result = Pipeline([guarded]).run(executor=executor)

        outcome = result.stages["guarded"]
        assert outcome.status is FAILED
        assert isinstance(outcome.error, ValueError)
        assert outcome.attempts == 1
        assert len(calls) == 0
        assert result.status is PipelineStatus.FAILED

    def test_raising_condition_is_retried(self, executor: str) -> None:
        tries: list[int] = []

        def condition() -> bool:
            tries.append(1)
            if len(tries) == 1:
                raise OSError("flaky predicate")
            return True

        @stage(when=condition, retries=1)
        def guarded() -> str:
            return "ran"

        result = Pipeline([guarded]).run(executor=executor)

        assert result["guarded"] == "ran"
        assert result.stages["guarded"].attempts == 2


class TestHooks:
    def test_on_success_gets_the_result(self, executor: str) -> None:
        seen: list[StageResult] = []

        @stage(on_success=seen.append, on_failure=seen.append)
        def good() -> int:
            return 7

        Pipeline([good]).run(executor=executor)

        assert len(seen) == 1
        assert isinstance(seen[0], StageResult)
        assert (seen[0].name, seen[0].status, seen[0].output) == ("good", SUCCESS, 7)

    def test_on_failure_gets_the_result_once_after_last_attempt(self, executor: str) -> None:
        seen: list[StageResult] = []
        error = ValueError("always")

        @stage(retries=2, on_success=seen.append, on_failure=seen.append)
        def bad() -> None:
            raise error

        Pipeline([bad]).run(executor=executor)

        assert len(seen) == 1
        assert (seen[0].name, seen[0].status, seen[0].attempts) == ("bad", FAILED, 3)
        assert seen[0].error is error

    def test_raising_hook_is_logged_and_changes_nothing(self, executor: str) -> None:
        def broken_hook(result: StageResult) -> None:
            raise RuntimeError("hook broke")

        @stage(on_success=broken_hook)
        def good() -> int:
            return 1

        @stage(on_failure=broken_hook)
        def bad() -> None:
            raise ValueError("stage broke")

        @stage
        def after(good: int) -> int:
            return good + 1

        with capture_logs() as captured:
            result = Pipeline([good, bad, after], fail_fast=False).run(executor=executor)

        assert statuses(result) == {"good": SUCCESS, "bad": FAILED, "after": SUCCESS}
        assert isinstance(result.stages["bad"].error, ValueError)
        assert result["after"] == 2
        hook_failed = {e["stage"]: e for e in captured if e["event"] == "stage.hook_failed"}
        assert set(hook_failed) == {"good", "bad"}
        assert hook_failed["good"]["status"] == "success"
        assert hook_failed["bad"]["status"] == "failed"
        assert hook_failed["good"]["error_type"] == "RuntimeError"

    def test_raising_hook_keeps_pipeline_successful(self, executor: str) -> None:
        def broken_hook(result: StageResult) -> None:
            raise RuntimeError("hook broke")

        @stage(on_success=broken_hook)
        def good() -> int:
            return 1

        result = Pipeline([good]).run(executor=executor)

        assert result.ok

    def test_hooks_do_not_run_for_cancelled_stages(self, executor: str) -> None:
        seen: list[StageResult] = []

        @stage
        def bad() -> None:
            raise ValueError("boom")

        @stage(on_success=seen.append, on_failure=seen.append)
        def child(bad: None) -> None:
            return None

        Pipeline([bad, child]).run(executor=executor)

        assert seen == []


class TestInterrupt:
    def test_a_stage_raising_keyboard_interrupt_interrupts_the_run(self, calls: Calls) -> None:
        @stage
        def first() -> int:
            calls.add("first")
            return 1

        @stage
        def interrupted(first: int) -> int:
            calls.add("interrupted")
            raise KeyboardInterrupt

        @stage
        def after(interrupted: int) -> int:
            calls.add("after")
            return interrupted

        @stage(depends_on=["first"])
        def unrelated() -> int:  # not a dependent of `interrupted`; ordered after it
            calls.add("unrelated")
            return 0

        with capture_logs() as captured, pytest.raises(PipelineInterrupted) as raised:
            Pipeline([first, interrupted, after, unrelated]).run(executor="sequential")

        result = raised.value.result
        assert isinstance(raised.value, KeyboardInterrupt)
        assert result.status is PipelineStatus.CANCELLED
        assert not result.ok
        assert calls.names == ["first", "interrupted"]
        assert statuses(result) == {
            "first": SUCCESS,
            "interrupted": CANCELLED,
            "after": CANCELLED,
            "unrelated": CANCELLED,
        }
        assert result.outputs == {"first": 1}
        names = [e["event"] for e in captured]
        assert names.count("pipeline.cancelled") == 1
        assert "pipeline.failed" not in names
        assert "pipeline.succeeded" not in names
        cancelled = sorted(e["stage"] for e in captured if e["event"] == "stage.cancelled")
        assert cancelled == ["after", "interrupted", "unrelated"]


SIGINT_SCRIPT = """
import json, os, signal, sys, threading, time
from structlog.testing import capture_logs
from flowkit import Pipeline, PipelineInterrupted, _daemons, stage

_daemons.IDLE_S = 0.05  # idle workers end at once: joining every thread below waits for blocked
blocked_started = threading.Event()
release = threading.Event()

@stage
def done_first() -> str:
    return "kept"

@stage
def blocked() -> str:
    blocked_started.set()
    release.wait(60)  # still running when the grace period ends
    return "late"

@stage
def interrupter(done_first: str) -> str:
    blocked_started.wait(10)
    os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does
    # Give the main thread time to see the signal, but finish well within the 1 s grace.
    threading.Event().wait(0.5)
    return "quick"

@stage
def never(interrupter: str) -> str:
    return "never"

with capture_logs() as events:
    start = time.monotonic()
    try:
        Pipeline([done_first, blocked, interrupter, never]).run(executor="threads", max_workers=2)
    except PipelineInterrupted as interrupted:
        result = interrupted.result
    elapsed = time.monotonic() - start
    during = [(e["event"], e.get("stage")) for e in events]
    release.set()  # the abandoned stage now finishes late: its result must be discarded
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(10)
    late = [(e["event"], e.get("stage")) for e in events[len(during):]]
print(json.dumps({
    "status": result.status.value,
    "stages": {n: r.status.value for n, r in result.stages.items()},
    "outputs": result.outputs,
    "events": during,
    "late": late,
    "elapsed": elapsed,
}))
"""


class TestInterruptThreads:
    def test_ctrl_c_cancels_and_keeps_finished_results(self) -> None:
        proc = subprocess.run(
            [sys.executable, "-c", SIGINT_SCRIPT],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout.splitlines()[-1])
        assert report["status"] == "cancelled"
        assert report["stages"] == {
            "done_first": "success",
            "blocked": "cancelled",  # still running 1 s after the interrupt
            "interrupter": "success",  # finished within 1 s of the interrupt
            "never": "cancelled",  # not started
        }
        assert report["outputs"] == {"done_first": "kept", "interrupter": "quick"}
        assert report["events"][-1] == ["pipeline.cancelled", None]
        assert [e for e, _ in report["events"]].count("pipeline.cancelled") == 1
        assert ["stage.cancelled", "blocked"] in report["events"]
        assert 0.9 <= report["elapsed"] < 10
        assert report["late"] == [], "a result that comes after the run ended emits nothing"


class TestFinishedOutputsKept:
    @pytest.mark.parametrize("fail_fast", [True, False])
    def test_every_success_keeps_its_output(self, executor: str, fail_fast: bool) -> None:
        @stage
        def a() -> str:
            return "A"

        @stage
        def b(a: str) -> str:
            return a + "B"

        @stage
        def bad(b: str) -> None:
            raise ValueError(b)

        result = Pipeline([a, b, bad], fail_fast=fail_fast).run(executor=executor)

        assert result.outputs == {"a": "A", "b": "AB"}
        assert (result["a"], result["b"]) == ("A", "AB")


def _expected_no_fail_fast(dag: Dag, failing: set[str], name: str) -> StageStatus:
    if dag.ancestors(name) & failing:
        return CANCELLED
    return FAILED if name in failing else SUCCESS


@settings(max_examples=50, deadline=None)
@given(
    dag=dags(),
    data=st.data(),
    fail_fast=st.booleans(),
    executor=st.sampled_from(LOCAL_EXECUTORS),
)
def test_random_failures_end_every_stage_once(
    dag: Dag, data: st.DataObject, fail_fast: bool, executor: str
) -> None:
    failing = data.draw(st.sets(st.sampled_from(dag.names)), label="failing")
    called = Calls()

    def body(name: str, kwargs: Any) -> object:
        called.add(name)
        if name in failing:
            raise RuntimeError(f"{name} fails")
        return 1 + sum(kwargs.values())

    pipeline = dag.pipeline(body, fail_fast=fail_fast, name="random")
    with capture_logs() as captured:
        result = pipeline.run(executor=executor)

    # every stage, once, in pipeline order, in a terminal status
    assert list(result.stages) == list(pipeline.order)
    assert all(r.status in TERMINAL for r in result.stages.values())
    assert result.status is (PipelineStatus.FAILED if failing else PipelineStatus.SUCCESS)

    for name, outcome in result.stages.items():
        data_deps = dag.data_dependencies(name)
        all_deps = dag.dependencies(name)
        if outcome.status is SUCCESS:
            assert name not in failing
            assert all(result.stages[d].status is SUCCESS for d in all_deps)
            assert outcome.output == 1 + sum(result.stages[d].output for d in data_deps)
        if outcome.status is FAILED:
            assert name in failing
            assert isinstance(outcome.error, RuntimeError)
        if any(result.stages[d].status in (FAILED, CANCELLED) for d in all_deps):
            assert outcome.status is CANCELLED
        assert called.count(name) == outcome.attempts
        assert outcome.attempts == (1 if outcome.status in (SUCCESS, FAILED) else 0)
        if not fail_fast:
            assert outcome.status is _expected_no_fail_fast(dag, failing, name)
    if fail_fast and failing and executor == "sequential":
        assert result.failed == 1

    # events agree with results: one terminal event per stage, one start per attempt
    names = [e["event"] for e in captured]
    assert names[0] == "pipeline.started"
    assert names[-1] == ("pipeline.failed" if failing else "pipeline.succeeded")
    assert names.count(names[-1]) == 1
    terminal_events = ("stage.succeeded", "stage.failed", "stage.skipped", "stage.cancelled")
    for name, outcome in result.stages.items():
        mine = [e for e in captured if e.get("stage") == name]
        ends = [e for e in mine if e["event"] in terminal_events]
        assert len(ends) == 1, (name, ends)
        assert ends[0]["status"] == outcome.status.value
        starts = [e for e in mine if e["event"] == "stage.started"]
        assert len(starts) == outcome.attempts
        if starts:
            assert mine.index(starts[0]) < mine.index(ends[0])
    assert all(e["run_id"] == result.run_id and e["pipeline"] == "random" for e in captured)
