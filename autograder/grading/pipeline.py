"""One grading run, as its steps. Batch, Gradescope, the self-check and the coding exam call
these same steps, so none of them can lose one (the mistake diagnosis, the snapshot, the
one-row-per-submission rule).

    discover  the class's entries, metadata skipped     classroom.discover.list_class (batch, exam)
    read      the grader's private copy of one entry    read_submission
    run       its code in the sandbox, on the plan      grade.grade_submission, which then
    judge     the grader's verdict on every case          judges outside it (evaluate.evaluate_case)
    diagnose  the common mistakes its outputs show      diagnose_result
    record    the signed cache entry (batch, exam)      classroom.resume.record_result
    report    feedback, gradebook, report, results.json outputs.feedback.feedback_for; batch.write_batch_outputs

``Grading`` holds what every submission of one run is graded with; ``GradedSubmission`` is
the one result type every caller gets back (the sandbox's verdict, who it belongs to, the
mistakes recognised); ``result_data.result_to_json`` is the one place a result becomes data.
"""

from __future__ import annotations

import shutil
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..course.cases import Case, points_per_question
from ..course.mistakes import Mistake
from ..course.probes_and_checks import NO_PROBES_OR_CHECKS, ProbesAndChecks
from ..machine.faults import is_machine_fault, machine_fault
from ..sandbox import SandboxSettings
from . import gpu_stage
from . import submission as submissions
from .diagnose import Diagnoser
from .evaluate import CaseResult
from .grade import CallPlan, SubmissionResult, grade_submission
from .result_data import CACHEABLE_STATUSES, result_from_json, result_to_json
from .status import Status

UNREADABLE_REASON = "not graded: the submission could not be read"


@dataclass(frozen=True)
class Grading:
    """What every submission of one run is graded with.

    cases/expected: every counted case (the plan's, then the GPU stage's) and the reference's
    outputs (case_id -> arrays);
    settings: the sandbox settings, the assignment's limits already the defaults;
    diagnoser: the assignment's common mistakes (None: nothing to recognise);
    public_only: the run has only public cases (its feedback says the grade is partial);
    gpu: the GPU stage (``gpu_stage.GpuStage``), whose cases run after the plan's; None: none.
    """

    title: str
    questions: tuple[str, ...]
    cases: tuple[Case, ...]
    expected: Mapping[str, tuple[np.ndarray, ...]]
    settings: SandboxSettings
    plan: CallPlan
    diagnoser: Diagnoser | None = None
    mistakes: tuple[Mistake, ...] = ()
    public_only: bool = False
    gpu: gpu_stage.GpuStage | None = None

    @classmethod
    def for_assignment(cls, assignment, settings: SandboxSettings | None = None, *,
                       public_only: bool = False, gpu: gpu_stage.GpuStage | None = None) -> Grading:
        """All of the assignment's cases (or its public ones), under its limits, with its mistakes."""
        cases = tuple(assignment.public_cases if public_only else assignment.cases)
        return cls(title=assignment.title, questions=tuple(assignment.questions),
                   cases=cases + gpu_stage.counted(gpu), expected=assignment.expected,
                   settings=(settings or SandboxSettings()).with_default_limits(assignment.limits),
                   plan=CallPlan.for_cases(cases, assignment.probes_and_checks),
                   diagnoser=Diagnoser.for_assignment(assignment, cases),
                   mistakes=tuple(assignment.mistakes), public_only=public_only, gpu=gpu)

    @classmethod
    def for_cases(cls, *, title: str, questions, cases, expected, settings: SandboxSettings,
                  probes_and_checks: ProbesAndChecks = NO_PROBES_OR_CHECKS, diagnoser: Diagnoser | None = None,
                  mistakes=(), public_only: bool = False) -> Grading:
        """A run on cases that are not an assignment's own (the self-check, a coding exam)."""
        cases = tuple(cases)
        return cls(title=title, questions=tuple(questions), cases=cases, expected=expected,
                   settings=settings, plan=CallPlan.for_cases(cases, probes_and_checks), diagnoser=diagnoser,
                   mistakes=tuple(mistakes), public_only=public_only)

    @property
    def question_points(self) -> dict[str, float]:
        return points_per_question(self.questions, self.cases)

    @property
    def max_score(self) -> float:
        return sum(self.question_points.values())


@dataclass
class GradedSubmission:
    """A result with what the run knows around it: the one result type of every caller."""

    result: SubmissionResult
    owner: dict = field(default_factory=dict)  # autograder.grading.lms_names.Owner.as_json()
    mistakes: dict[str, list[str]] = field(default_factory=dict)  # question -> mistake names

    def cache_entry(self, content: str) -> dict:
        """The data ``resume.ResultCache.store`` signs (``content``: the graded copy's hash)."""
        return {"student": self.result.submission, "content": content, "owner": self.owner,
                "mistakes": self.mistakes, "result": result_to_json(self.result)}

    @classmethod
    def from_cache_entry(cls, entry: dict, cases) -> GradedSubmission:
        """The inverse of ``cache_entry`` (for an entry ``ResultCache.load`` believed)."""
        return cls(result_from_json(entry["result"], cases), entry["owner"], entry["mistakes"])


# --- the steps ------------------------------------------------------------------------------

def not_graded(student: str, label: str, cases, status: str, message: str,
               reason: str) -> SubmissionResult:
    """The row of a submission nothing could be run for: every case failed with ``reason``."""
    return SubmissionResult(submission=student, path=label, status=status,
                            case_results=[CaseResult(c, False, reason) for c in cases], messages=[message])


def grader_error(student: str, label: str, cases, exc: BaseException) -> SubmissionResult:
    """A bug of the kit's: the traceback for the TA, a row for the student (never cached)."""
    traceback.print_exception(exc, file=sys.stderr)
    return not_graded(student, label, cases, Status.GRADER_ERROR,
                      f"internal grader error ({type(exc).__name__}: {exc}); please tell your TA",
                      "not graded: grader error")


def read_submission(found: submissions.FoundSubmission, copy_dir: Path) -> submissions.Snapshot:
    """The grader's private copy of one entry (what is graded, hashed and cached)."""
    return submissions.snapshot(found.path, copy_dir)


def run_and_judge(grading: Grading, path: Path, *, worker: int = 0) -> SubmissionResult:
    """Run the code at ``path`` in the sandbox on the plan, then the GPU stage's cases (if
    any); the grader judges every case."""
    result = grade_submission(path, cases=grading.plan.cases, expected=grading.expected,
                              settings=grading.settings, plan=grading.plan, worker=worker)
    gpu_stage.grade_into(grading.gpu, result, path, worker)
    return result


def diagnose_result(diagnoser: Diagnoser | None, result: SubmissionResult) -> dict[str, list[str]]:
    """question -> names of the common mistakes ``result``'s outputs show ({} when none).

    Naming a mistake is a nicety: a failure here is logged and the grade stands without it.
    """
    if diagnoser is None or result.status == Status.GRADER_ERROR:
        return {}
    passed = {c.case.case_id: c.passed for c in result.case_results}
    mistakes: dict[str, list[str]] = {}
    try:
        for mistake in diagnoser.match(passed, result.outputs):
            mistakes.setdefault(mistake.question, []).append(mistake.name)
    except Exception:  # noqa: BLE001 - see the docstring
        traceback.print_exc(file=sys.stderr)
        return {}
    return mistakes


def settle(result: SubmissionResult, cases) -> SubmissionResult:
    """The result as the cache gives it back (rounded seconds, plain types, no outputs), so a
    run that grades and a run that reuses write the same bytes."""
    if result.status in CACHEABLE_STATUSES:
        return result_from_json(result_to_json(result), cases)
    return replace(result, seconds=round(result.seconds, 3), outputs={})


def grade_path(grading: Grading, path: Path, *, worker: int = 0, owner: dict | None = None) -> GradedSubmission:
    """run -> judge -> diagnose for a submission the grader already holds (Gradescope's
    folder, a self-check's file); the result as it would be cached (``settle``)."""
    result = run_and_judge(grading, Path(path), worker=worker)
    return GradedSubmission(settle(result, grading.cases), owner or {}, diagnose_result(grading.diagnoser, result))


def grade_found(grading: Grading, found: submissions.FoundSubmission, copy_dir: Path, *,
                worker: int = 0, roots=()) -> tuple[GradedSubmission, str | None]:
    """read -> run -> judge -> diagnose for one entry of a class, whatever happens.

    Returns the graded submission and the content hash of the copy that was graded (None
    when nothing was: such a row is never cached). An unreadable entry is an
    ``invalid_submission`` row, a bug of the kit a ``grader_error`` row; a write refused
    under ``roots`` (TMPDIR, the output folder) is the machine's fault
    (``faults.MachineFault``, raised).
    """
    cases = grading.cases
    content = None
    try:
        snap = read_submission(found, copy_dir)
        content = snap.content
        result = run_and_judge(grading, snap.path, worker=worker)
    except submissions.InvalidSubmission as exc:
        content, result = None, not_graded(found.student, found.label, cases, Status.INVALID, str(exc),
                                           UNREADABLE_REASON)
    except OSError as exc:
        if roots and is_machine_fault(exc, roots):  # a write without a file name: the copy or the inputs
            raise machine_fault(exc, exc.filename or roots[0]) from None
        content, result = None, grader_error(found.student, found.label, cases, exc)
    except Exception as exc:  # noqa: BLE001 - a kit bug must not cost anyone their row
        content, result = None, grader_error(found.student, found.label, cases, exc)
    finally:
        shutil.rmtree(copy_dir, ignore_errors=True)
    result.submission, result.path = found.student, found.label
    graded = GradedSubmission(settle(result, cases), found.owner.as_json(),
                              diagnose_result(grading.diagnoser, result))
    if result.status not in CACHEABLE_STATUSES:
        content = None
    return graded, content
