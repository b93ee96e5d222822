"""Checks for a6_mlp's training run. HIDDEN, grader process only.

``train_mlp`` draws its own batches, so two correct submissions end with different weights:
its outputs are judged here, not compared with the reference's. From the returned weights
this module computes, in the grader:

- the accuracy on the held-out digits test split (``DATA["digits_test"]``, never mounted in
  the sandbox), which must reach ``MIN_TEST_ACCURACY``;
- the validation loss of the returned weights, which must be the lowest loss in the returned
  history (early stopping returns the best epoch's parameters, not the last ones); these
  weights must clear the accuracy bar too.

The history is the submission's own data; it cannot buy points: a weight set passes only if
it classifies the unseen split, and a history whose minimum differs from what its weights
give fails.

Standalone: NumPy only.
"""

from pathlib import Path

import numpy as np

DATA = {}  # set by the grader (spec.MOUNTS and spec.GRADER_DATA): {"digits": ..., "digits_test": ...}

# The reference's 64-32-10 ReLU network reaches 0.94-0.96 on the test split over seeds
# (tests/assignments/test_a6_mlp.py); a working SGD loop that trains anything reaches 0.85 easily, a
# broken one (no learning, wrong sign) stays near chance, 0.10.
MIN_TEST_ACCURACY = 0.85
# Validation loss recomputed here against the history's: float64 on the same weights.
LOSS_RTOL = 1e-6
SIZES = (64, 32, 10)


def _split(name, keys):
    with np.load(Path(DATA[name]) / f"{name if name != 'digits' else 'digits_train_val'}.npz") as raw:
        return [raw[k] for k in keys]


def _layers(got):
    """[(W, b), ...] of the expected shapes as float64, or None."""
    layers = []
    for index, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        W, b = np.asarray(got[2 * index]), np.asarray(got[2 * index + 1])
        if W.shape != (n_out, n_in) or b.shape != (n_out,) or W.dtype.kind not in "fiu" or b.dtype.kind not in "fiu":
            return None
        layers.append((W.astype(np.float64), b.astype(np.float64)))
    return layers


def _logits(layers, x):
    a = np.asarray(x, dtype=np.float64) / 16.0
    for index, (W, b) in enumerate(layers):
        a = a @ W.T + b
        if index < len(layers) - 1:
            a = np.maximum(a, 0.0)
    return a


def _mean_ce(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(y)), y.astype(np.int64)]))


def test_accuracy(layers):
    x, y = _split("digits_test", ("x_test", "y_test"))
    return float(np.mean(_logits(layers, x).argmax(axis=1) == y))


def trains_to_accuracy(case, got, expected):
    """got: W1, b1, W2, b2 (probes.training_run), val_loss history, best_epoch."""
    if len(got) != 6:
        return "train_mlp did not return two layers and a history"
    layers = _layers(got)
    if layers is None:
        return "train_mlp should return [(W1, b1), (W2, b2)] with W (out, in) for sizes [64, 32, 10]"
    if not all(np.all(np.isfinite(W)) and np.all(np.isfinite(b)) for W, b in layers):
        return "the trained weights contain NaN or infinity"
    accuracy = test_accuracy(layers)
    if accuracy < MIN_TEST_ACCURACY:
        return (f"the returned network classifies {accuracy:.2f} of held-out digits correctly; "
                f"it should reach {MIN_TEST_ACCURACY:.2f} (chance is 0.10)")
    return None


def returns_best_epoch(case, got, expected):
    """The returned weights' validation loss is the history's lowest, and they are trained
    (the accuracy bar of ``trains_to_accuracy``: a consistent history alone earns nothing)."""
    untrained = trains_to_accuracy(case, got, expected)
    if untrained:
        return untrained
    layers = _layers(got)
    history = np.asarray(got[4], dtype=np.float64).ravel() if np.asarray(got[4]).size else None
    if layers is None or history is None or not np.all(np.isfinite(history)):
        return "train_mlp should return the two layers and a finite history['val_loss']"
    x, y = _split("digits", ("x_val", "y_val"))
    loss = _mean_ce(_logits(layers, x), y)
    best = float(history.min())
    if not np.isclose(loss, best, rtol=LOSS_RTOL, atol=0.0):
        return (f"the returned parameters have validation loss {loss:.4f}, but the best epoch in "
                f"history['val_loss'] had {best:.4f}: early stopping must return the best epoch's "
                "parameters, not the last ones")
    return None
