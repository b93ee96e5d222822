"""An assignment as the grader sees it: questions, cases, reference, limits, mistakes.

The hidden material of an assignment is a folder (``solutions/<name>/`` in the kit, or
the ``autograder/`` folder that ``autograder build`` writes) holding:

- ``spec.py``: ``NAME``, ``TITLE``, ``QUESTIONS`` (function names, gradebook order),
  ``make_cases()`` and optionally ``LIMITS`` (``autograder.sandbox.Limits``) and
  ``variant_cases(question, rng)`` (a question's random cases drawn from a student's
  generator, for the coding exam: ``autograder.exam.coding``);
- ``reference.py``: the reference solution, one function per question;
- ``mistakes.py`` (optional): ``MISTAKES``, a list of ``autograder.course.mistakes.Mistake``;
- ``probes.py``, ``checks.py``, ``oracles.py`` (optional): see ``autograder.course.probes_and_checks`` and
  the ``probe``, ``check`` and ``oracle`` fields of ``Case``; ``MOUNTS`` in spec.py (a dict
  name -> folder, or a function returning one) names read-only data folders for probes,
  and ``GRADER_DATA`` (the same form) folders that only ``checks.py`` reads, never mounted
  (e.g. the held-out photos a check scores on).

Modules that the students' notebook and the probes and checks both import live on the student
side, in ``shared_with_grader/`` (``autograder.course.shared_with_grader``): found by that
name, mounted for the sandbox and put on its ``sys.path``, and in the grader imported from the
grader's own copy under a private name (``probes.SHARED_PACKAGE``, ``checks.SHARED_PACKAGE``).

These are the kit's own trusted files; they are imported in the grader's process only.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType, ModuleType

import numpy as np

from ..kit_folders import ASSIGNMENTS_DIR, SOLUTIONS_DIR
from ..sandbox.limits import Limits
from . import expected_cache
from .calling import copy_arguments, numeric_outputs, sandbox_float_rules
from .cases import Case, points_per_question
from .mistakes import Mistake, load_mistakes
from .probes_and_checks import ProbesAndChecks
from .shared_with_grader import MOUNT, find_shared_folder, load_grader_package, sandbox_view

# Interpreter and editor leftovers in an assignment folder: never shipped to students.
STUDENT_SKIP = ("__pycache__", ".ipynb_checkpoints")


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
    probes: ModuleType | None = None
    checks: ModuleType | None = None
    oracles: ModuleType | None = None
    mounts: tuple[tuple[str, str], ...] = ()
    # Names of mounts the runner puts on sys.path (the shared_with_grader view, if any).
    import_paths: tuple[str, ...] = ()
    spec: ModuleType | None = None  # spec.py itself, for what only some specs offer (gpu_cases)

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
        """The reference solution's outputs for every case: computed once per fingerprint of
        the tests and kept across batches (``autograder.course.expected_cache``)."""
        def compute():
            return {case.case_id: reference_outputs(self.reference, case, self.probes, self.oracles)
                    for case in self.cases}

        key = expected_cache.fingerprint(self.name, (self.reference, self.probes, self.oracles),
                                         self.cases, self.mounts)
        return expected_cache.cached(self.name, key, [c.case_id for c in self.cases], compute)

    @cached_property
    def probes_and_checks(self) -> ProbesAndChecks:
        """What the sandbox and the comparison need besides the cases."""
        probes = self.hidden_dir / "probes.py"
        checks = {name: getattr(self.checks, name) for name in _case_names(self.cases, "check")}
        return ProbesAndChecks(
            probes_source=probes.read_text(encoding="utf-8") if probes.is_file() else None,
            checks=checks,
            mounts=self.mounts,
            import_paths=self.import_paths,
        )

    @property
    def student_notebook(self) -> Path:
        return ASSIGNMENTS_DIR / self.name / f"{self.name}.ipynb"


def reference_outputs(reference: ModuleType, case: Case, probes: ModuleType | None = None,
                      oracles: ModuleType | None = None) -> tuple[np.ndarray, ...]:
    """The expected outputs of ``case``: from its oracle, its probe driving the reference's
    functions, or a plain call of the reference function, called as the sandbox calls the
    student's (``autograder.course.calling``). An error in the kit's own code is raised."""
    args, kwargs = copy_arguments(case.args, case.kwargs)
    with sandbox_float_rules():
        if case.oracle:
            result = getattr(oracles, case.oracle)(*args, **kwargs)
        elif case.probe:
            functions = MappingProxyType(vars(reference))
            result = getattr(probes, case.probe)(functions, *args, **kwargs)
        else:
            result = getattr(reference, case.question)(*args, **kwargs)
    return numeric_outputs(result)


def _case_names(cases, field_name: str) -> list[str]:
    return sorted({getattr(c, field_name) for c in cases if getattr(c, field_name)})


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
    shared = find_shared_folder(hidden)
    if shared is not None and not (shared / "__init__.py").is_file():
        raise AssignmentError(f"{shared} must be a package: add an __init__.py (a docstring "
                              "telling students the grader uses its own copy)")
    # Before spec.py, whose functions may use it (a5 finds its photos with it).
    package = load_grader_package(shared) if shared is not None else None
    spec = _import(hidden / "spec.py", key + "_spec")
    reference = _import(hidden / "reference.py", key + "_reference")
    mistakes: tuple[Mistake, ...] = ()
    if (hidden / "mistakes.py").is_file():
        # The mistakes module refers to reference functions and helpers by name (e.g. softmax).
        mistakes = load_mistakes(hidden / "mistakes.py", reference, key + "_mistakes")
    optional = {name: _import(hidden / f"{name}.py", f"{key}_{name}")
                for name in ("checks", "oracles") if (hidden / f"{name}.py").is_file()}
    mounts, import_paths = _mounts(spec), ()
    if shared is not None:
        mounts, import_paths = _with_shared_view(mounts, shared, spec.NAME), (MOUNT,)
    if "checks" in optional:  # a check may need the same data, e.g. to re-evaluate weights,
        # and data the sandbox must never see (spec.GRADER_DATA: e.g. held-out photos)
        optional["checks"].DATA = {**dict(mounts), **_grader_data(spec)}
    if (hidden / "probes.py").is_file():
        optional["probes"] = _import(hidden / "probes.py", key + "_probes")
        optional["probes"].DATA = dict(mounts)  # in the grader, the host folders themselves
    for name in ("checks", "probes"):
        if package is not None and name in optional:  # in the grader: its own copy, by its name
            optional[name].SHARED_PACKAGE = package.__name__
    result = Assignment(
        name=spec.NAME,
        title=spec.TITLE,
        questions=tuple(spec.QUESTIONS),
        cases=tuple(spec.make_cases()),
        reference=reference,
        limits=getattr(spec, "LIMITS", Limits()),
        mistakes=mistakes,
        hidden_dir=hidden,
        mounts=mounts,
        import_paths=import_paths,
        spec=spec,
        **optional,
    )
    validate_assignment(result)
    return result


def validate_assignment(assignment: Assignment) -> None:
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
    for field_name in ("probe", "check", "oracle"):
        module = getattr(assignment, field_name + "s")
        for name in _case_names(assignment.cases, field_name):
            if not callable(getattr(module, name, None)):
                raise AssignmentError(
                    f"a case uses {field_name} {name!r}, but {field_name}s.py does not define it"
                )
    for case in assignment.public_cases:
        if case.check or case.oracle:
            raise AssignmentError(f"public case {case.case_id} cannot use a check or an oracle "
                                  "(they run only in the grader)")
    for mistake in assignment.mistakes:
        if mistake.question not in assignment.questions:
            raise AssignmentError(f"mistake {mistake.name} breaks unknown question")


def _grader_data(spec: ModuleType) -> dict[str, str]:
    """spec.GRADER_DATA (a dict, or a function returning one): folders only the grader's
    checks read, never mounted into the sandbox."""
    declared = getattr(spec, "GRADER_DATA", {})
    return {str(k): str(v) for k, v in dict(declared() if callable(declared) else declared).items()}


def _with_shared_view(mounts: tuple[tuple[str, str], ...], shared: Path,
                      name: str) -> tuple[tuple[str, str], ...]:
    """``mounts`` plus the sandbox's view of the shared_with_grader package, as ``MOUNT``."""
    if MOUNT in dict(mounts):
        raise AssignmentError(f"spec.MOUNTS may not name a mount {MOUNT!r}: that name is the "
                              "assignment's shared_with_grader folder's")
    return tuple(sorted((*mounts, (MOUNT, str(sandbox_view(shared, name))))))


def _mounts(spec: ModuleType) -> tuple[tuple[str, str], ...]:
    """spec.MOUNTS (a dict, or a function returning one) as ((name, absolute folder), ...)."""
    declared = getattr(spec, "MOUNTS", {})
    if callable(declared):
        declared = declared()
    mounts = []
    for name, folder in sorted(dict(declared).items()):
        if not name.isidentifier():
            raise AssignmentError(f"mount name {name!r} must be a simple identifier")
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise AssignmentError(f"mount {name!r}: {path} is not a folder (is the data there?)")
        mounts.append((name, str(path)))
    return tuple(mounts)
