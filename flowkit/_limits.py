"""Concurrency limits per tag: ``run(limits={"db": 2})``.

A run without limits is a plain `Run`: nothing here is on its path. A run with limits is a
`LimitedRun`, whose engine steps take a slot of each limited tag before a stage's (or
``map_over`` item's, or retry's) attempt starts and give it back when the attempt's outcome
comes in. A call whose tag is full is never made: the stage index (or the item's call) waits
in the `Gate` and goes back to the ready stages when a slot frees, so it holds no worker and
the calls behind it in the ready order still start. The scheduler and the executors see
fewer calls, nothing else: the limit holds on every executor.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from heapq import heappush
from typing import Any, cast

from flowkit._calls import Call
from flowkit._engine import Run
from flowkit._stage import Stage
from flowkit.errors import InvalidLimitError, did_you_mean

Parked = tuple[Run, int | Call, tuple[str, ...]]  # the run, a stage index or a call, its tags


def limit_values(limits: Mapping[str, int] | None) -> dict[str, int]:
    """``limits`` as a dict, after checking that each is a tag name and an int >= 1."""
    if limits is None:
        return {}
    if not isinstance(limits, Mapping):
        raise InvalidLimitError(f"limits must map tag names to ints, got {limits!r}")
    for tag, value in limits.items():
        if not isinstance(tag, str) or not tag:
            raise InvalidLimitError(f"a limit's tag must be a non-empty string, got {tag!r}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidLimitError(
                f"the limit of tag {tag!r} must be an int >= 1, got {value!r}; "
                f"e.g. limits={{{tag!r}: 2}}"
            )
    return dict(limits)


def stage_tags(stages: Iterable[Stage]) -> set[str]:
    """Every tag the stages carry, a parallel group's children included."""
    found: set[str] = set()
    for stage in stages:
        found.update(stage.tags)
        graph = getattr(stage, "graph", None)
        if graph is not None:
            found |= stage_tags(graph.stages.values())
    return found


def new_run(stages: Iterable[Stage], limits: Mapping[str, int], *args: Any, **kw: Any) -> Run:
    """The run of a plan: a `LimitedRun` when ``limits`` (checked against the tags of
    ``stages``, the pipeline's) is not empty, else a plain `Run`."""
    limits = limit_values(limits)
    if not limits:
        return Run(*args, **kw)
    known = stage_tags(stages)
    for tag in limits:
        if tag not in known:
            raise InvalidLimitError(
                f"no stage carries the tag {tag!r} of limits{did_you_mean(tag, known)}; "
                f"tag a stage with @stage(tags={{{tag!r}}}) or remove the limit"
            )
    return LimitedRun(*args, gate=Gate(limits), **kw)


class Gate:
    """The slots of one run's limited tags, and what waits for them."""

    def __init__(self, limits: Mapping[str, int]) -> None:
        self.free = dict(limits)
        self.waiting: dict[str, deque[Parked]] = {tag: deque() for tag in limits}
        self.holding: dict[Call, tuple[str, ...]] = {}
        self._tags: dict[int, tuple[str, ...]] = {}

    def tags(self, stage: Stage) -> tuple[str, ...]:
        """The limited tags of ``stage`` (computed once per stage)."""
        tags = self._tags.get(id(stage))
        if tags is None:
            tags = self._tags[id(stage)] = tuple(sorted(t for t in stage.tags if t in self.free))
        return tags

    def full(self, tags: tuple[str, ...]) -> str | None:
        """The first of ``tags`` without a free slot, or None."""
        for tag in tags:
            if self.free[tag] <= 0:
                return tag
        return None

    def take(self, tags: tuple[str, ...]) -> None:
        for tag in tags:
            self.free[tag] -= 1

    def give_back(self, tags: tuple[str, ...]) -> None:
        """Free a slot of each tag and send what waited for it back to its run."""
        for tag in tags:
            self.free[tag] += 1
        for tag in tags:
            self._release(tag)

    def _release(self, tag: str) -> None:
        """Send as many waiting entries of ``tag`` back as it has free slots; an entry still
        blocked by another of its tags moves to that tag's queue instead."""
        waiting, sent = self.waiting[tag], 0
        while waiting and sent < self.free[tag]:
            entry = waiting.popleft()
            other = self.full(entry[2])
            if other is not None:
                self.waiting[other].append(entry)
                continue
            run, what, _ = entry
            if isinstance(what, int):
                heappush(run.ready, what)
            else:
                run.urgent.append(what)
            sent += 1


class LimitedRun(Run):
    """A `Run` whose attempts of limited tags wait for a free slot (see the module)."""

    def __init__(self, *args: Any, gate: Gate | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        # a parallel group's nested run (made by type(run)(...)) shares the root's gate
        self.gate: Gate = gate if gate is not None else cast(LimitedRun, self.root).gate
        # a tagged stage takes the general path, which holds its slots
        stages = self.plan.stages
        self.hot = [hot and not self.gate.tags(s) for hot, s in zip(self.hot, stages, strict=True)]

    def _open(self, k: int) -> Call | None:
        gate = self.gate
        tags = gate.tags(self.plan.stages[k])
        if not tags:
            return super()._open(k)
        blocked = gate.full(tags)
        if blocked is not None:
            gate.waiting[blocked].append((self, k, tags))
            return None
        opened: Call | None = self._holding(tags, super()._open, k)
        return opened

    def _relaunch(self, call: Call) -> bool:
        gate = self.gate
        tags = gate.tags(call.stage)
        if not tags:
            return super()._relaunch(call)
        blocked = gate.full(tags)
        if blocked is not None:
            gate.waiting[blocked].append((self, call, tags))
            return False
        return self._holding(tags, super()._relaunch, call) is not None

    def _holding(self, tags: tuple[str, ...], step: Any, what: Any) -> Any:
        """``step(what)`` with a slot of each tag, kept by the call it starts (a falsy
        result starts nothing: the slots are given back at once)."""
        gate = self.gate
        gate.take(tags)
        try:
            started = step(what)
        except BaseException:
            gate.give_back(tags)
            raise
        if not started:
            gate.give_back(tags)
            return None
        gate.holding[started if isinstance(started, Call) else what] = tags
        return started

    def complete(self, call: Call, ok: bool, value: Any, worker: str | None = None) -> None:
        tags = self.gate.holding.pop(call, None)
        super().complete(call, ok, value, worker)
        if tags:
            self.gate.give_back(tags)

    def crashed(self, call: Call, error: Exception) -> None:
        tags = self.gate.holding.pop(call, None)
        super().crashed(call, error)
        if tags:
            self.gate.give_back(tags)
