"""``autograder demo``: the main job end to end on the bundled sample submissions.

For every assignment with a sample class (``solutions/<assignment>/samples/``: correct,
wrong, unfinished and malicious submissions): builds the student and autograder
folders, grades the class, prints the gradebook and says where feedback and report are.

    DIR/build/<assignment>/   what ``autograder build`` writes
    DIR/grades/<assignment>/  gradebook.csv, feedback/, report.html, results.json
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from .classroom.batch import grade_batch
from .course.assignment import available_assignments, load_assignment
from .kit_folders import SOLUTIONS_DIR
from .publish.build import build_assignment
from .sandbox import SandboxSettings


def demo_assignments() -> list[str]:
    """The kit's assignments that ship a sample class."""
    return [name for name in available_assignments() if (SOLUTIONS_DIR / name / "samples").is_dir()]


def run_demo(out: Path, settings: SandboxSettings | None = None, echo=print,
             assignments: list[str] | None = None, jobs: int | None = None) -> int:
    settings = settings or SandboxSettings()
    out = Path(out).resolve()
    names = assignments or demo_assignments()
    isolated = True
    warning = ""
    grader_errors: list[str] = []
    for step, name in enumerate(names, start=1):
        started = time.monotonic()
        assignment = load_assignment(name)
        echo(f"{step}. {assignment.title}")
        built = build_assignment(assignment, out / "build")
        echo(f"   built:    student folder {built.student_dir}")
        echo(f"             autograder folder {built.autograder_dir}")
        samples = SOLUTIONS_DIR / name / "samples"
        batch = grade_batch(assignment, samples, out / "grades" / name, settings, jobs=jobs)
        echo(f"   graded:   the sample class in {samples}\n")
        with open(batch.gradebook, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            echo("   " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        echo(f"\n   gradebook:            {batch.gradebook}")
        echo(f"   Feedback per student: {batch.feedback_dir}/")
        echo(f"   Report for the TA:    {batch.report}")
        echo(f"   Machine-readable:     {batch.out_dir / 'results.json'}")
        echo(f"   ({time.monotonic() - started:.1f} s)\n")
        ran = [r for r in batch.results if r.status != "invalid_submission"]
        isolated = isolated and all(r.isolated for r in ran)
        warning = warning or batch.warning
        grader_errors += [f"{name}/{sid}" for sid in batch.grader_errors]
    echo("Sandbox: " + ("bubblewrap (isolated)" if isolated else "NOT isolated: " + warning))
    if grader_errors:  # the kit's own fault: the demo did not show what it should (exit code 1)
        echo(f"grader errors (not cached; run again): {', '.join(grader_errors)}")
        return 1
    return 0
