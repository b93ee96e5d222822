"""Independent oracles for a4_backprop's gradients. HIDDEN, grader process only.

Each oracle is called as ``oracle(*case.args, **case.kwargs)`` and returns what the
question's function must return. None of them shares code with ``reference.py``: they
differentiate the loss's own formula, so a slip in the reference's hand-derived gradient
would show up as a disagreement (tests/assignments/test_a4_backprop.py checks all three agree).

- ``autograd_*``: the mean loss written in float64 PyTorch, differentiated by
  ``.backward()``. Exact up to rounding, stable for logits as large as +-1e4.
- ``finite_differences_*``: central differences of the NumPy loss,
  ``(L(x + h e_j) - L(x - h e_j)) / 2h`` for every input entry ``j``, with ``h = STEP``.
  Only for moderate scores (|L| of order 1-10) away from the hinge's kinks; the grader
  compares against them with a looser tolerance (spec.FD_RTOL, spec.FD_ATOL).

Standalone on purpose (NumPy and torch only, never ``autograder``): it is copied next to
spec.py in the built autograder folder.
"""

import numpy as np
import torch

# Central differences: truncation error ~ h^2/6 |L'''| ~ 1e-13 for these smooth losses,
# rounding error ~ eps |L| / h ~ 2.2e-16 * 10 / 1e-6 ~ 2e-9. h = 1e-6 balances the two
# for float64 (the optimum is near eps^(1/3) ~ 6e-6) and keeps the total well below 1e-7.
STEP = 1e-6

# A hinge term closer than this to its kink makes a central difference straddle the kink
# (it would return a half-count); such an input is an authoring error, not a student's.
KINK_GUARD = 1e-4


# --- the mean losses of a2_losses, in float64 PyTorch ---------------------------------

def _t(x, grad=True):
    return torch.tensor(np.asarray(x, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def _torch_cross_entropy(z, y):
    rows = torch.arange(z.shape[0])
    return -(torch.log_softmax(z, dim=1)[rows, y]).mean()


def autograd_softmax_cross_entropy_grad(logits, y):
    z = _t(logits)
    _torch_cross_entropy(z, torch.as_tensor(np.asarray(y, dtype=np.int64))).backward()
    return z.grad.numpy()


def autograd_sigmoid_bce_grad(logits, targets):
    z = _t(logits)
    t = _t(targets, grad=False)
    # -t log s(z) - (1 - t) log(1 - s(z)), with log(1 - s(z)) = log s(-z): finite for any z.
    per_entry = -t * torch.nn.functional.logsigmoid(z) - (1 - t) * torch.nn.functional.logsigmoid(-z)
    (per_entry.sum() / z.shape[0]).backward()  # (N, C): sum over classes, mean over samples
    return z.grad.numpy()


def autograd_multiclass_hinge_grad(scores, y, margin=1.0):
    s = _t(scores)
    y = torch.as_tensor(np.asarray(y, dtype=np.int64))
    rows = torch.arange(s.shape[0])
    others = torch.ones_like(s)
    others[rows, y] = 0.0
    # relu's derivative is 0 at exactly 0: the contract's subgradient at ties.
    # (torch.clamp(x, min=0) would pass a gradient of 1 there.)
    terms = torch.relu(s - s[rows, y][:, None] + margin) * others
    (terms.sum() / s.shape[0]).backward()
    return s.grad.numpy()


def autograd_output_layer_backward(a_prev, W, b, y):
    a, w, bias = _t(a_prev), _t(W), _t(b)
    z = a @ w.T + bias
    _torch_cross_entropy(z, torch.as_tensor(np.asarray(y, dtype=np.int64))).backward()
    return w.grad.numpy(), bias.grad.numpy(), a.grad.numpy()


# --- the same losses in NumPy, differentiated numerically -------------------------------

def _np_cross_entropy(z, y):
    m = np.max(z, axis=1, keepdims=True)
    log_probs = z - m - np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(z.shape[0]), y])


def _np_binary_cross_entropy(z, t):
    # -log s(z) = log(1 + e^{-z}) = logaddexp(0, -z); -log(1 - s(z)) = logaddexp(0, z)
    per_entry = t * np.logaddexp(0.0, -z) + (1 - t) * np.logaddexp(0.0, z)
    return np.sum(per_entry) / z.shape[0]


def _hinge_terms(s, y, margin):
    rows = np.arange(s.shape[0])
    terms = s - s[rows, y][:, None] + margin
    terms[rows, y] = -np.inf  # the true class is not a term
    return terms


def _np_multiclass_hinge(s, y, margin):
    return np.sum(np.maximum(0.0, _hinge_terms(s, y, margin))) / s.shape[0]


def _central_differences(loss, x):
    """dloss/dx by central differences, one entry of x at a time."""
    x = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(x)
    for j in np.ndindex(x.shape):
        saved = x[j]
        x[j] = saved + STEP
        up = loss(x)
        x[j] = saved - STEP
        down = loss(x)
        x[j] = saved
        grad[j] = (up - down) / (2 * STEP)
    return grad


def finite_differences_softmax_cross_entropy_grad(logits, y):
    y = np.asarray(y, dtype=np.int64)
    return _central_differences(lambda z: _np_cross_entropy(z, y), logits)


def finite_differences_sigmoid_bce_grad(logits, targets):
    t = np.asarray(targets, dtype=np.float64)
    return _central_differences(lambda z: _np_binary_cross_entropy(z, t), logits)


def finite_differences_multiclass_hinge_grad(scores, y, margin=1.0):
    y = np.asarray(y, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    closest = np.min(np.abs(_hinge_terms(s, y, margin)))
    if closest < KINK_GUARD:
        raise ValueError(
            f"a hinge term is {closest:.2g} from its kink: central differences with step "
            f"{STEP:g} would straddle it; use the autograd oracle for this case"
        )
    return _central_differences(lambda x: _np_multiclass_hinge(x, y, margin), s)


def finite_differences_output_layer_backward(a_prev, W, b, y):
    a_prev, W, b = (np.asarray(v, dtype=np.float64) for v in (a_prev, W, b))
    y = np.asarray(y, dtype=np.int64)
    dW = _central_differences(lambda w: _np_cross_entropy(a_prev @ w.T + b, y), W)
    db = _central_differences(lambda c: _np_cross_entropy(a_prev @ W.T + c, y), b)
    da_prev = _central_differences(lambda a: _np_cross_entropy(a @ W.T + b, y), a_prev)
    return dW, db, da_prev
