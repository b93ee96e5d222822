"""Time to grade a coding exam, and what the cache saves.

Rerun: .venv/bin/python benchmarks/bench_exam_coding.py [-n STUDENTS]

Builds a coding exam for a synthetic roster of N students (default 40; tasks softmax,
cross_entropy and softmax_cross_entropy_grad, two drawn per student), hands in the
reference solution for every student, then times ``grade_coding_exam``: a first run with
one job and with two, a re-run that finds everything cached, and a re-run after one
resubmission. Prints wall-clock seconds per run and how many students each graded.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import tempfile
import time
from pathlib import Path

TASKS = ["softmax", "cross_entropy", "softmax_cross_entropy_grad"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--students", type=int, default=40)
    args = parser.parse_args(argv)

    from autograder.classroom import batch
    from autograder.exam import coding
    from autograder.exam import references as refs

    graded: list[str] = []
    real = batch.grade_found

    def counted(grading, found, *rest, **kwargs):  # how many students a run grades, not reuses
        graded.append(found.student)
        return real(grading, found, *rest, **kwargs)

    batch.grade_found = counted
    source = "\n\n".join(["import numpy as np"] + [inspect.getsource(refs.reference(a))
                                                   for a in ("a1_softmax", "a2_losses", "a4_backprop")])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        roster = work / "roster.csv"
        roster.write_text("student_id,name\n" + "".join(f"s{i:04d},Student {i}\n" for i in range(args.students)))
        secret = work / "secret.txt"
        secret.write_text("benchmark-secret-0123456789\n")
        manifest = coding.build_coding_exam(roster=roster, secret_file=secret, exam_id="bench",
                                            out=work / "exam", tasks=TASKS, draw=2)
        subs = work / "subs"
        subs.mkdir()
        for student in json.loads(manifest.read_text())["students"]:
            (subs / f"{student['student_id']}.py").write_text(source)

        def run(label: str, out: str, **options) -> None:
            graded.clear()
            started = time.perf_counter()
            coding.grade_coding_exam(manifest_path=manifest, submissions=subs, out=work / out, **options)
            print(f"{label:34} {time.perf_counter() - started:7.2f} s  graded {len(graded)}")

        print(f"{args.students} students, {platform.python_version()}, {os.cpu_count()} cores")
        run("first run, --jobs 1", "one", jobs=1)
        run("first run, --jobs 2", "two", jobs=2)
        run("re-run, everything cached", "two", jobs=2)
        (subs / "s0000.py").write_text(source + "\n# resubmitted\n")
        run("re-run after one resubmission", "two", jobs=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
