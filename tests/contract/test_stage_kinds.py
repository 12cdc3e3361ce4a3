"""Every stage kind runs on every executor (DESIGN §11.1): module-level plain functions,
@stage functions (sync and async), ConditionalStage, ParallelStage and Stage subclasses;
a parallel group's children are stages of the run with their own events and results."""

from __future__ import annotations

import functools
import os
from typing import Any

from contract import kinds
from contract.harness import sequence
from flowkit import ConditionalStage, FunctionStage, ParallelStage, Pipeline, StageStatus


def test_every_stage_kind_runs(executor: Any) -> None:
    pipeline = Pipeline(
        [
            kinds.plain_double,
            kinds.decorated_inc,
            kinds.awaited,
            ConditionalStage(FunctionStage(kinds.plain_conditional), kinds.is_positive),
            kinds.Tripler(name="tripled"),
            kinds.group,
            kinds.after_group,
        ]
    )

    result = pipeline.run({"x": 5}, executor=executor)

    assert result.outputs == {
        "plain_double": 10,
        "decorated_inc": 11,
        "awaited": 110,
        "plain_conditional": "positive",
        "tripled": 33,
        "group": {"child_one": 6, "child_two": 7},
        "after_group": 13,
    }
    skipped = pipeline.run({"x": -1}, executor=executor)
    assert skipped.stages["plain_conditional"].status is StageStatus.SKIPPED


def test_group_children_have_their_own_events_and_results(
    executor: Any, events: list[dict[str, Any]]
) -> None:
    built_here = ParallelStage("built_here", [kinds.child_one, kinds.child_two])

    result = Pipeline([kinds.group, built_here]).run({"x": 1}, executor=executor)

    assert result["group"] == result["built_here"] == {"child_one": 2, "child_two": 3}
    for name in ("group", "built_here"):
        children = result.stages[name].children
        assert set(children) == {"child_one", "child_two"}
        assert {c.status for c in children.values()} == {StageStatus.SUCCESS}
        assert {c.output for c in children.values()} == {2, 3}
    for child in ("child_one", "child_two"):
        # Two groups hold a child of this name, which may run at once: each ran once.
        seen = sequence(events, child)
        assert sorted(seen) == ["stage.started"] * 2 + ["stage.succeeded"] * 2, child
        assert seen[0] == "stage.started"
        assert seen[-1] == "stage.succeeded"


def test_a_failing_child_fails_the_group(executor: Any, events: list[dict[str, Any]]) -> None:
    result = Pipeline([kinds.failing_group]).run(executor=executor)

    group = result.stages["failing_group"]
    assert group.status is StageStatus.FAILED
    assert str(group.error) == "child broke"
    assert group.children["child_ok"].status is StageStatus.SUCCESS
    assert group.children["child_raises"].status is StageStatus.FAILED
    assert sequence(events, "child_raises") == ["stage.started", "stage.failed"]


def test_a_group_obeys_the_outer_fail_fast(
    concurrent_executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    """``group_waiter`` runs until ``outer_boom`` has failed; its sibling ``group_after``
    (which needs it) must then not start."""
    pipeline = Pipeline([kinds.outer_boom, kinds.fail_fast_group])

    result = pipeline.run({"workdir": workdir}, executor=concurrent_executor)

    assert result.stages["outer_boom"].status is StageStatus.FAILED
    group = result.stages["fail_fast_group"]
    assert group.status in {StageStatus.FAILED, StageStatus.CANCELLED}
    assert group.children["group_waiter"].status is StageStatus.SUCCESS
    assert group.children["group_waiter"].output == "finished"
    assert group.children["group_after"].status is StageStatus.CANCELLED
    assert "stage.started" not in sequence(events, "group_after")


def test_children_keep_their_retries_and_run_where_the_executor_puts_them(
    executor_spec: str, executor: Any, workdir: str, events: list[dict[str, Any]]
) -> None:
    result = Pipeline([kinds.retrying_group]).run({"workdir": workdir}, executor=executor)

    children = result.stages["retrying_group"].children
    assert (children["flaky_child"].attempts, children["flaky_child"].output) == (2, 2)
    assert sequence(events, "flaky_child") == [
        "stage.started",
        "stage.retrying",
        "stage.started",
        "stage.succeeded",
    ]
    if executor_spec.startswith(("processes", "dask")):
        assert children["pid_child"].output != os.getpid()


def keyword_only(*, plain_double: int, offset: int = 1) -> int:
    return plain_double + offset


def test_keyword_only_and_callable_object_stages_get_their_arguments(executor: Any) -> None:
    adder = FunctionStage(functools.partial(kinds_add, 100), name="partial_add")
    pipeline = Pipeline([kinds.plain_double, FunctionStage(keyword_only), adder])

    result = pipeline.run({"x": 5}, executor=executor)

    assert result.outputs == {"plain_double": 10, "keyword_only": 11, "partial_add": 110}


def kinds_add(base: int, plain_double: int) -> int:
    return base + plain_double
