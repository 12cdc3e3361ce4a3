"""The benchmark's workloads: every stage is a real, distinct function generated with ``exec``.

Each workload lives in a module of its own, registered in ``sys.modules`` (Hamilton collects
functions from a module and checks that they belong to it). Every function is annotated with
``int`` because Hamilton requires annotations; flowkit and pipefunc then check them too, so all
three do the same definition work.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

_serial = itertools.count()


@dataclass(frozen=True)
class Workload:
    """One generated DAG: its functions in definition order, the stage to compute, its inputs,
    the value that stage must produce, and the plain-Python floor (a function that does the
    same calls with no framework)."""

    kind: str
    size: int
    module: ModuleType
    functions: list[Callable[..., Any]]
    target: str
    inputs: dict[str, Any]
    expected: Any
    plain: Callable[[], Any]
    plain_parallel: Callable[[int], Any] | None = field(default=None)

    @property
    def stage_count(self) -> int:
        return len(self.functions)


def make_module(kind: str, source: str) -> ModuleType:
    """Execute ``source`` in a new module registered in ``sys.modules`` under a unique name.

    ``dont_inherit``: the generated code must not inherit this file's
    ``from __future__ import annotations`` (its annotations would silently become strings).
    """
    name = f"_flowkit_bench_{kind}_{next(_serial)}"
    module = ModuleType(name)
    code = compile(source, f"<{name}>", "exec", dont_inherit=True)
    exec(code, module.__dict__)
    sys.modules[name] = module
    return module


def forget(workload: Workload) -> None:
    """Drop the workload's module from ``sys.modules`` (it can be large)."""
    sys.modules.pop(workload.module.__name__, None)


def chain(n: int, *, postponed: bool = False) -> Workload:
    """``s0(x) -> s1(s0) -> ... -> s{n-1}``: each stage adds one to its input.

    ``postponed``: the module starts with ``from __future__ import annotations``, so every
    annotation is a string that a framework must resolve to check types.
    """
    lines = ["from __future__ import annotations\n"] if postponed else []
    lines.append("def s0(x: int) -> int:\n    return x + 1\n")
    lines.extend(f"def s{i}(s{i - 1}: int) -> int:\n    return s{i - 1} + 1\n" for i in range(1, n))
    module = make_module(f"chain{n}{'s' if postponed else ''}", "".join(lines))
    functions = [getattr(module, f"s{i}") for i in range(n)]

    def plain() -> int:
        value = 0
        for fn in functions:
            value = fn(value)
        return value

    return Workload("chain", n, module, functions, f"s{n - 1}", {"x": 0}, n, plain)


def _sink_source(params: list[str]) -> str:
    # A generated sink that takes every fan-in stage as a parameter; the sum is a check that
    # each stage's output really arrived.
    signature = ", ".join(f"{p}: int" for p in params)
    return f"def sink({signature}) -> int:\n    return {' + '.join(params)}\n"


def fan_in(n: int) -> Workload:
    """``root(x)``, then ``m0 .. m{n-1}`` each taking ``root``, then ``sink(m0, ..., m{n-1})``.

    The sink is one generated function with ``n`` parameters: the one form that all three
    frameworks accept (pipefunc and Hamilton have no ordering-only ``depends_on``), and in
    every one of them each parameter is a real data dependency.
    """
    params = [f"m{i}" for i in range(n)]
    lines = ["def root(x: int) -> int:\n    return x + 1\n"]
    lines.extend(f"def m{i}(root: int) -> int:\n    return root + {i}\n" for i in range(n))
    lines.append(_sink_source(params))
    module = make_module(f"fanin{n}", "".join(lines))
    root = module.root
    middle = [getattr(module, p) for p in params]
    sink = module.sink
    functions = [root, *middle, sink]

    def plain() -> int:
        r = root(0)
        return sink(*[fn(r) for fn in middle])  # type: ignore[no-any-return]

    expected = n * 1 + n * (n - 1) // 2
    return Workload("fan_in", n, module, functions, "sink", {"x": 0}, expected, plain)


def sleepers(n: int, seconds: float) -> Workload:
    """``w0 .. w{n-1}``, each sleeping ``seconds`` (independent), then ``sink(w0, ...)``."""
    params = [f"w{i}" for i in range(n)]
    lines = ["import time\n"]
    lines.extend(
        f"def w{i}(x: int) -> int:\n    time.sleep({seconds!r})\n    return x + {i}\n"
        for i in range(n)
    )
    lines.append(_sink_source(params))
    module = make_module(f"sleep{n}", "".join(lines))
    workers = [getattr(module, p) for p in params]
    sink = module.sink
    functions = [*workers, sink]

    def plain() -> int:
        return sink(*[fn(0) for fn in workers])  # type: ignore[no-any-return]

    def plain_parallel(max_workers: int) -> int:
        with ThreadPoolExecutor(max_workers) as pool:
            return sink(*pool.map(lambda fn: fn(0), workers))  # type: ignore[no-any-return]

    expected = n * (n - 1) // 2
    return Workload(
        "sleep", n, module, functions, "sink", {"x": 0}, expected, plain, plain_parallel
    )
