"""Independent oracles for a6_mlp's backward pass. HIDDEN, grader process only.

Called as ``oracle(kind, x, y, W1, b1, W2, b2, ...)`` (the arguments of
``probes.backward_grads``), they return dW1, db1, dW2, db2, ... without sharing code with
``reference.py``: torch.autograd of the network's own forward formula, and central finite
differences of a NumPy forward pass, so a slip in the hand-derived delta recursion shows up
as a disagreement (tests/assignments/test_a6_mlp.py checks all three agree).

Standalone on purpose (NumPy and torch only): copied next to spec.py in a built autograder.
"""

import numpy as np
import torch

# Central differences: rounding ~ eps |L| / h ~ 2e-16 * 3 / 1e-6 ~ 1e-9; truncation ~ h^2.
STEP = 1e-6
SLOPE = 0.01  # activation's default slope (leaky ReLU) and alpha (ELU)

_TORCH = {
    "relu": torch.relu,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, SLOPE),
    "elu": lambda z: torch.nn.functional.elu(z, SLOPE),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


def autograd_mlp_backward(kind, x, y, *flat):
    a = torch.tensor(np.asarray(x, dtype=np.float64))
    tensors = [torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in flat]
    layers = len(tensors) // 2
    for index in range(layers):
        a = a @ tensors[2 * index].T + tensors[2 * index + 1]
        if index < layers - 1:
            a = _TORCH[kind](a)
    loss = torch.nn.functional.cross_entropy(a, torch.as_tensor(np.asarray(y, dtype=np.int64)))
    loss.backward()
    return tuple(t.grad.numpy() for t in tensors)


def _np_activation(z, kind):
    if kind == "relu":
        return np.maximum(z, 0.0)
    if kind == "leaky_relu":
        return np.where(z > 0, z, SLOPE * z)
    if kind == "elu":
        return np.where(z > 0, z, SLOPE * np.expm1(np.minimum(z, 0.0)))
    if kind == "tanh":
        return np.tanh(z)
    return 1.0 / (1.0 + np.exp(-z))


def _np_loss(kind, x, y, values):
    a = np.asarray(x, dtype=np.float64)
    layers = len(values) // 2
    for index in range(layers):
        a = a @ values[2 * index].T + values[2 * index + 1]
        if index < layers - 1:
            a = _np_activation(a, kind)
    shifted = a - a.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -np.mean(log_p[np.arange(len(y)), np.asarray(y, dtype=np.int64)])


def finite_differences_mlp_backward(kind, x, y, *flat):
    values = [np.array(v, dtype=np.float64) for v in flat]
    grads = []
    for value in values:
        grad = np.zeros_like(value)
        for j in np.ndindex(value.shape):
            saved = value[j]
            value[j] = saved + STEP
            up = _np_loss(kind, x, y, values)
            value[j] = saved - STEP
            down = _np_loss(kind, x, y, values)
            value[j] = saved
            grad[j] = (up - down) / (2 * STEP)
        grads.append(grad)
    return tuple(grads)
