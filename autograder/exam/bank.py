"""The kit's built-in question templates, one per course topic (see the lecture notes).

Every key is computed by a reference solution (``solutions/<a>/reference.py``) and, where
the kit has one, every distractor by a named common mistake (``solutions/<a>/mistakes.py``),
called on the same arguments. Where the kit has no implementation of a misconception
(L1/L2 penalties, counting parameters, the two-class softmax) the template names its own
exam-only mistakes; they are marked ``exam:`` in manifests and feedback.

Parameters are JSON-native (ints, floats rounded when drawn, lists) and are printed
exactly (``markup.num``), so the key is computed from exactly the numbers on the page, the
manifest holds what each student saw and a regrade can re-solve them. Formulas carry a
Typst form (PDF), a plain form and a TeX form (LMS text, for MathJax).
"""

from __future__ import annotations

import numpy as np

from ..course.calling import copy_arguments, sandbox_float_rules
from . import references as refs
from .markup import Math, eq, mat, num, sym, vec
from .model import Distractor, Option, Solution, Template


def _call(assignment: str, function: str, *args, **kwargs):
    return refs.function(assignment, function)(*args, **kwargs)


def kit_distractors(assignment: str, function: str, names, args, kwargs=None, pick=None):
    """The named mistakes of ``function``, each called like the reference; ``pick`` maps
    the function's result to the asked number."""
    pick = pick or (lambda r: float(r))
    found = []
    for name in names:
        mistake = refs.mistake(assignment, name)
        if mistake.question != function:
            raise refs.ReferenceMissing(f"mistake {name} breaks {mistake.question}, not {function}")
        copies, kw_copies = copy_arguments(args, kwargs)
        with sandbox_float_rules():
            try:
                value = float(pick(mistake.implementation(*copies, **kw_copies)))
            except (ValueError, ZeroDivisionError, OverflowError, FloatingPointError):
                value = float("nan")
        found.append(Distractor(name, mistake.description, value))
    return found


def exam_mistake(name: str, description: str, value: float) -> Distractor:
    """A misconception the kit has no implementation of; named ``exam:<name>``."""
    return Distractor(f"exam:{name}", description, float(value))


def _ints(rng, low, high, shape):
    return rng.integers(low, high + 1, size=shape).tolist()


def _decimals(rng, low, high, shape, places=1):
    return np.round(rng.uniform(low, high, size=shape), places).tolist()


# --- a1: softmax, log-softmax, sigmoid, decisions ---------------------------------------

class SoftmaxAxis(Template):
    id, topic, kind = "softmax_axis", "softmax", "numeric"
    title = "Softmax along an axis"
    assignments = ("a1_softmax",)
    rtol, atol = 0.01, 1e-4

    def draw(self, rng):
        return {"Z": _ints(rng, -2, 3, (2, 3)), "i": int(rng.integers(2)), "j": int(rng.integers(3))}

    def solve(self, p):
        Z = np.array(p["Z"], dtype=float)
        i, j = p["i"], p["j"]
        key = _call("a1_softmax", "softmax", Z, axis=0)[i, j]
        return Solution(key, kit_distractors("a1_softmax", "softmax", ["softmax_ignores_axis"], (Z,),
                                             {"axis": 0}, lambda r: r[i, j]))

    def prompt(self, p):
        return ["The scores of 2 samples (rows) for 3 classes are ", eq(sym("Z", tex="Z"), mat(p["Z"])),
                ". A softmax taken along axis 0 (over the rows, so that every column sums to 1) gives ",
                sym("P = \"softmax\"(Z, \"axis\"=0)", "P = softmax(Z, axis=0)",
                    r"P = \operatorname{softmax}(Z, \text{axis}=0)"), ". What is ",
                sym(f"P_({p['i'] + 1},{p['j'] + 1})", f"P[{p['i'] + 1},{p['j'] + 1}]",
                    f"P_{{{p['i'] + 1},{p['j'] + 1}}}"),
                " (row ", str(p["i"] + 1), ", column ", str(p["j"] + 1), ")?"]


class LogSoftmaxLarge(Template):
    id, topic, kind = "log_softmax_large", "log-softmax", "choice"
    title = "log-softmax of large scores"
    assignments = ("a1_softmax",)
    rtol, atol = 0.01, 1e-3
    version = 2  # v1 printed base - gap with 4 significant digits (1498.6 as 1499)

    def draw(self, rng):
        base = int(rng.choice([800, 1000, 1200, 1500]))
        second = float(np.round(base - rng.uniform(0.5, 2.0), 1))  # rounded first, then solved
        return {"z": [base, second]}

    @staticmethod
    def scores(p) -> list[float]:
        return p["z"] if "z" in p else [p["base"], p["base"] - p["gap"]]  # v1 manifests

    def solve(self, p):
        z = np.array(self.scores(p), dtype=float)
        key = _call("a1_softmax", "log_softmax", z)[1]
        wrong = kit_distractors("a1_softmax", "log_softmax", ["unstable_log_softmax"], (z,),
                                pick=lambda r: r[1])
        wrong.append(exam_mistake("drops_normaliser", "takes z_k - max(z) and forgets the log-sum-exp "
                                  "term", z[1] - z.max()))
        return Solution(key, wrong)

    def prompt(self, p):
        z = vec(self.scores(p))
        return ["A classifier outputs the scores ", eq(sym("bold(z)", "z", r"\mathbf{z}"), z),
                " for two classes. What is the exact value of ",
                sym("log \"softmax\"(bold(z))_2", "log softmax(z)_2", r"\log \operatorname{softmax}(\mathbf{z})_2"),
                ", as a numerically stable implementation computes it in float64?"]


class SigmoidTwoClass(Template):
    id, topic, kind = "sigmoid_two_class", "sigmoid vs two-class softmax", "numeric"
    title = "One sigmoid output equals a two-class softmax"
    assignments = ("a1_softmax",)
    rtol, atol = 0.01, 1e-3
    version = 2  # v1 asked for P(y=2) itself, readable off the softmax without the equivalence

    def draw(self, rng):
        return {"z": _decimals(rng, -2.0, 2.0, 2)}

    def solve(self, p):
        """t = z_2 - z_1, checked with the reference: sigma(t) == softmax(z)_2."""
        z = np.array(p["z"], dtype=float)
        key = float(z[1] - z[0])
        p2 = float(_call("a1_softmax", "softmax", z)[1])
        if not np.isclose(float(_call("a1_softmax", "sigmoid", np.array(key))), p2, rtol=1e-12, atol=0):
            raise AssertionError("reference softmax and sigmoid disagree on two classes")
        return Solution(key, [
            exam_mistake("difference_reversed", "takes t = z_1 - z_2, the logit of the other class", z[0] - z[1]),
            exam_mistake("own_score_as_logit", "takes t = z_2 alone, ignoring the other class's score", z[1]),
            exam_mistake("probability_not_logit", "gives the probability softmax(z)_2 instead of the logit t",
                         p2),
        ])

    def prompt(self, p):
        sigma = sym("sigma(t) = 1 / (1 + e^(-t))", "σ(t) = 1 / (1 + e^(−t))", r"\sigma(t) = 1 / (1 + e^{-t})")
        return ["A two-class softmax classifier gives the scores ",
                eq(sym("(z_1, z_2)", tex="(z_1, z_2)"), vec(p["z"])),
                " and predicts ", sym("P(y=2) = \"softmax\"(z)_2", "P(y=2) = softmax(z)_2",
                                       r"P(y=2) = \operatorname{softmax}(z)_2"),
                ". The same classifier can be written with one sigmoid output, ",
                sym("P(y=2) = sigma(t)", "P(y=2) = σ(t)", r"P(y=2) = \sigma(t)"), " with ", sigma,
                ". For these scores, which value of ", sym("t", tex="t"),
                " gives exactly the same probability?"]


class MultilabelDecision(Template):
    id, topic, kind = "multilabel_decision", "multi-label decisions", "multi"
    title = "Which labels does a multi-label classifier predict?"
    assignments = ("a1_softmax",)
    version = 2  # v1 could draw no label above the threshold (an empty key)

    def draw(self, rng):
        threshold = float(rng.choice([0.3, 0.4, 0.5, 0.6]))
        probs = np.round(rng.uniform(0.02, 0.98, size=5), 2)
        probs[int(rng.integers(5))] = threshold  # one label exactly at the threshold
        return {"probs": probs.tolist(), "threshold": threshold}

    def solve(self, p):
        probs = np.array([p["probs"]])
        chosen = _call("a1_softmax", "predict_multilabel", probs, threshold=p["threshold"])[0]
        at = [c == p["threshold"] for c in p["probs"]]
        options = [Option([f"label {c + 1}"], bool(chosen[c]),
                          "threshold_greater_equal" if at[c] else None,
                          "counts a probability equal to the threshold as positive" if at[c] else "")
                   for c in range(len(p["probs"]))]
        return Solution(options=options)

    def prompt(self, p):
        return ["An image classifier has one sigmoid output per label; for one image they are ",
                eq(sym("bold(p)", "p", r"\mathbf{p}"), vec(p["probs"])), ". A label is predicted present when its "
                "probability is strictly greater than the threshold ", eq(sym("t", tex="t"), num(p["threshold"])),
                ". Select every label that is predicted present."]


class MulticlassVsMultilabel(Template):
    id, topic, kind = "multiclass_vs_multilabel", "multi-class vs multi-label", "multi"
    title = "Multi-class versus multi-label decisions on the same scores"
    assignments = ("a1_softmax",)

    def draw(self, rng):
        z = _decimals(rng, -3.0, 3.0, 4)
        return {"z": z}

    def solve(self, p):
        z = np.array([p["z"]])
        winner = int(_call("a1_softmax", "predict_multiclass", _call("a1_softmax", "softmax", z))[0])
        present = _call("a1_softmax", "predict_multilabel", _call("a1_softmax", "sigmoid", z))[0]
        options = [Option([f"softmax (multi-class): class {c + 1} is the prediction"], c == winner)
                   for c in range(4)]
        options += [Option([f"sigmoid per class (multi-label, threshold 0.5): class {c + 1} is present"],
                           bool(present[c])) for c in range(4)]
        if len({p_ for p_ in p["z"]}) < 4 or 0.0 in p["z"]:
            options.append(options[0])  # ties or a score of exactly 0: rejected by the duplicate check
        return Solution(options=options)

    def prompt(self, p):
        return ["A network outputs the scores ", eq(sym("bold(z)", "z", r"\mathbf{z}"), vec(p["z"])),
                " for 4 classes. Select every true statement."]


# --- a2: losses -------------------------------------------------------------------------

class CrossEntropyBatch(Template):
    id, topic, kind = "cross_entropy_batch", "cross-entropy", "numeric"
    title = "Mean cross-entropy of a batch"
    assignments = ("a2_losses",)
    rtol, atol = 0.01, 1e-3

    def draw(self, rng):
        n = int(rng.integers(2, 4))
        return {"logits": _ints(rng, -2, 3, (n, 3)), "y": _ints(rng, 0, 2, (n,))}

    def solve(self, p):
        logits, y = np.array(p["logits"], dtype=float), np.array(p["y"])
        key = _call("a2_losses", "cross_entropy", logits, y)
        return Solution(key, kit_distractors("a2_losses", "cross_entropy", ["ce_sum_not_mean"], (logits, y)))

    def prompt(self, p):
        labels = vec([y + 1 for y in p["y"]])
        return ["A batch of ", str(len(p["y"])), " samples has the logits (one row per sample) ",
                eq(sym("Z", tex="Z"), mat(p["logits"])), " and the true classes ",
                eq(sym("bold(y)", "y", r"\mathbf{y}"), labels),
                " (classes numbered from 1). Compute the mean cross-entropy ",
                sym("L = 1/N sum_i -log \"softmax\"(Z_i)_(y_i)", "L = (1/N) Σ_i −log softmax(Z_i)[y_i]",
                    r"L = \frac{1}{N} \sum_i -\log \operatorname{softmax}(Z_i)_{y_i}"),
                " (natural logarithm)."]


class MultilabelBCE(Template):
    id, topic, kind = "multilabel_bce", "binary cross-entropy", "numeric"
    title = "Multi-label binary cross-entropy"
    assignments = ("a2_losses",)
    rtol, atol = 0.01, 1e-3

    def draw(self, rng):
        return {"logits": _decimals(rng, -2.0, 2.0, (2, 3)), "targets": _ints(rng, 0, 1, (2, 3))}

    def solve(self, p):
        logits, t = np.array(p["logits"]), np.array(p["targets"], dtype=float)
        key = _call("a2_losses", "binary_cross_entropy", logits, t)
        return Solution(key, kit_distractors("a2_losses", "binary_cross_entropy",
                                             ["bce_multilabel_mean_over_classes"], (logits, t)))

    def prompt(self, p):
        return ["A multi-label classifier has one sigmoid output per class. For 2 images and 3 classes "
                "the logits are ", eq(sym("Z", tex="Z"), mat(p["logits"])), " and the targets are ",
                eq(sym("T", tex="T"), mat(p["targets"])),
                ". Compute the binary cross-entropy summed over the classes and averaged over the images, ",
                sym("L = 1/N sum_i sum_c -[t_(i c) log sigma(z_(i c)) + (1 - t_(i c)) log(1 - sigma(z_(i c)))]",
                    "L = (1/N) Σ_i Σ_c −[t log σ(z) + (1 − t) log(1 − σ(z))]",
                    r"L = \frac{1}{N} \sum_i \sum_c -\left[t_{ic} \log \sigma(z_{ic}) + (1 - t_{ic}) "
                    r"\log(1 - \sigma(z_{ic}))\right]"), "."]


class MulticlassHinge(Template):
    id, topic, kind = "multiclass_hinge", "multi-class hinge", "numeric"
    title = "Multi-class hinge loss"
    assignments = ("a2_losses",)
    rtol, atol = 0.0, 0.01

    def draw(self, rng):
        return {"scores": _ints(rng, -3, 4, (2, 4)), "y": _ints(rng, 0, 3, (2,))}

    def solve(self, p):
        s, y = np.array(p["scores"], dtype=float), np.array(p["y"])
        key = _call("a2_losses", "multiclass_hinge", s, y)
        return Solution(key, kit_distractors("a2_losses", "multiclass_hinge",
                                             ["hinge_counts_true_class", "hinge_max_not_sum"], (s, y)))

    def prompt(self, p):
        return ["Two samples have the class scores ", eq(sym("S", tex="S"), mat(p["scores"])),
                " (one row per sample) and the true classes ",
                eq(sym("bold(y)", "y", r"\mathbf{y}"), vec([y + 1 for y in p["y"]])),
                " (numbered from 1). Compute the mean multi-class hinge loss with margin 1, ",
                sym("L = 1/N sum_i sum_(k != y_i) max(0, s_(i k) - s_(i y_i) + 1)",
                    "L = (1/N) Σ_i Σ_(k≠y_i) max(0, s_ik − s_iy_i + 1)",
                    r"L = \frac{1}{N} \sum_i \sum_{k \ne y_i} \max(0, s_{ik} - s_{i y_i} + 1)"), "."]


class MultilabelHinge(Template):
    id, topic, kind = "multilabel_hinge", "multi-label hinge", "numeric"
    title = "Multi-label hinge loss"
    assignments = ("a2_losses",)
    rtol, atol = 0.0, 0.01

    def draw(self, rng):
        return {"scores": _decimals(rng, -2.0, 2.0, (2, 3)), "targets": _ints(rng, 0, 1, (2, 3))}

    def solve(self, p):
        s, t = np.array(p["scores"]), np.array(p["targets"], dtype=float)
        key = _call("a2_losses", "multilabel_hinge", s, t)
        return Solution(key, kit_distractors("a2_losses", "multilabel_hinge",
                                             ["multilabel_hinge_sum_over_classes"], (s, t)))

    def prompt(self, p):
        return ["A multi-label model scores 2 images on 3 labels: ", eq(sym("S", tex="S"), mat(p["scores"])),
                ", with targets ", eq(sym("T", tex="T"), mat(p["targets"])),
                ". Compute the multi-label hinge loss averaged over images and labels, ",
                sym("L = 1/(N C) sum_i sum_c max(0, 1 - (2 t_(i c) - 1) s_(i c))",
                    "L = (1/(NC)) Σ_i Σ_c max(0, 1 − (2t_ic − 1) s_ic)",
                    r"L = \frac{1}{NC} \sum_i \sum_c \max(0, 1 - (2 t_{ic} - 1) s_{ic})"), "."]


class HingeVersusCrossEntropy(Template):
    id, topic, kind = "hinge_vs_cross_entropy", "hinge vs cross-entropy", "multi"
    title = "Hinge and cross-entropy on three score vectors"
    assignments = ("a2_losses",)

    def draw(self, rng):
        top = int(rng.integers(3, 7))
        confident = [top, int(top - rng.integers(3, 6)), int(top - rng.integers(2, 4))]  # margin > 1
        wrong = [top, int(top + rng.integers(2, 6)), int(top + rng.integers(2, 6))]
        huge = [top, int(top - rng.integers(20, 31)), int(top - rng.integers(20, 31))]
        models = [confident, wrong, huge]
        order = [int(i) for i in rng.permutation(3)]
        return {"models": [models[i] for i in order]}

    def solve(self, p):
        s = np.array(p["models"], dtype=float)
        y = np.zeros(1, dtype=np.int64)
        hinge = [_call("a2_losses", "multiclass_hinge", s[m:m + 1], y) for m in range(3)]
        ce = [_call("a2_losses", "cross_entropy", s[m:m + 1], y) for m in range(3)]
        best = int(np.argmin(ce))
        options = [Option([f"model {m + 1} has a hinge loss of exactly 0"], bool(hinge[m] == 0.0))
                   for m in range(3)]
        options += [Option([f"model {m + 1} has the smallest cross-entropy loss of the three"], m == best)
                    for m in range(3)]
        options.append(Option(["the cross-entropy loss of one of the models is exactly 0"],
                              bool(min(ce) == 0.0)))
        return Solution(options=options)

    def prompt(self, p):
        pieces = ["Three models score one image whose true class is class 1 (margin 1 for the hinge loss):"]
        for m, s in enumerate(p["models"]):
            pieces += [" model ", str(m + 1), ": ", eq(sym("bold(s)", "s", r"\mathbf{s}"), vec(s)),
                       ";" if m < 2 else "."]
        return pieces + [" Select every true statement."]


class KLDivergence(Template):
    id, topic, kind = "kl_divergence", "KL divergence", "numeric"
    title = "KL divergence and its asymmetry"
    assignments = ("a2_losses",)
    rtol, atol = 0.01, 1e-3

    def draw(self, rng):
        def distribution():
            cuts = np.sort(rng.choice(np.arange(1, 20), size=2, replace=False))
            return (np.diff(np.concatenate([[0], cuts, [20]])) / 20).round(2).tolist()
        return {"p": distribution(), "q": distribution()}

    def solve(self, p):
        P, Q = np.array(p["p"]), np.array(p["q"])
        key = _call("a2_losses", "kl_divergence", P, Q)
        return Solution(key, kit_distractors("a2_losses", "kl_divergence", ["kl_reversed"], (P, Q)))

    def prompt(self, p):
        return ["Two distributions over 3 classes are ", eq(sym("p", tex="p"), vec(p["p"])), " and ",
                eq(sym("q", tex="q"), vec(p["q"])), ". Compute ",
                sym("D_(K L)(p || q) = sum_j p_j log(p_j / q_j)", "D_KL(p‖q) = Σ_j p_j log(p_j / q_j)",
                    r"D_{\mathrm{KL}}(p \,\|\, q) = \sum_j p_j \log(p_j / q_j)"),
                " (natural logarithm)."]


# --- a3: initialisation -----------------------------------------------------------------

class KaimingStd(Template):
    id, topic, kind = "kaiming_std", "initialisation", "numeric"
    title = "Kaiming initialisation for a PReLU layer"
    assignments = ("a3_init",)
    rtol, atol = 0.01, 1e-5
    version = 2  # v1: n undefined for a convolution; slopes 0.1 and 0.2 collided with ignores_slope
    # sqrt(1 + a^2) must differ from 1 by more than the two tolerances (~2 %): a >= 0.25
    SLOPES = (0.25, 0.3, 0.5, 0.75)

    def draw(self, rng):
        if rng.random() < 0.5:
            layer = {"type": "linear", "in": int(rng.choice([64, 128, 256, 512, 784])),
                     "out": int(rng.choice([10, 32, 100, 1024]))}
        else:
            layer = {"type": "conv", "in": int(rng.choice([3, 16, 32, 64])),
                     "out": int(rng.choice([8, 128, 256])), "kernel": int(rng.choice([3, 5]))}
        layer["slope"] = float(rng.choice(self.SLOPES))
        return layer

    @staticmethod
    def fans(p):
        area = p.get("kernel", 1) ** 2
        return p["in"] * area, p["out"] * area

    def solve(self, p):
        fan_in, fan_out = self.fans(p)
        std = refs.function("a3_init", "kaiming_std")
        wrong = kit_distractors("a3_init", "kaiming_std", ["kaiming_xavier_variance", "kaiming_ignores_slope"],
                                (fan_in,), {"negative_slope": p["slope"]})
        wrong.append(exam_mistake("kaiming_std_of_fan_out", "uses the number of outputs instead of inputs",
                                  std(fan_out, negative_slope=p["slope"])))
        if p["type"] == "conv":
            wrong.append(exam_mistake("fan_in_without_kernel", "takes n = in_channels, leaving out the k × k "
                                      "kernel positions", std(p["in"], negative_slope=p["slope"])))
        return Solution(float(std(fan_in, negative_slope=p["slope"])), wrong)

    def prompt(self, p):
        n = sym("n", tex="n")
        if p["type"] == "linear":
            layer = [f"A fully connected layer maps {p['in']} inputs to {p['out']} outputs"]
            fan_in = [", where ", n, " is the fan-in: the number of inputs of one output unit"]
        else:
            layer = [f"A convolution with {p['in']} input channels, {p['out']} output channels and a "
                     f"{p['kernel']}×{p['kernel']} kernel"]
            fan_in = [", where ", n, " is the fan-in: the number of inputs of one output unit, "
                      "input channels × kernel height × kernel width"]
        sigma = sym("sigma", "σ", r"\sigma")
        return layer + [" and is followed by a PReLU with negative slope ", eq(sym("a", tex="a"), num(p["slope"])),
                        ". Its weights are drawn from ", sym("N(0, sigma^2)", "N(0, σ²)", r"\mathcal{N}(0, \sigma^2)"),
                        " with Kaiming's rule ", sym("sigma = sqrt(2 / ((1 + a^2) n))", "σ = √(2 / ((1 + a²) n))",
                                                     r"\sigma = \sqrt{2 / ((1 + a^2)\, n)}"),
                        *fan_in, ". What is ", sigma, "?"]


# --- a4: gradients ----------------------------------------------------------------------

class OutputGradient(Template):
    id, topic, kind = "output_gradient", "output-layer gradient", "numeric"
    title = "Gradient of the mean cross-entropy at the output layer"
    assignments = ("a4_backprop",)
    rtol, atol = 0.01, 1e-4

    def draw(self, rng):
        n = int(rng.integers(2, 5))
        return {"logits": _ints(rng, -2, 2, (n, 3)), "y": _ints(rng, 0, 2, (n,)),
                "i": int(rng.integers(n)), "j": int(rng.integers(3))}

    def solve(self, p):
        logits, y = np.array(p["logits"], dtype=float), np.array(p["y"])
        i, j = p["i"], p["j"]
        key = _call("a4_backprop", "softmax_cross_entropy_grad", logits, y)[i, j]
        return Solution(float(key), kit_distractors(
            "a4_backprop", "softmax_cross_entropy_grad", ["grad_missing_mean", "grad_sign_flipped"],
            (logits, y), pick=lambda r: r[i, j]))

    def prompt(self, p):
        i, j = p["i"] + 1, p["j"] + 1
        return ["The output layer of a classifier gives the logits ", eq(sym("Z", tex="Z"), mat(p["logits"])),
                " for ", str(len(p["y"])), " samples with the true classes ",
                eq(sym("bold(y)", "y", r"\mathbf{y}"), vec([y + 1 for y in p["y"]])),
                " (numbered from 1). The loss is the mean softmax cross-entropy over the batch. What is ",
                # parenthesised: Typst's "/" binds the nearest atoms (partial (L / partial) z)
                sym(f"(partial L) / (partial z_({i},{j}))", f"∂L/∂z[{i},{j}]",
                    f"\\partial L / \\partial z_{{{i},{j}}}"), " (sample ", str(i),
                ", class ", str(j), ")?"]


# --- a6: activations, hidden-layer backprop, dropout, batch norm, regression losses ------

def _apart(key: float, wrong: list[Distractor], rtol: float = 0.03, atol: float = 1e-3) -> list[Distractor]:
    """The distractors that a student could tell from the key: finite and clearly apart
    (a mistake that gives the right number on these inputs is no distractor here)."""
    return [d for d in wrong if np.isfinite(d.value) and not np.isclose(d.value, key, rtol=rtol, atol=atol)]


_ACTIVATION_NAMES = {"relu": "ReLU", "leaky_relu": "leaky ReLU", "elu": "ELU", "tanh": "tanh", "sigmoid": "sigmoid"}
_GRAD_MISTAKES = {"relu": ["relu_grad_one_at_zero"], "tanh": ["tanh_grad_without_square"], "sigmoid": [],
                  "leaky_relu": [], "elu": []}


class ActivationDerivative(Template):
    id, topic, kind = "activation_derivative", "activation functions", "numeric"
    title = "The derivative of an activation function"
    assignments = ("a6_mlp",)
    rtol, atol = 0.01, 1e-4

    def draw(self, rng):
        kind = str(rng.choice(list(_ACTIVATION_NAMES)))
        # ReLU is asked at its kink (anywhere else its derivative is plainly 0 or 1)
        z = 0.0 if kind == "relu" else float(rng.choice([-1.0, 1.0]) * np.round(rng.uniform(0.3, 2.5), 1))
        if kind in ("leaky_relu", "elu"):
            z = -abs(z)  # the side where the slope matters
        return {"kind": kind, "z": z, "slope": float(rng.choice([0.1, 0.2, 0.3]))}

    def solve(self, p):
        z, kind, slope = np.array([p["z"]]), p["kind"], p["slope"]
        key = float(_call("a6_mlp", "activation_grad", z, kind, slope=slope)[0])
        wrong = kit_distractors("a6_mlp", "activation_grad", _GRAD_MISTAKES[kind], (z, kind), {"slope": slope},
                                lambda r: r[0])
        value = float(_call("a6_mlp", "activation", z, kind, slope=slope)[0])
        wrong.append(exam_mistake("value_not_derivative", "gives φ(z), not φ′(z)", value))
        wrong.append(exam_mistake("derivative_at_activation", "takes φ′ at φ(z) instead of at z",
                                  float(_call("a6_mlp", "activation_grad", np.array([value]), kind, slope=slope)[0])))
        return Solution(key, _apart(key, wrong))

    def prompt(self, p):
        name = _ACTIVATION_NAMES[p["kind"]]
        return [f"A hidden unit uses the {name} activation φ (leaky ReLU and ELU in this network use ",
                eq(sym("a", tex="a"), num(p["slope"])), " as their negative slope and α; at a kink take the "
                "left-hand derivative). Its pre-activation is ", eq(sym("z", tex="z"), num(p["z"])),
                ". What is ", sym("phi'(z)", "φ′(z)", r"\varphi'(z)"), "?"]


class HiddenBackprop(Template):
    id, topic, kind = "hidden_backprop", "backprop through a hidden layer", "numeric"
    title = "One step of backpropagation through a hidden layer"
    assignments = ("a6_mlp",)
    rtol, atol = 0.01, 1e-3

    def draw(self, rng):
        return {"delta": _decimals(rng, -1.0, 1.0, (2,)), "W": _ints(rng, -2, 2, (2, 3)),
                "z": _decimals(rng, -1.5, 1.5, (3,)), "kind": str(rng.choice(["relu", "tanh"])),
                "j": int(rng.integers(3))}

    def solve(self, p):
        delta, W, z, kind, j = np.array(p["delta"]), np.array(p["W"], dtype=float), np.array(p["z"]), p["kind"], p["j"]
        back = delta @ W
        key = float((back * _call("a6_mlp", "activation_grad", z, kind))[j])
        wrong = kit_distractors("a6_mlp", "activation_grad", _GRAD_MISTAKES[kind], (z, kind),
                                pick=lambda r: (back * r)[j])
        wrong.append(exam_mistake("forgets_activation_derivative", "leaves out the factor φ′(z)", back[j]))
        a = _call("a6_mlp", "activation", z, kind)
        wrong.append(exam_mistake("derivative_at_activation", "takes φ′ at the activation a = φ(z), not at z",
                                  (back * _call("a6_mlp", "activation_grad", a, kind))[j]))
        wrong.append(exam_mistake("multiplies_by_activation", "multiplies by φ(z) instead of φ′(z)", (back * a)[j]))
        return Solution(key, _apart(key, wrong))

    def prompt(self, p):
        j = p["j"] + 1
        return ["A hidden layer with ", _ACTIVATION_NAMES[p["kind"]], " units has the pre-activations ",
                eq(sym("bold(z)", "z", r"\mathbf{z}"), vec(p["z"])),
                ". The next layer computes ", sym("bold(z)' = W bold(a) + bold(b)", "z′ = W a + b",
                                                   r"\mathbf{z}' = W \mathbf{a} + \mathbf{b}"),
                " with ", eq(sym("W", tex="W"), mat(p["W"])), ", and backpropagation has reached it with ",
                eq(sym("bold(delta)'", "δ′", r"\boldsymbol{\delta}'"), vec(p["delta"])),
                sym(" = partial L / partial bold(z)'", " = ∂L/∂z′", r" = \partial L / \partial \mathbf{z}'"),
                ". What is ", sym(f"delta_{j} = partial L / partial z_{j}", f"δ[{j}] = ∂L/∂z[{j}]",
                                   f"\\delta_{j} = \\partial L / \\partial z_{j}"), "?"]


class DropoutScaling(Template):
    id, topic, kind = "dropout_scaling", "dropout", "numeric"
    title = "Inverted dropout while training and at test time"
    assignments = ("a6_mlp",)
    rtol, atol = 0.01, 1e-3

    def draw(self, rng):
        return {"p": float(rng.choice([0.2, 0.25, 0.3, 0.4])), "h": float(np.round(rng.uniform(0.5, 4.0), 1)),
                "phase": str(rng.choice(["train", "test"]))}

    def solve(self, p):
        drop, h = p["p"], p["h"]
        if p["phase"] == "train":
            key = h / (1 - drop)
            wrong = [exam_mistake("not_scaled", "leaves a kept unit unscaled (the notes' training pass)", h),
                     exam_mistake("scaled_by_rate", "divides by the drop probability p, not 1 - p", h / drop),
                     exam_mistake("multiplied_by_keep", "multiplies by 1 - p instead of dividing", h * (1 - drop))]
        else:
            key = h
            wrong = [exam_mistake("scaled_by_rate_at_test", "scales by the drop probability at test time, as one "
                                  "set of notes does", h * drop),
                     exam_mistake("scaled_by_keep_at_test", "scales by 1 - p at test time (non-inverted dropout)",
                                  h * (1 - drop)),
                     exam_mistake("train_scaling_at_test", "applies the training scale 1 / (1 - p) at test time",
                                  h / (1 - drop))]
        return Solution(float(key), _apart(float(key), wrong))

    def prompt(self, p):
        when = ("During training the unit is kept by the random mask. What does the dropout layer output for it?"
                if p["phase"] == "train" else "What does the dropout layer output for it at test time?")
        return ["A network uses inverted dropout with drop probability ", eq(sym("p", tex="p"), num(p["p"])),
                " (each unit is zeroed with probability p while training). A unit's activation is ",
                eq(sym("h", tex="h"), num(p["h"])), ". ", when]


class BatchNormOutput(Template):
    id, topic, kind = "batchnorm_output", "batch normalisation", "numeric"
    title = "The output of batch normalisation for one sample"
    assignments = ("a6_mlp",)
    rtol, atol = 0.01, 1e-3

    def draw(self, rng):
        x = _ints(rng, -4, 6, (4,))
        while len(set(x)) < 3:
            x = _ints(rng, -4, 6, (4,))
        return {"x": x, "gamma": float(rng.choice([0.5, 1.5, 2.0])), "beta": float(rng.choice([-1.0, 0.5, 1.0])),
                "mean": float(rng.choice([0.0, 1.0, 2.0])), "var": float(rng.choice([1.0, 4.0, 9.0])),
                "mode": str(rng.choice(["train", "eval"])), "i": int(rng.integers(4))}

    def solve(self, p):
        x = np.array(p["x"], dtype=float)[:, None]
        gamma, beta = np.array([p["gamma"]]), np.array([p["beta"]])
        running = {"mean": np.array([p["mean"]]), "var": np.array([p["var"]])}
        args = (x, gamma, beta, running, p["mode"] == "train")
        i = p["i"]
        key = float(_call("a6_mlp", "batchnorm_forward", *args)[0][i, 0])
        wrong = []
        if p["mode"] == "eval":
            wrong += kit_distractors("a6_mlp", "batchnorm_forward", ["batchnorm_batch_stats_in_eval"], args,
                                     pick=lambda r: r[0][i, 0])
        else:
            unbiased = x.var(ddof=1)
            wrong.append(exam_mistake("unbiased_variance", "normalises with the unbiased variance (N - 1)",
                                      p["gamma"] * (x[i, 0] - x.mean()) / np.sqrt(unbiased + 1e-5) + p["beta"]))
            wrong.append(exam_mistake("running_stats_in_training", "normalises with the running statistics "
                                      "while training", p["gamma"] * (x[i, 0] - p["mean"]) / np.sqrt(p["var"] + 1e-5)
                                      + p["beta"]))
        xhat = float(_call("a6_mlp", "batchnorm_forward", *args)[0][i, 0] - p["beta"]) / p["gamma"]
        wrong.append(exam_mistake("forgets_gamma_beta", "stops at the normalised value, without γ and β", xhat))
        return Solution(key, _apart(key, wrong))

    def prompt(self, p):
        i = p["i"] + 1
        mode = ("in training mode (it normalises with the batch's mean and variance, the variance dividing by N)"
                if p["mode"] == "train" else "in evaluation mode")
        return ["A batch-norm layer with ", eq(sym("gamma", "γ", r"\gamma"), num(p["gamma"])), " and ",
                eq(sym("beta", "β", r"\beta"), num(p["beta"])), " has the running mean ",
                eq(sym('mu_"run"', "μ_run", r"\mu_{\text{run}}"), num(p["mean"])), " and running variance ",
                eq(sym('sigma_"run"^2', "σ²_run", r"\sigma^2_{\text{run}}"), num(p["var"])),
                ". One feature of a batch of 4 samples is ", eq(sym("bold(x)", "x", r"\mathbf{x}"), vec(p["x"])),
                f". The layer runs {mode}; ε = 0.00001 is negligible. What does it output for sample {i}?"]


class RegressionLoss(Template):
    id, topic, kind = "regression_loss", "regression losses", "numeric"
    title = "Mean squared and mean absolute error"
    assignments = ("a6_mlp",)
    rtol, atol = 0.01, 1e-3

    def draw(self, rng):
        pred = _ints(rng, -5, 10, (4,))
        target = _ints(rng, -5, 10, (4,))
        while sum(abs(a - b) > 1 for a, b in zip(pred, target, strict=True)) < 2:
            target = _ints(rng, -5, 10, (4,))
        return {"pred": pred, "target": target, "loss": str(rng.choice(["mse", "l1"]))}

    def solve(self, p):
        pred, target = np.array(p["pred"], dtype=float), np.array(p["target"], dtype=float)
        name, other = ("mse_loss", "l1_loss") if p["loss"] == "mse" else ("l1_loss", "mse_loss")
        key = float(_call("a6_mlp", name, pred, target))
        wrong = kit_distractors("a6_mlp", name, ["mse_summed" if p["loss"] == "mse" else "l1_summed"], (pred, target))
        wrong.append(exam_mistake("other_loss", "computes the other loss (L1 for L2 or L2 for L1)",
                                  _call("a6_mlp", other, pred, target)))
        if p["loss"] == "mse":
            wrong.append(exam_mistake("root_mean_square", "takes the square root (RMSE)", np.sqrt(key)))
        return Solution(key, _apart(key, wrong))

    def prompt(self, p):
        what = ("mean squared error (1/N) Σ (y_i − f(x_i))²" if p["loss"] == "mse"
                else "mean absolute error (1/N) Σ |y_i − f(x_i)|")
        return ["A regression model predicts ", eq(sym("bold(f)", "f", r"\mathbf{f}"), vec(p["pred"])),
                " for 4 samples with targets ", eq(sym("bold(y)", "y", r"\mathbf{y}"), vec(p["target"])),
                f". What is the {what}?"]


class VariancePropagation(Template):
    id, topic, kind = "variance_propagation", "variance through layers", "numeric"
    title = "The spread of pre-activations through ReLU layers"
    assignments = ("a3_init",)
    rtol, atol = 0.02, 1e-6

    def draw(self, rng):
        # n sigma^2 between 0.25 and 5: the spread shrinks or grows visibly but stays printable
        return {"n": int(rng.choice([100, 200, 400, 500])), "sigma": float(rng.choice([0.05, 0.1])),
                "layers": int(rng.integers(3, 7))}

    def solve(self, p):
        n, sigma, layers = p["n"], p["sigma"], p["layers"]
        gain = n * sigma**2  # Var(z_1) for unit inputs
        key = float(np.sqrt(gain * (gain / 2) ** (layers - 1)))
        wrong = [exam_mistake("forgets_relu_half", "leaves out the ReLU's factor 1/2", np.sqrt(gain**layers)),
                 exam_mistake("halves_the_first_layer", "halves the first layer too (its input is the data, not "
                              "a ReLU output)", np.sqrt((gain / 2) ** layers)),
                 exam_mistake("variance_not_std", "gives the variance, not the standard deviation", key**2)]
        return Solution(key, _apart(key, wrong, atol=1e-9))

    def prompt(self, p):
        return [f"A network of {p['layers']} fully connected layers, each with ", eq(sym("n", tex="n"), num(p["n"])),
                " inputs and outputs, ReLU after every layer and zero biases, has weights drawn from ",
                sym("N(0, sigma_w^2)", "N(0, σ_w²)", r"\mathcal{N}(0, \sigma_w^2)"), " with ",
                eq(sym("sigma_w", "σ_w", r"\sigma_w"), num(p["sigma"])),
                ". The input has independent unit-Gaussian entries. Using Var(z) = n Var(w) E[x²], what is the "
                f"standard deviation of a pre-activation of layer {p['layers']}?"]


# --- regularisation (no assignment implements it: computed here with NumPy) --------------

class Regularisation(Template):
    id, topic, kind = "regularisation", "L1 vs L2 regularisation", "numeric"
    title = "L1 and L2 weight penalties"
    rtol, atol = 0.01, 1e-4

    def draw(self, rng):
        return {"W": _decimals(rng, -1.0, 1.0, (2, 3)), "lam": float(rng.choice([0.01, 0.1, 0.5, 2.0])),
                "norm": str(rng.choice(["L1", "L2"]))}

    def solve(self, p):
        W, lam = np.array(p["W"]), p["lam"]
        l1, l2 = float(np.abs(W).sum()), float((W ** 2).sum())
        key, other = (l1, l2) if p["norm"] == "L1" else (l2, l1)
        wrong = [exam_mistake("l1_l2_swapped", "computes the other penalty (L1 for L2 or L2 for L1)", lam * other),
                 exam_mistake("forgets_lambda", "leaves out the regularisation strength λ", key)]
        if p["norm"] == "L2":
            wrong.append(exam_mistake("l2_norm_not_squared", "takes the Euclidean norm, not its square",
                                      lam * np.sqrt(l2)))
        return Solution(lam * key, wrong)

    def prompt(self, p):
        formula = (sym("R(W) = sum_(i,j) |w_(i j)|", "R(W) = Σ |w_ij|", r"R(W) = \sum_{i,j} |w_{ij}|")
                   if p["norm"] == "L1" else
                   sym("R(W) = sum_(i,j) w_(i j)^2", "R(W) = Σ w_ij²", r"R(W) = \sum_{i,j} w_{ij}^2"))
        penalty = sym("lambda R(W)", "λ R(W)", r"\lambda R(W)")
        return ["A layer has the weights ", eq(sym("W", tex="W"), mat(p["W"])), ". The training loss adds the ",
                p["norm"], " penalty ", penalty, " with ", formula, " and ",
                eq(sym("lambda", "λ", r"\lambda"), num(p["lam"])), ". What is ", penalty, "?"]


# --- a5: finetuning ---------------------------------------------------------------------

class FinetuneParameters(Template):
    id, topic, kind = "finetune_parameters", "finetuning flavours", "numeric"
    title = "Trainable parameters for a finetuning flavour"
    assignments = ("a5_finetune",)
    rtol, atol = 0.0, 0.5  # an exact count

    def draw(self, rng):
        sizes = [int(rng.choice([256, 512, 784])), int(rng.choice([128, 256])), int(rng.choice([32, 64, 100])),
                 1000]
        flavour = str(rng.choice(["top", "top_k", "all"]))
        return {"sizes": sizes, "classes": int(rng.choice([5, 10, 102])), "flavour": flavour,
                "k": 2 if flavour == "top_k" else 1}

    @staticmethod
    def _layers(sizes):
        return [(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]

    def solve(self, p):
        import torch
        from torch import nn

        torch.manual_seed(0)  # weights are irrelevant to the count; keep torch's RNG deterministic
        layers = []
        for n_in, n_out in self._layers(p["sizes"]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        model = nn.Sequential(*layers[:-1])
        model = _call("a5_finetune", "replace_head", model, p["classes"])
        names = set(_call("a5_finetune", "set_trainable", model, p["flavour"], k=p["k"]))
        key = sum(t.numel() for name, t in model.named_parameters() if name in names)
        weights_only = sum(t.numel() for name, t in model.named_parameters() if name in names
                           and name.endswith("weight"))
        everything = sum(t.numel() for t in model.parameters())
        old_head = key - p["classes"] * (p["sizes"][-2] + 1) + 1000 * (p["sizes"][-2] + 1)
        wrong = [exam_mistake("forgets_biases", "counts the weight matrices but not the biases", weights_only),
                 exam_mistake("counts_old_head", "counts the pretrained 1000-class head instead of the new one",
                              old_head)]
        if p["flavour"] != "all":
            wrong.append(exam_mistake("counts_frozen_layers", "counts every parameter, frozen ones included",
                                      everything))
        return Solution(float(key), wrong)

    def prompt(self, p):
        widths = " → ".join(str(s) for s in p["sizes"])
        what = {"all": "all layers are trained",
                "top": "only the new output layer is trained",
                "top_k": f"only the {p['k']} top-most layers (the new output layer included) are trained"}
        return [f"A pretrained MLP has fully connected layers (with biases) of widths {widths}, "
                f"ReLU in between. For a new task with {p['classes']} classes its 1000-class output layer "
                f"is replaced by a freshly initialised one, and {what[p['flavour']]}. "
                "How many parameters are trainable?"]


BUILT_IN: tuple[Template, ...] = (
    SoftmaxAxis(), LogSoftmaxLarge(), SigmoidTwoClass(), MultilabelDecision(), MulticlassVsMultilabel(),
    CrossEntropyBatch(), MultilabelBCE(), MulticlassHinge(), MultilabelHinge(), HingeVersusCrossEntropy(),
    KLDivergence(), KaimingStd(), OutputGradient(), Regularisation(), FinetuneParameters(),
    ActivationDerivative(), HiddenBackprop(), DropoutScaling(), BatchNormOutput(), RegressionLoss(),
    VariancePropagation(),
)


def built_in() -> dict[str, Template]:
    return {t.id: t for t in BUILT_IN}


# Math is re-exported for instructor Python templates, if any are added later.
__all__ = ["BUILT_IN", "Math", "built_in", "exam_mistake", "kit_distractors"]
