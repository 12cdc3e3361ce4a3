"""Caching and resume (DESIGN.md sections 9 and 10): real files, real subprocesses."""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from flowkit import (
    CacheError,
    ConditionalStage,
    FunctionStage,
    Pipeline,
    Stage,
    StageContext,
    StageStatus,
    stage,
)
from flowkit._cache import Cache
from flowkit._cache.files import KEY_FILE, clear, scan, stage_dirname
from flowkit._cache.fingerprint import fingerprint
from flowkit._cache.store import MAGIC
from tests.conftest import Calls

HEADER = len(MAGIC) + 32


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A cache directory path that does not exist yet."""
    return tmp_path / "cache"


class CacheLog:
    """The messages of the ``flowkit.cache`` logger, read when asked."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    @property
    def messages(self) -> list[str]:
        return [r.getMessage() for r in self._caplog.records if r.name == "flowkit.cache"]


@pytest.fixture
def cache_log(caplog: pytest.LogCaptureFixture) -> Iterator[CacheLog]:
    """What the cache logs (stdlib logging, ``flowkit.cache``) while the test runs."""
    with caplog.at_level(logging.WARNING, logger="flowkit.cache"):
        yield CacheLog(caplog)


def _pipeline(source: str, calls: Calls, **namespace: Any) -> Pipeline:
    """The stages defined by ``source`` (executed in a fresh namespace, like a module)."""
    scope: dict[str, Any] = {"__name__": "cache_sample", "stage": stage, "calls": calls}
    scope.update(namespace)
    exec(textwrap.dedent(source), scope)  # noqa: S102 - test sources written here
    return Pipeline([v for v in scope.values() if isinstance(v, Stage)], name="sample")


def _entries(cache_dir: Path, stage_name: str) -> list[Path]:
    return sorted((cache_dir / stage_dirname(stage_name)).glob("*.pkl"))


def _only_entry(cache_dir: Path, stage_name: str) -> Path:
    entries = _entries(cache_dir, stage_name)
    assert len(entries) == 1, entries
    return entries[0]


def _cached(result: Any) -> dict[str, bool]:
    return {name: r.cached for name, r in result.stages.items()}


CHAIN = """
@stage(cache=True)
def a(x: int) -> int:
    calls.add("a")
    return x + 1

@stage(cache=True)
def b(a: int) -> int:
    calls.add("b")
    return a * 2

@stage(cache=True)
def c(b: int) -> int:
    calls.add("c")
    return b + 100

@stage(cache=True)
def d(a: int) -> int:
    calls.add("d")
    return -a

@stage
def plain(c: int, d: int) -> int:
    calls.add("plain")
    return c + d
"""


class TestHits:
    def test_second_run_runs_no_cached_stage(
        self, executor: str, cache_dir: Path, calls: Calls
    ) -> None:
        pipeline = _pipeline(CHAIN, calls)

        first = pipeline.run({"x": 1}, cache=cache_dir, executor=executor)
        second = pipeline.run({"x": 1}, cache=cache_dir, executor=executor)

        assert sorted(calls.names) == ["a", "b", "c", "d", "plain", "plain"]
        assert second.ok
        assert second.outputs == first.outputs == {"a": 2, "b": 4, "c": 104, "d": -2, "plain": 102}
        assert _cached(first) == dict.fromkeys("abcd", False) | {"plain": False}
        assert _cached(second) == dict.fromkeys("abcd", True) | {"plain": False}
        assert [second.stages[n].attempts for n in "abcd"] == [0, 0, 0, 0]
        assert [second.stages[n].status for n in "abcd"] == [StageStatus.SUCCESS] * 4

    def test_hit_emits_stage_succeeded_with_cached_and_no_started(
        self, cache_dir: Path, calls: Calls, events: list[dict[str, Any]]
    ) -> None:
        pipeline = _pipeline(CHAIN, calls)
        pipeline.run({"x": 1}, cache=cache_dir)
        events.clear()

        pipeline.run({"x": 1}, cache=cache_dir)

        started = [e["stage"] for e in events if e["event"] == "stage.started"]
        succeeded = {e["stage"]: e for e in events if e["event"] == "stage.succeeded"}
        assert started == ["plain"]
        assert [succeeded[n].get("cached") for n in "abcd"] == [True] * 4
        assert "cached" not in succeeded["plain"]

    def test_cache_object_and_directory_path_share_entries(
        self, cache_dir: Path, calls: Calls
    ) -> None:
        pipeline = _pipeline(CHAIN, calls)
        pipeline.run({"x": 1}, cache=Cache(cache_dir))

        result = pipeline.run({"x": 1}, cache=str(cache_dir))

        assert _cached(result) == dict.fromkeys("abcd", True) | {"plain": False}

    def test_changed_input_reruns_its_stage_and_only_dependents_whose_input_changed(
        self, cache_dir: Path, calls: Calls
    ) -> None:
        source = """
        @stage(cache=True)
        def parity(x: int) -> int:
            calls.add("parity")
            return x % 2

        @stage(cache=True)
        def label(parity: int) -> str:
            calls.add("label")
            return "odd" if parity else "even"
        """
        pipeline = _pipeline(source, calls)
        pipeline.run({"x": 1}, cache=cache_dir)

        result = pipeline.run({"x": 3}, cache=cache_dir)

        assert calls.names == ["parity", "label", "parity"]
        assert result.outputs == {"parity": 1, "label": "odd"}
        assert _cached(result) == {"parity": False, "label": True}

    def test_context_is_keyed_by_its_data_not_its_attempt(
        self, cache_dir: Path, calls: Calls
    ) -> None:
        @stage(cache=True, retries=1)
        def load(context: StageContext) -> str:
            calls.add(f"load:{context.attempt}")
            if context.attempt == 1:
                raise ConnectionError("flaky")
            return context["source"].upper()

        pipeline = Pipeline([load])
        first = pipeline.run({"source": "s3://a"}, cache=cache_dir)
        second = pipeline.run({"source": "s3://a"}, cache=cache_dir)
        other = pipeline.run({"source": "s3://b"}, cache=cache_dir)

        assert (first.stages["load"].attempts, first.outputs) == (2, {"load": "S3://A"})
        assert (second.stages["load"].cached, second.outputs) == (True, {"load": "S3://A"})
        assert (other.stages["load"].cached, other.outputs) == (False, {"load": "S3://B"})
        assert calls.names == ["load:1", "load:2", "load:1", "load:2"]

    def test_only_cache_true_stages_are_cached(self, cache_dir: Path, calls: Calls) -> None:
        pipeline = _pipeline(CHAIN, calls)
        pipeline.run({"x": 1}, cache=cache_dir)

        assert sorted(scan(cache_dir).stages) == ["a", "b", "c", "d"]

    def test_without_a_cache_nothing_is_cached(self, cache_dir: Path, calls: Calls) -> None:
        pipeline = _pipeline(CHAIN, calls)
        pipeline.run({"x": 1})
        result = pipeline.run({"x": 1})

        assert len(calls) == 10
        assert not any(_cached(result).values())
        assert not cache_dir.exists()

    def test_map_over_items_are_cached_one_by_one(self, cache_dir: Path, calls: Calls) -> None:
        @stage(cache=True, map_over="url")
        def fetch(url: str) -> str:
            calls.add(url)
            return url.upper()

        pipeline = Pipeline([fetch])
        pipeline.run({"url": ["a", "b"]}, cache=cache_dir)
        result = pipeline.run({"url": ["b", "c", "a"]}, cache=cache_dir)

        assert result.outputs == {"fetch": ["B", "C", "A"]}
        assert sorted(calls.names) == ["a", "b", "c"]
        assert len(_entries(cache_dir, "fetch")) == 3

    def test_a_second_process_hits_whatever_its_hash_seed(self, tmp_path: Path) -> None:
        module = tmp_path / "seeded.py"
        module.write_text(
            textwrap.dedent(
                """
                import json, sys
                from flowkit import Pipeline, stage

                @stage(cache=True)
                def tags(names: frozenset, weights: dict, pairs: set) -> list:
                    return sorted(names) + sorted(weights) + sorted(map(str, pairs))

                @stage(cache=True, map_over="word")
                def shout(word: str, tags: list) -> str:
                    return word.upper() + str(len(tags))

                if __name__ == "__main__":
                    result = Pipeline([tags, shout]).run(
                        {
                            "names": frozenset({"alpha", "beta", "gamma", "delta"}),
                            "weights": {"w1": 1.5, "w2": [1, 2, {"x": None}]},
                            "pairs": {("a", 1), ("b", 2), ("c", 3)},
                            "word": ["x", "y"],
                        },
                        cache=sys.argv[1],
                    )
                    print(json.dumps({n: r.cached for n, r in result.stages.items()}))
                """
            )
        )
        cache_dir = tmp_path / "cache"

        outputs = [
            _run_script(module, str(cache_dir), env={"PYTHONHASHSEED": seed})
            for seed in ("1", "2", "3")
        ]

        assert [json.loads(out)["tags"] for out in outputs] == [False, True, True]
        assert len(_entries(cache_dir, "tags")) == 1
        assert len(_entries(cache_dir, "shout")) == 2

    @pytest.mark.parametrize("executor_name", ["sequential", "threads", "processes", "async"])
    def test_every_executor_hits_on_the_second_run(
        self, tmp_path: Path, executor_name: str
    ) -> None:
        (tmp_path / "executors_flow.py").write_text(
            textwrap.dedent(
                """
                import os
                from flowkit import Pipeline, stage

                def note(name):
                    with open(os.environ["CALLS_FILE"], "a") as calls:
                        calls.write(name + "\\n")

                @stage(cache=True)
                def first(x: int) -> int:
                    note("first")
                    return x + 1

                @stage(cache=True, map_over="item")
                def each(item: int, first: int) -> int:
                    note(f"each:{item}")
                    return item * first

                @stage(cache=True)
                async def total(each) -> int:
                    note("total")
                    return sum(each)

                pipeline = Pipeline([first, each, total])
                """
            )
        )
        script = tmp_path / "run_twice.py"
        script.write_text(
            textwrap.dedent(
                """
                import json, sys
                from executors_flow import pipeline

                inputs = {"x": 1, "item": [1, 2]}
                runs = []
                for _ in range(2):
                    runs.append(pipeline.run(inputs, cache=sys.argv[1], executor=sys.argv[2]))
                print(json.dumps([
                    [r.status.value, r.outputs.get("total"), [s.cached for s in r.stages.values()]]
                    for r in runs
                ]))
                """
            )
        )
        calls_file = tmp_path / "calls"

        out = _run_script(
            script, str(tmp_path / "cache"), executor_name, env={"CALLS_FILE": str(calls_file)}
        )

        assert json.loads(out) == [
            ["success", 6, [False, False, False]],
            # a map_over stage caches item by item; every item a hit: the stage is cached
            ["success", 6, [True, True, True]],
        ]
        assert sorted(calls_file.read_text().split()) == ["each:1", "each:2", "first", "total"]


class TestInvalidation:
    def test_changed_code_reruns_only_that_stage_and_its_dependents(
        self, cache_dir: Path, calls: Calls
    ) -> None:
        v1 = _pipeline(CHAIN, calls)
        v2 = _pipeline(CHAIN.replace("return a * 2", "return a * 3"), calls)
        v1.run({"x": 1}, cache=cache_dir)
        calls.names.clear()

        changed = v2.run({"x": 1}, cache=cache_dir)
        rerun_v2 = v2.run({"x": 1}, cache=cache_dir)
        rerun_v1 = v1.run({"x": 1}, cache=cache_dir)

        assert _cached(changed) == {"a": True, "b": False, "c": False, "d": True, "plain": False}
        assert changed.outputs["c"] == 106
        assert _cached(rerun_v2) == _cached(rerun_v1) == _cached(changed) | {"b": True, "c": True}
        assert rerun_v1.outputs["c"] == 104  # the old version's entries are still there
        assert calls.names == ["b", "c", "plain", "plain", "plain"]

    def test_changed_version_reruns_only_that_stage_and_its_dependents(
        self, cache_dir: Path, calls: Calls
    ) -> None:
        versioned = CHAIN.replace(
            "@stage(cache=True)\ndef b", "@stage(cache=True, version=V)\ndef b"
        )
        assert versioned != CHAIN
        _pipeline(versioned, calls, V="1").run({"x": 1}, cache=cache_dir)
        calls.names.clear()

        same = _pipeline(versioned.replace("a * 2", "a * 2 + 0"), calls, V="1")
        kept = same.run({"x": 1}, cache=cache_dir)
        bumped = _pipeline(versioned, calls, V="2").run({"x": 1}, cache=cache_dir)

        assert _cached(kept) == dict.fromkeys("abcd", True) | {"plain": False}
        assert _cached(bumped) == {"a": True, "b": False, "c": True, "d": True, "plain": False}
        assert calls.names == ["plain", "b", "plain"]  # c's input did not change: it hits

    @pytest.mark.parametrize(
        "change",
        [{"factor": 3}, {"plus": " + 0"}, {"k": 2}],
        ids=["module-constant", "same-module-helper", "helper-default"],
    )
    def test_what_the_function_reads_is_part_of_its_code(
        self, cache_dir: Path, calls: Calls, change: dict[str, Any]
    ) -> None:
        source = """
        FACTOR = {factor}

        def helper(v, k={k}):
            return v{plus}

        @stage(cache=True)
        def scaled(x: int) -> int:
            calls.add("scaled")
            return helper(x) * FACTOR
        """
        base = {"factor": 2, "k": 1, "plus": ""}
        results = [
            _pipeline(source.format(**values), calls).run({"x": 1}, cache=cache_dir)
            for values in (base, base, base | change)
        ]

        assert [r.stages["scaled"].cached for r in results] == [False, True, False]
        assert calls.names == ["scaled", "scaled"]

    def test_closure_values_and_defaults_are_part_of_the_code(
        self, cache_dir: Path, calls: Calls
    ) -> None:
        def make(factor: int, offset: int) -> FunctionStage[..., int]:
            def scaled(x: int, extra: int = offset) -> int:
                calls.add(f"{factor}+{extra}")
                return x * factor + extra

            return stage(cache=True)(scaled)

        results = [
            Pipeline([make(f, o)]).run({"x": 1}, cache=cache_dir).stages["scaled"].cached
            for f, o in [(2, 0), (2, 0), (3, 0), (2, 1)]
        ]

        assert results == [False, True, False, False]
        assert calls.names == ["2+0", "3+0", "2+1"]

    def test_moving_a_function_or_editing_comments_keeps_its_entries(
        self, cache_dir: Path, calls: Calls
    ) -> None:
        _pipeline(CHAIN, calls).run({"x": 1}, cache=cache_dir)
        moved = "\n\n# a comment\n\n" + CHAIN.replace(
            "    return x + 1", "    # why\n    return x + 1"
        )

        result = _pipeline(moved, calls).run({"x": 1}, cache=cache_dir)

        assert _cached(result) == dict.fromkeys("abcd", True) | {"plain": False}

    def test_a_condition_does_not_change_the_fingerprint(self) -> None:
        def body(x: int) -> int:
            return x

        plain = FunctionStage(body, cache=True)

        assert fingerprint(ConditionalStage(plain, lambda x: x > 0)) == fingerprint(plain)
        assert fingerprint(FunctionStage(body, cache=True, version="1")) != fingerprint(plain)

    def test_same_code_in_two_namespaces_has_one_fingerprint_other_code_another(self) -> None:
        first = _pipeline(CHAIN, Calls()).stages
        second = _pipeline(CHAIN, Calls()).stages
        edited = _pipeline(CHAIN.replace("x + 1", "x + 2"), Calls()).stages

        assert [fingerprint(first[n]) for n in "abcd"] == [fingerprint(second[n]) for n in "abcd"]
        assert fingerprint(edited["a"]) != fingerprint(first["a"])
        assert fingerprint(edited["b"]) == fingerprint(first["b"])


class TestKeys:
    @pytest.fixture
    def cache(self, cache_dir: Path) -> Cache:
        return Cache(cache_dir)

    @pytest.fixture
    def echo(self) -> FunctionStage[..., Any]:
        def echo(value: Any) -> Any:
            return value

        return FunctionStage(echo, cache=True)

    def test_equal_arguments_give_equal_keys_and_different_ones_different_keys(
        self, cache: Cache, echo: FunctionStage[..., Any]
    ) -> None:
        values: list[Any] = [
            1,
            True,
            1.0,
            "1",
            b"1",
            (1,),
            [1],
            {1: 1},
            {1},
            frozenset({1}),
            None,
            0.0,
            -0.0,
            2**200,
            {"a": 1, "b": 2},
            {"b": 2, "a": 1},  # insertion order can change what a function returns
            [[1, 2], [3]],
            [[1], [2, 3]],
            complex(1, 2),
            list(range(5000)),
            list(range(5001)),
        ]
        keys = [cache.key(echo, {"value": v}) for v in values]
        again = [cache.key(echo, {"value": v}) for v in values]

        assert keys == again
        assert None not in keys
        assert len(set(keys)) == len(values)

    def test_sets_are_keyed_by_content_whatever_their_order(
        self, cache: Cache, echo: FunctionStage[..., Any]
    ) -> None:
        words = [f"w{i}" for i in range(50)]

        shuffled = set()
        for word in reversed(words):
            shuffled.add(word)

        assert cache.key(echo, {"value": set(words)}) == cache.key(echo, {"value": shuffled})

    def test_keyword_order_does_not_matter(self, cache: Cache) -> None:
        def pair(a: int, b: int) -> int:
            return a + b

        made = FunctionStage(pair, cache=True)

        assert cache.key(made, {"a": 1, "b": 2}) == cache.key(made, {"b": 2, "a": 1})
        assert cache.key(made, {"a": 1, "b": 2}) != cache.key(made, {"a": 2, "b": 1})

    def test_deep_and_self_referencing_values_are_keyed(
        self, cache: Cache, echo: FunctionStage[..., Any]
    ) -> None:
        deep: list[Any] = []
        node = deep
        for _ in range(200):
            node.append([])
            node = node[0]
        loop: list[Any] = [1]
        loop.append(loop)

        assert cache.key(echo, {"value": deep}) is not None
        assert cache.key(echo, {"value": loop}) is not None

    def test_context_key_ignores_run_id_and_attempt(self, cache: Cache) -> None:
        def use(context: StageContext) -> object:
            return context["a"]

        made = FunctionStage(use, cache=True)

        def ctx(data: dict[str, Any], attempt: int, run_id: str) -> StageContext:
            return StageContext(data, run_id=run_id, pipeline="p", stage="use", attempt=attempt)

        key = cache.key(made, {"context": ctx({"a": 1, "b": 2}, 1, "r1")})
        assert key == cache.key(made, {"context": ctx({"b": 2, "a": 1}, 3, "r2")})
        assert key != cache.key(made, {"context": ctx({"a": 1, "b": 3}, 1, "r1")})

    @pytest.mark.parametrize("name", ["a/b", "..", ".hidden", "x" * 300, "naïve stage"])
    def test_entries_of_any_stage_name_stay_inside_the_directory(
        self, cache_dir: Path, name: str
    ) -> None:
        made = FunctionStage(lambda value: value, name=name, cache=True)
        cache = Cache(cache_dir)

        key = cache.key(made, {"value": 1})
        assert key is not None
        cache.store(key, "stored")

        entries = list(cache_dir.rglob("*.pkl"))
        assert [p.parent.parent for p in entries] == [cache_dir]
        assert cache.load(key) == (True, "stored")


BROKEN_C = CHAIN.replace(
    'calls.add("c")', 'calls.add("c")\n    if broken["c"]:\n        raise OSError("down")'
)


class TestResume:
    def test_rerun_after_a_failure_runs_only_the_failed_stage_and_what_follows(
        self, executor: str, cache_dir: Path, calls: Calls
    ) -> None:
        broken = {"c": True}
        pipeline = _pipeline(BROKEN_C, calls, broken=broken)
        failed = pipeline.run({"x": 1}, cache=cache_dir, executor=executor)
        unfinished = {n for n, r in failed.stages.items() if r.status is not StageStatus.SUCCESS}
        calls.names.clear()
        broken["c"] = False

        resumed = pipeline.run({"x": 1}, cache=cache_dir, executor=executor)

        assert failed.stages["c"].status is StageStatus.FAILED
        assert {"c", "plain"} <= unfinished <= {"c", "d", "plain"}  # d may run before c fails
        assert resumed.ok
        assert sorted(calls.names) == sorted(unfinished)
        assert {n for n, cached in _cached(resumed).items() if not cached} == unfinished

    def test_rerun_without_fail_fast_runs_exactly_the_failed_branch(
        self, cache_dir: Path, calls: Calls
    ) -> None:
        broken = {"c": True}
        pipeline = _pipeline(BROKEN_C, calls, broken=broken)
        pipeline.run({"x": 1}, cache=cache_dir, fail_fast=False)
        calls.names.clear()
        broken["c"] = False

        resumed = pipeline.run({"x": 1}, cache=cache_dir, fail_fast=False)

        assert sorted(calls.names) == ["c", "plain"]
        assert resumed.outputs["plain"] == 102


def _run_script(
    script: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> str:
    completed = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env=_env(script.parent, env),
    )
    if check:
        assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""


def _env(path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
    return env


CRASH_SCRIPT = """
import json, os, pathlib, sys, time
from flowkit import Pipeline, stage

class Payload:
    def __init__(self, data):
        self.data = data

    def __reduce__(self):
        marker = os.environ.get("BLOCK_MARKER")
        if marker:  # the entry's bytes so far are in the temporary file: stop here
            pathlib.Path(marker).write_text("writing")
            time.sleep(600)
        return (Payload, (self.data,))

@stage(cache=True)
def big(size: int) -> list:
    with open(os.environ["CALLS_FILE"], "a") as calls:
        calls.write("big\\n")
    return [bytes(range(256)) * (size // 256), Payload(b"tail")]

@stage(cache=True)
def summary(big: list) -> int:
    return len(big[0]) + len(big[1].data)

if __name__ == "__main__":
    result = Pipeline([big, summary]).run({"size": int(sys.argv[2])}, cache=sys.argv[1])
    print(json.dumps({
        "status": result.status.value,
        "cached": {name: r.cached for name, r in result.stages.items()},
        "summary": result.outputs.get("summary"),
    }))
"""


class _Mkdir:
    """Unpickling it creates a directory: what a forged entry could do if it were loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.path),))


class TestCrashSafety:
    def test_a_process_killed_while_writing_leaves_a_cache_the_next_run_uses_safely(
        self, tmp_path: Path
    ) -> None:
        script = tmp_path / "crash.py"
        script.write_text(textwrap.dedent(CRASH_SCRIPT))
        cache_dir, marker, calls_file = tmp_path / "cache", tmp_path / "marker", tmp_path / "calls"
        size = 8 * 2**20
        env = {"CALLS_FILE": str(calls_file)}
        writer = subprocess.Popen(
            [sys.executable, str(script), str(cache_dir), str(size)],
            env=_env(tmp_path, {**env, "BLOCK_MARKER": str(marker)}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while not marker.exists():  # the child writes the marker mid-write, then blocks
                assert writer.poll() is None, writer.communicate()
                assert time.monotonic() < deadline, "the writer never reached the marker"
                time.sleep(0.01)
            temporary = list((cache_dir / "big").glob(".*.tmp"))
            assert [p.stat().st_size >= size for p in temporary] == [True]
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.communicate()
        assert writer.returncode == -signal.SIGKILL
        assert _entries(cache_dir, "big") == []

        after_crash = json.loads(_run_script(script, str(cache_dir), str(size), env=env))
        third = json.loads(_run_script(script, str(cache_dir), str(size), env=env))

        expected = size + 4
        assert after_crash == {
            "status": "success",
            "cached": {"big": False, "summary": False},
            "summary": expected,
        }
        assert third == {
            "status": "success",
            "cached": {"big": True, "summary": True},
            "summary": expected,
        }
        assert calls_file.read_text().splitlines() == ["big", "big"]
        assert scan(cache_dir).temporary[0] == 1  # left by the kill, ignored, removable

    @pytest.mark.parametrize(
        "offset", [0, 5, HEADER, -1], ids=["magic", "signature", "payload-start", "last-byte"]
    )
    def test_a_tampered_entry_is_rejected_recomputed_and_overwritten(
        self, cache_dir: Path, calls: Calls, cache_log: CacheLog, offset: int
    ) -> None:
        pipeline = _pipeline(CHAIN, calls)
        pipeline.run({"x": 1}, cache=cache_dir)
        entry = _only_entry(cache_dir, "b")
        data = bytearray(entry.read_bytes())
        data[offset] ^= 0x01
        entry.write_bytes(bytes(data))
        calls.names.clear()

        recomputed = pipeline.run({"x": 1}, cache=cache_dir)
        again = pipeline.run({"x": 1}, cache=cache_dir)

        assert calls.names == ["b", "plain", "plain"]
        assert recomputed.outputs["b"] == again.outputs["b"] == 4
        assert _cached(recomputed)["b"] is False
        assert _cached(again)["b"] is True
        assert _only_entry(cache_dir, "b").read_bytes() != bytes(data)
        assert len(cache_log.messages) == 1
        assert "ignored cache entry" in cache_log.messages[0]

    @pytest.mark.parametrize("keep", [0, 3, HEADER - 1, HEADER, -1])
    def test_a_truncated_entry_is_rejected_and_recomputed(
        self, cache_dir: Path, calls: Calls, keep: int
    ) -> None:
        pipeline = _pipeline(CHAIN, calls)
        pipeline.run({"x": 1}, cache=cache_dir)
        entry = _only_entry(cache_dir, "c")
        entry.write_bytes(entry.read_bytes()[:keep])
        calls.names.clear()

        result = pipeline.run({"x": 1}, cache=cache_dir)

        assert calls.names == ["c", "plain"]
        assert result.outputs["c"] == 104
        assert pipeline.run({"x": 1}, cache=cache_dir).stages["c"].cached is True

    def test_a_forged_entry_is_never_unpickled(
        self, tmp_path: Path, cache_dir: Path, calls: Calls
    ) -> None:
        pipeline = _pipeline(CHAIN, calls)
        pipeline.run({"x": 1}, cache=cache_dir)
        entry = _only_entry(cache_dir, "a")
        exploit = tmp_path / "exploited"
        entry.write_bytes(MAGIC + bytes(32) + pickle.dumps(_Mkdir(exploit)))
        proof = tmp_path / "proof"
        pickle.loads(pickle.dumps(_Mkdir(proof)))  # noqa: S301 - shows what loading would do
        assert proof.is_dir()
        calls.names.clear()

        result = pipeline.run({"x": 1}, cache=cache_dir)

        assert not exploit.exists()
        assert calls.names == ["a", "plain"]
        assert result.outputs["a"] == 2

    def test_an_entry_from_another_cache_or_another_key_is_a_miss(
        self, tmp_path: Path, calls: Calls
    ) -> None:
        pipeline = _pipeline(CHAIN, calls)
        mine, theirs = tmp_path / "mine", tmp_path / "theirs"
        pipeline.run({"x": 1}, cache=mine)
        pipeline.run({"x": 1}, cache=theirs)
        # their (validly signed, but with their key) entry of a replaces mine
        _only_entry(theirs, "a").replace(_only_entry(mine, "a"))
        # my entry of d moved to the path of my entry of b: signed, but for another key
        _only_entry(mine, "d").replace(_only_entry(mine, "b"))
        calls.names.clear()

        result = pipeline.run({"x": 1}, cache=mine)

        assert sorted(calls.names) == ["a", "b", "d", "plain"]
        assert result.outputs == {"a": 2, "b": 4, "c": 104, "d": -2, "plain": 102}


class TestSecurity:
    def test_a_new_directory_and_its_key_are_private(self, cache_dir: Path) -> None:
        Cache(cache_dir / "nested")

        assert (cache_dir / "nested").stat().st_mode & 0o777 == 0o700
        key = cache_dir / "nested" / KEY_FILE
        assert key.stat().st_mode & 0o777 == 0o600
        assert len(key.read_bytes()) == 32

    def test_entries_are_private(self, cache_dir: Path, calls: Calls) -> None:
        _pipeline(CHAIN, calls).run({"x": 1}, cache=cache_dir)

        modes = {p.stat().st_mode & 0o777 for p in cache_dir.rglob("*")}
        assert modes == {0o700, 0o600}

    @pytest.mark.parametrize("mode", [0o777, 0o770, 0o702, 0o720])
    def test_a_directory_writable_by_others_is_refused_before_any_stage_runs(
        self, cache_dir: Path, calls: Calls, mode: int
    ) -> None:
        cache_dir.mkdir()
        cache_dir.chmod(mode)
        pipeline = _pipeline(CHAIN, calls)

        with pytest.raises(CacheError) as caught:
            pipeline.run({"x": 1}, cache=cache_dir)

        assert str(cache_dir) in str(caught.value)
        assert f"chmod 700 {cache_dir}" in str(caught.value)
        assert isinstance(caught.value, OSError)
        assert len(calls) == 0
        assert not (cache_dir / KEY_FILE).exists()

    def test_a_directory_readable_by_others_is_accepted(self, cache_dir: Path) -> None:
        cache_dir.mkdir()
        cache_dir.chmod(0o755)

        Cache(cache_dir)

    @pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
    def test_a_key_readable_by_others_is_refused(self, cache_dir: Path, mode: int) -> None:
        Cache(cache_dir)
        (cache_dir / KEY_FILE).chmod(mode)

        with pytest.raises(CacheError, match=r"chmod 600 .*\.flowkit-cache-key"):
            Cache(cache_dir)

    def test_a_broken_key_is_refused_with_the_fix(self, cache_dir: Path) -> None:
        Cache(cache_dir)
        (cache_dir / KEY_FILE).write_bytes(b"short")

        with pytest.raises(CacheError, match="delete it"):
            Cache(cache_dir)

    def test_a_file_is_not_a_cache_directory(self, cache_dir: Path) -> None:
        cache_dir.write_text("")

        with pytest.raises(CacheError, match=str(cache_dir)):
            Cache(cache_dir)

    def test_concurrent_creators_agree_on_one_key(self, cache_dir: Path) -> None:
        barrier = threading.Barrier(8)
        caches: list[Cache] = []
        lock = threading.Lock()

        def open_cache() -> None:
            barrier.wait()
            made = Cache(cache_dir)
            with lock:
                caches.append(made)

        threads = [threading.Thread(target=open_cache) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        made = FunctionStage(lambda value: value, name="echo", cache=True)
        key = caches[0].key(made, {"value": 1})
        assert key is not None
        caches[0].store(key, "one")
        assert [c.load(key) for c in caches] == [(True, "one")] * 8
        assert sorted(p.name for p in cache_dir.iterdir()) == [KEY_FILE, "echo"]


class TestUncached:
    def test_an_unhashable_argument_runs_uncached_and_is_logged_once(
        self, cache_dir: Path, calls: Calls, cache_log: CacheLog
    ) -> None:
        @stage(cache=True, map_over="item")
        def guarded(item: int, lock: Any) -> int:
            calls.add("guarded")
            with lock:
                return item * 2

        pipeline = Pipeline([guarded])
        cache = Cache(cache_dir)
        lock = threading.Lock()
        results = [pipeline.run({"item": [1, 2], "lock": lock}, cache=cache) for _ in range(2)]

        assert [r.outputs for r in results] == [{"guarded": [2, 4]}] * 2
        assert len(calls) == 4
        assert cache_log.messages == [
            (
                "stage 'guarded': argument 'lock' (_thread.lock) cannot be hashed (pickling it "
                "raised TypeError), so its calls run uncached; make it picklable or pass what "
                "it holds as inputs"
            )
        ]

    def test_an_unpicklable_output_runs_uncached_and_is_logged_once(
        self, cache_dir: Path, calls: Calls, cache_log: CacheLog
    ) -> None:
        @stage(cache=True)
        def make_lock(x: int) -> Any:
            calls.add("make_lock")
            return threading.Lock()

        pipeline = Pipeline([make_lock])
        cache = Cache(cache_dir)
        results = [pipeline.run({"x": 1}, cache=cache) for _ in range(2)]

        assert [r.ok for r in results] == [True, True]
        assert [r.stages["make_lock"].cached for r in results] == [False, False]
        assert len(calls) == 2
        assert cache_log.messages == [
            (
                "the output of stage 'make_lock' (_thread.lock) cannot be pickled (TypeError), "
                "so it is not cached"
            )
        ]
        assert _entries(cache_dir, "make_lock") == []
        assert list((cache_dir / "make_lock").iterdir()) == []  # no temporary file left

    def test_values_are_never_logged(self, cache_dir: Path, cache_log: CacheLog) -> None:
        class Secret:
            def __reduce__(self) -> Any:
                raise TypeError("the password is hunter2")

        @stage(cache=True)
        def leak(token: Any) -> Any:
            return Secret()

        Pipeline([leak]).run({"token": Secret()}, cache=cache_dir)
        Pipeline([leak]).run({"token": "fine"}, cache=cache_dir)

        assert len(cache_log.messages) == 2
        assert not any("hunter2" in message for message in cache_log.messages)


class TestConcurrency:
    def test_threads_storing_and_loading_one_key_see_whole_values(self, cache_dir: Path) -> None:
        cache = Cache(cache_dir)
        made = FunctionStage(lambda value: value, name="echo", cache=True)
        key = cache.key(made, {"value": 1})
        assert key is not None
        value = list(range(100_000))
        barrier = threading.Barrier(8)
        seen: list[tuple[bool, Any]] = []
        lock = threading.Lock()

        def work() -> None:
            barrier.wait()
            for _ in range(5):
                cache.store(key, value)
                loaded = cache.load(key)
                with lock:
                    seen.append(loaded)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert seen == [(True, value)] * 40
        assert sorted(p.name for p in (cache_dir / "echo").iterdir()) == [
            key.split("/")[1] + ".pkl"
        ]

    def test_two_processes_share_one_directory(self, tmp_path: Path) -> None:
        script = tmp_path / "shared_run.py"
        script.write_text(
            textwrap.dedent(
                """
                import json, sys
                from flowkit import Pipeline, stage

                @stage(cache=True, map_over="n")
                def square(n: int) -> int:
                    return n * n

                @stage(cache=True)
                def total(square) -> int:  # a map_over output is a list of square's returns
                    return sum(square)

                if __name__ == "__main__":
                    result = Pipeline([square, total]).run(
                        {"n": list(range(200))}, cache=sys.argv[1]
                    )
                    print(json.dumps([result.status.value, result.outputs["total"]]))
                """
            )
        )
        cache_dir = tmp_path / "cache"
        runs = [
            subprocess.Popen(
                [sys.executable, str(script), str(cache_dir)],
                env=_env(tmp_path),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=90) for run in runs]

        expected = ["success", sum(n * n for n in range(200))]
        assert [json.loads(out.splitlines()[-1]) for out, _ in outputs] == [expected, expected]
        assert len(_entries(cache_dir, "square")) == 200
        assert len(list(cache_dir.glob(f"{KEY_FILE}*"))) == 1
        assert json.loads(_run_script(script, str(cache_dir))) == expected


class TestHousekeeping:
    def test_stats_count_entries_and_bytes_per_stage(self, cache_dir: Path, calls: Calls) -> None:
        _pipeline(CHAIN, calls).run({"x": 1}, cache=cache_dir)

        stats = Cache(cache_dir).stats()

        assert {name: count for name, (count, _) in stats.stages.items()} == dict.fromkeys(
            "abcd", 1
        )
        assert stats.entries == 4
        assert stats.size == sum(p.stat().st_size for p in cache_dir.rglob("*.pkl"))

    def test_clear_one_stage_then_everything(self, cache_dir: Path, calls: Calls) -> None:
        pipeline = _pipeline(CHAIN, calls)
        pipeline.run({"x": 1}, cache=cache_dir)
        (cache_dir / "a" / ".leftover.tmp").write_bytes(b"partial")

        removed_b = clear(cache_dir, ["b"])
        after_b = pipeline.run({"x": 1}, cache=cache_dir)
        removed_all = clear(cache_dir)

        assert (removed_b.entries, list(removed_b.stages)) == (1, ["b"])
        assert _cached(after_b) == {"a": True, "b": False, "c": True, "d": True, "plain": False}
        assert (removed_all.entries, removed_all.temporary[0]) == (4, 1)
        assert sorted(p.name for p in cache_dir.iterdir()) == [KEY_FILE]
        assert not any(_cached(pipeline.run({"x": 1}, cache=cache_dir)).values())

    def test_clear_refuses_a_directory_that_is_not_a_cache(self, tmp_path: Path) -> None:
        precious = tmp_path / "precious" / "data"
        precious.mkdir(parents=True)
        (precious / ("0" * 64 + ".pkl")).write_bytes(b"keep me")

        with pytest.raises(CacheError, match="not a flowkit cache"):
            clear(tmp_path / "precious")

        assert (precious / ("0" * 64 + ".pkl")).read_bytes() == b"keep me"


def test_an_unhashable_custom_stage_class_is_cached(tmp_path: Path) -> None:
    @attrs.define(slots=False, eq=True)
    class PlusOne(Stage):
        @property
        def parameters(self) -> tuple[str, ...]:
            return ("x",)

        def execute(self, kwargs: dict[str, Any]) -> object:
            return kwargs["x"] + 1

    pipeline = Pipeline([PlusOne(name="plus", cache=True, version="1")])
    first = pipeline.run({"x": 1}, cache=tmp_path / "c")
    second = pipeline.run({"x": 1}, cache=tmp_path / "c")

    assert first["plus"] == second["plus"] == 2
    assert second.stages["plus"].cached
