"""a1_softmax: questions, points and every test case (public and hidden). HIDDEN.

One source of truth: public cases (``public=True``) are exported into the student folder
with their expected values; the others never leave the grader. Expected values always
come from ``reference.py``; nothing here hard-codes an answer.

A random case is built by one function of (generator, shape): the fixed cases call it with
the case's own seed and shape, ``variant_cases`` (the coding exam) with a student's seed
and a drawn shape, so both grade the same property with the same tolerance.
"""

import numpy as np

from autograder.course.cases import Case
from autograder.course.inputs import (
    extreme_scores,
    independent_probabilities,
    probabilities,
    rng_for,
    variant_shape,
)
from autograder.course.inputs import scores as random_scores
from autograder.course.tolerances import PRECISE_ATOL, PRECISE_RTOL
from autograder.sandbox import Limits

NAME = "a1_softmax"
TITLE = "a1_softmax: probabilities from scores"
QUESTIONS = ("softmax", "log_softmax", "sigmoid", "predict_multiclass", "predict_multilabel")

# NumPy-only: a correct submission needs well under a second; these bounds only ever
# bind on endless loops and runaway allocations.
LIMITS = Limits(cpu_seconds=15, wall_seconds=30, load_seconds=5, call_seconds=2)


def _rng(name):
    return rng_for(NAME, name)


def _a(values, dtype=np.float64):
    return np.array(values, dtype=dtype)


# Rows with very different ranges in one batch: a softmax that subtracts one global
# maximum (instead of one per row) underflows the other rows to 0/0.
MIXED_RANGE_ROWS = _a([[1000.0, 1000.0, 999.0], [0.0, 0.0, -1.0], [-1000.0, -1001.0, -1000.0]])
PRECISE = {"rtol": PRECISE_RTOL, "atol": PRECISE_ATOL}


# --- random cases: one builder each, (generator, shape) -> Case ------------------------

def _softmax_random_batch(rng, shape):
    return Case("softmax", "random_batch", f"matches the reference on a random {shape} batch",
                (random_scores(rng, shape),))


def _softmax_scores_1e3(rng, shape):
    return Case("softmax", "scores_1e3", "is finite and correct for scores around +-1e3",
                (extreme_scores(rng, shape, 1e3),))


def _softmax_axis_0(rng, shape):
    return Case("softmax", "axis_0", "normalises along axis=0 when asked (columns sum to 1)",
                (random_scores(rng, shape),), {"axis": 0})


def _log_softmax_random_batch(rng, shape):
    return Case("log_softmax", "random_batch", "matches the reference to float64 precision on a random batch",
                (random_scores(rng, shape),), **PRECISE)


def _log_softmax_scores_1e4(rng, shape):
    return Case("log_softmax", "scores_1e4", "is finite and exact for scores around +-1e4",
                (extreme_scores(rng, shape, 1e4),), **PRECISE)


def _sigmoid_random_matrix(rng, shape):
    return Case("sigmoid", "random_matrix", f"works elementwise on a random {shape} array",
                (random_scores(rng, shape, scale=5.0),))


def _sigmoid_scores_1e3(rng, shape):
    # Variants only: the fixed cases test overflow on hand-picked z (no_overflow_warning).
    return Case("sigmoid", "scores_1e3", "is correct and raises no overflow warning for z around +-1e3",
                (extreme_scores(rng, shape, 1e3),), no_warnings=True)


def _predict_multiclass_random_batch(rng, shape):
    return Case("predict_multiclass", "random_batch", f"matches the reference on a random {shape} batch",
                (probabilities(rng, shape),))


def _predict_multiclass_integer_dtype(rng, shape):
    return Case("predict_multiclass", "integer_dtype", "returns an integer array",
                (probabilities(rng, shape),), integer_dtype=True)


def _predict_multilabel_random_batch(rng, shape, threshold=None):
    if threshold is None:
        return Case("predict_multilabel", "random_batch", f"matches the reference on a random {shape} batch",
                    (independent_probabilities(rng, shape),))
    return Case("predict_multilabel", "random_batch",
                f"matches the reference on a random {shape} batch, strictly above threshold={threshold}",
                (independent_probabilities(rng, shape),), {"threshold": threshold})


def _predict_multilabel_integer_dtype(rng, shape):
    return Case("predict_multilabel", "integer_dtype", "returns an integer array of 0/1",
                (independent_probabilities(rng, shape),), integer_dtype=True)


# --- the assignment's cases --------------------------------------------------------------


def softmax_cases():
    q = "softmax"
    return [
        Case(q, "lecture_example", "turns the lecture's scores (3, 1, -1, -1) into probabilities",
             (_a([[3.0, 1.0, -1.0, -1.0]]),), public=True),
        Case(q, "large_equal_scores", "is finite for large equal scores ([1000, 1000] gives [0.5, 0.5])",
             (_a([[1000.0, 1000.0]]),), public=True),
        _softmax_random_batch(_rng("softmax/random"), (7, 5)),
        Case(q, "ties", "gives equal probabilities to equal scores",
             (_a([[2.0, 2.0, 2.0], [0.0, 5.0, 5.0]]),)),
        _softmax_scores_1e3(_rng("softmax/1e3"), (6, 4)),
        Case(q, "scores_1e4", "is finite and correct for scores around +-1e4",
             (extreme_scores(_rng("softmax/1e4"), (6, 4), 1e4),)),
        Case(q, "very_negative", "is finite when every score is very negative ([-1000, 0] style)",
             (_a([[-1000.0, 0.0], [-1000.0, -1001.0]]),)),
        Case(q, "row_wise_max", "subtracts the maximum of each row, not of the whole batch",
             (MIXED_RANGE_ROWS,)),
        _softmax_axis_0(_rng("softmax/axis0"), (4, 6)),
        Case(q, "one_dimensional", "works on a single 1-D score vector",
             (random_scores(_rng("softmax/1d"), (9,)),)),
        Case(q, "three_dimensional_axis_1", "works on a 3-D array along axis=1",
             (random_scores(_rng("softmax/3d"), (2, 5, 3)),), {"axis": 1}),
        Case(q, "integer_input", "returns float probabilities for integer scores",
             (_a([[1, 2, 3], [0, 0, 0]], dtype=np.int64),)),
        Case(q, "input_unchanged", "does not modify its input array",
             (random_scores(_rng("softmax/unchanged"), (5, 3)),), inputs_unchanged=True),
        Case(q, "no_overflow_warning", "raises no overflow warning for scores like +-1000",
             (_a([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]]),), no_warnings=True),
    ]


def log_softmax_cases():
    q = "log_softmax"
    precise = PRECISE
    return [
        Case(q, "lecture_example", "gives log-probabilities for the lecture's scores (3, 1, -1, -1)",
             (_a([[3.0, 1.0, -1.0, -1.0]]),), public=True, **precise),
        Case(q, "underflowing_softmax", "is finite where softmax underflows ([0, -1e4] gives [0, -1e4])",
             (_a([[0.0, -1e4]]),), public=True, **precise),
        _log_softmax_random_batch(_rng("log_softmax/random"), (8, 6)),
        Case(q, "scores_1e3", "is finite and exact for scores around +-1e3",
             (extreme_scores(_rng("log_softmax/1e3"), (5, 4), 1e3),), **precise),
        _log_softmax_scores_1e4(_rng("log_softmax/1e4"), (5, 4)),
        Case(q, "row_wise_max", "subtracts the maximum of each row, not of the whole batch",
             (MIXED_RANGE_ROWS,), **precise),
        Case(q, "axis_0", "works along axis=0 when asked",
             (random_scores(_rng("log_softmax/axis0"), (5, 3)),), {"axis": 0}, **precise),
        Case(q, "one_dimensional", "works on a single 1-D score vector",
             (random_scores(_rng("log_softmax/1d"), (7,)),), **precise),
        Case(q, "integer_input", "returns float values for integer scores",
             (_a([[1, 2, 3], [4, 4, 4]], dtype=np.int64),), **precise),
        Case(q, "input_unchanged", "does not modify its input array",
             (random_scores(_rng("log_softmax/unchanged"), (4, 5)),), inputs_unchanged=True, **precise),
        Case(q, "no_warning", "raises no warning (overflow or log of 0) for scores like +-1e4",
             (_a([[0.0, -1e4, 1e4], [-1e4, -1e4, 0.0]]),), no_warnings=True, **precise),
    ]


def sigmoid_cases():
    q = "sigmoid"
    return [
        Case(q, "small_values", "matches 1 / (1 + exp(-z)) for small z",
             (_a([-2.0, 0.0, 2.0]),), public=True),
        Case(q, "saturation", "gives 0 and 1 at z = -1000 and z = 1000",
             (_a([-1000.0, 1000.0]),), public=True),
        _sigmoid_random_matrix(_rng("sigmoid/random"), (6, 4)),
        Case(q, "no_overflow_warning", "raises no overflow warning for very negative z",
             (_a([-1000.0, -800.0, -710.0, 710.0, 1000.0]),), no_warnings=True),
        Case(q, "scores_1e4", "is correct for z = +-1e4",
             (_a([[-1e4, 1e4], [0.0, -1e4]]),)),
        Case(q, "tiny_probabilities", "keeps relative precision for tiny probabilities (z = -30 ... -700)",
             (_a([-30.0, -40.0, -100.0, -700.0]),), atol=0.0),
        Case(q, "integer_input", "returns floats for integer input",
             (_a([-3, 0, 3], dtype=np.int64),)),
        Case(q, "input_unchanged", "does not modify its input array",
             (random_scores(_rng("sigmoid/unchanged"), (3, 5)),), inputs_unchanged=True),
    ]


def predict_multiclass_cases():
    q = "predict_multiclass"
    return [
        Case(q, "basic", "picks the index of the largest probability in each row",
             (_a([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]),), public=True),
        Case(q, "ties", "breaks ties towards the smallest index, as np.argmax does",
             (_a([[0.4, 0.4, 0.2], [0.1, 0.45, 0.45], [1 / 3, 1 / 3, 1 / 3]]),)),
        _predict_multiclass_random_batch(_rng("predict_multiclass/random"), (9, 4)),
        _predict_multiclass_integer_dtype(_rng("predict_multiclass/dtype"), (5, 3)),
        Case(q, "wide_batch", "works when there are more classes than samples (2, 7)",
             (probabilities(_rng("predict_multiclass/wide"), (2, 7)),)),
        Case(q, "tall_batch", "works when there are more samples than classes (8, 2)",
             (probabilities(_rng("predict_multiclass/tall"), (8, 2)),)),
        Case(q, "single_row", "returns shape (1,) for a single sample",
             (probabilities(_rng("predict_multiclass/single"), (1, 5)),)),
        Case(q, "input_unchanged", "does not modify its input array",
             (probabilities(_rng("predict_multiclass/unchanged"), (4, 4)),), inputs_unchanged=True),
    ]


def predict_multilabel_cases():
    q = "predict_multilabel"
    return [
        Case(q, "basic", "marks every class whose probability is above 0.5",
             (_a([[0.9, 0.2, 0.6], [0.1, 0.4, 0.3]]),), public=True),
        Case(q, "exactly_at_threshold", "gives 0 for a probability exactly at the threshold (strictly greater)",
             (_a([[0.5, 0.5000001, 0.4999999], [0.5, 0.5, 0.5]]),)),
        Case(q, "custom_threshold", "uses the threshold argument, strictly (threshold=0.3)",
             (_a([[0.3, 0.31, 0.2, 0.9], [0.29, 0.3, 0.7, 0.0]]),), {"threshold": 0.3}),
        _predict_multilabel_random_batch(_rng("predict_multilabel/random"), (7, 5)),
        _predict_multilabel_integer_dtype(_rng("predict_multilabel/dtype"), (4, 3)),
        Case(q, "nothing_above", "returns all zeros when no class passes the threshold",
             (_a([[0.1, 0.2, 0.05]]),)),
        Case(q, "input_unchanged", "does not modify its input array",
             (independent_probabilities(_rng("predict_multilabel/unchanged"), (3, 6)),),
             inputs_unchanged=True),
    ]


def make_cases():
    return (softmax_cases() + log_softmax_cases() + sigmoid_cases()
            + predict_multiclass_cases() + predict_multilabel_cases())


# --- per-student variants (the coding exam) ----------------------------------------------

def _threshold(rng):
    return float(np.round(rng.uniform(0.2, 0.8), 2))


# Each draws, in order, a shape per case from the student's generator, then the inputs.
VARIANTS = {
    "softmax": lambda rng: [_softmax_random_batch(rng, variant_shape(rng)),
                            _softmax_scores_1e3(rng, variant_shape(rng)),
                            _softmax_axis_0(rng, variant_shape(rng))],
    "log_softmax": lambda rng: [_log_softmax_random_batch(rng, variant_shape(rng)),
                                _log_softmax_scores_1e4(rng, variant_shape(rng))],
    "sigmoid": lambda rng: [_sigmoid_random_matrix(rng, variant_shape(rng)),
                            _sigmoid_scores_1e3(rng, variant_shape(rng))],
    "predict_multiclass": lambda rng: [_predict_multiclass_random_batch(rng, variant_shape(rng)),
                                       _predict_multiclass_integer_dtype(rng, variant_shape(rng))],
    "predict_multilabel": lambda rng: [
        _predict_multilabel_random_batch(rng, variant_shape(rng), threshold=_threshold(rng)),
        _predict_multilabel_integer_dtype(rng, variant_shape(rng))],
}


def variant_cases(question, rng):
    """``question``'s cases for one variant: its random cases, with shapes and inputs drawn
    from ``rng`` (a student's seeded generator) instead of each case's fixed seed."""
    return VARIANTS[question](rng)
