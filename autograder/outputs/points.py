"""Points as people write them, in every file the kit writes: 3.0 -> "3", 2.5 -> "2.5"."""

from __future__ import annotations


def format_points(value: float) -> str:
    """At most 4 decimals, trailing zeros dropped; "-0" (a tiny negative rounded away) is "0"."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
