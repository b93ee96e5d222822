"""a3_init: questions, points and every test case (public and hidden). HIDDEN.

Three kinds of case:

- plain calls compared with the reference (``kaiming_std``);
- probes (``probes.py``) for calls a case cannot spell out: a ``numpy.random.Generator``
  built from an integer seed, a list of ``(W, b)`` pairs, a PyTorch module. Probes return
  raw data only (draws, weights, shapes, states), never a verdict; deterministic results
  (``activation_stds``, the public summaries' numbers) are compared with the reference's
  probe result, the rest is judged by ``checks.py``;
- random draws judged by a statistical check (``checks.py``): shape, mean, spread and the
  shape of the distribution, with thresholds derived in checks.py's docstring.

What data cannot show. Everything a probe sends is computed inside the submission's own
process, so a result proves what was returned, not how. Three properties are about *how*:
"draws only from the rng argument" (the reproducible cases, and the public summaries'
gaps between draws and np.random's next number: the global seeds are set in the sandbox,
and a function that memoises its draws by the generator's state would pass),
"returns the same object" (the grader sees only that the returned module holds the
initialised parameters: a copy passes), and "leaves its inputs unchanged" (the arguments
as they are after the call are read in the sandbox). A forged result can fake these
without knowing the right formula, so they carry few points: 2 per reproducible case and
1 per public summary (of 52 in all), 1 for returns_module, and 1 for activation_stds'
unchanged inputs (asked by one case only, as in a1).

Layer shapes have fan_in != fan_out (ratio at least 4/3 either way) wherever a fan-out
mistake should show, and every statistically checked weight tensor has at least 10,000
entries except in the deliberately small PyTorch model.
"""

import numpy as np

from autograder.course.cases import Case
from autograder.course.inputs import rng_for
from autograder.sandbox import Limits
from autograder.sandbox.limits import MiB

NAME = "a3_init"
TITLE = "a3_init: initialisation when training from scratch"
QUESTIONS = ("kaiming_std", "kaiming_normal", "init_mlp", "activation_stds", "kaiming_init_")

# kaiming_init_ runs PyTorch in the sandbox: importing torch alone maps ~640 MB of address
# space and takes one to a few seconds, so the NumPy defaults are too tight. A correct
# submission needs about 3 s in all (mostly the torch import); the bounds only bind on
# endless loops and runaway allocations.
LIMITS = Limits(cpu_seconds=60, wall_seconds=120, load_seconds=45, call_seconds=20,
                memory_bytes=3072 * MiB)


def _rng(name):
    return rng_for(NAME, name)


def _seed(name):
    """An integer seed for a probe, fixed by the case name."""
    return int(_rng(name).integers(0, 2**31 - 1))


def _a(values, dtype=np.float64):
    return np.array(values, dtype=dtype)


def kaiming_std_cases():
    q = "kaiming_std"
    return [
        Case(q, "lecture_500_units", "gives sqrt(2 / 500) = 0.0632 for a ReLU layer with 500 inputs",
             (500,), public=True),
        Case(q, "prelu_slope", "gives sqrt(2 / ((1 + 0.25^2) * 500)) for a PReLU with slope 0.25",
             (500,), {"negative_slope": 0.25}, public=True),
        Case(q, "conv_fan_in", "uses fan_in as given: a 3x3 conv over 64 channels has fan_in 576",
             (576,)),
        Case(q, "one_input", "gives sqrt(2) for fan_in = 1", (1,)),
        Case(q, "leaky_relu_0_01", "includes a small negative slope (leaky ReLU, a = 0.01)",
             (100,), {"negative_slope": 0.01}),
        Case(q, "slope_one_is_linear", "gives 1 / sqrt(fan_in) for slope 1 (the identity: no rectification)",
             (4096, 1.0)),
        Case(q, "slope_positional", "takes negative_slope as the second positional argument",
             (300, 0.5)),
    ]


def kaiming_normal_cases():
    q = "kaiming_normal"
    stats = {"probe": "kaiming_normal_sample", "check": "kaiming_normal_weights", "points": 2.0}
    return [
        Case(q, "summary", "output 1: the shape (fan_out, fan_in); output 2: the weights' root-mean-square, "
             "sqrt(2 / fan_in) within 10%; output 3: 0, the gap between two draws with the same seed under "
             "different global seeds; output 4: the gap to a draw with another seed (sqrt(2) times the "
             "spread); output 5: np.random's next number, as if the call never touched it",
             (300, 200, 7, 0.0), probe="kaiming_normal_summary", public=True, rtol=0.1),
        Case(q, "more_inputs_than_outputs",
             "draws N(0, 2 / fan_in) for a layer with more inputs than outputs (mean, spread, normal shape)",
             (256, 512, _seed("kn/wide")), **stats),
        Case(q, "more_outputs_than_inputs",
             "draws N(0, 2 / fan_in) for a layer with more outputs than inputs (mean, spread, normal shape)",
             (400, 150, _seed("kn/tall")), **stats),
        Case(q, "lecture_500_units", "draws N(0, 2 / 500) for the lecture's 500 x 500 layer",
             (500, 500, _seed("kn/lecture")), **stats),
        Case(q, "leaky_slope", "uses the negative slope: N(0, 2 / ((1 + a^2) fan_in)) with a = 0.5",
             (300, 400, _seed("kn/leaky"), 0.5), **stats),
        Case(q, "prelu_slope", "uses the negative slope a = 0.25 (a 3% smaller spread, on 250,000 draws)",
             (500, 500, _seed("kn/prelu"), 0.25), **stats),
        Case(q, "single_output", "works for fan_out = 1 (shape (1, fan_in))",
             (1, 20000, _seed("kn/single")), **stats),
        Case(q, "reproducible", "draws only from the rng argument: same seed, same weights; other seed, other "
             "weights; np.random's global state untouched",
             (64, 48, _seed("kn/repro"), 0.0), probe="kaiming_normal_reproducible", check="reproducible",
             points=2.0),
    ]


def init_mlp_cases():
    q = "init_mlp"
    stats = {"probe": "init_mlp_sample", "check": "init_mlp_params", "points": 2.0}
    return [
        Case(q, "summary", "output 1: one row (W rows, W columns, b length) per layer, W (out, in) and b (out,); "
             "output 2: every bias (all 0); output 3: 0, the gap between two draws with the same seed under "
             "different global seeds; output 4: the gap to a draw with another seed; output 5: np.random's "
             "next number, as if the call never touched it",
             (_a([20, 30, 10], dtype=np.int64), 5), probe="init_mlp_summary", public=True, rtol=0.15),
        Case(q, "mnist_mlp", "784-256-128-10 network: shapes, zero biases, Kaiming-normal weights per layer",
             (_a([784, 256, 128, 10], dtype=np.int64), _seed("mlp/mnist")), **stats),
        Case(q, "lecture_500_units", "three 500-unit layers: shapes, zero biases, Kaiming-normal weights",
             (_a([500, 500, 500, 500], dtype=np.int64), _seed("mlp/lecture")), **stats),
        Case(q, "widening", "a widening network (fan_in < fan_out): each layer uses its own fan_in",
             (_a([40, 300, 1200], dtype=np.int64), _seed("mlp/widen")), **stats),
        Case(q, "one_layer", "sizes [d_in, d_out] give a list with a single (W, b) pair",
             (_a([120, 90], dtype=np.int64), _seed("mlp/one")), **stats),
        Case(q, "reproducible", "draws only from the rng argument: same seed, same parameters; other seed, "
             "other parameters; np.random's global state untouched",
             (_a([30, 20, 10], dtype=np.int64), _seed("mlp/repro")), probe="init_mlp_reproducible",
             check="reproducible", points=2.0),
    ]


def _network(rng, sizes, std=None, bias_scale=0.0):
    """Flat (W1, b1, W2, b2, ...) for layer widths ``sizes``: W ~ N(0, std^2) (default
    sqrt(2 / fan_in)), b ~ N(0, bias_scale^2)."""
    arrays = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        scale = np.sqrt(2.0 / fan_in) if std is None else std(fan_in)
        arrays.append(rng.normal(0.0, scale, size=(fan_out, fan_in)))
        arrays.append(rng.normal(0.0, bias_scale, size=fan_out) if bias_scale else np.zeros(fan_out))
    return tuple(arrays)


def activation_stds_cases():
    q = "activation_stds"
    deep = [100] * 11  # the lecture's 10-layer experiment, 100 units wide to keep the inputs small
    exact = {"probe": "activation_stds_of", "atol": 0.0}  # vanishing spreads: compare relatively
    x_deep = _rng("act/deep/x").normal(size=(200, 100))
    hand_W1 = _a([[1.0, 0.0], [0.0, 1.0]])
    hand_W2 = _a([[1.0, -1.0]])
    return [
        Case(q, "by_hand", "x = [[1, 2], [-3, 4]], W1 = identity, W2 = [[1, -1]]: z1 = x, z2 = relu(x) @ [1, -1]",
             (_a([[1.0, 2.0], [-3.0, 4.0]]), hand_W1, np.zeros(2), hand_W2, np.zeros(1)), public=True, **exact),
        Case(q, "small_network", "a 3-layer Kaiming-initialised network on a (50, 8) batch, leaving x and "
             "every W and b as they were",
             (_rng("act/small/x").normal(size=(50, 8)), *_network(_rng("act/small"), [8, 16, 16, 4])),
             public=True, inputs_unchanged=True, **exact),
        Case(q, "lecture_small_weights", "10 layers initialised N(0, 0.01^2): the spreads shrink towards 0 "
             "layer by layer (compared relatively, however small)",
             (x_deep, *_network(_rng("act/deep/tiny"), deep, std=lambda n: 0.01)), **exact),
        Case(q, "lecture_xavier", "10 layers with variance 1/n: the spreads halve every two layers",
             (x_deep, *_network(_rng("act/deep/xavier"), deep, std=lambda n: np.sqrt(1.0 / n))), **exact),
        Case(q, "lecture_kaiming", "10 layers with variance 2/n: the spreads hold steady",
             (x_deep, *_network(_rng("act/deep/kaiming"), deep)), **exact),
        Case(q, "with_biases", "adds the biases b before taking the spread (non-zero biases)",
             (_rng("act/bias/x").normal(size=(30, 6)), *_network(_rng("act/bias"), [6, 9, 5], bias_scale=1.0)),
             **exact),
        Case(q, "non_square", "uses z = a @ W.T + b with W of shape (out, in) on non-square layers",
             (_rng("act/shapes/x").normal(size=(4, 7)), *_network(_rng("act/shapes"), [7, 5, 3, 2])), **exact),
        Case(q, "negative_inputs", "feeds x to the first layer as it is (no ReLU on the input itself)",
             (-np.abs(_rng("act/neg/x").normal(size=(20, 5))), *_network(_rng("act/neg"), [5, 6, 3])), **exact),
        Case(q, "single_layer", "returns a list of one float for a single layer",
             (_rng("act/one/x").normal(size=(25, 10)), *_network(_rng("act/one"), [10, 4])), **exact),
    ]


def kaiming_init_cases():
    q = "kaiming_init_"
    stats = {"probe": "kaiming_init_params", "check": "kaiming_init_weights", "points": 2.0}
    return [
        Case(q, "summary", "output 1: each Linear weight's root-mean-square in the module it returns (the "
             "module it was given); output 2: every bias (all 0); output 3: each Linear weight's "
             "root-mean-square, sqrt(2 / in_features) within 15%",
             ("mlp", 3), probe="kaiming_init_summary", public=True, rtol=0.15),
        Case(q, "mlp", "Linear layers of a 400-150-320-10 MLP: weights N(0, 2 / in_features), biases 0",
             ("mlp", _seed("torch/mlp")), **stats),
        Case(q, "cnn", "Conv2d layers (3x3 and 3x5 kernels) and a Linear: fan_in = in_channels x kernel area, "
             "biases 0", ("cnn", _seed("torch/cnn")), **stats),
        Case(q, "nested", "layers inside child modules, a Linear without bias, BatchNorm left untouched",
             ("nested", _seed("torch/nested")), **stats),
        Case(q, "small_model", "a small conv net: zero biases and Kaiming weights (spread checked loosely)",
             ("small", _seed("torch/small")), **stats),
        Case(q, "returns_module", "returns the module it was given (the same object, changed in place)",
             ("small", _seed("torch/returns")), probe="kaiming_init_returned", check="returns_module"),
    ]


def make_cases():
    return (kaiming_std_cases() + kaiming_normal_cases() + init_mlp_cases()
            + activation_stds_cases() + kaiming_init_cases())
