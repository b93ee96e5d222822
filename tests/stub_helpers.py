"""Reading the student notebook's stubs, for the invariant tests of every assignment."""

from __future__ import annotations

import ast

import nbformat


def stub_functions(assignment) -> dict[str, ast.FunctionDef]:
    """The student notebook's definitions of the assignment's questions (helpers ignored)."""
    stubs = {}
    for cell in nbformat.read(assignment.student_notebook, as_version=4).cells:
        if cell.cell_type == "code":
            stubs.update({node.name: node for node in ast.parse(cell.source).body
                          if isinstance(node, ast.FunctionDef) and node.name in assignment.questions})
    return stubs
