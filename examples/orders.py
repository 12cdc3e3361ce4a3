"""An ETL over a CSV file: load, clean, summarise, report.

Run it:

    flowkit run examples/orders.py:pipeline -i source=examples/data/orders.csv

or from Python: ``python examples/orders.py``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from flowkit import Pipeline, stage


@stage
def raw_orders(source: Path) -> list[dict[str, str]]:
    """Read every row of the CSV file ``source``."""
    with Path(source).open(newline="") as handle:
        return list(csv.DictReader(handle))


@stage(retries=2, backoff=0.1, timeout=30)
def clean_orders(raw_orders: list[dict[str, str]]) -> list[dict[str, object]]:
    """Keep paid orders with an amount; parse the amount."""
    return [
        {"order_id": row["order_id"], "customer": row["customer"], "amount": float(row["amount"])}
        for row in raw_orders
        if row["status"] == "paid" and row["amount"]
    ]


@stage
def revenue_by_customer(clean_orders: list[dict[str, object]]) -> dict[str, float]:
    """Total paid amount per customer."""
    totals: dict[str, float] = {}
    for order in clean_orders:
        customer = str(order["customer"])
        totals[customer] = totals.get(customer, 0.0) + float(order["amount"])  # type: ignore[arg-type]
    return totals


@stage(when=lambda clean_orders: bool(clean_orders))
def report(revenue_by_customer: dict[str, float], currency: str = "EUR") -> str:
    """A short text report; skipped when there is no paid order."""
    lines = [
        f"{name:<8} {amount:>9.2f} {currency}"
        for name, amount in sorted(revenue_by_customer.items(), key=lambda item: -item[1])
    ]
    return "\n".join(["revenue by customer", *lines])


pipeline = Pipeline.from_module(__name__, name="orders")

if __name__ == "__main__":
    result = pipeline.run({"source": Path(__file__).parent / "data" / "orders.csv"})
    result.raise_on_failure()
    print(result["report"])
