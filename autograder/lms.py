"""Learning-management-system naming: who a downloaded submission belongs to.

Canvas's "Download Submissions" zip holds one file per uploaded file, named

    <name>_<user id>_<submission id>_<original name>       (on time)
    <name>_LATE_<user id>_<submission id>_<original name>  (late)

where <name> is the student's sortable name squashed to lower case (``smithjohn``, or
``smith_john`` in some exports). Moodle's "Download submissions" zip holds one folder per
participant and submission plugin (or, without "in folders", files with the same prefix):

    <Full Name>_<participant id>_assignsubmission_<plugin>_[/<original name>]

Both give a number that is stable for the student and the assignment, so the student id
is ``<name>_<number>``; anything else keeps the contract's rule (file stem, or folder name).
The numbers are kept too: the Canvas user id is the ``ID`` column of a Canvas grade import,
the Moodle participant id the ``Participant <id>`` identifier of Moodle's grading worksheet.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

CANVAS_NAME = re.compile(
    r"^(?P<name>[^\s/]+?)(?P<late>_LATE)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<original>.+)$"
)
MOODLE_NAME = re.compile(
    r"^(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<original>.*)$"
)


@dataclass(frozen=True)
class Owner:
    """Who a downloaded entry belongs to, as far as its name tells.

    student:  the stable id used for gradebook rows, feedback files and the cache.
    lms:      "canvas", "moodle", or "" when the contract's rule applied.
    lms_id:   Canvas user id or Moodle participant id ("" when none).
    name:     the student's name as the LMS wrote it ("" when unknown).
    late:     Canvas marked the file late.
    """

    student: str
    lms: str = ""
    lms_id: str = ""
    name: str = ""
    late: bool = False

    def as_json(self) -> dict:
        return {"lms": self.lms, "lms_id": self.lms_id, "name": self.name, "late": self.late}


def _slug(text: str) -> str:
    return re.sub(r"[^\w-]+", "_", text, flags=re.UNICODE).strip("_") or "student"


def owner_of(path: Path) -> Owner:
    """The owner of a downloaded file or folder, from its name alone."""
    name = path.name
    moodle = MOODLE_NAME.match(name)
    if moodle:
        return Owner(student=f"{_slug(moodle['name'])}_{moodle['participant']}", lms="moodle",
                     lms_id=moodle["participant"], name=moodle["name"])
    canvas = CANVAS_NAME.match(name)
    if canvas and not path.is_dir():
        return Owner(student=f"{canvas['name']}_{canvas['user']}", lms="canvas",
                     lms_id=canvas["user"], name=canvas["name"], late=bool(canvas["late"]))
    return Owner(student=name if path.is_dir() else path.stem)


# --- Grade exports for LMS import --------------------------------------------------------
#
# Canvas (Grades > Import): a CSV with the columns Student, ID, SIS User ID, SIS Login ID,
# Section, then one column per assignment headed "<assignment name> (<assignment id>)"; a
# header without "(<id>)" makes Canvas create a new assignment. Canvas matches rows by ID
# (the Canvas user id), or SIS User ID / SIS Login ID. The optional second row
# "Points Possible" gives the maximum.
# Moodle: one CSV serves both importers. The assignment's "Upload grading worksheet"
# matches "Identifier" ("Participant <id>", from the download's folder names) and reads
# "Grade"; the gradebook's "Import > CSV file" lets the teacher map a user column
# ("Email address" or "ID number") to the user and "Grade" to the grade item.
#
# A roster CSV (optional) fills in what the submission names cannot tell. Any of these
# headers are used when present: Canvas's gradebook export (Student, ID, SIS User ID,
# SIS Login ID, Section), Moodle's (First name, Last name/Surname, Email address,
# ID number, Username). A submission finds its roster row by LMS id (Canvas ID), else by
# its student id equal (case-insensitively) to SIS Login ID, SIS User ID, ID, Username,
# Email address, ID number or the e-mail's local part, else by the student's full name.

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_COLUMNS = ("Identifier", "Full name", "Email address", "ID number", "Grade", "Maximum Grade")
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


def read_roster(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]
    # Canvas exports carry a "Points Possible" row (and sometimes a muted-assignments row).
    return [r for r in rows if r.get("Student") != "Points Possible"]


def _norm(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text).strip().casefold()


def _roster_index(roster: list[dict[str, str]]):
    by_canvas_id, by_key, by_name = {}, {}, {}
    for row in roster:
        if row.get("ID"):
            by_canvas_id.setdefault(row["ID"], row)
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
    return by_canvas_id, by_key, by_name


def match_roster(rows: list[GradeRow], roster: list[dict[str, str]] | None) -> dict[str, dict[str, str]]:
    """student id -> its roster row, for the rows the roster identifies."""
    if not roster:
        return {}
    by_canvas_id, by_key, by_name = _roster_index(roster)
    found = {}
    for row in rows:
        hit = (by_canvas_id.get(row.lms_id) if row.lms == "canvas" else None) \
            or by_key.get(row.student.casefold()) or (by_name.get(_norm(row.name)) if row.name else None)
        if hit is not None:
            found[row.student] = hit
    return found


def _points(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def canvas_csv(rows: list[GradeRow], *, column: str, max_score: float,
               roster: list[dict[str, str]] | None = None) -> tuple[str, list[str]]:
    """(Canvas grade-import CSV text, ids of submissions Canvas could not match)."""
    matched = match_roster(rows, roster)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CANVAS_COLUMNS, column])
    writer.writerow(["Points Possible", "", "", "", "", _points(max_score)])
    unmatched = []
    for row in sorted(rows, key=lambda r: r.student):
        r = matched.get(row.student, {})
        canvas_id = r.get("ID") or (row.lms_id if row.lms == "canvas" else "")
        if not (canvas_id or r.get("SIS User ID") or r.get("SIS Login ID")):
            unmatched.append(row.student)
            continue
        writer.writerow([r.get("Student") or row.name or row.student, canvas_id, r.get("SIS User ID", ""),
                         r.get("SIS Login ID", ""), r.get("Section", ""), _points(row.score)])
    return buffer.getvalue(), unmatched


def moodle_csv(rows: list[GradeRow], *, max_score: float,
               roster: list[dict[str, str]] | None = None) -> tuple[str, list[str]]:
    """(Moodle grade-import CSV text, ids of submissions with no identifier Moodle can use)."""
    matched = match_roster(rows, roster)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MOODLE_COLUMNS)
    unmatched = []
    for row in sorted(rows, key=lambda r: r.student):
        r = matched.get(row.student, {})
        identifier = f"Participant {row.lms_id}" if row.lms == "moodle" else ""
        email = r.get("Email address", r.get("Email", ""))
        idnumber = r.get("ID number", "")
        if not (identifier or email or idnumber):
            unmatched.append(row.student)
            continue
        first, last = r.get("First name", ""), r.get("Last name", r.get("Surname", ""))
        full = f"{first} {last}".strip() or row.name or row.student
        writer.writerow([identifier, full, email, idnumber, _points(row.score), _points(max_score)])
    return buffer.getvalue(), unmatched


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
    """Write DIR/canvas_grades.csv and/or DIR/moodle_grades.csv from DIR/results.json.

    canvas: None for no Canvas export, else the assignment ("" for a new column, its
    Canvas id, or the full "<name> (<id>)" header). Returns (file, unmatched ids) pairs.
    """
    import json

    out_dir = Path(out_dir)
    try:
        data = json.loads((out_dir / "results.json").read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no results.json in {out_dir}: run `autograder grade` first") from None
    rows = [GradeRow(student=s["submission"], score=float(s["score"]), status=s["status"],
                     lms=s.get("lms", {}).get("lms", ""), lms_id=s.get("lms", {}).get("lms_id", ""),
                     name=s.get("lms", {}).get("name", ""))
            for s in data["submissions"]]
    people = read_roster(roster) if roster else None
    written = []
    if canvas is not None:
        text, unmatched = canvas_csv(rows, column=canvas_column(data.get("title", data["assignment"]), canvas),
                                     max_score=float(data["max_score"]), roster=people)
        path = out_dir / "canvas_grades.csv"
        path.write_text(text)
        written.append((path, unmatched))
    if moodle:
        text, unmatched = moodle_csv(rows, max_score=float(data["max_score"]), roster=people)
        path = out_dir / "moodle_grades.csv"
        path.write_text(text)
        written.append((path, unmatched))
    return written
