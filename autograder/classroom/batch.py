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

The loop itself (``grade_entries``) takes, per entry, the ``EntryPlan`` to grade it with
(its ``Grading`` and the cache binding its result must match): a homework batch gives every
entry the same one, the coding exam (``autograder.exam.coding``) one per student.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ..course.assignment import Assignment
from ..grading import gpu_stage
from ..grading import submission as submissions
from ..grading.grade import GRADED, GRADER_ERROR, INVALID, SubmissionResult
from ..grading.pipeline import (
    UNREADABLE_REASON,
    GradedSubmission,
    Grading,
    grade_found,
    not_graded,
)
from ..grading.result_data import result_to_json
from ..machine.faults import MachineFault, check_temp_dir, machine_fault
from ..machine.files import write_atomic
from ..machine.tempdirs import kit_tempdir, sweep_stale
from ..outputs.feedback import feedback_for, feedback_names
from ..outputs.gradebook import write_gradebook
from ..outputs.report import report_html
from ..sandbox import SandboxSettings, resolve_isolation
from . import discover, outdir
from .progress import ProgressMeter
from .resume import CacheBinding, ResultCache, grader_key, record_result, tests_fingerprint

# The gradebook is rewritten after this many new results, or this many seconds, whichever
# comes first, so that a crash of the grader loses no finished row.
GRADEBOOK_EVERY_RESULTS = 10
GRADEBOOK_EVERY_SECONDS = 10.0

T = TypeVar("T")  # what a caller's write_outputs makes of a class run


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
    submissions_path, out_dir, temp_root = prepare_class_paths(submissions_path, out_dir, note)
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
    with claimed_out_dir(out_dir, assignment.name, wait=wait, note=note, kind="class") as (key, work):
        cache = ResultCache(out_dir / "cache", key, binding)
        return _grade_class(assignment, grading, submissions_path, out_dir, cache, work,
                            roots=(temp_root.resolve(), out_dir), say=say, note=note, meter=meter,
                            jobs=jobs, regrade=regrade, warning=warning, late=late)


def prepare_class_paths(submissions_path: Path, out_dir: Path, note: Callable[[str], None]) -> tuple[Path, Path, Path]:
    """(submissions, output folder, TMPDIR) for a class run, checked before anything is claimed.

    Refuses a missing submissions path and an output folder inside the submissions folder
    (its files would be graded next time); sweeps what a killed grader left in TMPDIR and
    checks that TMPDIR has room (``faults.check_temp_dir``).
    """
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
    return submissions_path, out_dir, check_temp_dir()


@contextmanager
def claimed_out_dir(out_dir: Path, name: str, *, wait: bool, note: Callable[[str], None],
                    kind: str) -> Iterator[tuple[bytes, Path]]:
    """Hold ``out_dir`` for grading ``name`` (``outdir.claim``); yields the cache's signing key
    and a private working folder ``ag-<kind>-...`` in TMPDIR, removed on exit.

    Half-written files a killed run left in ``out_dir`` are removed first (no other writer
    exists while the claim is held).
    """
    with outdir.claim(out_dir, name, wait=wait, say=note):
        try:
            remove_temporary_files(out_dir)
            key = grader_key(out_dir / "cache")
        except OSError as exc:
            raise machine_fault(exc, out_dir, already_saved=False) from None
        with kit_tempdir(kind) as work:
            yield key, Path(work)


def _grade_class(assignment, grading: Grading, submissions_path: Path, out_dir: Path,
                 cache: ResultCache, work: Path, *, roots, say, note, meter, jobs, regrade, warning,
                 late=None) -> BatchResult:
    """Every entry graded with the assignment's ``grading`` and checked against one cache binding."""
    plan = EntryPlan(grading, cache)

    def write_outputs(run: ClassRun) -> BatchResult:
        batch = write_batch_outputs(assignment, grading, run.found, run.done, out_dir, warning=warning,
                                    skipped=run.skipped)
        if late is not None:
            from .late_grading import apply_to_batch

            apply_to_batch(late, assignment, batch)
        return batch

    batch, run = grade_entries(submissions_path, work, out_dir, lambda found: plan, roots=roots, say=say,
                               note=note, meter=meter, jobs=jobs, regrade=regrade,
                               write_progress=lambda run: _write_progress_gradebook(grading, run.done, out_dir),
                               write_outputs=write_outputs)
    batch.graded = run.graded
    batch.reused = run.reused
    batch.notes = run.notes
    batch.skipped = list(run.skipped)
    batch.unreadable = run.unreadable
    batch.rejected = run.rejected
    return batch


# --- the engine: every entry of a class, each with its own plan --------------------------------

@dataclass(frozen=True)
class EntryPlan:
    """How one entry of a class is graded.

    grading: its cases, expected values, limits and mistakes (``pipeline.Grading``);
    cache:   the signed cache bound to exactly what its grade depends on (``resume.ResultCache``);
    refusal: when set, the entry is not run at all: its row is ``invalid_submission`` and this
             text is its message (e.g. an exam submission whose id is not on the exam's list).
    A homework batch gives every entry the same plan; a coding exam one per student.
    """

    grading: Grading
    cache: ResultCache | None
    refusal: str | None = None


@dataclass
class ClassRun:
    """What ``grade_entries`` found and did; results by student id (reused or graded now)."""

    found: list[submissions.FoundSubmission]
    plans: dict[str, EntryPlan]
    notes: list[str]
    skipped: list[str]
    done: dict[str, GradedSubmission] = field(default_factory=dict)
    graded: list[str] = field(default_factory=list)  # ids graded in this run
    reused: list[str] = field(default_factory=list)  # ids taken from the cache
    unreadable: list[str] = field(default_factory=list)  # ids whose entry could not be read as a file
    refused: list[str] = field(default_factory=list)  # ids their plan refused (EntryPlan.refusal)
    rejected: dict[str, str] = field(default_factory=dict)  # id -> why its cache entry was not believed


def grade_entries(submissions_path: Path, work: Path, out_dir: Path,
                  plan_for: Callable[[submissions.FoundSubmission], EntryPlan], *,
                  roots, say, note, meter, jobs: int, regrade: bool,
                  write_progress: Callable[[ClassRun], None],
                  write_outputs: Callable[[ClassRun], T]) -> tuple[T, ClassRun]:
    """discover -> hash -> cache lookup -> (read -> run -> judge -> diagnose -> record) in
    parallel -> outputs, for every entry of a class, each with the plan ``plan_for`` gives it.

    Each result is cached and its feedback file written (``out_dir/feedback/``) the moment
    it ends, ``write_progress`` is called every few results (the gradebook so far) and
    ``write_outputs`` once at the end, also after Ctrl-C (which is then re-raised). A
    ``MachineFault`` stops the run: outputs are written for what is done, then it is raised.
    """
    listing = discover.list_class(submissions_path, work)
    for text in listing.notes:
        note(f"note: {text}")
    for label in listing.skipped:
        note(f"skipped (not a submission): {label}")
    found = listing.found
    run = ClassRun(found, {f.student: plan_for(f) for f in found}, listing.notes, list(listing.skipped))
    plans, done = run.plans, run.done
    names = feedback_names([f.student for f in found])
    contents: dict[str, str] = {}
    for f in found:
        plan = plans[f.student]
        if plan.refusal is not None:
            run.refused.append(f.student)
            message = plan.refusal
        else:
            try:
                contents[f.student] = submissions.content_hash(f.path)
                continue
            except submissions.InvalidSubmission as exc:
                run.unreadable.append(f.student)
                message = str(exc)
        done[f.student] = GradedSubmission(
            not_graded(f.student, f.label, plan.grading.cases, INVALID, message, UNREADABLE_REASON),
            f.owner.as_json(), {})
    todo, reused = [], run.reused
    for f in found:
        if f.student in done:
            continue
        plan = plans[f.student]
        entry = None if regrade else plan.cache.load(f.student, contents[f.student])
        if entry is None:
            todo.append(f)
        else:
            reused.append(f.student)
            done[f.student] = GradedSubmission.from_cache_entry(entry, plan.grading.cases)
    caches = {id(p.cache): p.cache for p in plans.values() if p.cache is not None}
    for cache in caches.values():
        run.rejected.update(cache.problems)
    for student, why in sorted(run.rejected.items()):
        note(f"note: the cached result of {student} was not used ({why}); grading it again")
    settled_unrun = len(run.unreadable) + len(run.refused)
    if meter:
        meter.start(len(found), len(reused), sum(1 for s in reused if done[s].result.status != GRADED),
                    unreadable=settled_unrun)
    elif reused:
        say(f"{len(reused)} of {len(found)} already graded (cache; --regrade to grade again)")

    def grade_one(f: submissions.FoundSubmission, index: int, worker: int) -> GradedSubmission:
        plan = plans[f.student]
        graded, content = grade_found(plan.grading, f, work / "copies" / str(index), worker=worker, roots=roots)
        record_result(plan.cache, graded, content)
        record(graded)
        return graded

    lock = threading.Lock()
    last_gradebook = [time.monotonic()]

    def record(graded: GradedSubmission) -> None:
        """Keep a finished result and write it out at once (its feedback file; the gradebook
        every few results), in the worker, before it takes the next submission."""
        sid = graded.result.submission
        with lock:
            done[sid] = graded
            run.graded.append(sid)
            feedback = out_dir / "feedback" / names[sid]
            try:  # our own output folder refusing is the machine's fault, not the student's
                feedback.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(feedback, feedback_for(plans[sid].grading, graded))
            except OSError as exc:
                raise machine_fault(exc, feedback) from None
            if (len(run.graded) % GRADEBOOK_EVERY_RESULTS == 0
                    or time.monotonic() - last_gradebook[0] >= GRADEBOOK_EVERY_SECONDS):
                try:
                    write_progress(run)
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

    interrupted: BaseException | None = None
    fault: MachineFault | None = None
    if jobs > 1 and len(todo) > 1:
        for grading in {id(plans[f.student].grading): plans[f.student].grading for f in todo}.values():
            if grading.diagnoser is not None:
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
                    f"{data.score:g}/{plans[data.submission].grading.max_score:g} ({data.seconds:.2f} s)")
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
    run.graded.sort()
    run.reused.sort()
    run.unreadable.sort()
    run.refused.sort()
    try:
        outputs = write_outputs(run)
    except OSError as exc:
        fault = fault or machine_fault(exc, exc.filename or out_dir)
    if fault is not None:
        remove_temporary_files(out_dir)
        raise fault
    if interrupted is not None:
        raise interrupted
    return outputs, run


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
    names = feedback_names([f.student for f in found])
    write_feedback_files(feedback_dir, {names[g.result.submission]: feedback_for(grading, g) for g in graded})
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


def write_feedback_files(feedback_dir: Path, texts: dict[str, str]) -> None:
    """``feedback_dir/<name>`` for every name -> text; any other ``*.txt`` there is removed (a
    student no longer in the class, or whose file name changed, keeps no stale feedback)."""
    feedback_dir.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        write_atomic(feedback_dir / name, text)
    for stale in feedback_dir.glob("*.txt"):
        if stale.name not in texts:
            stale.unlink()


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
