"""``autograder exam``: thin command line over the exam library (defaults live there).

    autograder exam list [--templates DIR]
    autograder exam build --roster roster.csv --secret-file secret.txt --exam-id ID --out DIR
                          [--title T] [--forms N] [--templates DIR] [--questions a,b,...] [--no-pdf]
                          [--lms-math tex|plain]
    autograder exam grade --manifest DIR/manifest.json --responses responses.csv --out DIR
                          [--multi-policy all_or_nothing|right_minus_wrong|per_option]
                          [--strict] [--no-decimal-comma]
    autograder exam regrade --manifest OLD/manifest.json --responses responses.csv --out DIR
                            [--templates DIR] [--multi-policy ...] [--strict] [--no-decimal-comma]
    autograder exam coding build --roster roster.csv --secret-file secret.txt --exam-id ID
                                 --tasks softmax,cross_entropy,... [--draw K] --out DIR
    autograder exam coding grade --manifest DIR/coding_manifest.json --submissions DIR --out DIR
                                 [--jobs N] [--regrade] [--wait] [--isolation MODE]
"""

from __future__ import annotations

import sys
from pathlib import Path


def _questions(text: str | None) -> list[str] | None:
    return [q.strip() for q in text.split(",") if q.strip()] if text else None


def cmd_list(args) -> int:
    from .variants import available_templates

    for t in available_templates(Path(args.templates) if args.templates else None).values():
        needs = ", ".join(t.assignments) or "NumPy only"
        print(f"{t.id:28} v{t.version} {t.kind:8} {t.points:g} pt  {t.title} [{needs}; {t.source}]")
    return 0


def cmd_build(args) -> int:
    from .build import build_exam

    result = build_exam(roster=Path(args.roster), secret_file=Path(args.secret_file), exam_id=args.exam_id,
                        out=Path(args.out), title=args.title or "", forms=args.forms,
                        templates_dir=Path(args.templates) if args.templates else None,
                        questions=_questions(args.questions), pdf=not args.no_pdf, workers=args.workers,
                        lms_math=args.lms_math)
    exam = result.exam
    print(f"exam {exam.exam_id}: {len(exam.variants)} students, {len(exam.templates)} questions, "
          f"{exam.max_points:g} points" + (f", {exam.forms} forms" if exam.forms else ""))
    for name, path in result.files.items():
        print(f"  {name:14} {path}")
    print("  seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in result.seconds.items()))
    return 0


def cmd_grade(args) -> int:
    from .grading import MultiPolicy, grade, read_responses, write_grades
    from .variants import read_manifest

    grades = grade(read_manifest(Path(args.manifest)), read_responses(Path(args.responses)),
                   MultiPolicy(args.multi_policy), strict=args.strict, decimal_comma=not args.no_decimal_comma)
    files = write_grades(grades, Path(args.out))
    for warning in grades.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"graded {len(grades.students)} students (max {grades.max_score:g} points)")
    print(f"grades:  {files['grades']}\ndetails: {files['details']}")
    return 0


def cmd_regrade(args) -> int:
    from .grading import MultiPolicy, regrade

    out = Path(args.out)
    changes, notes = regrade(manifest_path=Path(args.manifest), responses_path=Path(args.responses), out=out,
                             templates_dir=Path(args.templates) if args.templates else None,
                             policy=MultiPolicy(args.multi_policy), strict=args.strict,
                             decimal_comma=not args.no_decimal_comma)
    for note in notes:
        print(f"template changed: {note}")
    print(f"{len(changes)} student(s) changed score")
    for c in changes:
        print(f"  {c.student_id:12} {c.old_score:g} -> {c.new_score:g} ({c.delta:+g}) {', '.join(c.questions)}")
    print(f"new manifest, key and grades under {out}/ (changes.csv, regrade.json)")
    return 0


def cmd_coding_build(args) -> int:
    from .coding import build_coding_exam

    path = build_coding_exam(roster=Path(args.roster), secret_file=Path(args.secret_file), exam_id=args.exam_id,
                             out=Path(args.out), tasks=_questions(args.tasks) or [], draw=args.draw,
                             title=args.title or "")
    print(f"coding exam manifest: {path}\nnotebooks: {path.parent / 'notebooks'}/")
    return 0


def cmd_coding_grade(args) -> int:
    from ..sandbox import SandboxSettings
    from .coding import grade_coding_exam

    try:
        gradebook = grade_coding_exam(manifest_path=Path(args.manifest), submissions=Path(args.submissions),
                                      out=Path(args.out), settings=SandboxSettings(isolation=args.isolation),
                                      progress=lambda m: print(m, file=sys.stderr, flush=True),
                                      jobs=args.jobs, regrade=args.regrade, wait=args.wait)
    except KeyboardInterrupt as exc:
        from ..machine.tempdirs import interrupted_exit_code

        print(f"interrupted: what was graded is cached in {Path(args.out) / 'cache'}; "
              "run the same command again to resume", file=sys.stderr)
        return interrupted_exit_code(exc)
    print(f"gradebook: {gradebook}")
    return 0


def _run(func):
    """Exam errors (bad roster, template file, responses) become one clear line, exit 2."""
    def run(args) -> int:
        from .custom import TemplateError
        from .grading import ResponsesError
        from .references import ReferenceMissing
        from .seeding import SecretError
        from .variants import RosterError

        try:
            return func(args)
        except (TemplateError, ResponsesError, ReferenceMissing, SecretError, RosterError) as exc:
            print(f"autograder exam: error: {exc}", file=sys.stderr)
            return 2
    return run


def register(subparsers) -> None:
    """Add ``exam`` and its sub-commands to the ``autograder`` parser."""
    exam = subparsers.add_parser("exam", help="per-student exam variants, keys, LMS exports; grade answer sheets",
                                 description=__doc__.split("\n\n", 1)[0])
    sub = exam.add_subparsers(dest="exam_command", required=True)

    lst = sub.add_parser("list", help="the question templates")
    lst.add_argument("--templates", metavar="DIR", help="also an instructor template folder")
    lst.set_defaults(func=_run(cmd_list))

    b = sub.add_parser("build", help="variants per student, PDFs, Moodle/Canvas/QTI exports, keys, manifest")
    b.add_argument("--roster", required=True, metavar="CSV", help="columns student_id, name")
    b.add_argument("--secret-file", required=True, metavar="FILE",
                   help="course secret (>= 16 bytes) that keys every seed; keep it private")
    b.add_argument("--exam-id", required=True)
    b.add_argument("--out", required=True, metavar="DIR")
    b.add_argument("--title", help="printed on every page (default: the exam id)")
    b.add_argument("--forms", type=int, metavar="N", help="N fixed forms A, B, ... instead of one per student")
    b.add_argument("--templates", metavar="DIR", help="instructor templates (*.toml, *.json)")
    b.add_argument("--questions", metavar="IDS", help="comma-separated template ids, in exam order (default: all)")
    b.add_argument("--no-pdf", action="store_true", help="skip the PDFs (exports and keys only)")
    b.add_argument("--workers", type=int, default=2, help="threads compiling PDFs (default 2)")
    b.add_argument("--lms-math", choices=("tex", "plain"), default="tex",
                   help="formulas in Moodle/Canvas/QTI text: TeX \\( ... \\) for MathJax (default) or plain Unicode")
    b.set_defaults(func=_run(cmd_build))

    def policy(p):
        p.add_argument("--multi-policy", default="all_or_nothing",
                       choices=("all_or_nothing", "right_minus_wrong", "per_option"),
                       help="partial credit for select-all questions (default all_or_nothing)")
        p.add_argument("--strict", action="store_true",
                       help="two different answers to one question: grade neither (default: the last row wins)")
        p.add_argument("--no-decimal-comma", action="store_true",
                       help="refuse 0,5 (default: read it as 0.5)")

    g = sub.add_parser("grade", help="grade a responses CSV (student_id, question, answer)")
    g.add_argument("--manifest", required=True, metavar="JSON")
    g.add_argument("--responses", required=True, metavar="CSV")
    g.add_argument("--out", required=True, metavar="DIR")
    policy(g)
    g.set_defaults(func=_run(cmd_grade))

    r = sub.add_parser("regrade", help="re-solve keys from the manifest with fixed templates; report changes")
    r.add_argument("--manifest", required=True, metavar="JSON", help="the manifest of the original build")
    r.add_argument("--responses", required=True, metavar="CSV")
    r.add_argument("--out", required=True, metavar="DIR")
    r.add_argument("--templates", metavar="DIR", help="instructor templates (default: the build's folder)")
    policy(r)
    r.set_defaults(func=_run(cmd_regrade))

    coding = sub.add_parser("coding", help="a coding exam graded by the assignment grader")
    coding_sub = coding.add_subparsers(dest="coding_command", required=True)
    cb = coding_sub.add_parser("build", help="per-student notebooks and seeds")
    cb.add_argument("--roster", required=True, metavar="CSV")
    cb.add_argument("--secret-file", required=True, metavar="FILE")
    cb.add_argument("--exam-id", required=True)
    cb.add_argument("--tasks", required=True, metavar="NAMES",
                    help="comma-separated functions, e.g. softmax,cross_entropy (or a1_softmax.softmax)")
    cb.add_argument("--draw", type=int, metavar="K", help="each student gets K of the tasks (seeded)")
    cb.add_argument("--title")
    cb.add_argument("--out", required=True, metavar="DIR")
    cb.set_defaults(func=_run(cmd_coding_build))
    cg = coding_sub.add_parser("grade", help="grade submissions on each student's hidden inputs")
    cg.add_argument("--manifest", required=True, metavar="JSON")
    cg.add_argument("--submissions", required=True, metavar="DIR")
    cg.add_argument("--out", required=True, metavar="DIR")
    cg.add_argument("--isolation", choices=("auto", "bubblewrap", "none"), default="auto")
    cg.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                    help="submissions graded at once, each worker in its own sandbox uid (default: all cores)")
    cg.add_argument("--regrade", action="store_true", help="grade everything again, ignoring the cache")
    cg.add_argument("--wait", action="store_true",
                    help="when another run is grading into DIR, wait for it instead of refusing")
    cg.set_defaults(func=_run(cmd_coding_grade))
