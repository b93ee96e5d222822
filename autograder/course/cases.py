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
