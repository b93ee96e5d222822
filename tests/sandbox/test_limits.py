"""Limit overrides: a course changes one limit (``--limit``) and keeps the assignment's others."""

from __future__ import annotations

import pytest

from autograder.cli import main
from autograder.sandbox import Limits, SandboxSettings, parse_limit


def test_parse_limit_reads_numbers_and_binary_units():
    assert parse_limit("wall_seconds=900") == ("wall_seconds", 900.0)
    assert parse_limit("memory_bytes=6GiB") == ("memory_bytes", 6 * 1024**3)
    assert isinstance(parse_limit("memory_bytes=512MiB")[1], int)


@pytest.mark.parametrize("text, message", [
    ("wall_seconds", "NAME=VALUE"),
    ("walltime=5", "unknown limit 'walltime'"),
    ("cpu_seconds=lots", "not a number"),
])
def test_parse_limit_names_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_limit(text)


def test_override_applies_on_top_of_the_assignments_limits():
    assignment_limits = Limits(cpu_seconds=15, wall_seconds=30, memory_bytes=3 * 1024**3)
    settings = SandboxSettings(overrides=(("wall_seconds", 600.0),)).with_default_limits(assignment_limits)
    assert settings.limits.wall_seconds == 600
    assert settings.limits.cpu_seconds == 15
    assert settings.limits.memory_bytes == 3 * 1024**3


def test_override_without_assignment_limits_changes_the_defaults():
    settings = SandboxSettings(overrides=(("cpu_seconds", 99.0),))
    assert settings.resolved_limits().cpu_seconds == 99
    assert settings.resolved_limits().wall_seconds == Limits().wall_seconds


def test_non_positive_override_is_refused():
    with pytest.raises(ValueError, match="positive"):
        SandboxSettings(overrides=(("wall_seconds", 0.0),))


def test_cli_reports_a_bad_limit_and_exits_2(tmp_path, capsys):
    status = main(["check", "a1_softmax", str(tmp_path / "x.py"), "--limit", "wall=3"])
    assert status == 2
    assert "unknown limit 'wall'" in capsys.readouterr().err
