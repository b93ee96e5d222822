"""Reference solution for a1_softmax. HIDDEN: never copied into the student folder."""

import numpy as np


def softmax(z, axis=-1):
    """softmax(z)_i = exp(z_i - m) / sum_j exp(z_j - m), m = max_j z_j along ``axis``.

    z: array of scores, e.g. (N, C); returns: float array of the same shape.
    """
    z = np.asarray(z, dtype=np.float64)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    """log softmax(z)_i = z_i - m - log sum_j exp(z_j - m): the log-sum-exp trick.

    z: array of scores; returns: float array of the same shape, finite for finite z.
    """
    z = np.asarray(z, dtype=np.float64)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def sigmoid(z):
    """sigma(z) = 1 / (1 + exp(-z)), evaluated so that exp never overflows.

    For z >= 0 use 1 / (1 + e^{-z}); for z < 0 the equal form e^{z} / (1 + e^{z}).
    Both only ever exponentiate -|z| <= 0.
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def predict_multiclass(probs):
    """probs: (N, C); returns (N,) int: argmax per row (ties -> smallest index)."""
    return np.argmax(np.asarray(probs), axis=1).astype(np.int64)


def predict_multilabel(probs, threshold=0.5):
    """probs: (N, C); returns (N, C) int of 0/1: 1 where probs > threshold (strictly)."""
    return (np.asarray(probs) > threshold).astype(np.int64)
