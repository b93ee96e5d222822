"""The answer key as CSV and JSON, and helpers shared by the LMS exports.

``key.csv``: one row per student and question (columns in ``KEY_COLUMNS``); numeric keys
are in the asked unit (``unit`` = 10^-k, also stated in the question text); choice keys
are option letters ("B"; "A;C" for select-all). ``key.json`` holds the same plus each
option's text and the distractors (mistake name, value).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..outputs import csvsafe
from .model import Question, option_letter
from .variants import Exam

KEY_COLUMNS = ("student_id", "name", "form", "variant", "question", "number", "kind", "points", "key",
               "tolerance", "unit", "rtol", "atol", "template", "version", "mistakes")


def decimal_text(x: float) -> str:
    """A number in positional notation (no exponent: Canvas New Quizzes rejects 1E+6)."""
    if not math.isfinite(x):
        raise ValueError(f"cannot write {x} as a decimal")
    return np.format_float_positional(float(x), trim="-")


def key_text(q: Question) -> str:
    if q.kind == "numeric":
        return decimal_text(q.key)
    return ";".join(option_letter(i) for i in q.key)


def unit_text(q: Question) -> str:
    return f"1e-{q.unit_exponent}" if q.unit_exponent else "1"


def key_rows(exam: Exam) -> list[dict]:
    rows = []
    for v in exam.variants:
        for q in v.questions:
            rows.append({
                "student_id": v.student.student_id, "name": v.student.name, "form": v.form or "",
                "variant": v.label, "question": q.qid, "number": q.number, "kind": q.kind,
                "points": q.points, "key": key_text(q),
                "tolerance": decimal_text(q.tolerance) if q.tolerance is not None else "",
                "unit": unit_text(q), "rtol": q.rtol, "atol": q.atol, "template": q.template,
                "version": q.version,
                "mistakes": ";".join(f"{d.mistake}={decimal_text(d.value)}" for d in q.distractors
                                     if math.isfinite(d.value)),
            })
    return rows


def write_keys(exam: Exam, out: Path) -> dict[str, Path]:
    rows = key_rows(exam)
    csv_path = out / "key.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csvsafe.dict_writer(handle, KEY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    detail = []
    for v, row_block in zip(exam.variants, _chunks(rows, len(exam.templates)), strict=True):
        for q, row in zip(v.questions, row_block, strict=True):
            entry = dict(row)
            entry["key_value"] = q.key
            entry["tolerance"] = q.tolerance
            entry["options"] = [{"letter": option_letter(i), "correct": o.correct, "mistake": o.mistake,
                                 "description": o.description, "text": _plain(o.text)}
                                for i, o in enumerate(q.options)]
            entry["distractors"] = [{"mistake": d.mistake, "description": d.description,
                                     "value": d.value if math.isfinite(d.value) else None}
                                    for d in q.distractors]
            detail.append(entry)
    json_path = out / "key.json"
    json_path.write_text(json.dumps({"exam_id": exam.exam_id, "title": exam.title, "max_points": exam.max_points,
                                     "entries": detail}, indent=1) + "\n", encoding="utf-8")
    return {"key_csv": csv_path, "key_json": json_path}


def _chunks(rows, size):
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def _plain(pieces) -> str:
    from .markup import to_plain

    return to_plain(pieces)
