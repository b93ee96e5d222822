"""Shared fixtures: the loaded assignment and ways to write submissions."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from autograder.course.assignment import SOLUTIONS_DIR, load_assignment
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
