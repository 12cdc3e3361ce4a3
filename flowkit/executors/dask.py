"""Run stages on a Dask cluster: each stage call is one Dask task.

The driver stays in the calling process (scheduling, retries, timeouts, events, hooks, the
cache); this executor only turns calls into tasks. A dependency's output reaches its
dependents as the Dask future of the task that made it, so data moves worker to worker; the
driver also fetches each output once, for the run's result.

A worker that dies while it runs a call is Dask's to handle: the scheduler runs the task
again on another worker (its ``allowed-failures`` setting) and the loss shows in the log
(``stage.worker_lost``); only when Dask gives up does the attempt fail with
`WorkerDiedError`, and then the stage's retries decide.

What travels to the workers is in `flowkit.executors._dask_pickling`; how a lost
worker or a failed task becomes a stage's error, in `flowkit.executors._dask_events`.
"""

from __future__ import annotations

import queue
import uuid
from collections.abc import Hashable, Iterable
from types import TracebackType
from typing import Any

import distributed as _distributed

from flowkit._stage import Stage
from flowkit.errors import PipelineDefinitionError
from flowkit.executors._dask_events import Losses, listener, local_cluster_options, task_error
from flowkit.executors._dask_pickling import Payloads, output_error, run_on_worker, submit_error
from flowkit.executors._protocol import Completion

__all__ = ["DaskExecutor"]

# distributed is mostly unannotated: go through Any rather than silence every call.
distributed: Any = _distributed

_POLL_S = 1.0  # how often a blocked wait checks that the client is still connected


class _Call:
    __slots__ = ("future", "name")

    def __init__(self, name: str, future: Any) -> None:
        self.name = name
        self.future = future


class DaskExecutor:
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
    starts. Calls in flight are limited to the cluster's worker threads when the run starts
    (``max_workers`` does not apply).

    Raises:
        TypeError: ``cluster_options`` given together with an ``address``.
    """

    def __init__(self, address: Any = None, **cluster_options: Any) -> None:
        if address is not None and cluster_options:
            raise TypeError(
                f"DaskExecutor: {', '.join(sorted(cluster_options))} configure the LocalCluster "
                "started when no address is given; configure your own cluster where you "
                "start it"
            )
        self.address = address
        self.cluster_options = cluster_options
        self._client: Any = None
        self._cluster: Any = None
        self._kept = False  # inside `with`: the private cluster outlives each run
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._calls: dict[Hashable, _Call] = {}
        self._keys: dict[str, Hashable] = {}  # Dask key -> driver key
        self._payloads = Payloads()
        self._done: list[Completion] = []
        self._losses = Losses()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` while connected (during a run or inside ``with``)."""
        return self._client

    def __enter__(self) -> DaskExecutor:
        self._connect()
        self._kept = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._kept = False
        self.close()

    def close(self) -> None:
        """Close what this executor started (its Client, its LocalCluster), never a Client
        or cluster it was given."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None and client is not self.address:
            client.close()
        if cluster is not None:
            cluster.close()

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        if isinstance(self.address, distributed.Client):
            self._client = self.address
            return self._client
        try:
            if self.address is None:
                self._cluster = distributed.LocalCluster(
                    **local_cluster_options(self.cluster_options)
                )
                self._client = distributed.Client(self._cluster, set_as_default=False)
            else:
                self._client = distributed.Client(self.address, set_as_default=False)
        except OSError as error:
            self.close()
            # distributed's message already names the address.
            raise OSError(
                f"{error}; start a scheduler there with `dask scheduler` (and workers with "
                "`dask worker ADDRESS`), or fix the address"
            ) from error
        except BaseException:
            self.close()
            raise
        return self._client

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
            threads: int = sum(client.nthreads().values())
        except BaseException:
            self.shutdown()
            raise
        return max(1, threads)

    def submit(self, key: Hashable, stage: Stage, kwargs: dict[str, Any]) -> None:
        try:
            payload = self._payloads.get(stage)
            dask_key = f"{stage.name}-{uuid.uuid4().hex}"  # the dashboard groups by name
            future = self._client.submit(
                run_on_worker, stage.name, payload, kwargs, key=dask_key, pure=False
            )
        except PipelineDefinitionError as error:
            self._done.append(Completion(key, ok=False, value=error))
            return
        except Exception as error:  # noqa: BLE001 - reported as the stage's failure
            self._done.append(Completion(key, ok=False, value=submit_error(stage, kwargs, error)))
            return
        self._calls[key] = _Call(stage.name, future)
        self._keys[dask_key] = key
        future.add_done_callback(self._inbox.put)

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
        futures = [call.future for call in self._calls.values()]
        self._calls.clear()
        self._keys.clear()
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

    # -- helpers ---------------------------------------------------------------------------

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
            if not isinstance(item, distributed.Future):
                self._lost(*item)
                continue
            key, call = self._lookup(item.key)
            if call is None:
                continue  # cancelled or timed out: a late result is void
            if item.status == "finished":
                finished.append((key, call))
            else:
                self._forget(key)
                self._done.append(Completion(key, ok=False, value=task_error(call.name, item)))
        if finished:
            self._done.extend(self._fetch(finished))

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

    def worker_losses(self) -> list[tuple[Hashable, str, bool]]:
        """The workers lost under calls since the last time: ``(key, worker address,
        rescheduled)``; the driver logs each as ``stage.worker_lost``."""
        return self._losses.drain()

    def _lost(self, worker: str, dask_keys: frozenset[str]) -> None:
        # Not a failed attempt: Dask runs the task again elsewhere, or fails its future
        # with KilledWorker once it gives up (then `task_error` makes it WorkerDiedError).
        for dask_key in dask_keys:
            key, call = self._lookup(dask_key)
            if call is not None:
                self._losses.lost(key, dask_key, worker)

    def _fail_all(self, reason: str) -> None:
        for key, call in list(self._calls.items()):
            self._forget(key)
            error = ConnectionError(f"stage {call.name!r}: {reason}")
            self._done.append(Completion(key, ok=False, value=error))

    def _lookup(self, dask_key: str) -> tuple[Hashable, _Call | None]:
        """The driver key and call of a Dask key; no call when it is no longer wanted."""
        key = self._keys.get(dask_key)
        return key, self._calls.get(key) if key is not None else None

    def _forget(self, key: Hashable) -> _Call | None:
        call = self._calls.pop(key, None)
        if call is not None:
            self._keys.pop(call.future.key, None)
        return call
