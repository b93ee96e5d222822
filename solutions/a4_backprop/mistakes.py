"""Common mistakes in a4_backprop, each a plausible wrong implementation. HIDDEN.

Each mistake is a standalone version of ONE function (it calls none of the other
questions' functions), so "reference + this mistake" loses points on that function only.
"""

import numpy as np

from autograder.course.mistakes import Mistake

# --- softmax_cross_entropy_grad ---------------------------------------------------------


def ce_grad_missing_mean(logits, y):
    p = np.exp(logits - np.max(logits, axis=1, keepdims=True))
    p = p / np.sum(p, axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p


def ce_grad_sign_flipped(logits, y):
    p = np.exp(logits - np.max(logits, axis=1, keepdims=True))
    p = p / np.sum(p, axis=1, keepdims=True)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return (onehot - p) / len(y)


def ce_grad_unstable_softmax(logits, y):
    e = np.exp(logits)
    p = e / np.sum(e, axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


def ce_grad_via_probabilities(logits, y):
    # Chain rule through p: dL/dp_y = -1/p_y times the softmax Jacobian row p_y (delta - p).
    # Right on paper; 0 * inf = nan once p_y underflows to 0.
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    p = e / np.sum(e, axis=1, keepdims=True)
    rows = np.arange(len(y))
    p_true = p[rows, y][:, None]
    delta = np.zeros_like(p)
    delta[rows, y] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return (-1.0 / p_true) * p_true * (delta - p) / len(y)


# --- sigmoid_bce_grad -------------------------------------------------------------------


def bce_grad_divided_by_nc(logits, targets):
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(-np.abs(z))
    s = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return (s - targets) / z.size


def bce_grad_missing_mean(logits, targets):
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(-np.abs(z))
    s = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return s - targets


def bce_grad_sign_flipped(logits, targets):
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(-np.abs(z))
    s = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return (targets - s) / z.shape[0]


def bce_grad_naive_sigmoid(logits, targets):
    z = np.asarray(logits, dtype=np.float64)
    return (1.0 / (1.0 + np.exp(-z)) - targets) / z.shape[0]


def bce_grad_via_probabilities(logits, targets):
    # dL/dp = -t/p + (1-t)/(1-p), times dp/dz = p (1 - p): nan once p rounds to 0 or 1.
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(-np.abs(z))
    p = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    with np.errstate(divide="ignore", invalid="ignore"):
        dp = -targets / p + (1 - targets) / (1 - p)
        return dp * p * (1 - p) / z.shape[0]


# --- multiclass_hinge_grad --------------------------------------------------------------


def hinge_grad_no_true_class(scores, y, margin=1.0):
    s = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(y))
    violating = (s - s[rows, y][:, None] + margin > 0).astype(np.float64)
    violating[rows, y] = 0.0
    return violating / len(y)


def hinge_grad_true_class_minus_one(scores, y, margin=1.0):
    s = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(y))
    violating = (s - s[rows, y][:, None] + margin > 0).astype(np.float64)
    violating[rows, y] = 0.0
    violating[rows, y] = -np.minimum(1.0, np.sum(violating, axis=1))
    return violating / len(y)


def hinge_grad_ties_count(scores, y, margin=1.0):
    s = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(y))
    violating = (s - s[rows, y][:, None] + margin >= 0).astype(np.float64)
    violating[rows, y] = 0.0
    violating[rows, y] = -np.sum(violating, axis=1)
    return violating / len(y)


def hinge_grad_ignores_margin(scores, y, margin=1.0):
    s = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(y))
    violating = (s - s[rows, y][:, None] + 1.0 > 0).astype(np.float64)
    violating[rows, y] = 0.0
    violating[rows, y] = -np.sum(violating, axis=1)
    return violating / len(y)


def hinge_grad_missing_mean(scores, y, margin=1.0):
    s = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(y))
    violating = (s - s[rows, y][:, None] + margin > 0).astype(np.float64)
    violating[rows, y] = 0.0
    violating[rows, y] = -np.sum(violating, axis=1)
    return violating


# --- output_layer_backward --------------------------------------------------------------


def layer_db_averaged(a_prev, W, b, y):
    z = a_prev @ W.T + b
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    dz = e / np.sum(e, axis=1, keepdims=True)
    dz[np.arange(len(y)), y] -= 1.0
    dz = dz / len(y)
    return dz.T @ a_prev, np.mean(dz, axis=0), dz @ W


def layer_dW_transposed(a_prev, W, b, y):
    z = a_prev @ W.T + b
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    dz = e / np.sum(e, axis=1, keepdims=True)
    dz[np.arange(len(y)), y] -= 1.0
    dz = dz / len(y)
    return a_prev.T @ dz, np.sum(dz, axis=0), dz @ W


def layer_da_prev_W_transposed(a_prev, W, b, y):
    z = a_prev @ W.T + b
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    dz = e / np.sum(e, axis=1, keepdims=True)
    dz[np.arange(len(y)), y] -= 1.0
    dz = dz / len(y)
    return dz.T @ a_prev, np.sum(dz, axis=0), dz @ W.T


def layer_missing_mean(a_prev, W, b, y):
    z = a_prev @ W.T + b
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    dz = e / np.sum(e, axis=1, keepdims=True)
    dz[np.arange(len(y)), y] -= 1.0
    return dz.T @ a_prev, np.sum(dz, axis=0), dz @ W


def layer_unstable_softmax(a_prev, W, b, y):
    e = np.exp(a_prev @ W.T + b)
    dz = e / np.sum(e, axis=1, keepdims=True)
    dz[np.arange(len(y)), y] -= 1.0
    dz = dz / len(y)
    return dz.T @ a_prev, np.sum(dz, axis=0), dz @ W


MISTAKES = [
    Mistake("grad_missing_mean", "softmax_cross_entropy_grad",
            "returns softmax - onehot without dividing by N (the gradient of the summed loss, "
            "not the mean)", ce_grad_missing_mean),
    Mistake("grad_sign_flipped", "softmax_cross_entropy_grad",
            "returns (onehot - softmax) / N, the negative of the gradient",
            ce_grad_sign_flipped),
    Mistake("ce_grad_unstable_softmax", "softmax_cross_entropy_grad",
            "exponentiates the raw logits without subtracting the row maximum (overflow for large "
            "logits)", ce_grad_unstable_softmax),
    Mistake("ce_grad_via_probabilities", "softmax_cross_entropy_grad",
            "chains -1/p_y through the softmax Jacobian instead of using softmax - onehot: NaN once "
            "p_y underflows", ce_grad_via_probabilities),
    Mistake("bce_grad_divided_by_nc", "sigmoid_bce_grad",
            "divides by N*C (the mean over every entry) although the multi-label loss sums over "
            "classes", bce_grad_divided_by_nc),
    Mistake("bce_grad_missing_mean", "sigmoid_bce_grad",
            "returns sigmoid(z) - t without dividing by N", bce_grad_missing_mean),
    Mistake("bce_grad_sign_flipped", "sigmoid_bce_grad",
            "returns (t - sigmoid(z)) / N", bce_grad_sign_flipped),
    Mistake("bce_grad_naive_sigmoid", "sigmoid_bce_grad",
            "uses 1 / (1 + exp(-z)), which overflows with a warning for very negative z",
            bce_grad_naive_sigmoid),
    Mistake("bce_grad_via_probabilities", "sigmoid_bce_grad",
            "chains dL/dp = -t/p + (1-t)/(1-p) through dp/dz = p(1-p): NaN once the sigmoid "
            "saturates", bce_grad_via_probabilities),
    Mistake("hinge_grad_no_true_class", "multiclass_hinge_grad",
            "leaves the true-class column at 0 instead of minus the number of violating classes",
            hinge_grad_no_true_class),
    Mistake("hinge_grad_true_class_minus_one", "multiclass_hinge_grad",
            "puts -1 on the true class whenever some class violates, instead of minus their count",
            hinge_grad_true_class_minus_one),
    Mistake("hinge_grad_ties_count", "multiclass_hinge_grad",
            "counts a term exactly at its kink (s_k - s_y + margin == 0) as violating",
            hinge_grad_ties_count),
    Mistake("hinge_grad_ignores_margin", "multiclass_hinge_grad",
            "always uses a margin of 1, ignoring the margin argument", hinge_grad_ignores_margin),
    Mistake("hinge_grad_missing_mean", "multiclass_hinge_grad",
            "does not divide by N", hinge_grad_missing_mean),
    Mistake("db_averaged", "output_layer_backward",
            "averages dZ over the samples for db instead of summing (the 1/N is already in dZ)",
            layer_db_averaged),
    Mistake("dW_transposed", "output_layer_backward",
            "returns a_prev.T @ dZ, of shape (H, C), instead of dZ.T @ a_prev, of shape (C, H)",
            layer_dW_transposed),
    Mistake("da_prev_W_transposed", "output_layer_backward",
            "computes da_prev = dZ @ W.T instead of dZ @ W", layer_da_prev_W_transposed),
    Mistake("layer_missing_mean", "output_layer_backward",
            "uses dZ = softmax - onehot without the 1/N of the mean loss", layer_missing_mean),
    Mistake("layer_unstable_softmax", "output_layer_backward",
            "exponentiates the logits z without subtracting the row maximum (overflow when z is "
            "large)", layer_unstable_softmax),
]
