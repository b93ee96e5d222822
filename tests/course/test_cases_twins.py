"""Public cases count only with a hidden twin (``autograder.course.cases.hidden_twins``): a twin
is a hidden case of the same question checking the same thing, so shipped answers alone earn
nothing, and code that computes the property loses nothing."""

import numpy as np

from autograder.course.assignment import available_assignments, load_assignment
from autograder.course.cases import Case, hidden_twins, public_cases_without_a_passing_twin
from autograder.grading.evaluate import CaseResult, count_public_cases_with_twins

X = np.zeros(2)


def test_a_twin_is_a_hidden_case_of_the_same_question_checking_the_same_thing():
    public = Case("f", "p", "", (X,), public=True)
    same = Case("f", "h", "", (X,))
    other_check = Case("f", "w", "", (X,), no_warnings=True)
    other_question = Case("g", "h", "", (X,))
    looser = Case("f", "l", "", (X,), rtol=0.5)
    twins = hidden_twins([public, same, other_check, other_question, looser])
    assert twins == {"f/p": ("f/h",)}


def test_a_public_case_counts_when_one_twin_passes_and_not_when_none_does():
    twins = {"f/p": ("f/h1", "f/h2")}
    assert public_cases_without_a_passing_twin({"f/p": True, "f/h1": False, "f/h2": True}, twins) == set()
    assert public_cases_without_a_passing_twin({"f/p": True, "f/h1": False, "f/h2": False}, twins) == {"f/p"}
    assert public_cases_without_a_passing_twin({"f/p": True}, twins) == {"f/p"}  # twins not run
    assert public_cases_without_a_passing_twin({"f/p": False, "f/h1": False}, twins) == set()


def test_without_hidden_cases_in_the_run_public_cases_count_on_their_own():
    """The self-check and --public-only runs have no hidden case, so nothing is gated."""
    public = Case("f", "p", "", (X,), public=True)
    results = [CaseResult(public, True)]
    assert count_public_cases_with_twins(results) == results


def test_the_gated_case_fails_with_a_reason_and_the_twin_keeps_its_own_verdict():
    public, hidden = Case("f", "p", "", (X,), public=True), Case("f", "h", "", (X,))
    results = count_public_cases_with_twins([CaseResult(public, True), CaseResult(hidden, False, "wrong")])
    assert [r.passed for r in results] == [False, False]
    assert "hidden cases that check the same thing" in results[0].reason
    assert results[1].reason == "wrong"


def test_public_cases_without_a_twin_are_the_known_ones():
    """A new public case without a hidden twin is noticed here (it would count on its own)."""
    alone = set()
    for name in available_assignments():
        assignment = load_assignment(name)
        twins = hidden_twins(assignment.cases)
        alone |= {c.case_id for c in assignment.public_cases if c.case_id not in twins}
    assert alone == {"kaiming_normal/summary", "init_mlp/summary", "activation_stds/small_network",
                     "kaiming_init_/summary", "mlp_backward/relu_public", "train_mlp/shapes_public"}
