"""Grading cost per submission, sandbox included. Rerun: ./kit setup && .venv/bin/python benchmarks/bench_grading.py

For each assignment, grades N copies of a correct submission (the reference solution as
a .py file) one after another on one core, through the full path (read, sandbox,
compare), and prints the median and spread of seconds per submission, the total, and
peak memory of the grader and of the sandboxed runners.

Target for NumPy-only assignments: median under 0.5 s per submission per core. a3_init
imports PyTorch in the sandbox for ``kaiming_init_`` and reports its own figure;
a5_finetune (training) has its own benchmark, benchmarks/bench_finetune.py.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from autograder.classroom.batch import grade_batch
from autograder.course.assignment import load_assignment
from autograder.sandbox import SandboxSettings, resolve_isolation

TARGET_SECONDS = 0.5
DEFAULT_ASSIGNMENTS = ("a1_softmax", "a2_losses", "a3_init", "a4_backprop")
NUMPY_ONLY = {"a1_softmax", "a2_losses", "a4_backprop"}


def bench_one(name: str, n: int, settings: SandboxSettings) -> tuple[dict, list[str]]:
    assignment = load_assignment(name)
    source = (assignment.hidden_dir / "reference.py").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        for i in range(n):
            (folder / f"student{i:04d}.py").write_text(source)
        started = time.perf_counter()
        batch = grade_batch(assignment, folder, Path(tmp) / "out", settings, jobs=1)
        total = time.perf_counter() - started
    seconds = sorted(r.seconds for r in batch.results)
    wrong = [r.submission for r in batch.results if r.score != assignment.max_score]
    figures = {
        "assignment": name,
        "cases": len(assignment.cases),
        "median": statistics.median(seconds),
        "p10": seconds[len(seconds) // 10],
        "p90": seconds[(9 * len(seconds)) // 10],
        "total": total,
        "per_second": n / total,
    }
    return figures, wrong


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", action="append", metavar="NAME",
                        help=f"repeatable (default: {', '.join(DEFAULT_ASSIGNMENTS)})")
    parser.add_argument("-n", type=int, default=50, help="submissions per assignment (default 50)")
    parser.add_argument("--isolation", default="auto", choices=("auto", "bubblewrap", "none"))
    args = parser.parse_args(argv)

    settings = SandboxSettings(isolation=args.isolation)
    isolated, warning = resolve_isolation(settings)
    print(f"machine:  {platform.processor() or platform.machine()}, Python {sys.version.split()[0]}")
    print(f"sandbox:  {'bubblewrap' if isolated else 'NONE (' + warning + ')'}")
    print(f"each:     {args.n} copies of the reference solution, graded one after another on one core\n")
    print(f"{'assignment':<14}{'cases':>6}{'median s':>10}{'p10':>8}{'p90':>8}{'total s':>9}{'per s':>7}  target")
    status = 0
    for name in args.assignment or DEFAULT_ASSIGNMENTS:
        figures, wrong = bench_one(name, args.n, settings)
        target = f"< {TARGET_SECONDS}" if name in NUMPY_ONLY else "(PyTorch)"
        print(f"{name:<14}{figures['cases']:>6}{figures['median']:>10.3f}{figures['p10']:>8.3f}"
              f"{figures['p90']:>8.3f}{figures['total']:>9.2f}{figures['per_second']:>7.1f}  {target}")
        if wrong:
            print(f"ERROR: {len(wrong)} copies of {name}'s reference did not earn full marks: {wrong[:5]}")
            status = 1
        elif name in NUMPY_ONLY and figures["median"] >= TARGET_SECONDS:
            status = status or 3
    grader_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    runner_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\npeak RSS grader MiB:   {grader_peak:.0f}")
    print(f"peak RSS sandbox MiB:  {runner_peak:.0f}  (largest single sandboxed run)")
    return status


if __name__ == "__main__":
    sys.exit(main())
