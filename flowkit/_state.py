"""`RunState`: what one run knows about its stages, and how a stage ends.

The engine (`flowkit._engine.Run`) adds the steps that move a run forward; this module holds
the arrays they work on (one entry per stage of the plan) and the endings every step shares:
`conclude` (result, event, hook), `crash` (flowkit's own failure), `record` (which makes
dependents ready) and `finish` (the `PipelineResult`).
"""

from __future__ import annotations

import time
import uuid
from array import array
from collections import deque
from collections.abc import Iterator, Mapping
from heapq import heappush
from typing import TYPE_CHECKING, Any, Protocol

from flowkit import _events as ev
from flowkit._conclude import conclude
from flowkit._plan import Plan
from flowkit._results import (
    PipelineResult,
    Record,
    StageResult,
    StageResults,
    Success,
)
from flowkit._status import PipelineStatus, StageStatus

if TYPE_CHECKING:
    from flowkit._calls import Call
    from flowkit._fanout import Fanout

PENDING = StageStatus.PENDING
SUCCESS, FAILED = StageStatus.SUCCESS, StageStatus.FAILED
SKIPPED, CANCELLED = StageStatus.SKIPPED, StageStatus.CANCELLED
FAIL_FAST, INTERRUPTED = "fail_fast", "interrupted"  # a retry cut short, and an interrupt
NOT_STARTED = "fail-fast: another stage failed"

monotonic = time.monotonic


class CacheBackend(Protocol):
    """What the engine needs of a cache (``flowkit.Cache`` implements it)."""

    def key(self, stage: Any, kwargs: Mapping[str, Any]) -> str | None:
        """The entry key of one call, or None when the arguments cannot be hashed."""

    def load(self, key: str) -> tuple[bool, Any]:
        """``(True, value)`` on a valid hit, ``(False, None)`` otherwise."""

    def store(self, key: str, value: Any) -> None:
        """Save ``value`` (never raises for a value that cannot be pickled)."""


class Records:
    """Each stage's final record, by index: the `StageResult` stored when it ended, or, for
    a success on the hot path, a `Success` made from the run's arrays when it is read.

    A run of 100,000 plain stages then keeps no object per stage (outputs and times live
    in flat lists), which is what keeps the garbage collector's walks short.
    """

    __slots__ = ("_run", "_stored")

    def __init__(self, run: RunState, count: int) -> None:
        self._run = run
        self._stored: list[Record | None] = [None] * count

    def __getitem__(self, k: int) -> Record | None:
        stored = self._stored[k]
        run = self._run
        if stored is not None or run.status[k] is not SUCCESS:
            return stored
        start, end, shift = run.first_start[k], run.ended[k], run.shift
        output, attempts = run.outputs[k], run.attempts[k]
        return Success(run.plan.names[k], output, attempts, start + shift, end + shift, end - start)

    def __setitem__(self, k: int, record: Record) -> None:
        self._stored[k] = record

    def __len__(self) -> int:
        return len(self._stored)

    def __iter__(self) -> Iterator[Record | None]:
        return map(self.__getitem__, range(len(self._stored)))


class RunState:
    """The state of one run (or of one parallel group's children, when ``parent`` is set).
    Stages are addressed by their index in ``plan``."""

    def __init__(
        self,
        plan: Plan,
        inputs: Mapping[str, Any],
        *,
        name: str,
        fail_fast: bool,
        overrides: Mapping[str, Any] | None = None,
        cache: CacheBackend | None = None,
        events: ev.Events | None = None,
        parent: RunState | None = None,
        node: int = 0,
    ) -> None:
        self.plan, self.inputs, self.name = plan, inputs, name
        self.fail_fast, self.cache = fail_fast, cache
        self.parent, self.node = parent, node
        self.root: RunState = self if parent is None else parent.root
        self.path: tuple[int, ...] = () if parent is None else (*parent.path, node)
        self.run_id: str = parent.run_id if parent is not None else uuid.uuid4().hex
        self.events = events if events is not None else ev.Events(self.run_id, name)
        # Per stage: True when the hot path applies (see Plan.quiet), read by the engine.
        self.hot = plan.loud if self.events.info else plan.quiet
        n = len(plan.names)
        self.status: list[StageStatus] = [PENDING] * n
        self.outputs: list[Any] = [None] * n
        self.records = Records(self, n)
        # Monotonic times in flat arrays of doubles: no float object per stage.
        self.ended = array("d", bytes(8 * n))  # the end of each stage ended on the hot path
        self.attempts = [0] * n
        self.first_start = array("d", bytes(8 * n))
        self.waiting = plan.waiting.copy()
        self.remaining = n
        self.ready: list[int] = []  # a heap: the smallest index first keeps pipeline order
        self.urgent: deque[Call] = deque()  # retries whose delay passed, map_over items
        self.groups: list[RunState] = []
        self.fans: dict[int, Fanout] = {}
        self.children: dict[int, Mapping[str, StageResult]] = {}
        self.cache_keys: dict[int, str] = {}
        self.delayed: list[Call] = []  # retries to wait for: the scheduler takes them
        self.stopping = self.interrupted = False
        self.cap: int | None = None  # a parallel group's max_workers
        self.active = 0  # calls of this group running (see flowkit._fanout.free_group_slots)
        self.overrides = overrides or {}
        self.wall0 = self.mono0 = self.shift = 0.0
        if parent is not None:
            self.wall0, self.mono0, self.shift = parent.wall0, parent.mono0, parent.shift

    def next_call(self) -> Call | None:
        """The next call to run now (`flowkit._engine.Run` implements it)."""
        raise NotImplementedError

    def open_initial(self) -> None:
        overridden = self.plan.overridden
        self.ready = self.plan.sources.copy()  # ascending: already a heap
        for k in sorted(overridden):
            name = self.plan.names[k]
            self.record(k, StageResult(name, SUCCESS, self.overrides[name]))

    def guarded(self, k: int, step: Any, *args: Any, **kwargs: Any) -> Any:
        """``step(*args)``; if flowkit itself fails in it (a raising log sink or cache), stage
        ``k`` ends FAILED with that error and the run goes on."""
        try:
            return step(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - flowkit's own failure, see _crash
            self.crash(k, error)
            return None

    def conclude(self, k: int, status: StageStatus, output: Any = None, **facts: Any) -> None:
        """End stage ``k``: build its result, emit its event, run its hook, record it."""
        if status is FAILED and self.fail_fast:
            self.root.stopping = True  # before events and hooks, so no stage starts meanwhile
        result = conclude(self, k, status, output, **facts)
        self.record(k, result)

    def crash(self, k: int, error: Exception) -> None:
        if self.status[k] is not PENDING:
            return
        self.fans.pop(k, None)
        if self.fail_fast:
            self.root.stopping = True
        self.record(k, StageResult(self.plan.names[k], FAILED, None, error, self.attempts[k]))

    def record(self, k: int, result: Record) -> None:
        """Store stage ``k``'s final result and make the stages waiting only for it ready."""
        if self.status[k] is not PENDING:
            return
        self.records[k] = result
        status = self.status[k] = result.status
        if status is SUCCESS:
            self.outputs[k] = result.output
        self.release(k)

    def release(self, k: int) -> None:
        """Stage ``k`` ended: the stages waiting only for it are ready; when it was the last
        of a parallel group's children, the group ends."""
        self.remaining -= 1
        waiting, ready = self.waiting, self.ready
        for j in self.plan.dependents[k]:
            waiting[j] -= 1
            if not waiting[j]:
                heappush(ready, j)
        if not self.remaining and self.parent is not None:
            self.parent.group_ended(self)

    def close(self) -> None:
        """End what is left: groups first, then every stage that never ended."""
        if not self.remaining:
            return
        reason = INTERRUPTED if self.root.interrupted else NOT_STARTED
        for group in tuple(self.groups):
            group.close()
        for k, status in enumerate(self.status):
            if status is PENDING:
                self.guarded(k, self.conclude, k, CANCELLED, None, reason=reason)

    def group_ended(self, group: RunState) -> None:
        """Every child of ``group`` (a nested run) ended: end the group's own stage."""
        self.groups.remove(group)
        k = group.node
        plan = group.plan
        children = self.children[k] = StageResults(plan.names, group.records, plan.index)  # type: ignore[arg-type]
        failed = next((r for r in children.values() if r.status is FAILED), None)
        if failed is not None:
            self.conclude(k, FAILED, error=failed.error)
        elif CANCELLED in group.status:
            self.conclude(k, CANCELLED, reason=INTERRUPTED if self.root.interrupted else FAIL_FAST)
        else:
            outputs = {r.name: r.output for r in children.values() if r.status is SUCCESS}
            self.conclude(k, SUCCESS, outputs)

    def finish(self) -> PipelineResult:
        """Cancel every stage that did not end, emit the pipeline's event, return the result."""
        self.close()
        interrupted = self.interrupted
        if interrupted:
            status = PipelineStatus.CANCELLED
        elif FAILED in self.status:
            status = PipelineStatus.FAILED
        else:
            status = PipelineStatus.SUCCESS
        end = monotonic()
        result = PipelineResult(
            self.run_id,
            self.name,
            status,
            StageResults(self.plan.names, self.records, self.plan.index),  # type: ignore[arg-type]
            self.wall0,
            self.wall0 + (end - self.mono0),
            end - self.mono0,
        )
        if self.events.info or status is not PipelineStatus.SUCCESS:
            ev.emit_finished(self.events, result)
        return result
