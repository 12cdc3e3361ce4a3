"""Per-stage overhead of flowkit against a plain Python call chain, Apache Hamilton and pipefunc.

Runs every workload on every framework in one process, prints a table of medians with the
ratios flowkit / plain and flowkit / fastest peer, writes it as JSON and exits 1 when a goal
is missed (``--no-goals`` reports without failing). See ``docs/performance.md``.

    python benchmarks/run.py            # the full run (a few minutes)
    python benchmarks/run.py --quick    # a smoke run: small sizes, two repetitions
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # a plain script: its sibling modules import by name

import frameworks  # noqa: E402
import report  # noqa: E402
from measure import Row, quiet_logs  # noqa: E402
from suite import Bench, Settings  # noqa: E402

ORDER = "ABCDE"


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_count": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def versions() -> dict[str, str | None]:
    names = ("flowkit", "apache-hamilton", "pipefunc", "structlog", "attrs")
    found = {name: frameworks.version(name) for name in names}
    import flowkit

    found["flowkit_path"] = str(Path(flowkit.__file__).parent)  # a scratch copy shows here
    found["flowkit_commit"] = _commit(Path(flowkit.__file__).parent)
    return found


def _commit(path: Path) -> str | None:
    """The checkout's commit, with ``+dirty`` when flowkit/ has uncommitted changes."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        head = subprocess.run(
            [git, "-C", str(path), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "-C", str(path), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+dirty" if dirty else head


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 repetitions")
    parser.add_argument("--no-goals", action="store_true", help="report, never exit 1")
    parser.add_argument("--reps", type=int, help="repetitions per measurement (median)")
    parser.add_argument(
        "--budget", type=float, help="seconds a peer may spend on one cell (default 60)"
    )
    parser.add_argument("--only", default=ORDER, help="workloads to run, e.g. AB (default ABCDE)")
    parser.add_argument(
        "--peers", default="hamilton,pipefunc", help="comma-separated peers, or 'none'"
    )
    parser.add_argument("--output", type=Path, help="JSON file (default results/latest.json)")
    parser.add_argument("--markdown", type=Path, help="also write the table here, in Markdown")
    return parser.parse_args(argv)


def _row_json(row: Row) -> dict[str, Any]:
    data = asdict(row)
    for column, cell in row.cells.items():
        data["cells"][column]["best"] = cell.best
    return data


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    settings = Settings.make(quick=args.quick, reps=args.reps, budget_s=args.budget)
    wanted = {p.strip() for p in args.peers.split(",")} - {"", "none"}
    peers, messages = frameworks.load_peers(wanted)
    for message in messages:
        print(message, file=sys.stderr)
    quiet_logs()
    bench = Bench(settings, peers)
    # Importing Hamilton brings pandas and numpy: hundreds of thousands of objects that
    # every full garbage collection would scan, slowing whichever framework triggers one.
    # Freezing them makes each framework's numbers independent of which peers are installed.
    gc.collect()
    gc.freeze()
    load_before = os.getloadavg()
    started = time.perf_counter()
    only = args.only.upper()
    # D first: it hands the chains it built to A (pipefunc needs ~45 s for 1,000 stages).
    steps = [
        ("calibration", bench.calibrate, True),
        ("D", bench.build, "D" in only),
        ("A", bench.chain, "A" in only),
        ("B", bench.fan_in, "B" in only),
        ("C", bench.concurrency, "C" in only),
        ("E", bench.events, "E" in only),
    ]
    for name, step, wanted_step in steps:
        if wanted_step:
            t0 = time.perf_counter()
            step()
            print(f"{name} took {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    rows = sorted(bench.rows, key=lambda row: row.workload[0])  # stable: A, B, C, D, E
    for row in rows:
        report.add_ratios(row)
    goals = report.evaluate(rows, settings)
    info = machine()
    load_after = os.getloadavg()
    print(
        f"\nflowkit {versions()['flowkit']} {versions()['flowkit_commit']} "
        f"({versions()['flowkit_path']}) | "
        f"{info['cpu']} x {info['nproc']} | "
        f"Python {info['python']} | {settings.reps} repetitions, medians | "
        f"load {load_before[0]:.2f} -> {load_after[0]:.2f}\n"
    )
    print(report.format_table(rows))
    print()
    for goal in goals:
        print(f"{'PASS' if goal.passed else 'FAIL'}  {goal.name}: {goal.detail}")
    output = args.output or HERE / "results" / ("quick.json" if args.quick else "latest.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": time.perf_counter() - started,
        "settings": asdict(settings),
        "machine": info,
        "versions": versions(),
        "load_average": {"before": load_before, "after": load_after},
        "peers_skipped": messages,
        "rows": [_row_json(row) for row in rows],
        "goals": [asdict(goal) for goal in goals],
    }
    output.write_text(json.dumps(document, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(report.format_markdown(rows) + "\n")
    print(f"\nwritten: {output}")
    missed = [goal.name for goal in goals if not goal.passed]
    if missed and not args.no_goals:
        print(f"{len(missed)} goal(s) missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
