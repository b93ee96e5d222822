"""Grading one submission: read it, run it in the sandbox, judge every case.

    load submission -> write inputs (code, calls, arrays) -> sandboxed runner
    -> validate result stream -> compare with reference outputs -> SubmissionResult

Whatever the submission does, the result is one ``SubmissionResult`` with a status
from the contract. The score is the sum of the points of the cases whose returned
arrays the grader itself found correct; nothing the submission says about itself
(stdout, exit code, claims in its results) can add a point.

The result stream must follow the protocol (``sandbox.protocol.read_stream``): the load
report, one record per call in the order asked, the end. From the first record out of place
the run's remaining cases score 0 and the status is ``tampered``. Records in their place
are accepted as they are, forged or not: a plain call's record can only carry values its
function could have returned, so forging one gains nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..course.assignment import Assignment
from ..course.cases import Case
from ..course.probes_and_checks import NO_PROBES_OR_CHECKS, ProbesAndChecks
from ..machine.tempdirs import kit_tempdir
from ..sandbox import RunOutcome, SandboxSettings, run_runner
from ..sandbox.protocol import Record, Stream, read_stream
from . import submission as submissions
from .evaluate import CaseResult, Context, count_public_cases_with_twins, evaluate_case, returned_arrays
from .load_messages import load_cells, runtime_errors, syntax_errors
from .redact import redact
from .status import Status

# Statuses, in the contract's words (autograder.grading.status.Status); the short names stay for callers.
GRADED = Status.GRADED
SYNTAX_ERROR = Status.SYNTAX_ERROR
TIMEOUT = Status.TIMEOUT
MEMORY = Status.MEMORY
CRASHED = Status.CRASHED
INVALID = Status.INVALID
GRADER_ERROR = Status.GRADER_ERROR  # a fault in the kit itself; the row still appears
TAMPERED = Status.TAMPERED  # the result stream broke the protocol: records forged, repeated or reordered


# Re-runs after a stalled function stop once grading one submission has taken this many
# wall-clock limits, so one submission cannot hold up a class for long.
RERUN_BUDGET = 2


@dataclass
class SubmissionResult:
    submission: str
    path: str
    status: Status  # a str: "graded", "timeout", ...
    case_results: list[CaseResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # for the student, in order
    isolated: bool = False
    # How the run was confined, in words for the instructor (RunOutcome.isolation).
    isolation: str = ""
    seconds: float = 0.0
    # case_id -> what the call returned (None: raised, or never ran); for recognising
    # common mistakes in reports. Untrusted data, already validated by the protocol.
    outputs: dict[str, tuple[np.ndarray, ...] | None] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(result.points for result in self.case_results)

    def question_scores(self, questions) -> dict[str, float]:
        scores = dict.fromkeys(questions, 0.0)
        for result in self.case_results:
            scores[result.case.question] += result.points
        return scores


@dataclass
class CallPlan:
    """The calls every submission receives, serialised once per batch, and what they need
    besides the cases (probes, checks, mounts)."""

    cases: tuple[Case, ...]
    call_ids: tuple[str, ...]  # call_ids[i] is the runner's id for cases[i]
    calls_json: str
    arrays: dict[str, np.ndarray]
    probes_and_checks: ProbesAndChecks = NO_PROBES_OR_CHECKS

    @classmethod
    def for_cases(cls, cases, probes_and_checks: ProbesAndChecks = NO_PROBES_OR_CHECKS) -> CallPlan:
        calls, arrays = [], {}

        def ref(value, key):
            if isinstance(value, np.ndarray):
                arrays[key] = value
                return {"array": key}
            return {"value": value}

        for n, case in enumerate(cases):
            call_id = f"c{n:04d}"
            call = {
                "id": call_id,
                "function": case.question,
                "args": [ref(a, f"{call_id}_a{i}") for i, a in enumerate(case.args)],
                "kwargs": {k: ref(v, f"{call_id}_k_{k}") for k, v in case.kwargs.items()},
            }
            if case.probe:
                call["probe"] = case.probe
            calls.append(call)
        if any(c.probe for c in cases) and probes_and_checks.probes_source is None:
            raise ValueError("cases use probes, but there is no probes.py")
        return cls(cases=tuple(cases), call_ids=tuple(c["id"] for c in calls),
                   calls_json=json.dumps(calls), arrays=arrays, probes_and_checks=probes_and_checks)

    def subset(self, cases) -> CallPlan:
        """The plan for some of the cases, with the same probes and checks."""
        return CallPlan.for_cases(cases, self.probes_and_checks)

    def write(self, directory: Path) -> None:
        (directory / "calls.json").write_text(self.calls_json, encoding="utf-8")
        np.savez(directory / "arrays.npz", **self.arrays)
        if self.probes_and_checks.probes_source is not None:
            (directory / "probes.py").write_text(self.probes_and_checks.probes_source, encoding="utf-8")


def grade_submission(
    path: Path,
    *,
    cases: tuple[Case, ...],
    expected: dict[str, tuple[np.ndarray, ...]],
    settings: SandboxSettings,
    plan: CallPlan | None = None,
    worker: int = 0,
    probes_and_checks: ProbesAndChecks = NO_PROBES_OR_CHECKS,
) -> SubmissionResult:
    """Grade the submission at ``path`` on ``cases`` against ``expected`` outputs.

    ``expected`` maps ``case.case_id`` to the reference outputs; ``plan`` (the serialised
    calls, probes and checks) may be shared across a batch; without one, it is made from
    ``cases`` and ``probes_and_checks``. When a run stops part-way (a call that never
    returns, or that ends the process), the function that stopped it gets no further
    calls and the others are run again in a fresh sandbox: one endless loop costs one
    function, not the whole submission. A run that timed out because the machine starved
    it of CPU is run once more; starved again, the result is ``grader_error``.

    The feedback echoes the submission's own words (exception messages, warnings, printed
    output) only when every case is public (the self-check): in a run with hidden inputs
    anything the code writes could carry them.
    """
    started = time.monotonic()
    plan = plan or CallPlan.for_cases(cases, probes_and_checks)
    checks = plan.probes_and_checks.checks
    result = SubmissionResult(submission=submissions.student_id(path), path=str(path), status=GRADED)
    try:
        code = submissions.load(path)
    except submissions.InvalidSubmission as exc:
        result.status = INVALID
        result.messages.append(str(exc))
        result.case_results = [CaseResult(c, False, "not graded: the submission could not be read")
                               for c in cases]
        result.seconds = time.monotonic() - started
        return result
    result.messages.extend(code.notes)
    context = Context(echo=all(c.public for c in cases), cells=tuple(code.cells),
                      known_names=frozenset(c.question for c in plan.cases))
    runs = _run_all(code, plan, settings, worker, started)
    records = {}
    for run in runs:
        records.update(run.calls)
    tampered = {case.case_id for run in runs if run.stream.tampered
                for case in run.plan.cases if case.case_id not in run.calls}
    stopped = {run.stopped_by for run in runs if run.stopped_by}
    result.isolated = runs[-1].outcome.isolated
    result.isolation = runs[-1].outcome.isolation
    compile_messages = syntax_errors(code.cells, runs[0].stream.load)
    result.messages.extend(compile_messages)
    result.messages.extend(runtime_errors(runs[0].stream.load, code.cells, echo=context.echo))
    result.case_results = [
        CaseResult(case, False, TAMPERED_REASON) if case.case_id in tampered
        else _stopped_case(case) if case.case_id not in records and case.question in stopped
        else evaluate_case(case, expected[case.case_id], records.get(case.case_id),
                           checks.get(case.check) if case.check else None, context)
        for case in cases
    ]
    result.case_results = count_public_cases_with_twins(result.case_results)
    result.outputs = {case.case_id: returned_arrays(records.get(case.case_id)) for case in cases}
    result.status = _status(result, runs, syntax_error=bool(compile_messages))
    result.seconds = time.monotonic() - started
    last = runs[-1].outcome
    if context.echo and last.log.strip() and result.status in (CRASHED, MEMORY):
        tail = "\n".join(last.log.strip().splitlines()[-15:])
        result.messages.append("last lines your code printed:\n" + redact(tail))
    return result


TAMPERED_REASON = "not graded: the result stream was tampered with (see the messages above)"
STARVED_RETRIES = 1


@dataclass
class _Run:
    plan: CallPlan
    outcome: RunOutcome
    stream: Stream
    calls: dict[str, Record]  # case_id -> record
    stopped_by: str | None = None  # the function whose call stopped this run

    @property
    def finished(self) -> bool:
        return self.stream.finished

    @property
    def starved(self) -> bool:
        return self.outcome.timed_out and self.outcome.starved


def _run_all(code, plan: CallPlan, settings: SandboxSettings, worker: int, started: float) -> list[_Run]:
    """Every run one submission needs: the first, the re-runs after a stalled function, and
    one more where the machine starved a run of CPU. The result budget is shared by all the
    runs whose records are kept."""
    limits = settings.resolved_limits()
    runs: list[_Run] = []
    stopped: set[str] = set()  # functions that stopped a run
    kept_bytes = 0
    retries = STARVED_RETRIES
    pending = plan
    while True:
        run = _run_once(code, pending, settings, limits.result_bytes - kept_bytes, worker)
        if run.starved and retries:
            retries -= 1  # the machine's fault: the same calls again, in a fresh sandbox
            continue
        runs.append(run)
        kept_bytes += run.stream.spent
        if run.finished or run.stream.tampered or run.starved or run.stream.load is None \
                or _load_timed_out(run.stream.load):
            break  # done, cheated, the machine failed twice, or the top-level code itself failed
        missing = [c for c in pending.cases if c.case_id not in run.calls]
        if run.stream.over_budget or kept_bytes >= limits.result_bytes:
            break  # no room left for more results
        if not missing or time.monotonic() - started > RERUN_BUDGET * limits.wall_seconds:
            break  # nothing left, or a submission stalling again and again: stop spending time
        run.stopped_by = missing[0].question  # the call that was running when it stopped
        stopped.add(run.stopped_by)
        rest = tuple(c for c in missing if c.question not in stopped)
        if not rest:
            break
        pending = plan.subset(rest)
    return runs


def _run_once(code, plan: CallPlan, settings: SandboxSettings, budget: int, worker: int) -> _Run:
    with kit_tempdir("in") as tmp:  # owner-tagged: swept if this grader is killed
        inputs = Path(tmp)
        write_inputs(inputs, code.cells, code.module_name, plan)
        outcome = run_runner(inputs, settings, worker=worker, mounts=plan.probes_and_checks.mounts)
    stream = read_stream(outcome.results, plan.call_ids, budget=max(budget, 0))
    outcome.results = b""  # parsed: the raw bytes need not outlive this call
    ids = dict(zip(plan.call_ids, (case.case_id for case in plan.cases), strict=True))
    calls = {ids[call_id]: record for call_id, record in stream.calls.items()}
    return _Run(plan=plan, outcome=outcome, stream=stream, calls=calls)


def _load_timed_out(load: Record) -> bool:
    return any(c.get("timeout") for c in load_cells(load))


def _stopped_case(case: Case) -> CaseResult:
    return CaseResult(case, False, f"{case.question} stopped the run (it did not return within the time "
                                   "limit, or ended the process); its remaining calls were not made")


def write_inputs(directory: Path, cells: list[str], module_name: str, plan: CallPlan) -> None:
    """The runner's read-only inputs: code, calls and arguments (nothing hidden is among them)."""
    (directory / "code.json").write_text(json.dumps({
        "cells": cells, "module": module_name,
        "import_paths": list(plan.probes_and_checks.import_paths),
    }), encoding="utf-8")
    plan.write(directory)
    for item in directory.iterdir():
        item.chmod(0o644)
    directory.chmod(0o755)  # the sandbox uid must read it


def grade_for_assignment(assignment: Assignment, path: Path, settings: SandboxSettings,
                         **kwargs) -> SubmissionResult:
    """All of the assignment's cases (public and hidden), under its limits."""
    return grade_submission(path, cases=assignment.cases, expected=assignment.expected,
                            settings=settings.with_default_limits(assignment.limits),
                            probes_and_checks=assignment.probes_and_checks, **kwargs)


def _status(result: SubmissionResult, runs: list[_Run], *, syntax_error: bool) -> str:
    first = runs[0]
    cells = load_cells(first.stream.load)
    tampered = next((run.stream.problem for run in runs if run.stream.tampered), None)
    if tampered:
        result.messages.insert(0, f"the result stream was tampered with ({tampered}): every call "
                                  "from that point on scores 0")
        return TAMPERED
    if runs[-1].starved:
        result.messages.insert(0, "the grading machine was too busy to run your code in time (the "
                                  "grader's fault, not yours): your submission must be graded again")
        return GRADER_ERROR
    if any(run.outcome.memory_exceeded for run in runs):
        result.messages.insert(0, "your code ran out of memory: together, its processes used more "
                                  "than the grader allows")
        return MEMORY
    if any(run.outcome.timed_out or run.outcome.cpu_limited for run in runs) or any(
        c.get("timeout") for c in cells
    ):
        result.messages.insert(0, "your code was stopped: it exceeded the time limit "
                                  "(an endless loop or a very slow computation?)")
        return TIMEOUT
    errors = [c.get("error") for c in cells] + [
        r.meta.get("error") for run in runs for r in run.calls.values()
    ]
    if any(isinstance(e, dict) and e.get("memory") for e in errors):
        result.messages.insert(0, "your code ran out of memory (MemoryError): it tried to allocate "
                                  "more than the grader allows")
        return MEMORY
    if any(run.outcome.results_overflow or run.stream.over_budget for run in runs):
        result.messages.insert(0, "your code produced more output data than the grader accepts")
        return CRASHED
    for run in runs:
        if run.stream.problem:
            result.messages.insert(0, f"the results of your run could not be read ({run.stream.problem})")
    if not all(run.finished for run in runs):
        result.messages.insert(0, "your code ended the grading process early (for example with "
                                  "os._exit or a crash); calls after that point got no result")
        return CRASHED
    if syntax_error:
        return SYNTAX_ERROR
    return GRADED
