"""Tracebacks as text, and remote tracebacks as an error's ``__cause__``."""

from __future__ import annotations

import traceback

from flowkit._traceback import RemoteTraceback, format_error, with_remote_traceback


def _raise_key_error() -> None:
    local_value = "do-not-log-me"
    raise KeyError("b" if local_value else "")


def test_format_error_shows_file_line_and_message_but_no_locals() -> None:
    try:
        _raise_key_error()
    except KeyError as error:
        text = format_error(error)

    assert "test_traceback.py" in text
    assert "_raise_key_error" in text
    assert text.rstrip().endswith("KeyError: 'b'")
    assert "do-not-log-me" not in text


def test_a_remote_traceback_is_the_cause_and_is_formatted_with_the_error() -> None:
    remote = 'Traceback (most recent call last):\n  File "/srv/stage.py", line 7, in load\n'
    error = with_remote_traceback(KeyError("b"), remote)

    assert isinstance(error.__cause__, RemoteTraceback)
    text = "".join(traceback.format_exception(error))
    assert '/srv/stage.py", line 7, in load' in text
    assert text.rstrip().endswith("KeyError: 'b'")
