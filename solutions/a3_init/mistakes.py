"""Common mistakes in a3_init, each a plausible wrong implementation. HIDDEN.

Each function is written the way a student might get it wrong; ``MISTAKES`` names it,
says which question it breaks and what is wrong. The first nine names are fixed for the
whole kit (exams and reports refer to them); the rest are further slips worth catching.
Every implementation stands alone (none calls another graded function), so a mistake
costs points on its own question only.
"""

import math

import numpy as np

from autograder.course.mistakes import Mistake

# --- kaiming_std ------------------------------------------------------------------------------


def kaiming_std_xavier(fan_in, negative_slope=0.0):
    return math.sqrt(1.0 / ((1.0 + negative_slope**2) * fan_in))


def kaiming_std_ignores_slope(fan_in, negative_slope=0.0):
    return math.sqrt(2.0 / fan_in)


def kaiming_std_slope_not_squared(fan_in, negative_slope=0.0):
    return math.sqrt(2.0 / ((1.0 + negative_slope) * fan_in))


def kaiming_std_returns_variance(fan_in, negative_slope=0.0):
    return 2.0 / ((1.0 + negative_slope**2) * fan_in)


# --- kaiming_normal ---------------------------------------------------------------------------


def kaiming_normal_fan_out(fan_out, fan_in, rng, negative_slope=0.0):
    std = math.sqrt(2.0 / ((1.0 + negative_slope**2) * fan_out))
    return rng.normal(0.0, std, size=(fan_out, fan_in))


def kaiming_normal_uniform(fan_out, fan_in, rng, negative_slope=0.0):
    # Same variance as the normal draw (bound = sqrt(3) * std), but a uniform distribution.
    bound = math.sqrt(3.0) * math.sqrt(2.0 / ((1.0 + negative_slope**2) * fan_in))
    return rng.uniform(-bound, bound, size=(fan_out, fan_in))


def kaiming_normal_global_rng(fan_out, fan_in, rng, negative_slope=0.0):
    std = math.sqrt(2.0 / ((1.0 + negative_slope**2) * fan_in))
    return np.random.normal(0.0, std, size=(fan_out, fan_in))


def kaiming_normal_own_generator(fan_out, fan_in, rng, negative_slope=0.0):
    std = math.sqrt(2.0 / ((1.0 + negative_slope**2) * fan_in))
    return np.random.default_rng(0).normal(0.0, std, size=(fan_out, fan_in))


def kaiming_normal_xavier(fan_out, fan_in, rng, negative_slope=0.0):
    std = math.sqrt(1.0 / ((1.0 + negative_slope**2) * fan_in))
    return rng.normal(0.0, std, size=(fan_out, fan_in))


def kaiming_normal_ignores_slope(fan_out, fan_in, rng, negative_slope=0.0):
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_out, fan_in))


def kaiming_normal_variance_as_scale(fan_out, fan_in, rng, negative_slope=0.0):
    variance = 2.0 / ((1.0 + negative_slope**2) * fan_in)
    return rng.normal(0.0, variance, size=(fan_out, fan_in))


def kaiming_normal_transposed(fan_out, fan_in, rng, negative_slope=0.0):
    std = math.sqrt(2.0 / ((1.0 + negative_slope**2) * fan_in))
    return rng.normal(0.0, std, size=(fan_in, fan_out))


# --- init_mlp ---------------------------------------------------------------------------------


def init_mlp_nonzero_bias(sizes, rng):
    # The old advice "start ReLU units with a small positive bias such as 0.01".
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        W = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_out, fan_in))
        params.append((W, np.full(fan_out, 0.01)))
    return params


def init_mlp_fan_out(sizes, rng):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        W = rng.normal(0.0, math.sqrt(2.0 / fan_out), size=(fan_out, fan_in))
        params.append((W, np.zeros(fan_out)))
    return params


def init_mlp_global_rng(sizes, rng):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        W = np.random.randn(fan_out, fan_in) * math.sqrt(2.0 / fan_in)
        params.append((W, np.zeros(fan_out)))
    return params


def init_mlp_fresh_generator_per_layer(sizes, rng):
    # Re-seeds a new generator for every layer: all layers of one width share their weights.
    params = []
    seed = int(rng.integers(2**31))
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layer_rng = np.random.default_rng(seed)
        W = layer_rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_out, fan_in))
        params.append((W, np.zeros(fan_out)))
    return params


def init_mlp_in_out_shapes(sizes, rng):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        W = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
        params.append((W, np.zeros(fan_out)))
    return params


def init_mlp_first_layer_fan_in_for_all(sizes, rng):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        W = rng.normal(0.0, math.sqrt(2.0 / sizes[0]), size=(fan_out, fan_in))
        params.append((W, np.zeros(fan_out)))
    return params


# --- activation_stds --------------------------------------------------------------------------


def activation_stds_after_relu(params, x):
    a, stds = x, []
    for W, b in params:
        a = np.maximum(a @ W.T + b, 0.0)
        stds.append(float(np.std(a)))
    return stds


def activation_stds_per_unit(params, x):
    a, stds = x, []
    for W, b in params:
        z = a @ W.T + b
        stds.append(float(np.mean(np.std(z, axis=0))))
        a = np.maximum(z, 0.0)
    return stds


def activation_stds_ignores_bias(params, x):
    a, stds = x, []
    for W, _ in params:
        z = a @ W.T
        stds.append(float(np.std(z)))
        a = np.maximum(z, 0.0)
    return stds


def activation_stds_relu_on_input(params, x):
    a, stds = x, []
    for W, b in params:
        z = np.maximum(a, 0.0) @ W.T + b
        stds.append(float(np.std(z)))
        a = z
    return stds


def activation_stds_no_relu(params, x):
    a, stds = x, []
    for W, b in params:
        a = a @ W.T + b
        stds.append(float(np.std(a)))
    return stds


def activation_stds_sample_std(params, x):
    a, stds = x, []
    for W, b in params:
        z = a @ W.T + b
        stds.append(float(np.std(z, ddof=1)))
        a = np.maximum(z, 0.0)
    return stds


def activation_stds_relu_in_place(params, x):
    # Applies the ReLU in place on the input array of the first layer: changes the caller's x.
    a, stds = x, []
    for W, b in params:
        z = a @ W.T + b
        stds.append(float(np.std(z)))
        np.maximum(a, 0.0, out=a)
        a = np.maximum(z, 0.0)
    return stds


# --- kaiming_init_ (PyTorch) ------------------------------------------------------------------


def kaiming_init_fan_out(module):
    from torch import nn

    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def kaiming_init_keeps_bias(module):
    from torch import nn

    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    return module


def kaiming_init_uniform(module):
    from torch import nn

    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def kaiming_init_linear_only(module):
    from torch import nn

    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def kaiming_init_channels_as_fan_in(module):
    import torch
    from torch import nn

    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                fan_in = layer.weight.shape[1]  # forgets the kernel area of a Conv2d
                layer.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
                if layer.bias is not None:
                    layer.bias.zero_()
    return module


def kaiming_init_zeroes_all_vectors(module):
    # Treats every 1-D parameter as a bias: BatchNorm's scale becomes 0 too.
    from torch import nn

    for parameter in module.parameters():
        if parameter.dim() > 1:
            nn.init.kaiming_normal_(parameter, nonlinearity="relu")
        else:
            nn.init.zeros_(parameter)
    return module


def kaiming_init_returns_none(module):
    from torch import nn

    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def kaiming_init_xavier(module):
    from torch import nn

    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_normal_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


MISTAKES = [
    Mistake("kaiming_xavier_variance", "kaiming_std",
            "uses variance 1/n (Xavier-style) instead of 2/n for ReLU", kaiming_std_xavier),
    Mistake("kaiming_ignores_slope", "kaiming_std",
            "ignores the negative slope: sqrt(2 / n) instead of sqrt(2 / ((1 + a^2) n))",
            kaiming_std_ignores_slope),
    Mistake("kaiming_slope_not_squared", "kaiming_std",
            "uses (1 + a) instead of (1 + a^2) for the negative slope", kaiming_std_slope_not_squared),
    Mistake("kaiming_std_returns_variance", "kaiming_std",
            "returns the variance 2 / n instead of its square root", kaiming_std_returns_variance),
    Mistake("kaiming_fan_out", "kaiming_normal",
            "scales by the number of outputs (fan_out) instead of the number of inputs (fan_in)",
            kaiming_normal_fan_out),
    Mistake("kaiming_uniform", "kaiming_normal",
            "draws from a uniform distribution (with the right variance) instead of a normal one",
            kaiming_normal_uniform),
    Mistake("kaiming_global_rng", "kaiming_normal",
            "draws from np.random's global state instead of the given generator", kaiming_normal_global_rng),
    Mistake("kaiming_own_generator", "kaiming_normal",
            "creates its own generator with a fixed seed instead of using the given one",
            kaiming_normal_own_generator),
    Mistake("kaiming_normal_xavier_variance", "kaiming_normal",
            "draws with variance 1/n instead of 2/n", kaiming_normal_xavier),
    Mistake("kaiming_normal_ignores_slope", "kaiming_normal",
            "draws with variance 2/n whatever the negative slope", kaiming_normal_ignores_slope),
    Mistake("kaiming_variance_as_scale", "kaiming_normal",
            "passes the variance 2/n where the normal draw wants the standard deviation",
            kaiming_normal_variance_as_scale),
    Mistake("kaiming_normal_transposed", "kaiming_normal",
            "returns shape (fan_in, fan_out) instead of (fan_out, fan_in)", kaiming_normal_transposed),
    Mistake("init_nonzero_bias", "init_mlp",
            "starts the biases at 0.01 instead of 0 (some notes advise 0.01, which kept ReLU units alive when"
            " weights were tiny; with Kaiming weights half the units are active anyway and the variance rule"
            " that gives sigma assumes b = 0)", init_mlp_nonzero_bias),
    Mistake("init_mlp_fan_out", "init_mlp",
            "scales each layer by its number of outputs instead of its inputs", init_mlp_fan_out),
    Mistake("init_mlp_global_rng", "init_mlp",
            "draws from np.random's global state instead of the given generator", init_mlp_global_rng),
    Mistake("init_mlp_reseeded_layers", "init_mlp",
            "builds a freshly seeded generator for every layer, so layers repeat each other's weights",
            init_mlp_fresh_generator_per_layer),
    Mistake("init_mlp_in_out_shapes", "init_mlp",
            "gives W shape (in, out) instead of (out, in)", init_mlp_in_out_shapes),
    Mistake("init_mlp_input_width_everywhere", "init_mlp",
            "uses the network's input width as fan_in for every layer", init_mlp_first_layer_fan_in_for_all),
    Mistake("stds_after_relu", "activation_stds",
            "takes the standard deviation after the ReLU instead of before", activation_stds_after_relu),
    Mistake("stds_per_unit_averaged", "activation_stds",
            "averages per-unit standard deviations instead of taking one over all entries",
            activation_stds_per_unit),
    Mistake("stds_ignore_bias", "activation_stds",
            "leaves the bias out of the pre-activation", activation_stds_ignores_bias),
    Mistake("stds_relu_on_input", "activation_stds",
            "applies the ReLU before each layer, the input x included", activation_stds_relu_on_input),
    Mistake("stds_no_relu", "activation_stds",
            "forgets the ReLU between layers (a linear network)", activation_stds_no_relu),
    Mistake("stds_sample_ddof", "activation_stds",
            "uses the sample standard deviation (ddof=1) instead of np.std's default",
            activation_stds_sample_std),
    Mistake("stds_relu_in_place", "activation_stds",
            "applies the ReLU in place, modifying the caller's x", activation_stds_relu_in_place),
    Mistake("torch_init_fan_out", "kaiming_init_",
            "uses mode='fan_out' (outputs x kernel area) instead of fan_in", kaiming_init_fan_out),
    Mistake("torch_init_keeps_bias", "kaiming_init_",
            "re-draws the weights but leaves PyTorch's default (non-zero) biases", kaiming_init_keeps_bias),
    Mistake("torch_init_uniform", "kaiming_init_",
            "uses kaiming_uniform_ instead of kaiming_normal_", kaiming_init_uniform),
    Mistake("torch_init_linear_only", "kaiming_init_",
            "initialises Linear layers but leaves Conv2d layers at PyTorch's default", kaiming_init_linear_only),
    Mistake("torch_init_channels_as_fan_in", "kaiming_init_",
            "takes in_channels as a Conv2d's fan_in, forgetting the kernel area",
            kaiming_init_channels_as_fan_in),
    Mistake("torch_init_zeroes_all_vectors", "kaiming_init_",
            "zeroes every 1-D parameter, BatchNorm's scale included", kaiming_init_zeroes_all_vectors),
    Mistake("torch_init_returns_none", "kaiming_init_",
            "changes the module in place but returns None", kaiming_init_returns_none),
    Mistake("torch_init_xavier", "kaiming_init_",
            "uses xavier_normal_ (variance 2 / (fan_in + fan_out)) instead of Kaiming", kaiming_init_xavier),
]
