"""Judging one call: the student's returned arrays against the reference, in the grader.

Reasons are written for students: they name the property and what went wrong (shape,
dtype, NaN, size of the error, a modified input, a warning) but never the hidden inputs
or expected values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .cases import Case
from .redact import redact
from .sandbox.protocol import Record


@dataclass(frozen=True)
class CaseResult:
    case: Case
    passed: bool
    reason: str = ""  # empty when passed

    @property
    def points(self) -> float:
        return self.case.points if self.passed else 0.0


def evaluate_case(case: Case, expected: tuple[np.ndarray, ...], record: Record | None,
                  check: Callable | None = None) -> CaseResult:
    """``check`` (the case's own judge, see ``autograder.harness``) replaces the value
    comparison; every other test (errors, count of outputs, inputs, warnings) still applies."""
    problem = _problem(case, expected, record, check)
    return CaseResult(case, problem is None, problem or "")


def _problem(case: Case, expected: tuple[np.ndarray, ...], record: Record | None,
             check: Callable | None = None) -> str | None:
    if record is None:
        return "no result: the run ended before this call (see the messages above)"
    error = record.meta.get("error")
    if isinstance(error, dict):
        return _describe_error(case, error)
    n_results = record.meta.get("n_results")
    if n_results != len(expected) or bool(record.meta.get("tuple")) != (len(expected) > 1):
        want = f"a tuple of {len(expected)} arrays" if len(expected) > 1 else "one array"
        return f"returned {_count(n_results)}; expected {want}"
    got_all = tuple(record.arrays.get(f"r{i}") for i in range(len(expected)))
    if any(got is None for got in got_all):
        return "returned something that is not a numeric array"
    if check is not None:
        problem = check(case, got_all, expected)
        if problem:
            return str(problem)
    else:
        for i, (want, got) in enumerate(zip(expected, got_all, strict=True)):
            label = f"output {i + 1}: " if len(expected) > 1 else ""
            problem = _compare(case, want, got)
            if problem:
                return label + problem
    if case.inputs_unchanged:
        problem = _inputs_changed(case, record)
        if problem:
            return problem
    if case.no_warnings and record.meta.get("warnings"):
        first = str(record.meta["warnings"][0])[:200]
        return f"emitted a warning ({first})"
    return None


def returned_arrays(record: Record | None) -> tuple[np.ndarray, ...] | None:
    """What a call returned, as validated arrays; None when it raised or sent nothing usable."""
    if record is None or isinstance(record.meta.get("error"), dict):
        return None
    n = record.meta.get("n_results")
    if not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= 16:
        return None
    arrays = tuple(record.arrays.get(f"r{i}") for i in range(n))
    return None if any(a is None for a in arrays) else arrays


def location(error: dict, cells: list[str] | None = None) -> str:
    """'code cell 3, line 14' from the runner's (untrusted) cell/line numbers."""
    cell, line = error.get("cell"), error.get("line")
    if not isinstance(cell, int) or isinstance(cell, bool):
        return ""
    text = f"code cell {cell + 1}"
    if cells is not None and 0 <= cell < len(cells):
        first = next((ln.strip() for ln in cells[cell].splitlines() if ln.strip()), "")
        if first:
            text += f' ("{first[:50]}")'
    if isinstance(line, int) and not isinstance(line, bool):
        text += f", line {line}"
    return text


def _count(n) -> str:
    return "nothing usable" if not isinstance(n, int) else ("1 value" if n == 1 else f"{n} values")


def _describe_error(case: Case, error: dict) -> str:
    kind = str(error.get("type", "Exception"))[:60]
    message = str(error.get("message", ""))[:300]
    where = location(error)
    if error.get("missing"):
        name = error.get("name") if isinstance(error.get("name"), str) else case.question
        return f"{name[:60]} is not defined in the submission"
    if kind == "HarnessError":
        return "not graded: the grader's test code could not run next to this submission"
    if kind == "NotImplementedError":
        return "not implemented yet (raised NotImplementedError)"
    if kind == "CallTimeout":
        return "did not return within the time limit for one call (an endless loop?)"
    if kind == "Skipped":
        return "not run: an earlier call of this function did not return in time"
    suffix = f" at {where}" if where else ""
    return f"raised {kind}: {redact(message)}{suffix}" if message else f"raised {kind}{suffix}"


def _compare(case: Case, want: np.ndarray, got: np.ndarray) -> str | None:
    if got.shape != want.shape:
        return f"returned shape {got.shape}; expected shape {want.shape}"
    if case.integer_dtype and got.dtype.kind not in "iu":
        return f"returned dtype {got.dtype}; expected an integer array"
    if want.dtype.kind in "biu":
        if got.dtype.kind == "f" and not np.all(np.isfinite(got)):
            return "result contains NaN or infinity; expected integers"
        if not np.array_equal(got, want):
            wrong = int(np.count_nonzero(got != want))
            return f"{wrong} of {want.size} entries differ from the correct answer"
        return None
    want_f = want.astype(np.float64)
    got_f = got.astype(np.float64)
    finite = np.isfinite(want_f)
    if np.any(finite & ~np.isfinite(got_f)):
        bad = "NaN" if np.any(finite & np.isnan(got_f)) else "infinity"
        return f"result contains {bad} where the correct value is finite (numerical overflow or underflow?)"
    if not np.allclose(got_f, want_f, rtol=case.rtol, atol=case.atol, equal_nan=True):
        with np.errstate(all="ignore"):
            diff = np.abs(got_f - want_f)[finite]
            rel = diff / np.maximum(np.abs(want_f[finite]), 1e-300)
        worst_abs = float(np.max(diff)) if diff.size else float("nan")
        worst_rel = float(np.max(rel)) if rel.size else float("nan")
        return (
            f"values differ from the correct ones (largest error {worst_abs:.3g} absolute, "
            f"{worst_rel:.3g} relative; allowed rtol={case.rtol:g}, atol={case.atol:g})"
        )
    return None


def _inputs_changed(case: Case, record: Record) -> str | None:
    given = list(case.args) + list(case.kwargs.values())
    for i, original in enumerate(given):
        if not isinstance(original, np.ndarray):
            continue
        after = record.arrays.get(f"a{i}")
        if after is None or after.shape != original.shape or not np.array_equal(after, original):
            return "modified its input array in place (work on a copy or build a new array)"
    return None
