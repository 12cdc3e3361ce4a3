"""A stage that fails in a helper on each of its three attempts, holding a secret in a local
variable (read from the environment, so the secret is a runtime value only and never a
source line that a traceback could show)."""

import os

from flowkit import Pipeline, stage


def lookup(rows: dict[str, int], key: str) -> int:
    return rows[key]  # the line the traceback must point at


@stage
def orders() -> dict[str, int]:
    return {"a": 1}


@stage(retries=2)
def clean_orders(orders: dict[str, int]) -> int:
    token = os.environ.get("FLOWKIT_TEST_SECRET", "")
    return lookup(orders, "b") + len(token)


@stage
def report(clean_orders: int) -> str:
    return f"{clean_orders} orders"


pipeline = Pipeline.from_module(__name__, name="crash")
