"""Statistical checks for a3_init's random initialisers. HIDDEN: grader process only.

A random initialiser cannot be compared value for value with the reference, so these
checks test what the contract promises about the *distribution* of the returned weights:
the shape, and that the entries look like independent draws from N(0, sigma^2) with
sigma = sqrt(2 / ((1 + a^2) * fan_in)). Each check returns a sentence for the student
(naming the statistic, never a hidden input value) or None when the case passes.

Every verdict is made here, from raw data: the probes (probes.py) send back the draws, the
weights, a generator's state and np.random's next number, never a flag. Reproducibility,
for one, is judged from two draws under different global seeds, a draw for another seed,
and states this module computes itself from the seed (``reproducibility_failures``).

How the thresholds were chosen
==============================

Goal: a correct implementation fails a grading less than once in a million, while the
listed mistakes (variance 1/n instead of 2/n, fan_out instead of fan_in, the slope ignored,
uniform instead of normal) fail with overwhelming probability at the sample sizes used.

Union bound (Bonferroni). One grading runs T statistical tests in all
(``planned_tests`` counts them; 100 for the whole assignment as it stands). Each test is
given a false-alarm probability of at most DELTA = 1e-9, so P(any false failure) <= T * DELTA
= 1e-7 < 1e-6, whatever the dependence between the tests. ``tests/assignments/test_a3_init.py``
recomputes T from the actual cases and asserts T * DELTA <= 1e-6.

For n weights x_1..x_n that are i.i.d. N(0, sigma^2) with the target sigma known:

1. Mean. The sample mean is exactly N(0, sigma^2 / n). Reject when
   |mean| > z * sigma / sqrt(n) with 2 * Phi(-z) = DELTA, i.e. z = 6.11 (exact, no
   approximation).

2. Spread. With s^2 = mean((x - mean)^2) (np.std, ddof=0), n s^2 / sigma^2 is exactly
   chi-square with k = n - 1 degrees of freedom. The Laurent-Massart inequalities
   (Ann. Statist. 2000, Lemma 1) bound both tails for every k, with no normal approximation:
       P(chi2_k >= k + 2 sqrt(k t) + 2 t) <= exp(-t),   P(chi2_k <= k - 2 sqrt(k t)) <= exp(-t).
   With t = ln(2 / DELTA) = 21.4 each side gets DELTA / 2. The ratio s / sigma must lie in
   [sqrt((k - 2 sqrt(kt)) / n), sqrt((k + 2 sqrt(kt) + 2t) / n)]; roughly
   1 +- sqrt(t / n) = 1 +- 0.019 at n = 60,000 (the normal approximation, std(s / sigma) =
   1 / sqrt(2n), would give the slightly narrower 1 +- 6.1 / sqrt(2n) = 1 +- 0.018).

3. Shape, tails. K = #{|x_i| > 2 sigma} is exactly Binomial(n, p0), p0 = 2 Phi(-2) =
   0.0455. The Chernoff bound P(K >= n q) <= exp(-n KL(q || p0)) (q > p0; likewise below)
   gives the band [q_lo, q_hi] with n KL(q || p0) = ln(2 / DELTA) on each side (about
   [0.040, 0.051] at n = 60,000). A uniform draw with the right variance has no entry
   beyond 2 sigma (its support ends at sqrt(3) sigma); a truncated normal has none either.

4. Shape, kurtosis (only for n >= KURTOSIS_MIN_N = 10,000). The sample excess kurtosis
   g2 = m4 / m2^2 - 3 of a normal sample has mean -6/(n+1) and variance 24/n (n large).
   Its distribution is right-skewed (skewness about sqrt(216 / n)) and x^4 is heavy-tailed,
   so the normal approximation is not trusted at 1e-9; the band is widened to
   |g2| <= KURTOSIS_Z * sqrt(24 / n) with KURTOSIS_Z = 10 instead of 6.1. A Cornish-Fisher
   correction at z = 10 and n = 10,000 moves the true 1e-9 quantile by about
   (z^2 - 1) * skewness / 6 = 2.4 standard errors, still inside 10. (Deviations this large
   driven by one huge x_i need |x_i| of order (n * 0.5)^(1/4) sigma ~ 8 sigma at n = 10,000,
   a probability below 1e-11 per grading.) A uniform sample has g2 = -1.2 with a far
   smaller spread, i.e. more than 40 standard errors away at n = 10,000 (0.49 vs 1.2).

Power against the listed mistakes, at the sizes used (every statistical case draws at
least 10,000 weights per checked tensor, except the small-model PyTorch case):
- variance 1/n: s / sigma = 0.707, outside any band above n = 100;
- fan_out instead of fan_in: s / sigma = sqrt(fan_in / fan_out); every case has
  fan_in / fan_out at most 0.75 or at least 1.33, i.e. a 13% or larger change, more than
  six times the half-width of the band;
- slope ignored: for a = 0.5 the std is sqrt(1.25) = 1.118 times too large;
- uniform instead of normal: no mass beyond 2 sigma (the band starts at 0.040 at n = 60,000)
  and g2 = -1.2.
``tests/assignments/test_a3_init.py`` draws 2,000 samples of each kind and confirms: zero failures for
correct draws, every wrong draw caught.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

DELTA = 1e-9  # false-alarm probability allowed per statistical test
KURTOSIS_MIN_N = 10_000
KURTOSIS_Z = 10.0
P_BEYOND_2SD = math.erfc(math.sqrt(2.0))  # P(|Z| > 2) = 0.0455003


# --- thresholds ---------------------------------------------------------------------------

@cache
def mean_z(delta: float = DELTA) -> float:
    """z with P(|Z| > z) = delta for a standard normal Z (bisection on erfc)."""
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if math.erfc(mid / math.sqrt(2.0)) > delta:
            lo = mid
        else:
            hi = mid
    return hi


@cache
def std_ratio_band(n: int, delta: float = DELTA) -> tuple[float, float]:
    """Band for s / sigma (s = np.std, ddof=0) from the Laurent-Massart chi-square bounds."""
    k = n - 1
    t = math.log(2.0 / delta)
    lower = max(k - 2.0 * math.sqrt(k * t), 0.0)
    upper = k + 2.0 * math.sqrt(k * t) + 2.0 * t
    return math.sqrt(lower / n), math.sqrt(upper / n)


def _kl(q: float, p: float) -> float:
    """KL divergence of Bernoulli(q) from Bernoulli(p)."""
    def term(a, b):
        return 0.0 if a == 0.0 else a * math.log(a / b)
    return term(q, p) + term(1.0 - q, 1.0 - p)


@cache
def tail_fraction_band(n: int, delta: float = DELTA, p: float = P_BEYOND_2SD) -> tuple[float, float]:
    """Band for the fraction of draws beyond 2 sigma: Chernoff bound per side, delta / 2 each."""
    budget = math.log(2.0 / delta) / n

    def solve(lo, hi, inside_is_low):
        # KL(q || p) grows monotonically away from p; find where it reaches ``budget``.
        for _ in range(200):
            mid = (lo + hi) / 2
            if (_kl(mid, p) < budget) == inside_is_low:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    upper = solve(p, 1.0, True) if _kl(1.0, p) > budget else 1.0
    lower = solve(0.0, p, False) if _kl(0.0, p) > budget else 0.0
    return lower, upper


def kurtosis_bound(n: int) -> float:
    return KURTOSIS_Z * math.sqrt(24.0 / n)


def tests_for_sample(n: int) -> int:
    """How many statistical tests ``normal_sample_problem`` runs on n draws."""
    return 3 + (1 if n >= KURTOSIS_MIN_N else 0)


# --- the test on one sample -----------------------------------------------------------------

def normal_sample_problem(x: np.ndarray, sigma: float, what: str = "the weights",
                          hints: dict[str, float] | None = None) -> str | None:
    """None if ``x`` passes as i.i.d. N(0, sigma^2) draws, else a sentence for the student.

    hints: {explanation: std ratio that mistake would produce}, named when the observed
    ratio is within 3% of one of them.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    if n < 2:
        return f"{what}: too few entries to judge"
    if not np.all(np.isfinite(x)):
        return f"{what} contain NaN or infinity"
    mean = float(np.mean(x))
    z = abs(mean) * math.sqrt(n) / sigma
    if z > mean_z():
        return (f"{what} are not centred on 0: their mean is {z:.1f} standard errors away from 0 "
                "(draw from a normal distribution with mean 0)")
    ratio = float(np.std(x)) / sigma
    lo, hi = std_ratio_band(n)
    if not lo <= ratio <= hi:
        text = (f"{what} have standard deviation {ratio:.3f} times the Kaiming value "
                f"sqrt(2 / ((1 + a^2) * fan_in)); for {n} draws it must be within {lo:.3f} to {hi:.3f}")
        for explanation, expected_ratio in (hints or {}).items():
            if abs(ratio / expected_ratio - 1.0) < 0.03:
                text += f" (that ratio is what {explanation} gives)"
                break
        return text
    fraction = float(np.mean(np.abs(x) > 2.0 * sigma))
    lo, hi = tail_fraction_band(n)
    if not lo <= fraction <= hi:
        return (f"{what} do not look normally distributed: {fraction:.2%} of them lie beyond 2 standard "
                f"deviations, a normal distribution has {P_BEYOND_2SD:.2%} there (a uniform one 0%): "
                "draw from a normal (Gaussian) distribution")
    if n >= KURTOSIS_MIN_N:
        centred = x - mean
        g2 = float(np.mean(centred**4) / np.mean(centred**2) ** 2 - 3.0)
        if abs(g2) > kurtosis_bound(n):
            return (f"{what} do not look normally distributed: excess kurtosis {g2:.2f}, a normal "
                    "distribution has 0 (a uniform one -1.2): draw from a normal (Gaussian) distribution")
    return None


def _scale_hints(fan_in: float, fan_out: float, slope: float = 0.0) -> dict[str, float]:
    hints = {"variance 1/n instead of 2/n": math.sqrt(0.5)}
    if fan_out != fan_in:
        hints["fan_out instead of fan_in"] = math.sqrt(fan_in / fan_out)
    if slope:
        hints["ignoring the negative slope"] = math.sqrt(1.0 + slope**2)
    return hints


def _shape_problem(got: np.ndarray, want: np.ndarray, what: str) -> str | None:
    if got.shape != want.shape:
        return f"{what} have shape {got.shape}; expected {want.shape}"
    return None


# --- checks named by the cases --------------------------------------------------------------

def kaiming_normal_weights(case, got, expected) -> str | None:
    """Probe ``kaiming_normal_sample``: one (fan_out, fan_in) array of N(0, kaiming_std^2) draws."""
    fan_out, fan_in = int(case.args[0]), int(case.args[1])
    slope = float(case.kwargs.get("negative_slope", case.args[3] if len(case.args) > 3 else 0.0))
    problem = _shape_problem(got[0], expected[0], "the weights")
    if problem:
        return problem + " = (fan_out, fan_in)"
    sigma = math.sqrt(2.0 / ((1.0 + slope**2) * fan_in))
    return normal_sample_problem(got[0], sigma, hints=_scale_hints(fan_in, fan_out, slope))


REPRODUCIBILITY = (
    "the same generator seed must give the same weights, whatever np.random's global seed "
    "(draw only from the rng argument)",
    "a different generator seed must give different weights (do not create your own generator)",
    "np.random's global state must be left alone (draw from the rng argument, not np.random.*)",
    "the function must draw from the rng argument it is given",
)


GLOBAL_SEED_AFTER = 13  # probes.GLOBAL_SEEDS[2] (tests/assignments/test_a3_init.py keeps them equal)


def _probe_seed(case) -> int:
    """The generator seed a ``*_reproducible`` probe was given: the argument after the
    shapes (``kaiming_normal``: fan_out, fan_in, seed; ``init_mlp``: sizes, seed)."""
    return int(case.args[2] if case.question == "kaiming_normal" else case.args[1])


def untouched_global_next() -> int:
    """np.random's next 63-bit integer right after np.random.seed(GLOBAL_SEEDS[2]), computed
    here from a fresh RandomState: what a probe sees when the function left the global
    stream alone."""
    return int(np.random.RandomState(GLOBAL_SEED_AFTER).randint(0, 2**63 - 1, dtype=np.int64))


def generator_state_words(seed: int) -> list[int]:
    """default_rng(seed)'s PCG64 state before any draw, as the probe encodes it:
    [state high, state low, increment high, increment low] (64-bit words)."""
    state = np.random.default_rng(seed).bit_generator.state["state"]
    return [word for name in ("state", "inc") for word in divmod(int(state[name]), 2**64)]


def reproducibility_failures(case, got) -> list[bool]:
    """Four booleans, in the order of REPRODUCIBILITY (True: that requirement fails), from
    the probe's raw (first, second, other, global_next, state_after)."""
    first, second, other, global_next, state_after = (np.asarray(g) for g in got)
    same = first.shape == second.shape and bool(np.array_equal(first, second))
    differs = first.shape != other.shape or not bool(np.array_equal(first, other))
    untouched = (global_next.shape == (1,) and global_next.dtype.kind in "iu"
                 and int(global_next[0]) == untouched_global_next())
    advanced = state_after.shape != (4,) or state_after.astype(object).tolist() != \
        generator_state_words(_probe_seed(case))
    return [not same, not differs, not untouched, not advanced]


def reproducible(case, got, expected) -> str | None:
    """Probe ``*_reproducible`` (raw draws and states, see probes._reproducibility_data):
    the same seed gives the same draw under two global seeds, another seed another draw,
    np.random's global stream is left where it was, the given generator advances."""
    if len(got) != len(REPRODUCIBILITY) + 1:
        return "the reproducibility probe returned something unexpected"
    for failed, requirement in zip(reproducibility_failures(case, got), REPRODUCIBILITY, strict=True):
        if failed:
            return requirement
    return None


def init_mlp_params(case, got, expected) -> str | None:
    """Probe ``init_mlp_sample``: (shapes (L, 3), all W entries, all b entries)."""
    shapes, weights, biases = (np.asarray(g) for g in got)
    want = np.asarray(expected[0])
    if shapes.shape != want.shape:
        pairs = shapes.shape[0] if shapes.ndim else 0
        return f"returned {pairs} (W, b) pairs; expected {want.shape[0]}, one per layer"
    for layer, (row, row_want) in enumerate(zip(shapes.tolist(), want.tolist(), strict=True), start=1):
        if row != row_want:
            return (f"layer {layer}: W has shape {tuple(row[:2])} and b shape ({row[2]},); expected "
                    f"W {tuple(row_want[:2])} = (out, in) and b ({row_want[2]},)")
    if biases.shape != np.asarray(expected[2]).shape or not np.all(biases == 0.0):
        return "every bias must be exactly 0 at initialisation"
    if weights.shape != np.asarray(expected[1]).shape:  # only a forged result gets here
        return "the weights do not match the shapes of the layers"
    start, heads = 0, []
    for layer, (fan_out, fan_in, _) in enumerate(want.tolist(), start=1):
        stop = start + fan_out * fan_in
        sigma = math.sqrt(2.0 / fan_in)
        problem = normal_sample_problem(weights[start:stop], sigma, f"layer {layer}'s weights",
                                        _scale_hints(fan_in, fan_out))
        if problem:
            return problem
        heads.append(weights[start:start + SHARED_DRAWS] / sigma)
        start = stop
    return _repeated_draws(heads)


SHARED_DRAWS = 64


def _repeated_draws(heads: list[np.ndarray]) -> str | None:
    """Layers whose first standardised draws coincide came from re-seeded generators.

    Independent continuous draws never agree to 1e-6 on 64 entries (probability 0), so this
    exact test adds nothing to the false-failure budget.
    """
    for i, first in enumerate(heads):
        for j in range(i + 1, len(heads)):
            k = min(first.size, heads[j].size)
            if k >= 8 and np.allclose(first[:k], heads[j][:k], rtol=1e-6, atol=0.0):
                return (f"layers {i + 1} and {j + 1} start with the same random numbers: draw every "
                        "layer from the one generator you are given, without re-seeding")
    return None


def _layer_name(index: int, weight: np.ndarray) -> str:
    kind = {4: "Conv2d", 2: "Linear", 1: "BatchNorm2d"}.get(weight.ndim, "layer")
    return f"layer {index} ({kind})"


def kaiming_init_weights(case, got, expected) -> str | None:
    """Probe ``kaiming_init_params``: one (weight, bias) pair per Linear / Conv2d /
    BatchNorm2d of the module given. Linear/Conv2d weights: N(0, 2 / fan_in) with fan_in =
    prod(weight.shape[1:]); everything else must equal the reference (biases 0, BatchNorm
    untouched)."""
    for i in range(0, len(expected), 2):
        weight, bias = np.asarray(got[i]), np.asarray(got[i + 1])
        want_weight, want_bias = np.asarray(expected[i]), np.asarray(expected[i + 1])
        name = _layer_name(i // 2 + 1, want_weight)
        problem = _shape_problem(weight, want_weight, f"{name}: the weights")
        if problem:
            return problem
        if want_weight.ndim >= 2:
            fan_in = int(np.prod(want_weight.shape[1:]))
            fan_out = int(want_weight.shape[0] * np.prod(want_weight.shape[2:]))
            hints = _scale_hints(fan_in, fan_out)
            if want_weight.ndim == 4:
                hints["using in_channels without the kernel area as fan_in"] = math.sqrt(
                    float(np.prod(want_weight.shape[2:])))
            problem = normal_sample_problem(weight, math.sqrt(2.0 / fan_in), f"{name}: the weights", hints)
            if problem:
                return problem
        elif not np.array_equal(weight, want_weight):
            return f"{name}: BatchNorm parameters must be left as they are (only Linear and Conv2d are initialised)"
        if bias.shape != want_bias.shape or not np.array_equal(bias, want_bias):
            if want_weight.ndim == 1:
                return f"{name}: BatchNorm parameters must be left as they are"
            return f"{name}: the bias must be exactly 0 after initialisation"
    return None


def returns_module(case, got, expected) -> str | None:
    """Probe ``kaiming_init_returned``: (the given module's parameters, the returned one's).

    Identity itself is not data: the grader sees that what came back holds exactly the
    parameters of the module that was initialised (see spec.py)."""
    given, returned = (np.asarray(g) for g in got)
    if given.size == 0 or returned.shape != given.shape or not np.array_equal(returned, given):
        return "kaiming_init_ must return the module it was given (the same object, changed in place)"
    return None


# --- bookkeeping for the union bound ----------------------------------------------------------

def planned_tests(case, expected) -> int:
    """How many statistical tests (each with false-alarm probability <= DELTA) ``case`` runs
    on a correct submission. Exact tests (shapes, zeros, equalities) never fail it and count 0."""
    if case.check == "kaiming_normal_weights":
        return tests_for_sample(int(np.asarray(expected[0]).size))
    if case.check == "init_mlp_params":
        return sum(tests_for_sample(int(out * inp)) for out, inp, _ in np.asarray(expected[0]).tolist())
    if case.check == "kaiming_init_weights":
        return sum(tests_for_sample(int(np.asarray(e).size))
                   for i, e in enumerate(expected) if i % 2 == 0 and np.asarray(e).ndim >= 2)
    return 0
