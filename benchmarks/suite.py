"""The five workloads (A chain, B fan-in, C concurrency, D build, E events), each producing
rows of the table. See ``docs/performance.md`` for what each one measures."""

from __future__ import annotations

import graphlib
import inspect
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import frameworks
import workloads
from measure import (
    COLUMNS,
    PEER_COLUMNS,
    PLAIN,
    SECONDS,
    SEQ,
    THREADS,
    TIMES,
    US,
    Cell,
    Row,
    count_lines,
    describe,
    direct_events,
    log_config,
    measure,
    scaled,
)

MICRO = 1e6


@dataclass(frozen=True)
class Settings:
    quick: bool
    reps: int
    chain_sizes: tuple[int, ...]
    fan_in: int
    sleepers: int
    sleep_s: float
    workers: int
    build_sizes: tuple[int, ...]
    events_size: int
    budget_s: float

    @classmethod
    def make(cls, *, quick: bool, reps: int | None, budget_s: float | None) -> Settings:
        if quick:
            return cls(
                quick=True,
                reps=reps or 2,
                chain_sizes=(100, 1000),
                fan_in=100,
                sleepers=8,
                sleep_s=0.02,
                workers=4,
                build_sizes=(30, 100),
                events_size=100,
                budget_s=budget_s or 10.0,
            )
        return cls(
            quick=False,
            reps=reps or 7,
            chain_sizes=(100, 1000, 10000),
            fan_in=1000,
            sleepers=32,
            sleep_s=0.05,
            workers=8,
            build_sizes=(100, 1000, 10000),
            events_size=1000,
            budget_s=budget_s or 60.0,
        )


class Bench:
    """Runs the workloads and collects their rows.

    Peers are slow to build at large N (pipefunc re-validates the whole pipeline on every
    ``add``: quadratic), so each peer's build cost is fitted to a power law from the builds
    seen so far, and a build estimated above ``budget_s`` is skipped with its estimate. D runs
    first and runs A's chain on each peer pipeline it built, so no chain is built twice.
    """

    def __init__(self, settings: Settings, peers: list[Any]) -> None:
        self.s = settings
        self.flowkit = frameworks.Flowkit()
        self.peers = peers
        self.rows: list[Row] = []
        self._chains: dict[int, workloads.Workload] = {}
        self._ran: dict[tuple[str, int], Cell] = {}  # A's peer cells, measured by D
        self._builds: dict[str, dict[int, float]] = {peer.label: {} for peer in peers}
        self._too_deep: dict[str, int] = {}

    # -- shared helpers ---------------------------------------------------------------------

    def chain_workload(self, n: int) -> workloads.Workload:
        if n not in self._chains:
            self._chains[n] = workloads.chain(n)
        return self._chains[n]

    def calibrate(self) -> None:
        """Time one build of a 50- and a 100-stage chain per peer (for the cost model)."""
        for peer in self.peers:
            for n in (50, 100):
                workload = workloads.chain(n)
                start = time.perf_counter()
                try:
                    peer.build(workload)
                except Exception as error:  # the workloads report it in their rows
                    print(f"calibration: {peer.label}: {describe(error)}", file=sys.stderr)
                    continue
                self._builds[peer.label][n] = time.perf_counter() - start
                workloads.forget(workload)

    def estimate(self, label: str, stages: int) -> float:
        """Estimated seconds for one build of ``stages`` stages (power law through the two
        largest builds measured; linear from one)."""
        points = sorted(self._builds.get(label, {}).items())
        if not points:
            return 0.0
        n1, t1 = points[-1]
        exponent = 1.0
        if len(points) >= 2:
            n0, t0 = points[-2]
            exponent = max(1.0, math.log(t1 / t0) / math.log(n1 / n0))
        return t1 * (stages / n1) ** exponent

    def _build_peer(self, peer: Any, workload: workloads.Workload, *args: Any) -> Any:
        """Build untimed (for A, B, C) unless estimated above the budget; a Cell explains."""
        estimate = self.estimate(peer.label, workload.stage_count)
        if estimate > self.s.budget_s:
            return Cell(None, f"skip (~{estimate:,.0f} s)")  # build est. over budget
        start = time.perf_counter()
        try:
            built = peer.build(workload, *args)
        except Exception as error:
            return Cell(None, describe(error))
        self._builds[peer.label][workload.stage_count] = time.perf_counter() - start
        return built

    def _fill(self, row: Row) -> None:
        loaded = {peer.label for peer in self.peers}
        for column in COLUMNS:
            missing = column in PEER_COLUMNS and column not in loaded
            row.cells.setdefault(column, Cell(None, "not installed" if missing else "n/a"))
        self.rows.append(row)

    def _plain_and_flowkit(self, row: Row, workload: workloads.Workload) -> None:
        per, reps, expected = workload.stage_count, self.s.reps, workload.expected
        row.cells[PLAIN] = scaled(measure(workload.plain, reps, per=per, expected=expected), MICRO)
        pipeline = self.flowkit.build(workload)
        for column, executor in ((SEQ, "sequential"), (THREADS, "threads")):
            runner = self.flowkit.runner(pipeline, workload, executor)
            row.cells[column] = scaled(measure(runner, reps, per=per, expected=expected), MICRO)

    def _peers(self, row: Row, workload: workloads.Workload) -> None:
        for peer in self.peers:
            ran = self._ran.pop((peer.label, workload.size), None)
            if ran is None or workload.kind != "chain":
                ran = self._peer_run(peer, workload)
            row.cells[peer.label] = ran

    def _peer_run(self, peer: Any, workload: workloads.Workload, built: Any = None) -> Cell:
        """Run ``workload`` on ``peer`` (built now unless given); µs per stage."""
        label, n = peer.label, workload.size
        if workload.kind == "chain" and n >= self._too_deep.get(label, math.inf):
            return Cell(None, f"RecursionError (as at N={self._too_deep[label]:,})")
        if built is None:
            built = self._build_peer(peer, workload)
            if isinstance(built, Cell):
                return built
        cell = measure(
            peer.runner(built, workload),
            self.s.reps,
            per=workload.stage_count,
            expected=workload.expected,
            budget_s=self.s.budget_s,
        )
        if cell.note == "RecursionError" and workload.kind == "chain":
            self._too_deep[label] = min(n, self._too_deep.get(label, n))
        return scaled(cell, MICRO)

    # -- the workloads ----------------------------------------------------------------------

    def chain(self) -> None:
        """A: a chain of N trivial stages; µs per stage."""
        for n in self.s.chain_sizes:
            workload = self.chain_workload(n)
            row = Row("A chain", f"N={n:,}", US)
            self._plain_and_flowkit(row, workload)
            self._peers(row, workload)
            self._fill(row)

    def fan_in(self) -> None:
        """B: one root, N independent stages, one sink taking all N; µs per stage."""
        n = self.s.fan_in
        workload = workloads.fan_in(n)
        row = Row("B fan-in", f"N={n:,} (+2)", US)
        self._plain_and_flowkit(row, workload)
        self._peers(row, workload)
        self._fill(row)
        workloads.forget(workload)

    def concurrency(self) -> None:
        """C: N independent sleeping stages on ``workers`` threads, against sequential."""
        s = self.s
        workload = workloads.sleepers(s.sleepers, s.sleep_s)
        expected, reps = workload.expected, max(1, s.reps // 2)
        label = f"{s.sleepers} x {s.sleep_s * 1000:g} ms"
        seq = Row("C sleep", f"{label}, sequential", SECONDS)
        par = Row("C sleep", f"{label}, {s.workers} workers", SECONDS)
        speedup = Row("C sleep", f"speed-up (ideal {min(s.workers, s.sleepers)}x)", TIMES)

        def timed(fn: Any, *, warmup: bool = True) -> Cell:
            return measure(fn, reps, expected=expected, warmup=warmup)

        plain_parallel = workload.plain_parallel
        assert plain_parallel is not None
        seq.cells[PLAIN] = timed(workload.plain, warmup=False)
        par.cells[PLAIN] = timed(lambda: plain_parallel(s.workers))
        pipeline = self.flowkit.build(workload)
        seq.cells[SEQ] = timed(self.flowkit.runner(pipeline, workload, "sequential"), warmup=False)
        par.cells[THREADS] = timed(self.flowkit.runner(pipeline, workload, "threads", s.workers))
        pairs = [(PLAIN, PLAIN), (SEQ, THREADS)]
        for peer in self.peers:
            label = peer.label
            pairs.append((label, label))
            sequential = self._build_peer(peer, workload)
            parallel = (
                self._build_peer(peer, workload, s.workers)
                if isinstance(peer, frameworks.Hamilton)
                else sequential
            )
            if isinstance(sequential, Cell) or isinstance(parallel, Cell):
                seq.cells[label] = par.cells[label] = (
                    sequential if isinstance(sequential, Cell) else parallel
                )
                continue
            seq.cells[label] = timed(peer.runner(sequential, workload), warmup=False)
            if isinstance(peer, frameworks.Hamilton):
                par.cells[label] = timed(peer.runner(parallel, workload))
            else:
                with ThreadPoolExecutor(s.workers) as pool:
                    par.cells[label] = timed(peer.parallel_runner(parallel, workload, pool))
        for seq_column, par_column in pairs:
            a, b = seq.value(seq_column), par.value(par_column)
            speedup.cells[par_column] = Cell(a / b if a and b else None)
        for row in (seq, par, speedup):
            self._fill(row)
        workloads.forget(workload)

    def build(self) -> None:
        """D: decorating, constructing and validating an N-stage chain; µs per stage.

        The functions exist beforehand; only the framework's own work is timed. A last row
        repeats the largest N with ``from __future__ import annotations`` (string annotations
        that the type check must resolve), as in most modern code bases.
        """
        for n in self.s.build_sizes:
            self._build_row(Row("D build", f"N={n:,}", US), self.chain_workload(n), keep=True)
        n = self.s.build_sizes[-1]
        workload = workloads.chain(n, postponed=True)
        self._build_row(Row("D build", f"N={n:,}, str annot.", US), workload, keep=False)
        workloads.forget(workload)

    def _build_row(self, row: Row, workload: workloads.Workload, *, keep: bool) -> None:
        n, reps = workload.size, self.s.reps
        row.cells[PLAIN] = scaled(
            measure(lambda: plain_build(workload), reps, per=n, check=False), MICRO
        )
        row.cells[SEQ] = scaled(
            measure(lambda: self.flowkit.build(workload), reps, per=n, check=False), MICRO
        )
        for peer in self.peers:
            estimate = self.estimate(peer.label, n)
            if estimate > self.s.budget_s:
                row.cells[peer.label] = Cell(None, f"skip (~{estimate:,.0f} s)")
                continue
            kept: list[Any] = []
            cell = measure(
                lambda p=peer: p.build(workload),
                reps,
                per=n,
                check=False,
                budget_s=self.s.budget_s,
                keep=kept,
            )
            if cell.value is not None:
                self._builds[peer.label][n] = cell.value * n
                if keep and n in self.s.chain_sizes:
                    # Run A on the pipeline D just built (pipefunc needs ~45 s to build
                    # 1,000 stages) rather than keeping it alive: a large heap makes every
                    # later garbage collection slower, for whichever framework runs then.
                    self._ran[peer.label, n] = self._peer_run(peer, workload, kept.pop())
            row.cells[peer.label] = scaled(cell, MICRO)
        self._fill(row)

    def events(self) -> None:
        """E: flowkit's structlog events per stage (a sequential chain), against the same
        events emitted with structlog alone, for three logging set-ups."""
        n = self.s.events_size
        workload = self.chain_workload(n)
        runner = self.flowkit.runner(self.flowkit.build(workload), workload, "sequential")
        names = [fn.__name__ for fn in workload.functions]
        rows = []
        for kind, title in (
            ("filtered", "filtered out"),
            ("json", "JSON file"),
            ("console", "console"),
        ):
            row = Row("E events", f"N={n:,}, {title}", US)
            with log_config(kind) as path:
                direct = measure(lambda: direct_events(names), self.s.reps, per=n, check=False)
                row.cells[PLAIN] = scaled(direct, MICRO)
                before = count_lines(path)
                cell = measure(runner, self.s.reps, per=n, expected=workload.expected)
                row.cells[SEQ] = scaled(cell, MICRO)
                # Every run must have written 2 events per stage and 2 pipeline events.
                written, per_run = count_lines(path) - before, 2 * n + 2
                if (
                    path is not None
                    and cell.value is not None
                    and (written % per_run or not written)
                ):
                    row.cells[SEQ] = Cell(None, f"{written} event lines, not k * {per_run}")
            rows.append(row)
            self._fill(row)
        filtered = rows[0].value(SEQ)
        for row in rows[1:]:
            flowkit, direct_ = row.value(SEQ), row.value(PLAIN)
            if flowkit and direct_ and filtered is not None:
                # The events' own cost in a flowkit run, against structlog alone.
                row.ratios["events/plain"] = (flowkit - filtered) / direct_


def plain_build(workload: workloads.Workload) -> tuple[str, ...]:
    """The floor for D: read every signature and sort the DAG with ``graphlib``."""
    names = {fn.__name__ for fn in workload.functions}
    graph = {
        fn.__name__: [p for p in inspect.signature(fn).parameters if p in names]
        for fn in workload.functions
    }
    return tuple(graphlib.TopologicalSorter(graph).static_order())
