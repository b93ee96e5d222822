"""Gradescope, the self-check and the coding exam are thin callers of the one pipeline, so
each gets every step: the mistake diagnosis, the contract's statuses, atomic outputs."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from kit_paths import EXAMPLES

from autograder.grading.diagnose import Diagnoser
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.publish.check import public_suite, run_check
from autograder.publish.gradescope import GradescopeOptions, results_json, run_gradescope

EXAMPLES = EXAMPLES / "exam"
MATCHES = "Your outputs match the common mistake: "


def _public_mistake(a1):
    """A mistake the public cases alone recognise (so the self-check can name it)."""
    profiles = Diagnoser.for_assignment(a1, a1.public_cases).profiles
    assert profiles, "no a1 mistake fails a public case"
    return profiles[0].mistake


def test_gradescope_names_the_mistake_in_its_questions_failed_tests(a1, tmp_path):
    mistake = a1.mistakes[0]
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "bo.py").write_text(mistake.submission_source(a1.reference))
    shutil.copytree(SOLUTIONS_DIR / "a1_softmax", root / "source" / "hidden",
                    ignore=shutil.ignore_patterns("samples", "__pycache__"))
    (root / "source" / "gradescope.json").write_text(json.dumps({"hidden": "hidden", "options": {}}))
    payload = run_gradescope(root)
    assert json.loads((root / "results" / "results.json").read_text()) == payload
    failed = [t for t in payload["tests"] if t["status"] == "failed"]
    assert failed and all(t["tags"][0] == mistake.question for t in failed)
    assert all(MATCHES + mistake.description in t["output"] for t in failed)
    assert MATCHES not in payload["output"]  # the always-visible summary speaks of public tests only


def test_results_json_names_mistakes_only_on_failed_tests(a1):
    from autograder.grading.evaluate import CaseResult
    from autograder.grading.grade import SubmissionResult

    wrong = a1.mistakes[0].question
    result = SubmissionResult("bo", "bo.py", "graded", [CaseResult(c, c.question != wrong, "wrong value")
                                                        for c in a1.cases])
    payload = results_json(result, title="a1", questions=a1.questions, options=GradescopeOptions(),
                           mistakes={a1.mistakes[0].question: [a1.mistakes[0]]})
    named = [t for t in payload["tests"] if MATCHES in t["output"]]
    assert named and all(t["status"] == "failed" for t in named)
    assert all(t["visibility"] == ("visible" if "public" in t["tags"] else "after_published") for t in named)


def test_the_self_check_suite_is_named_and_names_mistakes(a1, tmp_path):
    suite = public_suite("a1_softmax")
    assert suite.title == a1.title and all(c.public for c in suite.cases) and suite.assignment is not None
    mistake = _public_mistake(a1)
    path = tmp_path / "mine.py"
    path.write_text(mistake.submission_source(a1.reference))
    result, text = run_check("a1_softmax", path)
    assert result.status == "graded" and result.score < sum(c.points for c in suite.cases)
    assert MATCHES + mistake.description in text
    assert "(self-check)" in text.splitlines()[0]


@pytest.fixture(scope="module")
def coding_exam(tmp_path_factory):
    from autograder.exam import coding

    out = tmp_path_factory.mktemp("coding")
    coding.build_coding_exam(roster=EXAMPLES / "roster.csv", secret_file=EXAMPLES / "secret.example.txt",
                             exam_id="lab-exam", out=out, tasks=["softmax", "cross_entropy"], draw=1)
    return out


def test_the_coding_exam_gives_every_submission_a_contract_row_and_feedback(coding_exam, tmp_path):
    from autograder.exam import coding

    manifest = json.loads((coding_exam / "coding_manifest.json").read_text())
    student = manifest["students"][0]
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "stranger.py").write_text("import numpy as np\n")
    (subs / f"{student['student_id']}.py").write_text("def softmax(:\n")
    out = tmp_path / "grades"
    gradebook = coding.grade_coding_exam(manifest_path=coding_exam / "coding_manifest.json",
                                         submissions=subs, out=out)
    with open(gradebook, newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert rows["stranger"]["status"] == "invalid_submission"  # the contract's word, not an invented one
    assert (rows["stranger"]["score"], rows["stranger"]["max_score"]) == ("0", "0")
    mine = rows[student["student_id"]]
    assert mine["status"] == "syntax_error" and mine["score"] == "0"
    assert float(mine["max_score"]) > 0 and "." not in mine["max_score"]  # formatted like the gradebook
    drawn = {coding.TASKS[t].function for t in student["tasks"]}
    assert all((mine[f] == "") == (f not in drawn) for f in ("softmax", "cross_entropy"))
    feedback = (out / "feedback" / f"{student['student_id']}.txt").read_text()
    assert feedback.startswith("lab-exam\nFeedback for: ") and "Status: syntax error" in feedback
    assert "not a student of this exam" in (out / "feedback" / "stranger.txt").read_text()
    assert not [p for p in out.rglob("*.tmp")]
