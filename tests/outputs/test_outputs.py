"""What a TA gets: the contract's gradebook.csv, feedback files, report, and the CLI."""

from __future__ import annotations

import csv
import shutil

import pytest

from autograder.classroom.batch import grade_batch
from autograder.cli import main
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.outputs.gradebook import format_points

SAMPLES = SOLUTIONS_DIR / "a1_softmax" / "samples"
HEADER = ["submission", "status", "score", "max_score",
          "softmax", "log_softmax", "sigmoid", "predict_multiclass", "predict_multilabel"]


@pytest.mark.parametrize("value, text", [(3.0, "3"), (2.5, "2.5"), (0.0, "0"), (1 / 3, "0.3333"), (-0.0, "0")])
def test_points_are_written_as_people_write_them(value, text):
    assert format_points(value) == text


@pytest.fixture(scope="module")
def graded(tmp_path_factory, a1):
    """The bundled sample class, without the slow endless-loop sample."""
    folder = tmp_path_factory.mktemp("class")
    for path in SAMPLES.iterdir():
        if path.name != "finn.py":
            shutil.copy(path, folder / path.name)
    out = tmp_path_factory.mktemp("grades")
    return grade_batch(a1, folder, out)


def test_gradebook_has_the_contract_columns_and_one_row_per_submission(graded):
    with open(graded.gradebook, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HEADER
    body = {row[0]: row for row in rows[1:]}
    assert len(rows) - 1 == len(body) == 9
    expected = {
        "ada": ("graded", "48"), "ben": ("graded", "35"), "cleo": ("graded", "0"),
        "dan": ("graded", "48"), "eve": ("graded", "0"), "gus": ("memory", "0"),
        "hana": ("graded", "48"), "ivan": ("invalid_submission", "0"), "jo": ("syntax_error", "0"),
    }
    assert {k: (v[1], v[2]) for k, v in body.items()} == expected
    assert all(row[3] == "48" for row in body.values())
    assert body["ben"][4:] == ["8", "6", "8", "8", "5"]
    for row in body.values():
        assert sum(float(x) for x in row[4:]) == float(row[2])


def test_one_feedback_file_per_submission_without_hidden_inputs(graded, a1):
    files = sorted(p.stem for p in graded.feedback_dir.iterdir())
    assert files == ["ada", "ben", "cleo", "dan", "eve", "gus", "hana", "ivan", "jo"]
    text = (graded.feedback_dir / "ben.txt").read_text()
    assert "Score: 35 / 48" in text and "is finite and correct for scores around +-1e3" in text
    hidden = [c for c in a1.cases if not c.public and c.args and hasattr(c.args[0], "ravel")]
    for case in hidden:
        first = repr(float(case.args[0].ravel()[0]))
        if len(first) > 8:
            assert first not in text


def test_report_lists_every_section(graded):
    html = graded.report.read_text()
    for section in ("Summary", "Score distribution", "Points per question", "Pass rate per test",
                    "Common mistakes", "did not run cleanly", "Slowest submissions"):
        assert section in html
    assert "<svg" in html and "ivan" in html


def test_cli_grade_single_file_and_build(tmp_path, capsys):
    assert main(["grade", "a1_softmax", str(SAMPLES / "ada.ipynb"), "--out", str(tmp_path / "g")]) == 0
    rows = list(csv.reader(open(tmp_path / "g" / "gradebook.csv")))
    assert rows[1][:4] == ["ada", "graded", "48", "48"]
    assert main(["build", "a1_softmax", "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "a1_softmax" / "student" / "a1_softmax.ipynb").is_file()
    assert main(["check", "a1_softmax", str(SAMPLES / "ada.ipynb")]) == 0
    assert "Score: 8 / 8" in capsys.readouterr().out


def test_cli_errors_name_what_was_wrong(tmp_path, capsys):
    assert main(["grade", "a9_nothing", str(SAMPLES), "--out", str(tmp_path)]) == 2
    assert "unknown assignment 'a9_nothing'" in capsys.readouterr().err
    assert main(["grade", "a1_softmax", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "no such submission" in capsys.readouterr().err
    assert main(["grade", "a1_softmax", str(SAMPLES), "--out", str(SAMPLES / "out")]) == 2
    assert "inside the submissions folder" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_builds_grades_the_sample_class_and_says_where_everything_is(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--assignment", "a1_softmax"]) == 0
    out = capsys.readouterr().out
    rows = list(csv.reader(open(tmp_path / "grades" / "a1_softmax" / "gradebook.csv")))
    assert rows[0] == HEADER and len(rows) == 11
    statuses = {row[0]: (row[1], row[2]) for row in rows[1:]}
    assert statuses["ada"] == ("graded", "48") and statuses["finn"] == ("timeout", "0")
    assert (tmp_path / "build" / "a1_softmax" / "student" / "a1_softmax.ipynb").is_file()
    for where in ("Feedback per student", "Report for the TA", "gradebook.csv", "Sandbox:"):
        assert where in out


def test_demo_covers_every_assignment_with_a_sample_class():
    from autograder.course.assignment import available_assignments
    from autograder.demo import demo_assignments

    assert demo_assignments() == available_assignments()
