"""A sample pipeline module: stages defined out of dependency order, plus imported stages,
a plain helper function and an alias that must all be ignored or counted once."""

from flowkit import stage
from sample_modules.shared import shared_group, shared_total  # noqa: F401 (imported on purpose)


def helper(value: int) -> int:
    return value * 2


@stage
def report(clean_orders: list[int], currency: str = "EUR") -> str:
    return f"{sum(clean_orders)} {currency}"


@stage
def raw_orders(source: str) -> list[int]:
    return [int(part) for part in source.split(",")]


@stage(retries=1)
def clean_orders(raw_orders: list[int]) -> list[int]:
    return [helper(value) for value in raw_orders if value > 0]


same_report = report  # an alias of a stage already found
