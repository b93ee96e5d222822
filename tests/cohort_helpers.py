"""Helpers for the cohort of bad submissions (tests/classroom/test_cohort_runaway.py,
test_cohort_cheating.py, test_cohort_broken_files.py): written to disk and graded.

Plain functions and constants (each test file wraps ``cohort_assignment`` in its own
fixture, so this module does not compete with tests/conftest.py).
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.course.assignment import load_assignment
from autograder.grading.grade import grade_for_assignment, grade_submission
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.sandbox import Limits, SandboxSettings
from autograder.sandbox.isolation import SANDBOX_UID_BASE, probe_bubblewrap

# Tight enough that a stuck submission costs a few seconds, loose enough for numpy's import.
TIGHT = Limits(cpu_seconds=4, wall_seconds=6, load_seconds=3, call_seconds=1)

QUESTIONS = ("softmax", "log_softmax", "sigmoid", "predict_multiclass", "predict_multilabel")
FULL_MARKS = 48

REFERENCE_SOURCE = (SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_text()

# Every function present, none implemented: what a student who did nothing hands in.
STUBS = '''
def softmax(z, axis=-1):
    raise NotImplementedError


def log_softmax(z, axis=-1):
    raise NotImplementedError


def sigmoid(z):
    raise NotImplementedError


def predict_multiclass(probs):
    raise NotImplementedError


def predict_multilabel(probs, threshold=0.5):
    raise NotImplementedError
'''

# Wrong everywhere except where the right answer happens to be all zeros.
ZEROS = '''
import numpy as np


def softmax(z, axis=-1):
    return np.zeros(np.shape(z))


def log_softmax(z, axis=-1):
    return np.zeros(np.shape(z))


def sigmoid(z):
    return np.zeros(np.shape(z))


def predict_multiclass(probs):
    return np.zeros(np.shape(probs)[0], dtype=np.int64)


def predict_multilabel(probs, threshold=0.5):
    return np.zeros(np.shape(probs), dtype=np.int64)
'''


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def reference_cells() -> list[str]:
    """reference.py cut into notebook cells: the imports, then one cell per function."""
    head, *functions = REFERENCE_SOURCE.split("\n\n\ndef ")
    return [head] + ["def " + body for body in functions]


def notebook_bytes(cells: list[tuple[str, str]]) -> bytes:
    """cells: (kind, source) with kind "code" or "markdown"; a valid nbformat 4 notebook."""
    makers = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}
    nb = nbformat.v4.new_notebook(cells=[makers[kind](source) for kind, source in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb).encode()


def good_notebook_bytes() -> bytes:
    """The reference pasted into the assignment's notebook layout, otter cells included."""
    cells = [("markdown", "# a1_softmax"),
             ("code", 'import otter\ngrader = otter.Notebook("a1_softmax.ipynb")')]
    for source in reference_cells():
        cells.append(("code", source))
        name = source.split("(", 1)[0].removeprefix("def ") if source.startswith("def ") else None
        if name:
            cells.append(("code", f'grader.check("{name}")'))
    cells.append(("code", "grader.export(pdf=False, force_save=True)"))
    return notebook_bytes(cells)


def zip_bytes(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, data)
    return buffer.getvalue()


def grade(assignment, path: Path, limits: Limits | None = TIGHT, isolation: str = "auto", worker: int = 0,
          public_only: bool = False):
    """``public_only``: grade the public cases alone, as the self-check does, so that the feedback
    may echo the submission's own words (a test's probe reporting facts through an exception)."""
    settings = SandboxSettings(limits=limits, isolation=isolation)
    if public_only:
        return grade_submission(path, cases=assignment.public_cases, expected=assignment.expected,
                                settings=settings.with_default_limits(assignment.limits),
                                probes_and_checks=assignment.probes_and_checks, worker=worker)
    return grade_for_assignment(assignment, path, settings, worker=worker)


def passed_cases(result) -> set[str]:
    return {r.case.case_id for r in result.case_results if r.passed}


def reasons(result, question: str | None = None) -> list[str]:
    return [r.reason for r in result.case_results
            if not r.passed and (question is None or r.case.question == question)]


def processes_of_uid(uid: int) -> list[str]:
    """'pid (name, state)' of every process whose real, effective or saved uid is ``uid``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "status")) as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:  # the process ended while we looked
            continue
        uids = [int(u) for u in fields.get("Uid", "").split()[:3]]
        if uid in uids:
            found.append(f"{entry.name} ({fields.get('Name', '?').strip()}, {fields.get('State', '?').strip()})")
    return found


def wait_until_no_processes(uid: int, seconds: float = 3.0) -> list[str]:
    """Processes of ``uid`` still there after up to ``seconds`` (SIGKILL is not instant)."""
    deadline = time.monotonic() + seconds
    while True:
        left = processes_of_uid(uid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def sandbox_uid(worker: int) -> int:
    return SANDBOX_UID_BASE + worker


def hidden_input_fragments(assignment) -> set[str]:
    """The hidden cases' input values as text that any rendering with 5 or more decimals
    (Python's repr, numpy's array repr, '%.6f') starts with: the value cut after its 5th
    decimal. Only values of magnitude 0.1 or more with a real fractional part, so every
    fragment has at least 5 significant digits and cannot turn up by accident."""
    fragments = set()
    for case in assignment.cases:
        if case.public:
            continue
        for arg in list(case.args) + list(case.kwargs.values()):
            if not isinstance(arg, np.ndarray) or arg.dtype.kind != "f":
                continue
            for value in arg.ravel()[:8]:
                value = float(value)
                if 0.1 <= abs(value) < 1e6 and abs(value - round(value)) > 1e-3:
                    text = f"{value:.12f}"
                    fragments.add(text[: text.index(".") + 6])
    return fragments


def cohort_assignment():
    """a1_softmax, the assignment every cohort submission is written for."""
    loaded = load_assignment("a1_softmax")
    assert loaded.max_score == FULL_MARKS
    assert loaded.questions == QUESTIONS
    return loaded


def bubblewrap_or_skip() -> None:
    usable, reason = probe_bubblewrap()
    if not usable:
        pytest.skip(f"needs bubblewrap isolation, which is unavailable here: {reason}")


# Every function returns an object equal to everything, with no __array__.
LIAR = """
class Liar:
    '''Equal to everything; no __array__.'''
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = object.__hash__


def softmax(z, axis=-1):
    return Liar()


def log_softmax(z, axis=-1):
    return Liar()


def sigmoid(z):
    return Liar()


def predict_multiclass(probs):
    return Liar()


def predict_multilabel(probs, threshold=0.5):
    return Liar()
"""
