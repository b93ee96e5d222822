"""LMS rosters as spreadsheets save them, and when a bad one is noticed."""

from __future__ import annotations

from autograder.cli import main
from autograder.course.assignment import SOLUTIONS_DIR
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
