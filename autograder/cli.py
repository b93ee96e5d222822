"""The ``autograder`` command: a thin layer over the library; defaults live there."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .assignment import AssignmentError, available_assignments, load_assignment
from .sandbox import IsolationUnavailable, SandboxSettings


def _settings(args) -> SandboxSettings:
    return SandboxSettings(isolation=args.isolation)


def cmd_build(args) -> int:
    from .build import build_assignment

    names = args.assignments or available_assignments()
    for name in names:
        built = build_assignment(load_assignment(name), Path(args.out))
        print(f"{name}: student -> {built.student_dir}")
        print(f"{' ' * len(name)}  autograder -> {built.autograder_dir}")
    return 0


def cmd_check(args) -> int:
    from .check import run_check

    result, text = run_check(args.assignment, Path(args.submission), _settings(args))
    print(text)
    return 0


def cmd_grade(args) -> int:
    from .batch import grade_batch

    assignment = load_assignment(args.assignment)
    batch = grade_batch(assignment, Path(args.submissions), Path(args.out), _settings(args),
                        public_only=args.public_only,
                        progress=lambda m: print(m, file=sys.stderr, flush=True))
    statuses: dict[str, int] = {}
    for r in batch.results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    print(f"graded {len(batch.results)} submission(s): {summary}")
    print(f"gradebook: {batch.gradebook}\nfeedback:  {batch.feedback_dir}/\nreport:    {batch.report}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(Path(args.out), _settings(args))


def cmd_list(args) -> int:
    for name in available_assignments():
        a = load_assignment(name)
        print(f"{name}: {a.title} ({len(a.cases)} cases, {a.max_score:g} points; "
              f"questions: {', '.join(a.questions)})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autograder", description="Build, check and grade assignments.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def isolation_option(sp):
        sp.add_argument("--isolation", choices=("auto", "bubblewrap", "none"), default="auto",
                        help="auto: bubblewrap when it works, else resource limits only (with a "
                             "warning); bubblewrap: refuse to run without it; none: limits only")

    b = sub.add_parser("build", help="write the student and autograder folders")
    b.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all")
    b.add_argument("--out", required=True, metavar="DIR")
    b.set_defaults(func=cmd_build)

    c = sub.add_parser("check", help="a student's self-check on the public tests")
    c.add_argument("assignment", metavar="ASSIGNMENT", help="name, or a built student folder")
    c.add_argument("submission", metavar="SUBMISSION")
    isolation_option(c)
    c.set_defaults(func=cmd_check)

    g = sub.add_parser("grade", help="grade one submission or a folder of them")
    g.add_argument("assignment", metavar="ASSIGNMENT", help="name, or a built autograder folder")
    g.add_argument("submissions", metavar="SUBMISSIONS")
    g.add_argument("--out", required=True, metavar="DIR")
    g.add_argument("--public-only", action="store_true", help="grade on the public cases only")
    isolation_option(g)
    g.set_defaults(func=cmd_grade)

    d = sub.add_parser("demo", help="build a1 and grade the bundled sample class")
    d.add_argument("--out", default="demo-out", metavar="DIR")
    isolation_option(d)
    d.set_defaults(func=cmd_demo)

    lst = sub.add_parser("list", help="the kit's assignments")
    lst.set_defaults(func=cmd_list)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (AssignmentError, IsolationUnavailable, FileNotFoundError, ValueError) as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
