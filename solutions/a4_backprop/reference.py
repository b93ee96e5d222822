"""Reference solution for a4_backprop. HIDDEN: never copied into the student folder.

Gradients at the output layer of the mean losses of a2_losses:

    cross_entropy(z, y)          = (1/N) sum_i -log softmax(z_i)[y_i]
    binary_cross_entropy(z, t)   = (1/N) sum_i [sum_k] -t log s(z) - (1-t) log(1 - s(z))
    multiclass_hinge(s, y, m)    = (1/N) sum_i sum_{k != y_i} max(0, s_ik - s_iy_i + m)
"""

import numpy as np


def _softmax(z):
    """Row-wise softmax of (N, C) scores, shifted by the row maximum so exp never overflows."""
    shifted = z - np.max(z, axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=1, keepdims=True)


def _sigmoid(z):
    """Elementwise logistic function; only ever exponentiates -|z| <= 0."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax_cross_entropy_grad(logits, y):
    """dL/dz for L = mean cross-entropy: (softmax(z) - onehot(y)) / N.

    logits: (N, C) float; y: (N,) int in [0, C); returns: (N, C) float64.
    Each row sums to 0; the true-class entry is the only negative one.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n = z.shape[0]
    grad = _softmax(z)
    grad[np.arange(n), y] -= 1.0
    return grad / n


def sigmoid_bce_grad(logits, targets):
    """dL/dz for L = binary_cross_entropy(z, t): (sigmoid(z) - t) / N.

    logits, targets: (N,) or (N, C) (multi-label: summed over classes, so no 1/C);
    returns: float64 array of the same shape.
    """
    z = np.asarray(logits, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    return (_sigmoid(z) - t) / z.shape[0]


def multiclass_hinge_grad(scores, y, margin=1.0):
    """A subgradient of the mean multi-class hinge loss with respect to the scores.

    With v_ik = 1 when k != y_i and s_ik - s_iy_i + margin > 0 (strictly: 0 at exact ties):
        grad_ik     =  v_ik / N                  for k != y_i
        grad_iy_i   = -(sum_k v_ik) / N          (minus the number of violating classes)
    scores: (N, C) float; y: (N,) int; returns: (N, C) float64.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n = s.shape[0]
    rows = np.arange(n)
    true_score = s[rows, y][:, None]
    violating = (s - true_score + margin > 0).astype(np.float64)
    violating[rows, y] = 0.0
    violating[rows, y] = -np.sum(violating, axis=1)
    return violating / n


def output_layer_backward(a_prev, W, b, y):
    """Backward pass of z = a_prev @ W.T + b followed by mean softmax cross-entropy.

    a_prev: (N, H); W: (C, H); b: (C,); y: (N,) int.
    dZ = (softmax(z) - onehot(y)) / N, shape (N, C); then
        dW = dZ.T @ a_prev  (C, H);  db = sum_i dZ_i  (C,);  da_prev = dZ @ W  (N, H).
    Returns the tuple (dW, db, da_prev), all float64.
    """
    a_prev = np.asarray(a_prev, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n = a_prev.shape[0]
    # dZ is computed here rather than by calling softmax_cross_entropy_grad: in a
    # "reference + one mistake" submission a broken softmax_cross_entropy_grad must not
    # cost points on this function too.
    dz = _softmax(a_prev @ W.T + b)
    dz[np.arange(n), y] -= 1.0
    dz /= n
    return dz.T @ a_prev, np.sum(dz, axis=0), dz @ W
