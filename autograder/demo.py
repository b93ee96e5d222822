"""``autograder demo``: the main job end to end on the bundled sample submissions.

Builds a1_softmax (student and autograder folders), grades the sample class in
``solutions/a1_softmax/samples/`` (correct, wrong, unfinished and malicious
submissions), prints the gradebook and says where feedback and report are.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .assignment import SOLUTIONS_DIR, load_assignment
from .batch import grade_batch
from .build import build_assignment
from .sandbox import SandboxSettings

DEMO_ASSIGNMENT = "a1_softmax"


def run_demo(out: Path, settings: SandboxSettings | None = None, echo=print) -> int:
    settings = settings or SandboxSettings()
    out = Path(out).resolve()
    assignment = load_assignment(DEMO_ASSIGNMENT)
    echo(f"1. Building {assignment.name} into {out / 'build'}")
    built = build_assignment(assignment, out / "build")
    echo(f"   student folder:    {built.student_dir}")
    echo(f"   autograder folder: {built.autograder_dir}")
    samples = SOLUTIONS_DIR / DEMO_ASSIGNMENT / "samples"
    echo(f"\n2. Grading the sample class in {samples}")
    batch = grade_batch(assignment, samples, out / "grades", settings, progress=lambda m: echo("   " + m))
    echo(f"\n3. Gradebook ({batch.gradebook}):\n")
    with open(batch.gradebook, newline="") as f:
        rows = list(csv.reader(f))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        echo("   " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    echo(f"\n   Feedback per student: {batch.feedback_dir}/")
    echo(f"   Report for the TA:    {batch.report}")
    echo(f"   Machine-readable:     {batch.out_dir / 'results.json'}")
    isolated = all(r.isolated for r in batch.results if r.status != "invalid_submission")
    echo("\n   Sandbox: " + ("bubblewrap (isolated)" if isolated else "NOT isolated: " + batch.warning))
    return 0
