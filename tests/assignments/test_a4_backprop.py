"""a4_backprop's own tests (the shared invariants are in tests/assignments/test_invariants.py): its
samples, the case that separates each mistake, and the hidden expected values themselves: reference, torch.autograd and finite differences agree."""

from __future__ import annotations

import ast
import importlib.util

import nbformat
import numpy as np
import pytest
from invariant_helpers import failed_cases, grade_source

from autograder.course.assignment import load_assignment
from autograder.grading.grade import GRADED, grade_for_assignment
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.publish.build import build_assignment
from autograder.sandbox import SandboxSettings

A4 = load_assignment("a4_backprop")
HIDDEN = SOLUTIONS_DIR / "a4_backprop"
SAMPLES = HIDDEN / "samples"
ORACLES = A4.oracles


def _load_spec():
    spec = importlib.util.spec_from_file_location("a4_backprop_spec_under_test", HIDDEN / "spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SPEC = _load_spec()


@pytest.fixture(scope="module")
def a4():
    return A4


def _grade(assignment, path):
    return grade_for_assignment(assignment, path, SandboxSettings())


# --- grading invariants -------------------------------------------------------------------

def test_max_score(a4):
    assert a4.max_score == 42


def test_complete_script_sample_earns_full_marks(a4):
    """(The completed notebook sample ada.ipynb: tests/assignments/test_invariants.py.)"""
    result = _grade(a4, SAMPLES / "cleo.py")
    assert (result.status, result.score) == (GRADED, a4.max_score)


def test_sample_with_two_mistakes_loses_points_on_those_two_functions_only(a4):
    result = _grade(a4, SAMPLES / "ben.ipynb")
    full, got = a4.question_points(), result.question_scores(a4.questions)
    assert got["softmax_cross_entropy_grad"] == full["softmax_cross_entropy_grad"]
    assert got["sigmoid_bce_grad"] == full["sigmoid_bce_grad"]
    assert got["multiclass_hinge_grad"] < full["multiclass_hinge_grad"]
    assert got["output_layer_backward"] < full["output_layer_backward"]


def test_stub_sample_earns_zero_with_not_implemented_feedback(a4):
    result = _grade(a4, SAMPLES / "dan.ipynb")
    assert result.status == GRADED
    assert result.score == 0
    assert all("NotImplementedError" in r.reason for r in result.case_results)


# The case that separates each mistake from the right answer: if a case is weakened,
# the mistake it exists for slips through and this table says which.
SEPARATING_CASE = {
    "grad_missing_mean": "softmax_cross_entropy_grad/lecture_three_images",
    "grad_sign_flipped": "softmax_cross_entropy_grad/autograd",
    "ce_grad_unstable_softmax": "softmax_cross_entropy_grad/logits_1e4",
    "ce_grad_via_probabilities": "softmax_cross_entropy_grad/logits_1e4",
    "bce_grad_divided_by_nc": "sigmoid_bce_grad/autograd_multi_label",
    "bce_grad_missing_mean": "sigmoid_bce_grad/finite_differences_single_output",
    "bce_grad_sign_flipped": "sigmoid_bce_grad/autograd_single_output",
    "bce_grad_naive_sigmoid": "sigmoid_bce_grad/no_overflow_warning",
    "bce_grad_via_probabilities": "sigmoid_bce_grad/logits_1e4",
    "hinge_grad_no_true_class": "multiclass_hinge_grad/lecture_one_sample",
    "hinge_grad_true_class_minus_one": "multiclass_hinge_grad/lecture_three_images",
    "hinge_grad_ties_count": "multiclass_hinge_grad/exact_ties",
    "hinge_grad_ignores_margin": "multiclass_hinge_grad/margin_half",
    "hinge_grad_missing_mean": "multiclass_hinge_grad/finite_differences",
    "db_averaged": "output_layer_backward/autograd",
    "dW_transposed": "output_layer_backward/square_weights",
    "da_prev_W_transposed": "output_layer_backward/all_square",
    "layer_missing_mean": "output_layer_backward/finite_differences",
    "layer_unstable_softmax": "output_layer_backward/large_logits",
}

LISTED_IN_THE_ISSUE = {"grad_missing_mean", "grad_sign_flipped", "bce_grad_divided_by_nc",
                       "hinge_grad_no_true_class", "db_averaged", "dW_transposed"}


def test_every_mistake_has_a_separating_case(a4):
    assert set(SEPARATING_CASE) == {m.name for m in a4.mistakes}
    assert LISTED_IN_THE_ISSUE <= set(SEPARATING_CASE)


@pytest.mark.parametrize("mistake", A4.mistakes, ids=lambda m: m.name)
def test_each_mistake_fails_its_separating_case(a4, mistake):
    """(Points lost on its own function only: tests/assignments/test_invariants.py.)"""
    failed = failed_cases(grade_source(a4, mistake.name, mistake.submission_source(a4.reference)))
    assert SEPARATING_CASE[mistake.name] in failed, (mistake.name, sorted(failed))


def test_transposed_dW_is_caught_by_shape_when_h_differs_from_c_and_by_value_when_square(a4, write_py):
    mistake = next(m for m in a4.mistakes if m.name == "dW_transposed")
    result = _grade(a4, write_py(mistake.name, mistake.submission_source(a4.reference)))
    reasons = {r.case.name: r.reason for r in result.case_results if r.case.question == mistake.question}
    assert "output 1: returned shape (7, 3); expected shape (3, 7)" in reasons["autograd"]
    assert reasons["square_weights"].startswith("output 1: values differ")


def test_every_question_is_checked_against_autograd_and_finite_differences(a4):
    for question in a4.questions:
        oracles = {c.oracle for c in a4.cases if c.question == question}
        assert f"autograd_{question}" in oracles, question
        assert f"finite_differences_{question}" in oracles, question


def test_transpose_revealing_shapes_are_covered(a4):
    layer = [c for c in a4.cases if c.question == "output_layer_backward"]
    shapes = [(c.args[0].shape[0], c.args[0].shape[1], c.args[1].shape[0]) for c in layer]  # (N, H, C)
    assert (5, 7, 3) in shapes
    assert any(h == c != n for n, h, c in shapes), "a case with H == C only (dW transposed has the right shape)"
    assert any(n == h == c for n, h, c in shapes), "a case with N == H == C"


def test_notebook_has_a_gradient_check(a4):
    """(One grader.check cell per question and the export at the end: tests/assignments/test_invariants.py.)"""
    sources = [c.source for c in nbformat.read(a4.student_notebook, as_version=4).cells if c.cell_type == "code"]
    assert any("def numerical_gradient(" in s for s in sources)
    assert any("report(" in s and "numerical_gradient(" in s for s in sources)


# --- build --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_assignment(A4, tmp_path_factory.mktemp("build"))


def test_built_autograder_folder_grades_like_the_kit(built):
    from_build = load_assignment(built.autograder_dir)
    assert from_build.oracles is not None
    result = _grade(from_build, SAMPLES / "cleo.py")
    assert (result.status, result.score) == (GRADED, A4.max_score)


# --- the expected values: reference == autograd == finite differences ----------------------

# Reference and autograd compute the same float64 formula along different paths: they agree
# to rounding (measured ~1e-16). Finite differences carry ~1e-9 of rounding error (see spec).
AUTOGRAD_RTOL, AUTOGRAD_ATOL = 1e-10, 1e-13


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def _random_calls(seed):
    """(question, args, kwargs) on moderate random inputs, shapes where transposes show."""
    rng = np.random.default_rng(seed)
    n, h, c = 5, 7, 3
    z = rng.normal(0.0, 3.0, size=(n, c))
    y = rng.integers(0, c, size=n)
    return [
        ("softmax_cross_entropy_grad", (z, y), {}),
        ("softmax_cross_entropy_grad", (rng.normal(0.0, 3.0, size=(2, 7)), np.array([6, 1])), {}),
        ("sigmoid_bce_grad", (z, rng.integers(0, 2, size=(n, c)).astype(float)), {}),
        ("sigmoid_bce_grad", (z[:, 0].copy(), rng.integers(0, 2, size=n).astype(float)), {}),
        ("multiclass_hinge_grad", (z, y), {}),
        ("multiclass_hinge_grad", (rng.normal(0.0, 1.0, size=(6, 4)), rng.integers(0, 4, size=6)), {"margin": 0.5}),
        ("output_layer_backward", (rng.normal(size=(n, h)), rng.normal(size=(c, h)) / np.sqrt(h),
                                   rng.normal(size=c), y), {}),
        ("output_layer_backward", (rng.normal(size=(4, 3)), rng.normal(size=(3, 3)), rng.normal(size=3),
                                   np.array([0, 1, 2, 2])), {}),
    ]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_reference_equals_autograd_equals_finite_differences(seed):
    for question, args, kwargs in _random_calls(seed):
        reference = _as_tuple(getattr(A4.reference, question)(*args, **kwargs))
        autograd = _as_tuple(getattr(ORACLES, f"autograd_{question}")(*args, **kwargs))
        numeric = _as_tuple(getattr(ORACLES, f"finite_differences_{question}")(*args, **kwargs))
        assert len(reference) == len(autograd) == len(numeric)
        for ref, auto, num in zip(reference, autograd, numeric, strict=True):
            assert ref.shape == auto.shape == num.shape, question
            np.testing.assert_allclose(auto, ref, rtol=AUTOGRAD_RTOL, atol=AUTOGRAD_ATOL, err_msg=question)
            np.testing.assert_allclose(num, ref, rtol=SPEC.FD_RTOL, atol=SPEC.FD_ATOL, err_msg=question)


def test_finite_difference_tolerance_leaves_a_wide_margin_on_the_graded_cases(a4):
    """The FD cases' tolerance is justified by measurement: the FD oracle's error against
    autograd is at most a tenth of FD_ATOL on every case that uses it."""
    fd_cases = [c for c in a4.cases if c.oracle and c.oracle.startswith("finite_differences_")]
    assert len(fd_cases) >= len(a4.questions)
    for case in fd_cases:
        assert (case.rtol, case.atol) == (SPEC.FD_RTOL, SPEC.FD_ATOL)
        autograd = _as_tuple(getattr(ORACLES, f"autograd_{case.question}")(*case.args, **case.kwargs))
        for num, auto in zip(a4.expected[case.case_id], autograd, strict=True):
            assert float(np.max(np.abs(num - auto))) < SPEC.FD_ATOL / 10, case.case_id


def test_autograd_oracle_is_finite_and_exact_for_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])
    y = np.array([1, 0])
    np.testing.assert_array_equal(ORACLES.autograd_softmax_cross_entropy_grad(z, y),
                                  np.array([[1.0, -1.0, 0.0], [-1.0, 0.5, 0.5]]) / 2)
    t = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(ORACLES.autograd_sigmoid_bce_grad(z, t),
                                  np.array([[1.0, -1.0, -0.5], [-1.0, 0.0, 1.0]]) / 2)


def test_hinge_oracle_gives_zero_at_exact_ties_and_finite_differences_refuse_kinks():
    tie = np.array([[2.0, 1.0, 0.5, 1.5]])  # 1.0 - 2.0 + 1 == 0 exactly: not a violation
    expected = np.array([[-1.0, 0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(ORACLES.autograd_multiclass_hinge_grad(tie, np.array([0])), expected)
    np.testing.assert_array_equal(A4.reference.multiclass_hinge_grad(tie, np.array([0])), expected)
    with pytest.raises(ValueError, match="kink"):
        ORACLES.finite_differences_multiclass_hinge_grad(tie, np.array([0]))


def test_lecture_worked_numbers():
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    y = np.array([0, 1, 2])
    np.testing.assert_array_equal(A4.reference.multiclass_hinge_grad(scores, y) * 3,
                                  [[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, -2.0]])
    # The true-class entry is (p_y - 1) / N, and p_y = exp(-loss): losses 2.04, 0.079, 6.156.
    true_entries = A4.reference.softmax_cross_entropy_grad(scores, y)[np.arange(3), y] * 3
    np.testing.assert_allclose(true_entries, np.exp(-np.array([2.04, 0.079, 6.156])) - 1, atol=2e-3)


# Mistakes that are wrong on ordinary inputs (not only on huge logits, ties or other
# margins): each oracle on its own must reject them, so the oracles are not tautologies.
VALUE_MISTAKES = {"grad_missing_mean", "grad_sign_flipped", "bce_grad_divided_by_nc",
                  "bce_grad_missing_mean", "bce_grad_sign_flipped", "hinge_grad_no_true_class",
                  "hinge_grad_true_class_minus_one", "hinge_grad_missing_mean", "db_averaged",
                  "dW_transposed", "da_prev_W_transposed", "layer_missing_mean"}


@pytest.mark.parametrize("mistake", [m for m in A4.mistakes if m.name in VALUE_MISTAKES], ids=lambda m: m.name)
@pytest.mark.parametrize("kind", ["autograd", "finite_differences"])
def test_each_oracle_rejects_the_value_mistakes(mistake, kind):
    calls = [(args, kwargs) for question, args, kwargs in _random_calls(7) if question == mistake.question]
    def rejects(args, kwargs):
        right = _as_tuple(getattr(ORACLES, f"{kind}_{mistake.question}")(*args, **kwargs))
        try:
            wrong = _as_tuple(mistake.implementation(*args, **kwargs))
        except ValueError:  # e.g. dZ @ W.T when H != C: no answer at all
            return True
        return any(w.shape != r.shape or not np.allclose(w, r, rtol=SPEC.FD_RTOL, atol=SPEC.FD_ATOL)
                   for w, r in zip(wrong, right, strict=True))

    # Some calls cannot tell (N*C == N for one output per sample); one call must.
    assert any(rejects(args, kwargs) for args, kwargs in calls), f"{kind} oracle accepts {mistake.name}"


def test_oracles_are_standalone():
    tree = ast.parse((HIDDEN / "oracles.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"numpy", "torch"}
