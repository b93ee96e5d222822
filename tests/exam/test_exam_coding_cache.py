"""The coding exam graded by the batch engine: cached per student, resumable, parallel.

A student's cached grade is reused only while everything it depends on is unchanged: the
submission, the student's own manifest entry (tasks and seeds decide the cases), the exam,
the reference material of the tasks' assignments, the limits and the kit. Which students a
run graded is seen through ``batch.grade_found`` (the step every graded entry goes through).
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import json
import shutil

import pytest

from autograder.classroom import batch
from autograder.classroom.outdir import OutDirInUse
from autograder.exam import coding
from autograder.exam import references as refs
from autograder.machine.faults import MachineFault
from autograder.sandbox import SandboxSettings

SOFTMAX, CROSS_ENTROPY = "a1_softmax.softmax", "a2_losses.cross_entropy"
STUDENTS = {  # student id -> {task: seed}; ben's tasks come from one assignment only
    "ada": {SOFTMAX: "a1" * 32, CROSS_ENTROPY: "a2" * 32},
    "ben": {SOFTMAX: "b1" * 32},
    "cleo": {SOFTMAX: "c1" * 32, CROSS_ENTROPY: "c2" * 32},
}
REFERENCE = "\n\n".join(["import numpy as np", inspect.getsource(refs.reference("a1_softmax")),
                         inspect.getsource(refs.reference("a2_losses"))])
UNSTABLE = ("import numpy as np\n\ndef softmax(z, axis=-1):\n"
            "    return np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)\n")


def write_manifest(path, students=STUDENTS, exam_id="lab"):
    path.write_text(json.dumps({
        "format": coding.CODING_FORMAT, "exam_id": exam_id, "title": exam_id, "draw": None,
        "tasks": [SOFTMAX, CROSS_ENTROPY],
        "students": [{"student_id": sid, "name": sid.title(), "tasks": tasks} for sid, tasks in students.items()]}))
    return path


@pytest.fixture
def exam(tmp_path):
    """(manifest, submissions folder, output folder): ada and ben right, cleo's softmax
    unstable, and a stranger who is not on the exam's list."""
    subs = tmp_path / "subs"
    subs.mkdir()
    for name, source in (("ada", REFERENCE), ("ben", REFERENCE), ("cleo", UNSTABLE), ("stranger", REFERENCE)):
        (subs / f"{name}.py").write_text(source)
    return write_manifest(tmp_path / "coding_manifest.json"), subs, tmp_path / "grades"


@pytest.fixture
def graded_ids(monkeypatch):
    """The ids each run actually grades (not taken from the cache), in a list that refills per run."""
    seen: list[str] = []
    real = batch.grade_found

    def spy(grading, found, *args, **kwargs):
        seen.append(found.student)
        return real(grading, found, *args, **kwargs)

    monkeypatch.setattr(batch, "grade_found", spy)
    return seen


def grade(exam, graded_ids, **options) -> list[str]:
    """Grade the exam; the sorted ids graded in this run."""
    manifest, subs, out = exam
    graded_ids.clear()
    coding.grade_coding_exam(manifest_path=manifest, submissions=subs, out=out,
                             settings=SandboxSettings(), **{"jobs": 1, **options})
    return sorted(graded_ids)


def outputs(out) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] != "cache"}


def rows(out) -> dict[str, dict]:
    with open(out / "gradebook.csv", newline="") as f:
        return {r["submission"]: r for r in csv.DictReader(f)}


def test_a_second_run_grades_nothing_and_writes_the_same_bytes(exam, graded_ids):
    out = exam[2]
    assert grade(exam, graded_ids) == ["ada", "ben", "cleo"]
    first = outputs(out)
    assert grade(exam, graded_ids) == []
    assert outputs(out) == first
    graded = rows(out)
    assert graded["ada"]["score"] == graded["ada"]["max_score"] and graded["ben"]["cross_entropy"] == ""
    assert float(graded["cleo"]["softmax"]) < float(graded["ada"]["softmax"])


def test_the_unknown_student_keeps_its_invalid_row_and_is_never_cached(exam, graded_ids):
    grade(exam, graded_ids)
    grade(exam, graded_ids)
    stranger = rows(exam[2])["stranger"]
    assert (stranger["status"], stranger["score"], stranger["max_score"]) == ("invalid_submission", "0", "0")
    assert "not a student of this exam" in (exam[2] / "feedback" / "stranger.txt").read_text()
    assert not list((exam[2] / "cache").glob("stranger-*.json"))


def test_a_resubmission_regrades_that_student_only(exam, graded_ids):
    grade(exam, graded_ids)
    (exam[1] / "cleo.py").write_text(REFERENCE)
    assert grade(exam, graded_ids) == ["cleo"]
    assert rows(exam[2])["cleo"]["score"] == rows(exam[2])["cleo"]["max_score"]


def test_a_changed_manifest_entry_regrades_that_student_only(exam, graded_ids):
    grade(exam, graded_ids)
    before = (exam[2] / "feedback" / "ben.txt").read_text()
    changed = {**STUDENTS, "ben": {SOFTMAX: "b9" * 32}}  # a new seed: other hidden inputs
    write_manifest(exam[0], changed)
    assert grade(exam, graded_ids) == ["ben"]
    assert (exam[2] / "feedback" / "ben.txt").read_text() != before  # the new cases' descriptions
    write_manifest(exam[0], {**changed, "ben": {SOFTMAX: "b9" * 32, CROSS_ENTROPY: "b2" * 32}})  # a new task
    assert grade(exam, graded_ids) == ["ben"]
    assert rows(exam[2])["ben"]["cross_entropy"] != ""


def test_changed_reference_material_regrades_the_students_of_that_assignment(exam, graded_ids, monkeypatch):
    """A fixed a2 reference or tolerance (its hidden folder's hash) regrades ada and cleo, who
    have an a2 task; ben, whose only task is from a1, keeps his grade."""
    grade(exam, graded_ids)
    real = coding.material_fingerprint
    monkeypatch.setattr(coding, "material_fingerprint",
                        lambda assignment: real(assignment) + ("-fixed" if assignment == "a2_losses" else ""))
    assert grade(exam, graded_ids) == ["ada", "cleo"]


def test_another_exam_id_regrades_everyone(exam, graded_ids, tmp_path):
    grade(exam, graded_ids)
    write_manifest(exam[0], exam_id="lab-resit")
    with pytest.raises(OutDirInUse):  # the folder holds the grades of exam "lab"
        grade(exam, graded_ids)
    assert grade((exam[0], exam[1], tmp_path / "resit"), graded_ids) == ["ada", "ben", "cleo"]


@pytest.mark.parametrize("edit", ["score", "verdict", "another_students"])
def test_an_edited_or_forged_cache_entry_is_not_believed(exam, graded_ids, edit):
    """cleo (who lost points) edits her entry, or puts ada's full-marks entry in its place."""
    grade(exam, graded_ids)
    honest = outputs(exam[2])
    cache = exam[2] / "cache"
    (mine,) = cache.glob("cleo-*.json")
    if edit == "another_students":
        (theirs,) = cache.glob("ada-*.json")
        mine.write_bytes(theirs.read_bytes())
    else:
        entry = json.loads(mine.read_text())
        failed = [c for c in entry["result"]["cases"] if not c["passed"]]
        assert failed, "the edit must change something"
        if edit == "verdict":
            failed[0].update(passed=True, points=1.0)
        entry["result"]["score"] = sum(c["points"] for c in entry["result"]["cases"]) + (edit == "score")
        mine.write_text(json.dumps(entry))
    assert grade(exam, graded_ids) == ["cleo"]
    assert outputs(exam[2]) == honest


@pytest.mark.parametrize("stop", [KeyboardInterrupt, MachineFault])
def test_a_stopped_run_keeps_what_it_graded_and_the_next_one_finishes(exam, graded_ids, tmp_path, monkeypatch,
                                                                      stop):
    """Ctrl-C, or a full disk, while cleo is graded: ada and ben keep their rows and cache
    entries, and the next run grades cleo alone, giving an uninterrupted run's outputs."""
    manifest, subs, out = exam
    grade((manifest, subs, tmp_path / "uninterrupted"), graded_ids)
    spy = batch.grade_found

    def stopped_at_cleo(grading, found, *args, **kwargs):
        if found.student == "cleo":
            raise stop("stopped while cleo was graded")
        return spy(grading, found, *args, **kwargs)

    monkeypatch.setattr(batch, "grade_found", stopped_at_cleo)
    with pytest.raises(stop):
        grade(exam, graded_ids)
    assert sorted(rows(out)) == ["ada", "ben", "stranger"]
    monkeypatch.setattr(batch, "grade_found", spy)
    assert grade(exam, graded_ids) == ["cleo"]
    assert outputs(out) == outputs(tmp_path / "uninterrupted")
    assert not list(out.rglob("*.tmp"))


def test_regrade_grades_everyone_again(exam, graded_ids):
    grade(exam, graded_ids)
    assert grade(exam, graded_ids, regrade=True) == ["ada", "ben", "cleo"]


def test_two_jobs_give_the_same_outputs_as_one(exam, graded_ids, tmp_path):
    manifest, subs, _ = exam
    grade((manifest, subs, tmp_path / "one"), graded_ids, jobs=1)
    assert grade((manifest, subs, tmp_path / "two"), graded_ids, jobs=2) == ["ada", "ben", "cleo"]
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two")


def test_feedback_of_a_student_no_longer_submitting_is_removed(exam, graded_ids):
    grade(exam, graded_ids)
    (exam[1] / "ben.py").unlink()
    assert grade(exam, graded_ids) == []
    assert sorted(p.name for p in (exam[2] / "feedback").iterdir()) == ["ada.txt", "cleo.txt", "stranger.txt"]
    assert "ben" not in rows(exam[2])


def test_the_fingerprint_covers_what_the_grade_depends_on():
    """Each input changes the student's fingerprint; reference material changes it only for
    the students with a task from that assignment."""
    settings = SandboxSettings().with_default_limits(coding.LIMITS)
    material = {"a1_softmax": "1" * 64, "a2_losses": "2" * 64}
    ben = {"student_id": "ben", "name": "Ben", "tasks": STUDENTS["ben"]}

    def fingerprint(entry=ben, **changes):
        options = {"exam_id": "lab", "settings": settings, "material": material, "kit": "k" * 64, **changes}
        return coding.student_fingerprint(entry, **options)

    base = fingerprint()
    changed = [
        fingerprint({**ben, "tasks": {SOFTMAX: "b9" * 32}}),
        fingerprint(exam_id="resit"),
        fingerprint(material={**material, "a1_softmax": "3" * 64}),
        fingerprint(settings=SandboxSettings(isolation="none").with_default_limits(coding.LIMITS)),
        fingerprint(settings=SandboxSettings(limits=dataclasses.replace(coding.LIMITS, call_seconds=9))),
        fingerprint(kit="j" * 64),
    ]
    assert all(other != base for other in changed)
    assert fingerprint(material={**material, "a2_losses": "3" * 64}) == base  # ben has no a2 task


def test_the_material_fingerprint_follows_the_hidden_folder_but_not_its_samples(tmp_path, monkeypatch):
    copy = tmp_path / "a2_losses"
    shutil.copytree(refs.hidden_dir("a2_losses"), copy)
    monkeypatch.setattr(refs, "hidden_dir", lambda assignment: copy)
    base = coding.material_fingerprint("a2_losses")
    (copy / "samples" / "new.py").write_text("x = 1\n")
    assert coding.material_fingerprint("a2_losses") == base
    with open(copy / "spec.py", "a") as spec:
        spec.write("\n# a tolerance changed\n")
    assert coding.material_fingerprint("a2_losses") != base


def test_the_command_line_takes_the_homework_options(exam, capsys):
    from autograder.cli import main

    manifest, subs, out = exam
    command = ["exam", "coding", "grade", "--manifest", str(manifest), "--submissions", str(subs),
               "--out", str(out), "--jobs", "2"]
    assert main(command) == 0
    assert main(command) == 0
    assert "graded now: 0, reused from the cache: 3" in capsys.readouterr().err
    assert main([*command, "--regrade", "--wait"]) == 0
    assert "graded now: 3, reused from the cache: 0" in capsys.readouterr().err


def test_a_manifest_naming_an_unknown_task_is_refused_before_anything_is_graded(exam, graded_ids):
    write_manifest(exam[0], {**STUDENTS, "ben": {"a1_softmax.softmaxx": "b1" * 32}})
    with pytest.raises(ValueError, match="softmaxx"):
        grade(exam, graded_ids)
    assert graded_ids == [] and not exam[2].exists()


def test_ctrl_c_on_the_command_line_exits_130_and_says_how_to_resume(exam, monkeypatch, capsys):
    from autograder.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "grade_found", interrupted)
    manifest, subs, out = exam
    assert main(["exam", "coding", "grade", "--manifest", str(manifest), "--submissions", str(subs),
                 "--out", str(out), "--jobs", "1"]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    assert rows(out)["stranger"]["status"] == "invalid_submission"  # what was settled is written
