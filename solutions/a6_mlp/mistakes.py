"""Common mistakes in a6_mlp, each a plausible wrong implementation. HIDDEN.

Each mistake is a standalone version of ONE function (it calls none of the other questions'
functions and no helper outside its own body), so "reference + this mistake" loses points on
that function only, and exams can call it on its own.
"""

import numpy as np

from autograder.course.mistakes import Mistake

# --- activation -----------------------------------------------------------------------


def activation_naive_sigmoid(z, kind, slope=0.01):
    z = np.asarray(z, dtype=np.float64)
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))  # exp(1000) overflows for z = -1000
    if kind == "relu":
        return np.maximum(z, 0.0)
    if kind == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if kind == "elu":
        return np.where(z > 0, z, slope * np.expm1(np.minimum(z, 0.0)))
    return np.tanh(z)


def activation_elu_without_minus_one(z, kind, slope=0.01):
    z = np.asarray(z, dtype=np.float64)
    if kind == "elu":
        return np.where(z > 0, z, slope * np.exp(np.minimum(z, 0.0)))
    if kind == "relu":
        return np.maximum(z, 0.0)
    if kind == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if kind == "tanh":
        return np.tanh(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# --- activation_grad ------------------------------------------------------------------


def relu_grad_one_at_zero(z, kind, slope=0.01):
    z = np.asarray(z, dtype=np.float64)
    if kind == "relu":
        return (z >= 0).astype(np.float64)  # relu'(0) taken as 1
    if kind == "leaky_relu":
        return np.where(z > 0, 1.0, slope)
    if kind == "elu":
        return np.where(z > 0, 1.0, slope * np.exp(np.minimum(z, 0.0)))
    if kind == "tanh":
        return 1.0 - np.tanh(z) ** 2
    e = np.exp(-np.abs(z))
    s = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return s * (1.0 - s)


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


def sigmoid_grad_unstable(z, kind, slope=0.01):
    z = np.asarray(z, dtype=np.float64)
    if kind == "sigmoid":
        e = np.exp(-z)  # overflows for z = -1000: inf / inf = nan
        return e / (1.0 + e) ** 2
    if kind == "relu":
        return (z > 0).astype(np.float64)
    if kind == "leaky_relu":
        return np.where(z > 0, 1.0, slope)
    if kind == "elu":
        return np.where(z > 0, 1.0, slope * np.exp(np.minimum(z, 0.0)))
    return 1.0 - np.tanh(z) ** 2


# --- mlp_forward ----------------------------------------------------------------------


def forward_activation_on_logits(params, x, kind):
    a = np.asarray(x, dtype=np.float64)
    cache = []
    for W, b in params:
        z = a @ np.asarray(W).T + np.asarray(b)
        cache.append((a, z))
        a = np.maximum(z, 0.0) if kind == "relu" else np.tanh(z) if kind == "tanh" else (
            1.0 / (1.0 + np.exp(-z)) if kind == "sigmoid" else np.where(z > 0, z, 0.01 * z)
            if kind == "leaky_relu" else np.where(z > 0, z, 0.01 * np.expm1(np.minimum(z, 0.0))))
    return a, cache  # the last layer too went through phi


def forward_without_bias(params, x, kind):
    a = np.asarray(x, dtype=np.float64)
    cache = []
    for index, (W, _b) in enumerate(params):
        z = a @ np.asarray(W).T
        cache.append((a, z))
        if index < len(params) - 1:
            a = np.maximum(z, 0.0) if kind == "relu" else np.tanh(z) if kind == "tanh" else (
                1.0 / (1.0 + np.exp(-z)) if kind == "sigmoid" else np.where(z > 0, z, 0.01 * z)
                if kind == "leaky_relu" else np.where(z > 0, z, 0.01 * np.expm1(np.minimum(z, 0.0))))
        else:
            a = z
    return a, cache


# --- mlp_backward ---------------------------------------------------------------------


def backward_without_activation_grad(params, cache, y, kind):
    y = np.asarray(y, dtype=np.int64)
    z = np.asarray(cache[-1][1], dtype=np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    delta = p / p.sum(axis=1, keepdims=True)
    delta[np.arange(len(y)), y] -= 1.0
    delta /= len(y)
    grads = []
    for index in range(len(params) - 1, -1, -1):
        grads.append((delta.T @ np.asarray(cache[index][0]), delta.sum(axis=0)))
        if index > 0:
            delta = delta @ np.asarray(params[index][0])  # Diag(phi'(z)) forgotten
    return grads[::-1]


def backward_grad_at_activation(params, cache, y, kind):
    y = np.asarray(y, dtype=np.int64)
    z = np.asarray(cache[-1][1], dtype=np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    delta = p / p.sum(axis=1, keepdims=True)
    delta[np.arange(len(y)), y] -= 1.0
    delta /= len(y)
    grads = []
    for index in range(len(params) - 1, -1, -1):
        a_prev = np.asarray(cache[index][0], dtype=np.float64)
        grads.append((delta.T @ a_prev, delta.sum(axis=0)))
        if index > 0:
            a = a_prev  # phi'(a) of the activation, where phi'(z) of the pre-activation belongs
            if kind == "relu":
                d = (a > 0).astype(np.float64)
            elif kind == "leaky_relu":
                d = np.where(a > 0, 1.0, 0.01)
            elif kind == "elu":
                d = np.where(a > 0, 1.0, 0.01 * np.exp(np.minimum(a, 0.0)))
            elif kind == "tanh":
                d = 1.0 - np.tanh(a) ** 2
            else:
                s = 1.0 / (1.0 + np.exp(-a))
                d = s * (1.0 - s)
            delta = (delta @ np.asarray(params[index][0])) * d
    return grads[::-1]


def backward_W_transposed(params, cache, y, kind):
    y = np.asarray(y, dtype=np.int64)
    z = np.asarray(cache[-1][1], dtype=np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    delta = p / p.sum(axis=1, keepdims=True)
    delta[np.arange(len(y)), y] -= 1.0
    delta /= len(y)
    grads = []
    for index in range(len(params) - 1, -1, -1):
        grads.append((delta.T @ np.asarray(cache[index][0]), delta.sum(axis=0)))
        if index > 0:
            zb = np.asarray(cache[index - 1][1], dtype=np.float64)
            if kind == "relu":
                d = (zb > 0).astype(np.float64)
            elif kind == "leaky_relu":
                d = np.where(zb > 0, 1.0, 0.01)
            elif kind == "elu":
                d = np.where(zb > 0, 1.0, 0.01 * np.exp(np.minimum(zb, 0.0)))
            elif kind == "tanh":
                d = 1.0 - np.tanh(zb) ** 2
            else:
                s = 1.0 / (1.0 + np.exp(-zb))
                d = s * (1.0 - s)
            delta = (delta @ np.asarray(params[index][0]).T) * d  # W.T where W belongs
    return grads[::-1]


# --- dropout_forward ------------------------------------------------------------------


def dropout_notes_mask(x, p, rng, train):
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x.copy()
    keep = rng.random(x.shape) < p  # keeps a unit with the DROP probability
    return x * keep / (1.0 - p)


def dropout_scaled_at_test_time(x, p, rng, train):
    x = np.asarray(x, dtype=np.float64)
    if not train:
        return x * p  # the notes' test-time scaling, by the rate; training is not scaled
    keep = rng.random(x.shape) >= p
    return x * keep


# --- batchnorm_forward ----------------------------------------------------------------


def batchnorm_batch_stats_in_eval(x, gamma, beta, running, train, momentum=0.1, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    mean, var = x.mean(axis=0), x.var(axis=0)  # batch statistics in eval mode too
    old_m, old_v = np.asarray(running["mean"], dtype=np.float64), np.asarray(running["var"], dtype=np.float64)
    if train:
        n = x.shape[0]
        new = {"mean": (1 - momentum) * old_m + momentum * mean,
               "var": (1 - momentum) * old_v + momentum * var * n / (n - 1)}
    else:
        new = {"mean": old_m.copy(), "var": old_v.copy()}
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, new


def batchnorm_updates_running_in_eval(x, gamma, beta, running, train, momentum=0.1, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    old_m, old_v = np.asarray(running["mean"], dtype=np.float64), np.asarray(running["var"], dtype=np.float64)
    mean, var = x.mean(axis=0), x.var(axis=0)
    n = x.shape[0]
    new = {"mean": (1 - momentum) * old_m + momentum * mean,  # updated in eval mode too
           "var": (1 - momentum) * old_v + momentum * var * n / (n - 1)}
    if train:
        return gamma * (x - mean) / np.sqrt(var + eps) + beta, new
    return gamma * (x - old_m) / np.sqrt(old_v + eps) + beta, new


# --- regression losses and the penalty ------------------------------------------------


def mse_summed(pred, target):
    return float(np.sum((np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)) ** 2))


def l1_summed(pred, target):
    return float(np.sum(np.abs(np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64))))


def l2_penalty_on_biases(params, lam):
    return float(lam * sum(np.sum(np.asarray(W) ** 2) + np.sum(np.asarray(b) ** 2) for W, b in params))


# --- train_mlp ------------------------------------------------------------------------


def early_stopping_keeps_last(sizes, data, rng, epochs, lr, batch_size, weight_decay, patience):
    x, y = np.asarray(data["x_train"], dtype=np.float64), np.asarray(data["y_train"], dtype=np.int64)
    xv, yv = np.asarray(data["x_val"], dtype=np.float64), np.asarray(data["y_val"], dtype=np.int64)
    sizes = [int(s) for s in sizes]
    params = [(rng.normal(0.0, np.sqrt(2.0 / i), size=(o, i)), np.zeros(o)) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]

    def forward(xs):
        a, cache = xs, []
        for index, (W, b) in enumerate(params):
            z = a @ W.T + b
            cache.append((a, z))
            a = z if index == len(params) - 1 else np.maximum(z, 0.0)
        return a, cache

    def mean_ce(logits, labels):
        s = logits - logits.max(axis=1, keepdims=True)
        log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return float(-np.mean(log_p[np.arange(len(labels)), labels]))

    history = {"train_loss": [], "val_loss": [], "val_accuracy": [], "best_epoch": 0}
    best_loss, waited = np.inf, 0
    for epoch in range(int(epochs)):
        order = rng.permutation(len(y))
        losses = []
        for start in range(0, len(y), int(batch_size)):
            rows = order[start:start + int(batch_size)]
            logits, cache = forward(x[rows])
            losses.append(mean_ce(logits, y[rows]))
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            delta = p / p.sum(axis=1, keepdims=True)
            delta[np.arange(len(rows)), y[rows]] -= 1.0
            delta /= len(rows)
            grads = []
            for index in range(len(params) - 1, -1, -1):
                grads.append((delta.T @ cache[index][0], delta.sum(axis=0)))
                if index > 0:
                    delta = (delta @ params[index][0]) * (cache[index - 1][1] > 0)
            params = [(W - lr * (dW + weight_decay * W), b - lr * db)
                      for (W, b), (dW, db) in zip(params, grads[::-1], strict=True)]
        val_logits, _ = forward(xv)
        val_loss = mean_ce(val_logits, yv)
        history["train_loss"].append(float(np.mean(losses)))
        history["val_loss"].append(val_loss)
        history["val_accuracy"].append(float(np.mean(val_logits.argmax(axis=1) == yv)))
        if val_loss < best_loss:
            best_loss, waited, history["best_epoch"] = val_loss, 0, epoch
        else:
            waited += 1
            if waited >= patience:
                break
    return params, history  # the last epoch's parameters, not the best one's


MISTAKES = [
    Mistake("activation_naive_sigmoid", "activation",
            "sigmoid as 1 / (1 + exp(-z)) overflows for large negative z: use exp of -|z| only",
            activation_naive_sigmoid),
    Mistake("activation_elu_without_minus_one", "activation",
            "ELU for z <= 0 is slope * (e^z - 1), not slope * e^z (it must be 0 at z = 0)",
            activation_elu_without_minus_one),
    Mistake("relu_grad_one_at_zero", "activation_grad",
            "relu'(0) is 0 by the kit's convention (z > 0, not z >= 0)", relu_grad_one_at_zero),
    Mistake("tanh_grad_without_square", "activation_grad",
            "tanh'(z) = 1 - tanh(z)^2: the square is missing", tanh_grad_without_square),
    Mistake("sigmoid_grad_unstable", "activation_grad",
            "sigmoid' as e^-z / (1 + e^-z)^2 overflows to inf / inf = nan for large negative z: use s(1 - s)"
            " with a stable s", sigmoid_grad_unstable),
    Mistake("forward_activation_on_logits", "mlp_forward",
            "the last layer is linear: phi is applied to the hidden layers only", forward_activation_on_logits),
    Mistake("forward_without_bias", "mlp_forward", "z = a_prev @ W.T + b: the bias is missing",
            forward_without_bias),
    Mistake("backward_without_activation_grad", "mlp_backward",
            "delta below a layer is (delta @ W) * phi'(z): the Diag(phi'(z)) factor is missing",
            backward_without_activation_grad),
    Mistake("backward_grad_at_activation", "mlp_backward",
            "phi' must be taken at the pre-activation z, not at the activation a = phi(z)",
            backward_grad_at_activation),
    Mistake("backward_W_transposed", "mlp_backward",
            "with W of shape (out, in), delta goes down as delta @ W, not delta @ W.T", backward_W_transposed),
    Mistake("dropout_notes_mask", "dropout_forward",
            "the mask keeps a unit when rng.random >= p (probability 1 - p); rng.random < p keeps it with the "
            "drop probability, as one set of lecture notes draws it", dropout_notes_mask),
    Mistake("dropout_scaled_at_test_time", "dropout_forward",
            "inverted dropout scales kept units by 1 / (1 - p) while training and does nothing at test time; "
            "scaling at test time (by p, as in the notes) is the older non-inverted form and wrong by the rate",
            dropout_scaled_at_test_time),
    Mistake("batchnorm_batch_stats_in_eval", "batchnorm_forward",
            "in eval mode batch norm normalises with the running statistics, not the batch's",
            batchnorm_batch_stats_in_eval),
    Mistake("batchnorm_updates_running_in_eval", "batchnorm_forward",
            "in eval mode the running statistics are returned unchanged", batchnorm_updates_running_in_eval),
    Mistake("mse_summed", "mse_loss",
            "mse_loss is the mean over entries; the notes' L2 sum is N times larger", mse_summed),
    Mistake("l1_summed", "l1_loss", "l1_loss is the mean over entries; the notes' L1 sum is N times larger",
            l1_summed),
    Mistake("l2_penalty_on_biases", "l2_penalty", "weight decay penalises the weights only, never the biases",
            l2_penalty_on_biases),
    Mistake("early_stopping_keeps_last", "train_mlp",
            "early stopping must return the parameters of the best validation epoch, not the last ones",
            early_stopping_keeps_last),
]
