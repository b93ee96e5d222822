"""Every question has a defensible key: computed from exactly the printed numbers, never an
empty select-all key, and draws that rarely need redrawing because of a distractor."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from kit_paths import EXAMPLES

from autograder.exam import bank, custom, markup
from autograder.exam.markup import Math
from autograder.exam.model import Distractor, Solution, Template, conflicts, instantiate
from autograder.exam.seeding import generator, variant_seed

SECRET = b"0123456789abcdef-test-secret"
EXAMPLES = EXAMPLES / "exam"
SEEDS = 40  # students per template in the read-back test
RAW_DRAWS = 200  # raw draws per template in the collision test
MAX_REJECTED = 0.35  # a template that redraws more often than this is broken by design


# --- reading the printed numbers back ------------------------------------------------------

_SUPER = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")


def read_number(text: str) -> float:
    """A number as ``markup.num`` prints it: "-1.5", "2.5·10⁻⁴", "10⁻⁴"."""
    text = text.strip().replace("−", "-")
    if "10" in text and any(c in text for c in "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"):
        head, _, power = text.rpartition("10")
        mantissa = float(head.rstrip("·")) if head else 1.0
        return mantissa * 10.0 ** int(power.translate(_SUPER))
    return float(text)


def read_value(text: str):
    """A printed value: number, (vector) or [[matrix]]."""
    text = text.strip()
    if text.startswith("[["):
        return [[read_number(x) for x in row.split(",")] for row in re.findall(r"\[([^\[\]]*)\]", text)]
    if text.startswith("("):
        return [read_number(x) for x in text.strip("()").split(",")]
    return read_number(text)


def printed_values(prompt) -> dict[str, list]:
    """name -> every value printed as ``name = value`` in the prompt's formulas (plain form)."""
    found: dict[str, list] = {}
    for piece in prompt:
        if isinstance(piece, Math) and " = " in piece.plain:
            name, _, value = piece.plain.rpartition(" = ")
            try:
                found.setdefault(name.strip(), []).append(read_value(value))
            except ValueError:
                continue  # a formula such as "P = softmax(Z, axis=0)", not a value
    return found


def labels(values):
    return [int(v) - 1 for v in values]  # classes are printed numbered from 1


# template id -> {parameter: (printed name, transform)}; every float parameter must be listed
READ_BACK = {
    "softmax_axis": {"Z": ("Z", None)},
    "log_softmax_large": {"z": ("z", None)},
    "sigmoid_two_class": {"z": ("(z_1, z_2)", None)},
    "multilabel_decision": {"probs": ("p", None), "threshold": ("t", None)},
    "multiclass_vs_multilabel": {"z": ("z", None)},
    "cross_entropy_batch": {"logits": ("Z", None), "y": ("y", labels)},
    "multilabel_bce": {"logits": ("Z", None), "targets": ("T", None)},
    "multiclass_hinge": {"scores": ("S", None), "y": ("y", labels)},
    "multilabel_hinge": {"scores": ("S", None), "targets": ("T", None)},
    "hinge_vs_cross_entropy": {"models": ("s", "all")},
    "kl_divergence": {"p": ("p", None), "q": ("q", None)},
    "kaiming_std": {"slope": ("a", None)},
    "output_gradient": {"logits": ("Z", None), "y": ("y", labels)},
    "regularisation": {"W": ("W", None), "lam": ("λ", None)},
    "finetune_parameters": {},
    "activation_derivative": {"z": ("z", None), "slope": ("a", None)},
    "hidden_backprop": {"delta": ("δ′", None), "W": ("W", None), "z": ("z", None)},
    "dropout_scaling": {"p": ("p", None), "h": ("h", None)},
    "batchnorm_output": {"x": ("x", None), "gamma": ("γ", None), "beta": ("β", None), "mean": ("μ_run", None),
                         "var": ("σ²_run", None)},
    "regression_loss": {"pred": ("f", None), "target": ("y", None)},
    "variance_propagation": {"n": ("n", None), "sigma": ("σ_w", None)},
}


def _floats(value) -> bool:
    if isinstance(value, list):
        return any(_floats(v) for v in value)
    return isinstance(value, float) and not float(value).is_integer()


def solved_key(template: Template, params: dict) -> tuple:
    with np.errstate(all="ignore"):
        solution = template.solve(params)
    if solution.options:
        return tuple(o.correct for o in solution.options)
    return (solution.value, *[d.value for d in solution.distractors])


def read_back(template: Template, q) -> dict:
    """The parameters as read from the printed question."""
    printed = printed_values(q.prompt)
    params = dict(q.params)
    for name, (shown, transform) in READ_BACK[template.id].items():
        values = printed[shown]
        if transform == "all":
            params[name] = values
        else:
            assert len(values) == 1, f"{shown} printed {len(values)} times"
            params[name] = transform(values[0]) if transform else values[0]
    return params


def assert_key_is_from_printed_numbers(template: Template, q) -> None:
    params = read_back(template, q)
    unread = {k: v for k, v in q.params.items() if k not in READ_BACK[template.id]}
    assert not any(_floats(v) for v in unread.values()), f"unprinted float parameters {unread}"
    assert params == q.params, "the printed numbers are not the parameters"
    assert solved_key(template, params) == solved_key(template, q.params)


@pytest.mark.parametrize("template", bank.BUILT_IN, ids=lambda t: t.id)
def test_key_is_computed_from_exactly_the_printed_numbers(template):
    assert set(READ_BACK) == {t.id for t in bank.BUILT_IN}  # a new template needs a reader here
    for student in range(SEEDS):
        seed = variant_seed(SECRET, "keys", f"s{student}", template.id, template.version)
        assert_key_is_from_printed_numbers(template, instantiate(template, template.id, 1, seed))


class _RoundedPrint(bank.LogSoftmaxLarge):
    """Prints the scores with 4 significant digits, as v1 did: must be caught."""

    def prompt(self, p):
        return ["scores ", markup.eq(markup.sym("bold(z)", "z"), markup.vec(p["z"], 4)), "."]


def test_read_back_catches_a_template_that_rounds_what_it_prints():
    template = _RoundedPrint()
    q = instantiate(template, template.id, 1, "ab" * 32, params={"z": [1500, 1498.6]})
    with pytest.raises(AssertionError, match="printed numbers"):
        assert_key_is_from_printed_numbers(template, q)


def test_instructor_template_prints_its_parameters_exactly():
    (template,) = [t for t in custom.load_folder(EXAMPLES / "templates") if t.id == "softmax_row_choice"]
    for student in range(10):
        q = instantiate(template, template.id, 1, variant_seed(SECRET, "keys", f"s{student}", template.id, 1))
        (matrix,) = [p for p in q.prompt if isinstance(p, Math)]
        assert read_value(matrix.plain) == q.params["Z"]


def test_log_softmax_prints_the_scores_it_solves():
    q = instantiate(bank.LogSoftmaxLarge(), "l", 1, "cd" * 32, params={"z": [1500, 1498.6]})
    assert "(1500, 1498.6)" in markup.to_plain(q.prompt)
    (k,) = q.key
    assert float(markup.to_plain(q.options[k].text)) == pytest.approx(-1.4 - math.log1p(math.exp(-1.4)), abs=1e-3)


# --- select-all keys ------------------------------------------------------------------------

def test_select_all_with_no_correct_option_is_redrawn():
    """The example roster's s1004 drew p = (0.28, 0.6, 0.17, 0.49, 0.3), t = 0.6 in v1."""
    template = bank.MultilabelDecision()
    empty = template.solve({"probs": [0.28, 0.6, 0.17, 0.49, 0.3], "threshold": 0.6})
    assert "at least one correct option" in " ".join(conflicts(template, empty))
    for student in range(60):
        q = instantiate(template, template.id, 1, variant_seed(SECRET, "m", f"s{student}", template.id, 2))
        assert q.key and len(q.key) < len(q.options)


@pytest.mark.parametrize("template", [t for t in bank.BUILT_IN if t.kind == "multi"], ids=lambda t: t.id)
def test_every_select_all_question_has_a_right_and_a_wrong_option(template):
    for student in range(30):
        q = instantiate(template, template.id, 1, variant_seed(SECRET, "m", f"s{student}", template.id, 1))
        assert 1 <= len(q.key) < len(q.options)


# --- distractor collisions ------------------------------------------------------------------

def rejection_rate(template: Template, draws: int = RAW_DRAWS) -> float:
    """The share of raw draws that ``instantiate`` would throw away (a distractor within
    tolerance of the key or of another distractor, or an unusable option set)."""
    rng = generator("5eed" * 16)
    rejected = 0
    for _ in range(draws):
        with np.errstate(all="ignore"):
            rejected += bool(conflicts(template, template.solve(template.draw(rng))))
    return rejected / draws


@pytest.mark.parametrize("template", [*bank.BUILT_IN, *custom.load_folder(EXAMPLES / "templates")],
                         ids=lambda t: t.id)
def test_no_template_collides_with_its_distractors_most_of_the_time(template):
    assert rejection_rate(template) <= MAX_REJECTED


class _MostlyColliding(Template):
    """Two draws in three put the distractor on the key: the check above must fail it."""

    id, kind = "mostly_colliding", "numeric"

    def draw(self, rng):
        return {"n": int(rng.integers(0, 3))}

    def solve(self, p):
        return Solution(1.0, [Distractor("same", "same", 1.0 if p["n"] else 5.0)])

    def prompt(self, p):
        return [str(p["n"])]


def test_collision_check_fails_a_template_that_mostly_collides():
    assert rejection_rate(_MostlyColliding()) > MAX_REJECTED


# --- wording ----------------------------------------------------------------------------------

@pytest.mark.parametrize("slope", bank.KaimingStd.SLOPES)
def test_no_kaiming_slope_collides_with_a_distractor(slope):
    template = bank.KaimingStd()
    for layer in ({"type": "linear", "in": 64, "out": 10}, {"type": "conv", "in": 3, "out": 8, "kernel": 3}):
        assert conflicts(template, template.solve({**layer, "slope": slope})) == []


def test_conv_kaiming_says_what_n_is_and_keys_on_the_full_fan_in():
    template = bank.KaimingStd()
    params = {"type": "conv", "in": 16, "out": 128, "kernel": 3, "slope": 0.25}
    text = markup.to_plain(template.prompt(params))
    assert "n is the fan-in" in text and "input channels × kernel height × kernel width" in text
    solution = template.solve(params)
    assert solution.value == pytest.approx(math.sqrt(2 / ((1 + 0.25 ** 2) * 16 * 9)))
    names = {d.mistake: d.value for d in solution.distractors}
    assert names["exam:fan_in_without_kernel"] == pytest.approx(math.sqrt(2 / ((1 + 0.25 ** 2) * 16)))


def test_sigmoid_question_asks_for_the_equivalent_logit():
    template = bank.SigmoidTwoClass()
    params = {"z": [0.4, -1.1]}
    text = markup.to_plain(template.prompt(params))
    assert "σ(t) = 1 / (1 + e^(−t))" in text and "which value of t" in text
    solution = template.solve(params)
    assert solution.value == pytest.approx(-1.5)
    assert {d.mistake for d in solution.distractors} == {
        "exam:difference_reversed", "exam:own_score_as_logit", "exam:probability_not_logit"}


def test_output_gradient_typesets_the_derivative_as_one_fraction():
    prompt = bank.OutputGradient().prompt({"logits": [[0, 1, 2], [1, 0, -1]], "y": [0, 2], "i": 0, "j": 1})
    (derivative,) = [p for p in prompt if isinstance(p, Math) and "partial" in p.typst]
    assert derivative.typst == "(partial L) / (partial z_(1,2))"
    assert derivative.tex == r"\partial L / \partial z_{1,2}"
