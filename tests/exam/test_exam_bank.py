"""Exam question bank: keyed seeds, keys from the reference, distractors from named mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autograder.exam import bank, markup
from autograder.exam import references as refs
from autograder.exam.model import Distractor, Solution, Template, TemplateError, instantiate
from autograder.exam.seeding import form_label, generator, variant_seed

SECRET = b"0123456789abcdef-test-secret"


def seed(student="s1", question="q", version=1, secret=SECRET, exam="mid"):
    return variant_seed(secret, exam, student, question, version)


def test_seed_is_a_keyed_hash_of_every_field():
    base = seed()
    assert seed() == base and len(base) == 64
    assert len({base, seed(student="s2"), seed(question="r"), seed(version=2), seed(exam="final"),
                seed(secret=b"another-secret-of-16-bytes")}) == 6


def test_generator_from_seed_is_reproducible():
    a, b = generator(seed()).random(5), generator(seed()).random(5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, generator(seed(student="s2")).random(5))


def test_form_labels():
    assert [form_label(i) for i in (0, 1, 25, 26)] == ["A", "B", "Z", "AA"]


def test_bank_has_at_least_twelve_templates_of_every_kind():
    templates = bank.BUILT_IN
    assert len(templates) >= 12
    assert len({t.id for t in templates}) == len(templates)
    assert {t.kind for t in templates} == {"numeric", "choice", "multi"}


@pytest.mark.parametrize("template", bank.BUILT_IN, ids=lambda t: t.id)
def test_every_template_draws_valid_questions(template):
    tolerance = template.tolerance
    for student in ("s1", "s2", "s3"):
        q = instantiate(template, template.id, 1, seed(student, template.id))
        text = markup.to_plain(q.prompt)
        assert text.strip()
        markup.to_typst(q.prompt)  # renders
        if q.kind == "numeric":
            assert math.isfinite(q.key) and q.tolerance > 0
            key = q.key * q.scale
            for d in q.distractors:
                value = d.value * q.scale
                assert abs(value - key) > tolerance(key) + tolerance(value), d.mistake
        else:
            assert q.options and q.key
            assert all(q.options[i].correct for i in q.key)


def test_same_seed_same_question_different_student_different_numbers():
    t = bank.CrossEntropyBatch()
    a = instantiate(t, t.id, 1, seed("s1", t.id))
    b = instantiate(t, t.id, 1, seed("s1", t.id))
    others = [instantiate(t, t.id, 1, seed(f"s{i}", t.id)).params for i in range(2, 8)]
    assert a.params == b.params and a.key == b.key
    assert any(p != a.params for p in others)


def test_cross_entropy_key_is_the_reference_and_the_distractor_the_named_mistake():
    t = bank.CrossEntropyBatch()
    q = instantiate(t, t.id, 1, seed("s9", t.id))
    logits, y = np.array(q.params["logits"], dtype=float), np.array(q.params["y"])
    assert q.key == pytest.approx(refs.function("a2_losses", "cross_entropy")(logits, y), rel=1e-12)
    (d,) = q.distractors
    assert d.mistake == "ce_sum_not_mean"
    assert d.value == pytest.approx(refs.mistake("a2_losses", "ce_sum_not_mean").implementation(logits, y))
    assert d.value == pytest.approx(len(y) * q.key)  # sum instead of mean


def test_output_gradient_distractors_forget_the_mean_and_flip_the_sign():
    t = bank.OutputGradient()
    q = instantiate(t, t.id, 1, seed("s4", t.id))
    n = len(q.params["y"])
    values = {d.mistake: d.value for d in q.distractors}
    assert values["grad_missing_mean"] == pytest.approx(n * q.key)
    assert values["grad_sign_flipped"] == pytest.approx(-q.key)


def test_multilabel_decision_names_the_threshold_mistake():
    t = bank.MultilabelDecision()
    q = instantiate(t, t.id, 1, seed("s5", t.id))
    at = [o for o in q.options if o.mistake == "threshold_greater_equal"]
    assert len(at) >= 1 and not any(o.correct for o in at)


class _Tiny(Template):
    """A value of order 1e-9: asked in a smaller unit so Canvas keeps its digits."""

    id, kind, rtol, atol = "tiny", "numeric", 0.01, 0.0

    def draw(self, rng):
        return {"x": float(rng.integers(2, 9))}

    def solve(self, p):
        return Solution(p["x"] * 1e-9, [Distractor("times_ten", "ten times too large", p["x"] * 1e-8)])

    def prompt(self, p):
        return ["x = ", markup.num(p["x"])]


def test_small_answers_are_asked_in_a_rescaled_unit():
    q = instantiate(_Tiny(), "tiny", 1, seed())
    assert q.unit_exponent == 9
    assert 2 <= q.key <= 8 and q.tolerance >= 5e-4
    assert "units of 10⁻⁹" in markup.to_plain(q.prompt)
    assert "^" not in markup.to_plain(q.prompt)  # no literal caret in print or LMS text
    assert r"\(10^{-9}\)" in markup.to_html(q.prompt)
    assert q.distractors[0].value == pytest.approx(10 * q.key)


class _Colliding(Template):
    """The distractor equals the key for even draws: those draws must be rejected."""

    id, kind = "colliding", "numeric"

    def __init__(self, always=False):
        self.always = always

    def draw(self, rng):
        return {"n": int(rng.integers(0, 10))}

    def solve(self, p):
        wrong = p["n"] if (self.always or p["n"] % 2 == 0) else p["n"] + 5
        return Solution(float(p["n"]), [Distractor("same", "same", float(wrong))])

    def prompt(self, p):
        return [str(p["n"])]


def test_draws_with_a_distractor_within_tolerance_are_redrawn():
    draws = []
    for i in range(20):
        q = instantiate(_Colliding(), "c", 1, seed(student=f"s{i}"))
        assert q.params["n"] % 2 == 1
        draws.append(q.draws)
    assert max(draws) > 1  # some first draws collided and were redrawn


def test_a_template_that_always_collides_fails_loudly():
    with pytest.raises(TemplateError, match="no valid draw"):
        instantiate(_Colliding(always=True), "c", 1, seed())


def test_choice_options_are_shuffled_but_keyed():
    t = bank.LogSoftmaxLarge()
    orders = {tuple(instantiate(t, t.id, 1, seed(f"s{i}", t.id)).order) for i in range(12)}
    assert len(orders) > 1
    q = instantiate(t, t.id, 1, seed("s1", t.id))
    (k,) = q.key
    z = np.array(q.params["z"], dtype=float)
    expected = refs.function("a1_softmax", "log_softmax")(z)[1]
    assert markup.to_plain(q.options[k].text) == markup.format_number(expected)


# --- a6 templates: keys from the lecture's formulas, distractors from the named mistakes --------

def test_relu_derivative_is_asked_at_the_kink_with_the_wrong_convention_as_distractor():
    t = bank.ActivationDerivative()
    solution = t.solve({"kind": "relu", "z": 0.0, "slope": 0.1})
    assert solution.value == 0.0
    assert {d.mistake: d.value for d in solution.distractors}["relu_grad_one_at_zero"] == 1.0
    tanh = t.solve({"kind": "tanh", "z": 1.0, "slope": 0.1})
    assert tanh.value == pytest.approx(1 - math.tanh(1.0) ** 2)
    assert {d.mistake: d.value for d in tanh.distractors}["tanh_grad_without_square"] == pytest.approx(1 - math.tanh(1))


def test_hidden_backprop_key_is_delta_times_w_times_the_derivative_at_z():
    p = {"delta": [0.5, -1.0], "W": [[1, 2, 0], [-1, 3, 2]], "z": [0.5, -0.3, 1.2], "kind": "relu", "j": 0}
    solution = bank.HiddenBackprop().solve(p)
    assert solution.value == pytest.approx(0.5 * 1 + -1.0 * -1)  # z_1 > 0: relu' = 1
    assert bank.HiddenBackprop().solve(dict(p, j=1)).value == 0.0  # z_2 < 0: relu' = 0
    assert "exam:forgets_activation_derivative" in {d.mistake for d in bank.HiddenBackprop().solve(dict(p, j=1)).distractors}


def test_dropout_test_time_names_the_notes_scaling():
    solution = bank.DropoutScaling().solve({"p": 0.2, "h": 2.0, "phase": "test"})
    assert solution.value == 2.0
    assert {d.mistake: d.value for d in solution.distractors}["exam:scaled_by_rate_at_test"] == pytest.approx(0.4)
    assert bank.DropoutScaling().solve({"p": 0.2, "h": 2.0, "phase": "train"}).value == pytest.approx(2.5)


def test_batchnorm_eval_distractor_is_the_kit_mistake_and_regression_loss_the_notes_sum():
    bn = bank.BatchNormOutput().solve({"x": [0, 2, 4, 6], "gamma": 2.0, "beta": 1.0, "mean": 1.0, "var": 4.0,
                                       "mode": "eval", "i": 3})
    assert bn.value == pytest.approx(2.0 * (6 - 1) / math.sqrt(4 + 1e-5) + 1)
    assert "batchnorm_batch_stats_in_eval" in {d.mistake for d in bn.distractors}
    mse = bank.RegressionLoss().solve({"pred": [1, 2, 3, 4], "target": [1, 0, 3, 0], "loss": "mse"})
    assert mse.value == pytest.approx((4 + 16) / 4)
    assert {d.mistake: d.value for d in mse.distractors}["mse_summed"] == pytest.approx(20)


def test_variance_propagation_halves_every_layer_after_the_first():
    solution = bank.VariancePropagation().solve({"n": 200, "sigma": 0.1, "layers": 3})
    assert solution.value == pytest.approx(math.sqrt(2.0 * 1.0 * 1.0))  # n sigma^2 = 2, then x (2/2) twice
    assert {d.mistake: d.value for d in solution.distractors}["exam:forgets_relu_half"] == pytest.approx(math.sqrt(8))
