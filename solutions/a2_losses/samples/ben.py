"""A finished submission with three classic slips: cross-entropy through probabilities,
the true class inside the hinge sum, and the KL arguments swapped."""
import numpy as np


def cross_entropy(logits, y):
    # softmax first, then -log of the true class's probability
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    return float(-np.log(probs[np.arange(len(y)), y]).mean())


def binary_cross_entropy(logits, targets):
    z = np.asarray(logits, dtype=float)
    losses = np.maximum(z, 0) - z * targets + np.log1p(np.exp(-np.abs(z)))
    if losses.ndim == 2:
        losses = losses.sum(axis=1)
    return float(losses.mean())


def multiclass_hinge(scores, y, margin=1.0):
    correct = scores[np.arange(len(y)), y]
    return float(np.maximum(0, scores - correct[:, None] + margin).sum(axis=1).mean())


def multilabel_hinge(scores, targets):
    return float(np.maximum(0, 1 - (2 * targets - 1) * scores).mean())


def kl_divergence(p, q):
    # KL between the prediction and the truth
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    terms = np.where(q > 0, q * np.log(np.where(q > 0, q, 1) / np.where(q > 0, p, 1)), 0.0)
    out = terms.sum(axis=-1)
    return float(out) if out.ndim == 0 else out
