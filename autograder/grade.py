"""Grading one submission: read it, run it in the sandbox, judge every case.

    load submission -> write inputs (code, calls, arrays) -> sandboxed runner
    -> validate result stream -> compare with reference outputs -> SubmissionResult

Whatever the submission does, the result is one ``SubmissionResult`` with a status
from the contract. The score is the sum of the points of the cases whose returned
arrays the grader itself found correct; nothing the submission says about itself
(stdout, exit code, claims in its results) can add a point.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import submission as submissions
from .assignment import Assignment
from .cases import Case
from .evaluate import CaseResult, evaluate_case, location, returned_arrays
from .harness import NO_HARNESS, Harness
from .redact import redact
from .sandbox import Limits, Record, RunOutcome, SandboxSettings, parse_records, run_runner

# Statuses, in the contract's words. "graded": the submission ran to the end.
GRADED = "graded"
SYNTAX_ERROR = "syntax_error"
TIMEOUT = "timeout"
MEMORY = "memory"
CRASHED = "crashed"
INVALID = "invalid_submission"
GRADER_ERROR = "grader_error"  # a fault in the kit itself; the row still appears


# Re-runs after a stalled function stop once grading one submission has taken this many
# wall-clock limits, so one submission cannot hold up a class for long.
RERUN_BUDGET = 2


@dataclass
class SubmissionResult:
    submission: str
    path: str
    status: str
    case_results: list[CaseResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # for the student, in order
    isolated: bool = False
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
    """The calls every submission receives, serialised once per batch, and the harness
    (probes, checks, mounts) they need."""

    cases: tuple[Case, ...]
    call_ids: tuple[str, ...]  # call_ids[i] is the runner's id for cases[i]
    calls_json: str
    arrays: dict[str, np.ndarray]
    harness: Harness = NO_HARNESS

    @classmethod
    def for_cases(cls, cases, harness: Harness = NO_HARNESS) -> CallPlan:
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
        if any(c.probe for c in cases) and harness.probes_source is None:
            raise ValueError("cases use probes, but the harness has no probes.py")
        return cls(cases=tuple(cases), call_ids=tuple(c["id"] for c in calls),
                   calls_json=json.dumps(calls), arrays=arrays, harness=harness)

    def subset(self, cases) -> CallPlan:
        """The plan for some of the cases, with the same harness."""
        return CallPlan.for_cases(cases, self.harness)

    def write(self, directory: Path) -> None:
        (directory / "calls.json").write_text(self.calls_json)
        np.savez(directory / "arrays.npz", **self.arrays)
        if self.harness.probes_source is not None:
            (directory / "probes.py").write_text(self.harness.probes_source)


def grade_submission(
    path: Path,
    *,
    cases: tuple[Case, ...],
    expected: dict[str, tuple[np.ndarray, ...]],
    settings: SandboxSettings,
    plan: CallPlan | None = None,
    worker: int = 0,
    harness: Harness = NO_HARNESS,
) -> SubmissionResult:
    """Grade the submission at ``path`` on ``cases`` against ``expected`` outputs.

    ``expected`` maps ``case.case_id`` to the reference outputs; ``plan`` (the serialised
    calls and the harness) may be shared across a batch; without one, it is made from
    ``cases`` and ``harness``. When a run stops part-way (a call that never
    returns, or that ends the process), the function that stopped it gets no further
    calls and the others are run again in a fresh sandbox: one endless loop costs one
    function, not the whole submission.
    """
    started = time.monotonic()
    plan = plan or CallPlan.for_cases(cases, harness)
    checks = plan.harness.checks
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
    limits = settings.resolved_limits()
    runs: list[_Run] = []
    stopped: set[str] = set()  # functions that stopped a run
    pending = plan
    while True:
        run = _run_once(code, pending, settings, limits, worker)
        runs.append(run)
        result.isolated = run.outcome.isolated
        if run.finished or run.load is None or _load_timed_out(run.load):
            break  # done, or the top-level code itself failed: running it again changes nothing
        missing = [c for c in pending.cases if c.case_id not in run.calls]
        if not missing or time.monotonic() - started > RERUN_BUDGET * limits.wall_seconds:
            break  # nothing left, or a submission stalling again and again: stop spending time
        stopped.add(missing[0].question)  # the call that was running when it stopped
        rest = tuple(c for c in missing if c.question not in stopped)
        if not rest:
            break
        pending = plan.subset(rest)
    records = {}
    for run in runs:
        records.update(run.calls)
    _load_messages(result, runs[0].load, code.cells)
    result.case_results = [
        _stopped_case(case) if case.case_id not in records and case.question in stopped
        else evaluate_case(case, expected[case.case_id], records.get(case.case_id),
                           checks.get(case.check) if case.check else None)
        for case in cases
    ]
    result.outputs = {case.case_id: returned_arrays(records.get(case.case_id)) for case in cases}
    result.status = _status(result, runs)
    result.seconds = time.monotonic() - started
    last = runs[-1].outcome
    if last.log.strip() and result.status in (CRASHED, MEMORY):
        tail = "\n".join(last.log.strip().splitlines()[-15:])
        result.messages.append("last lines your code printed:\n" + redact(tail))
    return result


@dataclass
class _Run:
    outcome: RunOutcome
    load: Record | None
    calls: dict[str, Record]  # case_id -> record
    finished: bool
    problem: str | None


def _run_once(code, plan: CallPlan, settings: SandboxSettings, limits: Limits, worker: int) -> _Run:
    with tempfile.TemporaryDirectory(prefix="ag-in-") as tmp:
        inputs = Path(tmp)
        write_inputs(inputs, code.cells, code.module_name, plan)
        outcome = run_runner(inputs, settings, worker=worker, mounts=plan.harness.mounts)
    records, problem = parse_records(outcome.results, max_array_bytes=limits.result_bytes)
    ids = {call_id: case.case_id for case, call_id in zip(plan.cases, plan.call_ids, strict=True)}
    calls = {ids[str(r.meta.get("id"))]: r for r in records
             if r.kind == "call" and str(r.meta.get("id")) in ids}
    return _Run(
        outcome=outcome,
        load=next((r for r in records if r.kind == "load"), None),
        calls=calls,
        finished=any(r.kind == "done" for r in records),
        problem=problem,
    )


def _load_cells(load: Record | None) -> list[dict]:
    cells = load.meta.get("cells", []) if load else []
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def _load_timed_out(load: Record) -> bool:
    return any(c.get("timeout") for c in _load_cells(load))


def _stopped_case(case: Case) -> CaseResult:
    return CaseResult(case, False, f"{case.question} stopped the run (it did not return within the time "
                                   "limit, or ended the process); its remaining calls were not made")


def write_inputs(directory: Path, cells: list[str], module_name: str, plan: CallPlan) -> None:
    """The runner's read-only inputs: code, calls and arguments (nothing hidden is among them)."""
    (directory / "code.json").write_text(json.dumps({"cells": cells, "module": module_name}))
    plan.write(directory)
    for item in directory.iterdir():
        item.chmod(0o644)
    directory.chmod(0o755)  # the sandbox uid must read it


def grade_for_assignment(assignment: Assignment, path: Path, settings: SandboxSettings,
                         **kwargs) -> SubmissionResult:
    """All of the assignment's cases (public and hidden), under its limits."""
    return grade_submission(path, cases=assignment.cases, expected=assignment.expected,
                            settings=settings.with_default_limits(assignment.limits),
                            harness=assignment.harness, **kwargs)


def _load_messages(result: SubmissionResult, load: Record | None, cells: list[str]) -> None:
    for entry in _load_cells(load)[:50]:
        if isinstance(entry.get("syntax_error"), dict):
            err = entry["syntax_error"]
            result.messages.append(
                f"SyntaxError in {location(err, cells)}: {redact(str(err.get('message'))[:200])}"
            )
        elif isinstance(entry.get("error"), dict):
            err = entry["error"]
            running = location({"cell": entry.get("cell")}, cells)
            inner = location(err)
            at = f" (at {inner})" if inner and err.get("cell") != entry.get("cell") else (
                f", line {err['line']}" if isinstance(err.get("line"), int) else "")
            result.messages.append(
                f"while running {running}{at}: {str(err.get('type'))[:60]}: "
                f"{redact(str(err.get('message'))[:200])}"
            )


def _status(result: SubmissionResult, runs: list[_Run]) -> str:
    first = runs[0]
    cells = _load_cells(first.load)
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
    if any(run.outcome.results_overflow for run in runs):
        result.messages.insert(0, "your code produced more output data than the grader accepts")
        return CRASHED
    for run in runs:
        if run.problem:
            result.messages.insert(0, f"the results of your run could not be read ({run.problem})")
    if not all(run.finished for run in runs):
        result.messages.insert(0, "your code ended the grading process early (for example with "
                                  "os._exit or a crash); calls after that point got no result")
        return CRASHED
    if any(isinstance(c.get("syntax_error"), dict) for c in cells):
        return SYNTAX_ERROR
    return GRADED
