"""a4_backprop: questions, points and every test case (public and hidden). HIDDEN.

Expected values come from ``reference.py``, except for cases with ``oracle=``: those take
them from ``oracles.py`` in the grader's process, either torch.autograd on the loss's own
formula (``autograd_<question>``) or central finite differences of the NumPy loss
(``finite_differences_<question>``), so the hidden tests do not rest on the reference's
hand-derived gradient alone.

Shapes are chosen so that transposes show: N != C != H (N=5, H=7, C=3) gives a wrong
shape, and square cases (H == C, N == H == C) catch a transposed dW or W only by value.

``variant_cases`` (the coding exam) builds a question's random cases with a student's seed
and a drawn shape, through the same builder as the fixed case.
"""

import numpy as np

from autograder.course.cases import Case
from autograder.course.inputs import extreme_scores, rng_for, variant_shape
from autograder.course.inputs import scores as random_scores
from autograder.course.tolerances import FINITE_DIFFERENCE_ATOL, FINITE_DIFFERENCE_RTOL
from autograder.sandbox import Limits

NAME = "a4_backprop"
TITLE = "a4_backprop: gradients at the output layer"
QUESTIONS = (
    "softmax_cross_entropy_grad",
    "sigmoid_bce_grad",
    "multiclass_hinge_grad",
    "output_layer_backward",
)

# NumPy-only and tiny inputs: a correct submission needs well under a second; these
# bounds only ever bind on endless loops and runaway allocations.
LIMITS = Limits(cpu_seconds=15, wall_seconds=30, load_seconds=5, call_seconds=2)

# Tolerance against the finite-differences oracle (derivation in autograder/course/tolerances.py;
# measured: at most 1.2e-9 absolute on these cases, against float64 torch.autograd).
FD_RTOL = FINITE_DIFFERENCE_RTOL
FD_ATOL = FINITE_DIFFERENCE_ATOL
FD = {"rtol": FD_RTOL, "atol": FD_ATOL}


def _rng(name):
    return rng_for(NAME, name)


def _a(values, dtype=np.float64):
    return np.array(values, dtype=dtype)


def _labels(rng, n, c):
    """(N,) int labels in [0, C) that use every class when N >= C (so no column is all-zero)."""
    y = np.arange(n) % c
    return rng.permutation(y).astype(np.int64)


def _targets(rng, shape):
    """0/1 targets as floats, with both values present."""
    t = rng.integers(0, 2, size=shape).astype(np.float64)
    t.flat[0], t.flat[-1] = 0.0, 1.0
    return t


# The lecture's three images (cat, chair, car scores per image, one row each) with true
# classes cat, chair, car: cross-entropy losses 2.04, 0.079, 6.156 (mean 2.76), hinge
# losses 2.9, 0, 12.9 (mean 5.27).
LECTURE_SCORES = _a([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
LECTURE_LABELS = _a([0, 1, 2], dtype=np.int64)


def _ce_grad_random_batch(rng, shape, y_rng=None):
    """``y_rng`` draws the labels (its own fixed seed in the assignment's case)."""
    return Case("softmax_cross_entropy_grad", "random_batch", f"matches the reference on a random {shape} batch",
                (random_scores(rng, shape), _labels(y_rng or rng, *shape)))


def softmax_cross_entropy_grad_cases():
    q = "softmax_cross_entropy_grad"
    return [
        Case(q, "lecture_three_images", "gives (softmax - onehot) / 3 for the lecture's three images",
             (LECTURE_SCORES, LECTURE_LABELS), public=True),
        Case(q, "lecture_one_sample", "gives softmax - onehot for one sample with scores (3, 1, -1, -1), class 0",
             (_a([[3.0, 1.0, -1.0, -1.0]]), _a([0], dtype=np.int64)), public=True),
        _ce_grad_random_batch(_rng("ce/random"), (5, 3), _rng("ce/random/y")),
        Case(q, "autograd", "matches torch.autograd of the mean cross-entropy on a random (6, 4) batch",
             (random_scores(_rng("ce/autograd"), (6, 4)), _labels(_rng("ce/autograd/y"), 6, 4)),
             oracle="autograd_softmax_cross_entropy_grad"),
        Case(q, "finite_differences", "matches a central finite-difference gradient check on a (5, 3) batch",
             (random_scores(_rng("ce/fd"), (5, 3)), _labels(_rng("ce/fd/y"), 5, 3)),
             oracle="finite_differences_softmax_cross_entropy_grad", **FD),
        Case(q, "more_classes_than_samples", "works on a (2, 7) batch (more classes than samples)",
             (random_scores(_rng("ce/wide"), (2, 7)), _a([6, 0], dtype=np.int64)),
             oracle="autograd_softmax_cross_entropy_grad"),
        Case(q, "logits_1e4", "is finite and correct for logits around +-1e4",
             (extreme_scores(_rng("ce/1e4"), (5, 3), 1e4), _labels(_rng("ce/1e4/y"), 5, 3)),
             oracle="autograd_softmax_cross_entropy_grad"),
        Case(q, "no_overflow_warning", "raises no overflow warning for logits like +-1000",
             (_a([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]]), _a([2, 0], dtype=np.int64)),
             no_warnings=True),
        Case(q, "integer_logits", "returns float gradients for integer logits",
             (_a([[1, 2, 3], [0, 0, 0], [5, -5, 0]], dtype=np.int64), _a([2, 1, 1], dtype=np.int64))),
        Case(q, "inputs_unchanged", "does not modify its input arrays",
             (random_scores(_rng("ce/unchanged"), (4, 3)), _labels(_rng("ce/unchanged/y"), 4, 3)),
             inputs_unchanged=True),
    ]


def sigmoid_bce_grad_cases():
    q = "sigmoid_bce_grad"
    return [
        Case(q, "single_output", "gives (sigmoid(z) - t) / N for one output per sample, shape (4,)",
             (_a([-2.0, 0.0, 1.0, 3.0]), _a([0.0, 1.0, 1.0, 0.0])), public=True),
        Case(q, "multi_label", "gives (sigmoid(z) - t) / N for a (2, 3) multi-label batch (no 1/C)",
             (_a([[2.0, -1.0, 0.0], [0.5, 3.0, -4.0]]), _a([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])), public=True),
        Case(q, "autograd_single_output", "matches torch.autograd of the mean BCE for a random (8,) output",
             (random_scores(_rng("bce/1d"), (8,)), _targets(_rng("bce/1d/t"), (8,))),
             oracle="autograd_sigmoid_bce_grad"),
        Case(q, "autograd_multi_label", "matches torch.autograd of the BCE summed over classes, mean over samples, (5, 3)",
             (random_scores(_rng("bce/2d"), (5, 3)), _targets(_rng("bce/2d/t"), (5, 3))),
             oracle="autograd_sigmoid_bce_grad"),
        Case(q, "finite_differences_multi_label", "matches a central finite-difference gradient check on a (4, 6) multi-label batch",
             (random_scores(_rng("bce/fd2d"), (4, 6)), _targets(_rng("bce/fd2d/t"), (4, 6))),
             oracle="finite_differences_sigmoid_bce_grad", **FD),
        Case(q, "finite_differences_single_output", "matches a central finite-difference gradient check for a (6,) output",
             (random_scores(_rng("bce/fd1d"), (6,)), _targets(_rng("bce/fd1d/t"), (6,))),
             oracle="finite_differences_sigmoid_bce_grad", **FD),
        Case(q, "random_batch", "matches the reference on a random (7, 2) multi-label batch",
             (random_scores(_rng("bce/random"), (7, 2)), _targets(_rng("bce/random/t"), (7, 2)))),
        Case(q, "logits_1e4", "is finite and correct for logits around +-1e4 (saturated sigmoid)",
             (extreme_scores(_rng("bce/1e4"), (4, 3), 1e4), _targets(_rng("bce/1e4/t"), (4, 3))),
             oracle="autograd_sigmoid_bce_grad"),
        Case(q, "no_overflow_warning", "raises no overflow warning for logits like +-1000",
             (_a([[-1000.0, 1000.0], [-800.0, 0.0]]), _a([[0.0, 1.0], [1.0, 0.0]])), no_warnings=True),
        Case(q, "integer_inputs", "returns float gradients for integer logits and targets",
             (_a([[1, -2], [0, 3], [-1, 0]], dtype=np.int64), _a([[1, 0], [0, 1], [1, 1]], dtype=np.int64))),
        Case(q, "inputs_unchanged", "does not modify its input arrays",
             (random_scores(_rng("bce/unchanged"), (3, 4)), _targets(_rng("bce/unchanged/t"), (3, 4))),
             inputs_unchanged=True),
    ]


def multiclass_hinge_grad_cases():
    q = "multiclass_hinge_grad"
    # Exact binary fractions, so s_k - s_y + margin is exactly 0 for the tied terms.
    ties = _a([[2.0, 1.0, 0.5, 1.5], [0.25, 0.25, -0.75, 3.0]])
    return [
        Case(q, "lecture_three_images", "gives the subgradient for the lecture's three images (losses 2.9, 0, 12.9)",
             (LECTURE_SCORES, LECTURE_LABELS), public=True),
        Case(q, "lecture_one_sample", "puts +1 on the violating class and minus the count on the true class, one sample",
             (LECTURE_SCORES[:1], LECTURE_LABELS[:1]), public=True),
        Case(q, "random_batch", "matches the reference on a random (5, 4) batch",
             (random_scores(_rng("hinge/random"), (5, 4)), _labels(_rng("hinge/random/y"), 5, 4))),
        Case(q, "autograd", "matches torch.autograd of the mean hinge loss on a random (6, 5) batch",
             (random_scores(_rng("hinge/autograd"), (6, 5)), _labels(_rng("hinge/autograd/y"), 6, 5)),
             oracle="autograd_multiclass_hinge_grad"),
        Case(q, "finite_differences", "matches a central finite-difference gradient check on a (5, 3) batch",
             (random_scores(_rng("hinge/fd"), (5, 3)), _labels(_rng("hinge/fd/y"), 5, 3)),
             oracle="finite_differences_multiclass_hinge_grad", **FD),
        Case(q, "exact_ties", "gives 0 for a term exactly at its kink (s_k - s_y + margin == 0)",
             (ties, _a([0, 1], dtype=np.int64)), oracle="autograd_multiclass_hinge_grad"),
        Case(q, "margin_half", "uses the margin argument (margin=0.5)",
             (random_scores(_rng("hinge/margin05"), (6, 4), scale=0.7), _labels(_rng("hinge/margin05/y"), 6, 4)),
             {"margin": 0.5}, oracle="autograd_multiclass_hinge_grad"),
        Case(q, "margin_two", "uses the margin argument (margin=2.0)",
             (random_scores(_rng("hinge/margin2"), (6, 4), scale=1.0), _labels(_rng("hinge/margin2/y"), 6, 4)),
             {"margin": 2.0}, oracle="autograd_multiclass_hinge_grad"),
        Case(q, "all_margins_met", "is all zeros when every true score beats the others by more than the margin",
             (_a([[5.0, 1.0, 0.0], [-3.0, 2.0, -1.5]]), _a([0, 1], dtype=np.int64))),
        Case(q, "integer_scores", "returns float gradients for integer scores",
             (_a([[3, 5, -2], [1, 4, 2], [2, 2, -3]], dtype=np.int64), LECTURE_LABELS)),
        Case(q, "inputs_unchanged", "does not modify its input arrays",
             (random_scores(_rng("hinge/unchanged"), (4, 3)), _labels(_rng("hinge/unchanged/y"), 4, 3)),
             inputs_unchanged=True),
    ]


def _layer(name, n, h, c, scale=1.0):
    """(a_prev (N, H), W (C, H), b (C,), y (N,)) drawn from the case's own generator."""
    rng = _rng(f"layer/{name}")
    a_prev = rng.normal(0.0, 1.0, size=(n, h))
    W = rng.normal(0.0, scale / np.sqrt(h), size=(c, h))
    b = rng.normal(0.0, 0.5 * scale, size=(c,))
    return a_prev, W, b, _labels(rng, n, c)


def output_layer_backward_cases():
    q = "output_layer_backward"
    small = (
        _a([[1.0, 0.0, -1.0, 2.0], [0.5, 1.0, 0.0, -0.5], [-1.0, 2.0, 1.0, 0.0]]),  # a_prev (3, 4)
        _a([[0.5, -0.25, 0.0, 0.25], [-0.5, 0.5, 1.0, 0.0]]),                       # W (2, 4)
        _a([0.1, -0.1]),                                                             # b (2,)
        _a([0, 1, 1], dtype=np.int64),
    )
    return [
        Case(q, "small_layer", "returns (dW, db, da_prev) of shapes (2, 4), (2,), (3, 4) for N=3, H=4, C=2",
             small, public=True),
        Case(q, "random_layer", "matches the reference for N=5, H=7, C=3",
             _layer("random", 5, 7, 3)),
        Case(q, "autograd", "matches torch.autograd for N=5, H=7, C=3 (dW, db, da_prev)",
             _layer("autograd", 5, 7, 3), oracle="autograd_output_layer_backward"),
        Case(q, "finite_differences", "matches a central finite-difference gradient check for N=4, H=6, C=3",
             _layer("fd", 4, 6, 3), oracle="finite_differences_output_layer_backward", **FD),
        Case(q, "square_weights", "is right by value, not only by shape, when H == C (a transposed dW has the same shape)",
             _layer("square_w", 5, 4, 4), oracle="autograd_output_layer_backward"),
        Case(q, "all_square", "is right by value when N == H == C (every transpose has the right shape)",
             _layer("all_square", 3, 3, 3), oracle="autograd_output_layer_backward"),
        Case(q, "single_sample", "works for a single sample (N=1)",
             _layer("single", 1, 5, 3), oracle="autograd_output_layer_backward"),
        Case(q, "large_logits", "is finite and correct when the logits z are in the thousands",
             _layer("large", 4, 6, 3, scale=2000.0), oracle="autograd_output_layer_backward"),
        Case(q, "no_overflow_warning", "raises no overflow warning when the logits z are in the thousands",
             _layer("large_warn", 3, 5, 4, scale=2000.0), no_warnings=True),
        Case(q, "inputs_unchanged", "does not modify its input arrays",
             _layer("unchanged", 4, 5, 3), inputs_unchanged=True),
    ]


def make_cases():
    return (softmax_cross_entropy_grad_cases() + sigmoid_bce_grad_cases()
            + multiclass_hinge_grad_cases() + output_layer_backward_cases())


# --- per-student variants (the coding exam) ----------------------------------------------

VARIANTS = {
    "softmax_cross_entropy_grad": lambda rng: [_ce_grad_random_batch(rng, variant_shape(rng))],
}


def variant_cases(question, rng):
    """``question``'s cases for one variant: its random cases, with shapes and inputs drawn
    from ``rng`` (a student's seeded generator) instead of each case's fixed seed."""
    return VARIANTS[question](rng)
