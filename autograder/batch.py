"""Grading a class: every submission in a folder, one gradebook row each, whatever happens.

    discover -> grade each (sandboxed) -> gradebook.csv, feedback/<id>.txt,
    report.html, results.json

A submission that breaks the kit itself (a bug of ours) still gets its row, with status
``grader_error``; the batch never stops because of one submission.
"""

from __future__ import annotations

import json
import re
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import submission as submissions
from .assignment import Assignment
from .cases import points_per_question
from .evaluate import CaseResult
from .feedback import feedback_text
from .grade import GRADER_ERROR, CallPlan, SubmissionResult, grade_submission
from .gradebook import write_gradebook
from .report import report_html
from .sandbox import SandboxSettings, resolve_isolation


@dataclass
class BatchResult:
    results: list[SubmissionResult]
    out_dir: Path
    gradebook: Path
    feedback_dir: Path
    report: Path
    warning: str


def safe_filename(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._") or "submission"
    return cleaned[:120]


def _unique_ids(paths: list[Path]) -> list[str]:
    ids = [submissions.student_id(p) for p in paths]
    clashes = {i for i in ids if ids.count(i) > 1}
    return [p.name if i in clashes else i for i, p in zip(ids, paths, strict=True)]


def grade_batch(
    assignment: Assignment,
    submissions_path: Path,
    out_dir: Path,
    settings: SandboxSettings | None = None,
    *,
    public_only: bool = False,
    progress: Callable[[str], None] | None = None,
) -> BatchResult:
    """Grade every submission under ``submissions_path``; write all outputs to ``out_dir``."""
    submissions_path = Path(submissions_path).resolve()
    out_dir = Path(out_dir).resolve()
    if submissions_path.is_dir() and out_dir.is_relative_to(submissions_path):
        raise ValueError(f"--out {out_dir} is inside the submissions folder; choose another folder")
    paths = submissions.discover(submissions_path)
    settings = (settings or SandboxSettings()).with_default_limits(assignment.limits)
    _, warning = resolve_isolation(settings)
    if warning and progress:
        progress(f"WARNING: {warning}")
    cases = assignment.public_cases if public_only else assignment.cases
    expected = assignment.expected
    plan = CallPlan.for_cases(cases)
    feedback_dir = out_dir / "feedback"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    questions = assignment.questions
    points = points_per_question(questions, cases)
    results: list[SubmissionResult] = []
    for n, (path, sid) in enumerate(zip(paths, _unique_ids(paths), strict=True), start=1):
        try:
            result = grade_submission(path, cases=cases, expected=expected, settings=settings, plan=plan)
        except Exception as exc:  # noqa: BLE001 - a kit bug must not cost anyone their row
            result = SubmissionResult(
                submission=sid, path=str(path), status=GRADER_ERROR,
                case_results=[CaseResult(c, False, "not graded: grader error") for c in cases],
                messages=[f"internal grader error ({type(exc).__name__}: {exc}); please tell your TA"],
            )
            traceback.print_exc(file=sys.stderr)
        result.submission = sid
        results.append(result)
        (feedback_dir / f"{safe_filename(sid)}.txt").write_text(feedback_text(
            result, title=assignment.title, questions=questions, question_points=points,
            public_only=public_only,
        ))
        if progress:
            progress(f"[{n}/{len(paths)}] {sid}: {result.status}, "
                     f"{result.score:g}/{sum(points.values()):g} ({result.seconds:.2f} s)")
    gradebook = out_dir / "gradebook.csv"
    write_gradebook(gradebook, results, questions, sum(points.values()))
    report = out_dir / "report.html"
    report.write_text(report_html(results, title=assignment.title, questions=questions,
                                  question_points=points, warning=warning))
    (out_dir / "results.json").write_text(json.dumps(_results_json(assignment, results), indent=1))
    return BatchResult(results, out_dir, gradebook, feedback_dir, report, warning)


def _results_json(assignment: Assignment, results: list[SubmissionResult]) -> dict:
    return {
        "assignment": assignment.name,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "submissions": [
            {
                "submission": r.submission,
                "status": r.status,
                "score": r.score,
                "isolated": r.isolated,
                "seconds": round(r.seconds, 3),
                "messages": r.messages,
                "cases": [
                    {"case": c.case.case_id, "passed": c.passed, "points": c.points, "reason": c.reason}
                    for c in r.case_results
                ],
            }
            for r in results
        ],
    }
