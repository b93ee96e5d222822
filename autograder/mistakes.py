"""Named common mistakes: wrong implementations the kit recognises and tests against.

A mistake replaces one reference function by a plausible wrong version. The kit's tests
grade "reference + one mistake" and assert that points are lost on that function and
only there; reports match submissions' outputs against mistakes, and exams use them as
distractors, so every consumer shares one definition of each mistake.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Mistake:
    """name: identifier; question: the function it breaks; description: what is wrong."""

    name: str
    question: str
    description: str
    implementation: Callable

    def submission_source(self, reference: ModuleType) -> str:
        """Python source of a submission: the reference with this one function replaced."""
        wrong = textwrap.dedent(inspect.getsource(self.implementation))
        return (
            inspect.getsource(reference)
            + f"\n\n# --- common mistake: {self.name} ---\n"
            + wrong
            + f"\n{self.question} = {self.implementation.__name__}\n"
        )
