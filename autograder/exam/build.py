"""``autograder exam build``: roster -> variants -> manifest, PDFs, LMS exports and keys.

    out/manifest.json          seeds, parameters, keys, tolerances, template versions
    out/pdf/<student_id>.pdf   one exam per student (name and id on every page)
    out/print/all_students.pdf every student's exam in one print file
    out/answer_key.pdf         the key per variant (per form with --forms)
    out/key.csv, key.json      the key, one row per student and question
    out/moodle.xml             Moodle XML question bank (one category per question)
    out/canvas_qti12.zip       QTI 1.2 for Canvas (question groups, one item per variant)
    out/qti21.zip              QTI 2.1 content package (items, test, manifest)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from . import keys, moodle, qti, render_pdf
from .seeding import read_secret
from .variants import Exam, available_templates, build_variants, read_exam_roster, select, write_manifest


@dataclass
class BuiltExam:
    exam: Exam
    out: Path
    files: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def write_exam_files(exam: Exam, out: Path, pdf: bool = True, workers: int = 2, lms_math: str = "tex") -> BuiltExam:
    """Every output under ``out``; ``lms_math``: "tex" (formulas for MathJax) or "plain"."""
    out.mkdir(parents=True, exist_ok=True)
    result = BuiltExam(exam, out)
    steps = [
        ("manifest", lambda: {"manifest": _manifest(exam, out)}),
        ("keys", lambda: keys.write_keys(exam, out)),
        ("moodle", lambda: {"moodle": moodle.write_moodle(exam, out, lms_math)}),
        ("canvas_qti12", lambda: {"canvas_qti12": qti.write_canvas(exam, out, lms_math)}),
        ("qti21", lambda: {"qti21": qti.write_qti21(exam, out, lms_math)}),
    ]
    if pdf:
        steps.append(("pdf", lambda: render_pdf.write_pdfs(exam, out, workers=workers)))
    for name, step in steps:
        started = time.perf_counter()
        result.files.update(step())
        result.seconds[name] = time.perf_counter() - started
    return result


def _manifest(exam: Exam, out: Path) -> Path:
    path = out / "manifest.json"
    write_manifest(exam, path)
    return path


def build_exam(*, roster: Path, secret_file: Path, exam_id: str, out: Path, title: str = "",
               forms: int | None = None, templates_dir: Path | None = None,
               questions: list[str] | None = None, pdf: bool = True, workers: int = 2,
               lms_math: str = "tex") -> BuiltExam:
    """Draw every student's variant and write all outputs under ``out``."""
    started = time.perf_counter()
    secret = read_secret(secret_file)
    students = read_exam_roster(Path(roster))
    templates = select(available_templates(templates_dir), questions)
    exam = build_variants(students, templates, secret, exam_id, title=title, forms=forms,
                          templates_dir=str(templates_dir) if templates_dir else None)
    drawn = time.perf_counter() - started
    result = write_exam_files(exam, Path(out), pdf=pdf, workers=workers, lms_math=lms_math)
    result.seconds = {"draw": drawn, **result.seconds}
    return result
