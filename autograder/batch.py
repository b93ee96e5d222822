"""Grading a class: every submission in a folder or zip, one gradebook row each, whatever happens.

    find submissions (LMS layouts) -> skip those cached with unchanged content and tests
    -> grade the rest in parallel (one sandbox uid per worker), caching each as it ends
    -> rebuild gradebook.csv, feedback/<id>.txt, report.html, results.json from the cache

A submission that breaks the kit itself (a bug of ours) still gets its row, with status
``grader_error`` (not cached, so the next run tries again); the batch never stops because
of one submission. Outputs are deterministic: rows sorted by student id, nothing timed in
the gradebook, and a re-run that grades nothing writes the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from . import submission as submissions
from .assignment import Assignment
from .cases import points_per_question
from .diagnose import Diagnoser
from .evaluate import CaseResult
from .feedback import feedback_text
from .grade import GRADED, GRADER_ERROR, CallPlan, SubmissionResult, grade_submission
from .gradebook import write_gradebook
from .progress import ProgressMeter
from .report import report_html
from .resume import ResultCache, content_hash, result_from_json, result_to_json, tests_fingerprint
from .sandbox import SandboxSettings, resolve_isolation


@dataclass
class GradedSubmission:
    """A result with what the batch knows around it."""

    result: SubmissionResult
    owner: dict  # autograder.lms.Owner.as_json()
    mistakes: dict[str, list[str]]  # question -> names of the common mistakes recognised


@dataclass
class BatchResult:
    results: list[SubmissionResult]  # sorted by submission id
    out_dir: Path
    gradebook: Path
    feedback_dir: Path
    report: Path
    warning: str
    graded: list[str] = field(default_factory=list)  # ids graded in this run
    reused: list[str] = field(default_factory=list)  # ids taken from the cache
    notes: list[str] = field(default_factory=list)
    submissions: list[GradedSubmission] = field(default_factory=list)
    interrupted: bool = False


def safe_filename(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._") or "submission"
    return cleaned[:120]


def feedback_names(ids: list[str]) -> dict[str, str]:
    """id -> feedback file name; ids that clean to the same name get a short hash."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for sid in sorted(ids):
        name = safe_filename(sid)
        if name in used:
            name = f"{name}-{hashlib.sha256(sid.encode()).hexdigest()[:8]}"
        used.add(name)
        names[sid] = name + ".txt"
    return names


def default_jobs() -> int:
    return os.cpu_count() or 1


def grade_batch(
    assignment: Assignment,
    submissions_path: Path,
    out_dir: Path,
    settings: SandboxSettings | None = None,
    *,
    public_only: bool = False,
    progress: Callable[[str], None] | None = None,
    meter: ProgressMeter | None = None,
    jobs: int | None = None,
    regrade: bool = False,
) -> BatchResult:
    """Grade every submission under ``submissions_path``; write all outputs to ``out_dir``.

    progress: receives text lines (warnings, notes, and one line per submission when no
              ``meter`` is given). meter: a progress bar (``autograder.progress``).
    jobs:     submissions graded at the same time (default: every core); worker k runs
              its sandboxes as uid 61000 + k, so workers never share processes or limits.
    regrade:  ignore the cache (it is still refreshed).
    Ctrl-C stops starting new submissions, lets running ones finish (and be cached),
    writes the outputs for what is graded, and re-raises KeyboardInterrupt.
    """
    say = progress or (lambda message: None)
    submissions_path = Path(submissions_path).resolve()
    out_dir = Path(out_dir).resolve()
    if submissions_path.is_dir() and out_dir.is_relative_to(submissions_path):
        raise ValueError(f"--out {out_dir} is inside the submissions folder; choose another folder")
    if not submissions_path.exists():
        raise FileNotFoundError(f"no such submission file or folder: {submissions_path}")
    jobs = max(1, jobs or default_jobs())
    settings = (settings or SandboxSettings()).with_default_limits(assignment.limits)
    _, warning = resolve_isolation(settings)
    if warning:
        (meter.note if meter else say)(f"WARNING: {warning}")
    cases = assignment.public_cases if public_only else assignment.cases
    expected = assignment.expected
    plan = CallPlan.for_cases(cases, assignment.harness)
    fingerprint = tests_fingerprint(assignment, settings, public_only)
    cache = ResultCache(out_dir / "cache")
    diagnoser = Diagnoser.for_assignment(assignment, cases)
    failed_runs: dict[str, dict] = {}  # grader errors: not cached, reported this run
    interrupted = False

    def grade_one(found: submissions.FoundSubmission, content: str, worker: int) -> dict:
        try:
            result = grade_submission(found.path, cases=cases, expected=expected,
                                      settings=settings, plan=plan, worker=worker)
        except Exception as exc:  # noqa: BLE001 - a kit bug must not cost anyone their row
            result = SubmissionResult(
                submission=found.student, path=found.label, status=GRADER_ERROR,
                case_results=[CaseResult(c, False, "not graded: grader error") for c in cases],
                messages=[f"internal grader error ({type(exc).__name__}: {exc}); please tell your TA"],
            )
            traceback.print_exc(file=sys.stderr)
        result.submission, result.path = found.student, found.label
        passed = {c.case.case_id: c.passed for c in result.case_results}
        mistakes: dict[str, list[str]] = {}
        if result.status != GRADER_ERROR and diagnoser is not None:
            for mistake in diagnoser.match(passed, result.outputs):
                mistakes.setdefault(mistake.question, []).append(mistake.name)
        entry = {"student": found.student, "content": content, "fingerprint": fingerprint,
                 "owner": found.owner.as_json(), "mistakes": mistakes, "result": result_to_json(result)}
        if result.status == GRADER_ERROR:
            failed_runs[found.student] = entry
        else:
            cache.store(entry)
        return entry

    with tempfile.TemporaryDirectory(prefix="ag-class-") as work:
        found, notes = submissions.find_submissions(submissions_path, Path(work))
        for note in notes:
            (meter.note if meter else say)(f"note: {note}")
        contents = {f.student: content_hash(f.path) for f in found}
        todo, reused = [], []
        for f in found:
            entry = None if regrade else cache.load(f.student, contents[f.student], fingerprint)
            (reused if entry else todo).append((f, entry))
        if meter:
            meter.start(len(found), len(reused),
                        sum(1 for _, e in reused if e["result"]["status"] != GRADED))
        elif reused:
            say(f"{len(reused)} of {len(found)} already graded (cache; --regrade to grade again)")
        free_workers: queue.SimpleQueue[int] = queue.SimpleQueue()
        for worker in range(jobs):
            free_workers.put(worker)

        def task(f: submissions.FoundSubmission) -> dict:
            worker = free_workers.get()
            try:
                return grade_one(f, contents[f.student], worker)
            finally:
                free_workers.put(worker)

        graded_now: list[str] = []
        max_score = sum(points_per_question(assignment.questions, cases).values())
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grader")
        futures = []
        try:
            futures = [pool.submit(task, f) for f, _ in todo]
            for n, future in enumerate(as_completed(futures), start=1):
                entry = future.result()
                graded_now.append(entry["student"])
                data = entry["result"]
                if meter:
                    meter.update(data["status"] == GRADED)
                else:
                    score = _score(data, cases)
                    say(f"[{n}/{len(todo)}] {entry['student']}: {data['status']}, "
                        f"{score:g}/{max_score:g} ({data['seconds']:.2f} s)")
        except KeyboardInterrupt:
            interrupted = True
            for future in futures:
                future.cancel()
            (meter.note if meter else say)(
                "interrupted: waiting for the submissions being graded to finish; "
                "everything graded is cached, run the same command again to resume")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if meter:
                meter.close()

    batch = write_outputs(assignment, found, cache, contents, fingerprint, failed_runs, out_dir,
                          cases=cases, public_only=public_only, warning=warning)
    batch.graded = sorted(graded_now)
    batch.reused = sorted(f.student for f, _ in reused)
    batch.notes = notes
    batch.interrupted = interrupted
    if interrupted:
        raise KeyboardInterrupt
    return batch


def _score(data: dict, cases) -> float:
    points = {c.case_id: c.points for c in cases}
    return sum(points[c["case"]] for c in data["cases"] if c["passed"])


def write_outputs(assignment: Assignment, found, cache: ResultCache, contents: dict[str, str],
                  fingerprint: str, extra: dict[str, dict], out_dir: Path, *, cases,
                  public_only: bool, warning: str) -> BatchResult:
    """gradebook.csv, feedback/, report.html and results.json, from the cache alone.

    Submissions not (yet) graded, e.g. after an interruption, are left out of this
    partial set of outputs; the next run completes them.
    """
    questions = assignment.questions
    points = points_per_question(questions, cases)
    mistakes_by_name = {m.name: m for m in assignment.mistakes}
    graded: list[GradedSubmission] = []
    for f in sorted(found, key=lambda f: f.student):
        entry = cache.load(f.student, contents[f.student], fingerprint) or extra.get(f.student)
        if entry is None:
            continue
        try:
            result = result_from_json(entry["result"], cases)
        except (KeyError, TypeError, ValueError):
            continue
        graded.append(GradedSubmission(result, entry.get("owner", {}), entry.get("mistakes", {})))
    results = [g.result for g in graded]
    feedback_dir = out_dir / "feedback"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    names = feedback_names([r.submission for r in results])
    for g in graded:
        text = feedback_text(
            g.result, title=assignment.title, questions=questions, question_points=points,
            public_only=public_only,
            mistakes={q: [mistakes_by_name[n] for n in ns if n in mistakes_by_name]
                      for q, ns in g.mistakes.items()},
        )
        _write_atomic(feedback_dir / names[g.result.submission], text)
    for stale in feedback_dir.glob("*.txt"):
        if stale.name not in set(names.values()):
            stale.unlink()
    gradebook = out_dir / "gradebook.csv"
    max_score = sum(points.values())
    write_gradebook(gradebook, results, questions, max_score)
    report = out_dir / "report.html"
    _write_atomic(report, report_html(
        results, title=assignment.title, questions=questions, question_points=points,
        warning=warning, mistakes=assignment.mistakes,
        recognised={g.result.submission: g.mistakes for g in graded},
    ))
    _write_atomic(out_dir / "results.json",
                  json.dumps(_results_json(assignment, graded, max_score), indent=1) + "\n")
    return BatchResult(results, out_dir, gradebook, feedback_dir, report, warning, submissions=graded)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _results_json(assignment: Assignment, graded: list[GradedSubmission], max_score: float) -> dict:
    return {
        "assignment": assignment.name,
        "title": assignment.title,
        "max_score": max_score,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "submissions": [
            {
                "submission": g.result.submission,
                "source": g.result.path,
                "lms": g.owner,
                "status": g.result.status,
                "score": g.result.score,
                "isolated": g.result.isolated,
                "seconds": round(g.result.seconds, 3),
                "messages": g.result.messages,
                "mistakes": g.mistakes,
                "cases": [
                    {"case": c.case.case_id, "passed": c.passed, "points": c.points, "reason": c.reason}
                    for c in g.result.case_results
                ],
            }
            for g in graded
        ],
    }
