"""Run stages on a Dask cluster: each stage call is one Dask task.

The driver stays in the calling process (scheduling, retries, events, hooks, the cache);
this executor only turns calls into tasks. A dependency's output reaches its dependents as
the Dask future of the task that made it, so data moves worker to worker; the driver also
fetches each output once, for the run's result.

Calls go to the scheduler as soon as the engine has them, without waiting for a free
worker (Dask queues them), in one batch per turn of the driver's loop; the items of a
``map_over`` stage go in chunks (a few per worker thread), each item with its own outcome.
A call's dependents go too, before it has finished, behind its pending future
(`flowkit._pipelining`): the scheduler, not the driver, moves a chain forward. A call's
timeout is therefore enforced where it runs, on the worker, from the moment it starts.

A worker that dies while it runs a call is Dask's to handle: the scheduler runs the task
again on another worker (its ``allowed-failures`` setting) and the loss shows in the log
(``stage.worker_lost``); only when Dask gives up does the attempt fail with
`WorkerDiedError`, and then the stage's retries decide.

What travels to the workers is in `flowkit.executors._dask_pickling`; how a lost
worker or a failed task becomes a stage's error, in `flowkit.executors._dask_events`; what
comes back, in `flowkit.executors._dask_tasks`.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from flowkit._stage import Stage
from flowkit.errors import PipelineDefinitionError
from flowkit.executors._dask_client import Connection
from flowkit.executors._dask_events import listener
from flowkit.executors._dask_pickling import (
    Payloads,
    run_chunk,
    run_on_worker,
    stop_run,
    submit_error,
)
from flowkit.executors._dask_tasks import Task, Tasks
from flowkit.executors._protocol import Completion

__all__ = ["DaskExecutor"]

QUEUED = 100_000  # calls in flight at most when the run sets no max_workers
CHUNKS_PER_THREAD = 4  # map_over items go in about this many chunks per worker thread

Outgoing = tuple[Hashable, Stage, dict[str, Any]]  # a call not sent yet: key, stage, kwargs


class DaskExecutor(Connection, Tasks):
    """Runs each stage call as a task on a Dask cluster (``pip install "flowkit[dask]"``).

    Args:
        address: ``None`` to start a private ``distributed.LocalCluster`` (worker processes
            on 127.0.0.1, no dashboard); a scheduler address such as
            ``"tcp://127.0.0.1:8786"``; or a connected ``distributed.Client``. A cluster or
            Client you give is never closed by flowkit.
        map_chunk_size: How many ``map_over`` items one Dask task runs (each item keeps its
            own outcome, retries, timeout and events). Default: the items sent together
            split into about 4 chunks per worker thread.
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
        ValueError: ``map_chunk_size`` is not an int >= 1.
    """

    enforces_timeouts = True  # on the worker, from the moment the call starts there
    reports_starts = True  # `started`: stage.started comes when a call starts on a worker

    def __init__(
        self, address: Any = None, *, map_chunk_size: int | None = None, **cluster_options: Any
    ) -> None:
        if map_chunk_size is not None and not _positive_int(map_chunk_size):
            raise ValueError(f"map_chunk_size must be an int >= 1, got {map_chunk_size!r}")
        Connection.__init__(self, address, **cluster_options)
        Tasks.__init__(self)
        self.map_chunk_size = map_chunk_size
        self._payloads = Payloads()
        self._outbox: dict[Hashable, Outgoing] = {}
        self._threads = 1
        self._token = ""  # this run's, for the workers (see `withdraw_queued`)

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
            self._threads = max(1, sum(client.nthreads().values()))
            self._token = uuid.uuid4().hex
        except BaseException:
            self.shutdown()
            raise
        return max_workers or QUEUED

    def submit(self, key: Hashable, stage: Stage, kwargs: dict[str, Any]) -> None:
        try:
            self._payloads.get(stage)
        except PipelineDefinitionError as error:
            self._done.append(Completion(key, ok=False, value=error))
            return
        self._outbox[key] = (key, stage, kwargs)  # sent with the others at the next wait

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
            payload = self._payloads.get(stage)
            future = self._client.submit(
                run_on_worker,
                stage.name,
                payload,
                {**kwargs, **futures},
                waits,
                self._token,
                key=_dask_key(stage),
                pure=False,
            )
        except Exception:  # noqa: BLE001 - the usual way reports what is wrong
            return False
        future.add_done_callback(self._inbox.put)
        self.track(key, Task(stage.name, future), early=True)
        return True

    def wait(self, timeout: float | None) -> list[Completion]:
        self._flush()
        if not self._done:
            self.take(self.receive(timeout))
        done, self._done = self._done, []
        return done

    def cancel(self, key: Hashable) -> None:
        if self._outbox.pop(key, None) is not None:
            return
        task = self.forget(key)
        if task is not None and task.index is None and self._client is not None:
            # A running task cannot be interrupted: Dask drops it, and its worker thread
            # stays busy until the function returns (the result is discarded). A chunk
            # runs on for its other items.
            self._client.cancel([task.future])

    def shutdown(self) -> None:
        futures = [task.future for task in (*self._calls.values(), *self._early.values())]
        self.reset()
        self._outbox.clear()
        self._payloads.clear()
        inbox, self._inbox = self._inbox, type(self._inbox)()
        client = self._client
        try:
            if client is not None:
                listener(client).remove(client, inbox)
                if futures and client.status == "running":
                    client.cancel(futures)
        finally:
            if not self._kept:
                self.close()

    def withdraw_queued(self) -> None:
        """Fail-fast: calls still queued on the cluster must not start; each comes back
        `Withdrawn` when a worker thread reaches it (running ones finish)."""
        if self._client is not None and self._client.status == "running":
            self._flush()
            self._client.run(stop_run, self._token)

    # -- sending ---------------------------------------------------------------------------

    def _future(self, key: Hashable) -> Any:
        if key in self._outbox:
            self._flush()
        task = self._calls.get(key) or self._early.get(key)
        return None if task is None or task.index is not None else task.future

    def _flush(self) -> None:
        """Send what was submitted since the last time: calls in one batch, the items of
        each ``map_over`` stage in chunks."""
        if not self._outbox:
            return
        outgoing = list(self._outbox.values())
        self._outbox.clear()
        singles: list[Outgoing] = []
        items: dict[int, list[Outgoing]] = {}
        for call in outgoing:
            if call[1].map_over is None:
                singles.append(call)
            else:
                items.setdefault(id(call[1]), []).append(call)
        if singles:
            self._send(singles)
        for calls in items.values():
            size = self.map_chunk_size or math.ceil(
                len(calls) / (CHUNKS_PER_THREAD * self._threads)
            )
            for start in range(0, len(calls), size):
                self._send_chunk(calls[start : start + size])

    def _send(self, calls: list[Outgoing]) -> None:
        try:
            futures = self._client.map(
                run_on_worker,
                [stage.name for _, stage, _ in calls],
                [self._payloads.get(stage) for _, stage, _ in calls],
                [kwargs for _, _, kwargs in calls],
                [[] for _ in calls],
                [self._token] * len(calls),
                key=[_dask_key(stage) for _, stage, _ in calls],
                pure=False,
            )
        except Exception as error:  # noqa: BLE001 - one call does not travel: find which
            if len(calls) > 1:
                for call in calls:
                    self._send([call])
                return
            key, stage, kwargs = calls[0]
            self._done.append(Completion(key, ok=False, value=submit_error(stage, kwargs, error)))
            return
        for (key, stage, _), future in zip(calls, futures, strict=True):
            future.add_done_callback(self._inbox.put)
            self.track(key, Task(stage.name, future))

    def _send_chunk(self, calls: list[Outgoing]) -> None:
        stage = calls[0][1]
        try:
            future = self._client.submit(
                run_chunk,
                stage.name,
                self._payloads.get(stage),
                [kwargs for _, _, kwargs in calls],
                self._token,
                key=_dask_key(stage),
                pure=False,
            )
        except Exception as error:  # noqa: BLE001 - each item reports what does not travel
            for key, _, kwargs in calls:
                failed = submit_error(stage, kwargs, error)
                self._done.append(Completion(key, ok=False, value=failed))
            return
        future.add_done_callback(self._inbox.put)
        for index, (key, _, _) in enumerate(calls):
            self.track(key, Task(stage.name, future, index))


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _dask_key(stage: Stage) -> str:
    return f"{stage.name}-{uuid.uuid4().hex}"  # the dashboard groups tasks by name
