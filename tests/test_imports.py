"""What ``import flowkit`` pulls in and exposes (DESIGN.md §1, §2)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import flowkit

OPTIONAL = ("click", "dask", "distributed")

SEED_EXPORTS = (
    "StageStatus",
    "PipelineStatus",
    "StageResult",
    "PipelineResult",
    "Stage",
    "FunctionStage",
    "ConditionalStage",
    "ParallelStage",
    "Pipeline",
    "PipelineBuilder",
)
REQUIRED_EXPORTS = (
    *SEED_EXPORTS,
    "stage",
    "StageContext",
    "Retry",
    "FlowkitError",
    "PipelineDefinitionError",
    "CycleError",
    "DuplicateStageError",
    "UnknownDependencyError",
    "MissingInputError",
    "StageTimeoutError",
    "PipelineFailedError",
    "__version__",
)


def _loaded_after(code: str) -> list[str]:
    script = "\n".join(
        ["import json, sys", textwrap.dedent(code), "print(json.dumps(sorted(sys.modules)))"]
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return list(json.loads(proc.stdout.splitlines()[-1]))


def _top_level(modules: list[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


def test_import_does_not_pull_optional_dependencies() -> None:
    loaded = _top_level(_loaded_after("import flowkit"))

    assert loaded.isdisjoint(OPTIONAL), sorted(loaded & set(OPTIONAL))


def test_running_a_pipeline_does_not_pull_optional_dependencies() -> None:
    loaded = _top_level(
        _loaded_after(
            """
            import flowkit
            two = flowkit.FunctionStage(lambda one: one + 1, name="two")
            flowkit.Pipeline([flowkit.FunctionStage(lambda: 1, name="one"), two]).run()
            """
        )
    )

    assert loaded.isdisjoint(OPTIONAL), sorted(loaded & set(OPTIONAL))


def test_everything_in_all_exists() -> None:
    missing = [name for name in flowkit.__all__ if not hasattr(flowkit, name)]

    assert missing == []


def test_all_is_sorted_and_unique() -> None:
    assert list(flowkit.__all__) == sorted(set(flowkit.__all__))


def test_required_exports() -> None:
    assert [name for name in REQUIRED_EXPORTS if name not in flowkit.__all__] == []


def test_version_is_a_string() -> None:
    assert isinstance(flowkit.__version__, str)
    assert flowkit.__version__


def test_star_import_gives_all() -> None:
    namespace: dict[str, object] = {}
    # a star import is only allowed at module level; exec gives it a namespace of its own
    exec("from flowkit import *", namespace)  # noqa: S102

    assert set(flowkit.__all__) - {"__version__"} <= set(namespace)
