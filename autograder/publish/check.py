"""``autograder check``: a student's self-check on the public cases, through the same pipeline.

ASSIGNMENT is a built student folder (it has ``tests/public_cases.json``), or, on a
machine with the kit's hidden material, an assignment name (then the common mistakes are
recognised too, on the public cases).

Every input of a self-check run is public, so its feedback may quote the student's own
words (exception messages and classes, warnings, the last lines printed before a crash,
numbers redacted); graded feedback, whose runs had hidden inputs, never does (see
``autograder.grading.redact``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..course.assignment import Assignment, load_assignment
from ..course.cases import Case
from ..course.probes_and_checks import ProbesAndChecks
from ..course.shared_with_grader import FOLDER, MOUNT, sandbox_view
from ..grading.diagnose import Diagnoser
from ..grading.grade import SubmissionResult
from ..grading.pipeline import Grading, grade_path
from ..outputs.feedback import feedback_for
from ..sandbox import Limits, SandboxSettings
from .public_tests import load_public_cases, public_limits


@dataclass(frozen=True)
class PublicSuite:
    """The public cases of an assignment and what running them needs.

    assignment: the loaded hidden material when this machine has it (None for a built
    student folder): its common mistakes are then recognised.
    """

    title: str
    questions: tuple[str, ...]
    cases: tuple[Case, ...]
    expected: dict[str, tuple[np.ndarray, ...]]
    limits: Limits
    probes_and_checks: ProbesAndChecks
    assignment: Assignment | None = None

    def grading(self, settings: SandboxSettings | None = None) -> Grading:
        diagnoser, mistakes = None, ()
        if self.assignment is not None:
            diagnoser = Diagnoser.for_assignment(self.assignment, self.cases)
            mistakes = self.assignment.mistakes
        return Grading.for_cases(title=f"{self.title} (self-check)", questions=self.questions,
                                 cases=self.cases, expected=self.expected,
                                 settings=(settings or SandboxSettings()).with_default_limits(self.limits),
                                 probes_and_checks=self.probes_and_checks, diagnoser=diagnoser, mistakes=mistakes,
                                 public_only=True)


def public_suite(assignment: str | Path) -> PublicSuite:
    """The public cases of a built student folder, or of one of the kit's assignments."""
    path = Path(assignment)
    for candidate in (path / "tests" / "public_cases.json", path / "public_cases.json",
                      path / "student" / "tests" / "public_cases.json"):
        if candidate.is_file():
            name, questions, cases, expected = load_public_cases(candidate)
            probes = candidate.parent / "probes.py"
            shared = candidate.parent.parent / FOLDER  # the student folder's shared_with_grader
            mounts = ((MOUNT, str(sandbox_view(shared, name))),) if shared.is_dir() else ()
            probes_and_checks = ProbesAndChecks(probes_source=probes.read_text(encoding="utf-8") if probes.is_file() else None,
                                                mounts=mounts, import_paths=tuple(n for n, _ in mounts))
            return PublicSuite(name, tuple(questions), tuple(cases), expected, public_limits(candidate),
                               probes_and_checks)
    loaded = load_assignment(assignment)
    expected = {c.case_id: loaded.expected[c.case_id] for c in loaded.public_cases}
    return PublicSuite(loaded.title, tuple(loaded.questions), tuple(loaded.public_cases), expected,
                       loaded.limits, loaded.probes_and_checks, loaded)


def run_check(assignment: str | Path, submission: Path,
              settings: SandboxSettings | None = None) -> tuple[SubmissionResult, str]:
    if not os.path.lexists(submission):  # the student's typo, not an unreadable submission
        raise FileNotFoundError(f"no such submission file or folder: {submission}")
    grading = public_suite(assignment).grading(settings)
    graded = grade_path(grading, Path(submission))
    return graded.result, feedback_for(grading, graded)
