"""The CLI's exit codes and its one usage error.

Every error the user must fix before a command can do its work (a bad option, a TARGET that
does not resolve, a log or cache directory that is not one) is a `UsageFailure`: one line on
stderr, exit code 2. Errors of the library itself live in :mod:`flowkit.errors`.
"""

from __future__ import annotations

import click

from flowkit._status import PipelineStatus

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = {
    PipelineStatus.SUCCESS: EXIT_OK,
    PipelineStatus.FAILED: EXIT_FAILED,
    PipelineStatus.CANCELLED: EXIT_INTERRUPTED,
}


class UsageFailure(click.ClickException):
    """Something the user must fix before the command can run: one line, exit code 2.

    Args:
        message: What is wrong and how to fix it.
        option: The option at fault (``"--log-file"``), named first in the message.
        ctx: The click context, to point at the command's ``--help`` (with ``option``, the
            current command's).
    """

    exit_code = EXIT_USAGE

    def __init__(
        self, message: str, *, option: str | None = None, ctx: click.Context | None = None
    ) -> None:
        if option is not None:
            message = f"Invalid value for {option!r}: {message}"
            ctx = ctx or click.get_current_context(silent=True)
        super().__init__(message)
        self.ctx = ctx
