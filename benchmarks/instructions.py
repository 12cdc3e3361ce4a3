"""Machine instructions per stage, flowkit against its plain-Python reference: a figure a
busy machine does not move (times on a shared machine drift by 2x within seconds).

    python benchmarks/instructions.py                 # every figure (a few minutes)
    python benchmarks/instructions.py chain-sequential plain-chain

Each figure runs in its own process under ``valgrind --tool=cachegrind`` twice, once with
no measured runs and once with ``--runs``; the difference over the stages run is the cost
per stage, without start-up and building. Needs valgrind (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURES = {
    # name: (workload, stages, what runs)
    "chain-sequential": ("chain", 10_000, "sequential"),
    "chain-threads": ("chain", 10_000, "threads"),
    "plain-chain": ("chain", 10_000, "plain"),
    "fan-in-sequential": ("fan_in", 1_000, "sequential"),
    "fan-in-threads": ("fan_in", 1_000, "threads"),
    "plain-fan-in": ("fan_in", 1_000, "plain"),
    "build-chain": ("chain", 10_000, "build"),
    "plain-build-chain": ("chain", 10_000, "plain-build"),
}

VALGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")
CHILD = """
import sys
sys.path.insert(0, {here!r})
import frameworks, workloads
from measure import quiet_logs
from scale import interpreter
from suite import plain_build
quiet_logs()
workload = getattr(workloads, {kind!r})({size})
fk = frameworks.Flowkit()
what = {what!r}
if what == "plain":
    call = interpreter(workload)
elif what == "plain-build":
    call = lambda: plain_build(workload)
elif what == "build":
    call = lambda: fk.build(workload)
else:
    call = fk.runner(fk.build(workload), workload, what)
call()
for _ in range({runs}):
    call()
"""


def instructions(figure: str, runs: int) -> int:
    kind, size, what = FIGURES[figure]
    source = CHILD.format(here=str(HERE), kind=kind, size=size, what=what, runs=runs)
    done = subprocess.run(
        [*VALGRIND, sys.executable, "-c", source],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr}")
    return int(found.group(1).replace(",", ""))


def per_stage(figure: str, runs: int) -> float:
    _, size, _ = FIGURES[figure]
    stages = size + 2 if FIGURES[figure][0] == "fan_in" else size
    return (instructions(figure, runs) - instructions(figure, 0)) / runs / stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("figures", nargs="*", help=f"any of {', '.join(FIGURES)} (default: all)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs (default 3)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.figures) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure {unknown[0]!r}; choose from {', '.join(FIGURES)}")
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    print("| figure | instructions per stage |")
    print("|---|---:|")
    for figure in args.figures or FIGURES:
        print(f"| {figure} | {per_stage(figure, args.runs):,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
