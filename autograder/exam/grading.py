"""Grading answer sheets against a manifest, and regrading after a key or template fix.

Responses CSV: a header with ``student_id``, ``question`` and ``answer``; ``question`` is
the question id (template id) or its number ("3" or "Q3"). Answers: a number for numeric
questions (in the unit the question asked for), a letter for choice questions, letters for
select-all questions ("A;C", "A,C", "A C" or "AC"). A blank or missing answer earns 0.

Numeric: full points when |answer - key| <= tolerance. A wrong answer that lies within
tolerance of a distractor is reported with that common mistake's name.
Select-all, by ``MultiPolicy``:
  all_or_nothing      full points only for exactly the correct set;
  right_minus_wrong   points × max(0, right chosen / #right − wrong chosen / #wrong);
  per_option          points × (options decided correctly) / #options.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .model import option_letter


class MultiPolicy(str, Enum):
    ALL_OR_NOTHING = "all_or_nothing"
    RIGHT_MINUS_WRONG = "right_minus_wrong"
    PER_OPTION = "per_option"


class ResponsesError(ValueError):
    """The responses CSV cannot be read."""


@dataclass
class Mark:
    student_id: str
    question: str
    answer: str
    points: float
    max_points: float
    status: str  # correct | partial | wrong | blank | invalid
    mistake: str = ""
    mistake_description: str = ""


@dataclass
class Grades:
    questions: list[str]
    students: list[dict]  # student_id, name, form
    marks: dict[tuple[str, str], Mark]
    warnings: list[str] = field(default_factory=list)

    def score(self, student_id: str) -> float:
        return sum(m.points for (sid, _), m in self.marks.items() if sid == student_id)

    @property
    def max_score(self) -> float:
        first = self.students[0]["student_id"]
        return sum(self.marks[(first, q)].max_points for q in self.questions)


def read_responses(path: Path) -> list[tuple[int, str, str, str]]:
    """(line, student_id, question, answer) per row."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("student_id", "question", "answer") if c not in (reader.fieldnames or [])]
        if missing:
            raise ResponsesError(f"{path}: the header needs the column(s) {', '.join(missing)}")
        return [(line, (row["student_id"] or "").strip(), (row["question"] or "").strip(),
                 (row["answer"] or "").strip()) for line, row in enumerate(reader, start=2)]


def _letters(answer: str, n_options: int) -> set[int] | None:
    compact = re.sub(r"[\s,;]+", "", answer.upper())
    if not re.fullmatch(r"[A-Z]*", compact):
        return None
    chosen = {ord(c) - ord("A") for c in compact}
    return chosen if all(i < n_options for i in chosen) else None


def _near(value: float, target: float, tolerance: float) -> bool:
    return math.isfinite(target) and abs(value - target) <= tolerance


def mark(entry: dict, student_id: str, answer: str, policy: MultiPolicy) -> Mark:
    """One answer against one manifest question entry."""
    points = float(entry["points"])
    result = Mark(student_id, entry["qid"], answer, 0.0, points, "blank")
    if answer == "":
        return result
    kind = entry["kind"]
    if kind == "numeric":
        try:
            value = float(answer.replace("−", "-"))
        except ValueError:
            result.status = "invalid"
            return result
        if not math.isfinite(value):
            result.status = "invalid"
            return result
        if _near(value, entry["key"], entry["tolerance"]):
            result.points, result.status = points, "correct"
            return result
        result.status = "wrong"
        scale = 10.0 ** (-entry["unit_exponent"])
        for d in entry["distractors"]:
            if d["value"] is not None and _near(value, d["value"], entry["atol"] / scale + entry["rtol"] * abs(d["value"])):
                result.mistake, result.mistake_description = d["mistake"], d["description"]
                break
        return result
    options = entry["options"]
    chosen = _letters(answer, len(options))
    if chosen is None or (kind == "choice" and len(chosen) != 1):
        result.status = "invalid"
        return result
    right = {i for i, o in enumerate(options) if o["correct"]}
    if kind == "choice":
        (pick,) = chosen
        if pick in right:
            result.points, result.status = points, "correct"
        else:
            result.status = "wrong"
            result.mistake = options[pick].get("mistake") or ""
        return result
    wrong = set(range(len(options))) - right
    if policy is MultiPolicy.ALL_OR_NOTHING:
        fraction = 1.0 if chosen == right else 0.0
    elif policy is MultiPolicy.RIGHT_MINUS_WRONG:
        fraction = max(0.0, len(chosen & right) / max(len(right), 1) - len(chosen & wrong) / max(len(wrong), 1))
    else:
        fraction = (len(chosen & right) + len(wrong - chosen)) / len(options)
    result.points = points * fraction
    result.status = "correct" if fraction == 1.0 else "partial" if fraction > 0 else "wrong"
    mistakes = [options[i]["mistake"] for i in sorted(chosen & wrong) if options[i].get("mistake")]
    result.mistake = ";".join(mistakes)
    return result


def grade(manifest: dict, responses: list[tuple[int, str, str, str]],
          policy: MultiPolicy = MultiPolicy.ALL_OR_NOTHING) -> Grades:
    variants = {v["student_id"]: v for v in manifest["variants"]}
    questions = [t["id"] for t in manifest["templates"]]
    by_number = {str(i + 1): q for i, q in enumerate(questions)}
    answers: dict[tuple[str, str], str] = {}
    warnings = []
    for line, sid, question, answer in responses:
        qid = by_number.get(question.upper().removeprefix("Q"), question) if question not in questions else question
        if sid not in variants:
            warnings.append(f"line {line}: student {sid!r} is not in the manifest; ignored")
            continue
        if qid not in questions:
            warnings.append(f"line {line}: unknown question {question!r}; ignored")
            continue
        if (sid, qid) in answers:
            raise ResponsesError(f"line {line}: a second answer from {sid} to {qid}")
        answers[(sid, qid)] = answer
    marks = {}
    for sid, variant in variants.items():
        for entry in variant["questions"]:
            marks[(sid, entry["qid"])] = mark(entry, sid, answers.get((sid, entry["qid"]), ""), policy)
    students = [{"student_id": v["student_id"], "name": v["name"], "form": v["form"] or ""}
                for v in manifest["variants"]]
    return Grades(questions, students, marks, warnings)


def _points(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".")


def write_grades(grades: Grades, out: Path) -> dict[str, Path]:
    """``grades.csv`` (one row per student: score, max, points per question) and
    ``details.csv`` (one row per answer: status and the common mistake it matches)."""
    out.mkdir(parents=True, exist_ok=True)
    summary = out / "grades.csv"
    with open(summary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "name", "form", "score", "max_score", *grades.questions])
        for s in grades.students:
            sid = s["student_id"]
            writer.writerow([sid, s["name"], s["form"], _points(grades.score(sid)), _points(grades.max_score),
                             *[_points(grades.marks[(sid, q)].points) for q in grades.questions]])
    details = out / "details.csv"
    with open(details, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "question", "answer", "points", "max_points", "status", "mistake",
                         "mistake_description"])
        for s in grades.students:
            for q in grades.questions:
                m = grades.marks[(s["student_id"], q)]
                writer.writerow([m.student_id, m.question, m.answer, _points(m.points), _points(m.max_points),
                                 m.status, m.mistake, m.mistake_description])
    return {"grades": summary, "details": details}


@dataclass
class Change:
    student_id: str
    name: str
    old_score: float
    new_score: float
    questions: list[str]

    @property
    def delta(self) -> float:
        return self.new_score - self.old_score


def compare(old: Grades, new: Grades) -> list[Change]:
    """Students whose score changed, with the questions whose points changed."""
    changes = []
    for s in new.students:
        sid = s["student_id"]
        before, after = old.score(sid), new.score(sid)
        moved = [q for q in new.questions if (sid, q) in old.marks
                 and not math.isclose(old.marks[(sid, q)].points, new.marks[(sid, q)].points, abs_tol=1e-9)]
        if moved or not math.isclose(before, after, abs_tol=1e-9):
            changes.append(Change(sid, s["name"], before, after, moved))
    return changes


def write_changes(changes: list[Change], notes: list[str], out: Path) -> Path:
    path = out / "changes.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "name", "old_score", "new_score", "delta", "questions"])
        for c in changes:
            writer.writerow([c.student_id, c.name, _points(c.old_score), _points(c.new_score),
                             ("+" if c.delta > 0 else "") + _points(c.delta), ";".join(c.questions)])
    (out / "regrade.json").write_text(json.dumps({
        "template_changes": notes,
        "changed": [{"student_id": c.student_id, "old_score": c.old_score, "new_score": c.new_score,
                     "delta": c.delta, "questions": c.questions} for c in changes]}, indent=1) + "\n")
    return path


def letters(indices) -> str:
    return ";".join(option_letter(i) for i in indices)


def regrade(*, manifest_path: Path, responses_path: Path, out: Path, templates_dir: Path | None = None,
            policy: MultiPolicy = MultiPolicy.ALL_OR_NOTHING) -> tuple[list[Change], list[str]]:
    """Grade with the manifest's keys and with keys re-solved by today's templates (same
    parameters, order and units as printed); write the new manifest, key, grades and
    ``changes.csv`` (whose score changed and by how much) under ``out``."""
    from .keys import write_keys
    from .variants import manifest, read_manifest, rebuild, write_manifest

    data = read_manifest(manifest_path)
    responses = read_responses(responses_path)
    old = grade(data, responses, policy)
    exam, notes = rebuild(data, templates_dir)
    new = grade(manifest(exam), responses, policy)
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(exam, out / "manifest.json")
    write_keys(exam, out)
    write_grades(new, out)
    changes = compare(old, new)
    write_changes(changes, notes, out)
    return changes, notes
