"""Invariants every assignment's tests assert the same way: the stubs students receive, and a
built student folder that holds everything public and nothing hidden."""

from __future__ import annotations

import ast
import json

import nbformat

from autograder.build import HIDDEN_FILES, find_leaks

# Hidden files by name; probes.py is absent from this set on purpose: the build ships it
# with public cases that use probes.
HIDDEN_NAMES = {"reference.py", "spec.py", "mistakes.py", "checks.py", "oracles.py", "samples"}


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
