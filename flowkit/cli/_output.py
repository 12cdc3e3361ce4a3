"""What commands print and write: stdout that may go away, and output files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from flowkit.cli._usage import UsageFailure


def echo(text: str | bytes, nl: bool = True) -> None:
    """Print to stdout; a reader that went away (``flowkit list ... | head -1``) is fine."""
    try:
        click.echo(text, nl=nl)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def write_output(path: Path, content: str | bytes, option: str) -> None:
    """Write the file a command was asked to produce (``graph -o``, ``inspect --html``).

    Raises:
        UsageFailure: The path cannot be written (naming ``option``).
    """
    try:
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    except OSError as error:
        message = f"cannot write {str(path)!r}: {error.strerror}"
        raise UsageFailure(message, option=option) from None
