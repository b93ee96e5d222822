"""Common mistakes in a2_losses, each a plausible wrong implementation. HIDDEN.

Each function here is written the way a student might get it wrong; ``MISTAKES`` names
it, says which question it breaks and what is wrong, in words feedback can reuse. Every
implementation is self-contained (NumPy only), so it can also run outside a submission.
"""

import numpy as np

from autograder.course.mistakes import Mistake

# --- cross_entropy ------------------------------------------------------------------


def ce_log_of_naive_softmax(logits, y):
    e = np.exp(logits)
    probs = e / np.sum(e, axis=1, keepdims=True)
    return float(np.mean(-np.log(probs[np.arange(len(y)), y])))


def ce_log_of_stable_softmax(logits, y):
    e = np.exp(logits - np.max(logits, axis=1, keepdims=True))
    probs = e / np.sum(e, axis=1, keepdims=True)
    return float(np.mean(-np.log(probs[np.arange(len(y)), y])))


def ce_unstable_log_sum_exp(logits, y):
    lse = np.log(np.sum(np.exp(logits), axis=1))
    return float(np.mean(lse - logits[np.arange(len(y)), y]))


def ce_sum_not_mean(logits, y):
    m = np.max(logits, axis=1)
    lse = m + np.log(np.sum(np.exp(logits - m[:, None]), axis=1))
    return float(np.sum(lse - logits[np.arange(len(y)), y]))


def ce_in_place(logits, y):
    logits -= np.max(logits, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(logits), axis=1))
    return float(np.mean(lse - logits[np.arange(len(y)), y]))


# --- binary_cross_entropy -----------------------------------------------------------


def bce_log_of_sigmoid(logits, targets):
    z = np.asarray(logits, dtype=float)
    e = np.exp(-np.abs(z))
    p = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    per_entry = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    if per_entry.ndim == 2:
        per_entry = per_entry.sum(axis=1)
    return float(np.mean(per_entry))


def bce_clipped_probabilities(logits, targets):
    eps = 1e-12
    z = np.asarray(logits, dtype=float)
    e = np.exp(-np.abs(z))
    p = np.clip(np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)), eps, 1 - eps)
    per_entry = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    if per_entry.ndim == 2:
        per_entry = per_entry.sum(axis=1)
    return float(np.mean(per_entry))


def bce_unstable_softplus(logits, targets):
    per_entry = logits - logits * targets + np.log(1 + np.exp(-logits))
    if per_entry.ndim == 2:
        per_entry = per_entry.sum(axis=1)
    return float(np.mean(per_entry))


def bce_multilabel_mean_over_classes(logits, targets):
    z = np.asarray(logits, dtype=float)
    per_entry = np.maximum(z, 0) - z * targets + np.log1p(np.exp(-np.abs(z)))
    return float(np.mean(per_entry))


def bce_sum_not_mean(logits, targets):
    z = np.asarray(logits, dtype=float)
    per_entry = np.maximum(z, 0) - z * targets + np.log1p(np.exp(-np.abs(z)))
    return float(np.sum(per_entry))


# --- multiclass_hinge ---------------------------------------------------------------


def hinge_counts_true_class(scores, y, margin=1.0):
    true = scores[np.arange(len(y)), y][:, None]
    return float(np.mean(np.sum(np.maximum(0, scores - true + margin), axis=1)))


def hinge_max_not_sum(scores, y, margin=1.0):
    true = scores[np.arange(len(y)), y][:, None]
    terms = np.maximum(0, scores - true + margin)
    terms[np.arange(len(y)), y] = 0
    return float(np.mean(np.max(terms, axis=1)))


def hinge_ignores_margin(scores, y, margin=1.0):
    true = scores[np.arange(len(y)), y][:, None]
    terms = np.maximum(0, scores - true + 1.0)
    terms[np.arange(len(y)), y] = 0
    return float(np.mean(np.sum(terms, axis=1)))


# --- multilabel_hinge ---------------------------------------------------------------


def multilabel_hinge_sum_over_classes(scores, targets):
    terms = np.maximum(0, 1 - (2 * targets - 1) * scores)
    return float(np.mean(np.sum(terms, axis=1)))


def multilabel_hinge_unmapped_targets(scores, targets):
    return float(np.mean(np.maximum(0, 1 - targets * scores)))


# --- kl_divergence ------------------------------------------------------------------


def kl_reversed(p, q):
    p, q = np.asarray(q, dtype=float), np.asarray(p, dtype=float)
    terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / np.where(p > 0, q, 1.0)), 0.0)
    kl = np.sum(terms, axis=-1)
    return float(kl) if kl.ndim == 0 else kl


def kl_zero_log_zero_nan(p, q):
    kl = np.sum(p * np.log(p / q), axis=-1)
    return float(kl) if np.ndim(kl) == 0 else kl


def kl_sums_over_batch(p, q):
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / np.where(p > 0, q, 1.0)), 0.0)
    return float(np.sum(terms))


MISTAKES = [
    Mistake("ce_log_of_softmax", "cross_entropy",
            "takes the log of a naive softmax (exp of the raw scores): NaN or inf for large scores",
            ce_log_of_naive_softmax),
    Mistake("ce_log_of_stable_softmax", "cross_entropy",
            "takes the log of a (stable) softmax: -log 0 = inf where the true class's probability "
            "underflows", ce_log_of_stable_softmax),
    Mistake("ce_unstable_log_sum_exp", "cross_entropy",
            "log-sum-exp without subtracting the row maximum overflows for large scores",
            ce_unstable_log_sum_exp),
    Mistake("ce_sum_not_mean", "cross_entropy",
            "sums the per-sample losses instead of averaging them", ce_sum_not_mean),
    Mistake("ce_in_place", "cross_entropy",
            "subtracts the maximum in place, modifying the caller's logits", ce_in_place),
    Mistake("bce_log_of_sigmoid", "binary_cross_entropy",
            "takes the log of sigmoid probabilities: inf or NaN (0 * log 0) for large logits",
            bce_log_of_sigmoid),
    Mistake("bce_clipped_probabilities", "binary_cross_entropy",
            "clips sigmoid probabilities to [eps, 1 - eps]: finite but wrong for large logits",
            bce_clipped_probabilities),
    Mistake("bce_unstable_softplus", "binary_cross_entropy",
            "computes log(1 + exp(-z)) directly, which overflows for very negative logits",
            bce_unstable_softplus),
    Mistake("bce_multilabel_mean_over_classes", "binary_cross_entropy",
            "averages the multi-label loss over the classes instead of summing it",
            bce_multilabel_mean_over_classes),
    Mistake("bce_sum_not_mean", "binary_cross_entropy",
            "sums the losses over the samples instead of averaging them", bce_sum_not_mean),
    Mistake("hinge_counts_true_class", "multiclass_hinge",
            "includes the true class in the sum, adding the margin once per sample",
            hinge_counts_true_class),
    Mistake("hinge_max_not_sum", "multiclass_hinge",
            "takes the largest violated margin instead of the sum over the wrong classes",
            hinge_max_not_sum),
    Mistake("hinge_ignores_margin", "multiclass_hinge",
            "always uses a margin of 1, ignoring the margin argument", hinge_ignores_margin),
    Mistake("multilabel_hinge_sum_over_classes", "multilabel_hinge",
            "sums over the classes instead of averaging over them", multilabel_hinge_sum_over_classes),
    Mistake("multilabel_hinge_unmapped_targets", "multilabel_hinge",
            "uses the 0/1 targets directly instead of mapping them to -1/+1", multilabel_hinge_unmapped_targets),
    Mistake("kl_reversed", "kl_divergence",
            "computes KL(q || p) instead of KL(p || q): KL is not symmetric", kl_reversed),
    Mistake("kl_zero_log_zero_nan", "kl_divergence",
            "evaluates p log(p / q) where p = 0, giving 0 * -inf = NaN instead of 0", kl_zero_log_zero_nan),
    Mistake("kl_sums_over_batch", "kl_divergence",
            "sums over the whole batch, returning one number instead of one per row", kl_sums_over_batch),
]
