"""Grading a class: every submission in a folder or zip, one gradebook row each, whatever happens.

    claim DIR (one assignment, one run) -> list the class (every entry; metadata skipped and
    listed) -> hash each submission -> skip those whose signed cache entry is valid for this
    content and these tests -> grade the rest in parallel (one sandbox uid per worker), each
    on the grader's private copy of its files, caching each as it ends -> gradebook.csv,
    feedback/<id>.txt, report.html, results.json

A submission that breaks the kit itself (a bug of ours) still gets its row, with status
``grader_error`` (never cached, so the next run tries again); an entry that cannot be read
as a file (a link, a pipe, a device, an unreadable file) gets an ``invalid_submission`` row
naming the problem; the batch never stops because of one submission. It stops for the
machine (a full disk, a missing TMPDIR: ``faults.MachineFault``), keeping every result
already cached. Feedback files are written as results arrive and the gradebook every few
results, so a crash of the grader itself loses nothing finished. Outputs are deterministic:
rows sorted by student id, nothing timed in the gradebook, and a re-run that grades nothing
writes the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import outdir
from . import submission as submissions
from .assignment import Assignment
from .cases import points_per_question
from .diagnose import Diagnoser
from .evaluate import CaseResult
from .faults import MachineFault, check_temp_dir, is_machine_fault, machine_fault
from .feedback import feedback_text
from .files import safe_filename, write_atomic
from .grade import GRADED, GRADER_ERROR, INVALID, CallPlan, SubmissionResult, grade_submission
from .gradebook import write_gradebook
from .progress import ProgressMeter
from .report import report_html
from .resume import (
    CACHEABLE_STATUSES,
    CacheBinding,
    ResultCache,
    grader_key,
    result_from_json,
    result_to_json,
    tests_fingerprint,
)
from .sandbox import SandboxSettings, resolve_isolation
from .tempdirs import kit_tempdir, sweep_stale

# The gradebook is rewritten after this many new results, or this many seconds, whichever
# comes first, so that a crash of the grader loses no finished row.
GRADEBOOK_EVERY_RESULTS = 10
GRADEBOOK_EVERY_SECONDS = 10.0


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
    skipped: list[str] = field(default_factory=list)  # metadata entries, not submissions
    unreadable: list[str] = field(default_factory=list)  # ids whose entry could not be read as a file
    rejected: dict[str, str] = field(default_factory=dict)  # id -> why its cache entry was not believed

    @property
    def grader_errors(self) -> list[str]:
        return [r.submission for r in self.results if r.status == GRADER_ERROR]


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


def _not_graded(found: submissions.FoundSubmission, cases, status: str, message: str,
                reason: str) -> SubmissionResult:
    return SubmissionResult(submission=found.student, path=found.label, status=status,
                            case_results=[CaseResult(c, False, reason) for c in cases], messages=[message])


def _settled(result: SubmissionResult, cases) -> SubmissionResult:
    """The result as the cache gives it back (rounded seconds, plain types), so that a run
    that grades and a run that reuses write the same bytes."""
    if result.status in CACHEABLE_STATUSES:
        return result_from_json(result_to_json(result), cases)
    return replace(result, seconds=round(result.seconds, 3), outputs={})


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
    wait: bool = False,
    late=None,
) -> BatchResult:
    """Grade every submission under ``submissions_path``; write all outputs to ``out_dir``.

    progress: receives text lines (warnings, notes, and one line per submission when no
              ``meter`` is given). meter: a progress bar (``autograder.progress``).
    jobs:     submissions graded at the same time (default: every core); worker k runs
              its sandboxes as uid 61000 + k, so workers never share processes or limits.
    regrade:  ignore the cache (it is still refreshed).
    wait:     when another run holds ``out_dir``, wait for it instead of refusing.
    late:     a ``late_grading.LateInputs``: its penalties are applied to the outputs while
              this run still holds ``out_dir`` (gradebook late columns, feedback, results.json).
    Ctrl-C (or SIGTERM, with ``tempdirs.exit_cleanly_on_sigterm``) stops starting new
    submissions, lets running ones finish (and be cached), writes the outputs for what is
    graded, and re-raises. Raises ``MachineFault`` for a fault of the machine (after writing
    what it can), ``outdir.OutDirInUse`` when ``out_dir`` holds another assignment or run.
    """
    say = progress or (lambda message: None)
    note = meter.note if meter else say
    submissions_path = Path(os.path.abspath(submissions_path))
    out_dir = Path(out_dir).resolve()
    if not os.path.lexists(submissions_path):
        raise FileNotFoundError(f"no such submission file or folder: {submissions_path}")
    if submissions_path.exists():  # the TA's own path may go through links; a broken one is a row
        submissions_path = submissions_path.resolve()
    if submissions_path.is_dir() and out_dir.is_relative_to(submissions_path):
        raise ValueError(f"--out {out_dir} is inside the submissions folder; choose another folder")
    swept = sweep_stale()
    if swept:
        note(f"note: removed {len(swept)} temporary folder(s) left behind by a grader that was killed")
    temp_root = check_temp_dir()
    jobs = max(1, jobs or default_jobs())
    settings = (settings or SandboxSettings()).with_default_limits(assignment.limits)
    _, warning = resolve_isolation(settings)
    if warning:
        note(f"WARNING: {warning}")
    cases = assignment.public_cases if public_only else assignment.cases
    plan = CallPlan.for_cases(cases, assignment.harness)
    binding = CacheBinding(assignment.name, tests_fingerprint(assignment, settings, public_only), tuple(cases))
    with outdir.claim(out_dir, assignment.name, wait=wait, say=note):
        try:
            remove_temporary_files(out_dir)
            cache = ResultCache(out_dir / "cache", grader_key(out_dir / "cache"), binding)
        except OSError as exc:
            raise machine_fault(exc, out_dir, already_saved=False) from None
        with kit_tempdir("class") as work:
            return _grade_class(assignment, submissions_path, out_dir, settings, cache, plan,
                                Path(work), roots=(temp_root.resolve(), out_dir),
                                public_only=public_only, say=say, note=note, meter=meter, jobs=jobs,
                                regrade=regrade, warning=warning, late=late)


def _grade_class(assignment, submissions_path: Path, out_dir: Path, settings: SandboxSettings,
                 cache: ResultCache, plan: CallPlan, work: Path, *, roots, public_only, say, note,
                 meter, jobs, regrade, warning, late=None) -> BatchResult:
    cases = plan.cases
    diagnoser = Diagnoser.for_assignment(assignment, cases)
    listing = submissions.list_class(submissions_path, work)
    for text in listing.notes:
        note(f"note: {text}")
    for label in listing.skipped:
        note(f"skipped (not a submission): {label}")
    found = listing.found
    names = feedback_names([f.student for f in found])
    done: dict[str, GradedSubmission] = {}  # student -> result, reused or graded now
    graded_now: list[str] = []
    contents: dict[str, str] = {}
    unreadable = []
    for f in found:
        try:
            contents[f.student] = submissions.content_hash(f.path)
        except submissions.InvalidSubmission as exc:
            unreadable.append(f.student)
            done[f.student] = GradedSubmission(
                _not_graded(f, cases, INVALID, str(exc), "not graded: the submission could not be read"),
                f.owner.as_json(), {})
    todo, reused = [], []
    for f in found:
        if f.student in done:
            continue
        entry = None if regrade else cache.load(f.student, contents[f.student])
        if entry is None:
            todo.append(f)
        else:
            reused.append(f.student)
            done[f.student] = GradedSubmission(result_from_json(entry["result"], cases), entry["owner"],
                                               entry["mistakes"])
    for student, why in sorted(cache.problems.items()):
        note(f"note: the cached result of {student} was not used ({why}); grading it again")
    if meter:
        meter.start(len(found), len(reused), sum(1 for s in reused if done[s].result.status != GRADED),
                    unreadable=len(unreadable))
    elif reused:
        say(f"{len(reused)} of {len(found)} already graded (cache; --regrade to grade again)")

    def grade_one(f: submissions.FoundSubmission, index: int, worker: int) -> GradedSubmission:
        copy_dir = work / "copies" / str(index)
        try:
            snap = submissions.snapshot(f.path, copy_dir)
            result = grade_submission(snap.path, cases=cases, expected=assignment.expected,
                                      settings=settings, plan=plan, worker=worker)
        except submissions.InvalidSubmission as exc:
            snap, result = None, _not_graded(f, cases, INVALID, str(exc),
                                             "not graded: the submission could not be read")
        except OSError as exc:
            if is_machine_fault(exc, roots):  # a write without a file name: the copy or the inputs, in TMPDIR
                raise machine_fault(exc, exc.filename or roots[0]) from None
            snap, result = None, _grader_error(f, cases, exc)
        except Exception as exc:  # noqa: BLE001 - a kit bug must not cost anyone their row
            snap, result = None, _grader_error(f, cases, exc)
        finally:
            shutil.rmtree(copy_dir, ignore_errors=True)
        result.submission, result.path = f.student, f.label
        passed = {c.case.case_id: c.passed for c in result.case_results}
        mistakes: dict[str, list[str]] = {}
        if result.status != GRADER_ERROR and diagnoser is not None:
            try:
                for mistake in diagnoser.match(passed, result.outputs):
                    mistakes.setdefault(mistake.question, []).append(mistake.name)
            except Exception:  # noqa: BLE001 - naming a mistake is a nicety; the grade stands without it
                traceback.print_exc(file=sys.stderr)
                mistakes = {}
        graded = GradedSubmission(_settled(result, cases), f.owner.as_json(), mistakes)
        if snap is not None and result.status in CACHEABLE_STATUSES:
            entry = {"student": f.student, "content": snap.content, "owner": graded.owner,
                     "mistakes": mistakes, "result": result_to_json(graded.result)}
            try:
                cache.store(entry)
            except OSError as exc:
                raise machine_fault(exc, cache.path_for(f.student)) from None
        record(graded)
        return graded

    lock = threading.Lock()
    finished = [0]
    last_gradebook = [time.monotonic()]

    def record(graded: GradedSubmission) -> None:
        """Keep a finished result and write it out at once (its feedback file; the gradebook
        every few results), in the worker, before it takes the next submission."""
        sid = graded.result.submission
        with lock:
            done[sid] = graded
            graded_now.append(sid)
            finished[0] += 1
            feedback = out_dir / "feedback" / names[sid]
            try:  # our own output folder refusing is the machine's fault, not the student's
                _write_feedback_file(assignment, graded, feedback, cases=cases, public_only=public_only)
            except OSError as exc:
                raise machine_fault(exc, feedback) from None
            if (finished[0] % GRADEBOOK_EVERY_RESULTS == 0
                    or time.monotonic() - last_gradebook[0] >= GRADEBOOK_EVERY_SECONDS):
                try:
                    _write_progress_gradebook(assignment, done, out_dir, cases)
                except OSError as exc:
                    raise machine_fault(exc, out_dir / "gradebook.csv") from None
                last_gradebook[0] = time.monotonic()

    free_workers: queue.SimpleQueue[int] = queue.SimpleQueue()
    for worker in range(jobs):
        free_workers.put(worker)

    def task(f: submissions.FoundSubmission, index: int) -> GradedSubmission:
        worker = free_workers.get()
        try:
            return grade_one(f, index, worker)
        finally:
            free_workers.put(worker)

    max_score = sum(points_per_question(assignment.questions, cases).values())
    interrupted: BaseException | None = None
    fault: MachineFault | None = None
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grader")
    futures = []
    try:
        futures = [pool.submit(task, f, n) for n, f in enumerate(todo)]
        for n, future in enumerate(as_completed(futures), start=1):
            try:
                graded = future.result()
            except MachineFault as exc:  # the command prints it, once
                fault = exc
                for other in futures:
                    other.cancel()
                break
            data = graded.result
            if meter:
                meter.update(data.status == GRADED)
            else:
                say(f"[{n}/{len(todo)}] {data.submission}: {data.status}, "
                    f"{data.score:g}/{max_score:g} ({data.seconds:.2f} s)")
    except KeyboardInterrupt as exc:
        interrupted = exc
        for future in futures:
            future.cancel()
        note("interrupted: waiting for the submissions being graded to finish; "
             "everything graded is cached, run the same command again to resume")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if meter:
            meter.close()
    try:
        batch = write_outputs(assignment, found, done, out_dir, cases=cases, public_only=public_only,
                              warning=warning, skipped=listing.skipped)
        if late is not None:
            from .late_grading import apply_to_batch

            apply_to_batch(late, assignment, batch)
    except OSError as exc:
        fault = fault or machine_fault(exc, exc.filename or out_dir)
        batch = None
    if fault is not None:
        remove_temporary_files(out_dir)
        raise fault
    batch.graded = sorted(graded_now)
    batch.reused = sorted(reused)
    batch.notes = listing.notes
    batch.interrupted = interrupted is not None
    batch.skipped = list(listing.skipped)
    batch.unreadable = sorted(unreadable)
    batch.rejected = dict(cache.problems)
    if interrupted is not None:
        raise interrupted
    return batch


def remove_temporary_files(out_dir: Path) -> list[Path]:
    """Delete half-written outputs (``*.tmp``) in ``out_dir``, its cache and feedback folders.

    Only while this run holds ``out_dir`` (``outdir.claim``): then no other writer exists.
    """
    removed = []
    for folder in (out_dir, out_dir / "cache", out_dir / "feedback"):
        for path in list(folder.glob("*.tmp")) + list(folder.glob(".*.tmp")):
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass
    return removed


def _grader_error(f: submissions.FoundSubmission, cases, exc: BaseException) -> SubmissionResult:
    traceback.print_exception(exc, file=sys.stderr)
    return _not_graded(f, cases, GRADER_ERROR,
                       f"internal grader error ({type(exc).__name__}: {exc}); please tell your TA",
                       "not graded: grader error")


def _write_feedback_file(assignment: Assignment, g: GradedSubmission, path: Path, *, cases,
                         public_only: bool) -> None:
    questions = assignment.questions
    mistakes_by_name = {m.name: m for m in assignment.mistakes}
    text = feedback_text(
        g.result, title=assignment.title, questions=questions,
        question_points=points_per_question(questions, cases), public_only=public_only,
        mistakes={q: [mistakes_by_name[n] for n in ns if n in mistakes_by_name] for q, ns in g.mistakes.items()},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)


def _write_progress_gradebook(assignment: Assignment, done: dict[str, GradedSubmission], out_dir: Path,
                              cases) -> None:
    points = points_per_question(assignment.questions, cases)
    results = [done[sid].result for sid in sorted(done)]
    write_gradebook(out_dir / "gradebook.csv", results, assignment.questions, sum(points.values()))


def write_outputs(assignment: Assignment, found, done: dict[str, GradedSubmission], out_dir: Path, *,
                  cases, public_only: bool, warning: str, skipped=()) -> BatchResult:
    """gradebook.csv, feedback/, report.html and results.json, from the results of this run
    (graded now, taken from the cache, or unreadable).

    Submissions not (yet) graded, e.g. after an interruption, are left out of this
    partial set of outputs; the next run completes them.
    """
    questions = assignment.questions
    points = points_per_question(questions, cases)
    graded = [done[f.student] for f in sorted(found, key=lambda f: f.student) if f.student in done]
    results = [g.result for g in graded]
    feedback_dir = out_dir / "feedback"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    names = feedback_names([f.student for f in found])
    for g in graded:
        _write_feedback_file(assignment, g, feedback_dir / names[g.result.submission], cases=cases,
                             public_only=public_only)
    kept = {names[g.result.submission] for g in graded}
    for stale in feedback_dir.glob("*.txt"):
        if stale.name not in kept:
            stale.unlink()
    gradebook = out_dir / "gradebook.csv"
    max_score = sum(points.values())
    write_gradebook(gradebook, results, questions, max_score)
    report = out_dir / "report.html"
    write_atomic(report, report_html(
        results, title=assignment.title, questions=questions, question_points=points,
        warning=warning, mistakes=assignment.mistakes,
        recognised={g.result.submission: g.mistakes for g in graded}, skipped=skipped,
    ))
    write_atomic(out_dir / "results.json",
                  json.dumps(_results_json(assignment, graded, max_score, skipped), indent=1) + "\n")
    return BatchResult(results, out_dir, gradebook, feedback_dir, report, warning, submissions=graded)


def _results_json(assignment: Assignment, graded: list[GradedSubmission], max_score: float,
                  skipped=()) -> dict:
    return {
        "assignment": assignment.name,
        "title": assignment.title,
        "max_score": max_score,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "skipped": sorted(skipped),  # entries of the class that are not submissions (metadata)
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
