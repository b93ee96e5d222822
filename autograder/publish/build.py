"""``autograder build``: what students receive, and what stays with the course staff.

    DIR/<assignment>/student/     the stub notebook and public tests, nothing hidden
    DIR/<assignment>/autograder/  the hidden material (spec, reference, mistakes) and
        <a>-autograder.zip        the hidden material alone (``autograder grade`` elsewhere)
        <a>-gradescope.zip        a Gradescope autograder running this kit (autograder/publish/gradescope.py)
        <a>-otter.zip             an otter-grader autograder with public and hidden tests, for
                                  ``otter run`` (autograder/publish/otter_export.py; needs otter-grader)

Before anything is written the reference solution is graded on every case (it must
earn full marks); after, the student folder is scanned for anything hidden (reference
code, hidden case names, solution files) and the build fails if it finds any.
"""

from __future__ import annotations

import ast
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..classroom.late_policy import LatePolicy
from ..course.assignment import STUDENT_SKIP, Assignment
from ..kit_folders import ASSIGNMENTS_DIR
from .gradescope import GradescopeOptions, write_gradescope_zip
from .public_tests import otter_test_file, public_cases_json

# The late policy travels with the hidden material (it names due dates, not secrets, but it is
# the course staff's configuration, not the student's).
HIDDEN_FILES = ("spec.py", "reference.py", "mistakes.py", "probes.py", "checks.py", "oracles.py",
                "late_policy.toml", "late_policy.json")


class BuildError(RuntimeError):
    """The build would ship something broken or hidden."""


@dataclass
class BuiltAssignment:
    student_dir: Path
    autograder_dir: Path
    autograder_zip: Path
    gradescope_zip: Path | None = None
    otter_zip: Path | None = None
    notes: tuple[str, ...] = ()


def build_assignment(assignment: Assignment, out: Path, *, gradescope: GradescopeOptions | None = None,
                     otter: bool = True, late_policy: LatePolicy | None = None) -> BuiltAssignment:
    """late_policy: the course's, for the Gradescope zip (default: the assignment's own
    ``late_policy.toml``, if any)."""
    source = ASSIGNMENTS_DIR / assignment.name
    if not (source / f"{assignment.name}.ipynb").is_file():
        raise BuildError(f"missing student notebook {source / (assignment.name + '.ipynb')}")
    target = Path(out) / assignment.name
    student, hidden = target / "student", target / "autograder"
    for folder in (student, hidden):
        if folder.exists():
            shutil.rmtree(folder)
    shutil.copytree(source, student, ignore=shutil.ignore_patterns(*STUDENT_SKIP))
    tests = student / "tests"
    tests.mkdir(exist_ok=True)
    expected = assignment.expected
    for question in assignment.questions:
        public = [c for c in assignment.public_cases if c.question == question]
        if public:
            (tests / f"{question}.py").write_text(otter_test_file(question, public, expected))
    (tests / "public_cases.json").write_text(public_cases_json(
        assignment.name, assignment.questions, assignment.public_cases, expected, assignment.limits
    ))
    if any(case.probe for case in assignment.public_cases):  # the public doctests call them
        shutil.copy2(assignment.hidden_dir / "probes.py", tests / "probes.py")
    hidden.mkdir(parents=True)
    for name in HIDDEN_FILES:
        if (assignment.hidden_dir / name).is_file():
            shutil.copy2(assignment.hidden_dir / name, hidden / name)
    archive = hidden / f"{assignment.name}-autograder.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in HIDDEN_FILES:
            if (hidden / name).is_file():
                zf.write(hidden / name, name)
    leaks = find_leaks(assignment, student)
    if leaks:
        shutil.rmtree(student)
        raise BuildError("the student folder would contain hidden material:\n  " + "\n  ".join(leaks))
    gradescope_zip = write_gradescope_zip(assignment, hidden / f"{assignment.name}-gradescope.zip", gradescope,
                                          late_policy=late_policy)
    otter_zip, notes = None, []
    own = (ASSIGNMENTS_DIR / assignment.name).resolve()
    outside = [(name, folder) for name, folder in assignment.mounts  # shared_with_grader travels in
               if name not in assignment.import_paths and not Path(folder).resolve().is_relative_to(own)]
    if outside:
        notes.append("gradescope zip: carries the student folder, not these mounted folders ("
                     + ", ".join(f"{name}={folder}" for name, folder in outside)
                     + "); there the spec's own fallback applies (a5: the bundled flower excerpt)")
    if otter:
        from .otter_export import OtterExportError, otter_available, unsupported_cases, write_otter_zip

        unsupported = unsupported_cases(assignment)
        if unsupported:
            notes.append(f"otter zip skipped: {len(unsupported)} case(s) use a probe or a check that "
                         f"otter's doctests cannot express (e.g. {unsupported[0]})")
        elif otter_available():
            try:
                otter_zip = write_otter_zip(assignment, hidden / f"{assignment.name}-otter.zip")
            except OtterExportError as exc:
                raise BuildError(str(exc)) from None
        else:
            notes.append("otter zip skipped: otter-grader is not installed (pip install '.[notebook]')")
    return BuiltAssignment(student, hidden, archive, gradescope_zip, otter_zip, tuple(notes))


def _function_bodies(path: Path) -> list[tuple[str, str]]:
    """(name, normalised source of the body) of each top-level function in a file."""
    tree = ast.parse(path.read_text())
    bodies = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            statements = [s for s in node.body
                          if not (isinstance(s, ast.Expr) and isinstance(getattr(s, "value", None), ast.Constant))]
            if statements:
                bodies.append((node.name, "\n".join(ast.unparse(s) for s in statements)))
    return bodies


def _hidden_fingerprints(assignment: Assignment) -> dict[str, str]:
    """Long float literals (>= 12 significant digits) that occur only in hidden cases.

    Random hidden inputs and their expected outputs are full of them; finding one in a
    student file means hidden data leaked.
    """
    def literals(case):
        arrays = [a for a in (*case.args, *case.kwargs.values()) if isinstance(a, np.ndarray)]
        arrays += list(assignment.expected[case.case_id])
        for array in arrays:
            if array.dtype.kind == "f":
                for value in array.ravel()[:64].tolist():
                    text = repr(value)
                    if len(text.lstrip("-").replace(".", "").lstrip("0")) >= 12:
                        yield text

    public = {t for c in assignment.public_cases for t in literals(c)}
    found = {}
    for case in assignment.cases:
        if not case.public:
            for text in literals(case):
                if text not in public:
                    found.setdefault(text, case.case_id)
    return found


def find_leaks(assignment: Assignment, student_dir: Path) -> list[str]:
    """Every trace of hidden material under ``student_dir``, as readable lines."""
    leaks = []
    bodies = _function_bodies(assignment.hidden_dir / "reference.py")
    fingerprints = _hidden_fingerprints(assignment)
    hidden_ids = {c.case_id for c in assignment.cases if not c.public}
    for path in sorted(student_dir.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(student_dir)
        shipped_probes = rel == Path("tests", "probes.py") and any(c.probe for c in assignment.public_cases)
        if (path.name in HIDDEN_FILES and not shipped_probes) or path.suffix == ".zip":
            leaks.append(f"{rel}: a hidden file")
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        compact = "".join(text.split())
        for name, body in bodies:
            for line in (ln for ln in body.splitlines() if len(ln.strip()) > 25):
                if "".join(line.split()) in compact:
                    leaks.append(f"{rel}: contains reference code of {name}: {line.strip()[:60]!r}")
                    break
        for case_id in sorted(hidden_ids):
            if case_id in text:
                leaks.append(f"{rel}: names hidden case {case_id!r}")
        for literal, case_id in fingerprints.items():
            if literal in text:
                leaks.append(f"{rel}: contains data of hidden case {case_id!r}")
                break
    return leaks
