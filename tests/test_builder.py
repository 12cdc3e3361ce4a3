"""``PipelineBuilder``: the fluent API builds the same pipeline as the decorator form."""

from __future__ import annotations

from flowkit import ConditionalStage, ParallelStage, Pipeline, PipelineBuilder, stage


def load(source: str) -> list[int]:
    return [int(part) for part in source.split(",")]


def clean(load: list[int]) -> list[int]:
    return [n for n in load if n >= 0]


def report(clean: list[int], currency: str = "EUR") -> str:
    return f"{sum(clean)} {currency}"


def has_rows(clean: list[int]) -> bool:
    return bool(clean)


def test_builder_and_decorators_make_the_same_pipeline() -> None:
    built = (
        PipelineBuilder("orders")
        .stage(load)
        .stage(clean, retries=2, timeout=5)
        .stage(report, when=has_rows)
        .context(source="1,-2,3")
        .fail_fast(False)
        .build()
    )
    decorated = Pipeline(
        [
            stage(load),
            stage(retries=2, timeout=5)(clean),
            stage(when=has_rows)(report),
        ],
        name="orders",
        fail_fast=False,
        context={"source": "1,-2,3"},
    )

    assert built.name == decorated.name
    assert built.fail_fast is decorated.fail_fast is False
    assert built.order == decorated.order == ("load", "clean", "report")
    assert {n: built.dependencies(n) for n in built.order} == {
        n: decorated.dependencies(n) for n in decorated.order
    }
    assert built.stages["clean"].retry == decorated.stages["clean"].retry
    assert built.stages["clean"].timeout == 5
    assert isinstance(built.stages["report"], ConditionalStage)
    assert (
        built.run().outputs
        == decorated.run().outputs
        == {
            "load": [1, -2, 3],
            "clean": [1, 3],
            "report": "4 EUR",
        }
    )


def test_every_builder_method_returns_the_builder() -> None:
    builder = PipelineBuilder("fluent")

    assert builder.stage(load) is builder
    assert builder.parallel("group", clean) is builder
    assert builder.context(source="1") is builder
    assert builder.fail_fast(True) is builder


def test_parallel_adds_a_parallel_stage_and_run_inputs_override_context() -> None:
    def left(load: list[int]) -> int:
        return min(load)

    def right(load: list[int]) -> int:
        return max(load)

    pipeline = (
        PipelineBuilder("p")
        .stage(load)
        .parallel("bounds", left, right)
        .context(source="1,2")
        .build()
    )

    assert isinstance(pipeline.stages["bounds"], ParallelStage)
    assert pipeline.run()["bounds"] == {"left": 1, "right": 2}
    assert pipeline.run({"source": "5,9,7"})["bounds"] == {"left": 5, "right": 9}
