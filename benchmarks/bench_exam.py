"""Time to build exam variants for a class. Rerun: .venv/bin/python benchmarks/bench_exam.py

Writes a synthetic roster of N students (default 300), then runs the whole
``autograder exam build`` path in this process: draw every student's variant of every
built-in template (keys from the reference solutions, distractors from the named
mistakes), the manifest, key CSV/JSON, Moodle XML, Canvas QTI 1.2, QTI 2.1, one PDF per
student, the combined print file and the answer key. Prints seconds per step and the
total (wall clock, including imports of the references, e.g. PyTorch for a5).

Target: well under a minute for 300 students on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 60.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--students", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2, help="threads compiling PDFs")
    parser.add_argument("--forms", type=int, default=None)
    parser.add_argument("--keep", metavar="DIR", help="write the outputs here instead of a temporary folder")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from autograder.exam.build import build_exam  # import time counts: it is part of a build

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        roster = work / "roster.csv"
        roster.write_text("student_id,name\n" + "".join(
            f"s{i:05d},Student {i:03d} Example\n" for i in range(args.students)), encoding="utf-8")
        secret = work / "secret.txt"
        secret.write_text("benchmark-secret-0123456789abcdef\n")
        out = Path(args.keep) if args.keep else work / "out"
        result = build_exam(roster=roster, secret_file=secret, exam_id="bench", out=out, title="Benchmark exam",
                            forms=args.forms, workers=args.workers)
        total = time.perf_counter() - started
        pdfs = len(list((out / "pdf").glob("*.pdf")))
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())

    exam = result.exam
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}, load average {load} (other work on the machine slows this)")
    print(f"students: {len(exam.variants)}, questions: {len(exam.templates)}, per-student PDFs: {pdfs}, "
          f"output: {size / 1e6:.1f} MB")
    for step, seconds in result.seconds.items():
        print(f"  {step:14} {seconds:7.2f} s")
    verdict = "OK" if total < TARGET_SECONDS else "SLOWER THAN TARGET"
    print(f"total: {total:.2f} s for {len(exam.variants)} students (target < {TARGET_SECONDS:.0f} s): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
