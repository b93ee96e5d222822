"""A test case: one call of a student function, and the properties its result must have.

Cases are data, not code: the grader sends the call (function name and arguments) to
the sandbox and compares the returned arrays with the reference solution's in its own
process. The same objects describe public cases (shipped to students, expected values
included) and hidden ones (never leave the grader).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import tolerances


@dataclass(frozen=True)
class Case:
    """One graded call.

    question:          the function this case grades (a gradebook column).
    name:              short identifier, unique within the question.
    description:       the property checked, in words a student can act on; shown in
                       feedback without the hidden inputs.
    args, kwargs:      the call's arguments: NumPy arrays or JSON scalars.
    points:            earned only when every check below passes.
    public:            shipped to students as a self-check (inputs and expected values).
    rtol, atol:        value tolerance against the reference (see ``tolerances``).
    inputs_unchanged:  the call must leave its array arguments exactly as given.
    no_warnings:       the call must not emit any warning (e.g. overflow in exp).
    integer_dtype:     the result must have an integer dtype.
    probe:             name of a function in the assignment's ``probes.py``, called as
                       ``probe(fns, *args, **kwargs)`` with ``fns`` the submission's functions
                       (in the sandbox) or the reference's (for the expected value). For what a
                       plain call cannot show: a PyTorch module changed in place, a sequence
                       of calls, a random draw under two global seeds.
    check:             name of a function in ``checks.py`` (grader only) that judges the outputs
                       instead of the value comparison, e.g. statistical tests of random draws.
    oracle:            name of a function in ``oracles.py`` (grader only) that computes the
                       expected outputs instead of the reference (torch.autograd, finite
                       differences).
    """

    question: str
    name: str
    description: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    points: float = 1.0
    public: bool = False
    rtol: float = tolerances.RTOL
    atol: float = tolerances.ATOL
    inputs_unchanged: bool = False
    no_warnings: bool = False
    integer_dtype: bool = False
    probe: str | None = None
    check: str | None = None
    oracle: str | None = None

    @property
    def case_id(self) -> str:
        return f"{self.question}/{self.name}"

    def __post_init__(self) -> None:
        for value in list(self.args) + list(self.kwargs.values()):
            if not isinstance(value, (np.ndarray, bool, int, float, str, type(None))):
                raise TypeError(
                    f"case {self.case_id}: arguments must be arrays or scalars, got {type(value)}"
                )
        if self.points <= 0:
            raise ValueError(f"case {self.case_id}: points must be positive")


def points_per_question(questions, cases) -> dict[str, float]:
    """{question: the points its cases are worth}, in gradebook order."""
    points = dict.fromkeys(questions, 0.0)
    for case in cases:
        points[case.question] += case.points
    return points


# --- public cases count only with their hidden twins ------------------------------------------
#
# The student folder ships every public case's inputs and expected values (the self-check needs
# them), so code that looks those inputs up and returns the shipped answers would pass them
# without computing anything. A public case therefore earns its points in grading only when its
# function also passes at least one *hidden twin*: a hidden case of the same question that checks
# the same thing (the same probe, check, oracle, flags and tolerances) on inputs the student has
# not seen. Code that computes the property passes a twin as a matter of course; a table cannot.
# A public case without a twin in the run (the self-check, --public-only, or a spec that has none)
# counts as before.

PUBLIC_WITHOUT_TWIN_REASON = (
    "passes with the public inputs your notebook's tests show, but not one of the hidden cases "
    "that check the same thing: a public case counts only together with at least one of them")


def _what_it_checks(case: Case) -> tuple:
    """What a case checks, apart from its inputs: equal for a public case and its twins."""
    return (case.question, case.probe, case.check, case.oracle, case.no_warnings, case.integer_dtype,
            case.inputs_unchanged, case.rtol, case.atol)


def hidden_twins(cases) -> dict[str, tuple[str, ...]]:
    """public case_id -> the case_ids of its hidden twins among ``cases`` (public cases with
    none are left out: they count on their own)."""
    cases = tuple(cases)
    hidden: dict[tuple, list[str]] = {}
    for case in cases:
        if not case.public:
            hidden.setdefault(_what_it_checks(case), []).append(case.case_id)
    return {case.case_id: tuple(hidden[_what_it_checks(case)]) for case in cases
            if case.public and _what_it_checks(case) in hidden}


def public_cases_without_a_passing_twin(passed, twins: dict[str, tuple[str, ...]]) -> set[str]:
    """The public cases that passed but whose hidden twins all failed (``passed``: case_id ->
    verdict); twins missing from ``passed`` (not run) count as failed."""
    return {case_id for case_id, ids in twins.items()
            if passed.get(case_id) and not any(passed.get(i, False) for i in ids)}
