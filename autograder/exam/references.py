"""The kit's reference solutions and named mistakes, as the exam uses them.

Imported from ``solutions/<assignment>/reference.py`` and ``mistakes.py`` (the same files
the grader trusts). Only those two files are imported, not ``spec.py``: building an exam
needs no test cases. A mistake's implementation replaces one reference function; like
``autograder.assignment.load_assignment``, the mistakes module sees the reference
functions under their own names (a mistake may call the correct ``softmax``).
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from ..assignment import SOLUTIONS_DIR
from ..mistakes import Mistake


class ReferenceMissing(LookupError):
    """An assignment's reference solution (or a named mistake) is not available."""


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _hidden_dir(assignment: str) -> Path:
    if "/" in assignment or assignment.startswith("."):
        raise ReferenceMissing(f"assignment names are plain names, got {assignment!r}")
    return SOLUTIONS_DIR / assignment


@cache
def reference(assignment: str) -> ModuleType:
    path = _hidden_dir(assignment) / "reference.py"
    if not path.is_file():
        raise ReferenceMissing(f"no reference solution for {assignment} ({path} is missing)")
    return _import(path, f"_autograder_exam_{assignment}_reference")


@cache
def mistakes(assignment: str) -> dict[str, Mistake]:
    """{mistake name: Mistake} of one assignment (empty when it has no mistakes.py)."""
    path = _hidden_dir(assignment) / "mistakes.py"
    if not path.is_file():
        return {}
    ref = reference(assignment)
    module_name = f"_autograder_exam_{assignment}_mistakes"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    for name, value in vars(ref).items():
        if callable(value) and not name.startswith("__"):
            module.__dict__.setdefault(name, value)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    # Names defined by the reference win over same-named helpers in mistakes.py only
    # where the module did not define them itself (handled by setdefault above).
    return {m.name: m for m in module.MISTAKES}


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
