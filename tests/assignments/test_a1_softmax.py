"""a1_softmax's own tests (the shared invariants are in tests/assignments/test_invariants.py): its score
and the case that separates each mistake."""

from __future__ import annotations

from invariant_helpers import failed_cases, grade_source

from autograder.course.assignment import load_assignment

A1 = load_assignment("a1_softmax")


def test_a1_max_score():
    assert A1.max_score == 48


# The case that separates each mistake from the right answer: if a case is weakened,
# the mistake it exists for slips through and this table says which.
SEPARATING_CASE = {
    "unstable_softmax": "softmax/scores_1e3",
    "global_max_softmax": "softmax/row_wise_max",
    "softmax_ignores_axis": "softmax/axis_0",
    "softmax_in_place": "softmax/input_unchanged",
    "softmax_integer_output": "softmax/integer_input",
    "log_of_softmax": "log_softmax/underflowing_softmax",
    "unstable_log_softmax": "log_softmax/scores_1e4",
    "naive_sigmoid": "sigmoid/no_overflow_warning",
    "one_minus_sigmoid": "sigmoid/tiny_probabilities",
    "argmax_over_samples": "predict_multiclass/tall_batch",
    "ties_to_last_index": "predict_multiclass/ties",
    "threshold_greater_equal": "predict_multilabel/exactly_at_threshold",
    "boolean_labels": "predict_multilabel/integer_dtype",
    "ignores_threshold": "predict_multilabel/custom_threshold",
}


def test_every_a1_mistake_has_a_separating_case():
    assert set(SEPARATING_CASE) == {m.name for m in A1.mistakes}
    for mistake in A1.mistakes:
        result = grade_source(A1, mistake.name, mistake.submission_source(A1.reference))
        failed = failed_cases(result)
        assert SEPARATING_CASE[mistake.name] in failed, (mistake.name, sorted(failed))
