"""An assignment as the grader sees it: questions, cases, reference, limits, mistakes.

The hidden material of an assignment is a folder (``solutions/<name>/`` in the kit, or
the ``autograder/`` folder that ``autograder build`` writes) holding:

- ``spec.py``: ``NAME``, ``TITLE``, ``QUESTIONS`` (function names, gradebook order),
  ``make_cases()`` and optionally ``LIMITS`` (``autograder.sandbox.Limits``);
- ``reference.py``: the reference solution, one function per question;
- ``mistakes.py`` (optional): ``MISTAKES``, a list of ``autograder.mistakes.Mistake``.

These are the kit's own trusted files; they are imported in the grader's process only.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType

import numpy as np

from .cases import Case, points_per_question
from .mistakes import Mistake
from .sandbox.limits import Limits

KIT_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = KIT_ROOT / "solutions"
ASSIGNMENTS_DIR = KIT_ROOT / "assignments"


class AssignmentError(ValueError):
    """The assignment cannot be found or its hidden material is inconsistent."""


@dataclass
class Assignment:
    name: str
    title: str
    questions: tuple[str, ...]
    cases: tuple[Case, ...]
    reference: ModuleType
    limits: Limits
    mistakes: tuple[Mistake, ...]
    hidden_dir: Path

    @property
    def max_score(self) -> float:
        return sum(case.points for case in self.cases)

    def question_points(self) -> dict[str, float]:
        return points_per_question(self.questions, self.cases)

    @property
    def public_cases(self) -> tuple[Case, ...]:
        return tuple(case for case in self.cases if case.public)

    @cached_property
    def expected(self) -> dict[str, tuple[np.ndarray, ...]]:
        """The reference solution's outputs for every case, computed once."""
        return {case.case_id: reference_outputs(self.reference, case) for case in self.cases}

    @property
    def student_notebook(self) -> Path:
        return ASSIGNMENTS_DIR / self.name / f"{self.name}.ipynb"


def reference_outputs(reference: ModuleType, case: Case) -> tuple[np.ndarray, ...]:
    function = getattr(reference, case.question)
    args = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in case.args]
    with np.errstate(all="ignore"):
        result = function(*args, **case.kwargs)
    results = result if isinstance(result, tuple) else (result,)
    return tuple(np.asarray(r) for r in results)


def find_hidden_dir(assignment: str | Path) -> Path:
    """A path to hidden material, or the name of one of the kit's assignments."""
    path = Path(assignment)
    if (path / "spec.py").is_file():
        return path.resolve()
    if (path / "autograder" / "spec.py").is_file():  # a built DIR/<assignment>/ folder
        return (path / "autograder").resolve()
    candidate = SOLUTIONS_DIR / str(assignment)
    if "/" not in str(assignment) and (candidate / "spec.py").is_file():
        return candidate
    known = ", ".join(available_assignments()) or "none"
    raise AssignmentError(
        f"unknown assignment {str(assignment)!r}: not a folder with spec.py and not one of "
        f"the kit's assignments ({known})"
    )


def available_assignments() -> list[str]:
    if not SOLUTIONS_DIR.is_dir():
        return []
    return sorted(p.name for p in SOLUTIONS_DIR.iterdir() if (p / "spec.py").is_file())


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # lets dataclasses and inspect resolve the module
    spec.loader.exec_module(module)
    return module


def load_assignment(assignment: str | Path) -> Assignment:
    hidden = find_hidden_dir(assignment)
    key = "_autograder_hidden_" + "".join(c if c.isalnum() else "_" for c in str(hidden))
    spec = _import(hidden / "spec.py", key + "_spec")
    reference = _import(hidden / "reference.py", key + "_reference")
    mistakes: tuple[Mistake, ...] = ()
    if (hidden / "mistakes.py").is_file():
        # The mistakes module refers to reference functions by name (e.g. softmax).
        module = _import(hidden / "mistakes.py", key + "_mistakes")
        for name in spec.QUESTIONS:
            module.__dict__.setdefault(name, getattr(reference, name))
        mistakes = tuple(module.MISTAKES)
    result = Assignment(
        name=spec.NAME,
        title=spec.TITLE,
        questions=tuple(spec.QUESTIONS),
        cases=tuple(spec.make_cases()),
        reference=reference,
        limits=getattr(spec, "LIMITS", Limits()),
        mistakes=mistakes,
        hidden_dir=hidden,
    )
    validate(result)
    return result


def validate(assignment: Assignment) -> None:
    """Catch authoring errors before any student is graded against them."""
    seen = set()
    for case in assignment.cases:
        if case.question not in assignment.questions:
            raise AssignmentError(f"case {case.case_id} grades unknown question {case.question!r}")
        if case.case_id in seen:
            raise AssignmentError(f"duplicate case {case.case_id}")
        seen.add(case.case_id)
    for question in assignment.questions:
        if not callable(getattr(assignment.reference, question, None)):
            raise AssignmentError(f"reference.py does not define {question}")
        if not any(case.question == question for case in assignment.cases):
            raise AssignmentError(f"question {question} has no cases")
    for mistake in assignment.mistakes:
        if mistake.question not in assignment.questions:
            raise AssignmentError(f"mistake {mistake.name} breaks unknown question")
