"""Rosters, per-student (or per-form) variants, and the manifest that records them.

The manifest (``manifest.json``) holds, for every student: the form (if any) and, per
question, the template id and version, the seed, the parameters the student saw, the key,
tolerances, unit, distractors, option order, the question text and every option as
printed (its text, the mistake it stood for, its value for a numeric choice). With it a TA regenerates exactly
what a student saw, and a regrade re-solves the same parameters after a template fix and
decides again which of the printed options is right.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..csvinput import CsvInputError, read_table
from . import bank, custom
from .markup import to_plain
from .model import Option, Question, Template, TemplateError, instantiate
from .seeding import form_label, secret_fingerprint, variant_seed

MANIFEST_FORMAT = "autograder-exam-manifest"
MANIFEST_VERSION = 1


class RosterError(ValueError):
    """The roster CSV is unusable."""


@dataclass(frozen=True)
class Student:
    student_id: str
    name: str


@dataclass(eq=False)
class Variant:
    """label: the LMS pool name, the form letter or v001, v002, ... in roster order."""

    student: Student
    form: str | None
    questions: list[Question]
    label: str = ""


@dataclass
class Exam:
    exam_id: str
    title: str
    templates: list[Template]
    variants: list[Variant]
    forms: int | None
    secret_fingerprint: str
    created: str
    templates_dir: str | None = None

    @property
    def max_points(self) -> float:
        return sum(t.points for t in self.templates)

    def distinct_variants(self) -> list[Variant]:
        """One variant per form (forms), else every student's (for LMS question pools)."""
        if self.forms is None:
            return self.variants
        seen, out = set(), []
        for v in self.variants:
            if v.form not in seen:
                seen.add(v.form)
                out.append(v)
        return sorted(out, key=lambda v: v.form)


def read_exam_roster(path: Path) -> list[Student]:
    """CSV with a header holding ``student_id`` and ``name`` (other columns are ignored)."""
    try:  # the kit's one CSV reader: ';' or tabs, BOMs, blank rows; not UTF-8 is named
        table = read_table(path, "roster")
    except CsvInputError as exc:
        raise RosterError(str(exc)) from None
    for column in table.missing(("student_id", "name")):
        raise RosterError(f"{path}: the header needs a '{column}' column (found: {', '.join(table.columns)})")
    students, seen = [], {}
    for line, cells in table.rows:
        row = {k.casefold(): v for k, v in cells.items()}
        sid, name = row.get("student_id", ""), row.get("name", "")
        if not sid:
            raise RosterError(f"{path}:{line}: empty student_id")
        # "s1001" and "S1001", or one name in NFC and NFD, are one student typed twice: two
        # variants for one person, and an answer sheet that matches neither.
        key = unicodedata.normalize("NFC", sid).casefold()
        if key in seen:
            first, first_line = seen[key]
            also = "" if first == sid else f" (line {first_line} has {first!r})"
            raise RosterError(f"{path}:{line}: duplicate student_id {sid!r}{also}")
        seen[key] = (sid, line)
        students.append(Student(sid, name or sid))
    if not students:
        raise RosterError(f"{path}: no students")
    return students


def available_templates(templates_dir: Path | None = None) -> dict[str, Template]:
    """Built-in templates plus an instructor folder's; an instructor id may not shadow one."""
    found = bank.built_in()
    if templates_dir is not None:
        for template in custom.load_folder(Path(templates_dir)):
            if template.id in found:
                raise custom.TemplateFileError(Path(template.source), "id",
                                               f"{template.id!r} is a built-in template id")
            found[template.id] = template
    return found


def select(templates: dict[str, Template], questions: list[str] | None) -> list[Template]:
    if not questions:
        return list(templates.values())
    unknown = [q for q in questions if q not in templates]
    if unknown:
        raise TemplateError(f"unknown question template(s) {', '.join(unknown)}; "
                            f"available: {', '.join(templates)}")
    if len(set(questions)) != len(questions):
        raise TemplateError("a question template is listed twice")
    return [templates[q] for q in questions]


def assign_forms(secret: bytes, exam_id: str, students: list[Student], forms: int) -> dict[str, str]:
    """Round-robin over a keyed-hash order: balanced forms nobody can predict."""
    order = sorted(students, key=lambda s: variant_seed(secret, exam_id, s.student_id, "form-assignment", 0))
    return {s.student_id: form_label(i % forms) for i, s in enumerate(order)}


def draw_questions(templates: list[Template], secret: bytes, exam_id: str, who: str) -> list[Question]:
    return [instantiate(t, t.id, n, variant_seed(secret, exam_id, who, t.id, t.version))
            for n, t in enumerate(templates, start=1)]


def build_variants(students: list[Student], templates: list[Template], secret: bytes, exam_id: str,
                   title: str = "", forms: int | None = None, templates_dir: str | None = None) -> Exam:
    if forms is not None and not 1 <= forms <= 26:
        raise ValueError("--forms must be between 1 and 26")
    variants = []
    if forms:
        assignment = assign_forms(secret, exam_id, students, forms)
        by_form = {label: draw_questions(templates, secret, exam_id, f"form:{label}")
                   for label in sorted(set(assignment.values()))}
        variants = [Variant(s, assignment[s.student_id], by_form[assignment[s.student_id]]) for s in students]
    else:
        variants = [Variant(s, None, draw_questions(templates, secret, exam_id, s.student_id)) for s in students]
    _label(variants)
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    return Exam(exam_id, title or exam_id, templates, variants, forms, secret_fingerprint(secret), created,
                templates_dir)


def _label(variants: list[Variant]) -> None:
    for index, v in enumerate(variants, start=1):
        v.label = v.form or f"v{index:03d}"


def _template_record(t: Template) -> dict:
    record = {"id": t.id, "version": t.version, "kind": t.kind, "title": t.title, "topic": t.topic,
              "points": t.points, "rtol": t.rtol, "atol": t.atol, "source": t.source}
    if t.source != "built-in":
        record["source_sha256"] = hashlib.sha256(Path(t.source).read_bytes()).hexdigest()
    else:
        record["code_sha256"] = code_fingerprint(t)
    return record


def code_fingerprint(t: Template) -> str:
    """SHA-256 of a built-in template's class source: a regrade notices an edit that
    forgot to bump the version."""
    try:
        source = inspect.getsource(type(t))
    except (OSError, TypeError):
        source = type(t).__qualname__
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _template_changes(record: dict, t: Template) -> list[str]:
    reasons = []
    if t.version != record["version"]:
        reasons.append(f"version {record['version']} -> {t.version}")
    if t.source != "built-in" and "source_sha256" in record:
        now = hashlib.sha256(Path(t.source).read_bytes()).hexdigest()
        if now != record["source_sha256"]:
            reasons.append(f"file {t.source} changed (sha256 {record['source_sha256'][:12]} -> {now[:12]})")
    if t.source == "built-in" and "code_sha256" in record and code_fingerprint(t) != record["code_sha256"]:
        reasons.append("code changed")
    return reasons


def printed_options(q: Question, entry: dict, template: Template) -> tuple[list[Option], list[str]]:
    """The options exactly as the student saw them (manifest ``entry``), with which of them
    is right decided again by today's solution ``q`` (solved on the printed parameters).

    A numeric choice: an option is right when its value lies within the template's
    tolerance of the new key; a wrong one is named by the new distractor it matches (else
    by the mistake it stood for when printed). Statements: the new solution's verdict on
    the option at the same place (same option order as printed)."""
    stored = entry.get("options") or []
    if not stored:
        return q.options, []
    notes = []
    new_key = next((o.value for o in q.options if o.correct and o.value is not None), None)
    if template.kind == "choice" and new_key is not None:
        tolerance = template.tolerance(new_key * q.scale) / q.scale
        options = []
        for o in stored:
            value = _option_value(o)
            right = bool(value is not None and math.isfinite(value) and abs(value - new_key) <= tolerance)
            mistake, description = o.get("mistake"), o.get("description", "")
            for d in q.distractors:
                if value is not None and math.isfinite(d.value) and abs(value - d.value) <= tolerance:
                    mistake, description = d.mistake, d.description
            options.append(Option([o["text"]], right, None if right else mistake,
                                  "" if right else description, value))
        return options, notes
    if len(stored) != len(q.options):
        raise TemplateError(f"template {template.id}: {len(q.options)} options now, {len(stored)} printed; "
                            "a regrade cannot decide which printed option is right")
    if [o["text"] for o in stored] != [to_plain(o.text) for o in q.options]:
        notes.append("option wording changed; the printed texts are kept")
    options = [Option([o["text"]], new.correct, None if new.correct else o.get("mistake"),
                      "" if new.correct else o.get("description", ""), o.get("value"))
               for o, new in zip(stored, q.options, strict=True)]
    return options, notes


def _option_value(option: dict) -> float | None:
    if option.get("value") is not None:
        return float(option["value"])
    try:  # manifests written before options kept their value: the printed number
        return float(option["text"].replace("−", "-").replace("∞", "inf"))
    except ValueError:
        return None


def manifest(exam: Exam) -> dict:
    return {
        "format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, "kit_version": __version__,
        "exam_id": exam.exam_id, "title": exam.title, "created": exam.created, "forms": exam.forms,
        "secret_fingerprint": exam.secret_fingerprint, "templates_dir": exam.templates_dir,
        "max_points": exam.max_points,
        "templates": [_template_record(t) for t in exam.templates],
        "variants": [{"student_id": v.student.student_id, "name": v.student.name, "form": v.form,
                      "questions": [q.manifest_entry() for q in v.questions]} for v in exam.variants],
    }


def write_manifest(exam: Exam, path: Path) -> None:
    path.write_text(json.dumps(manifest(exam), indent=1, allow_nan=True) + "\n", encoding="utf-8")


def read_manifest(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:  # truncated by a copy, edited by hand
        raise ValueError(f"{path} is not an exam manifest: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path} is not an exam manifest")
    if data.get("format_version") != MANIFEST_VERSION:
        raise ValueError(f"{path}: manifest format version {data.get('format_version')} is not supported")
    return data


def rebuild(data: dict, templates_dir: Path | None = None) -> tuple[Exam, list[str]]:
    """Re-solve every manifest question with today's templates, keeping what students saw
    (parameters, option order, unit, the printed options). Returns the exam and notes on
    changed templates (version, file or code) and on questions that lost their key."""
    folder = templates_dir if templates_dir is not None else data.get("templates_dir")
    available = available_templates(Path(folder) if folder else None)
    notes = []
    templates = []
    for record in data["templates"]:
        if record["id"] not in available:
            raise TemplateError(f"template {record['id']} from the manifest is not available "
                                "(pass --templates DIR for instructor templates)")
        t = available[record["id"]]
        reasons = _template_changes(record, t)
        if reasons:
            notes.append(f"{t.id}: {'; '.join(reasons)} (key re-solved on the printed parameters)")
        templates.append(t)
    by_id = {t.id: t for t in templates}
    variants = []
    question_notes: dict[tuple[str, str], list[str]] = {}
    for v in data["variants"]:
        questions = []
        for entry in v["questions"]:
            t = by_id[entry["template"]]
            try:
                q = instantiate(t, entry["qid"], entry["number"], entry["seed"], params=entry["params"],
                                order=entry["order"] or None, unit=entry["unit_exponent"])
            except TemplateError:
                if t.kind != "choice":
                    raise
                # a numeric choice whose fix added or dropped a distractor: the printed options
                # are matched by value below, so the stored order is not needed
                q = instantiate(t, entry["qid"], entry["number"], entry["seed"], params=entry["params"],
                                unit=entry["unit_exponent"])
            q.draws = entry["draws"]
            q.version = entry["version"]  # what the student saw; the template note records the fix
            q.options, option_notes = printed_options(q, entry, t)
            if "text" in entry and entry["text"] != to_plain(q.prompt):
                option_notes.append("the question text changed since it was printed; the new key answers the "
                                    "new wording (check it still fits what the students read)")
            if "text" in entry:
                q.prompt = [entry["text"]]  # the regraded manifest keeps what was printed
            if q.options:
                q.key = [i for i, o in enumerate(q.options) if o.correct]
                if t.kind == "choice" and len(q.key) != 1:
                    option_notes.append(f"{len(q.key)} of the printed options are right now")
            for note in dict.fromkeys(option_notes):
                question_notes.setdefault((t.id, note), []).append(v["student_id"])
            questions.append(q)
        variants.append(Variant(Student(v["student_id"], v["name"]), v["form"], questions))
    for (template_id, note), who in question_notes.items():
        notes.append(f"{template_id}: {note} ({len(who)} student(s): {', '.join(who[:5])}"
                     f"{', ...' if len(who) > 5 else ''})")
    _label(variants)
    exam = Exam(data["exam_id"], data["title"], templates, variants, data["forms"],
                data["secret_fingerprint"], data["created"], str(folder) if folder else None)
    return exam, notes
