"""a2_losses: questions, points and every test case (public and hidden). HIDDEN.

One source of truth: public cases (``public=True``) are exported into the student folder
with their expected values; the others never leave the grader. Expected values always
come from ``reference.py``; nothing here hard-codes an answer. The lecture notes' worked
examples are here as inputs (``LECTURE_*``); tests/assignments/test_a2_losses.py checks that the
reference reproduces the numbers the notes print for them, and checks the reference on
every case against PyTorch's own losses where the conventions match.

A random case is built by one function of (generator(s), shape): the fixed cases call it
with the case's own seeds and shape, ``variant_cases`` (the coding exam) with a student's
seed and a drawn shape, so both grade the same property with the same tolerance.
"""

import numpy as np

from autograder.course.cases import Case
from autograder.course.inputs import extreme_scores, probabilities, rng_for, variant_shape
from autograder.course.inputs import scores as random_scores
from autograder.sandbox import Limits

NAME = "a2_losses"
TITLE = "a2_losses: classification losses"
QUESTIONS = ("cross_entropy", "binary_cross_entropy", "multiclass_hinge", "multilabel_hinge", "kl_divergence")

# NumPy-only, like a1: a correct submission needs well under a second; these bounds only
# ever bind on endless loops and runaway allocations.
LIMITS = Limits(cpu_seconds=15, wall_seconds=30, load_seconds=5, call_seconds=2)


def _rng(name):
    return rng_for(NAME, name)


def _a(values, dtype=np.float64):
    return np.array(values, dtype=dtype)


# The notes' three images (rows) scored for the classes (cat, chair, car); the true classes
# are cat, chair and car. Printed: cross-entropy 2.04, 0.079, 6.156 (mean 2.76); hinge 2.9,
# 0, 12.9 (mean 5.3).
LECTURE_SCORES = _a([[3.2, 5.1, -1.7],
                     [1.3, 4.9, 2.0],
                     [2.2, 2.5, -3.1]])
LECTURE_LABELS = _a([0, 1, 2], dtype=np.int64)

# The notes' hinge-vs-cross-entropy table: three models score one image whose true class
# is 0. Printed: hinge 0, 12, 0; cross-entropy 0.05, 5.70, 2e-11.
LECTURE_MODELS = _a([[5.0, -3.0, 2.0],
                     [5.0, 10.0, 10.0],
                     [5.0, -20.0, -20.0]])
LECTURE_MODEL_LABELS = _a([0, 0, 0], dtype=np.int64)

# The notes' asymmetry example: KL(p || q) != KL(q || p).
LECTURE_P = _a([0.25, 0.75])
LECTURE_Q = _a([0.5, 0.5])


def _labels(rng, n, c):
    return rng.integers(0, c, size=n).astype(np.int64)


def _targets(rng, shape):
    return rng.integers(0, 2, size=shape).astype(np.float64)


def _agreeing_targets(logits):
    """Targets every logit already predicts correctly (t = 1 where z > 0)."""
    return (logits > 0).astype(np.float64)


def _with_zeros(rng, shape):
    """Probability rows with some entries exactly 0 (renormalised)."""
    p = probabilities(rng, shape)
    p[rng.uniform(size=shape) < 0.4] = 0.0
    p[..., 0] += 0.1  # keep every row non-empty
    return p / p.sum(axis=-1, keepdims=True)


# --- random cases: one builder each, (generator, shape) -> Case ------------------------
# ``y_rng`` draws the labels or targets (its own fixed seed in the assignment's cases);
# by default the same generator as the scores.

def _ce_random_batch(rng, shape, y_rng=None):
    return Case("cross_entropy", "random_batch", f"matches the correct mean loss on a random {shape} batch",
                (random_scores(rng, shape), _labels(y_rng or rng, *shape)))


def _ce_scores_1e4(rng, shape, y_rng=None):
    return Case("cross_entropy", "scores_1e4", "is finite and correct for scores around +-1e4, also when the "
                "true class has a tiny probability (never take the log of a probability)",
                (extreme_scores(rng, shape, 1e4), _labels(y_rng or rng, *shape)))


def _bce_random_single_output(rng, n, y_rng=None):
    return Case("binary_cross_entropy", "random_single_output", "matches the correct loss on random (N,) logits",
                (random_scores(rng, (n,)), _targets(y_rng or rng, (n,))))


def _bce_random_multi_label(name, rng, shape, y_rng=None):
    return Case("binary_cross_entropy", name, f"matches the correct loss on random {shape} multi-label logits",
                (random_scores(rng, shape), _targets(y_rng or rng, shape)))


def _hinge_random_batch(rng, shape, y_rng=None):
    return Case("multiclass_hinge", "random_batch", f"matches the correct loss on a random {shape} batch",
                (random_scores(rng, shape), _labels(y_rng or rng, *shape)))


def _mlh_random(name, rng, shape, y_rng=None):
    return Case("multilabel_hinge", name, f"matches the correct loss on random {shape} scores",
                (random_scores(rng, shape, scale=1.5), _targets(y_rng or rng, shape)))


def _kl_random_batch(rng, shape, q_rng=None):
    return Case("kl_divergence", "random_batch",
                "matches the correct values for random (N, C) distributions, shape (N,)",
                (probabilities(rng, shape), probabilities(q_rng or rng, shape)))


# --- the assignment's cases --------------------------------------------------------------

def cross_entropy_cases():
    q = "cross_entropy"
    return [
        Case(q, "equal_scores", "gives log(C) when all C scores are equal (here log 4 for every sample)",
             (np.zeros((2, 4)), _a([0, 3], dtype=np.int64)), public=True),
        Case(q, "small_batch", "averages -log softmax(logits)[y] over a small batch of 2 samples",
             (_a([[2.0, 1.0, 0.0], [0.5, 0.5, 3.0]]), _a([0, 1], dtype=np.int64)), public=True),
        Case(q, "lecture_three_images", "reproduces the lecture's three-image example (mean of the three losses)",
             (LECTURE_SCORES, LECTURE_LABELS)),
        Case(q, "lecture_badly_classified_image", "reproduces the lecture's loss for its badly classified image",
             (LECTURE_SCORES[2:], LECTURE_LABELS[2:])),
        Case(q, "lecture_model_table", "reproduces the lecture's hinge-vs-cross-entropy table (three models)",
             (LECTURE_MODELS, LECTURE_MODEL_LABELS)),
        _ce_random_batch(_rng("ce/random"), (7, 5), _rng("ce/random_y")),
        Case(q, "tall_batch", "works with more samples than classes (9, 3)",
             (random_scores(_rng("ce/tall"), (9, 3)), _labels(_rng("ce/tall_y"), 9, 3))),
        Case(q, "wide_batch", "works with more classes than samples (2, 8)",
             (random_scores(_rng("ce/wide"), (2, 8)), _labels(_rng("ce/wide_y"), 2, 8))),
        Case(q, "scores_1e3", "is finite and correct for scores around +-1e3 (use log-sum-exp)",
             (extreme_scores(_rng("ce/1e3"), (6, 4), 1e3), _labels(_rng("ce/1e3_y"), 6, 4))),
        _ce_scores_1e4(_rng("ce/1e4"), (6, 4), _rng("ce/1e4_y")),
        Case(q, "integer_logits", "works on integer logits",
             (_a([[1, 2, 3], [4, 4, 4], [0, -5, 5]], dtype=np.int64), _a([2, 0, 1], dtype=np.int64))),
        Case(q, "input_unchanged", "does not modify its input arrays",
             (random_scores(_rng("ce/unchanged"), (5, 3)), _labels(_rng("ce/unchanged_y"), 5, 3)),
             inputs_unchanged=True),
        Case(q, "no_warning", "raises no warning (overflow, log of 0) for scores like +-1e4",
             (_a([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]]), _a([1, 0], dtype=np.int64)), no_warnings=True),
    ]


def binary_cross_entropy_cases():
    q = "binary_cross_entropy"
    return [
        Case(q, "single_output", "averages the binary cross-entropy over a batch of single logits (N,)",
             (_a([0.0, 2.0, -1.0, 3.0]), _a([1.0, 0.0, 0.0, 1.0])), public=True),
        Case(q, "multi_label", "sums over the classes and averages over the samples for (N, C) logits",
             (_a([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]), _a([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])), public=True),
        Case(q, "zero_logits_multi_label", "gives C log 2 for all-zero (N, C) logits: sum over classes, "
             "not mean", (np.zeros((3, 5)), _targets(_rng("bce/zero_t"), (3, 5)))),
        _bce_random_single_output(_rng("bce/random1d"), 9, _rng("bce/random1d_t")),
        _bce_random_multi_label("random_multi_label_tall", _rng("bce/tall"), (8, 3), _rng("bce/tall_t")),
        _bce_random_multi_label("random_multi_label_wide", _rng("bce/wide"), (2, 7), _rng("bce/wide_t")),
        Case(q, "single_sample_multi_label", "sums over the classes for a single (1, C) sample",
             (random_scores(_rng("bce/one"), (1, 6)), _targets(_rng("bce/one_t"), (1, 6)))),
        Case(q, "scores_1e4_single_output", "is finite and correct for logits around +-1e4 (N,) "
             "(never take the log of a sigmoid)",
             (extreme_scores(_rng("bce/1e4_1d"), (8,), 1e4), _targets(_rng("bce/1e4_1d_t"), (8,)))),
        Case(q, "scores_1e4_multi_label", "is finite and correct for (N, C) logits around +-1e4",
             (extreme_scores(_rng("bce/1e4_2d"), (4, 3), 1e4), _targets(_rng("bce/1e4_2d_t"), (4, 3)))),
        Case(q, "confident_and_right", "gives (almost) 0, not NaN, for logits of +-1e3 that all agree "
             "with their targets", (_a([1e3, -1e3, 800.0, -800.0]), _a([1.0, 0.0, 1.0, 0.0]))),
        Case(q, "integer_targets", "accepts integer 0/1 targets",
             (random_scores(_rng("bce/int"), (3, 4)), _targets(_rng("bce/int_t"), (3, 4)).astype(np.int64))),
        Case(q, "input_unchanged", "does not modify its input arrays",
             (random_scores(_rng("bce/unchanged"), (4, 3)), _targets(_rng("bce/unchanged_t"), (4, 3))),
             inputs_unchanged=True),
        Case(q, "no_warning", "raises no warning (overflow, log of 0) for logits like +-1e4",
             (_a([[1e4, -1e4], [-1e4, 1e4]]), _a([[1.0, 1.0], [0.0, 1.0]])), no_warnings=True),
    ]


def multiclass_hinge_cases():
    q = "multiclass_hinge"
    return [
        Case(q, "one_sample", "sums max(0, s_k - s_y + 1) over the wrong classes k of one sample",
             (_a([[2.0, 1.5, -1.0, 2.5]]), _a([0], dtype=np.int64)), public=True),
        Case(q, "small_batch", "averages the per-sample hinge losses over 2 samples",
             (_a([[0.0, 3.0, 1.0], [4.0, 0.0, 3.5]]), _a([1, 0], dtype=np.int64)), public=True),
        Case(q, "lecture_three_images", "reproduces the lecture's three-image example (mean of the three losses)",
             (LECTURE_SCORES, LECTURE_LABELS)),
        Case(q, "lecture_badly_classified_image", "reproduces the lecture's loss for its badly classified "
             "image: two violated margins add up", (LECTURE_SCORES[2:], LECTURE_LABELS[2:])),
        Case(q, "lecture_model_table", "reproduces the lecture's hinge-vs-cross-entropy table (three models)",
             (LECTURE_MODELS, LECTURE_MODEL_LABELS)),
        _hinge_random_batch(_rng("hinge/random"), (7, 5), _rng("hinge/random_y")),
        Case(q, "wide_batch", "works with more classes than samples (2, 9)",
             (random_scores(_rng("hinge/wide"), (2, 9)), _labels(_rng("hinge/wide_y"), 2, 9))),
        Case(q, "margin_argument", "uses the margin argument (margin=2.5)",
             (random_scores(_rng("hinge/margin"), (6, 4), scale=1.0), _labels(_rng("hinge/margin_y"), 6, 4)),
             {"margin": 2.5}),
        Case(q, "scores_1e4", "is correct for scores around +-1e4",
             (extreme_scores(_rng("hinge/1e4"), (5, 4), 1e4), _labels(_rng("hinge/1e4_y"), 5, 4))),
        Case(q, "input_unchanged", "does not modify its input arrays",
             (random_scores(_rng("hinge/unchanged"), (4, 3)), _labels(_rng("hinge/unchanged_y"), 4, 3)),
             inputs_unchanged=True),
    ]


def multilabel_hinge_cases():
    q = "multilabel_hinge"
    return [
        Case(q, "small_batch", "averages max(0, 1 - (2t - 1) s) over all samples and classes",
             (_a([[2.0, -0.5, 0.0], [-3.0, 0.5, 1.0]]), _a([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])), public=True),
        Case(q, "margins_met", "gives 0 when every positive class scores >= 1 and every negative <= -1",
             (_a([[1.0, -1.0, 4.0], [-2.0, 1.5, -1.0]]), _a([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))),
        _mlh_random("random_tall", _rng("mlh/tall"), (8, 3), _rng("mlh/tall_t")),
        _mlh_random("random_wide", _rng("mlh/wide"), (2, 7), _rng("mlh/wide_t")),
        Case(q, "all_negative_targets", "maps the target 0 to -1 (a class that is absent must score <= -1)",
             (random_scores(_rng("mlh/neg"), (3, 4)), np.zeros((3, 4)))),
        Case(q, "scores_1e4", "is correct for scores around +-1e4",
             (extreme_scores(_rng("mlh/1e4"), (4, 5), 1e4), _targets(_rng("mlh/1e4_t"), (4, 5)))),
        Case(q, "integer_targets", "accepts integer 0/1 targets",
             (random_scores(_rng("mlh/int"), (3, 4)), _targets(_rng("mlh/int_t"), (3, 4)).astype(np.int64))),
        Case(q, "input_unchanged", "does not modify its input arrays",
             (random_scores(_rng("mlh/unchanged"), (4, 3)), _targets(_rng("mlh/unchanged_t"), (4, 3))),
             inputs_unchanged=True),
    ]


def kl_divergence_cases():
    q = "kl_divergence"
    return [
        Case(q, "identical", "gives 0 when p and q are the same distribution",
             (_a([0.2, 0.3, 0.5]), _a([0.2, 0.3, 0.5])), public=True),
        Case(q, "batch_of_two", "returns one divergence per row, shape (N,), for (N, C) inputs",
             (_a([[0.5, 0.5], [0.9, 0.1]]), _a([[0.9, 0.1], [0.5, 0.5]])), public=True),
        Case(q, "lecture_p_to_q", "reproduces the lecture's asymmetry example, KL(p || q)",
             (LECTURE_P, LECTURE_Q)),
        Case(q, "lecture_q_to_p", "reproduces the lecture's asymmetry example, KL(q || p)",
             (LECTURE_Q, LECTURE_P)),
        Case(q, "random_vector", "matches the correct value for random (C,) distributions, as a float",
             (probabilities(_rng("kl/vec_p"), (6,)), probabilities(_rng("kl/vec_q"), (6,)))),
        _kl_random_batch(_rng("kl/batch_p"), (5, 4), _rng("kl/batch_q")),
        Case(q, "one_hot_p", "treats 0 log 0 as 0 (one-hot p: KL = -log q of the true class)",
             (np.eye(4)[[2, 0, 3]], probabilities(_rng("kl/onehot_q"), (3, 4)))),
        Case(q, "zeros_in_p", "treats 0 log 0 as 0 for rows of p with several zero entries",
             (_with_zeros(_rng("kl/zeros_p"), (6, 5)), probabilities(_rng("kl/zeros_q"), (6, 5)))),
        Case(q, "zeros_in_both", "treats a term with p_j = 0 as 0 also where q_j = 0",
             (_a([[0.0, 0.4, 0.6], [0.5, 0.0, 0.5]]), _a([[0.0, 0.5, 0.5], [0.25, 0.0, 0.75]]))),
        Case(q, "input_unchanged", "does not modify its input arrays",
             (probabilities(_rng("kl/unchanged_p"), (3, 4)), probabilities(_rng("kl/unchanged_q"), (3, 4))),
             inputs_unchanged=True),
    ]


def make_cases():
    return (cross_entropy_cases() + binary_cross_entropy_cases() + multiclass_hinge_cases()
            + multilabel_hinge_cases() + kl_divergence_cases())


# --- per-student variants (the coding exam) ----------------------------------------------

# Each draws, in order, a shape per case from the student's generator, then the inputs.
VARIANTS = {
    "cross_entropy": lambda rng: [_ce_random_batch(rng, variant_shape(rng)),
                                  _ce_scores_1e4(rng, variant_shape(rng))],
    "binary_cross_entropy": lambda rng: [
        _bce_random_multi_label("random_multi_label", rng, variant_shape(rng)),
        _bce_random_single_output(rng, variant_shape(rng)[0])],
    "multiclass_hinge": lambda rng: [_hinge_random_batch(rng, variant_shape(rng))],
    "multilabel_hinge": lambda rng: [_mlh_random("random", rng, variant_shape(rng))],
    "kl_divergence": lambda rng: [_kl_random_batch(rng, variant_shape(rng))],
}


def variant_cases(question, rng):
    """``question``'s cases for one variant: its random cases, with shapes and inputs drawn
    from ``rng`` (a student's seeded generator) instead of each case's fixed seed."""
    return VARIANTS[question](rng)
