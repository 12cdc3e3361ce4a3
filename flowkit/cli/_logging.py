"""The CLI's structlog output: console or JSON lines on stderr, JSON lines in a log file, and a
live progress line on a terminal.

Only the CLI configures structlog; the library just emits events. Events come from worker
threads too, so every sink writes whole lines under one lock.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Collection, MutableMapping
from pathlib import Path
from typing import IO, Any

import structlog
from structlog.processors import JSONRenderer, TimeStamper, add_log_level, format_exc_info

CLEAR_LINE = "\r\x1b[K"
LOG_LEVELS = ("debug", "info", "warning", "error")
_SEVERITY = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "critical": 50}
SHORT_RUN_ID = 8  # console lines: enough to tell runs apart; JSON keeps the whole id
_FIRST_KEYS = ("timestamp", "level", "event")
_DONE = frozenset({"stage.succeeded", "stage.skipped", "stage.cancelled"})
_RUNNING = frozenset({"stage.started", "stage.retrying"})
_ITEM_ENDS = frozenset({"stage.succeeded", "stage.failed"})
_MAX_FANOUTS_SHOWN = 2


def _json_renderer() -> Callable[[Any, str, MutableMapping[str, Any]], str | bytes]:
    try:  # orjson is an optional speed-up: several times faster than json for event dicts
        orjson: Any = importlib.import_module("orjson")
    except ImportError:
        return JSONRenderer()
    return JSONRenderer(serializer=orjson.dumps, option=orjson.OPT_NON_STR_KEYS)


def _as_text(line: str | bytes) -> str:
    return line.decode() if isinstance(line, bytes) else line


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a value that cannot even be printed still gets a line
        return f"<unprintable {type(value).__name__}>"


def _key_order(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Put timestamp, level and event first, so JSON lines read well."""
    first = {key: event.pop(key) for key in _FIRST_KEYS if key in event}
    first.update(event)
    return first


class Progress:
    """Counts ``stage.*`` events of the top-level stages into a one-line summary, and the
    ended items of each running ``map_over`` stage (its events that carry ``item``)."""

    def __init__(self, names: Collection[str]) -> None:
        self.names = frozenset(names)
        self.total = len(self.names)
        self.running: set[str] = set()
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self.items: dict[str, tuple[int, int]] = {}  # running fan-out -> (items ended, items)
        self.start = time.monotonic()

    def observe(self, event: MutableMapping[str, Any]) -> None:
        """Update the counts from one event."""
        name = event.get("event")
        if name == "pipeline.started" and isinstance(event.get("stages"), int):
            self.total = event["stages"]
            return
        stage = event.get("stage")
        if stage not in self.names:
            return  # a parallel group's child or a user event
        if isinstance(event.get("item"), int):
            self._observe_item(stage, name, event)
            return
        self.items.pop(stage, None)
        if name in _RUNNING:
            self.running.add(stage)
        elif name in _DONE:
            self.running.discard(stage)
            self.done.add(stage)
        elif name == "stage.failed":
            self.running.discard(stage)
            self.failed.add(stage)

    def _observe_item(self, stage: str, name: Any, event: MutableMapping[str, Any]) -> None:
        """An event of one ``map_over`` item: count the items that ended."""
        if name in _ITEM_ENDS and stage in self.running:
            done, total = self.items.get(stage, (0, 0))
            items = event.get("items")
            self.items[stage] = (done + 1, items if isinstance(items, int) else total)

    def line(self) -> str:
        """The progress line, without a newline."""
        fanouts = "".join(
            f", stage {stage}: {done}/{total or '?'} items"
            for stage, (done, total) in list(self.items.items())[:_MAX_FANOUTS_SHOWN]
        )
        return (
            f"flowkit: {len(self.done) + len(self.failed)}/{self.total} stages done, "
            f"{len(self.running)} running, {len(self.failed)} failed{fanouts} "
            f"[{time.monotonic() - self.start:.1f}s]"
        )


class Output:
    """The structlog "logger": renders each event dict and writes one line per sink.

    stderr gets the console or JSON rendering; the log file, if any, always gets JSON. When a
    `Progress` is attached (stderr is a terminal), its line is redrawn below the logs.
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        console: bool,
        colors: bool = False,
        log_file: IO[str] | None = None,
        progress: Progress | None = None,
        level: str = "info",
    ) -> None:
        self.stream = stream
        self.threshold = _SEVERITY[level]  # the stream's; the log file gets every event
        self.log_file = log_file
        self.progress = progress
        self.lock = threading.Lock()
        self.closed = False
        self.broken: set[int] = set()  # ids of sinks whose writes failed: skipped from then on
        self._json = _json_renderer()
        self._console = structlog.dev.ConsoleRenderer(colors=colors) if console else None

    def _render_json(self, event: dict[str, Any]) -> str:
        try:
            return _as_text(self._json(None, "", format_exc_info(None, "", dict(event))))
        except Exception:  # noqa: BLE001 - e.g. orjson refuses an int over 64 bits
            return json.dumps({key: _safe_str(value) for key, value in event.items()})

    def _render_console(self, event: dict[str, Any]) -> str:
        # Timings to the microsecond read better than full float reprs; a copy, since the
        # renderer pops keys.
        shown = {k: round(v, 6) if type(v) is float else v for k, v in event.items()}
        # The DAG is for the log file and tools, not for eyes (a line per stage of the run).
        if shown.get("event") == "pipeline.started":
            shown.pop("dependencies", None)
        run_id = shown.get("run_id")
        if isinstance(run_id, str):
            shown["run_id"] = run_id[:SHORT_RUN_ID]
        try:
            return _as_text(self._console(None, "", shown)) if self._console else ""
        except Exception:  # noqa: BLE001 - a value whose repr raises, in a user's own event
            return self._render_json(event)

    def msg(self, **event: Any) -> None:
        """Write ``event`` to every sink (all logger methods end here). Never raises: it is
        called from inside the engine, often on a worker thread."""
        # An event without a level (from a renderer-less test or user code) is shown.
        shown = _SEVERITY.get(str(event.get("level")), self.threshold) >= self.threshold
        text = ""
        if shown:
            text = self._render_console(event) if self._console else self._render_json(event)
        record = self._render_json(event) if self.log_file is not None else None
        with self.lock:
            if self.closed:
                return  # a stage abandoned at an interrupt finished after the CLI closed
            if self.progress is not None:
                self.progress.observe(event)
                text = f"{CLEAR_LINE}{text}\n" if shown else CLEAR_LINE
                text += self.progress.line()
            elif shown:
                text += "\n"
            if text:
                self._write(self.stream, text)
            if record is not None and self.log_file is not None:
                self._write(self.log_file, record + "\n")

    def _write(self, sink: IO[str], text: str) -> None:
        # Events are emitted from inside the engine, often on worker threads: a sink that
        # fails (a closed pipe, a full disk) must not break the run, so it is dropped.
        if id(sink) in self.broken:
            return
        try:
            sink.write(text)
            sink.flush()
        except (OSError, ValueError):
            self.broken.add(id(sink))

    debug = info = warning = warn = error = critical = exception = fatal = log = msg

    def close(self) -> None:
        """Clear the progress line and close the log file; later events are dropped."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            if self.progress is not None:
                self._write(self.stream, CLEAR_LINE)
            if self.log_file is not None:
                with contextlib.suppress(OSError):
                    self.log_file.close()


def stderr_is_tty() -> bool:
    """True when stderr is a terminal (the CLI's TTY check looks at stderr)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def configure(
    log_format: str | None,
    log_file: Path | None,
    stage_names: Collection[str],
    level: str = "info",
) -> Output:
    """Configure structlog for one CLI run and return the output to close afterwards.

    Args:
        log_format: ``"console"``, ``"json"`` or None (console on a terminal, else JSON).
        log_file: Also append JSON lines here.
        stage_names: The pipeline's top-level stages, for the progress line.
        level: The least severe events written to stderr (one of `LOG_LEVELS`); the log
            file still gets info and up, so ``flowkit inspect`` sees the whole run.

    Raises:
        OSError: The log file cannot be opened.
    """
    tty = stderr_is_tty()
    fmt = log_format or ("console" if tty else "json")
    file = log_file.open("a", encoding="utf-8") if log_file is not None else None
    live = tty and os.environ.get("TERM") != "dumb"
    output = Output(
        sys.stderr,
        console=fmt == "console",
        colors=live and "NO_COLOR" not in os.environ,
        log_file=file,
        progress=Progress(stage_names) if live else None,
        level=level,
    )
    # The log file and the progress line need every stage event, whatever stderr shows.
    wants_all = file is not None or live
    least = min(_SEVERITY[level], logging.INFO if wants_all else logging.CRITICAL)
    structlog.configure(
        processors=[add_log_level, TimeStamper(fmt="iso", utc=True), _key_order],
        wrapper_class=structlog.make_filtering_bound_logger(least),
        logger_factory=lambda *_: output,
        cache_logger_on_first_use=False,
    )
    return output
