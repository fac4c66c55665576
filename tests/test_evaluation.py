"""The statistics of human studies and metrics (genai_lib.evaluation): hand-computed values,
reference implementations and coverage by simulation."""
import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from genai_lib import evaluation as ev

# Fleiss (1971) / Wikipedia's example: 10 items, 14 raters, 5 categories; kappa = 0.210
FLEISS_EXAMPLE = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                  [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]


@pytest.mark.parametrize("method", ["wilson", "exact"])
@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (17, 40), (250, 1000)])
def test_binomial_ci_matches_scipy(method, k, n):
    ref = stats.binomtest(k, n).proportion_ci(0.95, method=method)
    assert ev.binomial_ci(k, n, method=method) == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_binomial_ci_wilson_by_hand():
    # k = 8 of n = 20, z = 1.959964: centre (0.4 + z^2/40) / (1 + z^2/20)
    z = 1.959963984540054
    centre = (0.4 + z * z / 40) / (1 + z * z / 20)
    half = z / (1 + z * z / 20) * math.sqrt(0.4 * 0.6 / 20 + z * z / 1600)
    assert ev.binomial_ci(8, 20) == pytest.approx((centre - half, centre + half))
    assert ev.binomial_ci(8, 20) == pytest.approx((0.2188, 0.6134), abs=1e-4)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_binomial_ci_coverage(p):
    """Exact coverage (a sum over the binomial pmf): the exact interval never covers less than
    95%; Wilson's stays close to it on average."""
    n = 40
    pmf = stats.binom.pmf(np.arange(n + 1), n, p)
    for method, low in (("exact", 0.95), ("wilson", 0.92)):
        inside = [lo <= p <= hi for lo, hi in (ev.binomial_ci(k, n, method=method) for k in range(n + 1))]
        assert pmf @ np.array(inside) >= low


def test_sample_size_known_values():
    # one proportion, 0.5 vs 0.6: ((1.96 * 0.5 + 0.8416 * sqrt(0.24)) / 0.1)^2 = 193.9
    assert ev.sample_size(0.5, 0.6) == 194
    # two groups, 0.5 vs 0.6: 388 per group (the textbook value without continuity correction)
    assert ev.sample_size(0.5, 0.6, two_sample=True) == 388
    assert ev.sample_size(0.5, 0.4) == ev.sample_size(0.5, 0.4, 0.05, 0.8)
    assert ev.power(0.5, 0.6, 194) == pytest.approx(0.8, abs=0.005)


def test_sample_size_matches_simulated_power():
    """Studies of the planned size, simulated: the z-test rejects about 80% of the time."""
    rng = np.random.default_rng(0)
    n = ev.sample_size(0.5, 0.4, power=0.8)
    k = rng.binomial(n, 0.4, size=20000)
    z = (k / n - 0.5) / math.sqrt(0.25 / n)
    assert abs((np.abs(z) > 1.959964).mean() - 0.8) < 0.02


def test_cohen_kappa_by_hand():
    # rows: rater A yes/no, columns: rater B; p_o = 0.7, p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5
    assert ev.cohen_kappa([[20, 5], [10, 15]]) == pytest.approx(0.4)
    assert ev.cohen_kappa([[10, 0], [0, 30]]) == pytest.approx(1.0)  # perfect agreement
    assert ev.cohen_kappa([[25, 25], [25, 25]]) == pytest.approx(0.0)  # agreement at chance


def test_cohen_kappa_ratings_match_sklearn():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 3, 200)
    b = np.where(rng.random(200) < 0.6, a, rng.integers(0, 3, 200))
    assert ev.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    independent = ev.cohen_kappa(rng.integers(0, 2, 5000), rng.integers(0, 2, 5000))
    assert abs(independent) < 0.05


def test_fleiss_kappa():
    assert ev.fleiss_kappa(FLEISS_EXAMPLE) == pytest.approx(0.2099, abs=1e-4)
    assert ev.fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)
    # many raters guessing at random: kappa near 0
    rng = np.random.default_rng(2)
    counts = np.stack([np.bincount(rng.integers(0, 2, 6), minlength=2) for _ in range(3000)])
    assert abs(ev.fleiss_kappa(counts)) < 0.03
    # two raters: Fleiss' kappa equals Scott's pi, close to Cohen's when the marginals agree
    a = rng.integers(0, 2, 400)
    b = np.where(rng.random(400) < 0.7, a, rng.integers(0, 2, 400))
    two = np.stack([np.bincount([x, y], minlength=2) for x, y in zip(a, b)])
    assert ev.fleiss_kappa(two) == pytest.approx(ev.cohen_kappa(a, b), abs=0.02)


def test_bootstrap_ci_covers_the_mean():
    """95% intervals for the mean of 50 exponential draws cover the true mean (1) about 95% of
    the time (the percentile bootstrap undercovers a little for a skewed law)."""
    rng = np.random.default_rng(3)
    hits = [ev.bootstrap_ci(np.mean, rng.exponential(1.0, 50), n_boot=300, seed=s) for s in range(300)]
    coverage = np.mean([lo <= 1.0 <= hi for lo, hi in hits])
    assert 0.85 <= coverage <= 0.99, coverage


def test_bootstrap_ci_two_samples_and_replicates():
    x, y = np.arange(100.0), np.arange(100.0) + 10
    low, high, reps = ev.bootstrap_ci(lambda a, b: b.mean() - a.mean(), x, y, n_boot=500,
                                      return_replicates=True)
    assert low < 10 < high and len(reps) == 500
    assert ev.bootstrap_ci(np.mean, x, seed=4) == ev.bootstrap_ci(np.mean, x, seed=4)  # seeded


def test_fit_inverse_n_recovers_the_line():
    ns = np.array([250, 500, 1000, 2000, 5000])
    v_inf, k = ev.fit_inverse_n(ns, 3.0 + 800.0 / ns)
    assert (v_inf, k) == pytest.approx((3.0, 800.0))


def test_two_afc_rounds():
    d = ev.two_afc_rounds(20, 4, seed=0)
    real = ~d["attention"]
    assert d["attention"].sum() == 4 and d["fake_left"][real].sum() == 8
    assert d["fake_left"][d["attention"]].sum() == 2  # balanced within the checks too
    for s in range(50):  # an always-left rater scores exactly 50% on the counted rounds
        d = ev.two_afc_rounds(200, 20, seed=s)
        assert d["fake_left"][~d["attention"]].mean() == 0.5
        odd = ev.two_afc_rounds(20, 3, seed=s)  # 17 counted rounds: 8 or 9 on the left
        assert odd["fake_left"][~odd["attention"]].sum() in (8, 9)
    sides = np.stack([ev.two_afc_rounds(21, seed=s)["fake_left"] for s in range(400)])
    assert abs(sides.mean() - 0.5) < 0.02  # randomized: no side favoured
    assert not (sides[0] == sides[1]).all()


@pytest.mark.parametrize("call,error,fragment", [
    (lambda: ev.binomial_ci(5, 3), ValueError, "k must be an integer between 0 and 3"),
    (lambda: ev.binomial_ci(1, 3, method="wald"), ValueError, "method must be"),
    (lambda: ev.sample_size(0.5, 0.5), ValueError, "p1 must be different from p0"),
    (lambda: ev.cohen_kappa([[1, 2, 3], [4, 5, 6]]), ValueError, "square table"),
    (lambda: ev.cohen_kappa([[5, 0], [0, 0]]), ValueError, "at least two categories"),
    (lambda: ev.fleiss_kappa([[1, 2], [3, 3]]), ValueError, "rows all sum to the same"),
    (lambda: ev.bootstrap_ci(np.mean, np.ones(1)), ValueError, "samples[0] must be"),
    (lambda: ev.bootstrap_ci(lambda x: x * 2, np.ones(5)), ValueError, "returning one number"),
    (lambda: ev.bootstrap_ci(lambda x: np.nan, np.ones(5)), ValueError, "returning a finite number"),
    (lambda: ev.cohen_kappa([0, 0, 0], [0, 0, 0]), ValueError, "at least two categories"),
    (lambda: ev.fleiss_kappa([[1.5, 1.5], [2, 1]]), ValueError, "whole numbers of raters"),
    (lambda: ev.fit_inverse_n([100, 100], [1.0, 2.0]), ValueError, "two different sample sizes"),
])
def test_bad_input(call, error, fragment):
    with pytest.raises(error, match=None) as info:
        call()
    assert fragment in str(info.value)


def test_manifold_membership_matches_precision_recall():
    import torch

    from genai_lib import metrics

    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 4, generator=g), 0.7 * torch.randn(200, 4, generator=g) + 0.5
    fake_in, real_in = ev.manifold_membership(real, fake)
    assert (fake_in.mean(), real_in.mean()) == pytest.approx(metrics.precision_recall(real, fake), abs=1e-6)
    assert fake_in.shape == (200,) and real_in.shape == (300,)


def test_bootstrap_ci_basic_corrects_a_known_bias():
    """The plug-in variance mean((x - mean(x))^2) has bias -sigma^2 / n. The bootstrap's bias
    estimate (mean of the replicates minus the estimate) recovers it, 2 estimate - mean of the
    replicates removes it, and the basic interval sits lower than the percentile one by about
    twice the bias."""
    rng = np.random.default_rng(5)
    n, plug_in = 20, lambda a: np.mean((a - a.mean()) ** 2)
    biases, corrected, plain = [], [], []
    for s in range(200):
        x = rng.normal(0.0, 1.0, n)
        low, high, reps = ev.bootstrap_ci(plug_in, x, n_boot=200, seed=s, return_replicates=True)
        biases.append((reps.mean() - plug_in(x)) / plug_in(x))  # relative: -1 / n expected
        corrected.append(2 * plug_in(x) - reps.mean())
        plain.append(plug_in(x))
        b_low, b_high = ev.bootstrap_ci(plug_in, x, n_boot=200, seed=s, method="basic")
        # the basic interval is the percentile one reflected about the estimate
        assert (b_low, b_high) == pytest.approx((2 * plug_in(x) - high, 2 * plug_in(x) - low))
    assert np.mean(biases) == pytest.approx(-1 / n, rel=0.1)
    assert abs(np.mean(corrected) - 1.0) < abs(np.mean(plain) - 1.0) / 3  # plain: 1 - 1/n
    assert np.mean(plain) == pytest.approx(1 - 1 / n, abs=0.02)


def test_bootstrap_ci_accepts_lists():
    assert ev.bootstrap_ci(np.mean, [1.0, 2.0, 3.0, 4.0], seed=1) == ev.bootstrap_ci(
        np.mean, np.array([1.0, 2.0, 3.0, 4.0]), seed=1
    )


def test_chapter_8a_checks():
    """The self-checks of notebook 8a accept the library's answers and reject common mistakes."""
    from genai_lib import check

    assert check.wilson_interval(lambda k, n, z: ev.binomial_ci(k, n, level=2 * stats.norm.cdf(z) - 1))
    wald = lambda k, n, z: (k / n - z * math.sqrt(k / n * (1 - k / n) / n),
                            k / n + z * math.sqrt(k / n * (1 - k / n) / n))
    assert not check.wilson_interval(wald)
    assert check.kappa_from_table(lambda t: ev.cohen_kappa(t))
    observed = lambda t: np.trace(np.asarray(t, float)) / np.sum(t)  # raw agreement
    assert not check.kappa_from_table(observed)

    def kappa_with(p_e_of):
        def fn(t):
            p = np.asarray(t, float) / np.sum(t)
            p_e = p_e_of(p.sum(1), p.sum(0))
            return (np.trace(p) - p_e) / (1 - p_e)
        return fn

    assert not check.kappa_from_table(kappa_with(lambda r, c: r @ r))  # rows squared
    assert not check.kappa_from_table(kappa_with(lambda r, c: ((r + c) / 2) @ ((r + c) / 2)))  # Scott
    assert not check.kappa_from_table(kappa_with(lambda r, c: 1 / len(r)))  # Bennett's S
