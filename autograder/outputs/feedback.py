"""Feedback a student can act on: per question, which property failed and why, in words.

Hidden inputs and expected values never appear; the case descriptions say what was
checked ("is finite for scores around +-1e4") and the reasons what went wrong
("result contains NaN where the correct value is finite"). When a question's outputs
match a known common mistake (``autograder.grading.diagnose``), feedback names it in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..grading.grade import GRADED, TAMPERED, SubmissionResult
from ..grading.pipeline import GradedSubmission, Grading
from ..machine.files import distinct_filenames
from .gradebook import format_points

STATUS_TEXT = {
    GRADED: "graded: your code ran to the end",
    "syntax_error": "syntax error: some of your code is not valid Python and did not run",
    "timeout": "timeout: your code was stopped for exceeding the time limit",
    "memory": "memory: your code tried to use more memory than allowed",
    "crashed": "crashed: your code ended the grading process before it finished",
    "invalid_submission": "invalid submission: the file could not be read",
    "grader_error": "grader error: a fault in the grader (not your code); your TA has been told",
    TAMPERED: "tampered: the results sent back from your code's run were forged, repeated or "
              "reordered; every call from that point on scored 0",
}


def feedback_text(result: SubmissionResult, *, title: str, questions: Sequence[str],
                  question_points: dict[str, float], public_only: bool = False,
                  mistakes: Mapping[str, Sequence] | None = None) -> str:
    """The student's feedback file; ``mistakes``: question -> recognised ``Mistake``s."""
    total = sum(question_points.values())
    lines = [
        f"{title}",
        f"Feedback for: {result.submission}",
        f"Status: {STATUS_TEXT.get(result.status, result.status)}",
        f"Score: {format_points(result.score)} / {format_points(total)}"
        + ("  (public tests only: your grade also includes hidden tests)" if public_only else ""),
        "",
    ]
    if result.messages:
        lines.append("Messages")
        lines += [f"  - {m}".replace("\n", "\n    ") for m in result.messages]
        lines.append("")
    scores = result.question_scores(questions)
    for question in questions:
        mine = [r for r in result.case_results if r.case.question == question]
        lines.append(f"{question}: {format_points(scores[question])} / "
                     f"{format_points(question_points[question])}")
        for r in mine:
            mark = "ok    " if r.passed else "FAILED"
            line = f"  {mark} {r.case.description}"
            if not r.passed:
                line += f"\n         -> {r.reason}"
            lines.append(line)
        for mistake in (mistakes or {}).get(question, ()):
            lines.append(f"  Your outputs match the common mistake: {mistake.description}")
        lines.append("")
    if result.status == GRADED and result.score == total:
        lines.append("Every test passed. Well done.")
    return "\n".join(lines).rstrip() + "\n"


def feedback_for(grading: Grading, graded: GradedSubmission, *, title: str | None = None) -> str:
    """The student's feedback file: per question what failed and why, and the mistakes named."""
    by_name = {m.name: m for m in grading.mistakes}
    return feedback_text(
        graded.result, title=grading.title if title is None else title, questions=grading.questions,
        question_points=grading.question_points, public_only=grading.public_only,
        mistakes={q: [by_name[n] for n in names if n in by_name] for q, names in graded.mistakes.items()},
    )


def feedback_names(ids: list[str]) -> dict[str, str]:
    """id -> feedback file name (``distinct_filenames``: no two alike, even without case)."""
    return {sid: name + ".txt" for sid, name in distinct_filenames(ids).items()}
