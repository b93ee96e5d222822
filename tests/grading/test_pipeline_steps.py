"""The steps of one grading run (autograder/grading/pipeline.py), each on its own."""

from __future__ import annotations

import os

import pytest

from autograder.classroom import resume
from autograder.grading import pipeline
from autograder.grading.diagnose import Diagnoser
from autograder.grading.lms_names import owner_of
from autograder.grading.pipeline import GradedSubmission, Grading
from autograder.grading.result_data import result_problem
from autograder.grading.status import Status
from autograder.grading.submission import FoundSubmission
from autograder.outputs.feedback import feedback_for
from autograder.sandbox import SandboxSettings


@pytest.fixture(scope="module")
def grading(a1):
    return Grading.for_assignment(a1)


def _found(path):
    return FoundSubmission(path, owner_of(path), path.name)


def test_grading_for_an_assignment_has_its_cases_limits_and_mistakes(a1, grading):
    assert grading.cases == a1.cases and grading.questions == a1.questions
    assert grading.max_score == a1.max_score and grading.mistakes == a1.mistakes
    assert grading.settings.resolved_limits() == SandboxSettings().with_default_limits(a1.limits).resolved_limits()
    public = Grading.for_assignment(a1, public_only=True)
    assert public.public_only and all(c.public for c in public.cases)


def test_the_reference_is_graded_full_marks_with_no_mistake(grading, reference_source, tmp_path):
    path = tmp_path / "ada.py"
    path.write_text(reference_source)
    graded, content = pipeline.grade_found(grading, _found(path), tmp_path / "copy")
    assert graded.result.status == Status.GRADED == "graded"
    assert graded.result.score == grading.max_score and graded.mistakes == {}
    assert content and not (tmp_path / "copy").exists()  # the private copy is gone
    assert graded.result.outputs == {}  # settled: as the cache gives it back


def test_a_mistake_is_named_by_the_diagnosis_step(a1, grading, tmp_path):
    mistake = a1.mistakes[0]
    path = tmp_path / "bo.py"
    path.write_text(mistake.submission_source(a1.reference))
    graded, _ = pipeline.grade_found(grading, _found(path), tmp_path / "copy")
    assert mistake.name in graded.mistakes[mistake.question]
    assert "Your outputs match the common mistake: " + mistake.description in feedback_for(grading, graded)


def test_an_unreadable_entry_is_an_invalid_row_that_is_not_cached(grading, tmp_path):
    path = tmp_path / "link.py"
    os.symlink("/etc/passwd", path)
    graded, content = pipeline.grade_found(grading, _found(path), tmp_path / "copy")
    assert graded.result.status == Status.INVALID and graded.result.score == 0
    assert len(graded.result.case_results) == len(grading.cases) and content is None


def test_a_kit_bug_is_a_grader_error_row_never_cached(grading, reference_source, tmp_path, monkeypatch, capsys):
    path = tmp_path / "jo.py"
    path.write_text(reference_source)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the kit")

    monkeypatch.setattr(pipeline, "grade_submission", broken)
    graded, content = pipeline.grade_found(grading, _found(path), tmp_path / "copy")
    assert graded.result.status == Status.GRADER_ERROR and content is None
    assert "a bug in the kit" in graded.result.messages[0] and graded.mistakes == {}
    assert "RuntimeError" in capsys.readouterr().err  # the TA sees the traceback


def test_diagnosis_never_costs_the_grade(a1, grading, monkeypatch, capsys):
    result = pipeline.not_graded("x", "x.py", grading.cases, Status.GRADED, "m", "failed")
    assert pipeline.diagnose_result(None, result) == {}
    diagnoser = Diagnoser.for_assignment(a1)

    def explode(*args):
        raise ValueError("lying outputs")

    monkeypatch.setattr(diagnoser, "match", explode)
    assert pipeline.diagnose_result(diagnoser, result) == {}
    assert "lying outputs" in capsys.readouterr().err


def test_the_cache_entry_round_trips_and_follows_the_schema(grading):
    result = pipeline.not_graded("ada", "ada.py", grading.cases, Status.TIMEOUT, "stopped", "no result")
    result.seconds = 1.23456
    graded = GradedSubmission(pipeline.settle(result, grading.cases), {"student": "ada"}, {"softmax": ["m"]})
    entry = graded.cache_entry("c0ffee")
    assert result_problem(entry["result"], grading.cases) is None
    back = GradedSubmission.from_cache_entry(entry, grading.cases)
    assert back.result.status is Status.TIMEOUT and back.result.seconds == 1.235
    assert (back.owner, back.mistakes) == (graded.owner, graded.mistakes)
    assert back.cache_entry("c0ffee") == entry


def test_record_stores_only_what_was_graded(grading, tmp_path):
    class Spy:
        stored = []

        def store(self, entry):
            self.stored.append(entry)

    spy = Spy()
    graded = GradedSubmission(pipeline.not_graded("a", "a", grading.cases, Status.GRADED, "m", "r"))
    resume.record_result(spy, graded, None)
    assert spy.stored == []
    resume.record_result(spy, graded, "hash")
    assert [e["content"] for e in spy.stored] == ["hash"]
