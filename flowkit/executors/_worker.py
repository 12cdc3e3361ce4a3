"""A ``processes`` worker: ``python -m flowkit.executors._worker``.

Reads the parent's ``sys.path``, says it is ready, then reads pickled ``(stage, kwargs)``
calls from stdin and writes pickled ``(ok, value, traceback)`` outcomes to the original
stdout (``traceback`` is the error's formatted traceback, since a traceback does not
pickle); the stage's own prints go to stderr.
"""

from __future__ import annotations

import os
import pickle
import sys
from multiprocessing.connection import Connection
from typing import Any

from flowkit._traceback import format_error
from flowkit.executors._protocol import call_stage


def _outcome_bytes(outcome: tuple[bool, Any], name: str) -> bytes:
    ok, value = outcome
    text = None if ok else format_error(value)
    try:
        return pickle.dumps((ok, value, text), pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # noqa: BLE001 - an output or error that cannot travel back
        what = f"stage {name!r}: its output" if outcome[0] else f"stage {name!r}: its error"
        return pickle.dumps(
            (
                False,
                TypeError(
                    f"{what} of type {type(outcome[1]).__qualname__} cannot be "
                    f"pickled to return to the driver ({error})"
                ),
                text,
            )
        )


def main() -> None:
    """Serve calls until stdin closes."""
    reader = Connection(os.dup(0), writable=False)
    writer = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # user prints must not corrupt the protocol stream
    sys.path[:] = pickle.loads(reader.recv_bytes())  # noqa: S301 - sent by our parent
    writer.send_bytes(b"ready")  # flowkit is imported: calls can come, their clocks start now
    while True:
        try:
            payload = reader.recv_bytes()
        except (EOFError, OSError):
            return
        name = "?"
        try:
            stage, kwargs = pickle.loads(payload)  # noqa: S301 - sent by our parent
            name = stage.name
            outcome: tuple[bool, Any] = (True, call_stage(stage, kwargs))
        except BaseException as error:  # noqa: BLE001 - reported to the driver
            outcome = (False, error)
        writer.send_bytes(_outcome_bytes(outcome, name))


if __name__ == "__main__":
    main()
