"""Moodle XML question bank (``moodle.xml``): one category per question, one question per
variant (form or student), so a quiz's "random question from category" gives each
attempt one variant.

numerical: the key with its absolute tolerance (atol + rtol |key|, in the asked unit),
then every common mistake as a 0 % answer with a tolerance of its own and feedback naming
the mistake (Moodle takes the first answer whose interval holds the response; the build
guarantees the intervals are disjoint). multichoice: single (one correct, 100 %) or
select-all (each correct option +100/k %, each wrong one -100/m %), mistake feedback on
the distractor options. Formulas are TeX between ``\\( ... \\)`` for Moodle's MathJax filter
(``math_style="plain"``: plain Unicode, for a site without it).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from .keys import decimal_text
from .markup import to_html
from .model import Question
from .variants import Exam


def _text(parent: ET.Element, tag: str, text: str, fmt: str | None = "html") -> ET.Element:
    element = ET.SubElement(parent, tag, {"format": fmt} if fmt else {})
    ET.SubElement(element, "text").text = text
    return element


def _fraction(x: float) -> str:
    return f"{x:.5f}".rstrip("0").rstrip(".")


def _common(question: ET.Element, q: Question, name: str, math_style: str) -> None:
    _text(question, "name", name, fmt=None)
    _text(question, "questiontext", f"<p>{to_html(q.prompt, math_style)}</p>")
    _text(question, "generalfeedback", "")
    ET.SubElement(question, "defaultgrade").text = _fraction(q.points)
    ET.SubElement(question, "penalty").text = "0"
    ET.SubElement(question, "hidden").text = "0"
    ET.SubElement(question, "idnumber").text = name.replace(" ", "_")


def numerical(q: Question, name: str, math_style: str = "tex") -> ET.Element:
    question = ET.Element("question", {"type": "numerical"})
    _common(question, q, name, math_style)
    answers = [(100, q.key, q.tolerance, "Correct.")]
    for d in q.distractors:
        if math.isfinite(d.value):
            tolerance = q.atol / q.scale + q.rtol * abs(d.value)
            answers.append((0, d.value, tolerance, f"Common mistake ({d.mistake}): {d.description}."))
    for fraction, value, tolerance, feedback in answers:
        answer = ET.SubElement(question, "answer", {"fraction": str(fraction), "format": "moodle_auto_format"})
        ET.SubElement(answer, "text").text = decimal_text(value)
        ET.SubElement(answer, "tolerance").text = decimal_text(tolerance)
        _text(answer, "feedback", feedback)
    ET.SubElement(question, "unitgradingtype").text = "0"
    ET.SubElement(question, "unitpenalty").text = "0"
    ET.SubElement(question, "showunits").text = "3"
    ET.SubElement(question, "unitsleft").text = "0"
    return question


def multichoice(q: Question, name: str, math_style: str = "tex") -> ET.Element:
    question = ET.Element("question", {"type": "multichoice"})
    _common(question, q, name, math_style)
    single = q.kind == "choice"
    ET.SubElement(question, "single").text = "true" if single else "false"
    ET.SubElement(question, "shuffleanswers").text = "false"  # letters as printed on the PDF
    ET.SubElement(question, "answernumbering").text = "ABCD"
    for tag in ("correctfeedback", "partiallycorrectfeedback", "incorrectfeedback"):
        _text(question, tag, "")
    n_right = sum(o.correct for o in q.options)
    n_wrong = len(q.options) - n_right
    for option in q.options:
        if single:
            fraction = 100.0 if option.correct else 0.0
        else:
            fraction = 100.0 / n_right if option.correct else -100.0 / max(n_wrong, 1)
        answer = ET.SubElement(question, "answer", {"fraction": _fraction(fraction), "format": "html"})
        ET.SubElement(answer, "text").text = to_html(option.text, math_style)
        feedback = f"Common mistake ({option.mistake}): {option.description}." if option.mistake else ""
        _text(answer, "feedback", feedback)
    return question


def category(path: str) -> ET.Element:
    question = ET.Element("question", {"type": "category"})
    _text(question, "category", path, fmt=None)
    _text(question, "info", "")
    return question


def quiz(exam: Exam, math_style: str = "tex") -> ET.Element:
    root = ET.Element("quiz")
    variants = exam.distinct_variants()
    for position, template in enumerate(exam.templates):
        root.append(category(f"$course$/top/{exam.exam_id}/{template.id}"))
        for v in variants:
            q = v.questions[position]
            name = f"{exam.exam_id} Q{q.number} {q.qid} {v.label}"
            root.append(numerical(q, name, math_style) if q.kind == "numeric" else multichoice(q, name, math_style))
    return root


def write_moodle(exam: Exam, out: Path, math_style: str = "tex") -> Path:
    path = out / "moodle.xml"
    tree = ET.ElementTree(quiz(exam, math_style))
    ET.indent(tree)
    tree.write(path, encoding="UTF-8", xml_declaration=True)
    return path
