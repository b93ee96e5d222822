"""gradebook.csv, exactly as the contract fixes it.

Columns: submission, status, score, max_score, then one column per question (named
after the function it tests) holding its points. One row per submission, always.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..grading.grade import SubmissionResult
from ..machine.files import write_atomic
from . import csvsafe
from .points import format_points  # noqa: F401 - its home is points.py; re-exported

FIXED_COLUMNS = ("submission", "status", "score", "max_score")


# Appended after the question columns only when a late policy is in use (autograder.classroom.late_policy);
# ``score`` is then the final score, after the penalty.
LATE_COLUMNS = ("raw_score", "late_penalty")


def gradebook_text(results: Sequence[SubmissionResult], questions: Sequence[str], max_score: float,
                   late: Mapping | None = None) -> str:
    """``late``: submission id -> its ``LateResult`` when a late policy is used (a submission
    missing from it has no penalty)."""
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer, lineterminator="\n")
    writer.writerow([*FIXED_COLUMNS, *questions, *(LATE_COLUMNS if late is not None else ())])
    for result in results:
        scores = result.question_scores(questions)
        verdict = late.get(result.submission) if late is not None else None
        final = verdict.score if verdict is not None else result.score
        extra = ([format_points(result.score), format_points(verdict.penalty if verdict else 0.0)]
                 if late is not None else [])
        writer.writerow([
            result.submission, result.status, format_points(final), format_points(max_score),
            *(format_points(scores[q]) for q in questions), *extra,
        ])
    return buffer.getvalue()


def write_gradebook(path: Path, results, questions, max_score, late: Mapping | None = None) -> None:
    """Written to a temporary file and renamed: a reader never sees half a gradebook."""
    write_atomic(path, gradebook_text(results, questions, max_score, late))
