"""Small text helpers shared by the parts of the HTML run report."""

from __future__ import annotations


def seconds(value: float | None) -> str:
    """A duration for people: ``850us``, ``12.5ms``, ``3.20s``, ``4m05s``; ``-`` for None."""
    if value is None:
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.0f}us"
    if value < 1:
        return f"{value * 1000:.1f}ms"
    if value < 60:
        return f"{value:.2f}s"
    minutes, rest = divmod(value, 60)
    return f"{minutes:.0f}m{rest:02.0f}s"


def label(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "\N{HORIZONTAL ELLIPSIS}"
