"""The ``processes`` executor: one worker process per slot, each behind its own pipes, so a
call that passes its timeout is stopped by killing exactly its worker (then replaced).

Workers are fresh interpreters (``python -m flowkit.executors._worker``), not forks: no
inherited threads or locks, and the parent's ``__main__`` is never re-run.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Hashable, Iterable
from multiprocessing.connection import Connection, wait
from typing import Any

from flowkit._stage import Stage
from flowkit._traceback import with_remote_traceback
from flowkit.errors import PipelineDefinitionError, WorkerDiedError
from flowkit.executors._protocol import Completion, unpicklable_argument

__all__ = ["ProcessExecutor"]


def _describe_pickling(what: str, value: object, error: Exception) -> str:
    return f"{what} of type {type(value).__qualname__} cannot be pickled ({error})"


class _Worker:
    __slots__ = ("key", "process", "reader", "writer")

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.writer = Connection(os.dup(process.stdin.fileno()), readable=False)  # type: ignore[union-attr]
        self.reader = Connection(os.dup(process.stdout.fileno()), writable=False)  # type: ignore[union-attr]
        process.stdin.close()  # type: ignore[union-attr]
        process.stdout.close()  # type: ignore[union-attr]
        self.key: Hashable | None = None
        self.writer.send_bytes(pickle.dumps(list(sys.path)))

    def wait_ready(self) -> None:
        """Block until the worker has started and imported flowkit, so that a call's timeout
        never counts the start of the process it runs in."""
        self.reader.recv_bytes()

    def stop(self, kill: bool) -> None:
        self.writer.close()  # an idle worker sees EOF and exits
        self.reader.close()
        if kill:
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ProcessExecutor:
    """Runs each stage call in a worker process (stages and values must pickle).

    Args:
        max_workers: Worker processes (default: the run's ``max_workers`` if given, else
            the number of CPUs).
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers
        self._workers: list[_Worker] = []
        self._done: list[Completion] = []

    def validate(self, stages: Iterable[Stage]) -> None:
        """Refuse, before any work starts, a stage that cannot be pickled."""
        for stage in stages:
            if getattr(stage, "__module__", None) == "__main__":
                raise PipelineDefinitionError(
                    f"stage {stage.name!r} is defined in __main__, which worker processes "
                    "cannot import; move it to a module for the processes executor"
                )
            try:
                pickle.dumps(stage)
            except Exception as error:
                raise PipelineDefinitionError(
                    f"stage {stage.name!r}: {_describe_pickling('the stage', stage, error)}; "
                    "the processes executor needs stages defined at module level of an "
                    "importable module (no lambdas or local functions)"
                ) from error

    def start(self, max_workers: int | None) -> int:
        count = self.max_workers or max_workers or os.cpu_count() or 1
        self._workers = [self._spawn() for _ in range(count)]
        for worker in self._workers:  # they start side by side; wait for each once
            worker.wait_ready()
        return count

    def _spawn(self) -> _Worker:
        process = subprocess.Popen(
            [sys.executable, "-m", "flowkit.executors._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        return _Worker(process)

    def submit(self, key: Hashable, stage: Stage, kwargs: dict[str, Any]) -> None:
        try:
            payload = pickle.dumps((stage, kwargs), pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # noqa: BLE001 - reported as the stage's failure
            self._done.append(Completion(key, ok=False, value=_unpicklable(stage, kwargs, error)))
            return
        worker = next(w for w in self._workers if w.key is None)
        worker.key = key
        worker.writer.send_bytes(payload)

    def wait(self, timeout: float | None) -> list[Completion]:
        if self._done:
            done, self._done = self._done, []
            return done
        busy = {w.reader: w for w in self._workers if w.key is not None}
        done = []
        for ready in wait(list(busy), timeout):
            worker = busy[ready]  # type: ignore[index]
            key, worker.key = worker.key, None
            pid = worker.process.pid
            try:
                ok, value, text = pickle.loads(worker.reader.recv_bytes())  # noqa: S301 - ours
                if text is not None:
                    value = with_remote_traceback(value, text)
            except (EOFError, OSError):
                self._replace(worker)
                ok, value = (
                    False,
                    WorkerDiedError(
                        f"worker process {pid} died (exit code {worker.process.returncode}) "
                        "while running the stage"
                    ),
                )
            done.append(Completion(key, ok, value, worker=f"pid:{pid}"))
        return done

    def cancel(self, key: Hashable) -> None:
        for worker in self._workers:
            if worker.key == key:
                self._replace(worker)

    def _replace(self, worker: _Worker) -> None:
        worker.stop(kill=True)
        fresh = self._spawn()
        fresh.wait_ready()
        self._workers[self._workers.index(worker)] = fresh

    def shutdown(self) -> None:
        for worker in self._workers:
            worker.stop(kill=worker.key is not None)
        self._workers = []


def _unpicklable(stage: Stage, kwargs: dict[str, Any], error: Exception) -> Exception:
    why = "the processes executor sends arguments to another process"
    return unpicklable_argument(stage, kwargs, pickle.dumps, why) or TypeError(
        f"stage {stage.name!r}: {_describe_pickling('the stage', stage, error)}"
    )
