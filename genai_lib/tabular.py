"""Synthetic tabular records (medicine, finance) and the three ways practitioners judge them.

A table is an array ``x`` (N, D) of float64 features and labels ``y`` (N,) in 0..K-1. Every
generator here is *class-conditional*: :class:`TabularGenerator` fits one model per class and
samples labels in the training proportions, so a subclass only says how to model one class:

* :class:`IndependentMarginals` keeps every column's distribution and loses every correlation within a
  class (the mixture of classes still correlates columns that differ between classes);
* :class:`GaussianCopula` keeps the marginals and the rank correlations;
* :class:`GaussianMixtureGenerator` and :class:`TabularVAE` learn the joint density;
* :class:`CopyOfTraining` returns training records: the positive control of the privacy tests.

Synthetic records are judged for **fidelity** (do columns and correlations match?),
**utility** (does a model trained on them work on real data? "train synthetic, test real")
and **privacy** (are they copies of training records, and can an attacker tell who was in the
training set?). Tables are NumPy arrays; torch appears only inside the VAE.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from scipy.spatial import cKDTree
from torch import nn

from .validate import check_int, check_number, fail, plain_fields


def _check_table(x, name: str, n_features: int | None = None) -> np.ndarray:
    """A non-empty, finite numeric array (N, D), returned as float64."""
    if not isinstance(x, np.ndarray):
        fail(name, "a NumPy array (N, D)", type(x).__name__,
             "Convert with np.asarray(x, dtype=float) (a DataFrame: df.to_numpy(), a tensor: t.numpy())", TypeError)
    if not (np.issubdtype(x.dtype, np.number) and not np.issubdtype(x.dtype, np.complexfloating)):
        fail(name, "an array of real numbers", f"dtype {x.dtype}",
             "Convert with x.astype(float), after encoding any categories as numbers", TypeError)
    if x.ndim != 2:
        fail(name, "a table (N, D) with 2 dimensions", f"shape {x.shape}",
             "One record is x[None, :]; one feature is x[:, None]" if x.ndim == 1 else None)
    if x.size == 0:
        fail(name, "a table with at least one row and one column", f"shape {x.shape}")
    if n_features is not None and x.shape[1] != n_features:
        fail(name, f"records with {n_features} features (as the other table)", f"shape {x.shape}",
             "Use the same columns, in the same order, in both tables")
    if not np.isfinite(x).all():
        fail(name, "finite (no NaN or inf)", f"{int((~np.isfinite(x)).sum())} non-finite values",
             "Impute or drop the missing values first")
    return x.astype(np.float64)


def _check_labels(y, name: str, n: int) -> np.ndarray:
    """Integer class labels (n,) in 0..K-1, returned as int64."""
    if not isinstance(y, np.ndarray) or not np.issubdtype(y.dtype, np.integer):
        got = f"dtype {y.dtype}" if isinstance(y, np.ndarray) else type(y).__name__
        fail(name, "a NumPy array of integer class labels 0..K-1", got, "Convert with np.asarray(y).astype(int)",
             TypeError)
    if y.shape != (n,):
        fail(name, f"one label per record, shape ({n},)", f"shape {y.shape}")
    if y.min() < 0:
        fail(name, "class labels 0..K-1", f"values in [{y.min()}, {y.max()}]",
             "Map the classes to 0..K-1, e.g. with np.unique(y, return_inverse=True)[1]")
    return y.astype(np.int64)


def _mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (a constant column gets std 1, so it stays constant)."""
    std = x.std(0)
    return x.mean(0), np.where(std > 0, std, 1.0)


def load_breast_cancer_split(test_size: float = 0.3, seed: int = 0):
    """Wisconsin breast-cancer data (569 records x 30 features; y = 0 malignant, 1 benign), split
    into training and held-out records, stratified so both keep the 37/63 class ratio. The
    held-out records are the "real" side of every comparison: a generator never sees them.
    Returns ``(x_train, y_train, x_test, y_test, feature_names)``: float64, int64, list of str."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    check_number(test_size, "test_size", 0, 1, low_open=True, high_open=True)
    check_int(seed, "seed", low=0)
    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data.astype(np.float64), data.target.astype(np.int64), test_size=test_size, stratify=data.target,
        random_state=seed)
    return x_train, y_train, x_test, y_test, [str(f) for f in data.feature_names]


# --- generators -------------------------------------------------------------------------------


def _class_counts(n: int, share: np.ndarray) -> np.ndarray:
    """Exact rounding (largest remainder) of ``n * share``: the counts sum to ``n`` and each is
    within 1 of $n p_k$, so small samples keep the class ratio (a multinomial draw would not)."""
    raw = n * share
    counts = np.floor(raw).astype(np.int64)
    counts[np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]] += 1
    return counts


class TabularGenerator:
    """Class-conditional generation: $p(x, y) = p(y)\\,p(x \\mid y)$, with $p(y)$ the training
    proportions and one model of $p(x \\mid y)$ per class. Conditioning on the label keeps the
    label-feature relation, which is what a downstream classifier needs. Subclasses implement
    ``_fit_class(x_c) -> model`` and ``_sample_class(model, n, rng) -> (n, D)``."""
    min_rows = 2                      # per class: a spread and a correlation need two records

    def fit(self, x: np.ndarray, y: np.ndarray) -> "TabularGenerator":
        """Fit one model per class on the records ``x`` (N, D) with labels ``y`` (N,)."""
        x = _check_table(x, "x")
        y = _check_labels(y, "y", len(x))
        counts = np.bincount(y)
        if counts.min() < self.min_rows:
            fail("y", f"labels 0..K-1 with at least {self.min_rows} records of every class",
                 f"class counts {counts.tolist()}", "Drop the rare classes and renumber the rest")
        self.class_share = counts / len(y)                                     # p(y)
        self.models = [self._fit_class(x[y == c]) for c in range(len(counts))]
        return self

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``n`` records ``(x, y)`` in random order, labels in the training proportions (exact
        rounding, see ``_class_counts``); the same ``seed`` gives the same records."""
        check_int(n, "n", low=1)
        check_int(seed, "seed", low=0)
        if not hasattr(self, "models"):
            fail(f"{type(self).__name__}", "fitted before sampling", "a generator that was never fitted",
                 "Call .fit(x_train, y_train) first", RuntimeError)
        rng = np.random.default_rng(seed)
        counts = _class_counts(n, self.class_share)
        x = np.concatenate([self._sample_class(m, int(k), rng) for m, k in zip(self.models, counts) if k])
        y = np.repeat(np.arange(len(counts)), counts)
        order = rng.permutation(n)
        return x[order].astype(np.float64), y[order]

    def _fit_class(self, x: np.ndarray):
        raise NotImplementedError

    def _sample_class(self, model, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


class IndependentMarginals(TabularGenerator):
    """Each feature resampled from its own column (with replacement), independently of the
    others: every marginal is kept, every correlation within a class is lost. ``smoothing`` > 0 adds Gaussian
    noise of ``smoothing`` x the column's std (a kernel density estimate); 0 (the default)
    returns only values that occur in the column."""

    def __init__(self, smoothing: float = 0.0):
        self.smoothing = check_number(smoothing, "smoothing", 0)

    def _fit_class(self, x):
        return x

    def _sample_class(self, x, n, rng):
        cols = [rng.choice(col, n) for col in x.T]                               # D arrays (n,)
        out = np.stack(cols, 1)                                                  # (n, D)
        return out + self.smoothing * x.std(0) * rng.standard_normal(out.shape)


class GaussianCopula(TabularGenerator):
    """Marginals from the data, dependence from a Gaussian. Each column becomes normal scores
    $z_j = \\Phi^{-1}(r_j / (n + 1))$ ($r_j$ its ranks), $R$ is the correlation of the scores;
    a sample draws $z \\sim \\mathcal N(0, R)$ and maps it back with each column's empirical
    quantile function, $x_j = \\hat F_j^{-1}(\\Phi(z_j))$, interpolated with the same plotting positions
    $r/(n + 1)$ (Weibull's), so that the two maps invert each other. Keeps every marginal and the
    correlations of the normal scores (close to rank correlations); misses dependence a Gaussian cannot
    express (tails)."""

    def _fit_class(self, x):
        z = stats.norm.ppf(stats.rankdata(x, axis=0) / (len(x) + 1))            # (n, D) normal scores
        z = (z - z.mean(0)) / np.where(z.std(0) > 0, z.std(0), 1.0)            # a constant column: all 0
        R = z.T @ z / len(z)                                                     # (D, D)
        np.fill_diagonal(R, 1.0)
        # R^{1/2} by eigen-decomposition: works when R is singular (fewer records than features)
        w, V = np.linalg.eigh(R)
        return x, V * np.sqrt(np.clip(w, 0, None))

    def _sample_class(self, model, n, rng):
        x, R_half = model
        z = rng.standard_normal((n, x.shape[1])) @ R_half.T                     # (n, D) ~ N(0, R)
        u = stats.norm.cdf(z)
        return np.stack([np.quantile(x[:, j], u[:, j], method="weibull") for j in range(x.shape[1])], 1)


class GaussianMixtureGenerator(TabularGenerator):
    """A mixture of ``n_components`` full-covariance Gaussians per class (scikit-learn, EM), on
    standardized features; ``reg_covar`` on the diagonal keeps nearly collinear columns (radius,
    perimeter, area) from making a covariance singular."""

    def __init__(self, n_components: int = 3, reg_covar: float = 1e-3, seed: int = 0):
        self.n_components = check_int(n_components, "n_components", low=1)
        self.reg_covar = check_number(reg_covar, "reg_covar", 0, low_open=True)
        self.seed = check_int(seed, "seed", low=0)
        self.min_rows = max(2, self.n_components)

    def _fit_class(self, x):
        from sklearn.mixture import GaussianMixture
        mean, std = _mean_std(x)
        gm = GaussianMixture(self.n_components, covariance_type="full", reg_covar=self.reg_covar,
                             random_state=self.seed).fit((x - mean) / std)
        return mean, std, gm.weights_, gm.means_, np.linalg.cholesky(gm.covariances_)

    def _sample_class(self, model, n, rng):
        mean, std, pi, mu, L = model                                             # L: (K, D, D)
        k = rng.choice(len(pi), n, p=pi)                                         # component of each record
        eps = rng.standard_normal((n, mu.shape[1]))
        z = mu[k] + np.einsum("nij,nj->ni", L[k], eps)                          # mu_k + L_k eps, (n, D)
        return z * std + mean


@dataclass(frozen=True)
class TabularVAEConfig:
    latent_dim: int = 4
    hidden: int = 64
    steps: int = 2000            # Adam steps per class
    lr: float = 1e-3
    batch_size: int = 128        # a class with fewer records trains on all of them each step
    seed: int = 0

    def __post_init__(self):
        plain_fields(self)
        check_int(self.latent_dim, "TabularVAEConfig.latent_dim", low=1)
        check_int(self.hidden, "TabularVAEConfig.hidden", low=1)
        check_int(self.steps, "TabularVAEConfig.steps", low=1)
        check_number(self.lr, "TabularVAEConfig.lr", 0, low_open=True)
        check_int(self.batch_size, "TabularVAEConfig.batch_size", low=1)
        check_int(self.seed, "TabularVAEConfig.seed", low=0)


def _negative_elbo(net: nn.ModuleDict, log_var_x: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """$-\\mathcal L(x) = -\\log\\mathcal N(x; \\mu_\\theta(z), \\operatorname{diag}\\sigma^2)
    + \\mathrm{KL}(\\mathcal N(\\mu, \\operatorname{diag} e^{\\log\\sigma^2_z}) \\,\\|\\, \\mathcal N(0, I))$, with
    $z = \\mu + e^{\\log\\sigma^2_z/2}\\epsilon$ (one draw), averaged over the batch; ``log_var_x`` is
    $\\log\\sigma^2$ (D,)."""
    mu, logvar = net["encoder"](x).chunk(2, dim=1)                             # (B, L) each
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    x_mean = net["decoder"](z)                                                 # (B, D)
    nll = 0.5 * (np.log(2 * np.pi) + log_var_x + (x - x_mean) ** 2 / log_var_x.exp()).sum(1)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)                    # Kingma & Welling (2014), App. B
    return (nll + kl).mean()


class TabularVAE(TabularGenerator):
    """A small MLP VAE per class on standardized features, with a Gaussian decoder whose
    per-feature variance $\\sigma_j^2$ is learned (features differ in how well the latent code
    predicts them). Sampling decodes $z \\sim \\mathcal N(0, I)$ and adds the decoder's noise:
    the mean alone would shrink every column's spread. Settings live in ``self.cfg``; each
    class trains with Adam from the same seed, full-batch when it has at most ``batch_size`` records."""

    def __init__(self, latent_dim: int = 4, hidden: int = 64, steps: int = 2000, lr: float = 1e-3,
                 batch_size: int = 128, seed: int = 0):
        self.cfg = TabularVAEConfig(latent_dim, hidden, steps, lr, batch_size, seed)

    @property
    def losses(self) -> list[list[float]]:
        """The negative ELBO of every training step, one list per class."""
        return [m[-1] for m in getattr(self, "models", [])]

    def _fit_class(self, x):
        mean, std = _mean_std(x)
        data = torch.as_tensor((x - mean) / std, dtype=torch.float32)           # (n, D)
        # Thousands of tiny steps run fastest on one CPU thread: more threads only add
        # synchronisation, and on a busy two-core machine two threads made this fit 3-30x slower.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return mean, std, *self._train(data)
        finally:
            torch.set_num_threads(threads)

    def _train(self, data: torch.Tensor):
        """Adam on the negative ELBO; returns (decoder, log sigma^2 (D,), losses)."""
        cfg, D = self.cfg, data.shape[1]
        with torch.random.fork_rng(devices=[]):                                 # seeded, global RNG untouched
            torch.manual_seed(cfg.seed)
            H, L = cfg.hidden, cfg.latent_dim
            net = nn.ModuleDict({
                "encoder": nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, 2 * L)),  # x -> (mu, logvar)
                "decoder": nn.Sequential(nn.Linear(L, H), nn.ReLU(), nn.Linear(H, D))})    # z -> mu_theta(z)
            log_var_x = nn.Parameter(torch.zeros(D))                              # log sigma^2 per feature
            opt = torch.optim.Adam([*net.parameters(), log_var_x], lr=cfg.lr)
            losses = []
            for _ in range(cfg.steps):
                batch = data[torch.randperm(len(data))[: cfg.batch_size]]          # (B, D)
                loss = _negative_elbo(net, log_var_x, batch)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                losses.append(loss.item())
        return net["decoder"].eval(), log_var_x.detach(), losses

    @torch.no_grad()
    def _sample_class(self, model, n, rng):
        mean, std, decoder, log_var_x, _ = model
        z = torch.as_tensor(rng.standard_normal((n, self.cfg.latent_dim)), dtype=torch.float32)
        sigma = (0.5 * log_var_x).exp().double().numpy()                         # (D,)
        x = decoder(z).double().numpy() + sigma * rng.standard_normal((n, len(mean)))   # x ~ N(mu_theta(z), sigma^2)
        return x * std + mean


class CopyOfTraining(TabularGenerator):
    """Not a generator: returns training records (without replacement while a class has
    enough, then again). A privacy test must flag it; one that does not is broken."""

    def _fit_class(self, x):
        return x

    def _sample_class(self, x, n, rng):
        idx = np.concatenate([rng.permutation(len(x)) for _ in range(-(-n // len(x)))])[:n]
        return x[idx]


# --- fidelity ---------------------------------------------------------------------------------


def _check_pair(real, synthetic, names=("real", "synthetic")) -> tuple[np.ndarray, np.ndarray]:
    real = _check_table(real, names[0])
    return real, _check_table(synthetic, names[1], n_features=real.shape[1])


def ks_statistics(real: np.ndarray, synthetic: np.ndarray) -> np.ndarray:
    """Per feature, the two-sample Kolmogorov-Smirnov statistic $\\sup_t |F_{real}(t) - F_{synth}(t)|$:
    0 when the columns' distributions agree, 1 when their values do not overlap. (D,)"""
    real, synthetic = _check_pair(real, synthetic)
    return np.array([stats.ks_2samp(r, s).statistic for r, s in zip(real.T, synthetic.T)])


def correlation_gap(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Mean $|\\rho^{real}_{ij} - \\rho^{synth}_{ij}|$ over the pairs $i \\ne j$ of Pearson
    correlations: what per-feature scores such as KS cannot see. 0 = same correlations."""
    real, synthetic = _check_pair(real, synthetic)
    if real.shape[1] < 2:
        fail("real", "a table with at least 2 features (a correlation needs a pair)", f"shape {real.shape}")
    for name, t in (("real", real), ("synthetic", synthetic)):
        if len(t) < 2 or (t.std(0) == 0).any():
            fail(name, "a table with at least 2 records and no constant column (its correlation is undefined)",
                 f"{int((t.std(0) == 0).sum())} constant columns in {len(t)} records",
                 "Drop constant columns from both tables, or compare them with ks_statistics")
    off = ~np.eye(real.shape[1], dtype=bool)
    return float(np.abs(np.corrcoef(real.T) - np.corrcoef(synthetic.T))[off].mean())


# --- utility ----------------------------------------------------------------------------------


def tstr(x_synth: np.ndarray, y_synth: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Train on synthetic, test on real: the accuracy on real held-out records of a standardized
    logistic regression trained on ``(x_synth, y_synth)``. With real training records it gives
    TRTR, the reference that synthetic data should come close to."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    x_synth, x_test = _check_pair(x_synth, x_test, ("x_synth", "x_test"))
    y_synth = _check_labels(y_synth, "y_synth", len(x_synth))
    y_test = _check_labels(y_test, "y_test", len(x_test))
    if len(np.unique(y_synth)) < 2:
        fail("y_synth", "labels of at least 2 classes (a classifier needs them)", f"only class {y_synth[0]}")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_synth, y_synth)
    return float((model.predict(x_test) == y_test).mean())


# --- privacy ----------------------------------------------------------------------------------


def distance_to_closest_record(queries: np.ndarray, reference: np.ndarray,
                               scale: np.ndarray | None = None) -> np.ndarray:
    """DCR: for each query, the Euclidean distance to its nearest record of ``reference``, in
    features standardized by the mean and std of ``scale`` (default: ``reference``), so that a
    column measured in thousands (area) does not drown one measured in fractions. 0 = a copy. (N,)"""
    reference, queries = _check_pair(reference, queries, ("reference", "queries"))
    scale = reference if scale is None else _check_table(scale, "scale", n_features=reference.shape[1])
    mean, std = _mean_std(scale)
    return cKDTree((reference - mean) / std).query((queries - mean) / std)[0]


def privacy_check(x_train: np.ndarray, x_holdout: np.ndarray, x_synth: np.ndarray,
                  ratio_threshold: float = 0.5, share_threshold: float = 0.1) -> dict:
    """Are synthetic records closer to the training records than new real records are?
    Held-out records set the yardstick: a generator that learned the distribution (and not the
    records) gives DCRs to ``x_train`` like theirs, a ratio of medians near 1, and about 5% of
    its records below the holdout's 5th percentile. Flagged when the ratio is below
    ``ratio_threshold`` or that share exceeds ``share_threshold`` (twice the expected 5%).
    Distances are in units of ``x_train``'s standard deviations."""
    x_train = _check_table(x_train, "x_train")
    x_holdout = _check_table(x_holdout, "x_holdout", n_features=x_train.shape[1])
    x_synth = _check_table(x_synth, "x_synth", n_features=x_train.shape[1])
    check_number(ratio_threshold, "ratio_threshold", 0, low_open=True)
    check_number(share_threshold, "share_threshold", 0, 1)
    dcr_synth = distance_to_closest_record(x_synth, x_train)
    dcr_holdout = distance_to_closest_record(x_holdout, x_train)
    if np.median(dcr_holdout) == 0:
        fail("x_holdout", "real records that are not in x_train", "a median distance of 0 to x_train",
             "Hold the records out before fitting the generator")
    ratio = float(np.median(dcr_synth) / np.median(dcr_holdout))
    share = float((dcr_synth < np.percentile(dcr_holdout, 5)).mean())
    return {"median_dcr_synth": float(np.median(dcr_synth)), "median_dcr_holdout": float(np.median(dcr_holdout)),
            "dcr_ratio": ratio, "share_closer_than_holdout_p5": share,
            "flagged": bool(ratio < ratio_threshold or share > share_threshold)}


def membership_inference_auroc(x_members: np.ndarray, x_nonmembers: np.ndarray, x_synth: np.ndarray) -> float:
    """A distance attack: an attacker who holds only the synthetic records guesses that a
    candidate was in the training set when a synthetic record lies close to it (score =
    $-\\mathrm{DCR}$ to ``x_synth``, in units of ``x_synth``'s standard deviations, since that is all
    the attacker has). The AUROC of that guess, members as positives: 0.5 = the
    synthetic data reveal nothing about membership, 1 = every member is exposed (copies)."""
    from sklearn.metrics import roc_auc_score
    x_synth = _check_table(x_synth, "x_synth")
    x_members = _check_table(x_members, "x_members", n_features=x_synth.shape[1])
    x_nonmembers = _check_table(x_nonmembers, "x_nonmembers", n_features=x_synth.shape[1])
    score = -distance_to_closest_record(np.concatenate([x_members, x_nonmembers]), x_synth)
    is_member = np.r_[np.ones(len(x_members)), np.zeros(len(x_nonmembers))]
    return float(roc_auc_score(is_member, score))
