"""Invariants every assignment's tests assert the same way: the stubs students receive, and a
built student folder that holds everything public and nothing hidden; and one cache of grades
so a submission graded by the shared invariants is not graded again by an assignment's own
tests (a3's probes take seconds per grade)."""

from __future__ import annotations

import ast
import atexit
import hashlib
import json
import queue
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from autograder.grading.grade import grade_for_assignment
from autograder.publish.build import HIDDEN_FILES, find_leaks
from autograder.sandbox import SandboxSettings

# Hidden files by name; probes.py is absent from this set on purpose: the build ships it
# with public cases that use probes.
HIDDEN_NAMES = {"reference.py", "spec.py", "mistakes.py", "checks.py", "oracles.py", "samples"}

_GRADES: dict = {}
_FOLDER: list[Path] = []
_LOCK = threading.Lock()


def _grade_key(assignment, name: str, source: str) -> tuple:
    cases = hashlib.sha256("\0".join(c.case_id for c in assignment.cases).encode()).hexdigest()
    return (assignment.name, str(assignment.hidden_dir), cases, name, hashlib.sha256(source.encode()).hexdigest())


def grade_source(assignment, name: str, source: str, *, worker: int = 0):
    """The result of grading ``source`` as ``name``.py, once per test session for each
    (assignment, its cases, source): the shared invariants and the assignment's own tests
    share it; an assignment graded without some cases is another key."""
    key = _grade_key(assignment, name, source)
    if key not in _GRADES:
        with _LOCK:
            if not _FOLDER:
                _FOLDER.append(Path(tempfile.mkdtemp(prefix="invariant_grades_")))
                atexit.register(shutil.rmtree, _FOLDER[0], ignore_errors=True)
        folder = _FOLDER[0] / assignment.name / key[4][:16]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.py"
        path.write_text(source)
        _GRADES[key] = grade_for_assignment(assignment, path, SandboxSettings(), worker=worker)
    return _GRADES[key]


def grade_sources_ahead(submissions, jobs: int = 2) -> None:
    """Grade ``submissions`` ((assignment, name, source), ...) ``jobs`` at a time into the
    cache ``grade_source`` reads, so that the tests asking for them one by one find them graded
    (the suite's largest part is a sandbox per known mistake; two cores run two at once).

    Only sandboxes run in the worker threads: each assignment's expected values are computed
    here first, since a BLAS call in one thread while another forks can hang (see
    ``Diagnoser.prepare``). Each worker has its own sandbox uid, as in a batch.
    """
    todo = [(a, n, s) for a, n, s in submissions if _grade_key(a, n, s) not in _GRADES]
    for assignment in {id(a): a for a, _, _ in todo}.values():
        assignment.expected  # noqa: B018 - computed in this thread, before any worker starts
    workers: queue.SimpleQueue[int] = queue.SimpleQueue()
    for worker in range(jobs):
        workers.put(worker)

    def grade(item):
        worker = workers.get()
        try:
            grade_source(*item, worker=worker)
        finally:
            workers.put(worker)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(grade, todo))


def failed_cases(result) -> dict[str, str]:
    """case_id -> reason of every case the result failed."""
    return {r.case.case_id: r.reason for r in result.case_results if not r.passed}


def stub_functions(assignment) -> dict[str, ast.FunctionDef]:
    """The student notebook's definitions of the assignment's questions (helpers ignored)."""
    stubs = {}
    for cell in nbformat.read(assignment.student_notebook, as_version=4).cells:
        if cell.cell_type == "code":
            stubs.update({node.name: node for node in ast.parse(cell.source).body
                          if isinstance(node, ast.FunctionDef) and node.name in assignment.questions})
    return stubs


def assert_build_layout(assignment, built) -> None:
    """The student folder has the notebook and public tests; the autograder folder has every
    hidden file the assignment has, and the zip of them."""
    student = {str(p.relative_to(built.student_dir)) for p in built.student_dir.rglob("*") if p.is_file()}
    assert f"{assignment.name}.ipynb" in student
    assert "tests/public_cases.json" in student
    assert all(f"tests/{q}.py" in student for q in assignment.questions)
    hidden = {p.name for p in built.autograder_dir.iterdir()}
    present = {name for name in HIDDEN_FILES if (assignment.hidden_dir / name).is_file()}
    assert present | {f"{assignment.name}-autograder.zip"} <= hidden


def assert_student_folder_is_clean(assignment, student_dir) -> None:
    """No leak the build's detector finds, no hidden file by name, exactly the public cases
    in public_cases.json, and no hidden case named in any text file."""
    assert find_leaks(assignment, student_dir) == []
    assert not {p.name for p in student_dir.rglob("*")} & HIDDEN_NAMES
    data = json.loads((student_dir / "tests" / "public_cases.json").read_text())
    assert {(c["question"], c["name"]) for c in data["cases"]} == {(c.question, c.name)
                                                                   for c in assignment.public_cases}
    hidden_ids = [c.case_id for c in assignment.cases if not c.public]
    for path in student_dir.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # photos and other binary data
        assert all(case_id not in text for case_id in hidden_ids), path
