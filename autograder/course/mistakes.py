"""Named common mistakes: wrong implementations the kit recognises and tests against.

A mistake replaces one reference function by a plausible wrong version. The kit's tests
grade "reference + one mistake" and assert that points are lost on that function and
only there; reports match submissions' outputs against mistakes, and exams use them as
distractors, so every consumer shares one definition of each mistake.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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


def load_mistakes(path: Path, reference: ModuleType, module_name: str) -> tuple[Mistake, ...]:
    """``MISTAKES`` of the mistakes module at ``path``, which sees the reference's names.

    Every name the reference defines or imports (its functions, helpers such as a5's
    ``_parameterised_layers``, modules such as ``torch`` and ``nn``) is in the mistakes
    module's globals *before* it runs, as if its source were appended to the reference's
    (which is how ``submission_source`` builds a mistake's submission): so a mistake may
    use them at import time and when called. The module's own definitions win.
    """
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    for name, value in vars(reference).items():
        if not (name.startswith("__") and name.endswith("__")):
            module.__dict__[name] = value
    sys.modules[module_name] = module  # lets dataclasses and inspect resolve the module
    spec.loader.exec_module(module)
    return tuple(module.MISTAKES)
