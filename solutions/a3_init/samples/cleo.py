import math

import numpy as np
from torch import nn


def kaiming_std(fan_in, negative_slope=0.0):
    """Kaiming standard deviation sqrt(2 / ((1 + a^2) fan_in))."""
    gain = 2.0 / (1.0 + negative_slope ** 2)
    return math.sqrt(gain / fan_in)


def kaiming_normal(fan_out, fan_in, rng, negative_slope=0.0):
    """(fan_out, fan_in) weights from N(0, kaiming_std(fan_in, a)^2), drawn from rng."""
    return kaiming_std(fan_in, negative_slope) * rng.standard_normal((fan_out, fan_in))


def init_mlp(sizes, rng):
    """[(W, b), ...]: W (out, in) Kaiming-normal, b zeros."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers.append((kaiming_normal(n_out, n_in, rng), np.zeros(n_out)))
    return layers


def activation_stds(params, x):
    """Std of every pre-activation z_l = a_{l-1} W_l^T + b_l (ReLU between layers)."""
    out = []
    a = x
    for W, b in params:
        z = a @ W.T + b
        out.append(float(z.std()))
        a = np.maximum(0, z)
    return out


def kaiming_init_(module):
    """Kaiming-normal weights (fan_in) and zero biases for every Linear and Conv2d."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
