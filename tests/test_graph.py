"""The DAG: inference, inputs, order, modules, renderings and cycles (DESIGN.md §2, §8, §10)."""

from __future__ import annotations

import gc
import importlib
import itertools
import re
from typing import Any

import pytest
from hypothesis import given, settings
from pipelines import broken
from strategies import Dag, dags, dags_with_back_edge

from flowkit import (
    CycleError,
    DuplicateStageError,
    FunctionStage,
    ParallelStage,
    Pipeline,
    PipelineBuilder,
    PipelineDefinitionError,
    Stage,
    stage,
)


@stage
def source_rows(path: str) -> list[int]:
    return [1, 2, 3]


@stage
def cleaned(source_rows: list[int], threshold: int = 0) -> list[int]:
    return [r for r in source_rows if r > threshold]


@stage
def total(cleaned: list[int]) -> int:
    return sum(cleaned)


@stage(depends_on=["total"])
def notify(channel: str = "email") -> str:
    return channel


def linear() -> Pipeline:
    return Pipeline([source_rows, cleaned, total, notify], name="linear")


class TestInference:
    def test_parameter_named_after_stage_is_dependency(self) -> None:
        pipeline = linear()

        assert pipeline.dependencies("cleaned") == ("source_rows",)
        assert pipeline.dependencies("total") == ("cleaned",)
        assert pipeline.dependencies("source_rows") == ()

    def test_depends_on_is_a_dependency_without_injection(self) -> None:
        pipeline = linear()

        assert pipeline.dependencies("notify") == ("total",)
        assert "total" not in pipeline.stages["notify"].parameters

    def test_dependents(self) -> None:
        pipeline = linear()

        assert pipeline.dependents("source_rows") == ("cleaned",)
        assert pipeline.dependents("total") == ("notify",)
        assert pipeline.dependents("notify") == ()

    def test_dependencies_of_unknown_stage_is_key_error_with_suggestion(self) -> None:
        with pytest.raises(KeyError, match="did you mean 'total'"):
            linear().dependencies("totl")

    def test_registration_order_does_not_matter(self) -> None:
        pipeline = Pipeline([notify, total, cleaned, source_rows])

        assert pipeline.dependencies("cleaned") == ("source_rows",)
        assert pipeline.order == ("source_rows", "cleaned", "total", "notify")

    def test_stage_name_option_is_what_dependents_use(self) -> None:
        @stage(name="numbers")
        def make_numbers() -> list[int]:
            return [1]

        @stage
        def count(numbers: list[int]) -> int:
            return len(numbers)

        pipeline = Pipeline([make_numbers, count])

        assert pipeline.dependencies("count") == ("numbers",)
        assert "numbers" not in pipeline.inputs

    def test_condition_parameter_naming_stage_is_dependency(self) -> None:
        @stage
        def flag() -> bool:
            return True

        @stage(when=lambda flag: flag)
        def guarded() -> int:
            return 1

        pipeline = Pipeline([guarded, flag])

        assert pipeline.dependencies("guarded") == ("flag",)
        assert pipeline.order == ("flag", "guarded")


class TestInputs:
    def test_required_and_optional_records(self) -> None:
        inputs = linear().inputs

        assert set(inputs) == {"path", "threshold", "channel"}
        assert inputs["path"].required is True
        assert inputs["path"].annotation is str or inputs["path"].annotation == "str"
        assert inputs["threshold"].required is False
        assert inputs["threshold"].default == 0
        assert inputs["channel"].required is False
        assert inputs["channel"].default == "email"

    def test_annotation_of_unannotated_input(self) -> None:
        def take(anything):  # type: ignore[no-untyped-def]
            return anything

        spec = Pipeline([take]).inputs["anything"]

        assert spec.required is True
        assert spec.annotation in (None, Any)

    def test_input_taken_with_and_without_default_is_required(self) -> None:
        @stage
        def a(limit: int = 5) -> int:
            return limit

        @stage
        def b(limit: int) -> int:
            return limit

        assert Pipeline([a, b]).inputs["limit"].required is True

    def test_stage_outputs_are_not_inputs(self) -> None:
        assert "source_rows" not in linear().inputs
        assert "cleaned" not in linear().inputs


class TestOrder:
    def test_ties_broken_by_registration_order(self) -> None:
        def zeta() -> int:
            return 1

        def alpha() -> int:
            return 2

        def mid() -> int:
            return 3

        assert Pipeline([zeta, alpha, mid]).order == ("zeta", "alpha", "mid")
        assert Pipeline([mid, zeta, alpha]).order == ("mid", "zeta", "alpha")

    def test_diamond(self) -> None:
        def root() -> int:
            return 1

        def right(root: int) -> int:
            return root

        def left(root: int) -> int:
            return root

        def join(left: int, right: int) -> int:
            return left + right

        assert Pipeline([join, right, left, root]).order == ("root", "right", "left", "join")

    def test_order_is_deterministic(self) -> None:
        names = [f"n{i}" for i in range(12)]
        stages = [FunctionStage(lambda: 0, name=n) for n in names]

        orders = {Pipeline(stages).order for _ in range(5)}

        assert orders == {tuple(names)}

    def test_order_is_a_tuple(self) -> None:
        assert isinstance(linear().order, tuple)

    @settings(max_examples=50, deadline=None)
    @given(dag=dags())
    def test_every_order_respects_every_edge(self, dag: Dag) -> None:
        pipeline = dag.pipeline()

        order = pipeline.order
        position = {name: i for i, name in enumerate(order)}
        assert sorted(order) == sorted(dag.names)
        for producer, consumer in dag.edges:
            assert position[producer] < position[consumer], (producer, consumer, order)

    @settings(max_examples=50, deadline=None)
    @given(dag=dags())
    def test_order_breaks_ties_by_registration(self, dag: Dag) -> None:
        """Each stage in the order is the earliest-registered stage whose dependencies are
        all already placed."""
        order = dag.pipeline().order

        placed: set[str] = set()
        for name in order:
            ready = [n for n in dag.names if n not in placed and set(dag.dependencies(n)) <= placed]
            assert name == ready[0]
            placed.add(name)

    @settings(max_examples=50, deadline=None)
    @given(dag=dags())
    def test_dependencies_match_the_edges(self, dag: Dag) -> None:
        pipeline = dag.pipeline()

        for name in dag.names:
            assert set(pipeline.dependencies(name)) == set(dag.dependencies(name))
            assert set(pipeline.dependents(name)) == {c for p, c in dag.edges if p == name}


class TestCycles:
    def test_a_stage_depending_on_itself_is_a_cycle(self) -> None:
        # Registration order is taken as the order when every dependency comes first: a
        # stage that is its own dependency must not pass for one.
        def a(a: int) -> int:
            return a

        @stage(depends_on=["b"])
        def b() -> int:
            return 1

        for pipeline in (Pipeline([a]), Pipeline([b])):
            with pytest.raises(CycleError) as info:
                pipeline.validate()
            assert len(set(info.value.cycle)) == 1

    def test_two_stage_cycle(self) -> None:
        def a(b: int) -> int:
            return b

        def b(a: int) -> int:
            return a

        with pytest.raises(CycleError) as info:
            Pipeline([a, b]).validate()

        assert info.value.cycle in (["a", "b", "a"], ["b", "a", "b"])
        assert str(info.value).startswith(f"cycle: {' -> '.join(info.value.cycle)}")

    def test_cycle_follows_data_flow(self) -> None:
        # a feeds b, b feeds c, c feeds a
        def a(c: int) -> int:
            return c

        def b(a: int) -> int:
            return a

        def c(b: int) -> int:
            return b

        with pytest.raises(CycleError) as info:
            Pipeline([a, b, c]).validate()

        cycle = info.value.cycle
        assert cycle[0] == cycle[-1]
        rotations = [["a", "b", "c", "a"], ["b", "c", "a", "b"], ["c", "a", "b", "c"]]
        assert cycle in rotations
        assert "cycle: " + " -> ".join(cycle) in str(info.value)

    def test_message_format(self) -> None:
        def a(b: int) -> int:
            return b

        def b(a: int) -> int:
            return a

        with pytest.raises(CycleError, match=r"^cycle: (a -> b -> a|b -> a -> b)\b"):
            Pipeline([a, b]).validate()

    def test_self_dependency(self) -> None:
        def again(again: int) -> int:
            return again

        with pytest.raises(CycleError) as info:
            Pipeline([again]).validate()

        assert info.value.cycle == ["again", "again"]

    def test_cycle_through_depends_on(self) -> None:
        @stage(depends_on=["second"])
        def first() -> int:
            return 1

        @stage
        def second(first: int) -> int:
            return first

        with pytest.raises(CycleError) as info:
            Pipeline([first, second]).validate()

        assert info.value.cycle in (
            ["first", "second", "first"],
            ["second", "first", "second"],
        )

    def test_cycle_downstream_stages_are_not_in_cycle(self) -> None:
        def start() -> int:
            return 0

        def p(start: int, q: int) -> int:
            return q

        def q(p: int) -> int:
            return p

        def after(q: int) -> int:
            return q

        with pytest.raises(CycleError) as info:
            Pipeline([after, start, p, q]).validate()

        assert set(info.value.cycle) == {"p", "q"}

    def test_is_definition_error(self) -> None:
        assert issubclass(CycleError, PipelineDefinitionError)

    @settings(max_examples=50, deadline=None)
    @given(case=dags_with_back_edge())
    def test_injected_back_edge_reports_a_real_loop(
        self, case: tuple[Dag, tuple[str, str]]
    ) -> None:
        dag, back = case
        pipeline = dag.pipeline()

        with pytest.raises(CycleError) as info:
            pipeline.validate()

        cycle = info.value.cycle
        assert len(cycle) >= 3  # no self-loops were generated
        assert cycle[0] == cycle[-1]
        assert len(set(cycle[:-1])) == len(cycle) - 1, "a simple loop names each stage once"
        for producer, consumer in itertools.pairwise(cycle):
            assert (producer, consumer) in dag.edges, (cycle, back)
        assert "cycle: " + " -> ".join(cycle) in str(info.value)


class TestRegistration:
    def test_pipeline_stage_decorator_registers_and_returns_stage(self) -> None:
        pipeline = Pipeline(name="decorated")

        @pipeline.stage
        def one() -> int:
            return 1

        @pipeline.stage(retries=2)
        def two(one: int) -> int:
            return one + 1

        assert isinstance(one, FunctionStage)
        assert two.retry.attempts == 3
        assert list(pipeline.stages) == ["one", "two"]
        assert pipeline.stages["two"] is two
        assert two(one=5) == 6

    def test_pipeline_stage_with_when_registers_conditional(self) -> None:
        pipeline = Pipeline()

        @pipeline.stage(when=lambda: False)
        def never() -> int:
            return 1

        assert pipeline.stages["never"] is never

    def test_add_returns_the_stage(self) -> None:
        pipeline = Pipeline()

        def plain() -> int:
            return 1

        added = pipeline.add(plain)
        again = pipeline.add(total)

        assert isinstance(added, FunctionStage)
        assert added.name == "plain"
        assert again is total
        assert list(pipeline.stages) == ["plain", "total"]

    def test_stages_mapping_in_registration_order(self) -> None:
        pipeline = Pipeline([total, source_rows, cleaned])

        assert list(pipeline.stages) == ["total", "source_rows", "cleaned"]
        assert all(isinstance(s, Stage) for s in pipeline.stages.values())

    def test_stages_mapping_is_read_only(self) -> None:
        pipeline = Pipeline([total])

        with pytest.raises(TypeError):
            pipeline.stages["other"] = total  # type: ignore[index]

    def test_add_after_run_changes_the_dag(self) -> None:
        pipeline = Pipeline([source_rows])
        assert pipeline.order == ("source_rows",)

        pipeline.add(cleaned)

        assert pipeline.order == ("source_rows", "cleaned")
        assert pipeline.dependents("source_rows") == ("cleaned",)


class TestDuplicates:
    def test_constructor(self) -> None:
        with pytest.raises(DuplicateStageError) as info:
            Pipeline([total, FunctionStage(lambda: 1, name="total")])

        assert info.value.name == "total"
        assert "total" in str(info.value)

    def test_add(self) -> None:
        pipeline = Pipeline([total])

        with pytest.raises(DuplicateStageError) as info:
            pipeline.add(total)

        assert info.value.name == "total"

    def test_pipeline_stage_decorator(self) -> None:
        pipeline = Pipeline()

        @pipeline.stage
        def dup() -> int:
            return 1

        with pytest.raises(DuplicateStageError):

            @pipeline.stage(name="dup")
            def other() -> int:
                return 2

    def test_builder(self) -> None:
        builder = PipelineBuilder("b").stage(total).stage(FunctionStage(lambda: 1, name="total"))

        with pytest.raises(DuplicateStageError):
            builder.build()

    def test_is_definition_error(self) -> None:
        assert issubclass(DuplicateStageError, PipelineDefinitionError)


class TestFromModule:
    def test_only_stages_defined_there_in_definition_order(self) -> None:
        pipeline = Pipeline.from_module("sample_modules.orders")

        assert list(pipeline.stages) == ["report", "raw_orders", "clean_orders"]
        assert pipeline.order == ("raw_orders", "clean_orders", "report")

    def test_default_name_is_last_dotted_part(self) -> None:
        assert Pipeline.from_module("sample_modules.orders").name == "orders"

    def test_accepts_module_object_name_and_options(self) -> None:
        module = importlib.import_module("sample_modules.orders")

        pipeline = Pipeline.from_module(
            module, name="named", fail_fast=False, context={"source": "1,2"}
        )

        assert (pipeline.name, pipeline.fail_fast) == ("named", False)
        assert pipeline.run(executor="sequential")["report"] == "6 EUR"

    def test_runs(self, executor: str) -> None:
        pipeline = Pipeline.from_module("sample_modules.orders")

        result = pipeline.run({"source": "3,-1,4"}, executor=executor)

        assert result.outputs == {
            "raw_orders": [3, -1, 4],
            "clean_orders": [6, 8],
            "report": "14 EUR",
        }

    def test_parallel_group_children_are_internal(self) -> None:
        pipeline = Pipeline.from_module("sample_modules.groups")

        assert list(pipeline.stages) == ["both", "combined"]
        assert isinstance(pipeline.stages["both"], ParallelStage)
        assert pipeline.run({"seed": 1}, executor="sequential")["combined"] == 6

    def test_imported_stages_are_excluded(self) -> None:
        pipeline = Pipeline.from_module("sample_modules.orders")

        assert "shared_total" not in pipeline.stages
        assert "shared_group" not in pipeline.stages


def _edges(dag_text: str, pattern: str) -> set[tuple[str, str]]:
    return set(re.findall(pattern, dag_text))


class TestRenderings:
    def test_mermaid_contains_every_stage_and_edge(self) -> None:
        pipeline = linear()

        text = pipeline.to_mermaid()

        assert isinstance(text, str)
        assert "flowchart" in text or "graph" in text
        for name in pipeline.stages:
            assert name in text
        edges = _edges(text, r"(\w+) --> (\w+)")
        assert edges >= {("source_rows", "cleaned"), ("cleaned", "total"), ("total", "notify")}

    def test_dot_contains_every_stage_and_edge(self) -> None:
        pipeline = linear()

        text = pipeline.to_dot()

        assert text.lstrip().startswith("digraph")
        for name in pipeline.stages:
            assert name in text
        edges = _edges(text, r'"?(\w+)"?\s*->\s*"?(\w+)"?')
        assert edges >= {("source_rows", "cleaned"), ("cleaned", "total"), ("total", "notify")}

    @settings(max_examples=30, deadline=None)
    @given(dag=dags())
    def test_random_dags_render_every_edge(self, dag: Dag) -> None:
        pipeline = dag.pipeline()

        mermaid = _edges(pipeline.to_mermaid(), r"(\w+) --> (\w+)")
        dot = _edges(pipeline.to_dot(), r'"(\w+)" -> "(\w+)"')

        assert set(dag.edges) <= mermaid
        assert set(dag.edges) <= dot
        for name in dag.names:
            assert name in pipeline.to_mermaid()
            assert name in pipeline.to_dot()

    def test_rendering_a_cyclic_pipeline_raises_cycle_error(self) -> None:
        def a(b: int) -> int:
            return b

        def b(a: int) -> int:
            return a

        with pytest.raises(CycleError):
            Pipeline([a, b]).to_mermaid()


def test_parallel_stage_is_one_node_depending_on_its_childrens_needs() -> None:
    @stage
    def base() -> int:
        return 2

    def square(base: int) -> int:
        return base * base

    def cube(base: int) -> int:
        return base**3

    group = ParallelStage("powers", [square, cube])

    @stage
    def pick(powers: dict[str, int]) -> int:
        return powers["square"] + powers["cube"]

    pipeline = Pipeline([pick, group, base])

    assert pipeline.order == ("base", "powers", "pick")
    assert pipeline.dependencies("powers") == ("base",)
    assert pipeline.dependents("powers") == ("pick",)


def test_unknown_option_is_rejected_at_decoration_time() -> None:
    with pytest.raises((TypeError, PipelineDefinitionError)):
        stage(retries_count=2)(source_rows.fn)  # type: ignore[call-overload]


@pytest.mark.parametrize("collecting", [True, False])
def test_building_a_graph_leaves_the_garbage_collector_as_it_was(collecting: bool) -> None:
    was = gc.isenabled()
    (gc.enable if collecting else gc.disable)()
    try:
        Pipeline([stage(lambda: 1, name="one")]).validate()
        assert gc.isenabled() is collecting
        with pytest.raises(CycleError):
            Pipeline([broken.a, broken.b]).validate()  # a two-stage loop
        assert gc.isenabled() is collecting  # also after the error
    finally:
        (gc.enable if was else gc.disable)()
