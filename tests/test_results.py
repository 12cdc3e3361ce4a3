"""Statuses and results (DESIGN.md §2 "Results", §10)."""

from __future__ import annotations

import time

import attrs
import pytest

from flowkit import (
    FlowkitError,
    Pipeline,
    PipelineFailedError,
    PipelineInterrupted,
    PipelineResult,
    PipelineStatus,
    StageResult,
    StageStatus,
    stage,
)


class TestStatuses:
    def test_stage_status_values(self) -> None:
        assert {s.name: s.value for s in StageStatus} == {
            "PENDING": "pending",
            "RUNNING": "running",
            "SUCCESS": "success",
            "FAILED": "failed",
            "SKIPPED": "skipped",
            "CANCELLED": "cancelled",
        }

    def test_pipeline_status_values(self) -> None:
        assert {s.name: s.value for s in PipelineStatus} == {
            "CREATED": "created",
            "RUNNING": "running",
            "SUCCESS": "success",
            "FAILED": "failed",
            "CANCELLED": "cancelled",
        }

    def test_statuses_are_looked_up_by_value(self) -> None:
        assert StageStatus("skipped") is StageStatus.SKIPPED
        assert PipelineStatus("failed") is PipelineStatus.FAILED


def mixed(pipeline_name: str = "mixed") -> Pipeline:
    """Registered out of order; ``load`` succeeds, ``check`` fails, ``gated`` is skipped,
    ``report`` is cancelled."""

    @stage
    def report(check: int) -> str:
        return str(check)

    @stage
    def check(load: list[int]) -> int:
        raise ValueError("check failed")

    @stage(when=lambda: False)
    def gated() -> int:
        return 1

    @stage
    def load() -> list[int]:
        time.sleep(0.05)  # a measurable duration
        return [1, 2]

    @stage
    def nothing() -> None:
        return None

    return Pipeline([report, check, gated, load, nothing], name=pipeline_name, fail_fast=False)


@pytest.fixture
def mixed_result(executor: str) -> PipelineResult:
    return mixed().run(executor=executor)


class TestStageResult:
    def test_fields(self) -> None:
        assert [f.name for f in attrs.fields(StageResult)] == [
            "name",
            "status",
            "output",
            "error",
            "attempts",
            "started_at",
            "finished_at",
            "duration",
            "children",
            "skip_reason",
            "cached",
        ]

    def test_is_frozen(self, mixed_result: PipelineResult) -> None:
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            mixed_result.stages["load"].output = None  # type: ignore[misc]

    def test_success(self, mixed_result: PipelineResult) -> None:
        before = time.time()
        load = mixed_result.stages["load"]

        assert (load.name, load.status, load.output, load.error) == (
            "load",
            StageStatus.SUCCESS,
            [1, 2],
            None,
        )
        assert load.attempts == 1
        assert load.started_at is not None
        assert load.finished_at is not None
        assert load.started_at <= load.finished_at <= before
        assert before - load.started_at < 60  # a Unix timestamp of this run
        assert load.duration >= 0.04
        assert load.finished_at - load.started_at == pytest.approx(load.duration, abs=0.05)
        assert load.children == {}
        assert load.skip_reason is None
        assert load.cached is False

    def test_failure(self, mixed_result: PipelineResult) -> None:
        check = mixed_result.stages["check"]

        assert check.status is StageStatus.FAILED
        assert isinstance(check.error, ValueError)
        assert str(check.error) == "check failed"
        assert check.output is None
        assert check.attempts == 1
        assert check.started_at is not None

    def test_skipped(self, mixed_result: PipelineResult) -> None:
        gated = mixed_result.stages["gated"]

        assert gated.status is StageStatus.SKIPPED
        assert gated.skip_reason
        assert (gated.output, gated.error, gated.attempts) == (None, None, 0)
        # a false condition means the stage never started (no `stage.started` event either)
        assert gated.started_at is None
        assert gated.finished_at is None

    def test_cancelled(self, mixed_result: PipelineResult) -> None:
        report = mixed_result.stages["report"]

        assert report.status is StageStatus.CANCELLED
        assert (report.output, report.error, report.attempts) == (None, None, 0)
        assert report.started_at is None
        assert report.finished_at is None
        assert report.skip_reason is None


class TestPipelineResult:
    def test_fields(self, mixed_result: PipelineResult) -> None:
        result = mixed_result

        assert isinstance(result.run_id, str)
        assert result.run_id
        assert result.name == "mixed"
        assert result.status is PipelineStatus.FAILED
        assert result.started_at <= result.finished_at
        assert result.duration >= 0.04
        assert result.finished_at - result.started_at == pytest.approx(result.duration, abs=0.05)

    def test_stages_in_pipeline_order(self, mixed_result: PipelineResult) -> None:
        assert list(mixed_result.stages) == list(mixed().order)
        assert list(mixed_result.stages) == ["gated", "load", "check", "report", "nothing"]

    def test_counts(self, mixed_result: PipelineResult) -> None:
        result = mixed_result

        assert (result.succeeded, result.failed, result.skipped, result.cancelled) == (2, 1, 1, 1)

    def test_outputs_of_successful_stages_only(self, mixed_result: PipelineResult) -> None:
        assert mixed_result.outputs == {"load": [1, 2], "nothing": None}

    def test_ok(self, mixed_result: PipelineResult, executor: str) -> None:
        @stage
        def fine() -> int:
            return 1

        assert mixed_result.ok is False
        assert Pipeline([fine]).run(executor=executor).ok is True

    def test_getitem_success(self, mixed_result: PipelineResult) -> None:
        assert mixed_result["load"] == [1, 2]
        assert mixed_result["nothing"] is None

    @pytest.mark.parametrize(
        ("name", "status"), [("check", "failed"), ("gated", "skipped"), ("report", "cancelled")]
    )
    def test_getitem_without_output(
        self, mixed_result: PipelineResult, name: str, status: str
    ) -> None:
        with pytest.raises(KeyError) as info:
            mixed_result[name]

        message = str(info.value)
        assert name in message
        assert status in message

    def test_getitem_unknown_stage(self, mixed_result: PipelineResult) -> None:
        with pytest.raises(KeyError, match="missing"):
            mixed_result["missing"]

    def test_is_frozen(self, mixed_result: PipelineResult) -> None:
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            mixed_result.status = PipelineStatus.SUCCESS  # type: ignore[misc]


class TestRaiseOnFailure:
    def test_success_returns_none(self, executor: str) -> None:
        @stage
        def fine() -> int:
            return 1

        assert Pipeline([fine]).run(executor=executor).raise_on_failure() is None

    def test_raises_chained_to_stage_error(self, mixed_result: PipelineResult) -> None:
        with pytest.raises(PipelineFailedError) as info:
            mixed_result.raise_on_failure()

        error = info.value
        assert error.result is mixed_result
        assert error.__cause__ is mixed_result.stages["check"].error
        assert isinstance(error, RuntimeError)
        assert isinstance(error, FlowkitError)
        assert "check" in str(error)
        assert "mixed" in str(error)

    def test_chains_first_failed_stage_in_pipeline_order(self, executor: str) -> None:
        # `late` is registered first but comes after `early` in pipeline.order, and it fails
        # first in time (`early` only fails for good after its delayed retry).
        @stage
        def base() -> int:
            return 1

        @stage
        def late(base: int) -> None:
            raise KeyError("late")

        @stage(retries=1, backoff=0.1)
        def early() -> None:
            raise OSError("early")

        pipeline = Pipeline([late, early, base], fail_fast=False)
        result = pipeline.run(executor=executor)

        assert pipeline.order == ("early", "base", "late")
        with pytest.raises(PipelineFailedError) as info:
            result.raise_on_failure()
        assert isinstance(info.value.__cause__, OSError)
        assert info.value.__cause__ is result.stages["early"].error

    def test_cancelled_run_raises(self) -> None:
        @stage
        def stop() -> None:
            raise KeyboardInterrupt

        with pytest.raises(PipelineInterrupted) as interrupted:
            Pipeline([stop]).run(executor="sequential")
        result = interrupted.value.result

        assert result.status is PipelineStatus.CANCELLED
        with pytest.raises(PipelineFailedError) as info:
            result.raise_on_failure()
        assert info.value.result is result
