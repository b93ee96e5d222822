"""Probes for a6_mlp: how the grader calls functions whose arguments are not plain arrays.

A probe runs in the sandbox next to the student's code (and in the grader with the
reference's functions, for the expected value). It builds what the function takes (a list
of (W, b) pairs from flat arrays, a cache, a ``numpy.random.Generator`` from an integer
seed, the ``running`` dict, the digits data from the read-only mount), calls the function
and returns RAW DATA only: arrays of what came back, flattened in a fixed order. Never a
verdict; every comparison is made in the grader (value comparison with the reference's or
the oracle's outputs, or checks.py for the training run).

Standalone: standard library and NumPy only, never the ``autograder`` package.
"""

import numpy as np

DATA = {}  # read-only data mounts, set by the runner: {"digits": folder with digits_train_val.npz}


def _floats(value):
    """A plain float64 ndarray copy (never a subclass) of what the submission returned."""
    return np.array(value, dtype=np.float64, copy=True, subok=False)


def _params(flat):
    """[(W1, b1), (W2, b2), ...] from the flat argument list W1, b1, W2, b2, ..."""
    return [(np.array(flat[i], dtype=np.float64), np.array(flat[i + 1], dtype=np.float64))
            for i in range(0, len(flat), 2)]


def _cache(params, x, kind):
    """The contract's cache [(a_prev, z), ...] computed here, so grading mlp_backward never
    rests on the submission's own mlp_forward (a broken forward costs points there only)."""
    a, cache = np.asarray(x, dtype=np.float64), []
    for layer, (W, b) in enumerate(params, start=1):
        z = a @ W.T + b
        cache.append((a, z))
        if layer < len(params):
            a = _activation(z, kind)
    return cache


def _activation(z, kind, slope=0.01):
    """phi(z) by the contract (written apart from the reference: this file is shipped)."""
    negative = np.minimum(z, 0.0)
    if kind == "relu":
        return z - negative
    if kind == "leaky_relu":
        return z - negative + slope * negative
    if kind == "elu":
        return z - negative + slope * np.expm1(negative)
    if kind == "tanh":
        return np.tanh(z)
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow


def forward_outputs(fns, kind, x, *flat):
    """mlp_forward's logits, then every (a_prev, z) of its cache, as arrays."""
    logits, cache = fns["mlp_forward"](_params(flat), np.array(x, dtype=np.float64), kind)
    out = [_floats(logits)]
    for a_prev, z in cache:
        out += [_floats(a_prev), _floats(z)]
    return tuple(out)


def backward_grads(fns, kind, x, y, *flat):
    """mlp_backward's (dW, db) of every layer, flattened dW1, db1, dW2, db2, ..."""
    params = _params(flat)
    cache = _cache(params, x, kind)
    grads = fns["mlp_backward"](params, cache, np.array(y, dtype=np.int64), kind)
    return tuple(_floats(g) for pair in grads for g in pair)


def dropout_draw(fns, x, p, seed, train):
    """dropout_forward's output with a generator seeded ``seed``, and the generator's next
    number afterwards (how many numbers the call drew is part of the convention)."""
    rng = np.random.default_rng(int(seed))
    out = fns["dropout_forward"](np.array(x, dtype=np.float64), float(p), rng, bool(train))
    return _floats(out), np.array([rng.random()])


def batchnorm_outputs(fns, x, gamma, beta, mean, var, train, momentum=0.1, eps=1e-5):
    """batchnorm_forward's output and the returned running mean and variance."""
    running = {"mean": np.array(mean, dtype=np.float64), "var": np.array(var, dtype=np.float64)}
    out, new = fns["batchnorm_forward"](np.array(x, dtype=np.float64), np.array(gamma, dtype=np.float64),
                                        np.array(beta, dtype=np.float64), running, bool(train),
                                        momentum=float(momentum), eps=float(eps))
    return _floats(out), _floats(new["mean"]), _floats(new["var"])


def penalty(fns, lam, *flat):
    """l2_penalty of the layers W1, b1, W2, b2, ..."""
    return _floats(fns["l2_penalty"](_params(flat), float(lam)))


def digits():
    """The digits training and validation split, pixels scaled from 0..16 to [0, 1]."""
    # In the student's Jupyter (public tests) no mount is set: the notebook's own data/ folder.
    with np.load(f"{DATA.get('digits', 'data')}/digits_train_val.npz") as raw:
        return {"x_train": raw["x_train"] / 16.0, "y_train": raw["y_train"].astype(np.int64),
                "x_val": raw["x_val"] / 16.0, "y_val": raw["y_val"].astype(np.int64)}


def training_run(fns, seed, epochs, lr, batch_size, weight_decay, patience):
    """train_mlp on the digits (sizes 64-32-10): W1, b1, W2, b2 returned, then the history's
    val_loss per epoch and its best_epoch (as a (1,) array)."""
    params, history = fns["train_mlp"]([64, 32, 10], digits(), np.random.default_rng(int(seed)), int(epochs),
                                       float(lr), int(batch_size), float(weight_decay), int(patience))
    out = [_floats(a) for pair in params for a in pair]
    return (*out, _floats(history["val_loss"]).ravel(), _floats([history["best_epoch"]]))


def training_shapes(fns, seed, epochs, lr, batch_size, weight_decay, patience):
    """The shapes of what train_mlp returns on the digits (sizes 64-32-10), as ints: each
    W and b, then the lengths of history's train_loss, val_loss and val_accuracy."""
    params, history = fns["train_mlp"]([64, 32, 10], digits(), np.random.default_rng(int(seed)), int(epochs),
                                       float(lr), int(batch_size), float(weight_decay), int(patience))
    shapes = [np.array(np.shape(a), dtype=np.int64) for pair in params for a in pair]
    lengths = np.array([len(history[k]) for k in ("train_loss", "val_loss", "val_accuracy")], dtype=np.int64)
    return (*shapes, lengths)
