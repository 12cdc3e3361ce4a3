"""Random DAGs with random failures, retries and conditions, run on each local executor and
compared with a small reference model of DESIGN §3/§10/§11.1 written here.

Without fail-fast the outcome is determined: statuses, attempts, outputs and each stage's
event sequence must equal the model's. With fail-fast and concurrency, which stages got to
start is up to the schedule, so the test checks what the contract guarantees: nothing
starts after the first ``stage.failed``, every stage either ends as the model says or is
CANCELLED (after the events of the attempts it made), and what finished is kept.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import Dag, dags
from structlog.testing import capture_logs

from contract.harness import retried, sequence
from flowkit import Pipeline, PipelineResult, PipelineStatus, StageStatus, stage

SUCCESS, FAILED = StageStatus.SUCCESS, StageStatus.FAILED
SKIPPED, CANCELLED = StageStatus.SKIPPED, StageStatus.CANCELLED
NEVER = 99  # a stage that fails this many attempts never succeeds


@dataclasses.dataclass(frozen=True)
class Behaviour:
    fails: int  # attempts that fail before one succeeds
    retries: int
    condition: bool | None  # None: the stage has no condition


@dataclasses.dataclass(frozen=True)
class Scenario:
    dag: Dag
    behaviours: dict[str, Behaviour]
    fail_fast: bool
    max_workers: int


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    dag = draw(dags(max_stages=7))
    behaviours = {
        name: Behaviour(
            fails=draw(st.sampled_from([0, 0, 0, 1, 2, NEVER])),
            retries=draw(st.integers(0, 2)),
            condition=draw(st.sampled_from([None, None, True, False])),
        )
        for name in dag.names
    }
    return Scenario(dag, behaviours, draw(st.booleans()), draw(st.integers(1, 3)))


@dataclasses.dataclass(frozen=True)
class Expected:
    status: StageStatus
    attempts: int = 0
    output: Any = None
    events: tuple[str, ...] = ()


def model(scenario: Scenario) -> dict[str, Expected]:
    """What DESIGN says each stage ends as, without fail-fast."""
    dag, expected = scenario.dag, {}
    for name in sorted(dag.names, key=lambda n: int(n[1:])):  # s0, s1, ...: a topological order
        behaviour = scenario.behaviours[name]
        deps, data = dag.dependencies(name), dag.data_dependencies(name)
        if any(expected[d].status in {FAILED, CANCELLED} for d in deps):  # cancel beats skip
            expected[name] = Expected(CANCELLED, events=("stage.cancelled",))
        elif any(expected[d].status is SKIPPED for d in data) or behaviour.condition is False:
            expected[name] = Expected(SKIPPED, events=("stage.skipped",))
        elif behaviour.fails <= behaviour.retries:
            attempts = behaviour.fails + 1
            output = 1 + sum(expected[d].output for d in data)
            events = tuple(retried(attempts, "stage.succeeded"))
            expected[name] = Expected(SUCCESS, attempts, output, events)
        else:
            attempts = behaviour.retries + 1
            expected[name] = Expected(
                FAILED, attempts, None, tuple(retried(attempts, "stage.failed"))
            )
    return expected


def plain_function(name: str, params: list[str], body: Any) -> Any:
    """``def name(p1, p2, ...): return body((p1, p2, ...))``: a real function with those
    positional parameters, as a user writes it (the engine's hot path takes those)."""
    values = "".join(f"{p}, " for p in params)
    namespace = {"body": body}
    exec(f"def {name}({', '.join(params)}):\n    return body(({values}))\n", namespace)  # noqa: S102
    return namespace[name]


def build(scenario: Scenario) -> Pipeline:
    tries: dict[str, int] = {}
    lock = threading.Lock()

    def make(name: str) -> Any:
        behaviour = scenario.behaviours[name]

        def body(values: tuple[int, ...]) -> int:
            with lock:
                tries[name] = attempt = tries.get(name, 0) + 1
            if attempt <= behaviour.fails:
                raise ValueError(f"{name} failed attempt {attempt}")
            return 1 + sum(values)

        fn = plain_function(name, scenario.dag.data_dependencies(name), body)
        options: dict[str, Any] = {"retries": behaviour.retries}
        if behaviour.condition is not None:
            options["when"] = (lambda: True) if behaviour.condition else (lambda: False)
        order_only = [
            d for d in scenario.dag.dependencies(name) if (d, name) in scenario.dag.order_only
        ]
        return stage(name=name, depends_on=order_only, **options)(fn)

    return Pipeline([make(n) for n in scenario.dag.names], fail_fast=scenario.fail_fast)


def check_exact(
    result: PipelineResult, events: list[dict[str, Any]], want: dict[str, Expected]
) -> None:
    for name, expected in want.items():
        got = result.stages[name]
        assert (name, got.status, got.attempts) == (name, expected.status, expected.attempts)
        assert tuple(sequence(events, name)) == expected.events, name
        if expected.status is SUCCESS:
            assert result[name] == expected.output
    assert set(result.outputs) == {n for n, e in want.items() if e.status is SUCCESS}


def check_fail_fast(
    result: PipelineResult, events: list[dict[str, Any]], want: dict[str, Expected]
) -> None:
    first_failure = next(i for i, e in enumerate(events) if e["event"] == "stage.failed")
    late = [
        (e["event"], e["stage"])
        for e in events[first_failure:]
        if e["event"] in {"stage.started", "stage.skipped"}
    ]
    assert late == [], "started or skipped after the first failure"
    assert any(r.status is FAILED for r in result.stages.values())
    for name, expected in want.items():
        got, seen = result.stages[name], tuple(sequence(events, name))
        if got.status is CANCELLED:
            made = seen.count("stage.started")
            assert seen == (*("stage.started", "stage.retrying") * made, "stage.cancelled"), name
            assert got.attempts == made, name
            continue
        assert (name, got.status, got.attempts) == (name, expected.status, expected.attempts)
        assert seen == expected.events, name
        if expected.status is SUCCESS:
            assert result[name] == expected.output


def check_quiet(result: PipelineResult, want: dict[str, Expected], fail_fast: bool) -> None:
    """What a run with events filtered out (the engine's hot path) must show: the model's
    statuses, attempts and outputs; under fail-fast, a stage may instead be CANCELLED, and
    some stage failed."""
    if fail_fast:
        assert any(r.status is FAILED for r in result.stages.values())
    for name, expected in want.items():
        got = result.stages[name]
        if fail_fast and got.status is CANCELLED:
            continue  # fail-fast stopped it (before or between its attempts)
        assert (name, got.status, got.attempts) == (name, expected.status, expected.attempts)
        if expected.status is SUCCESS:
            assert result[name] == expected.output


@pytest.mark.parametrize("executor", ["sequential", "threads", "async"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_random_dags_follow_the_model_with_events_filtered_out(
    executor: str, scenario: Scenario
) -> None:
    want = model(scenario)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        result = build(scenario).run(executor=executor, max_workers=scenario.max_workers)
    finally:
        structlog.reset_defaults()

    any_failed = any(e.status is FAILED for e in want.values())
    assert result.status is (PipelineStatus.FAILED if any_failed else PipelineStatus.SUCCESS)
    check_quiet(result, want, scenario.fail_fast and any_failed)


@pytest.mark.parametrize("executor", ["sequential", "threads", "async"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_random_dags_follow_the_model(executor: str, scenario: Scenario) -> None:
    want = model(scenario)
    with capture_logs() as events:
        result = build(scenario).run(executor=executor, max_workers=scenario.max_workers)

    any_failed = any(e.status is FAILED for e in want.values())
    assert result.status is (PipelineStatus.FAILED if any_failed else PipelineStatus.SUCCESS)
    assert list(result.stages) == list(build(scenario).order)
    if scenario.fail_fast and any_failed:
        check_fail_fast(result, events, want)
    else:
        check_exact(result, events, want)
