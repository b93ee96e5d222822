"""Late policy: the penalty formula, the files TAs give, and a graded class after the penalty."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from autograder.classroom.batch import grade_batch
from autograder.classroom.late_grading import LateInputs, apply_late_policy
from autograder.classroom.late_policy import (
    LatePolicy,
    LatePolicyError,
    _read_flat_toml,
    assess,
    gradescope_times,
    load_policy,
    parse_time,
    policy_from_mapping,
    read_extensions,
    read_submission_times,
)
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.sandbox import SandboxSettings

DUE = datetime(2026, 10, 1, 23, 59, tzinfo=timezone.utc)
POLICY = LatePolicy(due=DUE, grace_minutes=15, penalty_percent=10, per="day", max_penalty_percent=30,
                    zero_after_days=7)


def penalty(late: timedelta, raw: float = 40, policy: LatePolicy = POLICY) -> float:
    return assess(policy, raw_score=raw, max_score=50, submitted=DUE + late).penalty


@pytest.mark.parametrize(("late", "points"), [
    (timedelta(minutes=-5), 0),            # early
    (timedelta(minutes=14), 0),            # within the grace period
    (timedelta(minutes=16), 5),            # past grace: the first started day, 10 % of 50
    (timedelta(hours=24), 5),              # exactly one day
    (timedelta(hours=24, seconds=1), 10),  # a second started day
    (timedelta(days=5), 15),               # 50 % capped at 30 %
    (timedelta(days=7, minutes=1), 40),    # past zero_after_days: the whole raw score
])
def test_penalty_per_started_day_with_grace_cap_and_zero(late, points):
    assert penalty(late) == pytest.approx(points)


def test_penalty_per_hour_never_exceeds_the_raw_score():
    hourly = LatePolicy(due=DUE, penalty_percent=2, per="hour")
    assert penalty(timedelta(hours=2, minutes=30), policy=hourly) == pytest.approx(3)  # 3 hours x 2 % x 50
    assert penalty(timedelta(hours=40), raw=4, policy=hourly) == 4  # 80 % of 50 > the 4 points earned
    result = assess(hourly, raw_score=4, max_score=50, submitted=DUE + timedelta(hours=40))
    assert result.score == 0 and "40 started hour(s)" in result.explanation


def test_explanation_shows_the_computation():
    result = assess(POLICY, raw_score=40, max_score=50, submitted=DUE + timedelta(hours=30))
    assert result.known and result.score == 30
    assert "1 d 6 h late" in result.explanation and "2 started day(s) x 10 % = 20 % of 50 points" in result.explanation
    capped = assess(POLICY, raw_score=40, max_score=50, submitted=DUE + timedelta(days=4))
    assert "capped at 30 %" in capped.explanation


def test_no_time_means_no_penalty_and_says_so():
    result = assess(POLICY, raw_score=40, max_score=50, submitted=None, flagged_late=True)
    assert (result.penalty, result.score, result.known) == (0, 40, False)
    assert "No submission time" in result.explanation and "marked it late" in result.explanation
    no_due = assess(LatePolicy(penalty_percent=10), raw_score=40, max_score=50, submitted=DUE)
    assert not no_due.known and "No due date" in no_due.explanation


def test_an_extension_moves_the_due_date():
    result = assess(POLICY, raw_score=40, max_score=50, submitted=DUE + timedelta(days=2),
                    due=DUE + timedelta(days=3))
    assert result.penalty == 0 and result.known


def test_policy_files_toml_json_and_the_python_310_reader(tmp_path):
    text = ('due = "2026-10-01T23:59:00"  # local time\ntimezone = "+02:00"\ngrace_minutes = 15\n'
            'penalty_percent = 10\nper = "hour"\nmax_penalty_percent = 50\nzero_after_days = 3\n')
    (tmp_path / "p.toml").write_text(text)
    policy = load_policy(tmp_path / "p.toml")
    assert policy.due == datetime(2026, 10, 1, 21, 59, tzinfo=timezone.utc)
    assert (policy.per, policy.grace_minutes, policy.zero_after_days) == ("hour", 15, 3)
    assert policy_from_mapping(_read_flat_toml(text)) == policy
    (tmp_path / "p.json").write_text(json.dumps({"penalty_percent": 5}))
    assert load_policy(tmp_path / "p.json") == LatePolicy(penalty_percent=5)
    with pytest.raises(LatePolicyError, match="unknown setting"):
        policy_from_mapping({"penalty_per_week": 1})
    with pytest.raises(LatePolicyError, match="per must be"):
        policy_from_mapping({"per": "week"})


def test_times_in_iso_z_and_moodles_export_format():
    assert parse_time("2026-10-01T23:59:00Z") == DUE
    assert parse_time("Thursday, 1 October 2026, 11:59 PM") == DUE
    plus2 = timezone(timedelta(hours=2))
    assert parse_time("2026-10-02 01:59", plus2) == DUE
    with pytest.raises(LatePolicyError, match="cannot read"):
        parse_time("next tuesday")


def test_extensions_and_submission_times_csvs(tmp_path):
    (tmp_path / "ext.csv").write_text("student,due\nada,2026-10-04T23:59:00Z\nben,\n")
    assert read_extensions(tmp_path / "ext.csv") == {"ada": DUE + timedelta(days=3)}
    (tmp_path / "times.csv").write_text("Student,Submitted\nAda,2026-10-02T10:00:00+00:00\n")
    assert read_submission_times(tmp_path / "times.csv") == {"ada": datetime(2026, 10, 2, 10, tzinfo=timezone.utc)}
    # Moodle's grading worksheet export, as Moodle writes it ("-" when nothing was submitted).
    (tmp_path / "moodle.csv").write_text(
        'Identifier,"Full name","Email address",Status,"Last modified (submission)","Last modified (grade)"\n'
        'Participant 201,Ada Lovelace,ada@x,Submitted,"Friday, 2 October 2026, 10:00 AM",-\n'
        'Participant 202,Ben Jones,ben@x,No submission,-,-\n', encoding="utf-8")
    assert read_submission_times(tmp_path / "moodle.csv") == {
        "participant 201": datetime(2026, 10, 2, 10, tzinfo=timezone.utc)}
    (tmp_path / "bad.csv").write_text("student,due\nada,soon\n")
    with pytest.raises(LatePolicyError, match="row 2"):
        read_extensions(tmp_path / "bad.csv")


def test_gradescope_metadata_gives_time_and_the_extended_due_date():
    metadata = {"created_at": "2026-10-03T08:00:00.123456-07:00",
                "assignment": {"due_date": "2026-10-01T23:59:00.000000-07:00"},
                "users": [{"email": "a@x", "assignment": {"due_date": "2026-10-04T23:59:00.000000-07:00"}},
                          {"email": "b@x"}]}
    submitted, due = gradescope_times(metadata)
    assert submitted == datetime(2026, 10, 3, 15, 0, 0, 123456, tzinfo=timezone.utc)
    assert due == datetime(2026, 10, 5, 6, 59, tzinfo=timezone.utc)
    assert gradescope_times({"assignment": {"due_date": "2026-10-01T23:59:00Z"}}) == (None, DUE)


def test_a_graded_class_after_the_penalty(tmp_path, a1):
    samples = SOLUTIONS_DIR / "a1_softmax" / "samples"
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ada.ipynb", "ben.ipynb", "jo.py"):
        (folder / name).write_bytes((samples / name).read_bytes())
    out = tmp_path / "out"
    batch = grade_batch(a1, folder, out, SandboxSettings(), jobs=1)
    raw = {r.submission: r.score for r in batch.results}
    inputs = LateInputs(LatePolicy(due=DUE, penalty_percent=10),
                        extensions={"ben": DUE + timedelta(days=5)},
                        times={"ada": DUE + timedelta(hours=30), "ben": DUE + timedelta(days=2)})
    lines = apply_late_policy(batch, questions=a1.questions, max_score=a1.max_score, inputs=inputs)
    with open(out / "gradebook.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["submission", "status", "score", "max_score", *a1.questions, "raw_score", "late_penalty"]
    rows = {r[0]: r for r in table[1:]}
    ada_penalty = a1.max_score * 0.2
    assert float(rows["ada"][2]) == pytest.approx(raw["ada"] - ada_penalty)
    assert float(rows["ada"][-2]) == raw["ada"] and float(rows["ada"][-1]) == pytest.approx(ada_penalty)
    assert float(rows["ben"][-1]) == 0 and float(rows["jo"][-1]) == 0  # extension; no time known
    feedback = (out / "feedback" / "ada.txt").read_text()
    assert "2 started day(s) x 10 %" in feedback and "late penalty" in feedback
    assert "No submission time" in (out / "feedback" / "jo.txt").read_text()
    results = {s["submission"]: s for s in json.loads((out / "results.json").read_text())["submissions"]}
    assert results["ada"]["score"] == pytest.approx(raw["ada"] - ada_penalty)
    assert results["ada"]["raw_score"] == raw["ada"]
    report = (out / "late_report.txt").read_text()
    assert "1 of 3 submission(s) penalised" in report and "NO penalty applied" in report and "  jo" in report
    assert lines == report.rstrip("\n").split("\n")


def test_without_a_policy_the_gradebook_keeps_the_contract_columns(tmp_path, a1):
    from autograder.outputs.gradebook import gradebook_text

    header = gradebook_text([], a1.questions, a1.max_score).splitlines()[0]
    assert header == ",".join(["submission", "status", "score", "max_score", *a1.questions])


def test_a_policy_in_the_gradescope_zip(tmp_path, a1):
    import zipfile

    from autograder.publish.gradescope import CONFIG_NAME, write_gradescope_zip

    path = write_gradescope_zip(a1, tmp_path / "gs.zip", late_policy=POLICY)
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read(CONFIG_NAME))
    assert policy_from_mapping(config["late_policy"]) == POLICY
    assert Path(path).is_file()


def test_an_assignments_own_policy_file_reaches_the_gradescope_zip(tmp_path, a1):
    import dataclasses
    import shutil
    import zipfile

    from autograder.publish.gradescope import CONFIG_NAME, write_gradescope_zip

    hidden = tmp_path / "a1_softmax"
    shutil.copytree(a1.hidden_dir, hidden, ignore=shutil.ignore_patterns("samples", "__pycache__"))
    (hidden / "late_policy.toml").write_text("penalty_percent = 5\nper = \"hour\"\n")
    path = write_gradescope_zip(dataclasses.replace(a1, hidden_dir=hidden), tmp_path / "gs.zip")
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read(CONFIG_NAME))
    assert policy_from_mapping(config["late_policy"]) == LatePolicy(penalty_percent=5, per="hour")


def test_options_are_read_before_grading_and_need_a_policy(tmp_path, a1):
    from argparse import Namespace

    from autograder.classroom.late_grading import inputs_from_args

    (tmp_path / "times.csv").write_text("student,submitted\nada,2026-10-02T10:00:00Z\n")
    assert inputs_from_args(Namespace(late_policy=None, extensions=None, submission_times=None), a1) is None
    with pytest.raises(ValueError, match="need a --late-policy"):
        inputs_from_args(Namespace(late_policy=None, extensions=None, submission_times=tmp_path / "times.csv"), a1)
    (tmp_path / "p.toml").write_text('due = "2026-10-01T23:59:00Z"\npenalty_percent = 10\n')
    inputs = inputs_from_args(Namespace(late_policy=tmp_path / "p.toml", extensions=None,
                                        submission_times=tmp_path / "times.csv"), a1)
    assert inputs.policy.due == DUE and inputs.times == {"ada": datetime(2026, 10, 2, 10, tzinfo=timezone.utc)}
    (tmp_path / "bad.toml").write_text("penalty_percent = lots\n")
    with pytest.raises(LatePolicyError):
        inputs_from_args(Namespace(late_policy=tmp_path / "bad.toml", extensions=None, submission_times=None), a1)


def test_grade_command_with_a_late_policy_pdfs_and_moodle_export(tmp_path, capsys):
    """One `autograder grade` run: the policy read first, penalties in the gradebook and the
    Moodle export, the report of unknown times, and the PDFs for manual grading."""
    from autograder.cli import main

    samples = SOLUTIONS_DIR / "a1_softmax" / "samples"
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ada.ipynb", "jo.py"):
        (folder / name).write_bytes((samples / name).read_bytes())
    (tmp_path / "policy.toml").write_text('due = "2026-10-01T23:59:00Z"\npenalty_percent = 10\n')
    (tmp_path / "times.csv").write_text("student,submitted\nada,2026-10-02T12:00:00Z\n")
    (tmp_path / "roster.csv").write_text("First name,Last name,Email address\nada,L,ada@x\njo,M,jo@x\n")
    out = tmp_path / "out"
    args = ["grade", "a1_softmax", str(folder), "--out", str(out), "--late-policy", str(tmp_path / "policy.toml"),
            "--submission-times", str(tmp_path / "times.csv"), "--moodle", "--roster", str(tmp_path / "roster.csv")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "1 of 2 submission(s) penalised" in printed and "NO penalty applied" in printed
    with open(out / "gradebook.csv", newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert float(rows["ada"]["late_penalty"]) == pytest.approx(4.8) and float(rows["ada"]["score"]) == 43.2
    grades = (out / "moodle_grades.csv").read_text()
    assert "ada@x,ada L,43.2" in grades
    bad = tmp_path / "bad.toml"
    bad.write_text("per = 'week'\n")
    assert main(args[:5] + ["--late-policy", str(bad)]) == 2  # refused before any grading
    assert "per must be" in capsys.readouterr().err
