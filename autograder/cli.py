"""The ``autograder`` command: a thin layer over the library; defaults live there."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .classroom.late_policy import add_grade_options as add_late_options
from .classroom.notebook_pdf import add_grade_option as add_pdf_option
from .classroom.notebook_pdf import register as register_pdf
from .course.assignment import AssignmentError, available_assignments, load_assignment
from .exam.cli import register as register_exam
from .grading import gpu_stage
from .sandbox import IsolationUnavailable, Limits, SandboxSettings, parse_limit


def _settings(args) -> SandboxSettings:
    overrides = tuple(parse_limit(text) for text in getattr(args, "limit", None) or ())
    return SandboxSettings(isolation=args.isolation, overrides=overrides)


def cmd_build(args) -> int:
    from .publish.build import build_assignment

    names = args.assignments or available_assignments()
    options = _gradescope_options(args)
    for name in names:
        built = build_assignment(load_assignment(name), Path(args.out), gradescope=options,
                                 otter=not args.no_otter, late_policy=_late_policy(args))
        print(f"{name}: student -> {built.student_dir}")
        print(f"{' ' * len(name)}  autograder -> {built.autograder_dir}")
        for label, path in (("gradescope", built.gradescope_zip), ("otter", built.otter_zip)):
            if path:
                print(f"{' ' * len(name)}  {label} -> {path}")
        for note in built.notes:
            print(f"{' ' * len(name)}  note: {note}")
    return 0


def cmd_check(args) -> int:
    from .publish.check import run_check

    result, text = run_check(args.assignment, Path(args.submission), _settings(args))
    print(text)
    return 0


# Exit codes of `autograder grade` (and demo); the README lists them.
EXIT_OK = 0           # every submission has its row, none of them a grader error
EXIT_INCOMPLETE = 1   # a grader_error row, a fault of the machine (disk full, TMPDIR), --out busy
EXIT_USAGE = 2        # bad arguments or input: unknown assignment, no such file, --out of another assignment


def cmd_grade(args) -> int:
    from .classroom.batch import grade_batch
    from .classroom.progress import ProgressMeter
    from .machine.tempdirs import interrupted_exit_code

    assignment = load_assignment(args.assignment)
    from .classroom.late_grading import inputs_from_args, report_lines
    from .classroom.notebook_pdf import pdf_from_args

    late = inputs_from_args(args, assignment)  # a broken policy file stops here, before grading
    if args.roster:  # and so does a roster the exports could not read, not after the class
        from .outputs.lms import read_lms_roster
        read_lms_roster(Path(args.roster))
    meter = ProgressMeter(sys.stderr)
    try:
        batch = grade_batch(assignment, Path(args.submissions), Path(args.out), _settings(args),
                            public_only=args.public_only, meter=meter, jobs=args.jobs,
                            regrade=args.regrade, wait=args.wait, late=late,
                            gpu=gpu_stage.options_from_args(args))
    except KeyboardInterrupt as exc:
        print("interrupted: what was graded is cached in "
              f"{Path(args.out) / 'cache'}; run the same command again to resume", file=sys.stderr)
        return interrupted_exit_code(exc)
    statuses: dict[str, int] = {}
    for r in batch.results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    print(f"{len(batch.results)} submission(s): {summary}")
    print(f"graded now: {len(batch.graded)}, reused from the cache: {len(batch.reused)}")
    if batch.unreadable:
        print(f"could not be read (invalid_submission, the reason in each feedback file): {', '.join(batch.unreadable)}")
    if batch.skipped:
        print(f"skipped, not submissions ({len(batch.skipped)}): {', '.join(batch.skipped)}")
    print(f"gradebook: {batch.gradebook}\nfeedback:  {batch.feedback_dir}/\nreport:    {batch.report}")
    for line in report_lines(batch.out_dir) if late is not None else ():
        print(f"late:      {line}")
    pdf_from_args(args)
    status = _export(args, Path(args.out))
    if batch.grader_errors:
        print(f"autograder: {len(batch.grader_errors)} submission(s) not graded because of a grader error "
              f"({', '.join(batch.grader_errors[:10])}); they are not cached: run the same command again",
              file=sys.stderr)
        return EXIT_INCOMPLETE
    return status


def _export(args, out: Path) -> int:
    from .outputs.lms import export_grades

    if args.canvas is None and not args.moodle:
        return 0
    for path, unmatched in export_grades(out, canvas=args.canvas, moodle=args.moodle,
                                         roster=Path(args.roster) if args.roster else None):
        print(f"export:    {path}")
        if unmatched:
            print(f"           left out (no LMS id: add them to --roster; or one LMS user with several "
                  f"submissions: keep one): {', '.join(unmatched[:10])}"
                  + (f" and {len(unmatched) - 10} more" if len(unmatched) > 10 else ""))
    return 0


def cmd_export(args) -> int:
    return _export(args, Path(args.dir))


# --- Gradescope and otter (autograder/publish/gradescope.py, autograder/publish/otter_export.py) ---------------

def _gradescope_options(args):
    from .publish.gradescope import GradescopeOptions

    return GradescopeOptions(hidden_tests=args.gradescope_visibility,
                             score=args.gradescope_score_visibility)


def _late_policy(args):
    from .classroom.late_policy import load_policy

    return load_policy(Path(args.late_policy)) if getattr(args, "late_policy", None) else None


def cmd_gradescope_run(args) -> int:
    from .publish.gradescope import run_gradescope

    run_gradescope(Path(args.root) if args.root else None, isolation=args.isolation)
    return 0  # results.json is written whatever happened; its content says what


def _gradescope_parsers(sub, build, isolation_option) -> None:
    from .publish.gradescope import DEFAULT_ROOT, ROOT_ENV, VISIBILITIES

    build.add_argument("--gradescope-visibility", choices=VISIBILITIES, default="after_published",
                       help="when students see the hidden tests on Gradescope (default: after_published)")
    build.add_argument("--gradescope-score-visibility", choices=VISIBILITIES, default="visible",
                       help="when students see their overall Gradescope result (default: visible)")
    build.add_argument("--no-otter", action="store_true", help="do not write the otter-grader zip")
    build.add_argument("--late-policy", metavar="FILE",
                       help="the course's late policy (TOML/JSON) for the Gradescope zip; due dates and "
                            "extensions come from Gradescope (default: the assignment's late_policy.toml)")
    r = sub.add_parser("gradescope-run", help="grade the Gradescope submission (what run_autograder calls)")
    r.add_argument("--root", metavar="DIR",
                   help=f"Gradescope's autograder folder (default: ${ROOT_ENV} or {DEFAULT_ROOT})")
    isolation_option(r)
    r.set_defaults(func=cmd_gradescope_run)



def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(Path(args.out), _settings(args), assignments=args.assignment or None)


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
    register_exam(sub)
    register_pdf(sub)

    def isolation_option(sp):
        sp.add_argument("--isolation", choices=("auto", "bubblewrap", "none"), default="auto",
                        help="auto: bubblewrap when it works, else resource limits only (with a "
                             "warning); bubblewrap: refuse to run without it; none: limits only")
        sp.add_argument("--limit", action="append", metavar="NAME=VALUE",
                        help="change one of the assignment's sandbox limits, e.g. wall_seconds=900, "
                             "cpu_seconds=600, memory_bytes=6GiB (repeatable; names: "
                             + ", ".join(Limits.__dataclass_fields__) + ")")

    b = sub.add_parser("build", help="write the student and autograder folders")
    b.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all")
    b.add_argument("--out", required=True, metavar="DIR", type=a_path)
    b.set_defaults(func=cmd_build)
    _gradescope_parsers(sub, b, isolation_option)

    c = sub.add_parser("check", help="a student's self-check on the public tests")
    c.add_argument("assignment", metavar="ASSIGNMENT", help="name, or a built student folder")
    c.add_argument("submission", metavar="SUBMISSION", type=a_path)
    isolation_option(c)
    c.set_defaults(func=cmd_check)

    def export_options(sp):
        sp.add_argument("--canvas", nargs="?", const="", default=None, metavar="ASSIGNMENT",
                        help="write canvas_grades.csv for Canvas's Grades > Import: columns Student, ID, "
                             "SIS User ID, SIS Login ID, Section, then '<name> (<id>)'. ASSIGNMENT is "
                             "the Canvas assignment id or the full column header; without it Canvas "
                             "creates a new assignment. Rows are matched by the Canvas user id in "
                             "Canvas download names, or through --roster")
        sp.add_argument("--moodle", action="store_true",
                        help="write moodle_worksheet.csv for the assignment's 'Upload grading worksheet' "
                             "(Identifier 'Participant <id>' from Moodle download folders or a worksheet "
                             "given as --roster, Grade capped at the maximum, Last modified (grade)) and "
                             "moodle_grades.csv for the gradebook's CSV import (one identity column from "
                             "--roster: ID number, Email address or Username)")
        sp.add_argument("--roster", metavar="CSV",
                        help="class list to map submission ids to LMS users: a Canvas gradebook export "
                             "(Student, ID, SIS User ID, SIS Login ID, Section) or a Moodle one (First "
                             "name, Last name, Email address, ID number, Username); a submission's id "
                             "matches any of those, or the e-mail's local part, or the full name")

    g = sub.add_parser(
        "grade", help="grade one submission or a folder/zip of them",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Grade a class in parallel, resuming where a previous run stopped.",
        epilog="""SUBMISSIONS: a .ipynb/.py/.zip, a folder of them (or of per-student folders), or a
class zip as Canvas or Moodle download it (per-student files, folders or zips inside).
Student ids: Canvas names '<name>[_LATE]_<userid>_<attachmentid>_<file>' give '<name>_<userid>'
('anon_<id>' under anonymous grading); Moodle folders '<Full Name>_<id>_assignsubmission_<plugin>[_]'
(the '_' before Moodle 4.1) give '<Full_Name>_<id>';
otherwise the file stem or folder name. Entries of one student are graded together;
two different entries with the same id keep separate rows named by their file names
(a note says so).

Outputs in DIR: gradebook.csv, feedback/<id>.txt, report.html, results.json, and
cache/ (one result per student, signed, written as soon as it is graded). A re-run grades
only submissions whose content or tests (hidden material, limits, kit version) changed;
Ctrl-C or a killed run loses nothing already graded. DIR holds one assignment, and one
run at a time.

Exit codes: 0 every submission graded (whatever its status); 1 some grader_error rows,
or a fault of the machine (disk full, TMPDIR missing or full, --out not writable, --out
busy); 2 bad arguments or input; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).""")
    g.add_argument("assignment", metavar="ASSIGNMENT", help="name, or a built autograder folder")
    g.add_argument("submissions", metavar="SUBMISSIONS", type=a_path)
    g.add_argument("--out", required=True, metavar="DIR", type=a_path)
    g.add_argument("--public-only", action="store_true", help="grade on the public cases only")
    g.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="submissions graded at once, each worker in its own sandbox uid "
                        "(default: all cores)")
    g.add_argument("--regrade", action="store_true", help="grade everything again, ignoring the cache")
    g.add_argument("--wait", action="store_true",
                   help="when another run is grading into DIR, wait for it instead of refusing")
    isolation_option(g)
    export_options(g)
    add_late_options(g)
    add_pdf_option(g)
    gpu_stage.add_grade_options(g)
    g.set_defaults(func=cmd_grade)

    x = sub.add_parser("export", help="write Canvas/Moodle grade-import CSVs from a graded DIR")
    x.add_argument("dir", metavar="DIR", type=a_path, help="the --out folder of `autograder grade`")
    export_options(x)
    x.set_defaults(func=cmd_export)

    d = sub.add_parser("demo", help="build every assignment and grade its bundled sample class")
    d.add_argument("--out", default="demo-out", metavar="DIR")
    d.add_argument("--assignment", action="append", metavar="NAME",
                   help="only this assignment (repeatable; default: all with a sample class)")
    isolation_option(d)
    d.set_defaults(func=cmd_demo)

    lst = sub.add_parser("list", help="the kit's assignments")
    lst.set_defaults(func=cmd_list)
    return p


def a_path(text: str) -> str:
    """A path argument; "" (an unset shell variable) would mean the current folder: refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (an unset shell variable?)")
    return text


def _printable_streams() -> None:
    """A terminal whose locale cannot show a student's name (LC_ALL=C without Python's UTF-8
    mode, an ISO-8859-1 server) gets it escaped: a print must never stop a class."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and stream.errors in (None, "strict", "surrogateescape"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    from .classroom.outdir import OutDirBusy, OutDirInUse
    from .machine.faults import MachineFault
    from .machine.tempdirs import exit_cleanly_on_sigterm, interrupted_exit_code

    _printable_streams()
    args = parser().parse_args(argv)
    try:
        with exit_cleanly_on_sigterm():
            return args.func(args)
    except (MachineFault, OutDirBusy) as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except OutDirInUse as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        print("autograder: interrupted", file=sys.stderr)
        return interrupted_exit_code(exc)
    except (AssignmentError, IsolationUnavailable, FileNotFoundError, ValueError) as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
