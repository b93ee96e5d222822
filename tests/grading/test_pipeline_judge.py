"""The judge step: the grader compares what a call returned with the reference's outputs
(evaluate.compare_arrays), and the feedback step says so in words (feedback.feedback_text)."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.course.cases import Case
from autograder.course.mistakes import Mistake
from autograder.grading.evaluate import CaseResult, compare_arrays
from autograder.grading.grade import SubmissionResult
from autograder.grading.status import Status
from autograder.outputs.feedback import feedback_text

CASE = Case("softmax", "random", "matches the reference", (np.zeros(3),))
LABELS = Case("predict", "labels", "picks the class", (np.zeros(3),), integer_dtype=True)
WANT = np.array([[0.25, 0.75], [0.5, 0.5]])


def test_equal_within_tolerance_passes_and_beyond_it_fails():
    assert compare_arrays(CASE, WANT, WANT * (1 + 1e-9), figures=True) is None
    reason = compare_arrays(CASE, WANT, WANT + 1e-3, figures=True)
    assert reason.startswith("values differ") and "largest error 0.001 absolute" in reason


def test_hidden_cases_never_say_by_how_much():
    reason = compare_arrays(CASE, WANT, WANT + 1e-3, figures=False)
    assert "rtol=" in reason and "largest" not in reason and "0.001" not in reason
    assert compare_arrays(CASE, WANT, np.zeros((123, 7)), figures=False) == \
        "returned an array of another shape; expected shape (2, 2)"  # 123 could carry data
    assert "(2,)" in compare_arrays(CASE, WANT, np.zeros(2), figures=False)  # a plausible mistake's shape


@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_where_the_answer_is_finite_is_named(bad, word):
    got = WANT.copy()
    got[0, 0] = bad
    assert f"contains {word} where the correct value is finite" in compare_arrays(CASE, WANT, got, figures=True)


def test_nan_where_the_answer_is_nan_is_equal():
    want = np.array([np.nan, 1.0])
    assert compare_arrays(CASE, want, want.copy(), figures=True) is None


def test_integer_answers_compare_exactly_and_need_an_integer_dtype():
    want = np.array([0, 1, 2])
    assert compare_arrays(LABELS, want, want.copy(), figures=True) is None
    assert "expected an integer array" in compare_arrays(LABELS, want, want.astype(float), figures=True)
    assert compare_arrays(LABELS, want, np.array([0, 2, 2]), figures=True) == \
        "1 of 3 entries differ from the correct answer"
    assert compare_arrays(LABELS, want, np.array([0, 2, 2]), figures=False) == \
        "some entries differ from the correct answer"


def _result(passed: bool, status=Status.GRADED):
    return SubmissionResult("ada", "ada.py", status, [CaseResult(CASE, passed, "" if passed else "values differ")])


def test_feedback_says_status_score_and_each_failed_property():
    text = feedback_text(_result(False), title="a1", questions=["softmax"], question_points={"softmax": 1.0})
    assert text.splitlines()[:4] == ["a1", "Feedback for: ada", "Status: graded: your code ran to the end",
                                     "Score: 0 / 1"]
    assert "  FAILED matches the reference\n         -> values differ" in text
    assert "Well done" not in text


def test_feedback_names_a_recognised_mistake_and_praises_full_marks():
    wrong = Mistake("m", "softmax", "forgets to subtract the maximum", lambda z: z)
    text = feedback_text(_result(False), title="a1", questions=["softmax"], question_points={"softmax": 1.0},
                         mistakes={"softmax": [wrong]})
    assert "  Your outputs match the common mistake: forgets to subtract the maximum" in text
    full = feedback_text(_result(True), title="a1", questions=["softmax"], question_points={"softmax": 1.0},
                         public_only=True)
    assert "(public tests only" in full and full.endswith("Every test passed. Well done.\n")


def test_every_status_has_words_for_the_student():
    from autograder.outputs.feedback import STATUS_TEXT

    assert set(STATUS_TEXT) == set(Status)
