"""Grade files for learning-management systems to import: Canvas's gradebook CSV and Moodle's
grading worksheet and gradebook CSV, from a graded class (``export_grades``). Which student a
downloaded file belongs to is read on the way in, by ``autograder.grading.lms_names``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..csvinput import read_table
from ..machine.files import write_atomic
from . import csvsafe
from .points import format_points as _points  # one home for the rule (and its "-0" fix)

# --- Grade exports for LMS import --------------------------------------------------------
#
# Canvas (Grades > Import, lib/gradebook_importer.rb): a CSV with the columns Student, ID,
# SIS User ID, SIS Login ID, Section, then one column per assignment headed
# "<assignment name> (<assignment id>)"; a header without "(<id>)" makes Canvas create a new
# assignment. Canvas matches rows by ID (the Canvas user id), or SIS User ID / SIS Login ID.
# The optional second row "Points Possible" gives the maximum. Written as UTF-8.
#
# Moodle has two importers, so two files:
# - moodle_worksheet.csv, the assignment's "Upload grading worksheet" (offline grading,
#   mod/assign/feedback/offline/importgradeslib.php). It refuses a file without the columns
#   Identifier, Grade and "Last modified (grade)" (invalidgradeimport), matches rows by
#   "Participant <id>" (from the download's folder names, or the Identifier column of a
#   worksheet Moodle exported, given as --roster), and skips a grade above the assignment's
#   maximum, so grades are capped (and rescaled when the roster gives "Maximum Grade").
#   "Last modified (grade)" is the grading time in ISO 8601: Moodle keeps a grade edited in
#   Moodle after that time unless the teacher ticks "allow updating records modified more
#   recently in Moodle".
# - moodle_grades.csv, the gradebook's "Import > CSV file" (grade/import/csv). It maps ONE
#   column to one user field (username, ID number or email) and stops at the first row it
#   cannot match, so the file has one identity column, chosen from the roster (the first of
#   ID number, Email address, Username that every matched submission has), and rows
#   without it are left out and reported.
#
# A roster CSV (optional) fills in what the submission names cannot tell. Any of these
# headers are used when present: Canvas's gradebook export (Student, ID, SIS User ID,
# SIS Login ID, Section), Moodle's (First name, Last name/Surname, Email address,
# ID number, Username; or its grading worksheet: Identifier, Full name, Maximum Grade). A
# submission finds its roster row by LMS id (Canvas ID, Moodle participant), else by its
# student id equal (case-insensitively) to SIS Login ID, SIS User ID, ID, Username, Email
# address, ID number or the e-mail's local part, else by the student's full name.

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_WORKSHEET_COLUMNS = ("Identifier", "Full name", "Email address", "Grade", "Maximum Grade",
                            "Grade can be changed", "Last modified (grade)")
MOODLE_REQUIRED_COLUMNS = ("Identifier", "Grade", "Last modified (grade)")
MOODLE_IDENTITY_COLUMNS = ("ID number", "Email address", "Username")
ROSTER_KEYS = ("SIS Login ID", "SIS User ID", "ID", "Username", "Email address", "Email", "ID number")


@dataclass(frozen=True)
class GradeRow:
    """One submission's grade and what its name told about the student."""

    student: str
    score: float
    status: str
    lms: str = ""
    lms_id: str = ""
    name: str = ""


def read_lms_roster(path: Path) -> list[dict[str, str]]:
    """The rows of a Canvas or Moodle export (``CsvInputError`` naming the file when unreadable)."""
    rows = [row for _, row in read_table(path, "roster").rows]
    # Canvas exports carry a "Points Possible" row (and sometimes a muted-assignments row).
    return [r for r in rows if r.get("Student") != "Points Possible"]


def _norm(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text).strip().casefold()


def _participant(identifier: str) -> str:
    match = re.fullmatch(r"Participant\s+(\d+)", identifier.strip())
    return match[1] if match else ""


def _roster_index(roster: list[dict[str, str]]):
    by_canvas_id, by_participant, by_key, by_name = {}, {}, {}, {}
    for row in roster:
        if row.get("ID"):
            by_canvas_id.setdefault(row["ID"], row)
        if _participant(row.get("Identifier", "")):
            by_participant.setdefault(_participant(row["Identifier"]), row)
        for key in ROSTER_KEYS:
            value = row.get(key, "")
            if value:
                by_key.setdefault(value.casefold(), row)
                if "@" in value:
                    by_key.setdefault(value.split("@")[0].casefold(), row)
        first = row.get("First name", "")
        last = row.get("Last name", row.get("Surname", ""))
        for full in (f"{first} {last}", f"{last} {first}", row.get("Student", ""),
                     row.get("Full name", "")):
            if full.strip():
                by_name.setdefault(_norm(full.replace(",", " ")), row)
    return by_canvas_id, by_participant, by_key, by_name


def match_roster(rows: list[GradeRow], roster: list[dict[str, str]] | None) -> dict[str, dict[str, str]]:
    """student id -> its roster row, for the rows the roster identifies."""
    if not roster:
        return {}
    by_canvas_id, by_participant, by_key, by_name = _roster_index(roster)
    found = {}
    for row in rows:
        hit = (by_canvas_id.get(row.lms_id) if row.lms == "canvas" else None) \
            or (by_participant.get(row.lms_id) if row.lms == "moodle" else None) \
            or by_key.get(row.student.casefold()) or (by_name.get(_norm(row.name)) if row.name else None)
        if hit is not None:
            found[row.student] = hit
    return found


def _csv_text(header, rows) -> str:
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def canvas_csv(rows: list[GradeRow], *, column: str, max_score: float,
               roster: list[dict[str, str]] | None = None) -> tuple[str, list[str]]:
    """(Canvas grade-import CSV text, ids of submissions Canvas could not match)."""
    matched = match_roster(rows, roster)
    entries, unmatched = [], []
    for row in sorted(rows, key=lambda r: r.student):
        r = matched.get(row.student, {})
        canvas_id = r.get("ID") or (row.lms_id if row.lms == "canvas" else "")
        if not (canvas_id or r.get("SIS User ID") or r.get("SIS Login ID")):
            unmatched.append(row.student)
            continue
        person = canvas_id or f"sis:{r.get('SIS User ID', '')}:{r.get('SIS Login ID', '')}"
        entries.append((person, row.student, [r.get("Student") or row.name or row.student, canvas_id,
                                              r.get("SIS User ID", ""), r.get("SIS Login ID", ""),
                                              r.get("Section", ""), _points(row.score)]))
    table, shared = _one_row_per_person(entries)
    return _csv_text([*CANVAS_COLUMNS, column], [["Points Possible", "", "", "", "", _points(max_score)], *table]), \
        unmatched + shared


def _one_row_per_person(entries: list[tuple[str, str, list]]) -> tuple[list[list], list[str]]:
    """(rows to write, submissions left out) from (LMS person, submission id, row) entries.

    A person with several submissions ("Ada.ipynb" and "ada.py" both matching one roster
    row) gets no row: an LMS import applies rows in order, so whichever came last would
    silently become the grade. Each of those submissions is reported instead.
    """
    by_person: dict[str, list[tuple[str, list]]] = {}
    for person, student, row in entries:
        by_person.setdefault(person, []).append((student, row))
    table, shared = [], []
    for items in by_person.values():
        if len(items) == 1:
            table.append(items[0][1])
            continue
        names = ", ".join(sorted(student for student, _ in items))
        shared += [f"{student} (one LMS user, several submissions: {names})" for student, _ in items]
    return table, shared


def _full_name(row: GradeRow, r: dict[str, str]) -> str:
    first, last = r.get("First name", ""), r.get("Last name", r.get("Surname", ""))
    return f"{first} {last}".strip() or r.get("Full name", "") or row.name or row.student


def _moodle_grade(score: float, max_score: float, r: dict[str, str]) -> tuple[float, float]:
    """(grade, maximum) on Moodle's scale: rescaled to the roster's "Maximum Grade" when it
    gives one, and never above the maximum (Moodle skips such a grade)."""
    maximum = max_score
    try:
        maximum = float(r.get("Maximum Grade", "").replace(",", ".")) or max_score
    except ValueError:
        pass
    grade = score * maximum / max_score if max_score else 0.0
    return min(max(grade, 0.0), maximum), maximum


def moodle_worksheet_csv(rows: list[GradeRow], *, max_score: float, graded_at: datetime,
                         roster: list[dict[str, str]] | None = None) -> tuple[str, list[str]]:
    """(Moodle grading-worksheet CSV text, ids of submissions with no "Participant <id>")."""
    matched = match_roster(rows, roster)
    stamp = graded_at.astimezone(timezone.utc).isoformat(timespec="seconds")
    entries, unmatched = [], []
    for row in sorted(rows, key=lambda r: r.student):
        r = matched.get(row.student, {})
        participant = row.lms_id if row.lms == "moodle" else _participant(r.get("Identifier", ""))
        if not participant:
            unmatched.append(row.student)
            continue
        grade, maximum = _moodle_grade(row.score, max_score, r)
        entries.append((participant, row.student, [f"Participant {participant}", _full_name(row, r),
                                                   r.get("Email address", r.get("Email", "")),
                                                   _points(grade), _points(maximum), "Yes", stamp]))
    table, shared = _one_row_per_person(entries)
    return _csv_text(MOODLE_WORKSHEET_COLUMNS, table), unmatched + shared


def moodle_identity_column(rows: list[GradeRow], matched: dict[str, dict[str, str]]) -> str | None:
    """The one user field the gradebook import maps: the first of ID number, Email address,
    Username that every matched submission has (else the one most of them have)."""
    people = [matched[r.student] for r in rows if r.student in matched]
    if not people:
        return None
    counts = {column: sum(1 for p in people if p.get(column) or (column == "Email address" and p.get("Email")))
              for column in MOODLE_IDENTITY_COLUMNS}
    best = max(MOODLE_IDENTITY_COLUMNS, key=lambda c: (counts[c], -MOODLE_IDENTITY_COLUMNS.index(c)))
    return best if counts[best] else None


def moodle_csv(rows: list[GradeRow], *, max_score: float, column: str = "Grade",
               roster: list[dict[str, str]] | None = None) -> tuple[str, list[str]]:
    """(Moodle gradebook-import CSV text, ids of submissions left out).

    Columns: the identity column (``moodle_identity_column``), Full name, then ``column``
    (the grade item's name) with the grade, capped at the maximum. A submission the roster
    does not know, or without that identity, is left out: Moodle would stop at its row.
    """
    matched = match_roster(rows, roster)
    identity = moodle_identity_column(rows, matched)
    entries, unmatched = [], []
    for row in sorted(rows, key=lambda r: r.student):
        r = matched.get(row.student)
        value = (r.get(identity) or (r.get("Email", "") if identity == "Email address" else "")) \
            if r and identity else ""
        if not value:
            unmatched.append(row.student)
            continue
        grade, _ = _moodle_grade(row.score, max_score, r)
        entries.append((value, row.student, [value, _full_name(row, r), _points(grade)]))
    table, shared = _one_row_per_person(entries)
    return _csv_text([identity or "Email address", "Full name", column], table), unmatched + shared


def canvas_column(title: str, assignment: str) -> str:
    """The Canvas column header: "" -> the title (a new assignment), "123" -> "title (123)",
    anything with "(<id>)" -> as given."""
    assignment = assignment.strip()
    if not assignment:
        return title
    if assignment.isdigit():
        return f"{title} ({assignment})"
    return assignment


def export_grades(out_dir: Path, *, canvas: str | None = None, moodle: bool = False,
                  roster: Path | None = None) -> list[tuple[Path, list[str]]]:
    """Write DIR/canvas_grades.csv and/or DIR/moodle_worksheet.csv + DIR/moodle_grades.csv
    from DIR/results.json.

    canvas: None for no Canvas export, else the assignment ("" for a new column, its
    Canvas id, or the full "<name> (<id>)" header). Returns (file, unmatched ids) pairs.
    Scores are the final ones (after a late penalty, when a policy was used).
    """
    import json

    out_dir = Path(out_dir)
    path = out_dir / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = [GradeRow(student=str(s["submission"]), score=float(s["score"]), status=str(s["status"]),
                         lms=s.get("lms", {}).get("lms", ""), lms_id=s.get("lms", {}).get("lms_id", ""),
                         name=s.get("lms", {}).get("name", ""))
                for s in data["submissions"]]
        title, max_score = data.get("title", data["assignment"]), float(data["max_score"])
    except FileNotFoundError:
        raise FileNotFoundError(f"no results.json in {out_dir}: run `autograder grade` first") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # truncated, hand-edited, foreign
        raise ValueError(f"{path} is not a results.json the kit wrote ({type(exc).__name__}: {exc}); "
                         "run the same `autograder grade` again to rewrite it") from None
    people = read_lms_roster(roster) if roster else None
    written = []
    if canvas is not None:
        # `grade --canvas 555` then `export --canvas`: the id given once is kept, so the column
        # still names the existing Canvas assignment instead of creating a new one.
        canvas = canvas or _previous_canvas_header(out_dir / "canvas_grades.csv")
        text, unmatched = canvas_csv(rows, column=canvas_column(title, canvas),
                                     max_score=max_score, roster=people)
        written.append((_write(out_dir / "canvas_grades.csv", text), unmatched))
    if moodle:
        try:
            graded_at = datetime.strptime(data.get("generated", ""), "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            graded_at = datetime.now(timezone.utc)
        text, unmatched = moodle_worksheet_csv(rows, max_score=max_score, graded_at=graded_at,
                                               roster=people)
        written.append((_write(out_dir / "moodle_worksheet.csv", text), unmatched))
        text, unmatched = moodle_csv(rows, max_score=max_score, column=title, roster=people)
        written.append((_write(out_dir / "moodle_grades.csv", text), unmatched))
    return written


def _previous_canvas_header(path: Path) -> str:
    """The "<title> (<id>)" column of an earlier canvas_grades.csv, or ""."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
    except OSError:
        return ""
    last = header[-1] if len(header) > len(CANVAS_COLUMNS) else ""
    return last if re.search(r"\(\d+\)$", last) else ""


def _write(path: Path, text: str) -> Path:
    """UTF-8, whatever the locale (names with accents), written whole then renamed."""
    return write_atomic(path, text, encoding="utf-8")
