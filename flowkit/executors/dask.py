"""Run stages on a Dask cluster: each stage call is one Dask task.

The driver stays in the calling process (scheduling, retries, events, hooks, the cache);
this executor only turns calls into tasks. A dependency's output reaches its dependents as
the Dask future of the task that made it, so data moves worker to worker; the driver also
fetches each output once, for the run's result.

Calls go to the scheduler as soon as the engine has them, without waiting for a free
worker (Dask queues them), and a call's dependents go too, before it has finished, behind
its pending future (`flowkit._pipelining`): the scheduler, not the driver, moves a chain
forward. A call's timeout is therefore enforced where it runs, on the worker, from the
moment it starts there.

A worker that dies while it runs a call is Dask's to handle: the scheduler runs the task
again on another worker (its ``allowed-failures`` setting) and the loss shows in the log
(``stage.worker_lost``); only when Dask gives up does the attempt fail with
`WorkerDiedError`, and then the stage's retries decide.

What travels to the workers is in `flowkit.executors._dask_pickling`; how a lost
worker or a failed task becomes a stage's error, in `flowkit.executors._dask_events`.
"""

from __future__ import annotations

import asyncio
import queue
import uuid
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import distributed as _distributed

from flowkit._stage import Stage
from flowkit.errors import PipelineDefinitionError
from flowkit.executors._dask_client import Connection
from flowkit.executors._dask_events import Losses, listener, task_error
from flowkit.executors._dask_pickling import Payloads, output_error, run_on_worker, submit_error
from flowkit.executors._protocol import Completion

__all__ = ["DaskExecutor"]

# distributed is mostly unannotated: go through Any rather than silence every call.
distributed: Any = _distributed

_POLL_S = 1.0  # how often a blocked wait checks that the client is still connected
QUEUED = 100_000  # calls in flight at most when the run sets no max_workers


class _Call:
    __slots__ = ("future", "name")

    def __init__(self, name: str, future: Any) -> None:
        self.name = name
        self.future = future


class _Fetched:
    """A batch of outputs fetched in the background: the calls and the fetch's future."""

    __slots__ = ("done", "finished")

    def __init__(self, finished: list[tuple[Hashable, _Call]], done: Any) -> None:
        self.finished = finished
        self.done = done


async def _both(values: Any, holders: Any) -> tuple[Any, Any]:
    return await asyncio.gather(values, holders)


class DaskExecutor(Connection):
    """Runs each stage call as a task on a Dask cluster (``pip install "flowkit[dask]"``).

    Args:
        address: ``None`` to start a private ``distributed.LocalCluster`` (worker processes
            on 127.0.0.1, no dashboard); a scheduler address such as
            ``"tcp://127.0.0.1:8786"``; or a connected ``distributed.Client``. A cluster or
            Client you give is never closed by flowkit.
        **cluster_options: ``LocalCluster`` options (``n_workers``, ``threads_per_worker``,
            ``memory_limit``, ...) for the private cluster; only with ``address=None``.

    A private cluster (or a Client made for an address) lives for one run: it starts when
    the run starts and closes when it ends. To keep it across runs, use the executor as a
    context manager::

        with DaskExecutor(n_workers=4) as dask_executor:
            first = pipeline.run(executor=dask_executor)
            second = pipeline.run(executor=dask_executor)

    Stages must pickle and be importable on the workers (cloudpickle sends lambdas and
    local functions by value); stages defined in ``__main__`` are refused before the run
    starts. Calls go to the scheduler without waiting for a free worker; the run's
    ``max_workers``, when set, caps the calls in flight.

    Raises:
        TypeError: ``cluster_options`` given together with an ``address``.
    """

    enforces_timeouts = True  # on the worker, from the moment the call starts there

    def __init__(self, address: Any = None, **cluster_options: Any) -> None:
        super().__init__(address, **cluster_options)
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._calls: dict[Hashable, _Call] = {}
        self._early: dict[Hashable, _Call] = {}  # sent before their dependencies ended
        self._early_done: dict[Hashable, Any] = {}  # early ones that finished meanwhile
        self._keys: dict[str, Hashable] = {}  # Dask key -> driver key
        self._payloads = Payloads()
        self._done: list[Completion] = []
        self._to_fetch: list[tuple[Hashable, _Call]] = []  # finished, output not fetched
        self._fetching = False  # a batch of outputs is on its way
        self._losses = Losses()

    # -- the Executor protocol -------------------------------------------------------------

    def validate(self, stages: Iterable[Stage]) -> None:
        """Refuse, before any work starts, a stage that cannot be sent to the workers.

        Raises:
            PipelineDefinitionError: A stage lives in ``__main__`` or does not pickle.
        """
        for stage in stages:
            self._payloads.get(stage)

    def start(self, max_workers: int | None) -> int:
        try:
            client = self._connect()
            self._losses.configure(client)
            listener(client).add(client, self._inbox)
        except BaseException:
            self.shutdown()
            raise
        return max_workers or QUEUED

    def submit(self, key: Hashable, stage: Stage, kwargs: dict[str, Any]) -> None:
        try:
            future = self._send(stage, kwargs, [])
        except PipelineDefinitionError as error:
            self._done.append(Completion(key, ok=False, value=error))
            return
        except Exception as error:  # noqa: BLE001 - reported as the stage's failure
            self._done.append(Completion(key, ok=False, value=submit_error(stage, kwargs, error)))
            return
        self._calls[key] = _Call(stage.name, future)
        self._keys[future.key] = key

    def submit_early(
        self,
        key: Hashable,
        stage: Stage,
        kwargs: dict[str, Any],
        pending: Mapping[str, Hashable],
        after: tuple[Hashable, ...],
    ) -> bool:
        """Send a call before its dependencies ended: parameter ``p`` of ``pending`` takes
        the pending result of call ``pending[p]``, and the task also waits for the calls
        ``after``. False when it cannot go early (then it goes the usual way)."""
        futures = {param: self._future(dep) for param, dep in pending.items()}
        waits = [self._future(dep) for dep in after]
        if None in futures.values() or None in waits:
            return False
        try:
            future = self._send(stage, {**kwargs, **futures}, waits)
        except Exception:  # noqa: BLE001 - the usual way reports what is wrong
            return False
        self._early[key] = _Call(stage.name, future)
        self._keys[future.key] = key
        return True

    def adopt(self, key: Hashable) -> bool:
        """The early call ``key`` is now wanted as submitted; False if it is gone."""
        call = self._early.pop(key, None)
        if call is None:
            return False
        self._calls[key] = call
        finished = self._early_done.pop(key, None)
        if finished is not None:
            self._take([finished])
        return True

    def wait(self, timeout: float | None) -> list[Completion]:
        if not self._done:
            self._take(self._receive(timeout))
        done, self._done = self._done, []
        return done

    def cancel(self, key: Hashable) -> None:
        call = self._forget(key)
        if call is not None and self._client is not None:
            # A running task cannot be interrupted: Dask drops it, and its worker thread
            # stays busy until the function returns (the result is discarded).
            self._client.cancel([call.future])

    def shutdown(self) -> None:
        futures = [call.future for call in (*self._calls.values(), *self._early.values())]
        for table in (self._calls, self._early, self._early_done, self._keys):
            table.clear()
        self._to_fetch.clear()
        self._fetching = False
        self._payloads.clear()
        self._done.clear()
        self._losses.clear()
        inbox, self._inbox = self._inbox, queue.SimpleQueue()
        client = self._client
        try:
            if client is not None:
                listener(client).remove(client, inbox)
                if futures and client.status == "running":
                    client.cancel(futures)
        finally:
            if not self._kept:
                self.close()

    def worker_losses(self) -> list[tuple[Hashable, str, bool]]:
        """The workers lost under calls since the last time: ``(key, worker address,
        rescheduled)``; the driver logs each as ``stage.worker_lost``."""
        return self._losses.drain()

    # -- helpers ---------------------------------------------------------------------------

    def _send(self, stage: Stage, kwargs: dict[str, Any], waits: list[Any]) -> Any:
        payload = self._payloads.get(stage)
        dask_key = f"{stage.name}-{uuid.uuid4().hex}"  # the dashboard groups by name
        future = self._client.submit(
            run_on_worker, stage.name, payload, kwargs, waits, key=dask_key, pure=False
        )
        future.add_done_callback(self._inbox.put)
        return future

    def _future(self, key: Hashable) -> Any:
        call = self._calls.get(key) or self._early.get(key)
        return None if call is None else call.future

    def _receive(self, timeout: float | None) -> list[Any]:
        """What arrived within ``timeout``: done futures and lost workers."""
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

    def _take(self, items: list[Any]) -> None:
        finished: list[tuple[Hashable, _Call]] = []
        for item in items:
            if isinstance(item, _Fetched):
                self._fetched(item)
                continue
            if not isinstance(item, distributed.Future):
                self._lost(*item)
                continue
            key = self._keys.get(item.key)
            call = self._calls.get(key) if key is not None else None
            if call is None or call.future is not item:
                if key in self._early:
                    self._early_done[key] = item  # reported once adopted
                continue  # else cancelled or timed out: a late result is void
            if item.status == "finished":
                finished.append((key, call))
            else:
                self._forget(key)
                self._losses.gave_up(key, item)
                self._done.append(Completion(key, ok=False, value=task_error(call.name, item)))
        if finished:
            self._to_fetch.extend(finished)
        if self._to_fetch and not self._fetching:
            self._fetch_later()

    def _fetch_later(self) -> None:
        """Fetch the finished outputs (and where they are) in the background, in one
        batch, which comes back through the inbox as a `_Fetched`. One batch at a time:
        what finishes meanwhile makes the next batch (each fetch costs the scheduler)."""
        finished, self._to_fetch = self._to_fetch, []
        futures = [call.future for _, call in finished]
        client = self._client
        try:
            values = client.gather(futures, asynchronous=True)
            holders = client.scheduler.who_has(keys=[future.key for future in futures])
            fetching = asyncio.run_coroutine_threadsafe(
                _both(values, holders), client.loop.asyncio_loop
            )
        except Exception:  # noqa: BLE001 - then fetch them here and now
            self._done.extend(self._fetch(finished))
            return
        self._fetching = True
        fetching.add_done_callback(lambda done: self._inbox.put(_Fetched(finished, done)))

    def _fetched(self, batch: _Fetched) -> None:
        self._fetching = False
        wanted = [(key, call) for key, call in batch.finished if self._calls.get(key) is call]
        try:
            values, holders = batch.done.result()
        except Exception:  # noqa: BLE001 - an output that cannot travel: find which
            self._done.extend(self._fetch(wanted))
            return
        for (key, call), value in zip(batch.finished, values, strict=True):
            if self._calls.get(key) is call:  # else cancelled meanwhile: void
                self._forget(key)
                where = holders.get(call.future.key) or (None,)
                self._done.append(Completion(key, True, value, ref=call.future, worker=where[0]))

    def _fetch(self, finished: list[tuple[Hashable, _Call]]) -> list[Completion]:
        futures = [call.future for _, call in finished]
        try:
            values = self._client.gather(futures)
            holders = self._client.who_has(futures)
        except Exception:  # noqa: BLE001 - an output that cannot travel: find which
            if len(finished) > 1:
                return [c for one in finished for c in self._fetch([one])]
            key, call = finished[0]
            self._forget(key)
            return [Completion(key, ok=False, value=output_error(call.name, call.future))]
        done = []
        for (key, call), value in zip(finished, values, strict=True):
            self._forget(key)
            where = holders.get(call.future.key) or (None,)
            done.append(Completion(key, True, value, ref=call.future, worker=where[0]))
        return done

    def _lost(self, worker: str, dask_keys: frozenset[str]) -> None:
        # Not a failed attempt: Dask runs the task again elsewhere, or fails its future
        # with KilledWorker once it gives up (then `task_error` makes it WorkerDiedError).
        for dask_key in dask_keys:
            key = self._keys.get(dask_key)
            if key is not None and key in self._calls:
                self._losses.lost(key, dask_key, worker)

    def _fail_all(self, reason: str) -> None:
        for key, call in list(self._calls.items()):
            self._forget(key)
            error = ConnectionError(f"stage {call.name!r}: {reason}")
            self._done.append(Completion(key, ok=False, value=error))

    def _forget(self, key: Hashable) -> _Call | None:
        call = self._calls.pop(key, None) or self._early.pop(key, None)
        self._early_done.pop(key, None)
        if call is not None:
            self._keys.pop(call.future.key, None)
        return call
