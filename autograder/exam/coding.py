"""A coding exam: a per-student notebook with a seeded subset of assignment functions,
graded on per-student seeded hidden inputs by the assignments' own trusted grader.

    build:  roster -> coding_manifest.json (tasks and seeds per student)
            + notebooks/<student_id>.ipynb (the stubs, from the assignments' student notebooks)
    grade:  submissions (file stem = student id) -> cases drawn from each student's seeds
            by the assignment's own spec (``spec.variant_cases``), expected values from the
            reference (autograder.course.assignment.reference_outputs), each submission run by
            the homework's pipeline (autograder.grading.pipeline) -> gradebook.csv, feedback/

Seeds are the exam's keyed hashes (``seeding.variant_seed``), so students get different
hidden inputs and a TA can regenerate any student's cases from the manifest. The cases,
their descriptions and tolerances are the assignment's (one builder per random case in
its spec.py), so an exam grades a function exactly as the homework does.
"""

from __future__ import annotations

import inspect
import io
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

from ..course.assignment import reference_outputs
from ..course.cases import Case
from ..grading.pipeline import (
    UNREADABLE_REASON,
    GradedSubmission,
    Grading,
    grade_found,
    not_graded,
)
from ..grading.status import Status
from ..kit_folders import ASSIGNMENTS_DIR
from ..machine.files import write_atomic
from ..outputs import csvsafe
from ..outputs.feedback import feedback_for, feedback_names
from ..outputs.points import format_points
from ..sandbox import Limits, SandboxSettings
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


def grade_coding_exam(*, manifest_path: Path, submissions: Path, out: Path,
                      settings: SandboxSettings | None = None, progress=None) -> Path:
    """Grade every submission (``<student_id>.ipynb``/``.py``/``.zip`` or a folder per
    student) on that student's own hidden cases; writes ``gradebook.csv`` and ``feedback/``.

    The same pipeline steps as a homework batch (``autograder.grading.pipeline``: the grader's own
    copy, run, judge, one row per submission whatever happens), the contract's statuses (a
    submission whose id is not in the manifest is an ``invalid_submission``), the feedback
    file of the homework, and atomic outputs with points formatted as the gradebook's.
    Columns: submission, status, score, max_score (the student's own tasks), then one per
    exam function: the student's points, empty for a function not drawn for them.
    """
    from ..grading import submission as found_submissions
    from ..machine.tempdirs import kit_tempdir

    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    if manifest.get("format") != CODING_FORMAT:
        raise ValueError(f"{manifest_path} is not a coding exam manifest")
    entries = {s["student_id"]: s for s in manifest["students"]}
    functions = [TASKS[t].function for t in manifest["tasks"]]
    settings = (settings or SandboxSettings()).with_default_limits(LIMITS)
    out = Path(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    title = manifest.get("title") or manifest.get("exam_id", "coding exam")
    rows = []
    with kit_tempdir("exam") as work:
        listing = found_submissions.list_class(Path(submissions), Path(work))
        names = feedback_names([f.student for f in listing.found])
        for n, found in enumerate(sorted(listing.found, key=lambda f: f.student)):
            sid = found.student
            entry = entries.get(sid)
            cases = tuple(student_cases(entry)) if entry else ()
            questions = [f for f in functions if any(c.question == f for c in cases)]
            grading = Grading.for_cases(title=title, questions=questions, cases=cases,
                                        expected=expected_outputs(list(cases), entry) if entry else {},
                                        settings=settings)
            if entry is None:
                graded = GradedSubmission(not_graded(
                    sid, found.label, (), Status.INVALID,
                    f"{sid} is not a student of this exam (not in {Path(manifest_path).name}): "
                    "name the file after your student id", UNREADABLE_REASON), found.owner.as_json())
            else:
                graded, _ = grade_found(grading, found, Path(work) / "copies" / str(n))
            result = graded.result
            scores = result.question_scores(questions)
            rows.append([sid, result.status, format_points(result.score), format_points(grading.max_score),
                         *(format_points(scores[f]) if f in scores else "" for f in functions)])
            write_atomic(out / "feedback" / names[sid], feedback_for(grading, graded))
            if progress:
                progress(f"{sid}: {result.status} {format_points(result.score)}/{format_points(grading.max_score)}")
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "status", "score", "max_score", *functions])
    writer.writerows(rows)
    return write_atomic(out / "gradebook.csv", buffer.getvalue())
