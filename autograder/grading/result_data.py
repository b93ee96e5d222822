"""A graded result as plain data, and back: the one place a ``SubmissionResult`` becomes JSON
(the signed cache of ``classroom/resume.py``, results.json, Gradescope) and the schema such
data must follow before it is believed again.

    result_to_json(result)          -> {"submission", "path", "status", "isolated", "isolation",
                                        "seconds", "messages", "score", "cases": [{"case",
                                        "passed", "points", "reason"}, ...]}
    result_from_json(data, cases)   the inverse, for the plan ``cases``; ResultDataError when
                                    ``result_problem(data, cases)`` names what is wrong

Data read back may have been written by anyone, so ``result_problem`` checks every field's
type, each case of the plan exactly once, the points each verdict is worth and a score equal
to their sum.
"""

from __future__ import annotations

import math

from ..course.cases import Case
from .evaluate import CaseResult
from .grade import SubmissionResult
from .status import Status

# Statuses a cached result may hold: the contract's words for what a submission did.
# grader_error is the kit's own fault, so it is retried, never kept.
CACHEABLE_STATUSES = frozenset(status for status in Status if status != Status.GRADER_ERROR)


def result_to_json(result: SubmissionResult) -> dict:
    return {
        "submission": result.submission,
        "path": result.path,
        "status": result.status,
        "isolated": result.isolated,
        "isolation": getattr(result, "isolation", ""),
        "seconds": round(result.seconds, 3),
        "messages": list(result.messages),
        "score": result.score,
        "cases": [{"case": c.case.case_id, "passed": c.passed, "points": c.points, "reason": c.reason}
                  for c in result.case_results],
    }


def result_from_json(data: dict, cases: tuple[Case, ...]) -> SubmissionResult:
    """The inverse of ``result_to_json``; ``ResultDataError`` when ``data`` breaks the schema."""
    problem = result_problem(data, cases)
    if problem:
        raise ResultDataError(problem)
    by_id = {c["case"]: c for c in data["cases"]}
    result = SubmissionResult(
        submission=data["submission"], path=data["path"], status=Status(data["status"]),
        case_results=[CaseResult(case, by_id[case.case_id]["passed"], by_id[case.case_id]["reason"])
                      for case in cases],
        messages=list(data["messages"]),
        isolated=data["isolated"],
        seconds=float(data["seconds"]),
    )
    if "isolation" in data:  # how the run was confined (words for the instructor)
        result.isolation = data["isolation"]
    return result


class ResultDataError(ValueError):
    """Result data that does not follow the schema."""


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_string_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def result_problem(data, cases: tuple[Case, ...]) -> str | None:
    """What is wrong with a cached result for the plan ``cases``; None when it is sound."""
    if not isinstance(data, dict):
        return "the result is not an object"
    for key, ok in (("submission", isinstance(data.get("submission"), str)),
                    ("path", isinstance(data.get("path"), str)),
                    ("status", data.get("status") in CACHEABLE_STATUSES),
                    ("isolated", isinstance(data.get("isolated"), bool)),
                    ("isolation", isinstance(data.get("isolation", ""), str)),
                    ("seconds", _is_number(data.get("seconds")) and data.get("seconds", -1) >= 0),
                    ("messages", is_string_list(data.get("messages"))),
                    ("score", _is_number(data.get("score"))),
                    ("cases", isinstance(data.get("cases"), list))):
        if not ok:
            return f"bad or missing {key!r}"
    rows = data["cases"]
    if not all(isinstance(row, dict) and isinstance(row.get("case"), str) for row in rows):
        return "a case without an id"
    ids = [row["case"] for row in rows]
    wanted = [case.case_id for case in cases]
    if len(ids) != len(set(ids)) or sorted(ids) != sorted(wanted):
        return "its cases are not the plan's cases, each exactly once"
    by_id = {row["case"]: row for row in rows}
    total = 0.0
    for case in cases:
        row = by_id[case.case_id]
        if not isinstance(row.get("passed"), bool) or not isinstance(row.get("reason"), str):
            return f"case {case.case_id}: bad verdict or reason"
        points = case.points if row["passed"] else 0.0
        if not _is_number(row.get("points")) or row["points"] != points:
            return f"case {case.case_id}: points do not match its verdict"
        total += points
    if not math.isclose(data["score"], total, rel_tol=0, abs_tol=1e-9):
        return "the score is not the sum of the cases' points"
    return None
