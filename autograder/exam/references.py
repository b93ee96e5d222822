"""The kit's reference solutions, named mistakes and case specs, as the exam uses them.

Imported from ``solutions/<assignment>/reference.py``, ``mistakes.py`` and ``spec.py`` (the
same files the grader trusts); ``spec.py`` only when a coding exam draws its cases
(``spec.variant_cases``), since a question-bank exam needs no test cases. A mistake's implementation replaces one reference function; the mistakes module is loaded
by the same ``autograder.course.mistakes.load_mistakes`` as the grader's, so it sees the
reference's names (a mistake may call the correct ``softmax``, or a reference helper).
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from ..course.mistakes import Mistake, load_mistakes
from ..kit_folders import SOLUTIONS_DIR


class ReferenceMissing(LookupError):
    """An assignment's reference solution (or a named mistake) is not available."""


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def hidden_dir(assignment: str) -> Path:
    """``solutions/<assignment>``: the reference, spec and mistakes the exam trusts."""
    if "/" in assignment or assignment.startswith("."):
        raise ReferenceMissing(f"assignment names are plain names, got {assignment!r}")
    return SOLUTIONS_DIR / assignment


@cache
def reference(assignment: str) -> ModuleType:
    path = hidden_dir(assignment) / "reference.py"
    if not path.is_file():
        raise ReferenceMissing(f"no reference solution for {assignment} ({path} is missing)")
    return _import(path, f"_autograder_exam_{assignment}_reference")


@cache
def spec(assignment: str) -> ModuleType:
    """The assignment's ``spec.py``: its questions and case builders."""
    path = hidden_dir(assignment) / "spec.py"
    if not path.is_file():
        raise ReferenceMissing(f"no test cases for {assignment} ({path} is missing)")
    return _import(path, f"_autograder_exam_{assignment}_spec")


@cache
def mistakes(assignment: str) -> dict[str, Mistake]:
    """{mistake name: Mistake} of one assignment (empty when it has no mistakes.py)."""
    path = hidden_dir(assignment) / "mistakes.py"
    if not path.is_file():
        return {}
    loaded = load_mistakes(path, reference(assignment), f"_autograder_exam_{assignment}_mistakes")
    return {m.name: m for m in loaded}


def function(assignment: str, name: str):
    fn = getattr(reference(assignment), name, None)
    if not callable(fn):
        raise ReferenceMissing(f"{assignment}/reference.py does not define {name}")
    return fn


def mistake(assignment: str, name: str) -> Mistake:
    found = mistakes(assignment)
    if name not in found:
        known = ", ".join(sorted(found)) or "none yet"
        raise ReferenceMissing(f"{assignment} has no common mistake named {name!r} (known: {known})")
    return found[name]
