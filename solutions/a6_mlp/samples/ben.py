"""ben: a6_mlp with two mistakes (tanh' without the square, the notes' dropout mask)."""
"""a6_mlp reference solution. HIDDEN: never ship this file to students.

Conventions (the contract, also stated in the stub notebook):
- a layer is a pair (W, b) with W of shape (out, in) and b of shape (out,): z = a @ W.T + b
  (as in a3's init_mlp and a4's output_layer_backward); ``params`` is a list of such pairs.
- derivatives at the kinks: relu'(0) = 0, leaky_relu'(0) = slope, elu'(0) = slope (the
  left-hand derivative, alpha * e^0); ``slope`` is leaky ReLU's negative slope and ELU's alpha.
- the last layer is linear (its output is the logits); mean softmax cross-entropy on top.
- ``cache`` is a list with one pair (a_prev, z) per layer: the layer's input and its
  pre-activation z = a_prev @ W.T + b (the last z is the logits).
- dropout: keep unit j when ``rng.random(x.shape)[j] >= p`` (one draw of the whole shape),
  scale the kept units by 1 / (1 - p) while training; identity at test time.
- batch norm: ``running`` is a dict {"mean": (D,), "var": (D,)}; training normalises by the
  batch mean and the biased batch variance and updates the running ones with
  new = (1 - momentum) * old + momentum * batch (variance: unbiased, N - 1, as PyTorch);
  eval normalises by the running statistics and leaves them unchanged.
"""

import numpy as np

KINDS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid")


def _sigmoid(z):
    """Stable logistic: exp only of non-positive numbers."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# The questions' functions never call each other (each uses these private helpers): in a
# "reference + one mistake" submission a broken activation_grad must cost points there only.

def activation(z, kind, slope=0.01):
    """phi(z) elementwise for kind in "relu", "leaky_relu", "elu", "tanh", "sigmoid".

    slope: leaky ReLU's negative slope and ELU's alpha. Stable for any z (no overflow warning).
    z: array of any shape (int or float); returns: float array of z's shape, z unchanged.
    """
    return _phi(z, kind, slope)


def activation_grad(z, kind, slope=0.01):
    """phi'(z) elementwise, at the pre-activation z, for the same kinds as activation.

    At the kinks the left derivative: relu'(0) = 0, leaky_relu'(0) = slope, elu'(0) = slope.
    sigmoid' = s (1 - s) with a stable s; tanh' = 1 - tanh(z)^2.
    returns: float array of z's shape, z unchanged.
    """
    return _phi_grad(z, kind, slope)


def _phi(z, kind, slope=0.01):
    z = np.asarray(z, dtype=np.float64)
    if kind == "relu":
        return np.maximum(z, 0.0)
    if kind == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if kind == "elu":
        return np.where(z > 0, z, slope * np.expm1(np.minimum(z, 0.0)))
    if kind == "tanh":
        return np.tanh(z)
    if kind == "sigmoid":
        return _sigmoid(z)
    raise ValueError(f"unknown activation {kind!r}")


def _phi_grad(z, kind, slope=0.01):
    z = np.asarray(z, dtype=np.float64)
    if kind == "relu":
        return (z > 0).astype(np.float64)
    if kind == "leaky_relu":
        return np.where(z > 0, 1.0, slope)
    if kind == "elu":
        return np.where(z > 0, 1.0, slope * np.exp(np.minimum(z, 0.0)))
    if kind == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if kind == "sigmoid":
        s = _sigmoid(z)
        return s * (1.0 - s)
    raise ValueError(f"unknown activation {kind!r}")


def mlp_forward(params, x, kind):
    """Forward pass of the MLP.

    params: [(W1, b1), ..., (WL, bL)], W (out, in), b (out,); x: (N, D); kind: activation name.
    Hidden layers: z = a_prev @ W.T + b, a = phi(z); the last layer is linear (z = logits).
    returns: (logits (N, C), cache), cache = [(a_prev, z), ...], one pair per layer.
    """
    return _forward(params, x, kind)


def _forward(params, x, kind):
    a = np.asarray(x, dtype=np.float64)
    cache = []
    for index, (W, b) in enumerate(params):
        z = a @ np.asarray(W, dtype=np.float64).T + np.asarray(b, dtype=np.float64)
        cache.append((a, z))
        a = z if index == len(params) - 1 else _phi(z, kind)
    return a, cache


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def mlp_backward(params, cache, y, kind):
    """Gradients of the mean softmax cross-entropy of the logits cache[-1][1] with labels y (N,).

    delta_L = (softmax(z_L) - onehot(y)) / N; for each layer dW = delta.T @ a_prev,
    db = sum of delta over samples; below it delta <- (delta @ W) * phi'(z_below).
    """
    return _backward(params, cache, y, kind)


def _backward(params, cache, y, kind):
    y = np.asarray(y, dtype=np.int64)
    z_top = np.asarray(cache[-1][1], dtype=np.float64)
    n = z_top.shape[0]
    delta = _softmax(z_top)
    delta[np.arange(n), y] -= 1.0
    delta /= n
    grads = []
    for index in range(len(params) - 1, -1, -1):
        a_prev = np.asarray(cache[index][0], dtype=np.float64)
        W = np.asarray(params[index][0], dtype=np.float64)
        grads.append((delta.T @ a_prev, delta.sum(axis=0)))
        if index > 0:
            delta = (delta @ W) * _phi_grad(cache[index - 1][1], kind)
    return grads[::-1]


def dropout_forward(x, p, rng, train):
    """Inverted dropout: x * mask / (1 - p) with mask = rng.random(x.shape) >= p while
    training (each unit kept with probability 1 - p); x unchanged (a copy) at test time,
    drawing nothing. Training always draws exactly once, rng.random(x.shape), even for p = 0."""
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x.copy()
    return x * (rng.random(x.shape) >= p) / (1.0 - p)


def batchnorm_forward(x, gamma, beta, running, train, momentum=0.1, eps=1e-5):
    """Batch norm of x (N, D): (out (N, D), new running dict {"mean", "var"}).

    out = gamma * (x - mean) / sqrt(var + eps) + beta, with the batch's mean and biased
    variance while training (running stats updated by momentum, variance unbiased), the
    running ones in eval (returned unchanged, as copies).
    """
    x = np.asarray(x, dtype=np.float64)
    mean_old = np.asarray(running["mean"], dtype=np.float64)
    var_old = np.asarray(running["var"], dtype=np.float64)
    if train:
        mean, var = x.mean(axis=0), x.var(axis=0)
        n = x.shape[0]
        new = {"mean": (1 - momentum) * mean_old + momentum * mean,
               "var": (1 - momentum) * var_old + momentum * var * n / (n - 1)}
    else:
        mean, var = mean_old, var_old
        new = {"mean": mean_old.copy(), "var": var_old.copy()}
    out = np.asarray(gamma) * (x - mean) / np.sqrt(var + eps) + np.asarray(beta)
    return out, new


def mse_loss(pred, target):
    """Mean over every entry of (pred - target)^2, a float."""
    diff = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return float(np.mean(diff**2))


def l1_loss(pred, target):
    """Mean over every entry of |pred - target|, a float."""
    diff = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return float(np.mean(np.abs(diff)))


def l2_penalty(params, lam):
    """lam * sum over layers of sum(W**2): the weights only, never the biases, a float."""
    return float(lam * sum(np.sum(np.asarray(W, dtype=np.float64) ** 2) for W, _ in params))


def _init(sizes, rng):
    """Kaiming-normal weights (out, in) ~ N(0, 2 / in) and zero biases, in layer order."""
    return [(rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in)), np.zeros(n_out))
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]


def _mean_ce(logits, y):
    centred = logits - logits.max(axis=1, keepdims=True)
    log_p = centred - np.log(np.exp(centred).sum(axis=1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(y)), y]))


def train_mlp(sizes, data, rng, epochs, lr, batch_size, weight_decay, patience):
    """Mini-batch SGD on a ReLU MLP with early stopping on the validation loss.

    data: {"x_train" (N, D), "y_train" (N,), "x_val", "y_val"}. Weights start Kaiming-normal
    from ``rng``, biases 0. Each epoch visits the training set in the order
    ``rng.permutation(N)``, in batches of ``batch_size``; a step is
    W -= lr * (dW + weight_decay * W), b -= lr * db (no decay on biases). After each epoch the
    mean cross-entropy on the validation set is measured; training stops once it has not
    improved (strictly decreased) for ``patience`` epochs in a row, and the parameters of the
    best epoch are returned.

    Returns (params, history), history = {"train_loss": [...], "val_loss": [...],
    "val_accuracy": [...]} (one float per epoch run) and "best_epoch" (0-based).
    """
    x, y = np.asarray(data["x_train"], dtype=np.float64), np.asarray(data["y_train"], dtype=np.int64)
    xv, yv = np.asarray(data["x_val"], dtype=np.float64), np.asarray(data["y_val"], dtype=np.int64)
    params = _init([int(s) for s in sizes], rng)
    history = {"train_loss": [], "val_loss": [], "val_accuracy": [], "best_epoch": 0}
    best, best_loss, waited = [(W.copy(), b.copy()) for W, b in params], np.inf, 0
    for epoch in range(int(epochs)):
        order = rng.permutation(len(y))
        losses = []
        for start in range(0, len(y), int(batch_size)):
            rows = order[start:start + int(batch_size)]
            logits, cache = _forward(params, x[rows], "relu")
            losses.append(_mean_ce(logits, y[rows]))
            grads = _backward(params, cache, y[rows], "relu")
            params = [(W - lr * (dW + weight_decay * W), b - lr * db)
                      for (W, b), (dW, db) in zip(params, grads, strict=True)]
        val_logits, _ = _forward(params, xv, "relu")
        val_loss = _mean_ce(val_logits, yv)
        history["train_loss"].append(float(np.mean(losses)))
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(float(np.mean(val_logits.argmax(axis=1) == yv)))
        if val_loss < best_loss:
            best, best_loss, waited = [(W.copy(), b.copy()) for W, b in params], val_loss, 0
            history["best_epoch"] = epoch
        else:
            waited += 1
            if waited >= patience:
                break
    return best, history


# --- common mistake: tanh_grad_without_square ---
def tanh_grad_without_square(z, kind, slope=0.01):
    z = np.asarray(z, dtype=np.float64)
    if kind == "tanh":
        return 1.0 - np.tanh(z)
    if kind == "relu":
        return (z > 0).astype(np.float64)
    if kind == "leaky_relu":
        return np.where(z > 0, 1.0, slope)
    if kind == "elu":
        return np.where(z > 0, 1.0, slope * np.exp(np.minimum(z, 0.0)))
    e = np.exp(-np.abs(z))
    s = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return s * (1.0 - s)

activation_grad = tanh_grad_without_square


# --- ben followed the notes' dropout mask ---
def dropout_notes_mask(x, p, rng, train):
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x.copy()
    keep = rng.random(x.shape) < p  # keeps a unit with the DROP probability
    return x * keep / (1.0 - p)

dropout_forward = dropout_notes_mask
