"""LMS layouts (Canvas and Moodle downloads, nested zips) and grade-import exports."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from kit_paths import TEST_DATA

from autograder.classroom.batch import grade_batch
from autograder.classroom.discover import find_submissions, is_class_zip
from autograder.cli import main
from autograder.grading.lms_names import owner_of
from autograder.grading.submission import InvalidSubmission
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.outputs.lms import (
    GradeRow,
    canvas_csv,
    export_grades,
    moodle_csv,
    moodle_worksheet_csv,
)
from autograder.sandbox import SandboxSettings

SAMPLES = SOLUTIONS_DIR / "a1_softmax" / "samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def write_zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


def gradebook(out: Path) -> dict[str, list[str]]:
    with open(out / "gradebook.csv", newline="") as f:
        return {row[0]: row[1:] for row in list(csv.reader(f))[1:]}


@pytest.mark.parametrize("name, student, lms, lms_id, late", [
    ("lovelaceada_1001_5001_a1_softmax.ipynb", "lovelaceada_1001", "canvas", "1001", False),
    ("jones_ben_LATE_1002_5002_a1_softmax-1.ipynb", "jones_ben_1002", "canvas", "1002", True),
    ("Ada Lovelace_201_assignsubmission_file_", "Ada_Lovelace_201", "moodle", "201", False),
    ("Ben Jones_202_assignsubmission_file_a1.ipynb", "Ben_Jones_202", "moodle", "202", False),
    ("Ada Lovelace_201_assignsubmission_file", "Ada_Lovelace_201", "moodle", "201", False),  # Moodle >= 4.1
    ("Ada Lovelace_201_assignsubmission_onlinetext", "Ada_Lovelace_201", "moodle", "201", False),
    ("jonesben_late_1002_7002_a1.ipynb", "jonesben_1002", "canvas", "1002", True),  # older Canvas
    ("anon_kVnLw_8812_a1_softmax.ipynb", "anon_kVnLw", "canvas-anonymous", "kVnLw", False),
    ("anon_Q2xzP_LATE_8813_a1_softmax.ipynb", "anon_Q2xzP", "canvas-anonymous", "Q2xzP", True),
    ("ada.ipynb", "ada", "", "", False),
    ("a1_export.zip", "a1_export", "", "", False),
])
def test_lms_names_give_a_stable_student_id(tmp_path, name, student, lms, lms_id, late):
    path = tmp_path / name
    if "." not in name:  # Moodle's per-participant folders
        path.mkdir()
    else:
        path.write_bytes(b"")
    owner = owner_of(path)
    assert (owner.student, owner.lms, owner.lms_id, owner.late) == (student, lms, lms_id, late)


def canvas_class_zip(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "submissions.zip", [
        ("lovelaceada_1001_5001_a1_softmax.ipynb", sample("ada.ipynb")),
        ("jonesben_LATE_1002_5002_a1_softmax.ipynb", sample("ben.ipynb")),
        ("doeeve_1003_5003_eve.py", sample("eve.py")),
        ("doeeve_1003_5003_notes.txt", b"my notes"),  # a second file of the same student
        ("dandan_1004_5004_export.zip", sample("dan.zip")),  # a per-student zip inside
    ])


def test_a_canvas_download_zip_is_graded_per_student(tmp_path):
    archive = canvas_class_zip(tmp_path)
    assert is_class_zip(archive) and not is_class_zip(SAMPLES / "dan.zip")
    out = tmp_path / "out"
    grade_batch_result = grade_batch_a1(archive, out)
    book = gradebook(out)
    assert {k: v[:2] for k, v in book.items()} == {
        "lovelaceada_1001": ["graded", "48"], "jonesben_1002": ["graded", "35"],
        "doeeve_1003": ["graded", "0"], "dandan_1004": ["graded", "48"],
    }
    lms = {s.result.submission: s.owner for s in grade_batch_result.submissions}
    assert lms["jonesben_1002"] == {"lms": "canvas", "lms_id": "1002", "name": "jonesben", "late": True,
                                    "attachment": "5002"}


def test_the_third_canvas_number_is_the_attachment_id(tmp_path):
    path = tmp_path / "lovelaceada_1001_99887_a1_softmax.ipynb"
    path.write_bytes(b"")
    owner = owner_of(path)
    assert (owner.lms_id, owner.attachment) == ("1001", "99887")


def grade_batch_a1(path, out):
    from autograder.course.assignment import load_assignment

    return grade_batch(load_assignment("a1_softmax"), path, out, SandboxSettings(isolation="auto"), jobs=2)


@pytest.mark.parametrize("suffix", ["_", ""], ids=["moodle<4.1", "moodle>=4.1"])
def test_a_moodle_download_zip_with_folders_and_a_wrapper_folder(tmp_path, suffix):
    archive = write_zip(tmp_path / "moodle.zip", [
        (f"A1-123/Ada Lovelace_201_assignsubmission_file{suffix}/a1_softmax.ipynb", sample("ada.ipynb")),
        (f"A1-123/Ben Jones_202_assignsubmission_file{suffix}/a1_softmax.ipynb", sample("ben.ipynb")),
        (f"A1-123/Ben Jones_202_assignsubmission_onlinetext{suffix}/onlinetext.html", b"<p>hi</p>"),
        (f"A1-123/Dan Smith_203_assignsubmission_file{suffix}/export.zip", sample("dan.zip")),
        ("__MACOSX/._junk", b"x"),
    ])
    out = tmp_path / "out"
    grade_batch_a1(archive, out)
    assert {k: v[:2] for k, v in gradebook(out).items()} == {
        "Ada_Lovelace_201": ["graded", "48"], "Ben_Jones_202": ["graded", "35"],
        "Dan_Smith_203": ["graded", "48"],
    }


def test_a_folder_of_per_student_folders_and_zips(tmp_path):
    folder = tmp_path / "class"
    (folder / "ada").mkdir(parents=True)
    (folder / "ada" / "a1_softmax.ipynb").write_bytes(sample("ada.ipynb"))
    (folder / "dan.zip").write_bytes(sample("dan.zip"))
    (folder / "jo.py").write_bytes(sample("jo.py"))
    found, notes = find_submissions(folder, tmp_path / "work")
    assert [f.student for f in found] == ["ada", "dan", "jo"] and notes == []


def test_entries_with_the_same_id_keep_separate_rows_and_a_note_says_so(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ada.ipynb").write_bytes(sample("ada.ipynb"))
    (folder / "ada.py").write_bytes(sample("eve.py"))
    found, notes = find_submissions(folder, tmp_path / "work")
    assert [f.student for f in found] == ["ada.ipynb", "ada.py"]
    assert len(notes) == 1 and "share the id 'ada'" in notes[0]
    out = tmp_path / "out"
    grade_batch_a1(folder, out)
    assert {k: v[1] for k, v in gradebook(out).items()} == {"ada.ipynb": "48", "ada.py": "0"}
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["ada.ipynb.txt", "ada.py.txt"]


def test_an_unsafe_class_zip_is_refused_before_anything_is_written(tmp_path, capsys):
    archive = write_zip(tmp_path / "class.zip", [
        ("ada_1_2_a.ipynb", sample("ada.ipynb")), ("../../evil_3_4_b.ipynb", sample("ada.ipynb"))])
    with pytest.raises(InvalidSubmission, match="unsafe path"):
        find_submissions(archive, tmp_path / "work")
    assert not (tmp_path / "evil_3_4_b.ipynb").exists()
    assert main(["grade", "a1_softmax", str(archive), "--out", str(tmp_path / "o")]) == 2
    assert "unsafe path" in capsys.readouterr().err


ROWS = [
    GradeRow("lovelaceada_1001", 48, "graded", "canvas", "1001", "lovelaceada"),
    GradeRow("Ben_Jones_202", 35, "graded", "moodle", "202", "Ben Jones"),
    GradeRow("cleo", 0, "graded"),
    GradeRow("dora", 12.5, "timeout"),
]
ROSTER = [
    {"Student": "Lovelace, Ada", "ID": "1001", "SIS User ID": "S1", "SIS Login ID": "ada@uni.example",
     "Section": "Lab A"},
    {"Student": "Cleo Patra", "ID": "1003", "SIS User ID": "S3", "SIS Login ID": "cleo", "Section": "Lab B",
     "Email address": "cleo@uni.example"},
    {"First name": "Ben", "Last name": "Jones", "Email address": "ben@uni.example", "ID number": "7002"},
]


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_canvas_export_has_the_import_columns_and_uses_the_roster():
    text, unmatched = canvas_csv(ROWS, column="A1 (555)", max_score=48, roster=ROSTER)
    table = parse(text)
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "A1 (555)"]
    assert table[1] == ["Points Possible", "", "", "", "", "48"]
    assert table[2:] == [["Cleo Patra", "1003", "S3", "cleo", "Lab B", "0"],
                         ["Lovelace, Ada", "1001", "S1", "ada@uni.example", "Lab A", "48"]]
    assert unmatched == ["Ben_Jones_202", "dora"]
    bare, missing = canvas_csv(ROWS, column="A1", max_score=48)
    assert parse(bare)[2] == ["lovelaceada", "1001", "", "", "", "48"] and len(missing) == 3


MOODLE_DATA = TEST_DATA / "moodle"
MOODLE_SCORES = {"201": 48, "202": 35, "203": 50, "204": 12.5}  # 50: a bonus above the maximum
MOODLE_ROSTER = [  # Moodle's own user export: Dan is not in it
    {"First name": "Ada", "Last name": "Lovelace", "ID number": "S201", "Email address": "ada@uni.example"},
    {"First name": "Ben", "Last name": "Jones", "ID number": "", "Email address": "ben@uni.example"},
    {"First name": "Chloé", "Last name": "Durand", "ID number": "", "Email address": "chloe@uni.example"},
]
GRADED_AT = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)


def moodle_rows(version: str, tmp_path: Path) -> list[GradeRow]:
    """GradeRows for the owners the kit finds in a Moodle download of ``version``."""
    names = (MOODLE_DATA / version / "download.txt").read_text(encoding="utf-8").split("\n")
    archive = write_zip(tmp_path / "moodle.zip", [(n, sample("ada.ipynb")) for n in names if n])
    found, _ = find_submissions(archive, tmp_path / "work")
    return [GradeRow(f.student, MOODLE_SCORES[f.owner.lms_id], "graded", f.owner.lms, f.owner.lms_id,
                     f.owner.name) for f in found]


def moodle_worksheet_problems(text: str, maximum: float) -> list[str]:
    """What Moodle's worksheet importer would refuse or skip (importgradeslib.php)."""
    table = list(csv.DictReader(io.StringIO(text)))
    header = next(csv.reader(io.StringIO(text)))
    problems = [f"missing column {c}" for c in ("Identifier", "Grade", "Last modified (grade)") if c not in header]
    for row in table:
        if not re.fullmatch(r"Participant \d+", row.get("Identifier", "")):
            problems.append(f"identifier {row.get('Identifier')!r}")
        if not 0 <= float(row["Grade"]) <= maximum:
            problems.append(f"grade {row['Grade']} outside 0..{maximum}")
        datetime.fromisoformat(row["Last modified (grade)"])
    return problems


@pytest.mark.parametrize("version", ["4.0", "4.1"])
def test_moodle_exports_match_the_expected_files_for_each_version(tmp_path, version):
    rows = moodle_rows(version, tmp_path)
    assert sorted(r.student for r in rows) == ["Ada_Lovelace_201", "Ben_Jones_202", "Chloé_Durand_203",
                                               "Dan_Smith_204"]
    worksheet, missing = moodle_worksheet_csv(rows, max_score=48, graded_at=GRADED_AT)
    assert missing == [] and moodle_worksheet_problems(worksheet, 48) == []
    assert worksheet == (MOODLE_DATA / version / "worksheet.csv").read_text(encoding="utf-8")
    grades, left_out = moodle_csv(rows, max_score=48, column="A1", roster=MOODLE_ROSTER)
    assert left_out == ["Dan_Smith_204"]  # not in the roster: Moodle would stop at his row
    assert grades == (MOODLE_DATA / version / "gradebook.csv").read_text(encoding="utf-8")


def test_moodle_gradebook_uses_one_identity_column_for_every_row():
    rows = [GradeRow("ada", 48, "graded"), GradeRow("ben", 30, "graded")]
    both = [{"Username": "ada", "ID number": "S1", "Email address": "ada@x"},
            {"Username": "ben", "ID number": "S2", "Email address": ""}]
    table = parse(moodle_csv(rows, max_score=48, roster=both)[0])
    assert table == [["ID number", "Full name", "Grade"], ["S1", "ada", "48"], ["S2", "ben", "30"]]
    mixed = [{"Username": "ada", "ID number": "S1", "Email address": "ada@x"},
             {"Username": "ben", "ID number": "", "Email address": "ben@x"}]
    table = parse(moodle_csv(rows, max_score=48, roster=mixed)[0])
    assert [r[0] for r in table] == ["Email address", "ada@x", "ben@x"]


def test_moodle_worksheet_takes_identifiers_and_maximum_from_moodles_own_export():
    """A worksheet Moodle exported, given as the roster: participants found by name, grades
    rescaled to its "Maximum Grade" and capped there."""
    rows = [GradeRow("ada", 48, "graded", name="Ada Lovelace"), GradeRow("Ben_Jones", 36, "graded", name="Ben Jones"),
            GradeRow("cleo", 12, "graded")]
    roster = [{"Identifier": "Participant 7", "Full name": "Ada Lovelace", "Maximum Grade": "100,00"},
              {"Identifier": "Participant 9", "Full name": "Ben Jones", "Maximum Grade": "100"}]
    text, missing = moodle_worksheet_csv(rows, max_score=48, graded_at=GRADED_AT, roster=roster)
    assert missing == ["cleo"] and moodle_worksheet_problems(text, 100) == []
    assert [r[:5] for r in parse(text)[1:]] == [["Participant 9", "Ben Jones", "", "75", "100"],
                                                ["Participant 7", "Ada Lovelace", "", "100", "100"]]


def test_exports_are_utf8_and_formula_safe(tmp_path):
    rows = [GradeRow("=HYPERLINK(evil)_1001", 3, "graded", "canvas", "1001", "=HYPERLINK(evil)"),
            GradeRow("Zoë_Ågren_5", 2, "graded", "moodle", "5", "Zoë Ågren")]
    text, _ = canvas_csv(rows, column="A1 (555)", max_score=48)
    assert "'=HYPERLINK(evil)" in text and "\n=HYPERLINK" not in text
    results = {"assignment": "a1", "title": "A1", "max_score": 48, "generated": "2026-12-01T09:30:00+0000",
               "submissions": [{"submission": r.student, "score": r.score, "status": r.status,
                                "lms": {"lms": r.lms, "lms_id": r.lms_id, "name": r.name}} for r in rows]}
    (tmp_path / "results.json").write_text(json.dumps(results), encoding="utf-8")
    written = export_grades(tmp_path, canvas="555", moodle=True)
    assert [p.name for p, _ in written] == ["canvas_grades.csv", "moodle_worksheet.csv", "moodle_grades.csv"]
    assert "Zoë Ågren" in (tmp_path / "moodle_worksheet.csv").read_bytes().decode("utf-8")
    assert parse((tmp_path / "canvas_grades.csv").read_text(encoding="utf-8"))[0][-1] == "A1 (555)"
    export_grades(tmp_path, canvas="")  # the id given once is kept
    assert parse((tmp_path / "canvas_grades.csv").read_text(encoding="utf-8"))[0][-1] == "A1 (555)"


def test_cli_export_after_grading_a_canvas_zip(tmp_path, capsys):
    archive = canvas_class_zip(tmp_path)
    out = tmp_path / "out"
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n    Points Possible,,,,\n"
                      "\"Lovelace, Ada\",1001,S1,ada,Lab A\n\"Doe, Eve\",1003,S3,eve,Lab B\n")
    assert main(["grade", "a1_softmax", str(archive), "--out", str(out), "--canvas", "555"]) == 0
    assert main(["export", str(out), "--canvas", "--moodle", "--roster", str(roster)]) == 0
    printed = capsys.readouterr().out
    table = parse((out / "canvas_grades.csv").read_text())
    assert table[0][-1] == "a1_softmax: probabilities from scores (555)"  # the id from `grade --canvas 555`
    assert [r[:2] + r[-1:] for r in table[2:]] == [
        ["dandan", "1004", "48"], ["Doe, Eve", "1003", "0"], ["jonesben", "1002", "35"],
        ["Lovelace, Ada", "1001", "48"]]
    assert "moodle_grades.csv" in printed and "moodle_worksheet.csv" in printed and "left out" in printed
