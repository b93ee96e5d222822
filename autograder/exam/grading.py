"""Grading answer sheets against a manifest, and regrading after a key or template fix.

Responses CSV: a header with ``student_id``, ``question`` and ``answer``; ``question`` is
the question id (template id) or its number ("3" or "Q3"). Answers: a number for numeric
questions (in the unit the question asked for), a letter for choice questions, letters for
select-all questions ("A;C", "A,C", "A C" or "AC"). A blank or missing answer earns 0.

Numbers as people write them (``parse_number``): "0.5", "-2", "1e-3", "−0.5" (Unicode
minus) and, unless ``decimal_comma=False`` (``--no-decimal-comma``), "0,5". Refused, with
the line and the reason in a warning and in ``details.csv``: "1_000", "1 000", "1,000.5",
"12,345" (a thousands separator or a decimal comma? write 12345 or 12.345), "1/2", "inf",
anything else that is not one plain number. A refused answer is ``invalid`` and earns 0.

Several rows for one student and question: identical answers count once; different ones
are reported, and the last row in the file is graded (``strict=True``, ``--strict``:
neither is graded, the answer is ``invalid``). The rest of the class is graded either way.

Numeric: full points when |answer - key| <= tolerance. A wrong answer that lies within
tolerance of a distractor is reported with that common mistake's name and description;
so is a wrong choice, and every wrong option ticked in a select-all question.
Select-all, by ``MultiPolicy``:
  all_or_nothing      full points only for exactly the correct set;
  right_minus_wrong   points × max(0, right chosen / #right − wrong chosen / #wrong);
  per_option          points × (options decided correctly) / #options.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from ..csvinput import CsvInputError, read_table
from ..outputs import csvsafe
from ..outputs.points import format_points as _points  # one home for the rule (and its "-0" fix)
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
    note: str = ""  # why an answer was refused, or which of several rows was graded


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
    try:  # the kit's one CSV reader: ';' or tabs, BOMs, blank rows; not UTF-8 is named
        table = read_table(path, "answer sheet")
    except CsvInputError as exc:
        raise ResponsesError(str(exc)) from None
    missing = table.missing(("student_id", "question", "answer"))
    if missing:
        raise ResponsesError(f"{path}: the header needs the column(s) {', '.join(missing)} "
                             f"(found: {', '.join(table.columns) or 'nothing'})")
    rows = [(line, {k.casefold(): v for k, v in cells.items()}) for line, cells in table.rows]
    return [(line, row["student_id"], row["question"], row["answer"]) for line, row in rows]


_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?[1-9]\d{0,2},\d{3}")  # 1,000 or 12,345: thousands or decimals?


def parse_number(text: str, decimal_comma: bool = True) -> tuple[float | None, str]:
    """(value, "") for one plain number, else (None, the reason it is refused)."""
    answer = text.strip().replace("−", "-").replace("\u2009", " ")
    if "_" in answer:
        return None, f"{text!r} is not a number: underscores are not accepted (write 1000, not 1_000)"
    if re.search(r"\s", answer):
        return None, f"{text!r} is not a number: spaces inside a number are not accepted"
    if not _NUMBER.fullmatch(answer):
        return None, f"{text!r} is not a number"
    if "," in answer:
        if not decimal_comma:
            return None, f"{text!r}: decimal commas are not accepted here (write {answer.replace(',', '.')})"
        if _GROUPED.fullmatch(answer):
            return None, (f"{text!r} is ambiguous: a thousands separator or a decimal comma? "
                          f"(write {answer.replace(',', '')} or {answer.replace(',', '.')})")
        answer = answer.replace(",", ".")
    value = float(answer)
    if not math.isfinite(value):
        return None, f"{text!r} is not a finite number"
    return value, ""


def _letters(answer: str, n_options: int) -> set[int] | None:
    compact = re.sub(r"[\s,;]+", "", answer.upper())
    if not re.fullmatch(r"[A-Z]*", compact):
        return None
    chosen = {ord(c) - ord("A") for c in compact}
    return chosen if all(i < n_options for i in chosen) else None


def _near(value: float, target: float, tolerance: float) -> bool:
    return math.isfinite(target) and abs(value - target) <= tolerance


def _description(entry: dict, option: dict) -> str:
    """An option's mistake description (manifests before options kept it: the distractors')."""
    if option.get("description"):
        return option["description"]
    return next((d["description"] for d in entry.get("distractors", []) if d["mistake"] == option.get("mistake")), "")


def mark(entry: dict, student_id: str, answer: str, policy: MultiPolicy, decimal_comma: bool = True) -> Mark:
    """One answer against one manifest question entry."""
    points = float(entry["points"])
    result = Mark(student_id, entry["qid"], answer, 0.0, points, "blank")
    if answer == "":
        return result
    kind = entry["kind"]
    if kind == "numeric":
        value, reason = parse_number(answer, decimal_comma)
        if value is None:
            result.status, result.note = "invalid", reason
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
        result.note = (f"{answer!r}: choose one letter of A-{option_letter(len(options) - 1)}" if kind == "choice"
                       else f"{answer!r}: letters of A-{option_letter(len(options) - 1)} only")
        return result
    right = {i for i, o in enumerate(options) if o["correct"]}
    if kind == "choice":
        (pick,) = chosen
        if pick in right:
            result.points, result.status = points, "correct"
        else:
            result.status = "wrong"
            if options[pick].get("mistake"):
                result.mistake = options[pick]["mistake"]
                result.mistake_description = _description(entry, options[pick])
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
    named = [options[i] for i in sorted(chosen & wrong) if options[i].get("mistake")]
    result.mistake = ";".join(o["mistake"] for o in named)
    result.mistake_description = "; ".join(_description(entry, o) for o in named)
    return result


def _one_answer(rows: list[tuple[int, str]], sid: str, qid: str, strict: bool,
                warnings: list[str]) -> tuple[str | None, int, str]:
    """(answer, line, note) from every row of one student and question; answer None:
    refused (``strict`` and different answers)."""
    line, answer = rows[-1]
    if len(rows) == 1:
        return answer, line, ""
    lines = ", ".join(str(n) for n, _ in rows)
    if len({a for _, a in rows}) == 1:
        warnings.append(f"{sid}, {qid}: the same answer {len(rows)} times (lines {lines}); counted once")
        return answer, line, ""
    if strict:
        note = f"{len(rows)} different answers (lines {lines}); --strict grades none of them"
        warnings.append(f"{sid}, {qid}: {note}")
        return None, line, note
    note = f"{len(rows)} different answers (lines {lines}); the last one (line {line}) is graded"
    warnings.append(f"{sid}, {qid}: {note}")
    return answer, line, note


def _fold_id(student_id: str) -> str:
    """What two spellings of one id share: case, Unicode form, and the leading zeros Excel
    drops from a numeric id ("00123" becomes 123 when the sheet is opened and saved)."""
    folded = unicodedata.normalize("NFC", student_id).casefold()
    return (folded.lstrip("0") or "0") if folded.isdigit() else folded


def grade(manifest: dict, responses: list[tuple[int, str, str, str]],
          policy: MultiPolicy = MultiPolicy.ALL_OR_NOTHING, *, strict: bool = False,
          decimal_comma: bool = True) -> Grades:
    """Every student's marks; problems with single rows become warnings (with the line),
    never an error that stops the class from being graded."""
    variants = {v["student_id"]: v for v in manifest["variants"]}
    questions = [t["id"] for t in manifest["templates"]]
    by_number = {str(i + 1): q for i, q in enumerate(questions)}
    rows: dict[tuple[str, str], list[tuple[int, str]]] = {}
    warnings = []
    # An answer sheet typed or exported elsewhere may write "S1001" for the roster's "s1001",
    # or a name decomposed (NFD) where the roster has it composed: the same student.
    folded: dict[str, list[str]] = {}
    for known in variants:
        folded.setdefault(_fold_id(known), []).append(known)
    for line, sid, question, answer in responses:
        qid = by_number.get(question.upper().removeprefix("Q"), question) if question not in questions else question
        if sid not in variants and len(folded.get(_fold_id(sid), [])) == 1:
            sid = folded[_fold_id(sid)][0]
        if sid not in variants:
            warnings.append(f"line {line}: student {sid!r} is not in the manifest; ignored")
            continue
        if qid not in questions:
            warnings.append(f"line {line}: unknown question {question!r}; ignored")
            continue
        rows.setdefault((sid, qid), []).append((line, answer))
    marks = {}
    for sid, variant in variants.items():
        for entry in variant["questions"]:
            found = rows.get((sid, entry["qid"]))
            if not found:
                marks[(sid, entry["qid"])] = mark(entry, sid, "", policy, decimal_comma)
                continue
            answer, line, note = _one_answer(found, sid, entry["qid"], strict, warnings)
            if answer is None:
                result = Mark(sid, entry["qid"], found[-1][1], 0.0, float(entry["points"]), "invalid", note=note)
            else:
                result = mark(entry, sid, answer, policy, decimal_comma)
                if result.status == "invalid" and result.note:
                    warnings.append(f"line {line}: {sid}, {entry['qid']}: {result.note}; 0 points")
                result.note = "; ".join(n for n in (result.note, note) if n)
            marks[(sid, entry["qid"])] = result
    students = [{"student_id": v["student_id"], "name": v["name"], "form": v["form"] or ""}
                for v in manifest["variants"]]
    return Grades(questions, students, marks, warnings)


def write_grades(grades: Grades, out: Path) -> dict[str, Path]:
    """``grades.csv`` (one row per student: score, max, points per question) and
    ``details.csv`` (one row per answer: status and the common mistake it matches)."""
    out.mkdir(parents=True, exist_ok=True)
    summary = out / "grades.csv"
    with open(summary, "w", newline="", encoding="utf-8") as handle:
        writer = csvsafe.writer(handle)
        writer.writerow(["student_id", "name", "form", "score", "max_score", *grades.questions])
        for s in grades.students:
            sid = s["student_id"]
            writer.writerow([sid, s["name"], s["form"], _points(grades.score(sid)), _points(grades.max_score),
                             *[_points(grades.marks[(sid, q)].points) for q in grades.questions]])
    details = out / "details.csv"
    with open(details, "w", newline="", encoding="utf-8") as handle:
        writer = csvsafe.writer(handle)
        writer.writerow(["student_id", "question", "answer", "points", "max_points", "status", "mistake",
                         "mistake_description", "note"])
        for s in grades.students:
            for q in grades.questions:
                m = grades.marks[(s["student_id"], q)]
                writer.writerow([m.student_id, m.question, m.answer, _points(m.points), _points(m.max_points),
                                 m.status, m.mistake, m.mistake_description, m.note])
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


def changed_keys(old_manifest: dict, new_manifest: dict) -> dict[str, int]:
    """Per template id: how many students' keys (numeric value, or which printed options
    are right) differ between two manifests of the same exam."""
    counts: dict[str, int] = {}
    for old_v, new_v in zip(old_manifest["variants"], new_manifest["variants"], strict=True):
        for old_q, new_q in zip(old_v["questions"], new_v["questions"], strict=True):
            if old_q["kind"] == "numeric":
                moved = not math.isclose(old_q["key"], new_q["key"], rel_tol=1e-12, abs_tol=1e-15)
            else:
                moved = old_q["key"] != new_q["key"]
            if moved:
                counts[old_q["template"]] = counts.get(old_q["template"], 0) + 1
    return counts


def write_changes(changes: list[Change], notes: list[str], out: Path,
                  keys_changed: dict[str, int] | None = None) -> Path:
    """``changes.csv`` (whose score moved) and ``regrade.json``: ``changed_templates`` names
    every template whose version, file or code changed or whose keys moved, with the
    reasons and how many keys moved; ``template_changes`` holds the notes as text."""
    keys_changed = keys_changed or {}
    path = out / "changes.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csvsafe.writer(handle)
        writer.writerow(["student_id", "name", "old_score", "new_score", "delta", "questions"])
        for c in changes:
            writer.writerow([c.student_id, c.name, _points(c.old_score), _points(c.new_score),
                             ("+" if c.delta > 0 else "") + _points(c.delta), ";".join(c.questions)])
    named: dict[str, dict] = {}
    for note in notes:
        template_id, _, reason = note.partition(": ")
        named.setdefault(template_id, {"template": template_id, "reasons": [], "keys_changed": 0})
        named[template_id]["reasons"].append(reason)
    for template_id, count in keys_changed.items():
        named.setdefault(template_id, {"template": template_id, "reasons": [], "keys_changed": 0})
        named[template_id]["keys_changed"] = count
    (out / "regrade.json").write_text(json.dumps({
        "changed_templates": list(named.values()),
        "template_changes": notes,
        "changed": [{"student_id": c.student_id, "old_score": c.old_score, "new_score": c.new_score,
                     "delta": c.delta, "questions": c.questions} for c in changes]}, indent=1) + "\n")
    return path


def letters(indices) -> str:
    return ";".join(option_letter(i) for i in indices)


def regrade(*, manifest_path: Path, responses_path: Path, out: Path, templates_dir: Path | None = None,
            policy: MultiPolicy = MultiPolicy.ALL_OR_NOTHING, strict: bool = False,
            decimal_comma: bool = True) -> tuple[list[Change], list[str]]:
    """Grade with the manifest's keys and with keys re-solved by today's templates (same
    parameters, order, units and printed options); write the new manifest, key, grades,
    ``changes.csv`` (whose score changed and by how much) and ``regrade.json`` under ``out``."""
    from .keys import write_keys
    from .variants import manifest, read_manifest, rebuild, write_manifest

    data = read_manifest(manifest_path)
    responses = read_responses(responses_path)
    old = grade(data, responses, policy, strict=strict, decimal_comma=decimal_comma)
    exam, notes = rebuild(data, templates_dir)
    new_manifest = manifest(exam)
    new = grade(new_manifest, responses, policy, strict=strict, decimal_comma=decimal_comma)
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(exam, out / "manifest.json")
    write_keys(exam, out)
    write_grades(new, out)
    changes = compare(old, new)
    write_changes(changes, notes, out, changed_keys(data, new_manifest))
    return changes, notes
