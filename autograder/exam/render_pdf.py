"""Exam PDFs with real math, compiled in-process by Typst (the ``typst`` package; no LaTeX).

One PDF per student (``pdf/<student_id>.pdf``), one print file with every student
(``print/all_students.pdf``) and the answer key (``answer_key.pdf``). Every page carries
the student's name and id in its header and "page N of M" (M: that student's pages) in
its footer. In the print file every student starts on an odd page (a blank page pads a
student with an odd page count), so a duplex printer never puts two students on one
sheet. Each question is kept on one page, with a box for the working (and a line for the
final answer of a numeric question). Fonts are Typst's embedded ones (system fonts
ignored), so the output does not depend on the machine.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import typst

from ..machine.files import distinct_filenames
from .markup import format_number, to_typst, typst_string
from .model import Question, option_letter
from .variants import Exam, Variant

PREAMBLE = """#set document(title: {title})
#set text(font: "New Computer Modern", size: 11pt, lang: "en")
#set par(justify: false)
#let checkbox = box(width: 0.8em, height: 0.8em, stroke: 0.6pt, baseline: 0.1em)
#let answerline = box(width: 5cm, stroke: (bottom: 0.6pt), height: 1.2em)
#let working(height) = block(width: 100%, height: height, stroke: 0.4pt + luma(160), inset: 4pt, radius: 2pt,
  text(8pt, fill: luma(120))[Working])
"""
WORKING_NUMERIC = "4cm"  # room for a few lines of computation
WORKING_CHOICE = "2cm"


def _header(exam: Exam, variant: Variant) -> str:
    who = f"{variant.student.name} · ID {variant.student.student_id}"
    form = f" · Form {variant.form}" if variant.form else ""
    return (f"text(9pt)[#{typst_string(exam.title)} #h(1fr) Name: #{typst_string(who)}"
            f"#{typst_string(form)}]")


def _question(q: Question, key: bool) -> str:
    lines = ["#block(breakable: false)[",
             f"== Question {q.number} #h(1fr) #text(weight: \"regular\", size: 10pt)[({format_number(q.points)} "
             f"point{'s' if q.points != 1 else ''})]", to_typst(q.prompt), ""]
    if q.kind == "multi":
        lines.append("_Select all that apply._ \\")
    for i, option in enumerate(q.options):
        mark = "#checkbox" if q.kind == "multi" else f"({option_letter(i)})"
        if q.kind == "multi":
            mark = f"#checkbox ({option_letter(i)})"
        tick = " #h(1em) *✓*" if key and option.correct else ""
        why = (f" #h(1em) #text(size: 9pt)[#{typst_string('mistake: ' + option.mistake)}]"
               if key and option.mistake else "")
        lines.append(f"{mark} #h(0.4em) {to_typst(option.text)}{tick}{why} \\")
    if not key:
        lines.append(f"#working({WORKING_NUMERIC if q.kind == 'numeric' else WORKING_CHOICE})")
    if q.kind == "numeric" and not key:
        lines.append("Answer: #answerline")
    if key:
        lines.append("")
        lines.append(_key_line(q))
    lines += ["]", ""]
    return "\n".join(lines)


def _key_line(q: Question) -> str:
    if q.kind == "numeric":
        unit = f" (in units of $10^(-{q.unit_exponent})$)" if q.unit_exponent else ""
        text = (f"*Key:* ${format_number(q.key, 6)}$ ± ${format_number(q.tolerance, 3)}${unit}, "
                f"rtol {format_number(q.rtol)}, atol {format_number(q.atol)}.")
        if q.distractors:
            wrong = ", ".join(f"#{typst_string(d.mistake)} → ${format_number(d.value, 4)}$" for d in q.distractors)
            text += f" Common mistakes: {wrong}."
        return text
    letters = ", ".join(option_letter(i) for i in q.key)
    return f"*Key:* {letters}"


def variant_source(exam: Exam, variant: Variant, key: bool = False, index: int = 0) -> str:
    """Typst markup for one student's pages (a ``#page`` block with the student header);
    ``index`` makes the label that marks the student's last page unique in the document."""
    title = exam.title + (" — answer key" if key else "")
    intro = ("Give numeric answers to at least 3 significant digits. Choice questions: circle one "
             "letter; questions marked _select all that apply_: tick every correct box.")
    who = f"Name: {variant.student.name}    Student ID: {variant.student.student_id}"
    if variant.form:
        who += f"    Form: {variant.form}"
    body = "\n".join(_question(q, key) for q in variant.questions)
    end = f"student-end-{index}"
    return (f"#counter(page).update(1)\n"
            f"#page(paper: \"a4\", margin: (x: 2cm, top: 2.4cm, bottom: 2cm),\n"
            f"  header: {_header(exam, variant)},\n"
            f"  footer: context align(center, text(9pt)[page #counter(page).display() of "
            f"#counter(page).at(<{end}>).first()]))[\n"
            f"= #{typst_string(title)}\n"
            f"#{typst_string(who)}\n\n"
            f"{'' if key else intro}\n\n{body}\n#metadata(none) <{end}>\n]\n")


def document(exam: Exam, variants: list[Variant], key: bool = False) -> str:
    """Every variant's pages; each starts on an odd page (blank pages pad) for duplex printing."""
    parts = [variant_source(exam, v, key, index) for index, v in enumerate(variants)]
    return PREAMBLE.format(title=typst_string(exam.title)) + '#pagebreak(to: "odd", weak: true)\n'.join(parts)


def _timestamp(when: datetime | None) -> int | None:
    return int(when.timestamp()) if when else None


def _compile_to(path: str, source: str, timestamp: int | None) -> str:
    """Worker: compile one document and write it (module level, so a process pool can call it)."""
    try:
        data = typst.compile(source.encode("utf-8"), ignore_system_fonts=True, timestamp=timestamp)
    except RuntimeError as exc:
        raise RuntimeError(f"typst could not compile {path}: {exc}") from None
    Path(path).write_bytes(data)
    return path


def write_pdfs(exam: Exam, out: Path, workers: int = 2) -> dict[str, Path]:
    """Per-student PDFs, the combined print file and the answer key; returns their paths.

    typst.compile holds the GIL, so documents are compiled in ``workers`` processes
    (forkserver: no fork of a parent that may run PyTorch threads); the two long
    documents go first so they overlap with the many short ones.
    """
    when = datetime.fromisoformat(exam.created)
    stamp = _timestamp(when)
    pdf_dir = out / "pdf"
    print_dir = out / "print"
    pdf_dir.mkdir(parents=True, exist_ok=True)
    print_dir.mkdir(parents=True, exist_ok=True)
    combined = print_dir / "all_students.pdf"
    key = out / "answer_key.pdf"
    jobs = [(str(combined), document(exam, exam.variants)),
            (str(key), document(exam, exam.distinct_variants(), key=True))]
    # Distinct names: ids such as "Zoë" and "Zoé" clean to one name, and one student's PDF
    # would silently replace the other's.
    names = distinct_filenames([v.student.student_id for v in exam.variants], fallback="student")
    jobs += [(str(pdf_dir / f"{names[v.student.student_id]}.pdf"), document(exam, [v])) for v in exam.variants]
    if workers <= 1 or len(jobs) < 8:
        for path, source in jobs:
            _compile_to(path, source, stamp)
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_compile_to, path, source, stamp) for path, source in jobs]
            for future in futures:
                future.result()
    _forget_stale(pdf_dir, {f"{name}.pdf" for name in names.values()})
    return {"pdf_dir": pdf_dir, "print": combined, "key": key}


WRITTEN_LIST = ".written"  # in pdf/: the exams the last build wrote, one file name a line


def _forget_stale(pdf_dir: Path, written: set[str]) -> None:
    """Remove the exams an earlier build wrote (listed in ``WRITTEN_LIST``) that this one did
    not: students no longer on the roster must not be uploaded with this build's. Files the
    kit did not write are never touched."""
    listing = pdf_dir / WRITTEN_LIST
    try:
        before = set(listing.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        before = set()
    for stale in before - written:
        if stale.endswith(".pdf") and Path(stale).name == stale:
            (pdf_dir / stale).unlink(missing_ok=True)
    listing.write_text("".join(f"{name}\n" for name in sorted(written)), encoding="utf-8")
