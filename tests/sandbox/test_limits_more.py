"""--limit values as TAs type them."""

from __future__ import annotations

import pytest

from autograder.sandbox import parse_limit


@pytest.mark.parametrize("text, value", [
    ("memory_bytes=8GB", 8 * 1000**3), ("memory_bytes=8gib", 8 * 1024**3), ("memory_bytes=512MB", 512 * 1000**2),
    ("memory_bytes=6GiB", 6 * 1024**3), ("wall_seconds=1800", 1800.0),
])
def test_sizes_in_si_or_binary_units_and_any_case(text, value):
    """"8GB" was refused as not a number although it says exactly what is meant."""
    assert parse_limit(text)[1] == value


def test_a_value_that_is_not_a_size_says_what_sizes_look_like():
    with pytest.raises(ValueError, match=r"'8 gigs' is not a number \(sizes: 512MiB, 8GiB or 8GB\)"):
        parse_limit("memory_bytes=8 gigs")
