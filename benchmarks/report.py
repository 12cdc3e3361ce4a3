"""The report: ratios, the printed table and the goals."""

from __future__ import annotations

import math
from collections.abc import Sequence

from measure import COLUMNS, PEER_COLUMNS, PLAIN, SEQ, THREADS, TIMES, Cell, Goal, Row
from suite import Settings


def add_ratios(row: Row) -> None:
    """flowkit / plain and flowkit / fastest peer, for rows where smaller is better."""
    if row.unit == TIMES:
        return
    peers = [v for c in PEER_COLUMNS if (v := row.value(c)) is not None]
    plain = row.value(PLAIN)
    for column, short in ((SEQ, "seq"), (THREADS, "threads")):
        value = row.value(column)
        if value is None:
            continue
        if plain:
            row.ratios[f"{short}/plain"] = value / plain
        if peers:
            row.ratios[f"{short}/peer"] = value / min(peers)


TABLE = (
    ("workload", 9, None),
    ("variant", 26, None),
    ("unit", 8, None),
    *((column, 15, column) for column in COLUMNS),
    ("seq/plain", 10, "seq/plain"),
    ("thr/plain", 10, "threads/plain"),
    ("seq/peer", 9, "seq/peer"),
    ("thr/peer", 9, "threads/peer"),
)


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def _cells(row: Row, width: int | None) -> list[str]:
    """The row's texts: workload, variant, unit, one per column, then the four ratios."""
    texts = [row.workload, row.variant, row.unit]
    for column in COLUMNS:
        cell = row.cells.get(column, Cell())
        text = _number(cell.value) if cell.value is not None else (cell.note or "")
        if cell.value is not None and cell.note:
            text += "*"
        texts.append(text[:width] if width else text)
    for _, _, key in TABLE[-4:]:
        ratio = row.ratios.get(key or "")
        texts.append("" if ratio is None else _number(ratio))
    return texts


def format_table(rows: Sequence[Row]) -> str:
    header = " ".join(f"{title:<{width}}" for title, width, _ in TABLE)
    lines = [header, "-" * len(header)]
    for row in rows:
        texts = _cells(row, 15)
        lines.append(
            " ".join(
                f"{text:<{width}}" for text, (_, width, _) in zip(texts, TABLE, strict=True)
            ).rstrip()
        )
    lines += _notes(rows)
    return "\n".join(lines)


def format_markdown(rows: Sequence[Row]) -> str:
    """The same table in Markdown (for ``docs/performance.md``)."""
    lines = [
        "| " + " | ".join(title for title, _, _ in TABLE) + " |",
        "|" + "---|" * 3 + "---:|" * (len(TABLE) - 3),
    ]
    lines += ["| " + " | ".join(_cells(row, None)) + " |" for row in rows]
    return "\n".join(lines + _notes(rows))


def _notes(rows: Sequence[Row]) -> list[str]:
    notes = [
        f"  * {row.workload} {row.variant} {column}: {cell.note}"
        for row in rows
        for column, cell in row.cells.items()
        if cell.value is not None and cell.note
    ]
    return ["", *notes] if notes else []


def _rows(rows: Sequence[Row], workload: str) -> list[Row]:
    return [row for row in rows if row.workload == workload]


def _limit(goals: list[Goal], name: str, rows: Sequence[Row], column: str, limit: float) -> None:
    values = [(row.variant, row.value(column)) for row in rows]
    if not values:
        return
    worst = max((v if v is not None else math.inf) for _, v in values)
    detail = ", ".join(f"{variant}: {'-' if v is None else _number(v)}" for variant, v in values)
    goals.append(Goal(name, worst <= limit, detail))


def _flat(goals: list[Goal], name: str, rows: Sequence[Row], column: str) -> None:
    """The per-stage cost at the largest size is at most 1.5x the one at the next size."""
    if len(rows) < 2:
        return
    small, large = rows[-2].value(column), rows[-1].value(column)
    ok = small is not None and large is not None and large <= 1.5 * small
    detail = f"{rows[-2].variant}: {small and _number(small)}, {rows[-1].variant}: "
    detail += f"{large and _number(large)} (limit 1.5x)"
    goals.append(Goal(name, ok, detail))


def _faster(goals: list[Goal], name: str, rows: Sequence[Row], key: str) -> None:
    """flowkit at least 3x faster than the fastest peer, wherever a peer ran."""
    compared = [(row.variant, row.ratios[key]) for row in rows if key in row.ratios]
    if not compared:
        goals.append(Goal(name, True, "no peer ran: nothing to compare"))
        return
    detail = ", ".join(f"{variant}: {ratio:.2f}" for variant, ratio in compared)
    goals.append(Goal(name, all(r <= 1 / 3 for _, r in compared), f"{detail} (limit 0.33)"))


def evaluate(rows: Sequence[Row], settings: Settings) -> list[Goal]:
    goals: list[Goal] = []
    chain = _rows(rows, "A chain")
    _limit(goals, "A sequential <= 4 us/stage", chain, SEQ, 4.0)
    _limit(goals, "A threads <= 15 us/stage", chain, THREADS, 15.0)
    if chain:
        deepest = chain[-1]
        ok = deepest.value(SEQ) is not None and deepest.value(THREADS) is not None
        goals.append(Goal(f"A {deepest.variant} chain runs", ok, "sequential and threads"))
    _flat(goals, "A sequential flat in N", chain, SEQ)
    _flat(goals, "A threads flat in N", chain, THREADS)
    fan_in = _rows(rows, "B fan-in")
    _limit(goals, "B sequential <= 7 us/stage", fan_in, SEQ, 7.0)
    _limit(goals, "B threads <= 7 us/stage", fan_in, THREADS, 7.0)
    _faster(goals, "A 3x faster than the fastest peer", chain, "seq/peer")
    _faster(goals, "B 3x faster than the fastest peer", fan_in, "seq/peer")
    speedup = [row for row in _rows(rows, "C sleep") if row.unit == TIMES]
    if speedup:
        value = speedup[0].value(THREADS)
        ideal = min(settings.workers, settings.sleepers)
        goals.append(
            Goal(
                f"C speed-up >= 90% of {ideal}x",
                value is not None and value >= 0.9 * ideal,
                f"{'-' if value is None else f'{value:.2f}'}x",
            )
        )
    build = _rows(rows, "D build")
    _limit(goals, "D <= 30 us/stage", build, SEQ, 30.0)
    _flat(goals, "D linear in N", [row for row in build if "annot" not in row.variant], SEQ)
    _faster(goals, "D 3x faster than the fastest peer", build, "seq/peer")
    for row in _rows(rows, "E events"):
        if "JSON" in row.variant:
            ratio = row.ratios.get("seq/plain")
            goals.append(
                Goal(
                    "E flowkit JSON run <= 2x structlog alone",
                    ratio is not None and ratio <= 2.0,
                    f"{'-' if ratio is None else f'{ratio:.2f}'}x "
                    f"(events only: {row.ratios.get('events/plain', math.nan):.2f}x)",
                )
            )
    return goals
