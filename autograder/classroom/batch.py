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

import json
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..course.assignment import Assignment
from ..course.cases import points_per_question
from ..grading import gpu_stage
from ..grading import submission as submissions
from ..grading.grade import GRADED, GRADER_ERROR, INVALID, SubmissionResult
from ..grading.pipeline import (
    UNREADABLE_REASON,
    GradedSubmission,
    Grading,
    feedback_for,
    grade_found,
    not_graded,
    record_result,
)
from ..outputs.files import distinct_filenames, write_atomic
from ..outputs.gradebook import write_gradebook
from ..outputs.report import report_html
from ..sandbox import SandboxSettings, resolve_isolation
from . import outdir
from .faults import MachineFault, check_temp_dir, machine_fault
from .progress import ProgressMeter
from .resume import CacheBinding, ResultCache, grader_key, result_to_json, tests_fingerprint
from .tempdirs import kit_tempdir, sweep_stale

# The gradebook is rewritten after this many new results, or this many seconds, whichever
# comes first, so that a crash of the grader loses no finished row.
GRADEBOOK_EVERY_RESULTS = 10
GRADEBOOK_EVERY_SECONDS = 10.0


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
    """id -> feedback file name (``distinct_filenames``: no two alike, even without case)."""
    return {sid: name + ".txt" for sid, name in distinct_filenames(ids).items()}


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
    wait: bool = False,
    late=None,
    gpu=None,
) -> BatchResult:
    """Grade every submission under ``submissions_path``; write all outputs to ``out_dir``.

    progress: receives text lines (warnings, notes, and one line per submission when no
              ``meter`` is given). meter: a progress bar (``autograder.classroom.progress``).
    jobs:     submissions graded at the same time (default: every core); worker k runs
              its sandboxes as uid 61000 + k, so workers never share processes or limits.
    regrade:  ignore the cache (it is still refreshed).
    wait:     when another run holds ``out_dir``, wait for it instead of refusing.
    late:     a ``late_grading.LateInputs``: its penalties are applied to the outputs while
              this run still holds ``out_dir`` (gradebook late columns, feedback, results.json).
    gpu:      a ``gpu_stage.GpuOptions``: also run the assignment's GPU cases (``gpu_stage``).
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
    if submissions_path.is_dir() and (submissions_path / outdir.MARKER).exists():
        raise ValueError(f"{submissions_path} is the output folder of an earlier `autograder grade` (it holds "
                         f"{outdir.MARKER}), not submissions: were SUBMISSIONS and --out swapped?")
    swept = sweep_stale()
    if swept:
        note(f"note: removed {len(swept)} temporary folder(s) left behind by a grader that was killed")
    temp_root = check_temp_dir()
    jobs = max(1, jobs or default_jobs())
    settings = (settings or SandboxSettings()).with_default_limits(assignment.limits)
    _, warning = resolve_isolation(settings)
    if warning:
        note(f"WARNING: {warning}")
    stage = gpu_stage.prepare(assignment, gpu, settings, out_dir=out_dir, public_only=public_only) if gpu else None
    if stage is not None:
        note(stage.describe())
    grading = Grading.for_assignment(assignment, settings, public_only=public_only, gpu=stage)
    cases = grading.cases
    binding = CacheBinding(assignment.name,
                           gpu_stage.fingerprint(stage, tests_fingerprint(assignment, settings, public_only)),
                           cases)
    with outdir.claim(out_dir, assignment.name, wait=wait, say=note):
        try:
            remove_temporary_files(out_dir)
            cache = ResultCache(out_dir / "cache", grader_key(out_dir / "cache"), binding)
        except OSError as exc:
            raise machine_fault(exc, out_dir, already_saved=False) from None
        with kit_tempdir("class") as work:
            return _grade_class(assignment, grading, submissions_path, out_dir, cache, Path(work),
                                roots=(temp_root.resolve(), out_dir), say=say, note=note, meter=meter,
                                jobs=jobs, regrade=regrade, warning=warning, late=late)


def _grade_class(assignment, grading: Grading, submissions_path: Path, out_dir: Path,
                 cache: ResultCache, work: Path, *, roots, say, note, meter, jobs, regrade, warning,
                 late=None) -> BatchResult:
    """discover -> (read -> run -> judge -> diagnose -> record) per submission, in parallel -> report."""
    cases = grading.cases
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
                not_graded(f.student, f.label, cases, INVALID, str(exc), UNREADABLE_REASON),
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
            done[f.student] = GradedSubmission.from_cache_entry(entry, cases)
    for student, why in sorted(cache.problems.items()):
        note(f"note: the cached result of {student} was not used ({why}); grading it again")
    if meter:
        meter.start(len(found), len(reused), sum(1 for s in reused if done[s].result.status != GRADED),
                    unreadable=len(unreadable))
    elif reused:
        say(f"{len(reused)} of {len(found)} already graded (cache; --regrade to grade again)")

    def grade_one(f: submissions.FoundSubmission, index: int, worker: int) -> GradedSubmission:
        graded, content = grade_found(grading, f, work / "copies" / str(index), worker=worker, roots=roots)
        record_result(cache, graded, content)
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
                feedback.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(feedback, feedback_for(grading, graded))
            except OSError as exc:
                raise machine_fault(exc, feedback) from None
            if (finished[0] % GRADEBOOK_EVERY_RESULTS == 0
                    or time.monotonic() - last_gradebook[0] >= GRADEBOOK_EVERY_SECONDS):
                try:
                    _write_progress_gradebook(grading, done, out_dir)
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
    if grading.diagnoser is not None and jobs > 1 and len(todo) > 1:
        grading.diagnoser.prepare()  # no mistake runs while another worker forks a sandbox (see prepare)
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
        batch = write_batch_outputs(assignment, grading, found, done, out_dir, warning=warning,
                                    skipped=listing.skipped)
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


def _write_progress_gradebook(grading: Grading, done: dict[str, GradedSubmission], out_dir: Path) -> None:
    results = [done[sid].result for sid in sorted(done)]
    write_gradebook(out_dir / "gradebook.csv", results, grading.questions, grading.max_score)


def write_batch_outputs(assignment: Assignment, grading: Grading, found, done: dict[str, GradedSubmission],
                        out_dir: Path, *, warning: str, skipped=()) -> BatchResult:
    """gradebook.csv, feedback/, report.html and results.json, from the results of this run
    (graded now, taken from the cache, or unreadable).

    Submissions not (yet) graded, e.g. after an interruption, are left out of this
    partial set of outputs; the next run completes them.
    """
    questions = grading.questions
    points = grading.question_points
    graded = [done[f.student] for f in sorted(found, key=lambda f: f.student) if f.student in done]
    results = [g.result for g in graded]
    feedback_dir = out_dir / "feedback"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    names = feedback_names([f.student for f in found])
    for g in graded:
        write_atomic(feedback_dir / names[g.result.submission], feedback_for(grading, g))
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
                "cases": result_to_json(g.result)["cases"],
            }
            for g in graded
        ],
    }
