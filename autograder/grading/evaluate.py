"""Judging one call: the student's returned arrays against the reference, in the grader.

Reasons are written for students: they name the property and what went wrong (shape,
dtype, NaN, a modified input, a warning) but never the hidden inputs or expected values.

Two kinds of text come from elsewhere, and each has its rule:

- The submission's own words (an exception's type and message, a warning) are shown only
  when ``echo`` is set, i.e. every input of the run was public (``autograder check``);
  otherwise only names from ``redact``'s fixed lists appear (see ``autograder.grading.redact``).
- Figures the grader computes from the returned arrays (the size of the error, how many
  entries differ, a shape no mistake would make, a check's statistics) are shown only with
  ``echo`` too: the submission chooses those arrays, so where it could read hidden inputs
  (or, on hidden cases, see hidden expected values come back: return zeros, read the error)
  every such figure is a channel.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from ..course.cases import PUBLIC_WITHOUT_TWIN_REASON, Case, hidden_twins, public_cases_without_a_passing_twin
from ..sandbox.protocol import Record
from .redact import keep_known_integers, raised, redact, warning_words


@dataclass(frozen=True)
class CaseResult:
    case: Case
    passed: bool
    reason: str = ""  # empty when passed

    @property
    def points(self) -> float:
        return self.case.points if self.passed else 0.0


def count_public_cases_with_twins(case_results: list[CaseResult]) -> list[CaseResult]:
    """The verdicts with every public case that passed while all its hidden twins failed
    turned into a failure (``course.cases.hidden_twins``: shipped answers alone earn nothing)."""
    gated = public_cases_without_a_passing_twin({r.case.case_id: r.passed for r in case_results},
                                                hidden_twins(r.case for r in case_results))
    return [CaseResult(r.case, False, PUBLIC_WITHOUT_TWIN_REASON) if r.case.case_id in gated else r
            for r in case_results]


@dataclass(frozen=True)
class Context:
    """What the grader knows around one run's records.

    echo:        every input of the run was public, so the submission's own words may be
                 shown (numbers redacted).
    cells:       the submission's code cells, to check (untrusted) error locations against.
    known_names: function names the kit itself asks for (the questions), which a missing-name
                 error may show.
    """

    echo: bool = False
    cells: Sequence[str] | None = None
    known_names: Collection[str] = ()

    @functools.cached_property
    def defining_cells(self) -> dict[str, int]:
        """function name -> the last code cell with ``def name(`` in it (where it is defined)."""
        found: dict[str, int] = {}
        for index, source in enumerate(self.cells or ()):
            for name in _DEF.findall(source):
                found[name] = index
        return found


_DEF = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(", re.MULTILINE)


KIT_WORDS = Context()


def evaluate_case(case: Case, expected: tuple[np.ndarray, ...], record: Record | None,
                  check: Callable | None = None, context: Context = KIT_WORDS) -> CaseResult:
    """``check`` (the case's own judge, see ``autograder.course.probes_and_checks``) replaces the value
    comparison; every other test (errors, count of outputs, inputs, warnings) still applies."""
    problem = _problem(case, expected, record, check, context)
    return CaseResult(case, problem is None, problem or "")


def _problem(case: Case, expected: tuple[np.ndarray, ...], record: Record | None,
             check: Callable | None, context: Context) -> str | None:
    if record is None:
        return "no result: the run ended before this call (see the messages above)"
    error = record.meta.get("error")
    if isinstance(error, dict):
        return _describe_error(case, error, context)
    n_results = record.meta.get("n_results")
    if n_results != len(expected) or bool(record.meta.get("tuple")) != (len(expected) > 1):
        want = f"a tuple of {len(expected)} arrays" if len(expected) > 1 else "one array"
        return f"returned {_count(n_results)}; expected {want}"
    got_all = tuple(record.arrays.get(f"r{i}") for i in range(len(expected)))
    if any(got is None for got in got_all):
        return "returned something that is not a numeric array"
    if check is not None:
        try:
            problem = check(case, got_all, expected)
        except Exception:  # noqa: BLE001 - arrays of any shape and dtype reach a check
            # The reference's outputs pass every check (the kit's tests see to it), so a check
            # that breaks on these is looking at outputs of a shape or kind it does not expect.
            return "returned arrays the grader's check cannot judge (unexpected shape or dtype?)"
        if problem:
            # A check's figures are computed from arrays the submission chose, so where it
            # could read hidden inputs they could carry them: decimals go, and so does every
            # integer the kit did not write itself (an empty array's dimensions can be anything).
            return str(problem) if context.echo else keep_known_integers(str(problem), kit_numbers(case, expected))
    else:
        for i, (want, got) in enumerate(zip(expected, got_all, strict=True)):
            label = f"output {i + 1}: " if len(expected) > 1 else ""
            problem = compare_arrays(case, want, got, figures=context.echo)
            if problem:
                return label + problem
    if case.inputs_unchanged:
        problem = _inputs_changed(case, record)
        if problem:
            return problem
    warnings = record.meta.get("warnings")
    if case.no_warnings and warnings:
        first = warnings[0] if isinstance(warnings, list) else None
        if context.echo:
            return f"emitted a warning ({redact(str(first)[:200])})"
        return warning_words(first)
    return None


SMALL_NUMBERS = range(0, 11)  # layer and output numbers, "2 standard deviations", "0%"
MAX_KNOWN_VALUES = 256  # an integer expected output this small is a table (layer shapes), not data


def kit_numbers(case: Case, expected: Sequence[np.ndarray]) -> frozenset[int]:
    """The integers a check's sentence may show on a hidden run: those the kit knows without
    the submission (the expected outputs' dimensions and sizes, the values of small integer
    expected outputs such as a table of layer shapes, the numbers in the case's description,
    small counts). A case's inputs are not among them: they may be hidden."""
    known = set(SMALL_NUMBERS)
    known.update(int(n) for n in re.findall(r"\d+", case.description))
    for want in expected:
        want = np.asarray(want)
        known.update(int(d) for d in want.shape)
        known.add(int(want.size))
        if want.dtype.kind in "iu" and want.size <= MAX_KNOWN_VALUES:
            known.update(abs(int(v)) for v in want.ravel())
    return frozenset(known)


def returned_arrays(record: Record | None) -> tuple[np.ndarray, ...] | None:
    """What a call returned, as validated arrays; None when it raised or sent nothing usable."""
    if record is None or isinstance(record.meta.get("error"), dict):
        return None
    n = record.meta.get("n_results")
    if not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= 16:
        return None
    arrays = tuple(record.arrays.get(f"r{i}") for i in range(n))
    return None if any(a is None for a in arrays) else arrays


def location(error: dict, cells: Sequence[str] | None) -> str:
    """'code cell 3 ("def softmax(z):"), line 14' from the runner's (untrusted) cell and line
    numbers: shown only when the cell exists and the line is within it (so the numbers cannot
    carry anything but a place in the student's own code), else ''."""
    cell, line = error.get("cell"), error.get("line")
    if cells is None or not _index(cell, len(cells)):
        return ""
    source = cells[cell]
    text = f"code cell {cell + 1}"
    first = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")[:50]
    if first:
        first = "".join(ch if ch.isprintable() else "?" for ch in first)
        text += f' ("{first}")'
    if _index(line, source.count("\n") + 2) and line >= 1:
        text += f", line {line}"
    return text


def _index(value: object, size: int) -> bool:
    """``value`` is a plain int in ``range(size)``."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < size


def _count(n) -> str:
    """How many values a call returned, in words; the untrusted count shown only up to 16."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        return "nothing usable"
    if n > 16:
        return "more than 16 values"
    return "1 value" if n == 1 else f"{n} values"


def _describe_error(case: Case, error: dict, context: Context) -> str:
    kind = str(error.get("type", "Exception"))[:60]
    message = str(error.get("message", ""))[:300]
    where = location(error, context.cells) if context.echo else _hidden_run_location(case, error, context)
    if error.get("missing"):
        name = error.get("name")
        if not (isinstance(name, str) and name.isidentifier() and len(name) <= 60
                and (context.echo or name == case.question or name in context.known_names)):
            return "a function this test needs is not defined in the submission"
        return f"{name} is not defined in the submission"
    if kind == "HarnessError":
        return "not graded: the grader's test code could not run next to this submission"
    if kind == "NotImplementedError":
        return "not implemented yet (raised NotImplementedError)"
    if kind == "CallTimeout":
        return "did not return within the time limit for one call (an endless loop?)"
    if kind == "Skipped":
        return "not run: an earlier call of this function did not return in time"
    if kind == "TypeError" and message.endswith(", not a numeric array"):
        return "returned something that is not a numeric array"  # the runner's own refusal
    suffix = f" at {where}" if where else ""
    if not context.echo:
        return f"{raised(kind)}{suffix}"
    return f"raised {redact(kind)}: {redact(message)}{suffix}" if message else f"raised {redact(kind)}{suffix}"


def _hidden_run_location(case: Case, error: dict, context: Context) -> str:
    """Where an error happened, told on a run with hidden inputs: the cell that defines the
    question's function, without a line, or nothing.

    The code picks the place it raises from after it has read the hidden inputs: a line
    number in a cell of 70,000 lines carried 16 bits of them per case ("line 20126"). The
    defining cell is the kit's choice, not the code's: shown or not, it tells one bit."""
    cell = context.defining_cells.get(case.question)
    reported = error.get("cell")
    if cell is None or not _index(reported, cell + 1) or reported != cell:  # _index: a plain int
        return ""
    return location({"cell": cell}, context.cells)


def compare_arrays(case: Case, want: np.ndarray, got: np.ndarray, *, figures: bool) -> str | None:
    """What is wrong with ``got``; ``figures``: may say by how much (see the module's notes)."""
    if got.shape != want.shape:
        if figures or _plausible_shape(got.shape, want.shape):
            return f"returned shape {got.shape}; expected shape {want.shape}"
        return f"returned an array of another shape; expected shape {want.shape}"
    if case.integer_dtype and got.dtype.kind not in "iu":
        return f"returned dtype {got.dtype}; expected an integer array"
    if want.dtype.kind in "biu":
        if got.dtype.kind == "f" and not np.all(np.isfinite(got)):
            return "result contains NaN or infinity; expected integers"
        if not np.array_equal(got, want):
            if not figures:
                return "some entries differ from the correct answer"
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
        if not figures:
            return (f"values differ from the correct ones by more than allowed "
                    f"(rtol={case.rtol:g}, atol={case.atol:g})")
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


def _plausible_shape(got: tuple[int, ...], want: tuple[int, ...]) -> bool:
    """A shape a mistake makes (transposed, a dimension lost or added, off by a few), shown on
    hidden cases; any other is the submission's choice (an empty array's dimensions can be
    anything) and could carry data, so it is not."""
    largest = 2 * max(want, default=1) + 2
    return len(got) <= len(want) + 1 and all(d <= largest for d in got)


def _inputs_changed(case: Case, record: Record) -> str | None:
    given = list(case.args) + list(case.kwargs.values())
    for i, original in enumerate(given):
        if not isinstance(original, np.ndarray):
            continue
        after = record.arrays.get(f"a{i}")
        if after is None or after.shape != original.shape or not np.array_equal(after, original):
            return "modified its input array in place (work on a copy or build a new array)"
    return None
