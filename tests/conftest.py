"""Shared fixtures: the loaded assignment and ways to write submissions."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from autograder.course.assignment import load_assignment
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.sandbox import SandboxSettings


@pytest.fixture(scope="session")
def a1():
    return load_assignment("a1_softmax")


@pytest.fixture(scope="session")
def reference_source() -> str:
    return (SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_text()


@pytest.fixture
def settings() -> SandboxSettings:
    """The assignment's own limits, bubblewrap when available (as graders run it)."""
    return SandboxSettings()


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """A TMPDIR of the test's own, for this process and its children."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile caches the first one it found
    return folder


@pytest.fixture
def write_py(tmp_path):
    """write_py(name, source) -> path of a .py submission in a fresh folder."""

    def write(name: str, source: str) -> Path:
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        return path

    return write


# --- seconds per part of the suite, printed at the end (the suite must stay under 5 minutes on
# 2 cores; this says where the time goes without a separate timing run) ----------------------

_SECONDS_PER_FOLDER: dict[str, float] = {}


def pytest_runtest_logreport(report):
    parts = report.nodeid.split("::")[0].split("/")
    folder = parts[1] if len(parts) > 2 else "(tests/)"
    _SECONDS_PER_FOLDER[folder] = _SECONDS_PER_FOLDER.get(folder, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if _SECONDS_PER_FOLDER:
        parts = sorted(_SECONDS_PER_FOLDER.items(), key=lambda item: -item[1])
        terminalreporter.write_line("seconds per test folder (setup, call and teardown): "
                                    + ", ".join(f"{name} {seconds:.0f}" for name, seconds in parts))
