"""Recognising common mistakes in a submission from what its functions returned.

Each ``Mistake`` of the assignment is run on the question's cases in the grader's own
process, exactly like the reference (``autograder.course.calling``: the same argument
copies, warnings and floating-point settings as the sandbox runner), judged by the same
``evaluate_case``.
That gives the mistake's *profile*: which cases it fails, and its outputs on the cases
where they differ from the reference's.

A submission shows mistake M for question Q when, on Q's cases,

1. it fails exactly the cases M fails (and M fails at least one),
2. it returned outputs wherever M did (a crash or a missing function is not a mistake),
3. where M's outputs differ from the reference's, its outputs equal M's within the
   case's tolerance (or it raised where M raised).

Rule 1 alone would confuse mistakes that fail the same cases for different reasons;
rule 3 tells them apart by value. A case with a probe calls the probe with the mistake
in place of the reference function (as the sandbox does with the student's); a case
with its own check (a statistical test) counts in rule 1 but not in rule 3, since its
outputs are random draws.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, ModuleType

import numpy as np

from ..course.calling import call_case
from ..course.cases import Case, hidden_twins, public_cases_without_a_passing_twin
from ..course.mistakes import Mistake
from .evaluate import evaluate_case, returned_arrays

Outputs = tuple[np.ndarray, ...] | None  # None: the call raised or returned nothing usable


@dataclass(frozen=True)
class MistakeProfile:
    mistake: Mistake
    cases: tuple[Case, ...]
    passed: dict[str, bool]  # case_id -> does the mistake pass it
    outputs: dict[str, Outputs]  # case_id -> the mistake's outputs
    differs: frozenset[str]  # case_ids where its outputs differ from the reference's


def same_outputs(case: Case, a: Outputs, b: Outputs) -> bool:
    """Equal within the case's tolerance (NaN equals NaN, infinities must match)."""
    if a is None or b is None:
        return a is None and b is None
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x.shape != y.shape:
            return False
        with np.errstate(all="ignore"):
            if not np.allclose(x.astype(np.float64), y.astype(np.float64), rtol=case.rtol,
                               atol=case.atol, equal_nan=True):
                return False
    return True


class Diagnoser:
    """The profiles of an assignment's mistakes, each computed at most once per batch.

    A question's profiles are computed the first time a submission fails one of its cases
    (a single submission that passes a question never pays for running its mistakes: a5's
    train mistakes each fine-tune a model), or all at once by ``prepare``.
    """

    def __init__(self, mistakes: Sequence[Mistake], cases: Sequence[Case],
                 expected: Mapping[str, tuple[np.ndarray, ...]], *,
                 reference: ModuleType | None = None, probes: ModuleType | None = None,
                 checks: Mapping[str, Callable] | None = None):
        self._mistakes = tuple(mistakes)
        self._cases = tuple(cases)
        self._expected = expected
        self._reference, self._probes, self._checks = reference, probes, checks or {}
        self._by_question: dict[str, list[MistakeProfile]] = {}
        self._lock = threading.Lock()

    @property
    def profiles(self) -> list[MistakeProfile]:
        """Every mistake's profile, in the assignment's order (computing those not yet made)."""
        questions = dict.fromkeys(m.question for m in self._mistakes)
        by_question = {q: self._profiles_of(q) for q in questions}
        return [p for m in self._mistakes for p in by_question[m.question] if p.mistake is m]

    def prepare(self) -> None:
        """Compute every profile now (in this thread), so that ``match`` never runs a mistake.

        A batch with several workers calls this before it starts them: a mistake runs
        native code (BLAS, PyTorch's thread pools) that hangs when another thread forks
        (a sandbox being started) in the middle of its call.
        """
        self.profiles  # noqa: B018 - computed for its side effect

    def _profiles_of(self, question: str) -> list[MistakeProfile]:
        with self._lock:
            if question not in self._by_question:
                self._by_question[question] = [
                    profile for m in self._mistakes if m.question == question
                    if (profile := self._profile(m)) is not None]
            return self._by_question[question]

    def _profile(self, mistake: Mistake) -> MistakeProfile | None:
        expected, reference, probes, checks = self._expected, self._reference, self._probes, self._checks
        mine = tuple(c for c in self._cases if c.question == mistake.question
                     and (not c.probe or (probes is not None and reference is not None))
                     and (not c.check or c.check in checks))
        if not mine:
            return None
        records = {c.case_id: call_case(self._function(mistake, c, reference, probes), c)
                   for c in mine}
        passed = {c.case_id: evaluate_case(c, expected[c.case_id], records[c.case_id],
                                           checks.get(c.check) if c.check else None).passed
                  for c in mine}
        for case_id in public_cases_without_a_passing_twin(passed, hidden_twins(mine)):  # as graded
            passed[case_id] = False
        outputs = {cid: returned_arrays(r) for cid, r in records.items()}
        differs = frozenset(c.case_id for c in mine if not c.check
                            and not same_outputs(c, outputs[c.case_id], tuple(expected[c.case_id])))
        if all(passed.values()):  # a mistake no case catches cannot be recognised
            return None
        return MistakeProfile(mistake, mine, passed, outputs, differs)

    @staticmethod
    def _function(mistake: Mistake, case: Case, reference, probes) -> Callable:
        if not case.probe:
            return mistake.implementation
        functions = dict(vars(reference))
        functions[mistake.question] = mistake.implementation
        probe = getattr(probes, case.probe)
        return lambda *args, **kwargs: probe(MappingProxyType(functions), *args, **kwargs)

    @classmethod
    def for_assignment(cls, assignment, cases: Sequence[Case] | None = None) -> Diagnoser:
        return cls(assignment.mistakes, assignment.cases if cases is None else cases,
                   assignment.expected, reference=assignment.reference, probes=assignment.probes,
                   checks=assignment.probes_and_checks.checks)

    def match(self, passed: Mapping[str, bool], outputs: Mapping[str, Outputs]) -> list[Mistake]:
        """The mistakes whose profile the submission shows, in the assignment's order.

        ``passed``: case_id -> did the submission pass it; ``outputs``: case_id -> what it
        returned (missing or None: it raised or returned nothing usable).
        """
        failed = {c.question for c in self._cases if passed.get(c.case_id) is False}
        found = []
        for mistake in self._mistakes:
            if mistake.question not in failed:
                continue  # rule 1: a mistake fails at least one case, so it cannot be shown here
            profile = next((p for p in self._profiles_of(mistake.question) if p.mistake is mistake), None)
            if profile is None:
                continue
            ids = [c.case_id for c in profile.cases]
            if any(cid not in passed for cid in ids):
                continue
            if any(passed[cid] != profile.passed[cid] for cid in ids):
                continue
            if any(profile.outputs[cid] is not None and outputs.get(cid) is None for cid in ids):
                continue
            if all(same_outputs(case, outputs.get(case.case_id), profile.outputs[case.case_id])
                   for case in profile.cases if case.case_id in profile.differs):
                found.append(profile.mistake)
        return found
