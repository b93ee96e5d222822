"""LMS rosters as spreadsheets save them, and when a bad one is noticed."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime, timezone

import pytest

from autograder.classroom.discover import list_class
from autograder.cli import main
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.outputs.lms import read_lms_roster

SAMPLES = SOLUTIONS_DIR / "a1_softmax" / "samples"


def test_a_canvas_export_saved_by_european_excel_is_read(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes("Student;ID;SIS User ID;SIS Login ID;Section\r\n"
                     "    Points Possible;;;;\r\n;;;;\r\n"
                     "Lovelace, Ada;1001;s1;ada;A\r\n".encode("utf-8-sig"))
    assert read_lms_roster(path) == [{"Student": "Lovelace, Ada", "ID": "1001", "SIS User ID": "s1",
                                      "SIS Login ID": "ada", "Section": "A"}]


def test_an_unreadable_roster_stops_grade_before_the_class_is_graded(tmp_path, capsys):
    """It used to surface only at the export, after every submission had been graded."""
    roster = tmp_path / "roster.csv"
    roster.write_bytes("Student,ID\nDupont, Chloé,1003\n".encode("cp1252"))
    out = tmp_path / "out"
    code = main(["grade", "a1_softmax", str(SAMPLES / "ada.ipynb"), "--out", str(out),
                 "--canvas", "--roster", str(roster)])
    assert code == 2
    err = capsys.readouterr().err
    assert "roster.csv line 2" in err and "not UTF-8" in err
    assert not (out / "gradebook.csv").exists()


def write_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


def test_a_gradescope_export_is_one_row_per_submission_and_its_metadata_is_skipped(tmp_path):
    """Gradescope's "Export Submissions": one folder per submission inside one wrapper folder.
    The whole class used to be taken for one student's zip: one invalid row, every grade lost."""
    archive = write_zip(tmp_path / "export.zip", [
        ("assignment_4242_export/submission_901/a1_softmax.ipynb", (SAMPLES / "ada.ipynb").read_bytes()),
        ("assignment_4242_export/submission_902/a1_softmax.ipynb", (SAMPLES / "ben.ipynb").read_bytes()),
        ("assignment_4242_export/submission_metadata.yml", b":submission_901:\n  :submitters: []\n"),
    ])
    listing = list_class(archive, tmp_path / "work")
    assert [f.student for f in listing.found] == ["submission_901", "submission_902"]
    assert listing.skipped == ["export.zip/submission_metadata.yml"]


def test_a_class_zip_of_student_folders_under_wrapper_folders_is_a_class(tmp_path):
    archive = write_zip(tmp_path / "class.zip", [
        ("2026/a1/ada/a1_softmax.ipynb", (SAMPLES / "ada.ipynb").read_bytes()),
        ("2026/a1/ben/work.py", (SAMPLES / "eve.py").read_bytes()),
    ])
    assert [f.student for f in list_class(archive, tmp_path / "work").found] == ["ada", "ben"]


def test_one_students_zip_with_a_wrapper_folder_stays_one_submission(tmp_path):
    one = write_zip(tmp_path / "ada.zip", [("a1/a1_softmax.ipynb", (SAMPLES / "ada.ipynb").read_bytes()),
                                           ("a1/helpers.py", b"x = 1\n")])
    two = write_zip(tmp_path / "ben.zip", [("work/a.ipynb", b"{}"), ("work/b.ipynb", b"{}")])
    helpers = write_zip(tmp_path / "cleo.zip", [("a1.ipynb", (SAMPLES / "ada.ipynb").read_bytes()),
                                                ("utils/plots.py", b"x = 1\n"), ("tests/q1.py", b"y = 2\n")])
    assert [f.student for f in list_class(one, tmp_path / "w1").found] == ["ada"]
    assert [f.student for f in list_class(two, tmp_path / "w2").found] == ["ben"]
    assert [f.student for f in list_class(helpers, tmp_path / "w3").found] == ["cleo"]


def test_a_blackboard_download_is_one_row_per_student_and_the_latest_attempt_counts(tmp_path):
    """Blackboard Learn's "Download assignment": <assignment>_<username>_attempt_<time>_<file>
    and an info file <assignment>_<username>_attempt_<time>.txt per attempt; with "all
    attempts" each one. It used to give a row per file: info files as invalid rows and every
    attempt graded as if it were another student."""
    ada, ben = (SAMPLES / "ada.ipynb").read_bytes(), (SAMPLES / "ben.ipynb").read_bytes()
    members = []
    for user, time, data in (("ada1", "2026-10-01-12-00-00", ben), ("ada1", "2026-10-02-09-30-00", ada),
                             ("ben2", "2026-10-01-11-00-00", ben)):
        members.append((f"Assignment 1_{user}_attempt_{time}_a1_softmax.ipynb", data))
        members.append((f"Assignment 1_{user}_attempt_{time}.txt", f"Name: {user}\n".encode()))
    archive = write_zip(tmp_path / "gradebook_A1.zip", members)
    listing = list_class(archive, tmp_path / "work")
    assert [(f.student, f.owner.lms) for f in listing.found] == [("ada1", "blackboard"), ("ben2", "blackboard")]
    assert any("ada1" in n and "older attempt" in n and "2026-10-01-12-00-00" in n for n in listing.notes)

    out = tmp_path / "out"
    assert main(["grade", "a1_softmax", str(archive), "--out", str(out), "--jobs", "2"]) == 0
    with open(out / "gradebook.csv", newline="") as f:
        assert [row[:3] for row in csv.reader(f)][1:] == [["ada1", "graded", "48"], ["ben2", "graded", "35"]]


def test_a_class_zip_naming_one_entry_twice_is_refused_naming_it(tmp_path, capsys):
    """A zip may hold one name twice (appended to, or written by a careless tool): unpacked,
    the last copy silently replaced the first; a name that is a file and a folder crashed."""
    import warnings

    ada, eve = (SAMPLES / "ada.ipynb").read_bytes(), (SAMPLES / "eve.py").read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it is asked to write
        twice = write_zip(tmp_path / "twice.zip", [("ada.ipynb", ada), ("ben.py", eve), ("ada.ipynb", eve)])
    both = write_zip(tmp_path / "both.zip", [("ada", eve), ("ada/a1.ipynb", ada), ("ben.ipynb", ada)])
    for archive, message in ((twice, "'ada.ipynb' is in the zip twice"), (both, "'ada' is both a file and a folder")):
        out = tmp_path / archive.stem
        assert main(["grade", "a1_softmax", str(archive), "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
        assert not (out / "gradebook.csv").exists()


def test_zip_member_names_are_never_looked_up_in_the_working_directory(tmp_path, monkeypatch):
    """Deciding whether a zip is a class zip used to stat its member names as paths relative
    to wherever the TA stood: a folder there named like a member changed the decision, and a
    name longer than the file system allows crashed the command."""
    ada = (SAMPLES / "ada.ipynb").read_bytes()
    archive = write_zip(tmp_path / "one.zip", [("Ada Lovelace_201_assignsubmission_file", ada)])
    monkeypatch.chdir(tmp_path)
    assert [f.student for f in list_class(archive, tmp_path / "w1").found] == ["one"]
    (tmp_path / "Ada Lovelace_201_assignsubmission_file").mkdir()
    assert [f.student for f in list_class(archive, tmp_path / "w2").found] == ["one"]


def test_a_class_zip_with_a_name_too_long_for_the_disk_is_refused_naming_it(tmp_path, capsys):
    ada = (SAMPLES / "ada.ipynb").read_bytes()
    archive = write_zip(tmp_path / "class.zip", [("x" * 300 + ".ipynb", ada), ("ben.ipynb", ada)])
    out = tmp_path / "out"
    assert main(["grade", "a1_softmax", str(archive), "--out", str(out)]) == 2
    assert "cannot be unpacked" in capsys.readouterr().err and not (out / "gradebook.csv").exists()


@pytest.mark.parametrize("content", ['{"assignment": "a1_softmax", "submissions": [{"sub', "[]",
                                     '{"assignment": "a1_softmax", "submissions": [{"submission": "ada"}]}'])
def test_export_from_a_damaged_results_json_names_it(tmp_path, capsys, content):
    """Truncated by a copy, edited by hand, or from another tool: a bare JSON error or a
    traceback, naming no file, was all the TA saw."""
    (tmp_path / "results.json").write_text(content)
    assert main(["export", str(tmp_path), "--canvas"]) == 2
    err = capsys.readouterr().err
    assert "results.json is not a results.json the kit wrote" in err and "grade" in err


def test_one_lms_user_with_two_submissions_gets_no_silent_grade(tmp_path):
    """"Ada.ipynb" (invalid, 0) and "ada.py" (48) both match the roster's SIS login "ada":
    the import files held two rows for one Canvas user or Moodle participant, and whichever
    came last became the grade. Neither is written; both are reported."""
    from autograder.outputs.lms import GradeRow, canvas_csv, moodle_csv, moodle_worksheet_csv

    roster = [{"Student": "Lovelace, Ada", "ID": "1001", "SIS User ID": "s1", "SIS Login ID": "ada",
               "Identifier": "Participant 201", "Email address": "ada@x", "Username": "ada"},
              {"Student": "Jones, Ben", "ID": "1002", "SIS User ID": "s2", "SIS Login ID": "ben",
               "Identifier": "Participant 202", "Email address": "ben@x", "Username": "ben"}]
    rows = [GradeRow("Ada", 0.0, "invalid_submission"), GradeRow("ada", 48.0, "graded"),
            GradeRow("ben", 30.0, "graded")]
    for text, left_out in (canvas_csv(rows, column="A1", max_score=48, roster=roster),
                           moodle_worksheet_csv(rows, max_score=48, graded_at=datetime(2026, 10, 9, tzinfo=timezone.utc),
                                                roster=roster),
                           moodle_csv(rows, max_score=48, roster=roster)):
        body = list(csv.reader(io.StringIO(text)))
        assert not any("1001" in r or "Participant 201" in r or "ada@x" in r for r in body)
        assert any("30" in r for r in body)
        assert sorted(left_out) == ["Ada (one LMS user, several submissions: Ada, ada)",
                                    "ada (one LMS user, several submissions: Ada, ada)"]
