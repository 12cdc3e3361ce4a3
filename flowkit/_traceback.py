"""Tracebacks as text: for events and result documents, and for errors that crossed a process
boundary (the remote traceback becomes the error's ``__cause__``, as ``concurrent.futures``
does), so ``traceback.format_exception(error)`` shows the stage's own file and line."""

from __future__ import annotations

import traceback


class RemoteTraceback(Exception):  # noqa: N818 - named like concurrent.futures' own
    """The traceback of an error raised in another process, kept as text."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def format_error(error: BaseException) -> str:
    """The formatted traceback of ``error`` with its chain; never any local variable."""
    return "".join(traceback.format_exception(error))


def with_remote_traceback(error: BaseException, text: str) -> BaseException:
    """``error``, carrying ``text`` (its formatted traceback where it was raised) as its
    ``__cause__``; returns the same error object."""
    error.__cause__ = RemoteTraceback(f'\n"""\n{text.rstrip()}\n"""')
    return error
