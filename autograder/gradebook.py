"""gradebook.csv, exactly as the contract fixes it.

Columns: submission, status, score, max_score, then one column per question (named
after the function it tests) holding its points. One row per submission, always.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from . import csvsafe
from .grade import SubmissionResult

FIXED_COLUMNS = ("submission", "status", "score", "max_score")


def format_points(value: float) -> str:
    """3.0 -> "3", 2.5 -> "2.5": points as people write them."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def gradebook_text(results: Sequence[SubmissionResult], questions: Sequence[str], max_score: float) -> str:
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer, lineterminator="\n")
    writer.writerow([*FIXED_COLUMNS, *questions])
    for result in results:
        scores = result.question_scores(questions)
        writer.writerow([
            result.submission, result.status, format_points(result.score), format_points(max_score),
            *(format_points(scores[q]) for q in questions),
        ])
    return buffer.getvalue()


def write_gradebook(path: Path, results, questions, max_score) -> None:
    """Written to a temporary file and renamed: a reader never sees half a gradebook."""
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_text(gradebook_text(results, questions, max_score))
    tmp.replace(path)
