"""a2_losses' own tests: its grading facts (score, the case that separates each mistake, its
samples), the lecture's printed numbers, and PyTorch as an independent check of the reference.

The shared invariants (reference full marks, stubs zero, each mistake loses points on the
function it breaks and only there, nothing hidden reaches students, the otter public tests
pass for the reference and fail for stubs) are in tests/assignments/test_invariants.py; here is what is
a2's own.
"""

from __future__ import annotations

import ast
import contextlib
import io

import nbformat
import numpy as np
import pytest
from invariant_helpers import failed_cases, grade_source, stub_functions

from autograder.course.assignment import load_assignment
from autograder.grading.grade import grade_for_assignment
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.sandbox import SandboxSettings

A2 = load_assignment("a2_losses")
SAMPLES = SOLUTIONS_DIR / "a2_losses" / "samples"
CASES = {case.case_id: case for case in A2.cases}


@pytest.fixture(scope="module")
def a2():
    return A2


def _grade(path):
    return grade_for_assignment(A2, path, SandboxSettings())


def _failed(result):
    return {r.case.case_id for r in result.case_results if not r.passed}


# --- a2's own grading facts ---------------------------------------------------------------
# (reference, sample, stub, each mistake on its own function, public and hidden cases, the
# notebook's checks and export, build, leaks and the otter public tests:
# tests/assignments/test_invariants.py, for every assignment.)


def test_max_score(a2):
    assert a2.max_score == 54


@pytest.mark.parametrize("mistake", A2.mistakes, ids=lambda m: m.name)
def test_each_mistake_fails_its_separating_case(a2, mistake):
    """The case that exists for this mistake catches it (weaken it and this says which)."""
    failed = failed_cases(grade_source(a2, mistake.name, mistake.submission_source(a2.reference)))
    assert SEPARATING_CASE[mistake.name] in failed, (mistake.name, sorted(failed))


# The case that separates each mistake from the right answer.
SEPARATING_CASE = {
    "ce_log_of_softmax": "cross_entropy/scores_1e3",
    "ce_log_of_stable_softmax": "cross_entropy/scores_1e4",
    "ce_unstable_log_sum_exp": "cross_entropy/scores_1e3",
    "ce_sum_not_mean": "cross_entropy/lecture_three_images",
    "ce_in_place": "cross_entropy/input_unchanged",
    "bce_log_of_sigmoid": "binary_cross_entropy/confident_and_right",
    "bce_clipped_probabilities": "binary_cross_entropy/scores_1e4_single_output",
    "bce_unstable_softplus": "binary_cross_entropy/scores_1e4_single_output",
    "bce_multilabel_mean_over_classes": "binary_cross_entropy/zero_logits_multi_label",
    "bce_sum_not_mean": "binary_cross_entropy/random_single_output",
    "hinge_counts_true_class": "multiclass_hinge/lecture_three_images",
    "hinge_max_not_sum": "multiclass_hinge/lecture_badly_classified_image",
    "hinge_ignores_margin": "multiclass_hinge/margin_argument",
    "multilabel_hinge_sum_over_classes": "multilabel_hinge/random_wide",
    "multilabel_hinge_unmapped_targets": "multilabel_hinge/all_negative_targets",
    "kl_reversed": "kl_divergence/lecture_p_to_q",
    "kl_zero_log_zero_nan": "kl_divergence/one_hot_p",
    "kl_sums_over_batch": "kl_divergence/random_batch",
}


@pytest.mark.parametrize("mistake", A2.mistakes, ids=lambda m: m.name)
def test_mistake_runs_on_its_own_outside_a_submission(a2, mistake):
    """Exams and reports call a mistake's implementation directly (no reference around it)."""
    differs = False
    for case in (c for c in a2.cases if c.question == mistake.question):
        args = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in case.args]
        with np.errstate(all="ignore"):
            got = np.asarray(mistake.implementation(*args, **case.kwargs), dtype=float)
        want = a2.expected[case.case_id][0]
        differs |= got.shape != want.shape or not np.allclose(got, want, rtol=case.rtol, atol=case.atol)
    if mistake.name != "ce_in_place":  # right values, wrong side effect
        assert differs, f"{mistake.name} gives the reference's values on every case"


def test_the_issues_mistakes_are_all_there(a2):
    required = {"ce_log_of_softmax", "bce_log_of_sigmoid", "ce_sum_not_mean",
                "bce_multilabel_mean_over_classes", "hinge_counts_true_class", "hinge_max_not_sum",
                "multilabel_hinge_sum_over_classes", "kl_reversed", "kl_zero_log_zero_nan"}
    names = {m.name for m in a2.mistakes}
    assert required <= names
    assert set(SEPARATING_CASE) == names


def test_questions_follow_the_contract(a2):
    assert a2.questions == ("cross_entropy", "binary_cross_entropy", "multiclass_hinge",
                            "multilabel_hinge", "kl_divergence")


def test_stub_docstrings_name_what_each_function_returns(a2):
    """(Signatures and raise-only bodies: tests/assignments/test_invariants.py, for every assignment.)"""
    for name, node in stub_functions(a2).items():
        assert "returns:" in (ast.get_docstring(node) or ""), f"{name} stub docstring names no shapes"


def test_sample_class_scores_where_its_mistakes_are(a2):
    ben = _grade(SAMPLES / "ben.py").question_scores(a2.questions)
    dan = _grade(SAMPLES / "dan.py").question_scores(a2.questions)
    full = a2.question_points()
    assert [q for q in a2.questions if ben[q] < full[q]] == ["cross_entropy", "multiclass_hinge", "kl_divergence"]
    assert [q for q in a2.questions if dan[q] == full[q]] == ["cross_entropy"]
    assert dan["multilabel_hinge"] == 0
    assert _grade(SAMPLES / "cleo.ipynb").score == 0


# --- the lecture's worked numbers --------------------------------------------------------


def _case_value(case_id):
    return float(A2.expected[case_id][0])


def _reference_on_rows(question, case_id, rows):
    scores, labels = CASES[case_id].args
    return [getattr(A2.reference, question)(scores[i:i + 1], labels[i:i + 1]) for i in rows]


def test_lecture_cases_hold_the_lecture_scores():
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    for question in ("cross_entropy", "multiclass_hinge"):
        s, y = CASES[f"{question}/lecture_three_images"].args
        assert np.array_equal(s, scores) and y.tolist() == [0, 1, 2]
        s, y = CASES[f"{question}/lecture_model_table"].args
        assert s.tolist() == [[5, -3, 2], [5, 10, 10], [5, -20, -20]] and y.tolist() == [0, 0, 0]
    assert CASES["kl_divergence/lecture_p_to_q"].args[0].tolist() == [0.25, 0.75]
    assert CASES["kl_divergence/lecture_p_to_q"].args[1].tolist() == [0.5, 0.5]


def test_reference_reproduces_the_lectures_cross_entropy_numbers():
    per_image = _reference_on_rows("cross_entropy", "cross_entropy/lecture_three_images", range(3))
    assert [round(per_image[0], 2), round(per_image[1], 3), round(per_image[2], 3)] == [2.04, 0.079, 6.156]
    assert round(_case_value("cross_entropy/lecture_three_images"), 2) == 2.76
    assert round(_case_value("cross_entropy/lecture_badly_classified_image"), 3) == 6.156
    models = _reference_on_rows("cross_entropy", "cross_entropy/lecture_model_table", range(3))
    assert [round(models[0], 2), round(models[1], 2)] == [0.05, 5.70]
    assert 2e-11 <= models[2] < 3e-11  # printed "2 * 10^-11", one digit, truncated (exactly 2.78e-11)


def test_reference_reproduces_the_lectures_hinge_numbers():
    per_image = _reference_on_rows("multiclass_hinge", "multiclass_hinge/lecture_three_images", range(3))
    assert [round(v, 1) for v in per_image] == [2.9, 0.0, 12.9]
    assert round(_case_value("multiclass_hinge/lecture_three_images"), 1) == 5.3
    assert round(_case_value("multiclass_hinge/lecture_badly_classified_image"), 1) == 12.9
    models = _reference_on_rows("multiclass_hinge", "multiclass_hinge/lecture_model_table", range(3))
    assert [round(v, 6) for v in models] == [0.0, 12.0, 0.0]


def test_reference_shows_kl_is_not_symmetric():
    forward = _case_value("kl_divergence/lecture_p_to_q")
    backward = _case_value("kl_divergence/lecture_q_to_p")
    assert forward == pytest.approx(0.25 * np.log(0.5) + 0.75 * np.log(1.5), rel=1e-14)
    assert backward == pytest.approx(0.5 * np.log(2.0) + 0.5 * np.log(2.0 / 3.0), rel=1e-14)
    assert (round(forward, 4), round(backward, 4)) == (0.1308, 0.1438)  # the notebook's numbers


def test_notebooks_try_it_cells_print_what_they_promise():
    """The completed sample, run top to bottom (otter cells skipped), prints what the stub's
    comments tell students to expect."""
    out = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(out):
        for cell in nbformat.read(SAMPLES / "ada.ipynb", as_version=4).cells:
            if cell.cell_type == "code" and "otter" not in cell.source and "grader." not in cell.source:
                exec(cell.source, namespace)
    assert out.getvalue().split() == [
        "2.04", "0.079", "6.156", "2.76", "20000.0",
        "0.6931471805599453", "2.0794415416798357", "0.0", "10000.0",
        "2.9", "0.0", "12.9", "5.27", "[0.0,", "12.0,", "0.0]",
        "0.0", "1.0",
        "0.1308", "0.1438", "0.35667494393873245", "(2,)",
    ]


# --- properties of the reference -----------------------------------------------------------


def test_kl_with_one_hot_p_is_the_cross_entropy_of_the_softmax():
    logits, y = CASES["cross_entropy/random_batch"].args
    q = np.exp(logits - logits.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    p = np.eye(logits.shape[1])[y]
    per_sample = A2.reference.kl_divergence(p, q)
    assert per_sample.shape == (len(y),)
    assert per_sample.mean() == pytest.approx(A2.reference.cross_entropy(logits, y), rel=1e-12)


def test_multi_label_bce_is_the_sum_of_single_output_bces_per_class():
    logits, targets = CASES["binary_cross_entropy/random_multi_label_wide"].args
    per_class = [A2.reference.binary_cross_entropy(logits[:, c], targets[:, c]) for c in range(logits.shape[1])]
    assert A2.reference.binary_cross_entropy(logits, targets) == pytest.approx(sum(per_class), rel=1e-12)


def test_losses_of_extreme_scores_are_exact():
    ref = A2.reference
    assert ref.cross_entropy(np.array([[1e4, -1e4]]), np.array([1])) == 2e4
    assert ref.binary_cross_entropy(np.array([1e4, -1e4]), np.array([0.0, 1.0])) == 1e4
    assert ref.binary_cross_entropy(np.array([1e4, -1e4]), np.array([1.0, 0.0])) == 0.0
    with np.errstate(all="raise", under="ignore"):  # no overflow, log of 0 or NaN on the way
        ref.cross_entropy(np.array([[1e4, -1e4, 0.0]]), np.array([2]))
        ref.binary_cross_entropy(np.array([[1e4, -1e4]]), np.array([[0.0, 1.0]]))
        ref.kl_divergence(np.array([0.0, 1.0]), np.array([0.5, 0.5]))


def test_return_types_follow_the_contract():
    ref = A2.reference
    s, y = CASES["cross_entropy/random_batch"].args
    for value in (ref.cross_entropy(s, y), ref.multiclass_hinge(s, y),
                  ref.binary_cross_entropy(s, (s > 0).astype(float)), ref.multilabel_hinge(s, (s > 0) * 1.0),
                  ref.kl_divergence(np.array([0.5, 0.5]), np.array([0.25, 0.75]))):
        assert type(value) is float
    assert ref.kl_divergence(np.full((3, 2), 0.5), np.full((3, 2), 0.5)).shape == (3,)


# --- PyTorch as an independent check of the reference (float64) ----------------------------

# Where the conventions match:
#   cross_entropy         F.cross_entropy (mean over samples)
#   binary_cross_entropy  F.binary_cross_entropy_with_logits: reduction="mean" for (N,),
#                         reduction="sum" / N for (N, C); also C * F.multilabel_soft_margin_loss
#                         (which averages over the classes as well)
#   multiclass_hinge      C * F.multi_margin_loss (PyTorch divides each sample's sum by C)
#   kl_divergence         F.kl_div(log q, p) summed over the last axis, where q > 0 everywhere
#                         (log 0 = -inf makes PyTorch's 0 * -inf a NaN)
#   multilabel_hinge      no match, not compared: F.multilabel_margin_loss is pairwise with index targets,
#                         F.hinge_embedding_loss expects distances, F.soft_margin_loss is logistic.


def _torch_value(torch, F, case):
    t = [torch.from_numpy(np.asarray(a)) for a in case.args]
    q = case.question
    if q == "cross_entropy":
        return [F.cross_entropy(t[0].double(), t[1].long())]
    if q == "binary_cross_entropy":
        z, targets = t[0].double(), t[1].double()
        if z.ndim == 1:
            return [F.binary_cross_entropy_with_logits(z, targets, reduction="mean")]
        return [F.binary_cross_entropy_with_logits(z, targets, reduction="sum") / z.shape[0],
                z.shape[1] * F.multilabel_soft_margin_loss(z, targets)]
    if q == "multiclass_hinge":
        s = t[0].double()
        return [s.shape[1] * F.multi_margin_loss(s, t[1].long(), p=1, margin=case.kwargs.get("margin", 1.0))]
    assert q == "kl_divergence"
    return [F.kl_div(torch.log(t[1].double()), t[0].double(), reduction="none").sum(dim=-1)]


def _pytorch_convention_matches(case):
    if case.question == "multilabel_hinge":
        return False
    return case.question != "kl_divergence" or bool(np.all(case.args[1] > 0))


TORCH_CASES = [c for c in A2.cases if _pytorch_convention_matches(c)]


def test_pytorch_covers_four_losses_and_most_cases():
    assert {c.question for c in TORCH_CASES} == set(A2.questions) - {"multilabel_hinge"}
    assert len(TORCH_CASES) == len(A2.cases) - 9  # 8 multi-label hinge cases, 1 KL case with q_j = 0


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.case_id)
def test_reference_agrees_with_pytorch(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    values = _torch_value(torch, F, case)
    expected = A2.expected[case.case_id][0]
    for value in values:
        np.testing.assert_allclose(value.numpy(), expected, rtol=1e-12, atol=1e-12)
