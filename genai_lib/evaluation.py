"""Evaluate with people and with numbers: the statistics behind a study and a metric.

A human study ends in counts (how often raters were fooled, how often they agreed) and a
metric in one number from a finite sample; both are estimates, so each comes with an
interval, and a study is planned with enough rounds to detect the difference it asks about.

* :func:`binomial_ci`: an interval for a proportion (Wilson 1927, or Clopper-Pearson's exact);
* :func:`sample_size` and :func:`power`: how many rounds a test of a proportion needs;
* :func:`cohen_kappa` (two raters) and :func:`fleiss_kappa` (many): agreement beyond chance;
* :func:`bootstrap_ci`: a percentile or basic bootstrap interval for any statistic of samples;
* :func:`fit_inverse_n`: extrapolate a biased estimate, value_N = value_inf + k / N
  (Chong & Forsyth, 2020, for FID);
* :func:`two_afc_rounds`: a randomized, counterbalanced two-alternative forced-choice design.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import stats

from .validate import check_int, check_number, fail


def _z(p: float) -> float:
    """The standard normal quantile $z_p = \\Phi^{-1}(p)$."""
    return float(stats.norm.ppf(p))


def binomial_ci(k: int, n: int, level: float = 0.95, method: str = "wilson") -> tuple[float, float]:
    """Confidence interval for a proportion after ``k`` successes in ``n`` trials.

    ``"wilson"`` (Wilson, 1927) inverts the normal test, with $\\hat p = k/n$, $z = z_{1-\\alpha/2}$:
    $\\frac{\\hat p + z^2/2n}{1 + z^2/n} \\pm \\frac{z}{1 + z^2/n}\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}$.
    ``"exact"`` (Clopper & Pearson, 1934) inverts the binomial test with Beta quantiles; it
    never covers less than ``level`` (it is conservative) and is usually wider. Unlike $\\hat p \\pm z\\sqrt{\\hat p(1-\\hat p)/n}$
    (Wald), neither collapses to a point at k = 0 or k = n.
    """
    n = check_int(n, "n", low=1, fix="a study needs at least one round")
    k = check_int(k, "k", 0, n, fix=f"the number of successes k is at most the n = {n} trials")
    level = check_number(level, "level", 0, 1, low_open=True, high_open=True, fix="e.g. 0.95")
    if method not in ("wilson", "exact"):
        fail("method", "'wilson' or 'exact'", repr(method))
    alpha = 1 - level
    if method == "exact":
        low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
        high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
        return low, high
    z, p = _z(1 - alpha / 2), k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _check_design(p0: float, p1: float, alpha: float) -> tuple[float, float, float]:
    p0 = check_number(p0, "p0", 0, 1, low_open=True, high_open=True)
    p1 = check_number(p1, "p1", 0, 1, low_open=True, high_open=True)
    if p0 == p1:
        fail("p1", "different from p0 (the difference the study must detect)", p1)
    alpha = check_number(alpha, "alpha", 0, 1, low_open=True, high_open=True, fix="e.g. 0.05")
    return p0, p1, alpha


def _spreads(p0: float, p1: float, two_sample: bool) -> tuple[float, float]:
    """Standard deviations of one trial under the null and under the alternative."""
    if two_sample:  # two groups of n: the null pools them at the mean proportion
        pbar = (p0 + p1) / 2
        return math.sqrt(2 * pbar * (1 - pbar)), math.sqrt(p0 * (1 - p0) + p1 * (1 - p1))
    return math.sqrt(p0 * (1 - p0)), math.sqrt(p1 * (1 - p1))


def sample_size(p0: float, p1: float, alpha: float = 0.05, power: float = 0.8,
                two_sample: bool = False) -> int:
    """Trials needed for a two-sided level-``alpha`` test to detect ``p1`` against ``p0`` with
    probability ``power`` (normal approximation):
    $n = \\left(\\frac{z_{1-\\alpha/2}\\,\\sigma_0 + z_{\\mathrm{power}}\\,\\sigma_1}{p_1 - p_0}\\right)^2$,
    with $\\sigma_0 = \\sqrt{p_0(1-p_0)}$, $\\sigma_1 = \\sqrt{p_1(1-p_1)}$ for one proportion against
    a fixed $p_0$ (a fool rate against 50%); for two groups (``two_sample``, n per group)
    $\\sigma_0 = \\sqrt{2\\bar p(1-\\bar p)}$, $\\sigma_1 = \\sqrt{p_0(1-p_0) + p_1(1-p_1)}$.
    """
    p0, p1, alpha = _check_design(p0, p1, alpha)
    power = check_number(power, "power", alpha, 1, low_open=True, high_open=True,
                         fix="the chance of detecting a real difference, e.g. 0.8")
    s0, s1 = _spreads(p0, p1, two_sample)
    n = ((_z(1 - alpha / 2) * s0 + _z(power) * s1) / (p1 - p0)) ** 2
    return math.ceil(n - 1e-9)


def power(p0: float, p1: float, n: int, alpha: float = 0.05, two_sample: bool = False) -> float:
    """The chance that the test of :func:`sample_size` rejects $p_0$ with ``n`` trials (per group)
    when the truth is $p_1$: $\\Phi\\left((|p_1 - p_0|\\sqrt n - z_{1-\\alpha/2}\\sigma_0)/\\sigma_1\\right)$
    (the far tail, which adds at most alpha / 2, is left out)."""
    p0, p1, alpha = _check_design(p0, p1, alpha)
    n = check_int(n, "n", low=1)
    s0, s1 = _spreads(p0, p1, two_sample)
    return float(stats.norm.cdf((abs(p1 - p0) * math.sqrt(n) - _z(1 - alpha / 2) * s0) / s1))


def _as_table(table, name: str) -> np.ndarray:
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or min(t.shape) < 2:
        fail(name, "a 2-D table of counts with at least 2 rows and 2 columns", f"shape {t.shape}")
    if not np.isfinite(t).all() or (t < 0).any() or t.sum() == 0:
        fail(name, "non-negative finite counts, not all zero", "negative, NaN, inf or all-zero values")
    return t


def cohen_kappa(a, b=None, n_categories: int | None = None) -> float:
    """Cohen's kappa (Cohen, 1960): agreement of two raters beyond chance,
    $\\kappa = (p_o - p_e)/(1 - p_e)$, with $p_o$ the share of items they rate alike and
    $p_e = \\sum_c p_{A}(c)\\,p_{B}(c)$ the share expected if they rated independently with
    their own category frequencies. 1: perfect agreement; 0: chance; below 0: worse than chance.

    Give either a square table ``a`` (rows: rater A's category, columns: rater B's) or two
    sequences of integer ratings ``a`` and ``b`` (categories 0 .. n_categories - 1).
    """
    if b is None:
        table = _as_table(a, "a")
        if table.shape[0] != table.shape[1]:
            fail("a", "a square table (rater A's categories x rater B's) or two rating sequences a, b",
                 f"shape {table.shape}")
    else:
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
            fail("b", f"a sequence of ratings as long as a ({a.shape})", f"shape {b.shape}")
        if not (np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer)):
            fail("a, b", "integer categories", f"dtypes {a.dtype}, {b.dtype}", "Convert with .astype(int)",
                 TypeError)
        if min(a.min(), b.min()) < 0:
            fail("a, b", "categories >= 0", f"a value {min(a.min(), b.min())}")
        used = int(max(a.max(), b.max())) + 1  # categories 0 .. used - 1 appear
        if n_categories is None:  # at least 2, so one category alone fails below, on a and b
            k = max(2, used)
        else:
            k = check_int(n_categories, "n_categories", low=max(2, used))
        table = np.zeros((k, k))
        np.add.at(table, (a, b), 1)
    p = table / table.sum()
    p_o = np.trace(p)
    p_e = float(p.sum(1) @ p.sum(0))
    if p_e == 1:  # both raters used one and the same category throughout: kappa is undefined
        fail("a", "ratings that use at least two categories", "a single category for every item",
             "Kappa compares agreement with chance; with one category chance agreement is already 1")
    return float((p_o - p_e) / (1 - p_e))


def fleiss_kappa(counts) -> float:
    """Fleiss' kappa (Fleiss, 1971): agreement among m raters per item, beyond chance.

    ``counts[i, j]`` is how many raters put item i in category j (every row sums to m >= 2).
    $P_i = \\frac{\\sum_j n_{ij}^2 - m}{m(m-1)}$ is the share of agreeing rater pairs on item i,
    $p_j = \\frac{1}{Nm}\\sum_i n_{ij}$ the category shares, and
    $\\kappa = (\\bar P - P_e)/(1 - P_e)$ with $\\bar P = \\frac1N\\sum_i P_i$, $P_e = \\sum_j p_j^2$.
    """
    n = _as_table(counts, "counts")
    if not np.allclose(n, np.round(n)):
        fail("counts", "whole numbers of raters (how many put item i in category j)",
             "fractional values", "Give counts, not shares of raters")
    m = n.sum(1)
    if not np.allclose(m, m[0]) or m[0] < 2:
        fail("counts", "integer counts (items x categories) whose rows all sum to the same number of "
             "raters m >= 2", f"row sums {np.unique(m)[:5]}")
    m = m[0]
    p_i = ((n * n).sum(1) - m) / (m * (m - 1))
    p_j = n.sum(0) / n.sum()
    p_bar, p_e = p_i.mean(), float((p_j * p_j).sum())
    if p_e == 1:
        fail("counts", "ratings in at least two categories", "every rating in one category")
    return float((p_bar - p_e) / (1 - p_e))


def bootstrap_ci(statistic: Callable, *samples, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                 method: str = "percentile", return_replicates: bool = False):
    """Bootstrap interval (Efron, 1979; Efron & Tibshirani, 1993) for ``statistic(*samples)``.

    Each sample (an array, list or tensor, resampled along its first axis) is drawn again with
    replacement, independently of the others, ``n_boot`` times, giving replicates $\\theta^*$
    with quantiles $q_{lo}, q_{hi}$ (the central ``level`` share). ``"percentile"``:
    $[q_{lo}, q_{hi}]$. ``"basic"`` (the reverse percentile interval):
    $[2\\hat\\theta - q_{hi},\\ 2\\hat\\theta - q_{lo}]$, which assumes that $\\theta^* - \\hat\\theta$
    is distributed like $\\hat\\theta - \\theta$, so it corrects for the estimator's bias; the
    percentile interval does not, and for a biased statistic (FID) it can miss the estimate.
    With ``return_replicates`` the replicates come back too: $\\bar\\theta^* - \\hat\\theta$ is the
    bootstrap estimate of the bias, and $2\\hat\\theta - \\bar\\theta^*$ the bias-corrected
    estimate (Efron & Tibshirani, 1993, ch. 10).
    """
    if not callable(statistic):
        fail("statistic", "a function of the samples", type(statistic).__name__, error=TypeError)
    if not samples:
        fail("samples", "at least one sample to resample", "none")
    samples = [np.asarray(s) if isinstance(s, (list, tuple)) else s for s in samples]
    for i, s in enumerate(samples):
        if not hasattr(s, "__len__") or not hasattr(s, "__getitem__") or len(s) < 2:
            fail(f"samples[{i}]", "an array or tensor with at least 2 rows", repr(s)[:60])
    n_boot = check_int(n_boot, "n_boot", low=10, fix="use 1000 or more for a 95% interval")
    level = check_number(level, "level", 0, 1, low_open=True, high_open=True, fix="e.g. 0.95")
    check_int(seed, "seed", low=0)
    if method not in ("percentile", "basic"):
        fail("method", "'percentile' or 'basic'", repr(method))

    def value(*drawn) -> float:
        v = np.asarray(statistic(*drawn), dtype=float)
        if v.size != 1:
            fail("statistic", "a function returning one number", f"shape {v.shape}",
                 "Bootstrap each component separately")
        if not np.isfinite(v).all():
            fail("statistic", "a function returning a finite number", float(v.item()),
                 "Check the statistic on these samples (empty groups, zero variance)")
        return float(v.item())

    estimate = value(*samples)
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    for b in range(n_boot):
        reps[b] = value(*[s[rng.integers(0, len(s), len(s))] for s in samples])
    low, high = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    if method == "basic":
        low, high = 2 * estimate - high, 2 * estimate - low
    return (float(low), float(high), reps) if return_replicates else (float(low), float(high))


def fit_inverse_n(ns, values) -> tuple[float, float]:
    """Least-squares fit of $v_N = v_\\infty + k/N$ to estimates ``values`` at sample sizes ``ns``;
    returns $(v_\\infty, k)$. FID's bias is close to linear in 1/N (Chong & Forsyth, 2020), so
    $v_\\infty$ estimates the FID of infinitely many samples."""
    ns, values = np.asarray(ns, dtype=float), np.asarray(values, dtype=float)
    if ns.ndim != 1 or ns.shape != values.shape or len(np.unique(ns)) < 2:
        fail("ns", "at least two different sample sizes, one per value", f"ns {ns.tolist()[:6]}, "
             f"{values.size} values")
    if (ns <= 0).any() or not np.isfinite(values).all():
        fail("ns, values", "positive sample sizes and finite values", f"ns {ns.tolist()[:6]}")
    design = np.stack([np.ones_like(ns), 1 / ns], 1)  # (points, 2): [1, 1/N]
    (v_inf, k), *_ = np.linalg.lstsq(design, values, rcond=None)
    return float(v_inf), float(k)


def two_afc_rounds(n_rounds: int, n_attention: int = 0, seed: int = 0) -> dict[str, np.ndarray]:
    """A two-alternative forced-choice design: in each round one real and one generated image,
    "which one is generated?".

    Returns ``attention`` (bool, per round): ``n_attention`` rounds at random places whose
    generated image is an obvious fake (an attention check); and ``fake_left`` (bool, per
    round: the generated image is on the left), balanced separately among the real rounds and
    among the attention checks (half of each group on each side, a random one extra where the
    group is odd) and shuffled, so that a rater who always picks one side scores 50% on the
    rounds that count (up to half a round when their number is odd).
    """
    n_rounds = check_int(n_rounds, "n_rounds", low=2)
    n_attention = check_int(n_attention, "n_attention", 0, n_rounds - 1,
                            fix="keep at least one real round")
    check_int(seed, "seed", low=0)
    rng = np.random.default_rng(seed)
    attention = np.zeros(n_rounds, dtype=bool)
    attention[rng.choice(n_rounds, n_attention, replace=False)] = True
    fake_left = np.zeros(n_rounds, dtype=bool)
    for group in (~attention, attention):
        size = int(group.sum())
        fake_left[group] = rng.permutation(np.arange(size) < (size + rng.integers(0, 2)) // 2)
    return {"fake_left": fake_left, "attention": attention}


def manifold_membership(real_features, fake_features, k: int = 3):
    """The per-sample indicators behind improved precision and recall (Kynkäänniemi et al., 2019):
    for each fake sample, is it inside the real k-NN manifold; for each real sample, is it inside
    the fake one. Their means are :func:`genai_lib.metrics.precision_recall`; bootstrapping
    them (manifolds fixed) gives intervals without the duplicates that resampling the features
    themselves would put into the k-NN radii."""
    from . import metrics  # the metric's own helpers, so the two can never disagree

    metrics.precision_recall(real_features, fake_features, k)  # validates the inputs
    real, fake = real_features.float(), fake_features.float()
    fake_in = metrics._inside(fake, real, metrics._kth_nn_radius(real, k)).numpy()
    real_in = metrics._inside(real, fake, metrics._kth_nn_radius(fake, k)).numpy()
    return fake_in, real_in
