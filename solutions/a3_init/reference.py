"""Reference solution for a3_init. HIDDEN: never copied into the student folder.

Kaiming (He) initialisation: for a layer ``z = a @ W.T + b`` followed by ReLU, drawing
``W`` from ``N(0, 2 / fan_in)`` keeps the second moment of the pre-activations the same
from layer to layer (ReLU zeroes half of a symmetric input, halving ``E[a^2]``; the 2 puts
that half back). For a leaky ReLU / PReLU with slope ``a`` on the negative side the lost
fraction is ``(1 - a^2) / 2``, giving variance ``2 / ((1 + a^2) fan_in)``.
"""

import math

import numpy as np


def kaiming_std(fan_in, negative_slope=0.0):
    """std = sqrt(2 / ((1 + a^2) * fan_in)), a = negative_slope (ReLU: a = 0).

    fan_in: number of inputs to each unit (int > 0); returns: float.
    """
    return math.sqrt(2.0 / ((1.0 + float(negative_slope) ** 2) * float(fan_in)))


def kaiming_normal(fan_out, fan_in, rng, negative_slope=0.0):
    """W ~ N(0, kaiming_std(fan_in, negative_slope)^2), drawn from ``rng`` only.

    fan_out, fan_in: ints; rng: numpy.random.Generator; returns: (fan_out, fan_in) float64.
    """
    # Written out rather than calling kaiming_std, so each graded function stands alone.
    std = math.sqrt(2.0 / ((1.0 + float(negative_slope) ** 2) * float(fan_in)))
    return rng.normal(0.0, std, size=(int(fan_out), int(fan_in)))


def init_mlp(sizes, rng):
    """Kaiming-normal weights and zero biases for layer widths sizes = [d_in, h1, ..., d_out].

    Returns a list of len(sizes) - 1 pairs (W, b): W (out, in) ~ N(0, 2 / in), drawn in
    layer order from ``rng`` (as kaiming_normal(out, in, rng) would); b (out,) float64 zeros.
    """
    sizes = [int(s) for s in sizes]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        W = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_out, fan_in))
        b = np.zeros(fan_out, dtype=np.float64)
        params.append((W, b))
    return params


def activation_stds(params, x):
    """Standard deviation of every layer's pre-activation in a ReLU network's forward pass.

    params: list of (W (out, in), b (out,)); x: (N, d_in).
    a_0 = x; z_l = a_{l-1} @ W_l.T + b_l; a_l = max(z_l, 0) (ReLU between layers).
    Returns: list of L Python floats, std(z_l) over all N * out entries (np.std, ddof=0),
    taken before the ReLU.
    """
    a = np.asarray(x, dtype=np.float64)
    stds = []
    for index, (W, b) in enumerate(params):
        z = a @ np.asarray(W, dtype=np.float64).T + np.asarray(b, dtype=np.float64)
        stds.append(float(np.std(z)))
        if index < len(params) - 1:
            a = np.maximum(z, 0.0)
    return stds


def kaiming_init_(module):
    """Kaiming-normal init of a torch.nn.Module in place; returns the same module.

    Every nn.Linear and nn.Conv2d weight ~ N(0, 2 / fan_in), fan_in = in_features (Linear)
    or in_channels / groups * kernel_h * kernel_w (Conv2d: weight.shape[1:] product);
    every such bias set to zero. Uses torch's global generator (seed with torch.manual_seed).
    """
    import torch
    from torch import nn

    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                fan_in = math.prod(layer.weight.shape[1:])
                layer.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
                if layer.bias is not None:
                    layer.bias.zero_()
    return module
