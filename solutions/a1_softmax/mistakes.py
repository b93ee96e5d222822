"""Common mistakes in a1_softmax, each a plausible wrong implementation. HIDDEN.

Each function here is written the way a student might get it wrong; ``MISTAKES`` names
it, says which question it breaks and what is wrong, in words feedback can reuse.
"""

import numpy as np

from autograder.course.mistakes import Mistake


def softmax_unstable(z, axis=-1):
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_global_max(z, axis=-1):
    e = np.exp(z - np.max(z))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_ignores_axis(z, axis=-1):
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def softmax_in_place(z, axis=-1):
    z -= np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_keeps_integer_dtype(z, axis=-1):
    out = np.zeros_like(z)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    out[...] = e / np.sum(e, axis=axis, keepdims=True)
    return out


def log_softmax_of_softmax(z, axis=-1):
    return np.log(softmax(z, axis=axis))  # noqa: F821 - resolved in the submission


def log_softmax_unstable(z, axis=-1):
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def sigmoid_naive(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_one_minus(z):
    z = np.asarray(z, dtype=np.float64)
    pos = 1.0 / (1.0 + np.exp(-np.abs(z)))
    return np.where(z >= 0, pos, 1.0 - pos)


def predict_multiclass_axis_0(probs):
    return np.argmax(probs, axis=0)


def predict_multiclass_last_tie(probs):
    flipped = np.asarray(probs)[:, ::-1]
    return probs.shape[1] - 1 - np.argmax(flipped, axis=1)


def predict_multilabel_greater_equal(probs, threshold=0.5):
    return (probs >= threshold).astype(int)


def predict_multilabel_bool(probs, threshold=0.5):
    return probs > threshold


def predict_multilabel_fixed_threshold(probs, threshold=0.5):
    return (probs > 0.5).astype(int)


MISTAKES = [
    Mistake("unstable_softmax", "softmax",
            "exponentiates the raw scores without subtracting the maximum", softmax_unstable),
    Mistake("global_max_softmax", "softmax",
            "subtracts one maximum for the whole batch instead of one per row", softmax_global_max),
    Mistake("softmax_ignores_axis", "softmax",
            "always normalises along the last axis, ignoring the axis argument", softmax_ignores_axis),
    Mistake("softmax_in_place", "softmax",
            "subtracts the maximum in place, modifying the caller's array", softmax_in_place),
    Mistake("softmax_integer_output", "softmax",
            "writes probabilities into an array of the input's dtype (integers truncate to 0)",
            softmax_keeps_integer_dtype),
    Mistake("log_of_softmax", "log_softmax",
            "computes log(softmax(z)), which is -inf where softmax underflows", log_softmax_of_softmax),
    Mistake("unstable_log_softmax", "log_softmax",
            "log-sum-exp without subtracting the maximum overflows for large scores",
            log_softmax_unstable),
    Mistake("naive_sigmoid", "sigmoid",
            "1 / (1 + exp(-z)) overflows (with a warning) for very negative z", sigmoid_naive),
    Mistake("one_minus_sigmoid", "sigmoid",
            "1 - sigmoid(|z|) for negative z loses all precision for tiny probabilities",
            sigmoid_one_minus),
    Mistake("argmax_over_samples", "predict_multiclass",
            "takes the argmax along axis 0 (over samples) instead of over classes",
            predict_multiclass_axis_0),
    Mistake("ties_to_last_index", "predict_multiclass",
            "breaks ties towards the largest index", predict_multiclass_last_tie),
    Mistake("threshold_greater_equal", "predict_multilabel",
            "uses >= so a probability exactly at the threshold counts as positive",
            predict_multilabel_greater_equal),
    Mistake("boolean_labels", "predict_multilabel",
            "returns a boolean array instead of integers", predict_multilabel_bool),
    Mistake("ignores_threshold", "predict_multilabel",
            "always thresholds at 0.5, ignoring the threshold argument",
            predict_multilabel_fixed_threshold),
]
