"""a6_mlp's own tests (the shared invariants, the otter public tests among them, are in
tests/assignments/test_invariants.py; the generated notebooks' freshness in tests/assignments/test_generated_files.py):
the case that separates each mistake, the notes' worked numbers, reference == torch.autograd ==
finite differences for the backward pass, a training run that clears the bar on held-out
digits, and a stub notebook without torch."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
import torch
from invariant_helpers import failed_cases, grade_source

from autograder.course.assignment import load_assignment
from autograder.grading.grade import grade_for_assignment
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.sandbox import SandboxSettings

A6 = load_assignment("a6_mlp")
REF = A6.reference
SAMPLES = SOLUTIONS_DIR / "a6_mlp" / "samples"
CASES = {c.case_id: c for c in A6.cases}

SEPARATING_CASE = {
    "activation_naive_sigmoid": "activation/sigmoid_huge",
    "activation_elu_without_minus_one": "activation/elu_alpha",
    "relu_grad_one_at_zero": "activation_grad/relu_at_zero",
    "tanh_grad_without_square": "activation_grad/tanh_kinks",
    "sigmoid_grad_unstable": "activation_grad/sigmoid_huge",
    "forward_activation_on_logits": "mlp_forward/three_layers",
    "forward_without_bias": "mlp_forward/by_hand",
    "backward_without_activation_grad": "mlp_backward/autograd_relu",
    "backward_grad_at_activation": "mlp_backward/autograd_tanh",
    "backward_W_transposed": "mlp_backward/square",
    "dropout_notes_mask": "dropout_forward/train_low_rate",
    "dropout_scaled_at_test_time": "dropout_forward/eval_random",
    "batchnorm_batch_stats_in_eval": "batchnorm_forward/eval_random",
    "batchnorm_updates_running_in_eval": "batchnorm_forward/eval_public",
    "mse_summed": "mse_loss/lecture_example",
    "l1_summed": "l1_loss/lecture_example",
    "l2_penalty_on_biases": "l2_penalty/lecture_spread_weights",
    "early_stopping_keeps_last": "train_mlp/early_stopping",
}


def test_every_mistake_the_issue_names_is_there_with_a_separating_case():
    assert set(SEPARATING_CASE) == {m.name for m in A6.mistakes}
    assert len(A6.questions) == 10 and A6.max_score == 72


@pytest.mark.parametrize("mistake", A6.mistakes, ids=lambda m: m.name)
def test_each_mistake_fails_its_separating_case(mistake):
    """(Points lost on its own function only: tests/assignments/test_invariants.py.)"""
    failed = failed_cases(grade_source(A6, mistake.name, mistake.submission_source(REF)))
    assert SEPARATING_CASE[mistake.name] in failed, (mistake.name, sorted(failed))


def test_sample_class_loses_points_where_its_mistakes_are():
    full = A6.question_points()
    ben = grade_for_assignment(A6, SAMPLES / "ben.py", SandboxSettings()).question_scores(A6.questions)
    assert [q for q in A6.questions if ben[q] < full[q]] == ["activation_grad", "dropout_forward"]
    assert grade_for_assignment(A6, SAMPLES / "cleo.ipynb", SandboxSettings()).score == 0


def test_the_notes_worked_numbers():
    pred, target = CASES["mse_loss/lecture_example"].args
    assert REF.mse_loss(pred, target) * len(pred) == pytest.approx(33.0)
    assert REF.l1_loss(pred, target) * len(pred) == pytest.approx(11.0)
    assert A6.expected["l2_penalty/lecture_spread_weights"][0] == pytest.approx(0.25)
    assert A6.expected["l2_penalty/lecture_one_weight"][0] == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["relu", "leaky_relu", "elu", "tanh", "sigmoid"])
def test_activation_and_derivative_agree_with_torch_including_the_kinks(kind):
    z = np.array([-1000.0, -3.0, -0.5, 0.0, 0.5, 3.0, 1000.0])
    t = torch.tensor(z, requires_grad=True)
    f = {"relu": torch.relu, "leaky_relu": lambda v: torch.nn.functional.leaky_relu(v, 0.01),
         "elu": lambda v: torch.nn.functional.elu(v, 0.01), "tanh": torch.tanh, "sigmoid": torch.sigmoid}[kind]
    f(t).sum().backward()
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is exact enough
        assert np.allclose(REF.activation(z, kind), f(t).detach().numpy(), rtol=1e-12, atol=0)
        assert np.allclose(REF.activation_grad(z, kind), t.grad.numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("case_id", [c.case_id for c in A6.cases if c.question == "mlp_backward"])
def test_reference_equals_autograd_equals_finite_differences(case_id):
    args = CASES[case_id].args
    ref = A6.probes.backward_grads(vars(REF), *args)
    auto = A6.oracles.autograd_mlp_backward(*args)
    fd = A6.oracles.finite_differences_mlp_backward(*args)
    for r, a, f in zip(ref, auto, fd, strict=True):
        assert np.allclose(r, a, rtol=1e-10, atol=1e-13)
        assert np.allclose(r, f, rtol=1e-6, atol=1e-8)


def test_dropout_keeps_the_share_one_minus_p_and_keeps_the_expectation():
    x = np.ones((200, 50))
    out = REF.dropout_forward(x, 0.2, np.random.default_rng(0), True)
    assert set(np.unique(out)) == {0.0, 1.25}
    assert abs((out > 0).mean() - 0.8) < 0.02 and abs(out.mean() - 1.0) < 0.03


def test_training_clears_the_bar_and_early_stopping_really_stops():
    checks = A6.checks
    for case_id in ("train_mlp/digits", "train_mlp/digits_other_seed"):
        got = A6.expected[case_id]
        assert checks.test_accuracy(checks._layers(got)) >= checks.MIN_TEST_ACCURACY + 0.05
    stop = CASES["train_mlp/early_stopping"]
    losses = A6.expected[stop.case_id][4]
    assert len(losses) < stop.args[1], "the early-stopping case must stop before its last epoch"
    assert losses[-1] > losses.min(), "the last epoch must not be the best, or keeping the last passes"


def test_checks_answer_forged_outputs_without_raising():
    case = CASES["train_mlp/digits"]
    for got in [(), (np.zeros(3),) * 6, tuple(np.full_like(e, np.nan) for e in A6.expected[case.case_id])]:
        assert A6.checks.trains_to_accuracy(case, got, A6.expected[case.case_id])
        assert A6.checks.returns_best_epoch(case, got, A6.expected[case.case_id])


def test_stub_notebook_does_not_import_torch():
    """(The notebooks are what the generator writes: tests/assignments/test_generated_files.py; one
    grader.check per question and the export at the end: tests/assignments/test_invariants.py.)"""
    sources = [c.source for c in nbformat.read(A6.student_notebook, as_version=4).cells if c.cell_type == "code"]
    assert "import torch" not in "\n".join(sources)
