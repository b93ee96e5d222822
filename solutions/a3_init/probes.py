"""Probes for a3_init: how the grader calls functions that a plain case cannot call.

A probe runs inside the sandbox next to the student's code (and, for the expected value,
in the grader with the reference functions). It receives ``fns`` (name -> the
submission's function) and the case's plain arguments (ints, floats, arrays), builds what
the function needs (a ``numpy.random.Generator`` from an integer seed, a list of
``(W, b)`` pairs, a PyTorch module), calls the function and returns NumPy arrays only.

What a probe returns is untrusted: the grader checks it (``checks.py`` for statistical
tests, otherwise a value comparison with the reference's probe result). Standalone:
standard library, NumPy and (lazily) PyTorch; never the ``autograder`` package.
"""

import numpy as np

DATA = {}  # read-only data mounts (none for this assignment); set by the runner


def _floats(value):
    return np.array(np.asarray(value, dtype=np.float64), copy=True)


def _flag(condition):
    return 1.0 if condition else 0.0


def _global_draw_after(seed, action):
    """The next np.random.random() after seeding the global state and running ``action``."""
    np.random.seed(seed)
    action()
    return np.random.random()


def _reproducibility_flags(draw, seed):
    """Four 0/1 flags for a drawing function ``draw(rng)``:

    0. the same generator seed gives the same result, whatever np.random's global seed;
    1. a different generator seed gives a different result;
    2. np.random's global state is neither used nor advanced;
    3. the given generator is actually drawn from (its state advances).
    """
    np.random.seed(11)
    first = _floats(draw(np.random.default_rng(seed)))
    np.random.seed(12)
    second = _floats(draw(np.random.default_rng(seed)))
    other = _floats(draw(np.random.default_rng(seed + 1)))
    same = first.shape == second.shape and bool(np.array_equal(first, second))
    differs = first.shape != other.shape or not np.array_equal(first, other)
    untouched = _global_draw_after(13, lambda: None) == _global_draw_after(
        13, lambda: draw(np.random.default_rng(seed))
    )
    rng = np.random.default_rng(seed)
    before = rng.bit_generator.state
    draw(rng)
    advanced = rng.bit_generator.state != before
    return np.array([_flag(same), _flag(differs), _flag(untouched), _flag(advanced)])


# --- kaiming_normal ---------------------------------------------------------------------

def kaiming_normal_sample(fns, fan_out, fan_in, seed, negative_slope=0.0):
    """The weights kaiming_normal draws from default_rng(seed), as float64."""
    rng = np.random.default_rng(seed)
    return _floats(fns["kaiming_normal"](fan_out, fan_in, rng, negative_slope=negative_slope))


def kaiming_normal_reproducible(fns, fan_out, fan_in, seed, negative_slope=0.0):
    """Reproducibility flags (see ``_reproducibility_flags``) of kaiming_normal."""
    function = fns["kaiming_normal"]
    return _reproducibility_flags(
        lambda rng: function(fan_out, fan_in, rng, negative_slope=negative_slope), seed
    )


def kaiming_normal_summary(fns, fan_out, fan_in, seed, negative_slope=0.0):
    """Public self-check: (shape, 0/1 "std within 10% of the Kaiming std", reproducibility flags).

    10% is a loose band: with at least 10,000 weights a correct draw lands within 2% of
    the target, while 1/n instead of 2/n is off by 29% and uniform-vs-normal needs the
    hidden tests.
    """
    weights = kaiming_normal_sample(fns, fan_out, fan_in, seed, negative_slope)
    target = (2.0 / ((1.0 + negative_slope**2) * fan_in)) ** 0.5
    close = weights.size > 0 and abs(float(np.sqrt(np.mean(weights**2))) / target - 1.0) < 0.1
    flags = kaiming_normal_reproducible(fns, fan_out, fan_in, seed, negative_slope)
    return np.array(weights.shape, dtype=np.int64), np.array([_flag(close)]), flags


# --- init_mlp ---------------------------------------------------------------------------

def _flatten_params(params):
    """(shapes (L, 3) int: W rows, W cols, b length (-1 where not 2-D / 1-D); all W; all b)."""
    shapes, weights, biases = [], [], []
    for W, b in list(params):
        W, b = _floats(W), _floats(b)
        rows, cols = W.shape if W.ndim == 2 else (-1, -1)
        shapes.append([rows, cols, b.shape[0] if b.ndim == 1 else -1])
        weights.append(W.ravel())
        biases.append(b.ravel())
    return np.array(shapes, dtype=np.int64).reshape(-1, 3), _concat(weights), _concat(biases)


def _concat(parts):
    return np.concatenate(parts) if parts else np.zeros(0)


def init_mlp_sample(fns, sizes, seed):
    """init_mlp([int sizes], default_rng(seed)) flattened: (shapes, all W entries, all b entries)."""
    params = fns["init_mlp"]([int(s) for s in np.asarray(sizes).ravel()], np.random.default_rng(seed))
    return _flatten_params(params)


def init_mlp_reproducible(fns, sizes, seed):
    """Reproducibility flags (see ``_reproducibility_flags``) of init_mlp."""
    function = fns["init_mlp"]
    sizes = [int(s) for s in np.asarray(sizes).ravel()]
    return _reproducibility_flags(lambda rng: _flatten_params(function(list(sizes), rng))[1], seed)


def init_mlp_summary(fns, sizes, seed):
    """Public self-check: (shapes, 0/1 "every bias is exactly 0", reproducibility flags)."""
    shapes, _, biases = init_mlp_sample(fns, sizes, seed)
    zero = bool(np.all(biases == 0.0))
    return shapes, np.array([_flag(zero)]), init_mlp_reproducible(fns, sizes, seed)


# --- activation_stds --------------------------------------------------------------------

def activation_stds_of(fns, x, *weights_and_biases):
    """activation_stds([(W1, b1), (W2, b2), ...], x) as a float64 array.

    Second output: 1.0 when the call left x and every W and b exactly as given.
    """
    arrays = [np.asarray(a) for a in weights_and_biases]
    params = [(arrays[i], arrays[i + 1]) for i in range(0, len(arrays), 2)]
    copies = [np.array(a, copy=True) for a in (x, *arrays)]
    stds = _floats(fns["activation_stds"](params, x))
    unchanged = all(np.array_equal(a, c) for a, c in zip((x, *arrays), copies, strict=True))
    return stds, np.array([_flag(unchanged)])


# --- kaiming_init_ (PyTorch) --------------------------------------------------------------

def _architectures():
    import torch
    from torch import nn

    class Block(nn.Module):
        """A nested module: layers inside a child, BatchNorm, a Linear without a bias."""

        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(32, 48, kernel_size=5), nn.BatchNorm2d(48), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            )
            self.head = nn.Linear(48, 256, bias=False)
            self.out = nn.Linear(256, 80)

        def forward(self, x):
            return self.out(torch.relu(self.head(self.features(x))))

    return {
        # Linear layers, fan_in != fan_out everywhere (a fan-out init shows).
        "mlp": lambda: nn.Sequential(nn.Linear(400, 150), nn.ReLU(), nn.Linear(150, 320), nn.ReLU(),
                                     nn.Linear(320, 10)),
        # Conv2d fan_in = in_channels * kernel area; a non-square kernel.
        "cnn": lambda: nn.Sequential(nn.Conv2d(16, 96, kernel_size=3), nn.ReLU(),
                                     nn.Conv2d(96, 48, kernel_size=(3, 5)), nn.ReLU(),
                                     nn.Flatten(), nn.Linear(480, 200)),
        "nested": Block,
        # A tiny model as in a first exercise.
        "small": lambda: nn.Sequential(nn.Conv2d(3, 8, kernel_size=3), nn.ReLU(), nn.Flatten(),
                                       nn.Linear(72, 4)),
    }


ARCHITECTURES = ("mlp", "cnn", "nested", "small")


def _initialised(fns, architecture, seed):
    """(whether kaiming_init_ returned the same object, the module it initialised)."""
    import torch

    torch.manual_seed(int(seed))
    module = _architectures()[architecture]()
    returned = fns["kaiming_init_"](module)
    return returned is module, module


def _layers(module, kinds):
    return [layer for layer in module.modules() if isinstance(layer, kinds)]


def _numpy(tensor):
    import torch

    return np.zeros(0) if tensor is None else tensor.detach().to(torch.float64).cpu().numpy().copy()


def kaiming_init_params(fns, architecture, seed):
    """Build ``architecture`` under torch.manual_seed(seed), call kaiming_init_(module).

    Returns: (1.0 if it returned the same module object else 0.0,) followed by, for each
    Linear / Conv2d / BatchNorm2d of the ORIGINAL module in registration order, its weight
    and its bias (an empty array when it has none), as float64.
    """
    from torch import nn

    same, module = _initialised(fns, architecture, seed)
    outputs = [np.array([_flag(same)])]
    for layer in _layers(module, (nn.Linear, nn.Conv2d, nn.BatchNorm2d)):
        outputs += [_numpy(layer.weight), _numpy(layer.bias)]
    return tuple(outputs)


def kaiming_init_summary(fns, architecture, seed):
    """Public self-check: three 0/1 flags, one output each (so feedback names the one that
    fails): the same object returned; every Linear/Conv2d bias exactly 0; every Linear/Conv2d
    weight's root-mean-square within 15% of sqrt(2 / fan_in).

    Use it on layers of at least ~1,000 weights: there a correct draw is within 5%.
    """
    from torch import nn

    same, module = _initialised(fns, architecture, seed)
    layers = _layers(module, (nn.Linear, nn.Conv2d))
    zero = all(layer.bias is None or bool(np.all(_numpy(layer.bias) == 0.0)) for layer in layers)
    close = True
    for layer in layers:
        weights = _numpy(layer.weight)
        target = (2.0 / np.prod(weights.shape[1:])) ** 0.5
        close = close and abs(float(np.sqrt(np.mean(weights**2))) / target - 1.0) < 0.15
    return np.array([_flag(same)]), np.array([_flag(zero)]), np.array([_flag(close)])
