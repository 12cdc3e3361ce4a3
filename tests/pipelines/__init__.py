"""Sample pipeline modules for the CLI tests, and helpers that run the real ``flowkit``
command on them in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SCRIPT = Path(sysconfig.get_path("scripts")) / "flowkit"


def target(module: str, attr: str | None = None) -> str:
    """``tests/pipelines/<module>.py[:attr]`` as an absolute path."""
    path = str(HERE / f"{module}.py")
    return f"{path}:{attr}" if attr else path


def flowkit(
    *args: object,
    cwd: Path | None = None,
    script: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m flowkit ARGS`` (or the console script) and capture its output."""
    command = [str(SCRIPT)] if script else [sys.executable, "-m", "flowkit"]
    return subprocess.run(
        [*command, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=90,
        check=False,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` parsed as JSON (fails on a line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
