"""Stages that become several calls: the items of a ``map_over`` stage (each with its own
attempts, retries and cache entry; the stage ends when every item did) and a parallel group
(its children are a nested run, sharing the root's events and fail-fast)."""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING, Any

from flowkit import _events as ev
from flowkit._calls import Call
from flowkit._graph import Graph
from flowkit._plan import CACHED, Plan
from flowkit._stage import CONTEXT, Stage
from flowkit._status import StageStatus

if TYPE_CHECKING:
    from flowkit._engine import Run
    from flowkit._state import RunState

SUCCESS, FAILED, CANCELLED = StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.CANCELLED
FAIL_FAST = "fail_fast"

_GROUP_PLANS: weakref.WeakKeyDictionary[Stage, Plan] = weakref.WeakKeyDictionary()


class Fanout:
    """The items of one ``map_over`` stage: attempts, cache keys and outcomes by index.

    An outcome is ``(True, output)``, ``(False, error)`` or ``(None, None)`` for an item
    whose retry fail-fast cut (``cut`` then counts it).
    """

    __slots__ = ("attempts", "cut", "first", "keys", "left", "outcomes")

    def __init__(self, count: int) -> None:
        self.attempts = [0] * count
        self.first = [0.0] * count  # when each item's first attempt started
        self.outcomes: list[tuple[bool | None, Any]] = [(None, None)] * count
        self.keys: dict[int, str] = {}
        self.left = count
        self.cut = 0

    def load(self, cache: Any, stage: Stage, kwargs: dict[str, Any], index: int) -> bool:
        """Look item ``index`` up in ``cache``; True on a hit (then it is settled)."""
        key = cache.key(stage, kwargs)
        if key is None:
            return False
        hit, value = cache.load(key)
        if hit:
            self.settle(index, True, value)
            return True
        self.keys[index] = key
        return False

    def settle(self, index: int, ok: bool | None, value: Any) -> None:
        self.outcomes[index] = (ok, value)
        self.left -= 1
        if ok is None:
            self.cut += 1

    def first_error(self) -> tuple[int, BaseException] | None:
        """The lowest failing index and its error, or None."""
        for index, (ok, value) in enumerate(self.outcomes):
            if ok is False:
                return index, value
        return None

    def values(self) -> list[Any]:
        return [value for _, value in self.outcomes]


def fan_out(run: Run, call: Call) -> None:
    k, stage = call.node, call.stage
    param = str(stage.map_over)
    try:
        items = list(call.kwargs[param])
    except Exception as error:  # noqa: BLE001 - not iterable: the attempt fails
        run.attempt_failed(call, error)
        return
    fan = run.fans[k] = Fanout(len(items))
    cache = run.cache if run.plan.shape[k] & CACHED else None
    misses = []
    for index, item in enumerate(items):
        kwargs = {**call.kwargs, param: item}
        if cache is not None and fan.load(cache, stage, kwargs, index):
            ev.emit_item_ended(
                run.events, stage.name, index=index, items=len(items), attempt=0,
                took=0.0, cached=True,
            )  # fmt: skip
            continue
        misses.append(Call(run, k, stage, kwargs, item=index))
    if items and not misses:
        del run.fans[k]
        run.attempts[k] = 0
        run.conclude(k, SUCCESS, fan.values(), cached=True)
        return
    if run.events.info:
        ev.emit_started(run.events, call)
    run.urgent.extend(misses)
    if not misses:
        fan_in(run, k)


def item_done(run: Run, call: Call, ok: bool, value: Any, worker: str | None) -> None:
    k, index = call.node, int(call.item)  # type: ignore[arg-type]
    fan = run.fans[k]
    if ok:
        key = fan.keys.get(index)
        if key is not None:
            run.cache.store(key, value)  # type: ignore[union-attr]
    elif run.will_retry(call, value, worker):
        return
    ev.emit_item_ended(
        run.events,
        call.name,
        index=index,
        items=len(fan.attempts),
        attempt=call.attempt,
        took=time.monotonic() - fan.first[index],
        error=None if ok else value,
        worker=worker,
    )
    item_settled(run, k, index, ok, value)


def item_settled(run: Run, k: int, index: int, ok: bool | None, value: Any) -> None:
    fan = run.fans[k]
    fan.settle(index, ok, value)
    if fan.left == 0:
        fan_in(run, k)


def fan_in(run: Run, k: int) -> None:
    fan = run.fans.pop(k)
    run.attempts[k] = max(fan.attempts, default=1)
    failed = fan.first_error()
    if failed is not None:
        index, error = failed
        fail_item(error, index, run.plan.names[k])
        run.conclude(k, FAILED, error=error)
    elif fan.cut:
        run.conclude(k, CANCELLED, reason=FAIL_FAST)
    else:
        run.conclude(k, SUCCESS, fan.values())


def open_group(run: Run, call: Call) -> None:
    if run.events.info:
        ev.emit_started(run.events, call)
    child_inputs = getattr(call.stage, "child_inputs", None)  # seed-style groups
    kwargs = child_inputs(call.kwargs) if child_inputs is not None else call.kwargs
    kwargs = {p: v for p, v in kwargs.items() if p != CONTEXT}
    group = type(run)(
        group_plan(call.stage),
        kwargs,
        name=run.name,
        fail_fast=run.fail_fast,
        cache=run.cache,
        events=run.events,
        parent=run,
        node=call.node,
    )
    group.cap = getattr(call.stage, "max_workers", None)
    run.groups.append(group)
    group.open_initial()
    if not group.remaining:
        run.group_ended(group)


def free_group_slots(group: RunState) -> None:
    """A call of ``group`` (a nested run) came back: each group on the way up to the root
    has one call fewer running against its ``max_workers``."""
    while group.parent is not None:
        group.active -= 1
        group = group.parent


def fail_item(error: BaseException, index: int, name: str) -> BaseException:
    """Make the error of a failed ``map_over`` item name its index (type kept)."""
    error.add_note(f"map_over item {index} of stage {name!r} failed")
    if error.args and isinstance(error.args[0], str):
        error.args = (f"item {index}: {error.args[0]}", *error.args[1:])
    return error


def group_plan(stage: Stage) -> Plan:
    """The plan of a parallel group's children (built once per group)."""
    plan = _GROUP_PLANS.get(stage)
    if plan is None:
        graph: Graph = stage.graph  # type: ignore[attr-defined]
        plan = _GROUP_PLANS[stage] = Plan(graph, list(graph.order), ())
    return plan
