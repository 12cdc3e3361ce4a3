"""Smoke test of the benchmark script itself (not collected by the default run, which looks
in ``tests/`` only): ``pytest benchmarks/test_bench_smoke.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent / "run.py"
WORKLOADS = {"A chain", "B fan-in", "C sleep", "D build", "E events"}


@pytest.mark.slow
def test_quick_run_writes_every_workload(tmp_path: Path) -> None:
    output = tmp_path / "quick.json"
    completed = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--no-goals", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    report = json.loads(output.read_text())
    assert {row["workload"] for row in report["rows"]} == WORKLOADS
    measured = [row for row in report["rows"] if row["workload"][0] in "ABD"]
    for column in ("plain", "flowkit seq"):
        assert all(row["cells"][column]["value"] > 0 for row in measured), column
    assert {goal["name"].split()[0] for goal in report["goals"]} == set("ABCDE")
    assert "A chain" in completed.stdout


def test_missing_peer_is_skipped_with_a_message(tmp_path: Path) -> None:
    # Peers hidden by an import hook that refuses them: the run goes on without them.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('hamilton', 'pipefunc'):\n"
        "            raise ImportError(f'{name} hidden by the test')\n"
        "sys.meta_path.insert(0, _Refuse())\n"
    )
    output = tmp_path / "quick.json"
    completed = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--no-goals", "--only", "A", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
        env={**os.environ, "PYTHONPATH": str(hide)},
    )

    assert completed.returncode == 0, completed.stderr
    assert "skipping hamilton" in completed.stderr
    assert "skipping pipefunc" in completed.stderr
    row = json.loads(output.read_text())["rows"][0]
    assert row["cells"]["hamilton"]["note"] == "not installed"
    assert row["cells"]["flowkit seq"]["value"] > 0


@pytest.mark.slow
def test_the_engine_figures_come_with_their_plain_python_reference() -> None:
    completed = subprocess.run(
        [sys.executable, str(RUN.parent / "scale.py"), "--quick", "--reps", "1"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    rows = [line.split("|")[1:-1] for line in completed.stdout.splitlines()[2:]]
    assert len(rows) == 9
    assert all(float(plain.replace(",", "")) > 0 for _, _, plain, *_ in rows)
