"""What travels between the driver and Dask workers: stages pickled once each, the task that
loads and calls one on a worker, and errors that name what does not pickle.

Stages go by cloudpickle (a dask dependency), so lambdas and local functions travel by
value; a stage that pickles by reference must be importable on the workers.
"""

from __future__ import annotations

import importlib
import pickle
import sys
from typing import Any

import distributed

from flowkit._calls import call_sync
from flowkit._pipelining import Withdrawn
from flowkit._stage import Stage
from flowkit._traceback import format_error
from flowkit.errors import PipelineDefinitionError
from flowkit.executors._dask_events import REMOTE_TRACEBACK, STARTED_TOPIC, Escaped
from flowkit.executors._protocol import unpicklable_argument

__all__ = ["Payloads", "output_error", "run_chunk", "run_on_worker", "stop_run", "submit_error"]

_cloudpickle: Any = importlib.import_module("cloudpickle")  # a dask dependency, untyped


_STOPPED: set[str] = set()  # in a worker process: the runs whose queued calls must not start


def stop_run(token: str) -> None:
    """Run on every worker when run ``token`` stops (fail-fast): its calls still queued
    there come back `Withdrawn` instead of starting."""
    _STOPPED.add(token)


def _may_start(token: str) -> bool:
    """False when the run stopped; else the start is logged for the driver (which emits
    ``stage.started`` then) and the call goes ahead."""
    if token in _STOPPED:
        return False
    worker = distributed.get_worker()
    worker.log_event(STARTED_TOPIC, [str(worker.get_current_task()), worker.address])
    return True


def run_on_worker(
    name: str, payload: bytes, kwargs: dict[str, Any], after: object, token: str
) -> Any:
    """The task every stage call becomes: load the stage, call it once, within its timeout
    (counted from here: a call may have waited in the scheduler's queue first), unless run
    ``token`` stopped meanwhile. ``after`` holds the pending results of ordering-only
    dependencies: Dask starts the task once they exist (arguments' futures arrive here as
    their values)."""
    if not _may_start(token):
        raise Withdrawn(name)  # raised: dependents queued behind it never start either
    stage = _load(name, payload)
    try:
        return call_sync(stage, kwargs)
    except BaseException as error:  # noqa: BLE001 - every error travels back to the driver
        raise _travelling(error) from None


def run_chunk(name: str, payload: bytes, kwargs_list: list[dict[str, Any]], token: str) -> Any:
    """The task a chunk of ``map_over`` items becomes: each item called once, within its
    timeout, with an outcome of its own, ``(True, output)`` or ``(False, error)``: one
    failing item never fails the others (and items after run ``token`` stopped do not
    start: their error is `Withdrawn`)."""
    stage = _load(name, payload)
    outcomes: list[Any] = []
    if not _may_start(token):  # the chunk's start says where its items run
        return [(False, Withdrawn(name)) for _ in kwargs_list]
    for kwargs in kwargs_list:
        if token in _STOPPED:
            outcomes.append((False, Withdrawn(name)))
            continue
        try:
            output = call_sync(stage, kwargs)
        except BaseException as error:  # noqa: BLE001 - this item's outcome
            outcomes.append((False, _travelling(error)))
            continue
        try:  # an output that cannot travel fails its item, not the whole chunk
            _cloudpickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # noqa: BLE001 - this item's outcome
            reason = str(error).strip().partition("\n")[0]
            outcomes.append((False, TypeError(_NOT_SENT.format(name=name, reason=reason))))
            continue
        outcomes.append((True, output))
    return outcomes


_NOT_SENT = (
    "stage {name!r}: its output cannot be sent back from the Dask worker ({reason}); "
    "outputs must pickle"
)


def _load(name: str, payload: bytes) -> Stage:
    try:
        stage: Stage = pickle.loads(payload)  # noqa: S301 - pickled by our own driver
    except Exception as error:
        raise ImportError(
            f"stage {name!r} cannot be loaded on Dask worker {distributed.get_worker().address}: "
            f"{error}; the workers need the module that defines it (same environment and "
            "PYTHONPATH, or client.upload_file)"
        ) from error
    return stage


def _travelling(error: BaseException) -> Exception:
    """``error`` ready to travel back: its traceback as text (an attribute pickles with the
    error), and a SystemExit or KeyboardInterrupt, which would take the Dask worker down,
    carried inside an `Escaped`."""
    setattr(error, REMOTE_TRACEBACK, format_error(error))
    return error if isinstance(error, Exception) else Escaped(error)


class Payloads:
    """Each stage of a run pickled once, for `run_on_worker`."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[Stage, bytes]] = {}  # id(stage) -> (stage, pickle)

    def get(self, stage: Stage) -> bytes:
        """The pickle of ``stage``.

        Raises:
            PipelineDefinitionError: ``stage`` lives in ``__main__`` or does not pickle.
        """
        cached = self._by_id.get(id(stage))
        if cached is not None:
            return cached[1]
        main = _by_name_in_main(stage)
        if main is not None:
            raise PipelineDefinitionError(
                f"stage {main!r} is defined in __main__, which Dask workers cannot import; "
                "move it to a module the workers can import"
            )
        try:
            payload: bytes = _cloudpickle.dumps(stage, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:
            raise PipelineDefinitionError(
                f"stage {stage.name!r}: the stage of type {type(stage).__qualname__} cannot be "
                f"pickled ({error}); the Dask executor sends stages to worker processes"
            ) from error
        self._by_id[id(stage)] = (stage, payload)  # holding the stage keeps its id unique
        return payload

    def clear(self) -> None:
        self._by_id.clear()


def _by_name_in_main(stage: Stage) -> str | None:
    """The name of a stage (or child) that pickles as a reference to ``__main__``, whose
    namesake on a worker is some other script, or None. (A stage pickles by reference when
    it is the module attribute named by its ``__qualname__``, see ``FunctionStage``.)"""
    children = getattr(stage, "stages", None)  # a parallel group
    if isinstance(children, tuple):
        return next(filter(None, map(_by_name_in_main, children)), None)
    inner = getattr(stage, "inner", None)  # a condition around a stage
    if isinstance(inner, Stage) and _by_name_in_main(inner) is not None:
        return stage.name
    if getattr(stage, "__module__", None) != "__main__":
        return None
    target: Any = sys.modules.get("__main__")
    for part in getattr(stage, "__qualname__", "").split("."):
        target = getattr(target, part, None)
    return stage.name if target is stage else None


def submit_error(stage: Stage, kwargs: dict[str, Any], error: Exception) -> Exception:
    """The error of a call that could not be submitted: the first argument that does not
    pickle (futures of earlier calls aside), else ``error`` itself."""
    culprit = unpicklable_argument(
        stage,
        kwargs,
        _cloudpickle.dumps,
        "the Dask executor sends arguments to worker processes",
        skip=lambda value: isinstance(value, distributed.Future),
    )
    return culprit or TypeError(
        f"stage {stage.name!r}: the Dask task cannot be submitted ({error})"
    )


def output_error(stage: str, future: Any) -> Exception:
    """The error of a finished call of ``stage`` whose output cannot be fetched."""
    try:
        future.result()
    except Exception as error:  # noqa: BLE001 - this is the error we report
        reason = str(error).strip().partition("\n")[0]  # Dask appends whole tracebacks
        return TypeError(_NOT_SENT.format(name=stage, reason=reason))
    return RuntimeError(f"stage {stage!r}: its output could not be fetched")
