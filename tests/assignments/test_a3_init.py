"""a3_init's own tests (the shared invariants are in tests/assignments/test_invariants.py): the case and
the feedback word that separate each mistake, and the statistics behind
its random-initialiser checks: false failures below one in a million gradings, and every
wrong scale or distribution caught at the sample sizes the cases use."""

from __future__ import annotations

import importlib.util
import math
import sys
from types import MappingProxyType, SimpleNamespace

import nbformat
import numpy as np
import pytest
from invariant_helpers import grade_source

from autograder.course.assignment import load_assignment
from autograder.grading.grade import GRADED, grade_for_assignment
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.publish.build import build_assignment
from autograder.sandbox import SandboxSettings

A3 = load_assignment("a3_init")
HIDDEN = SOLUTIONS_DIR / "a3_init"
SAMPLES = HIDDEN / "samples"
checks = A3.checks
probes = A3.probes
REFERENCE = MappingProxyType(vars(A3.reference))


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_a3_test_{name}", HIDDEN / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _fns(**replaced):
    """The reference's functions with some replaced (a submission as the probes see it)."""
    functions = dict(vars(A3.reference))
    functions.update(replaced)
    return MappingProxyType(functions)


MISTAKES = {m.name: m for m in A3.mistakes}


# --- grading through the sandbox ----------------------------------------------------------------

@pytest.fixture(scope="module")
def graded():
    """graded(name, source) -> result, each submission graded once per test session (shared
    with tests/assignments/test_invariants.py, which grades the reference and every mistake)."""
    return lambda name, source: grade_source(A3, name, source)


def _failed(result):
    return [(r.case.case_id, r.reason) for r in result.case_results if not r.passed]


def test_completed_script_sample_earns_full_marks():
    """(The notebook sample ada.ipynb and the reference: tests/assignments/test_invariants.py.)"""
    result = grade_for_assignment(A3, SAMPLES / "cleo.py", SandboxSettings())
    assert _failed(result) == []
    assert (result.status, result.score) == (GRADED, A3.max_score)


def test_sample_with_mistakes_loses_exactly_its_three_functions():
    result = grade_for_assignment(A3, SAMPLES / "ben.ipynb", SandboxSettings())
    full = A3.question_points()
    got = result.question_scores(A3.questions)
    assert result.status == GRADED
    assert {q for q in A3.questions if got[q] < full[q]} == {"kaiming_std", "activation_stds", "kaiming_init_"}
    assert got["kaiming_init_"] == 1.0  # only "returns the same module" passes: the biases stay


# The case that exists to separate each mistake from the right answer, and a word its
# feedback must contain: if a case or a check is weakened, this table says which mistake
# slips through.
SEPARATING_CASE = {
    "kaiming_xavier_variance": ("kaiming_std/lecture_500_units", "values differ"),
    "kaiming_ignores_slope": ("kaiming_std/prelu_slope", "values differ"),
    "kaiming_slope_not_squared": ("kaiming_std/slope_positional", "values differ"),
    "kaiming_std_returns_variance": ("kaiming_std/one_input", "values differ"),
    "kaiming_fan_out": ("kaiming_normal/more_inputs_than_outputs", "fan_out instead of fan_in"),
    "kaiming_uniform": ("kaiming_normal/lecture_500_units", "normal"),
    "kaiming_global_rng": ("kaiming_normal/reproducible", "global seed"),
    "kaiming_own_generator": ("kaiming_normal/reproducible", "different generator seed"),
    "kaiming_normal_xavier_variance": ("kaiming_normal/lecture_500_units", "1/n instead of 2/n"),
    "kaiming_normal_ignores_slope": ("kaiming_normal/prelu_slope", "negative slope"),
    "kaiming_variance_as_scale": ("kaiming_normal/more_outputs_than_inputs", "standard deviation"),
    "kaiming_normal_transposed": ("kaiming_normal/more_inputs_than_outputs", "shape"),
    "init_nonzero_bias": ("init_mlp/mnist_mlp", "bias"),
    "init_mlp_fan_out": ("init_mlp/widening", "fan_out instead of fan_in"),
    "init_mlp_global_rng": ("init_mlp/reproducible", "global seed"),
    "init_mlp_reseeded_layers": ("init_mlp/lecture_500_units", "same random numbers"),
    "init_mlp_in_out_shapes": ("init_mlp/mnist_mlp", "shape"),
    "init_mlp_input_width_everywhere": ("init_mlp/mnist_mlp", "standard deviation"),
    "stds_after_relu": ("activation_stds/by_hand", "values differ"),
    "stds_per_unit_averaged": ("activation_stds/lecture_kaiming", "values differ"),
    "stds_ignore_bias": ("activation_stds/with_biases", "values differ"),
    "stds_relu_on_input": ("activation_stds/negative_inputs", "values differ"),
    "stds_no_relu": ("activation_stds/lecture_kaiming", "values differ"),
    "stds_sample_ddof": ("activation_stds/lecture_kaiming", "values differ"),
    "stds_relu_in_place": ("activation_stds/small_network", "modified its input"),
    "torch_init_fan_out": ("kaiming_init_/cnn", "fan_out instead of fan_in"),
    "torch_init_keeps_bias": ("kaiming_init_/mlp", "bias must be exactly 0"),
    "torch_init_uniform": ("kaiming_init_/cnn", "normal"),
    "torch_init_linear_only": ("kaiming_init_/cnn", "Conv2d"),
    "torch_init_channels_as_fan_in": ("kaiming_init_/cnn", "kernel area"),
    "torch_init_zeroes_all_vectors": ("kaiming_init_/nested", "BatchNorm"),
    "torch_init_returns_none": ("kaiming_init_/returns_module", "same object"),
    "torch_init_xavier": ("kaiming_init_/mlp", "standard deviation"),
}

FIXED_MISTAKE_NAMES = {
    "kaiming_xavier_variance", "kaiming_fan_out", "kaiming_ignores_slope", "kaiming_uniform",
    "kaiming_global_rng", "init_nonzero_bias", "stds_after_relu", "torch_init_fan_out",
    "torch_init_keeps_bias",
}


def test_the_kit_wide_mistake_names_are_all_here():
    assert FIXED_MISTAKE_NAMES <= set(MISTAKES)
    assert set(SEPARATING_CASE) == set(MISTAKES)


@pytest.mark.parametrize("name", sorted(SEPARATING_CASE))
def test_every_mistake_fails_its_separating_case_with_a_telling_reason(graded, name):
    mistake = MISTAKES[name]
    result = graded(name, mistake.submission_source(A3.reference))
    reasons = dict(_failed(result))
    case_id, word = SEPARATING_CASE[name]
    assert case_id in reasons, (name, sorted(reasons))
    assert word in reasons[case_id], (name, reasons[case_id])


def test_notebook_runs_the_lecture_experiment_with_a_plot():
    source = "\n".join(c.source for c in nbformat.read(A3.student_notebook, as_version=4).cells
                       if c.cell_type == "code")
    assert "matplotlib" in source and "semilogy" in source
    assert "0.01" in source and "1 / WIDTH" in source and "init_mlp([WIDTH] * (DEPTH + 1)" in source
    assert "WIDTH, DEPTH = 500, 10" in source


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_assignment(A3, tmp_path_factory.mktemp("build"))


def test_the_build_ships_probes_for_the_public_cases(built):
    """(Nothing hidden in the student folder: tests/assignments/test_invariants.py.)"""
    assert (built.student_dir / "tests" / "probes.py").is_file()  # public cases use probes


# --- the statistics -------------------------------------------------------------------------------

def test_union_bound_over_one_grading_stays_below_one_in_a_million():
    total = sum(checks.planned_tests(c, A3.expected[c.case_id]) for c in A3.cases)
    assert total >= 40  # the statistical cases are really there
    assert total * checks.DELTA <= 1e-6


def test_thresholds_are_the_derived_ones():
    assert math.erfc(checks.mean_z() / math.sqrt(2)) == pytest.approx(checks.DELTA, rel=1e-6)
    assert checks.mean_z() == pytest.approx(6.109, abs=1e-3)
    lo, hi = checks.std_ratio_band(60_000)
    assert 0.97 < lo < 1.0 < hi < 1.03
    qlo, qhi = checks.tail_fraction_band(60_000)
    assert qlo < checks.P_BEYOND_2SD < qhi
    for q in (qlo, qhi):  # each side of the band costs exactly delta / 2 by the Chernoff bound
        assert math.exp(-60_000 * checks._kl(q, checks.P_BEYOND_2SD)) == pytest.approx(checks.DELTA / 2, rel=1e-6)
    assert checks.kurtosis_bound(60_000) == pytest.approx(10 * math.sqrt(24 / 60_000))


def _statistical_samples():
    """(case id, number of draws, fan_in, fan_out, slope) of every tensor a check judges."""
    out = []
    for case in A3.cases:
        expected = A3.expected[case.case_id]
        if case.check == "kaiming_normal_weights":
            fan_out, fan_in = expected[0].shape
            slope = float(case.args[3]) if len(case.args) > 3 else 0.0
            out.append((case.case_id, fan_out * fan_in, fan_in, fan_out, slope))
        elif case.check == "init_mlp_params":
            for fan_out, fan_in, _ in expected[0].tolist():
                out.append((case.case_id, fan_out * fan_in, fan_in, fan_out, 0.0))
        elif case.check == "kaiming_init_weights":
            for i in range(0, len(expected), 2):
                w = expected[i]
                if w.ndim >= 2:
                    out.append((case.case_id, w.size, int(np.prod(w.shape[1:])),
                                int(w.shape[0] * np.prod(w.shape[2:])), 0.0))
    return out


def _miss_bound(n, ratio):
    """Upper bound on P(a draw with std = ratio * sigma passes the spread test), by the
    Laurent-Massart inequalities for the chi-square with k = n - 1 degrees of freedom."""
    k = n - 1
    lo, hi = checks.std_ratio_band(n)
    if ratio > hi:  # passing needs chi2_k / n <= (hi / ratio)^2: a lower-tail event
        x = k - n * (hi / ratio) ** 2
        return 1.0 if x <= 0 else math.exp(-(x / 2) ** 2 / k)
    if ratio < lo:  # passing needs chi2_k / n >= (lo / ratio)^2: an upper-tail event
        excess = n * (lo / ratio) ** 2 - k
        if excess <= 0:
            return 1.0
        # k + 2 sqrt(k t) + 2 t = k + excess  ->  sqrt(t) = (-sqrt(k) + sqrt(k + 2 excess)) / 2
        root = (-math.sqrt(k) + math.sqrt(k + 2 * excess)) / 2
        return math.exp(-root**2)
    return 1.0


def test_every_checked_tensor_is_large_enough_to_catch_the_wrong_scales():
    samples = _statistical_samples()
    assert samples
    detectable_fan_out = set()
    for case_id, n, fan_in, fan_out, slope in samples:
        if case_id == "kaiming_init_/small_model":
            continue  # the small model is there for biases and the returned module
        assert n >= 1000, case_id
        assert _miss_bound(n, math.sqrt(0.5)) < 1e-12, case_id  # variance 1/n
        assert _miss_bound(n, math.sqrt(2.0)) < 1e-12, case_id  # variance 4/n (e.g. 2/n with fan_in / 2)
        if fan_in != fan_out:
            assert max(fan_in / fan_out, fan_out / fan_in) >= 4 / 3 - 1e-9, case_id
            assert _miss_bound(n, math.sqrt(fan_in / fan_out)) < 1e-9, case_id
            detectable_fan_out.add(case_id.split("/")[0])
        if slope:
            assert _miss_bound(n, math.sqrt(1 + slope**2)) < 1e-9, case_id
        if n >= checks.KURTOSIS_MIN_N:
            # A uniform draw with the right variance never has an entry beyond 2 sigma, and the
            # band for that fraction excludes 0: the uniform mistake cannot pass, at any seed.
            assert checks.tail_fraction_band(n)[0] > 0, case_id
    assert detectable_fan_out == {"kaiming_normal", "init_mlp", "kaiming_init_"}


DRAWS = 2000


def _case(check, *args):
    return SimpleNamespace(check=check, args=args, kwargs={})


@pytest.mark.slow
def test_correct_draws_never_fail_on_2000_seeds():
    """Reference draws through the real probe and check, 2000 seeds at three sizes."""
    false_failures = []
    for fan_out, fan_in, slope in ((100, 120, 0.0), (12, 900, 0.5), (3, 72, 0.0)):
        for seed in range(DRAWS):
            got = (probes.kaiming_normal_sample(REFERENCE, fan_out, fan_in, seed, slope),)
            problem = checks.kaiming_normal_weights(_case("kaiming_normal_weights", fan_out, fan_in, seed, slope),
                                                    got, got)
            if problem:
                false_failures.append((fan_out, fan_in, seed, problem))
    assert false_failures == []


@pytest.mark.slow
def test_wrong_scales_and_uniform_draws_fail_on_every_one_of_2000_seeds():
    """At 12,000 draws (the size of the smaller statistical cases) every seed of every
    wrong draw is caught, and with the reason that names it."""
    mistakes = _load("mistakes")
    fan_out, fan_in = 100, 120  # fan_in / fan_out = 1.2: a milder fan-out change than any case uses
    wrong = {
        "1/n instead of 2/n": mistakes.kaiming_normal_xavier,
        "fan_out instead of fan_in": mistakes.kaiming_normal_fan_out,
        "normal": mistakes.kaiming_normal_uniform,
    }
    for reason, implementation in wrong.items():
        fns = _fns(kaiming_normal=implementation)
        for seed in range(DRAWS):
            got = (probes.kaiming_normal_sample(fns, fan_out, fan_in, seed),)
            expected = (np.zeros((fan_out, fan_in)),)
            problem = checks.kaiming_normal_weights(_case("kaiming_normal_weights", fan_out, fan_in, seed), got,
                                                    expected)
            assert problem and reason in problem, (reason, seed, problem)
    fns = _fns(kaiming_normal=mistakes.kaiming_normal_ignores_slope)
    for seed in range(DRAWS):
        got = (probes.kaiming_normal_sample(fns, 100, 150, seed, 0.5),)
        problem = checks.kaiming_normal_weights(_case("kaiming_normal_weights", 100, 150, seed, 0.5), got, got)
        assert problem and "negative slope" in problem, (seed, problem)


def test_spread_hints_name_the_likely_mistake():
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 0.1 * math.sqrt(0.5), size=20_000)
    assert "1/n instead of 2/n" in checks.normal_sample_problem(x, 0.1, hints=checks._scale_hints(200, 100))
    x = rng.normal(0.0, 0.1, size=20_000)
    assert checks.normal_sample_problem(x, 0.1) is None


def test_normal_shape_tests_catch_a_right_variance_laplace_and_uniform():
    rng = np.random.default_rng(1)
    uniform = rng.uniform(-math.sqrt(3) * 0.1, math.sqrt(3) * 0.1, size=20_000)
    laplace = rng.laplace(0.0, 0.1 / math.sqrt(2), size=20_000)  # also variance 0.01, but heavy tails
    assert "normal" in checks.normal_sample_problem(uniform, 0.1)
    assert "normal" in checks.normal_sample_problem(laplace, 0.1)


def _reproducibility(question, implementation, *args):
    """Which requirements (indexes into checks.REPRODUCIBILITY) the raw probe data fails."""
    probe = getattr(probes, f"{question}_reproducible")
    got = probe(_fns(**{question: implementation}), *args)
    case = SimpleNamespace(question=question, args=args, kwargs={})
    return [i for i, failed in enumerate(checks.reproducibility_failures(case, got)) if failed]


def test_reproducibility_is_judged_in_the_grader_from_raw_draws():
    mistakes = _load("mistakes")
    assert _reproducibility("kaiming_normal", A3.reference.kaiming_normal, 5, 4, 3) == []
    assert _reproducibility("init_mlp", A3.reference.init_mlp, np.array([4, 5, 3]), 3) == []
    # global RNG: differs under two global seeds, moves the global stream, never uses rng
    assert _reproducibility("kaiming_normal", mistakes.kaiming_normal_global_rng, 5, 4, 3) == [0, 2, 3]
    assert _reproducibility("init_mlp", mistakes.init_mlp_global_rng, np.array([4, 5, 3]), 3) == [0, 2, 3]
    # a generator of its own: the same for every seed, and the given one never advances
    assert _reproducibility("kaiming_normal", mistakes.kaiming_normal_own_generator, 5, 4, 3) == [1, 3]

    def polite_but_global(fan_out, fan_in, rng, negative_slope=0.0):
        np.random.random()  # right draws, but it advances the global state
        return rng.normal(0.0, 1.0, size=(fan_out, fan_in))

    assert _reproducibility("kaiming_normal", polite_but_global, 5, 4, 3) == [2]


def test_probes_send_raw_data_never_flags():
    """No output of any a3 probe is a 0/1 verdict: on the reference, every output is a
    draw, a parameter, a shape, a state or a statistic of draws (flags would be exactly
    0.0 or 1.0 of shape (1,) or (4,)). The grader-side constant matches the probes'."""
    assert checks.GLOBAL_SEED_AFTER == probes.GLOBAL_SEEDS[2]
    for case in A3.cases:
        for output in A3.expected[case.case_id]:
            looks_like_flags = output.dtype.kind == "f" and output.size in (1, 3, 4) and set(
                output.ravel().tolist()) <= {0.0, 1.0} and np.any(output == 1.0)
            assert not looks_like_flags, case.case_id
            # The value comparison treats NaN as equal to NaN: no expected NaN to forge.
            assert output.dtype.kind != "f" or not np.isnan(output).any(), case.case_id


def test_checks_never_name_a_hidden_seed():
    mistakes = _load("mistakes")
    fns = _fns(kaiming_normal=mistakes.kaiming_normal_fan_out)
    for case in A3.cases:
        if case.check == "kaiming_normal_weights" and not case.public:
            got = probes.kaiming_normal_sample(fns, *case.args)
            problem = checks.kaiming_normal_weights(case, (got,), A3.expected[case.case_id]) or ""
            assert str(case.args[2]) not in problem


def _forged_variants(output):
    """What a forged record may hold instead of ``output``: any numeric array."""
    yield np.array(np.nan)
    yield np.zeros(0)
    yield np.full(output.shape, np.nan)
    yield np.ones(output.shape, dtype=np.int64)
    yield np.ones((2,) + output.shape)
    yield np.array([np.inf, -np.inf])


def test_every_check_answers_any_forged_output_without_raising():
    """A forged record passes the protocol with any numeric arrays in it; the checks must
    then give a verdict (a reason, or None), never a grader error."""
    for case in A3.cases:
        if not case.check:
            continue
        expected = A3.expected[case.case_id]
        check = A3.probes_and_checks.checks[case.check]
        for i, output in enumerate(expected):
            for forged in _forged_variants(np.asarray(output)):
                got = expected[:i] + (forged,) + expected[i + 1:]
                with np.errstate(all="ignore"):
                    verdict = check(case, got, expected)
                assert verdict is None or isinstance(verdict, str), (case.case_id, i)
