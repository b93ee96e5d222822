"""A coding exam: a per-student notebook with a seeded subset of assignment functions,
graded on per-student seeded hidden inputs by the assignments' own trusted grader.

    build:  roster -> coding_manifest.json (tasks and seeds per student)
            + notebooks/<student_id>.ipynb (the stubs, from the assignments' student notebooks)
    grade:  submissions (file stem = student id) -> cases drawn from each student's seeds
            by the assignment's own spec (``spec.variant_cases``), expected values from the
            reference (autograder.course.assignment.reference_outputs), the class graded by
            the homework batch's engine (classroom.batch.grade_entries: parallel, resumable,
            one signed cache entry per student) -> gradebook.csv, feedback/, cache/

Seeds are the exam's keyed hashes (``seeding.variant_seed``), so students get different
hidden inputs and a TA can regenerate any student's cases from the manifest. The cases,
their descriptions and tolerances are the assignment's (one builder per random case in
its spec.py), so an exam grades a function exactly as the homework does.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

from .. import __version__
from ..course.assignment import reference_outputs
from ..course.cases import Case
from ..fingerprints import hash_tree
from ..grading.pipeline import Grading
from ..kit_folders import ASSIGNMENTS_DIR
from ..machine.files import write_atomic
from ..outputs import csvsafe
from ..outputs.feedback import feedback_for, feedback_names
from ..outputs.points import format_points
from ..sandbox import Limits, SandboxSettings, resolve_isolation
from . import references as refs
from .seeding import generator, read_secret, variant_seed
from .variants import read_exam_roster

CODING_FORMAT = "autograder-coding-exam-manifest"
POINTS_PER_CASE = 1.0
# The exam's functions are NumPy one-liners; the limits only ever bind on runaway code.
LIMITS = Limits(cpu_seconds=20, wall_seconds=40, load_seconds=5, call_seconds=3)


@dataclass(frozen=True)
class Task:
    """One exam task: an assignment function, whose hidden cases its spec draws per student."""

    assignment: str
    function: str

    @property
    def id(self) -> str:
        return f"{self.assignment}.{self.function}"

    def make_cases(self, rng: np.random.Generator) -> list[Case]:
        """The function's cases for one student, drawn from ``rng`` by the assignment's
        ``spec.variant_cases`` (same builders, descriptions and tolerances as the homework)."""
        return refs.spec(self.assignment).variant_cases(self.function, rng)


TASKS: dict[str, Task] = {t.id: t for t in (
    Task("a1_softmax", "softmax"),
    Task("a1_softmax", "log_softmax"),
    Task("a1_softmax", "sigmoid"),
    Task("a1_softmax", "predict_multiclass"),
    Task("a1_softmax", "predict_multilabel"),
    Task("a2_losses", "cross_entropy"),
    Task("a2_losses", "binary_cross_entropy"),
    Task("a2_losses", "multiclass_hinge"),
    Task("a2_losses", "multilabel_hinge"),
    Task("a2_losses", "kl_divergence"),
    Task("a4_backprop", "softmax_cross_entropy_grad"),
)}


def resolve_tasks(names: list[str]) -> list[Task]:
    """``a1_softmax.softmax`` or just ``softmax`` (when unambiguous)."""
    chosen = []
    for name in names:
        matches = [t for t in TASKS.values() if name in (t.id, t.function)]
        if len(matches) != 1:
            raise ValueError(f"unknown or ambiguous coding task {name!r}; known: {', '.join(TASKS)}")
        chosen.append(matches[0])
    if len({t.function for t in chosen}) != len(chosen):
        raise ValueError("two coding tasks define the same function name")
    return chosen


def student_cases(entry: dict) -> list[Case]:
    """A student's hidden cases, regenerated from the manifest seeds."""
    cases = []
    for task_id, seed in entry["tasks"].items():
        cases.extend(TASKS[task_id].make_cases(generator(seed)))
    return cases


# --- build ------------------------------------------------------------------------------

def _stub_cells(task: Task) -> list:
    """The task's explanation and stub from the assignment's student notebook, else a stub
    written from the reference's signature."""
    path = ASSIGNMENTS_DIR / task.assignment / f"{task.assignment}.ipynb"
    if path.is_file():
        notebook = nbformat.read(path, as_version=4)
        cells = notebook.cells
        for i, cell in enumerate(cells):
            if cell.cell_type == "code" and cell.source.lstrip().startswith(f"def {task.function}("):
                out = [nbformat.v4.new_code_cell(cell.source)]
                if i > 0 and cells[i - 1].cell_type == "markdown":
                    out.insert(0, nbformat.v4.new_markdown_cell(cells[i - 1].source))
                return out
    signature = inspect.signature(refs.function(task.assignment, task.function))
    source = (f"def {task.function}{signature}:\n    \"\"\"See the {task.assignment} assignment: "
              f"{task.function}.\"\"\"\n    raise NotImplementedError(\"{task.function}\")\n")
    return [nbformat.v4.new_code_cell(source)]


def exam_notebook(title: str, student: dict, tasks: list[Task]) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_markdown_cell(
        f"# {title}\n\n**Name:** {student['name']}  \n**Student ID:** {student['student_id']}\n\n"
        "Implement every function below with NumPy. Your functions are graded on hidden inputs "
        "drawn for you alone, against the reference solution, in a sandbox. Keep the function "
        "names and signatures; hand in this notebook unchanged in name."),
        nbformat.v4.new_code_cell("import numpy as np")]
    for task in tasks:
        cells.extend(_stub_cells(task))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def build_coding_exam(*, roster: Path, secret_file: Path, exam_id: str, out: Path, tasks: list[str],
                      draw: int | None = None, title: str = "") -> Path:
    """Write ``coding_manifest.json`` and one notebook per student; returns the manifest path."""
    secret = read_secret(secret_file)
    pool = resolve_tasks(tasks)
    if draw is not None and not 1 <= draw <= len(pool):
        raise ValueError(f"--draw must be between 1 and {len(pool)}")
    out = Path(out)
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    students = []
    for s in read_exam_roster(Path(roster)):
        chosen = pool
        if draw is not None:
            pick = generator(variant_seed(secret, exam_id, s.student_id, "coding-tasks", 1))
            chosen = [pool[i] for i in sorted(pick.choice(len(pool), size=draw, replace=False))]
        entry = {"student_id": s.student_id, "name": s.name,
                 "tasks": {t.id: variant_seed(secret, exam_id, s.student_id, f"coding:{t.id}", 1) for t in chosen}}
        students.append(entry)
        nbformat.write(exam_notebook(title or exam_id, entry, chosen), out / "notebooks" / f"{s.student_id}.ipynb")
    manifest = {"format": CODING_FORMAT, "exam_id": exam_id, "title": title or exam_id,
                "tasks": [t.id for t in pool], "draw": draw, "students": students}
    path = out / "coding_manifest.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return path


# --- grade ------------------------------------------------------------------------------

def expected_outputs(cases: list[Case], entry: dict) -> dict[str, tuple[np.ndarray, ...]]:
    assignment_of = {TASKS[t].function: TASKS[t].assignment for t in entry["tasks"]}
    return {c.case_id: reference_outputs(refs.reference(assignment_of[c.question]), c) for c in cases}


def material_fingerprint(assignment: str) -> str:
    """SHA-256 of the assignment's hidden folder as the exam uses it (``references``): the
    reference (expected values), ``spec.py`` (case builders, tolerances) and the rest, its
    ``samples/`` aside; hashed as ``fingerprints.hash_tree`` hashes any folder."""
    digest = hashlib.sha256()
    hash_tree(digest, refs.hidden_dir(assignment), "hidden", skip=("samples",))
    return digest.hexdigest()


def student_fingerprint(entry: dict, *, exam_id: str, settings: SandboxSettings,
                        material: dict[str, str], kit: str) -> str:
    """SHA-256 over what one student's grade depends on besides the submission.

    Their whole manifest entry (the tasks and their seeds decide the cases), the exam id, the
    ``material_fingerprint`` of every assignment their tasks come from (``material``:
    assignment -> fingerprint), the limits and isolation mode, and the kit
    (``kit``: ``resume.kit_fingerprint()``, every file of the package, and its version).
    Another student's entry, a task not drawn for this one, or the exam's title is not in it.
    """
    digest = hashlib.sha256()
    digest.update(f"coding exam {exam_id}\nkit {__version__}\nlimits {settings.resolved_limits()!r}\n"
                  f"isolation {settings.isolation}\n".encode())
    digest.update(b"entry " + json.dumps(entry, sort_keys=True, ensure_ascii=True).encode() + b"\0")
    for assignment in sorted({TASKS[task_id].assignment for task_id in entry["tasks"]}):
        digest.update(f"material {assignment} {material[assignment]}\0".encode())
    digest.update(kit.encode())
    return digest.hexdigest()


def read_coding_manifest(manifest_path: Path) -> dict:
    """The manifest ``build_coding_exam`` wrote; ValueError naming what is wrong when it is not one."""
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    if not isinstance(manifest, dict) or manifest.get("format") != CODING_FORMAT:
        raise ValueError(f"{manifest_path} is not a coding exam manifest")
    named = list(manifest.get("tasks", [])) + [t for s in manifest.get("students", []) for t in s.get("tasks", {})]
    unknown = sorted(set(named) - set(TASKS))
    if unknown:
        raise ValueError(f"{manifest_path} names coding tasks this kit does not have: {', '.join(unknown)}")
    return manifest


def grade_coding_exam(*, manifest_path: Path, submissions: Path, out: Path,
                      settings: SandboxSettings | None = None, progress=None, jobs: int | None = None,
                      regrade: bool = False, wait: bool = False) -> Path:
    """Grade every submission (``<student_id>.ipynb``/``.py``/``.zip`` or a folder per
    student) on that student's own hidden cases; writes ``gradebook.csv`` and ``feedback/``
    in ``out``, and returns the gradebook's path.

    The homework batch's engine (``classroom.batch.grade_entries``) with one plan per
    student: the same pipeline steps, the contract's statuses (a submission whose id is not
    in the manifest is an ``invalid_submission``), the homework's feedback file, atomic
    outputs with points formatted as the gradebook's, and the signed result cache
    (``out/cache/``): a re-run grades only the students whose submission, manifest entry,
    reference material, limits or kit changed (``student_fingerprint``).
    jobs/regrade/wait: as for ``batch.grade_batch`` (default every core; ignore the cache;
    queue behind another run holding ``out``). ``out`` holds one exam, one run at a time.
    Columns: submission, status, score, max_score (the student's own tasks), then one per
    exam function: the student's points, empty for a function not drawn for them.
    """
    from ..classroom import batch
    from ..classroom.batch import EntryPlan
    from ..classroom.resume import CacheBinding, ResultCache, kit_fingerprint

    say = progress or (lambda message: None)
    manifest = read_coding_manifest(manifest_path)
    exam_id = str(manifest.get("exam_id", ""))
    entries = {s["student_id"]: s for s in manifest["students"]}
    functions = [TASKS[t].function for t in manifest["tasks"]]
    title = manifest.get("title") or manifest.get("exam_id", "coding exam")
    submissions, out, temp_root = batch.prepare_class_paths(submissions, out, say)
    jobs = max(1, jobs or batch.default_jobs())
    settings = (settings or SandboxSettings()).with_default_limits(LIMITS)
    _, warning = resolve_isolation(settings)
    if warning:
        say(f"WARNING: {warning}")
    kit = kit_fingerprint()
    material = {a: material_fingerprint(a) for a in
                sorted({TASKS[t].assignment for entry in entries.values() for t in entry["tasks"]})}
    cache_name = f"coding exam {exam_id}"
    stranger = Grading.for_cases(title=title, questions=(), cases=(), expected={}, settings=settings)

    with batch.claimed_out_dir(out, cache_name, wait=wait, note=say, kind="exam") as (key, work):
        def plan_for(found) -> EntryPlan:
            entry = entries.get(found.student)
            if entry is None:
                return EntryPlan(stranger, None, refusal=(
                    f"{found.student} is not a student of this exam (not in {Path(manifest_path).name}): "
                    "name the file after your student id"))
            cases = tuple(student_cases(entry))
            grading = Grading.for_cases(title=title, questions=[f for f in functions if any(c.question == f for c in cases)],
                                        cases=cases, expected=expected_outputs(list(cases), entry), settings=settings)
            fingerprint = student_fingerprint(entry, exam_id=exam_id, settings=settings, material=material, kit=kit)
            return EntryPlan(grading, ResultCache(out / "cache", key, CacheBinding(cache_name, fingerprint, cases)))

        gradebook, run = batch.grade_entries(
            submissions, work, out, plan_for, roots=(temp_root.resolve(), out), say=say, note=say, meter=None,
            jobs=jobs, regrade=regrade, write_progress=lambda run: _write_gradebook(out, functions, run),
            write_outputs=lambda run: _write_outputs(out, functions, run))
    if run.refused:
        say(f"not students of this exam (invalid_submission): {', '.join(run.refused)}")
    say(f"graded now: {len(run.graded)}, reused from the cache: {len(run.reused)}")
    return gradebook


def _write_outputs(out: Path, functions: list[str], run) -> Path:
    """Every student's feedback file (others removed), then the gradebook."""
    from ..classroom.batch import write_feedback_files

    names = feedback_names([f.student for f in run.found])
    write_feedback_files(out / "feedback", {names[sid]: feedback_for(run.plans[sid].grading, graded)
                                            for sid, graded in sorted(run.done.items())})
    return _write_gradebook(out, functions, run)


def _write_gradebook(out: Path, functions: list[str], run) -> Path:
    """gradebook.csv of what ``run`` has so far, one row per student, sorted by id."""
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "status", "score", "max_score", *functions])
    for sid in sorted(run.done):
        grading, result = run.plans[sid].grading, run.done[sid].result
        scores = result.question_scores(grading.questions)
        writer.writerow([sid, result.status, format_points(result.score), format_points(grading.max_score),
                         *(format_points(scores[f]) if f in scores else "" for f in functions)])
    return write_atomic(out / "gradebook.csv", buffer.getvalue())
