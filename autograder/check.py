"""``autograder check``: a student's self-check on the public cases, through the same sandbox.

ASSIGNMENT is a built student folder (it has ``tests/public_cases.json``), or, on a
machine with the kit's hidden material, an assignment name.

Every input of a self-check run is public, so its feedback may quote the student's own
words (exception messages and classes, warnings, the last lines printed before a crash,
numbers redacted); graded feedback, whose runs had hidden inputs, never does (see
``autograder.redact``).
"""

from __future__ import annotations

from pathlib import Path

from .assignment import load_assignment
from .cases import points_per_question
from .feedback import feedback_text
from .grade import SubmissionResult, grade_submission
from .harness import Harness
from .public_tests import load_public_cases, public_limits
from .sandbox import SandboxSettings


def public_suite(assignment: str | Path):
    """(title, questions, cases, expected, limits, harness) of the public cases."""
    path = Path(assignment)
    for candidate in (path / "tests" / "public_cases.json", path / "public_cases.json",
                      path / "student" / "tests" / "public_cases.json"):
        if candidate.is_file():
            name, questions, cases, expected = load_public_cases(candidate)
            probes = candidate.parent / "probes.py"
            harness = Harness(probes_source=probes.read_text() if probes.is_file() else None)
            return name, questions, cases, expected, public_limits(candidate), harness
    loaded = load_assignment(assignment)
    expected = {c.case_id: loaded.expected[c.case_id] for c in loaded.public_cases}
    return loaded.title, loaded.questions, loaded.public_cases, expected, loaded.limits, loaded.harness


def run_check(assignment: str | Path, submission: Path,
              settings: SandboxSettings | None = None) -> tuple[SubmissionResult, str]:
    title, questions, cases, expected, limits, harness = public_suite(assignment)
    settings = (settings or SandboxSettings()).with_default_limits(limits)
    result = grade_submission(Path(submission), cases=cases, expected=expected, settings=settings,
                              harness=harness)
    points = points_per_question(questions, cases)
    text = feedback_text(result, title=f"{title} (self-check)", questions=questions,
                         question_points=points, public_only=True)
    return result, text
