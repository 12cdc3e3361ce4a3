"""The tasks of a `flowkit.executors.dask.DaskExecutor` on its cluster: which calls each
Dask task stands for (one call, or a chunk of ``map_over`` items), what the scheduler
reports (tasks done, workers lost), and the outputs, fetched back in background batches.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Hashable
from typing import Any

import distributed as _distributed
from distributed.utils_comm import gather_from_workers

from flowkit.executors._dask_events import Losses, Started, remote_error, task_error
from flowkit.executors._dask_pickling import output_error
from flowkit.executors._protocol import Completion

__all__ = ["Task", "Tasks"]

distributed: Any = _distributed  # mostly unannotated: go through Any

_POLL_S = 1.0  # how often a blocked wait checks that the client is still connected


class Task:
    """The Dask future of one call; ``index`` is the call's place in its chunk, or None."""

    __slots__ = ("future", "index", "name")

    def __init__(self, name: str, future: Any, index: int | None = None) -> None:
        self.name = name
        self.future = future
        self.index = index


class _Fetched:
    """A batch of outputs fetched in the background: the calls and the fetch's future."""

    __slots__ = ("done", "finished")

    def __init__(self, finished: list[tuple[Hashable, Task]], done: Any) -> None:
        self.finished = finished
        self.done = done


async def _gathered(client: Any, futures: list[Any], where: dict[str, str]) -> tuple[Any, Any]:
    """The outputs of ``futures``, and where the ones not in ``where`` are held. Outputs
    held by workers on this machine come straight from them (no scheduler in between: it
    is busy running the graph); the others through the scheduler, as Dask does."""
    local: dict[Any, list[str]] = {
        key: [worker] for key, worker in where.items() if worker.startswith(_LOOPBACK)
    }
    data: dict[Any, Any] = {}
    if local:
        data, *_ = await gather_from_workers(local, rpc=client.rpc)
    rest = [future for future in futures if future.key not in data]
    holders: Any = {}
    if rest:
        values = await client.gather(rest, asynchronous=True)
        data.update(zip([future.key for future in rest], values, strict=True))
        unheard = [future.key for future in rest if future.key not in where]
        if unheard:
            holders = await client.scheduler.who_has(keys=unheard)
    return [data[future.key] for future in futures], holders


Finished = list[tuple[Hashable, Task]]
_WAKE = object()  # put in the inbox to end a blocked wait
_LOOPBACK = ("tcp://127.", "tcp://localhost:", "tcp://[::1]:", "inproc://")


class Tasks:
    """The calls on the cluster by key (``calls``; ``early``: sent before their
    dependencies ended and not yet adopted), and the completions made of what arrives."""

    _client: Any  # the Connection's

    def __init__(self) -> None:
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._calls: dict[Hashable, Task] = {}
        self._early: dict[Hashable, Task] = {}
        self._early_done: dict[Hashable, Any] = {}  # early ones that finished meanwhile
        self._keys: dict[str, list[Hashable]] = {}  # Dask key -> the calls it stands for
        self._done: list[Completion] = []
        self._to_fetch: Finished = []  # finished, output not fetched yet
        self._fetching = False  # a batch of outputs is on its way
        self._losses = Losses()
        self._starts: list[Hashable] = []
        self._early_started: set[Hashable] = set()
        self._where: dict[str, str] = {}  # Dask key -> the worker it (last) started on

    def wake(self) -> None:
        """End a blocked `receive` (safe from a signal handler: SimpleQueue.put is)."""
        self._inbox.put(_WAKE)

    def adopt(self, key: Hashable) -> bool:
        """The early call ``key`` is now wanted as submitted; False if it is gone."""
        task = self._early.pop(key, None)
        if task is None:
            return False
        self._calls[key] = task
        if key in self._early_started:
            self._early_started.discard(key)
            self._starts.append(key)
        finished = self._early_done.pop(key, None)
        if finished is not None:
            self.take([finished])
        return True

    def track(self, key: Hashable, task: Task, *, early: bool = False) -> None:
        (self._early if early else self._calls)[key] = task
        self._keys.setdefault(task.future.key, []).append(key)

    def reset(self) -> None:
        for table in (self._calls, self._early, self._early_done, self._keys):
            table.clear()
        self._early_started.clear()
        self._where.clear()
        self._to_fetch.clear()
        self._fetching = False
        self._done.clear()
        self._losses.clear()
        self._starts.clear()

    def receive(self, timeout: float | None) -> list[Any]:
        """What arrived within ``timeout``: done futures, fetched batches, lost workers."""
        remaining = timeout
        while True:
            wait = _POLL_S if remaining is None else max(0.0, min(remaining, _POLL_S))
            try:
                items = [self._inbox.get(timeout=wait)]
                break
            except queue.Empty:
                if self._client is None or self._client.status in ("closing", "closed"):
                    self._fail_all("the Dask client closed while the stage ran")
                    return []
                if remaining is not None:
                    remaining -= wait
                    if remaining <= 0:
                        return []
        while True:
            try:
                items.append(self._inbox.get_nowait())
            except queue.Empty:
                return items

    def take(self, items: list[Any]) -> None:
        for item in items:
            if isinstance(item, _Fetched):
                self._fetched(item)
            elif isinstance(item, distributed.Future):
                self._ended(item)
            elif isinstance(item, Started):
                self._started_task(item.dask_key, item.worker)
            elif item is _WAKE:
                continue
            else:
                self._lost(*item)
        if self._to_fetch and not self._fetching:
            self._fetch_later()

    def _started_task(self, dask_key: str, worker: str) -> None:
        self._where[dask_key] = worker
        for key in self._keys.get(dask_key, ()):
            if key in self._early:
                self._early_started.add(key)  # reported once adopted
            elif (task := self._calls.get(key)) is not None and task.index is None:
                self._starts.append(key)

    def started(self) -> list[Hashable]:
        """The calls that started on a worker since the last time (their keys)."""
        starts, self._starts = self._starts, []
        return starts

    def worker_losses(self) -> list[tuple[Hashable, str, bool]]:
        """The workers lost under calls since the last time: ``(key, worker address,
        rescheduled)``; the driver logs each as ``stage.worker_lost``."""
        return self._losses.drain()

    def _ended(self, future: Any) -> None:
        keys = self._keys.get(future.key, ())
        wanted = [(k, t) for k in keys if (t := self._calls.get(k)) and t.future is future]
        for key in keys:
            if key in self._early:
                self._early_done[key] = future  # reported once adopted
        if not wanted:
            return  # cancelled or timed out: a late result is void
        if future.status == "finished":
            self._to_fetch.extend(wanted)
            return
        self._losses.gave_up([key for key, _ in wanted], future)
        for key, task in wanted:
            self.forget(key)
            self._done.append(Completion(key, ok=False, value=task_error(task.name, future)))

    def _fetch_later(self) -> None:
        """Fetch the finished outputs (and where they are) in the background, in one
        batch, which comes back through the inbox as a `_Fetched`. One batch at a time:
        what finishes meanwhile makes the next batch (each fetch costs the scheduler)."""
        finished, self._to_fetch = self._to_fetch, []
        futures = _unique(finished)
        client = self._client
        # where each ran: from its start notice, else (not heard yet) from the scheduler
        where = {f.key: self._where[f.key] for f in futures if f.key in self._where}
        try:
            fetching = asyncio.run_coroutine_threadsafe(
                _gathered(client, futures, where), client.loop.asyncio_loop
            )
        except Exception:  # noqa: BLE001 - then fetch them here and now
            self._done.extend(self._fetch(finished))
            return
        self._fetching = True
        fetching.add_done_callback(lambda done: self._inbox.put(_Fetched(finished, done)))

    def _fetched(self, batch: _Fetched) -> None:
        self._fetching = False
        wanted = [(key, task) for key, task in batch.finished if self._calls.get(key) is task]
        try:
            values, holders = batch.done.result()
        except Exception:  # noqa: BLE001 - an output that cannot travel: find which
            self._done.extend(self._fetch(wanted))
            return
        self._complete(wanted, _unique(batch.finished), values, holders)

    def _fetch(self, finished: Finished) -> list[Completion]:
        """Fetch here and now; an output that cannot travel fails its calls."""
        futures = _unique(finished)
        try:
            values = self._client.gather(futures)
            holders = self._client.who_has(futures)
        except Exception:  # noqa: BLE001 - an output that cannot travel: find which
            if len(futures) > 1:
                return [c for f in futures for c in self._fetch(_of(finished, f))]
            done = []
            for key, task in finished:
                self.forget(key)
                done.append(Completion(key, ok=False, value=output_error(task.name, task.future)))
            return done
        self._complete(finished, futures, values, holders)
        return []

    def _complete(self, finished: Finished, futures: list[Any], values: Any, holders: Any) -> None:
        by_key = {future.key: value for future, value in zip(futures, values, strict=True)}
        for key, task in finished:
            future = task.future
            worker = self._where.get(future.key) or (holders.get(future.key) or (None,))[0]
            self.forget(key)
            value = by_key[future.key]
            if task.index is None:
                self._done.append(Completion(key, True, value, ref=future, worker=worker))
                continue
            ok, outcome = value[task.index]  # one item of a chunk
            outcome = outcome if ok else remote_error(outcome)
            self._done.append(Completion(key, ok, outcome, worker=worker))

    def _lost(self, worker: str, dask_keys: frozenset[str]) -> None:
        # Not a failed attempt: Dask runs the task again elsewhere, or fails its future
        # with KilledWorker once it gives up (then `task_error` makes it WorkerDiedError).
        for dask_key in dask_keys:
            keys = [key for key in self._keys.get(dask_key, ()) if key in self._calls]
            if keys:
                self._losses.lost(keys, dask_key, worker)

    def _fail_all(self, reason: str) -> None:
        for key, task in list(self._calls.items()):
            self.forget(key)
            error = ConnectionError(f"stage {task.name!r}: {reason}")
            self._done.append(Completion(key, ok=False, value=error))

    def forget(self, key: Hashable) -> Task | None:
        task = self._calls.pop(key, None) or self._early.pop(key, None)
        self._early_done.pop(key, None)
        if task is not None:
            keys = self._keys.get(task.future.key)
            if keys is not None:
                keys.remove(key)
                if not keys:
                    del self._keys[task.future.key]
                    self._where.pop(task.future.key, None)
        return task


def _unique(finished: Finished) -> list[Any]:
    """The futures of ``finished``, each once (a chunk's calls share one), in order."""
    return list({task.future.key: task.future for _, task in finished}.values())


def _of(finished: Finished, future: Any) -> Finished:
    return [(key, task) for key, task in finished if task.future is future]
