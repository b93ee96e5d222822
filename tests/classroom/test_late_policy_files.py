"""Extension and submission-time CSVs as spreadsheets write them: European Excel's
semicolons, Windows-1252, UTF-16, blank and empty rows, a duplicated student, a file with
the wrong columns. Each is read as meant or refused naming the file; none is read as empty."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from autograder.classroom.late_policy import (
    LatePolicyError,
    load_policy,
    read_extensions,
    read_submission_times,
)

ADA_DUE = datetime(2026, 10, 4, 23, 59, tzinfo=timezone.utc)


@pytest.mark.parametrize("content, encoding", [
    ("student;due\r\nada;2026-10-04T23:59:00Z\r\n;\r\n", "utf-8-sig"),  # Excel (de, fr): ';', CRLF, BOM
    ("Student\tDue\r\n\r\nada\t2026-10-04T23:59:00Z\r\n", "utf-16"),   # Excel "Unicode Text"
    ("student,due\n\n,\nada,2026-10-04T23:59:00Z\nada,2026-10-04T23:59:00Z\n", "utf-8"),  # blanks, same row twice
    (" Student , Due \nada,2026-10-04T23:59:00Z\n", "utf-8"),
])
def test_extensions_as_spreadsheets_save_them_are_read(tmp_path, content, encoding):
    path = tmp_path / "ext.csv"
    path.write_bytes(content.encode(encoding))
    assert read_extensions(path) == {"ada": ADA_DUE}


def test_a_file_without_the_columns_is_refused_not_read_as_no_extensions(tmp_path):
    """Read as nothing, it would silently apply the penalty to everyone it meant to excuse."""
    path = tmp_path / "ext.csv"
    path.write_text("name,new date\nada,2026-10-04T23:59:00Z\n")
    with pytest.raises(LatePolicyError, match=r"ext\.csv: no column for the student \(found: name, new date"):
        read_extensions(path)
    path.write_text("student,comment\nada,two more days\n")
    with pytest.raises(LatePolicyError, match="no column for the new due date"):
        read_extensions(path)


def test_two_different_times_for_one_student_are_refused_naming_both_rows(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("student,submitted\nada,2026-10-02T10:00:00Z\nben,2026-10-02T11:00:00Z\n"
                    "Ada,2026-10-05T10:00:00Z\n")
    with pytest.raises(LatePolicyError, match="rows 2 and 4 give 'Ada' two different submission times"):
        read_submission_times(path)


def test_a_windows_1252_file_is_refused_with_its_name_line_and_the_fix(tmp_path):
    path = tmp_path / "ext.csv"
    path.write_bytes("student,due\nada,2026-10-04T23:59:00Z\nzoë,2026-10-04T23:59:00Z\n".encode("cp1252"))
    with pytest.raises(LatePolicyError, match=r"ext\.csv line 3: .* not UTF-8 .*CSV UTF-8"):
        read_extensions(path)


@pytest.mark.parametrize("name, content, message", [
    ("p.json", '{"due": "2026-10-01T23:59:00Z", "penalty_percent": 10,}', r"p\.json: not valid JSON"),
    ("p.json", '[{"due": "2026-10-01T23:59:00Z"}]', r"p\.json: .*settings"),
    ("p.toml", 'due = "2026-10-01"\npenalty_percent = 10\n', "no time of day"),
    ("p.toml", "due = 2026-10-01\npenalty_percent = 10\n", "no time of day"),
    ("p.toml", 'due = "2026-10-01T23:59:00"\ntimezone = "+25:00"\n', r"p\.toml: timezone '\+25:00'"),
])
def test_a_broken_policy_file_is_named_with_what_is_wrong(tmp_path, name, content, message):
    """A date alone would be read as midnight at its start: everyone who handed in on the due
    day would be a day late. Refused, as is a policy file that is not a table of settings."""
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(LatePolicyError, match=message):
        load_policy(path)


@pytest.mark.parametrize("name, content", [
    ("p.toml", 'due = "2026-10-01T23:59:00Z"\npenalty_percent = 10\n'),
    ("p.json", '{"due": "2026-10-01T23:59:00Z", "penalty_percent": 10}'),
])
def test_a_policy_saved_with_a_bom_by_notepad_is_read(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8-sig"))
    assert load_policy(path).due == datetime(2026, 10, 1, 23, 59, tzinfo=timezone.utc)


def test_the_python_310_reader_takes_unquoted_toml_times_and_names_a_bad_value():
    """Python 3.10 (Gradescope's image) has no tomllib; its reader used to fail on an unquoted
    TOML date-time with a bare "could not convert string to float"."""
    from autograder.classroom.late_policy import _read_flat_toml, policy_from_mapping

    data = _read_flat_toml("due = 2026-10-01T23:59:00+02:00\npenalty_percent = 10\n")
    assert policy_from_mapping(data).due == datetime(2026, 10, 1, 21, 59, tzinfo=timezone.utc)
    with pytest.raises(LatePolicyError, match="line 2: 'ten' is not a number"):
        _read_flat_toml("due = '2026-10-01T23:59:00Z'\npenalty_percent = ten\n")


def test_extensions_reach_ids_excel_changed_and_rows_matching_nobody_are_reported(tmp_path, a1):
    """An extension for a mistyped id, or for "123" where Excel dropped the zeros of "00123",
    was silently unused: the excused student was penalised and nothing said so."""
    from datetime import timedelta

    from autograder.classroom.batch import grade_batch
    from autograder.classroom.late_grading import LateInputs, apply_late_policy
    from autograder.classroom.late_policy import LatePolicy
    from autograder.kit_folders import SOLUTIONS_DIR
    from autograder.sandbox import SandboxSettings

    due = datetime(2026, 10, 1, 23, 59, tzinfo=timezone.utc)
    folder = tmp_path / "class"
    folder.mkdir()
    for sample, name in (("ada.ipynb", "00123.ipynb"), ("ben.ipynb", "ben.ipynb")):
        (folder / name).write_bytes((SOLUTIONS_DIR / "a1_softmax" / "samples" / sample).read_bytes())
    batch = grade_batch(a1, folder, tmp_path / "out", SandboxSettings(), jobs=1)
    late = due + timedelta(days=2)
    inputs = LateInputs(LatePolicy(due=due, penalty_percent=10),
                        extensions={"123": due + timedelta(days=5), "benn": due + timedelta(days=5)},
                        times={"123": late, "ben": late})
    lines = apply_late_policy(batch, questions=a1.questions, max_score=a1.max_score, inputs=inputs)
    assert "1 of 2 submission(s) penalised" in lines
    assert any("matched no submission" in line and "benn" in line for line in lines)
    assert not any("matched no submission" in line and "123" in line for line in lines)


def test_a_blackboard_attempt_time_is_its_submission_time(tmp_path, a1):
    """Blackboard names each attempt by its time (the server's local time): with a policy,
    that is the submission time, as Gradescope's metadata is, without a times file."""
    import zipfile
    from datetime import timedelta

    from autograder.classroom.batch import grade_batch
    from autograder.classroom.late_grading import LateInputs, apply_late_policy
    from autograder.classroom.late_policy import LatePolicy
    from autograder.kit_folders import SOLUTIONS_DIR
    from autograder.sandbox import SandboxSettings

    ada = (SOLUTIONS_DIR / "a1_softmax" / "samples" / "ada.ipynb").read_bytes()
    archive = tmp_path / "gradebook_A1.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("A1_ada1_attempt_2026-10-03-10-00-00_a1.ipynb", ada)  # 34 h late at +02:00
        z.writestr("A1_ben2_attempt_2026-10-01-20-00-00_a1.ipynb", ada)  # on time
    batch = grade_batch(a1, archive, tmp_path / "out", SandboxSettings(), jobs=1)
    plus2 = timezone(timedelta(hours=2))
    policy = LatePolicy(due=datetime(2026, 10, 1, 23, 59, tzinfo=plus2), timezone="+02:00", penalty_percent=10)
    lines = apply_late_policy(batch, questions=a1.questions, max_score=a1.max_score, inputs=LateInputs(policy))
    assert "1 of 2 submission(s) penalised" in lines and not any("no known submission time" in s for s in lines)
    assert "submitted 2026-10-03T10:00+02:00" in (tmp_path / "out" / "feedback" / "ada1.txt").read_text()
