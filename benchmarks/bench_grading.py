"""Grading cost per submission, sandbox included. Rerun: ./kit setup && .venv/bin/python benchmarks/bench_grading.py

Grades N copies of a correct submission one after another (one core) through the full
path (read, sandbox, compare) and prints the median and spread of seconds per
submission, the total, and peak memory of the grader and of the sandboxed runners.
Target for NumPy-only assignments: median under 0.5 s per submission per core.
"""

from __future__ import annotations

import argparse
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from autograder.assignment import SOLUTIONS_DIR, load_assignment
from autograder.batch import grade_batch
from autograder.sandbox import SandboxSettings, resolve_isolation

TARGET_SECONDS = 0.5


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="a1_softmax")
    parser.add_argument("-n", type=int, default=50, help="number of submissions (default 50)")
    parser.add_argument("--isolation", default="auto", choices=("auto", "bubblewrap", "none"))
    args = parser.parse_args(argv)

    assignment = load_assignment(args.assignment)
    settings = SandboxSettings(isolation=args.isolation)
    isolated, warning = resolve_isolation(settings)
    sample = SOLUTIONS_DIR / args.assignment / "samples" / "ada.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        for i in range(args.n):
            shutil.copy(sample, folder / f"student{i:04d}.ipynb")
        started = time.perf_counter()
        batch = grade_batch(assignment, folder, Path(tmp) / "out", settings)
        total = time.perf_counter() - started
    seconds = sorted(r.seconds for r in batch.results)
    wrong = [r.submission for r in batch.results if r.score != assignment.max_score]
    grader_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    runner_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"assignment:            {assignment.name} ({len(assignment.cases)} cases)")
    print(f"machine:               {platform.processor() or platform.machine()}, Python {sys.version.split()[0]}")
    print(f"sandbox:               {'bubblewrap' if isolated else 'NONE (' + warning + ')'}")
    print(f"submissions:           {args.n}, graded one after another on one core")
    print(f"median s/submission:   {statistics.median(seconds):.3f}   (target < {TARGET_SECONDS})")
    print(f"p10 / p90 s:           {seconds[len(seconds) // 10]:.3f} / {seconds[(9 * len(seconds)) // 10]:.3f}")
    print(f"total wall s:          {total:.2f}  ({args.n / total:.1f} submissions/s)")
    print(f"peak RSS grader MiB:   {grader_peak:.0f}")
    print(f"peak RSS sandbox MiB:  {runner_peak:.0f}  (largest single sandboxed run)")
    if wrong:
        print(f"ERROR: {len(wrong)} copies did not earn full marks: {wrong[:5]}")
        return 1
    return 0 if statistics.median(seconds) < TARGET_SECONDS else 3


if __name__ == "__main__":
    sys.exit(main())
