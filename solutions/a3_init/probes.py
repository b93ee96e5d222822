"""Probes for a3_init: how the grader calls functions that a plain case cannot call.

A probe runs inside the sandbox next to the student's code (and, for the expected value,
in the grader with the reference functions). It receives ``fns`` (name -> the
submission's function) and the case's plain arguments (ints, floats, arrays), builds what
the function needs (a ``numpy.random.Generator`` from an integer seed, a list of
``(W, b)`` pairs, a PyTorch module), calls the function and returns NumPy arrays only.

Data out, verdicts in the grader
================================

Everything in the sandbox after the submission's first line is hostile: it can rewrite
this module's functions, hook the probe's frames with ``sys.settrace``, patch NumPy or
PyTorch, hand back objects whose methods lie, or write its own result records. So a
probe never decides anything. It returns *raw data*: the draws themselves (a draw
repeated under two global seeds, the draw for another seed), the weights and biases of
a module after the call, shapes as integers, the next number of np.random's global
stream, a generator's state as integers. Never a 0/1 flag, never "within 10%". Every
equality, statistic and comparison is made in the grader: by ``checks.py`` (statistics,
reproducibility) or by comparing with this same probe run on the reference functions.

The test of the design: a forged or injected result can only carry values that the
submission could have computed honestly, so forging gains nothing. To pass a statistical
case, forged weights must themselves be N(0, 2 / fan_in) draws of the right shape, which
takes the right formula, exactly as a correct function would. What a result cannot prove
is *how* it was computed inside the sandbox; spec.py names the few properties that rest
on that (draws only from the given generator, the same module object returned) and keeps
their points low.

The few numbers the public summaries compute from the draws (a root-mean-square, the
gap between two draws) are data of the same kind, compared with the reference's in the
grader: a forger must send the right numbers, never just "passed".

Standalone: standard library, NumPy and (lazily) PyTorch; never the ``autograder`` package.
"""

import numpy as np

DATA = {}  # read-only data mounts (none for this assignment); set by the runner

# The global seeds a reproducibility probe sets before each draw. checks.py computes what
# np.random's stream gives after GLOBAL_SEEDS[2] from its own copy of NumPy.
GLOBAL_SEEDS = (11, 12, 13)
WORD = 2**64


def _floats(value):
    """A plain float64 ndarray copy (never a subclass) of what the submission returned."""
    return np.array(value, dtype=np.float64, copy=True, subok=False)


def _rms(values):
    """Root-mean-square as a (1,) array; NaN for an empty array (it then fails any comparison)."""
    values = _floats(values)
    return np.array([np.sqrt(np.mean(values**2)) if values.size else np.nan])


def _generator_state(rng):
    """The PCG64 state of ``rng`` as 4 uint64 words: state (high, low), increment (high, low)."""
    state = rng.bit_generator.state["state"]
    words = []
    for name in ("state", "inc"):
        value = int(state[name])
        words += [(value // WORD) % WORD, value % WORD]
    return np.array(words, dtype=np.uint64)


def _global_next_after(action):
    """np.random's next 63-bit integer after seeding it with GLOBAL_SEEDS[2] and running ``action``."""
    np.random.seed(GLOBAL_SEEDS[2])
    action()
    return np.array([np.random.randint(0, 2**63 - 1, dtype=np.int64)], dtype=np.int64)


def _reproducibility_data(draw, seed):
    """Raw data about a drawing function ``draw(rng)``, judged by ``checks.reproducible``:

    first:  draw(default_rng(seed)) after np.random.seed(11);
    second: draw(default_rng(seed)) after np.random.seed(12) (equal to first when only the
            given generator is used);
    other:  draw(default_rng(seed + 1)) (different from first);
    global_next: np.random's next integer after seed(13) and a draw (checks.py knows the
            value an untouched global stream gives);
    state_after: the generator's state after a draw (checks.py knows the state before).
    """
    np.random.seed(GLOBAL_SEEDS[0])
    first = _floats(draw(np.random.default_rng(seed)))
    np.random.seed(GLOBAL_SEEDS[1])
    second = _floats(draw(np.random.default_rng(seed)))
    other = _floats(draw(np.random.default_rng(seed + 1)))
    global_next = _global_next_after(lambda: draw(np.random.default_rng(seed)))
    rng = np.random.default_rng(seed)
    draw(rng)
    return first, second, other, global_next, _generator_state(rng)


def _reproducibility_summary(draw, seed):
    """For the public self-check, numbers that every correct implementation gives within a
    few percent: rms(first - second) (0), rms(first - other) (sqrt(2) times the spread of
    independent draws, 0 for a generator of its own) and np.random's next integer."""
    first, second, other, global_next, _ = _reproducibility_data(draw, seed)
    same_shape = first.shape == second.shape == other.shape
    repeat_gap = _rms(first - second) if same_shape else np.array([np.nan])
    other_gap = _rms(first - other) if same_shape else np.array([np.nan])
    return repeat_gap, other_gap, global_next


# --- kaiming_normal ---------------------------------------------------------------------

def kaiming_normal_sample(fns, fan_out, fan_in, seed, negative_slope=0.0):
    """The weights kaiming_normal draws from default_rng(seed), as float64."""
    rng = np.random.default_rng(seed)
    return _floats(fns["kaiming_normal"](fan_out, fan_in, rng, negative_slope=negative_slope))


def _kaiming_normal_draw(fns, fan_out, fan_in, negative_slope):
    function = fns["kaiming_normal"]
    return lambda rng: function(fan_out, fan_in, rng, negative_slope=negative_slope)


def kaiming_normal_reproducible(fns, fan_out, fan_in, seed, negative_slope=0.0):
    """(first, second, other, global_next, state_after) of kaiming_normal (see
    ``_reproducibility_data``)."""
    return _reproducibility_data(_kaiming_normal_draw(fns, fan_out, fan_in, negative_slope), seed)


def kaiming_normal_summary(fns, fan_out, fan_in, seed, negative_slope=0.0):
    """Public self-check, compared with the reference's values (rtol 10%):
    (shape, rms of the weights, rms(first - second), rms(first - other), global_next).

    10% is a loose band: with at least 10,000 weights a correct draw lands within 2% of
    the reference's, while 1/n instead of 2/n is off by 29%; uniform-vs-normal needs the
    hidden tests.
    """
    weights = kaiming_normal_sample(fns, fan_out, fan_in, seed, negative_slope)
    draw = _kaiming_normal_draw(fns, fan_out, fan_in, negative_slope)
    return (np.array(weights.shape, dtype=np.int64), _rms(weights), *_reproducibility_summary(draw, seed))


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


def _sizes(sizes):
    return [int(s) for s in np.asarray(sizes).ravel()]


def init_mlp_sample(fns, sizes, seed):
    """init_mlp([int sizes], default_rng(seed)) flattened: (shapes, all W entries, all b entries)."""
    return _flatten_params(fns["init_mlp"](_sizes(sizes), np.random.default_rng(seed)))


def _init_mlp_draw(fns, sizes):
    function, sizes = fns["init_mlp"], _sizes(sizes)
    return lambda rng: _flatten_params(function(list(sizes), rng))[1]


def init_mlp_reproducible(fns, sizes, seed):
    """(first, second, other, global_next, state_after) of init_mlp's weights (see
    ``_reproducibility_data``)."""
    return _reproducibility_data(_init_mlp_draw(fns, sizes), seed)


def init_mlp_summary(fns, sizes, seed):
    """Public self-check: (shapes, every bias, rms(first - second), rms(first - other),
    global_next), compared with the reference's values."""
    shapes, _, biases = init_mlp_sample(fns, sizes, seed)
    return (shapes, biases, *_reproducibility_summary(_init_mlp_draw(fns, sizes), seed))


# --- activation_stds --------------------------------------------------------------------

def activation_stds_of(fns, x, *weights_and_biases):
    """activation_stds([(W1, b1), (W2, b2), ...], x) as a float64 array.

    The arrays are passed on as they came, so the runner's copy of the arguments after
    the call shows whether the function changed them (a case with ``inputs_unchanged``).
    """
    arrays = list(weights_and_biases)
    params = [(arrays[i], arrays[i + 1]) for i in range(0, len(arrays), 2)]
    return _floats(fns["activation_stds"](params, x))


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
    """(what kaiming_init_ returned, the module it was given), built under torch.manual_seed(seed)."""
    import torch

    torch.manual_seed(int(seed))
    module = _architectures()[architecture]()
    returned = fns["kaiming_init_"](module)
    return returned, module


def _layers(module, kinds):
    """The layers of ``module`` of the given kinds, in registration order; [] for a non-module."""
    from torch import nn

    if not isinstance(module, nn.Module):
        return []
    return [layer for layer in nn.Module.modules(module) if isinstance(layer, kinds)]


def _numpy(tensor):
    """A float64 ndarray copy of a tensor (an empty array for None or a non-tensor)."""
    import torch

    if not isinstance(tensor, torch.Tensor):
        return np.zeros(0)
    return _floats(tensor.detach().to(torch.float64).cpu().numpy())


def _parameter_arrays(module, kinds):
    """[weight, bias, weight, bias, ...] of each layer of the given kinds (bias empty when absent)."""
    arrays = []
    for layer in _layers(module, kinds):
        arrays += [_numpy(getattr(layer, "weight", None)), _numpy(getattr(layer, "bias", None))]
    return arrays


def _initialised_kinds():
    from torch import nn

    return nn.Linear, nn.Conv2d, nn.BatchNorm2d


def kaiming_init_params(fns, architecture, seed):
    """Build ``architecture`` under torch.manual_seed(seed), call kaiming_init_(module).

    Returns, for each Linear / Conv2d / BatchNorm2d of the module it was GIVEN, in
    registration order, its weight and its bias (an empty array when it has none), float64.
    """
    _, module = _initialised(fns, architecture, seed)
    return tuple(_parameter_arrays(module, _initialised_kinds()))


def kaiming_init_returned(fns, architecture, seed):
    """(every parameter of the module it was given, every parameter of what it returned),
    each flattened into one float64 array in the same layer order; the second is empty when
    kaiming_init_ returned something other than a module."""
    returned, module = _initialised(fns, architecture, seed)
    kinds = _initialised_kinds()
    flat = [_concat([a.ravel() for a in _parameter_arrays(m, kinds)]) for m in (module, returned)]
    return tuple(flat)


def kaiming_init_summary(fns, architecture, seed):
    """Public self-check, compared with the reference's values (rtol 15%): (rms of each
    Linear/Conv2d weight of the module it returns, every Linear/Conv2d bias of the module it
    was given, rms of each Linear/Conv2d weight of the module it was given).

    Use it on layers of at least ~1,000 weights: there a correct draw is within 5% of the
    reference's.
    """
    from torch import nn

    returned, module = _initialised(fns, architecture, seed)
    kinds = (nn.Linear, nn.Conv2d)
    given = _parameter_arrays(module, kinds)
    back = _parameter_arrays(returned, kinds)
    return (_concat([_rms(w) for w in back[0::2]]), _concat(given[1::2]),
            _concat([_rms(w) for w in given[0::2]]))
