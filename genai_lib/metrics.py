"""Evaluate: the last step of the AIGC pipeline.

Generated images are judged through a small reference classifier trained on the real
data (on first use, then cached): how confidently it recognises them, whether every class
appears, and how far the distribution of its features is from that of real images.

* confident rate: share of samples whose top class has probability >= 0.9;
* class coverage: how many classes appear among the confident samples;
* classifier-FID: the Fréchet distance (Heusel et al., 2017) between Gaussians fitted to
  the classifier's penultimate features of real and generated images (the "FID" recipe
  with a small MNIST classifier instead of Inception, so its values are not comparable
  with published FIDs);
* precision and recall (Kynkäänniemi et al., 2019): the share of generated samples that
  fall inside the real data's k-NN feature manifold, and vice versa.
"""
from __future__ import annotations

import html
import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from threadpoolctl import threadpool_limits
from torch import nn

from .data import CACHE_ENV, Batches, cache_dir, load_mnist
from .train import CheckpointError, TrainConfig, check_writable, fit, load_weights
from .utils import fork_rng
from .validate import check_choice, check_images as _check_images, check_int, check_number, check_probabilities, \
    check_tensor, fail


@dataclass(frozen=True)
class ClassifierConfig:
    channels: tuple[int, int] = (16, 32)
    features: int = 128
    n_classes: int = 10


class ReferenceCNN(nn.Module):
    """Two conv blocks and an MLP head: about 99% test accuracy on MNIST in two epochs."""

    def __init__(self, cfg: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.cfg = cfg
        c1, c2 = cfg.channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 28x28 => 14x14
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 14x14 => 7x7
        )
        self.fc = nn.Linear(c2 * 7 * 7, cfg.features)
        self.head = nn.Linear(cfg.features, cfg.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features, the space in which FID and precision/recall are measured. (N, F)"""
        _check_images(x, "x", like=self.fc.weight)
        return F.relu(self.fc(self.conv(x).flatten(1)))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        logits = self.head(self.features(x))  # (N, n_classes)
        if y is None:
            return logits
        return logits, F.cross_entropy(logits, y)


REFERENCE_TRAINING = TrainConfig(steps=1000, lr=2e-3, weight_decay=1e-4, warmup_steps=50, log_every=50)
REFERENCE_BATCH = 128


def check_images(x: torch.Tensor, tol: float = 1e-3) -> torch.Tensor:
    """Images must be (N, 1, 28, 28) (or (N, 28, 28)) in [0, 1], finite and not empty; an overshoot
    within ``tol`` (float rounding of a decoder's output) is clamped, anything more is an error."""
    if isinstance(x, torch.Tensor) and x.dim() == 3:
        x = x.unsqueeze(1)
    x = x.cpu() if isinstance(x, torch.Tensor) else x  # metrics run on the CPU, where values are cheap to read
    # any float dtype is valid input; the reference classifier computes in float32
    return _check_images(x, "images", tol=tol).float().clamp(0, 1)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> float:
    """Share of examples whose most likely class is the label."""
    check_tensor(x, "x", what="inputs (N, ...)")
    check_tensor(y, "y", ndim=1, floating=False, what="labels (N,)")
    if len(x) != len(y):
        fail("y", f"one label per input ({len(x)})", f"{len(y)} labels")
    check_int(batch_size, "batch_size", low=1)
    model.eval()
    n_classes = model(x[:1]).shape[-1]
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        fail("y", f"labels in [0, {n_classes}) (the model's classes)", f"values in [{int(y.min())}, {int(y.max())}]")
    correct = sum((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                  for i in range(0, len(x), batch_size))
    return correct / len(x)


def reference_classifier(dataset: str = "mnist", device: str | torch.device = "cpu",
                         progress: bool = False) -> ReferenceCNN:
    """The reference classifier for ``dataset`` ("mnist" or "fashion-mnist").

    Trained on first use with :func:`genai_lib.train.fit` (seeded, so every machine gets
    the same network up to floating-point differences) and cached in the cache directory.
    The caller's random state is left as it was. Its test accuracy is stored on the model
    as ``test_accuracy``.
    """
    check_choice(dataset, "dataset", ("mnist", "fashion-mnist"))
    path = cache_dir() / f"reference-{dataset}-v1.pt"
    if not path.exists():  # it will be trained and saved: fail now, not after training
        check_writable(path.parent, f"the reference classifier (set {CACHE_ENV} to a writable directory)")
    with fork_rng(device):  # seed our own training, not the caller's notebook (CPU and GPU streams)
        torch.manual_seed(0)
        model = ReferenceCNN().to(device)
        try:
            load_weights(model, path) if path.exists() else None
        except CheckpointError as e:  # our own derived file: set it aside and rebuild it
            warnings.warn(f"retraining the reference classifier: {e}")
            path.rename(path.with_name(path.name + ".corrupt"))
        if not path.exists():
            x, y = load_mnist("train", dataset=dataset, device=device)
            fit(model, Batches(x, y, batch_size=REFERENCE_BATCH, seed=0), REFERENCE_TRAINING,
                checkpoint=path, progress=progress)
    xt, yt = load_mnist("test", dataset=dataset, device=device)
    model.test_accuracy = accuracy(model, xt, yt)
    return model.eval()


@torch.no_grad()
def classify(model: ReferenceCNN, images: torch.Tensor, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities (N, C) and features (N, F) of images in [0, 1]."""
    images = check_images(images)
    check_int(batch_size, "batch_size", low=1)
    device = next(model.parameters()).device
    model.eval()
    probs, feats = [], []
    for i in range(0, len(images), batch_size):
        f = model.features(images[i:i + batch_size].to(device))
        feats.append(f)
        probs.append(model.head(f).softmax(1))
    return torch.cat(probs).cpu(), torch.cat(feats).cpu()


def _check_probs(probs: torch.Tensor, threshold: float) -> None:
    check_probabilities(probs, "probs")
    if len(probs) == 0:
        fail("probs", "at least one row", "an empty tensor")
    check_number(threshold, "threshold", 0, 1, low_open=True)


def confident_rate(probs: torch.Tensor, threshold: float = 0.9) -> float:
    """Share of samples whose most likely class has probability >= ``threshold``."""
    _check_probs(probs, threshold)
    return (probs.max(1).values >= threshold).float().mean().item()


def class_counts(probs: torch.Tensor, threshold: float = 0.9) -> torch.Tensor:
    """How many confident samples fall in each class. (C,)"""
    _check_probs(probs, threshold)
    confident = probs.max(1).values >= threshold
    return torch.bincount(probs.argmax(1)[confident], minlength=probs.shape[1])


def class_coverage(probs: torch.Tensor, threshold: float = 0.9) -> int:
    """Number of classes with at least one confident sample (10 means no class is missing)."""
    return int((class_counts(probs, threshold) > 0).sum())


def _check_features(f: torch.Tensor, name: str, min_rows: int) -> None:
    check_tensor(f, name, ndim=2, floating=True, what="features (N, F)", nonempty=False)
    if len(f) < min_rows:
        fail(name, f"at least {min_rows} samples", f"{len(f)}", "Use more samples: these metrics are "
             "estimates over a set, and few samples make them meaningless")
    if not torch.isfinite(f).all():
        fail(name, "finite features", "NaN or inf values")


def gaussian_stats(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of features, in float64 for a stable matrix square root."""
    _check_features(features, "features", min_rows=2)
    f = features.double().cpu().numpy()
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """$d^2 = \\|\\mu_1-\\mu_2\\|^2 + \\operatorname{tr}(\\Sigma_1+\\Sigma_2-2(\\Sigma_1\\Sigma_2)^{1/2})$,
    the squared 2-Wasserstein distance between two Gaussians (Dowson & Landau, 1982)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1),) * 2:
        raise ValueError(f"shapes do not match: mu {mu1.shape} {mu2.shape}, sigma {sigma1.shape} {sigma2.shape}")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, sigma1, sigma2)):
        fail("mu1, sigma1, mu2, sigma2", "finite", "NaN or inf values")
    with warnings.catch_warnings():  # a singular product is handled just below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # singular product: nudge both (as the reference FID code does)
        offset = np.eye(len(mu1)) * 1e-6
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = covmean.real  # tiny imaginary parts are numerical noise
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2 - 2 * covmean))


def classifier_fid(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    """Fréchet distance between the Gaussians fitted to two sets of classifier features.

    Needs at least 2 samples in each set; with fewer samples than feature dimensions the
    covariances are singular and the estimate is strongly biased upwards (Chong & Forsyth, 2020),
    so compare FIDs only at equal sample sizes."""
    _check_features(real_features, "real_features", min_rows=2)
    _check_features(fake_features, "fake_features", min_rows=2)
    if real_features.shape[1] != fake_features.shape[1]:
        fail("fake_features", f"features of the same size as real_features ({real_features.shape[1]})",
             f"{fake_features.shape[1]}")
    # one BLAS thread: for matrices this small, numpy's and scipy's threaded OpenBLAS, competing
    # with torch's threads, made a bootstrap of 200 FIDs ten times slower on two cores
    with threadpool_limits(limits=1, user_api="blas"):
        return frechet_distance(*gaussian_stats(real_features), *gaussian_stats(fake_features))


def _kth_nn_radius(x: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded)."""
    return torch.cat([torch.cdist(x[i:i + chunk], x).kthvalue(k + 1, dim=1).values
                      for i in range(0, len(x), chunk)])


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """For each point: is it within radius of at least one centre's ball?"""
    return torch.cat([(torch.cdist(points[i:i + chunk], centres) <= radii[None]).any(1)
                      for i in range(0, len(points), chunk)])


def precision_recall(real_features: torch.Tensor, fake_features: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019).

    The real manifold is the union of balls around each real feature with radius its
    distance to its k-th nearest real neighbour. Precision = share of fake samples inside
    it (are the samples realistic?); recall = share of real samples inside the fake
    manifold built the same way (is the data's variety covered?).
    """
    check_int(k, "k", low=1)
    _check_features(real_features, "real_features", min_rows=k + 1)
    _check_features(fake_features, "fake_features", min_rows=k + 1)
    if real_features.shape[1] != fake_features.shape[1]:
        fail("fake_features", f"features of the same size as real_features ({real_features.shape[1]})",
             f"{fake_features.shape[1]}")
    real, fake = real_features.float(), fake_features.float()
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"need more than k={k} samples in each set, got {len(real)} and {len(fake)}")
    precision = _inside(fake, real, _kth_nn_radius(real, k)).float().mean().item()
    recall = _inside(real, fake, _kth_nn_radius(fake, k)).float().mean().item()
    return precision, recall


def evaluate_samples(model: ReferenceCNN, samples: torch.Tensor, real: torch.Tensor,
                     threshold: float = 0.9, n_boot: int = 0, seed: int = 0) -> dict[str, float]:
    """Every sample metric at once, as a dict a notebook can print, plot or glue.

    With ``n_boot > 0`` the confident rate, classifier-FID, precision and recall also get a 95%
    interval, ``<name>_low`` and ``<name>_high`` (Chapter 8a). The confident rate is a share of
    the samples: a Wilson interval. The FID's is the *basic* bootstrap interval over ``n_boot``
    resamplings of both sets, which corrects FID's upward bias at finite N: it is an interval for
    the large-sample FID, often lies below the estimate itself, and is clipped at 0, FID's least
    value. Precision and recall get Wilson intervals that hold the other set's manifold fixed.
    These three need both sets well above the feature dimension F: with fewer than ``2 F``
    samples in either set the covariances are too rank-deficient for the bootstrap (a resample
    holds only about 0.63 N distinct points) and the fixed manifold's own variation is no longer
    small, so they get no interval. 200 resamplings put about 5% of the FID interval's width in
    Monte Carlo noise; use 1000 for a final report.
    """
    from .evaluation import binomial_ci, bootstrap_ci  # evaluation's helpers need no metrics

    n_boot = check_int(n_boot, "n_boot", low=0, fix="0 for no intervals, 200 or more for 95% intervals")
    if 0 < n_boot < 10:
        fail("n_boot", "0 (no intervals) or at least 10 resamplings", n_boot, "Use 200 or more for 95% intervals")
    p_fake, f_fake = classify(model, samples)
    _, f_real = classify(model, real)
    precision, recall = precision_recall(f_real, f_fake)
    out = {"confident_rate": confident_rate(p_fake, threshold),
           "class_coverage": class_coverage(p_fake, threshold),
           "classifier_fid": classifier_fid(f_real, f_fake),
           "precision": precision, "recall": recall}
    if n_boot:
        enough = min(len(f_real), len(f_fake)) >= 2 * f_real.shape[1]
        shares = [("confident_rate", len(f_fake))] + ([("precision", len(f_fake)), ("recall", len(f_real))]
                                                       if enough else [])
        for name, n in shares:
            out[f"{name}_low"], out[f"{name}_high"] = binomial_ci(round(out[name] * n), n)
        if enough:
            low, high = bootstrap_ci(classifier_fid, f_real, f_fake, n_boot=n_boot, seed=seed, method="basic")
            out["classifier_fid_low"], out["classifier_fid_high"] = max(low, 0.0), max(high, 0.0)
    return out


def _check_pair(x: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x, ref = check_images(x), check_images(ref)
    if x.shape != ref.shape:
        fail("ref", f"one reference image per image, shape {tuple(x.shape)}", f"shape {tuple(ref.shape)}")
    return x.double(), ref.double()


def psnr(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image (average it over images in dB), for pixels in [0, 1]:
    $10 \\log_{10}(1 / \\mathrm{MSE})$. 20 dB is an RMS error of 0.1; identical images give inf."""
    x, ref = _check_pair(x, ref)
    return (10 * torch.log10(1 / (x - ref).pow(2).flatten(1).mean(1))).float()


def ssim(x: torch.Tensor, ref: torch.Tensor, window: int = 7, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity per image (Wang et al., 2004), in [-1, 1], 1 for identical images:
    the mean over Gaussian windows of
    $\\frac{(2\\mu_x\\mu_y + C_1)(2\\sigma_{xy} + C_2)}{(\\mu_x^2 + \\mu_y^2 + C_1)(\\sigma_x^2 + \\sigma_y^2 + C_2)}$,
    $C_1 = (0.01)^2$, $C_2 = (0.03)^2$ for pixels in [0, 1]. A 7-pixel window (not the paper's 11, so
    the Gaussian of width 1.5 is cut at 2 sigma) suits 28 x 28 images; only windows inside the image
    count. Flat black windows match perfectly, so images with much background score high."""
    x, ref = _check_pair(x, ref)
    check_int(window, "window", 3, x.shape[-1], fix="a size no larger than the image, e.g. 7")
    check_number(sigma, "sigma", 0, low_open=True)
    g = torch.exp(-((torch.arange(window, dtype=torch.float64) - (window - 1) / 2) ** 2) / (2 * sigma**2))
    kernel = (torch.outer(g, g) / g.sum() ** 2).view(1, 1, window, window)
    blur = lambda v: F.conv2d(v, kernel)  # noqa: E731  (a local weighted mean)
    mx, my = blur(x), blur(ref)
    vx, vy, cxy = blur(x * x) - mx**2, blur(ref * ref) - my**2, blur(x * ref) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).float()


def mode_coverage(samples: torch.Tensor, centres: torch.Tensor, std: float, sigmas: float = 3.0,
                  min_share: float = 0.02) -> dict[str, float]:
    """Mode coverage of 2-D samples from a known mixture (e.g. :func:`genai_lib.data.ring_of_gaussians`).

    A sample is *high quality* if it lies within ``sigmas`` standard deviations of its nearest
    centre (Srivastava et al., 2017); a mode is *covered* if at least ``min_share`` of the
    samples are high-quality samples of it (with 8 equal modes, a fair share is 12.5%).
    """
    check_tensor(centres, "centres", ndim=2, floating=True, what="mode centres (M, D)")
    check_tensor(samples, "samples", floating=True, what=f"samples (N, {centres.shape[1]})",
                 nonempty=False)
    if samples.dim() != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples must have shape (N, {centres.shape[1]}), got {tuple(samples.shape)}")
    if len(samples) == 0:
        fail("samples", "at least one sample", "none", "An empty set would cover no mode, not every mode")
    if not torch.isfinite(samples).all():
        fail("samples", "finite points", "NaN or inf values", "A diverged generator covers no mode")
    check_number(std, "std", 0, low_open=True)
    check_number(sigmas, "sigmas", 0, low_open=True)
    check_number(min_share, "min_share", 0, 1, low_open=True)
    dist = torch.cdist(samples.float().cpu(), centres.float().cpu())  # (N, modes)
    nearest_dist, nearest = dist.min(1)
    good = nearest_dist <= sigmas * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    return {"modes_covered": int((counts >= min_share * len(samples)).sum()),
            "high_quality": good.float().mean().item()}


def _columns(row: dict) -> list[str]:
    """A row's columns, without the ``<c>_low``/``<c>_high`` keys that hold column ``c``'s interval."""
    interval = {f"{c}_{end}" for c in row for end in ("low", "high") if f"{c}_low" in row and f"{c}_high" in row}
    return [c for c in row if c not in interval]


class Table:
    """Rows of numbers that print as aligned text and show as an HTML table in a notebook (and on
    the book's pages), so that wide tables wrap instead of scrolling sideways. A column ``c``
    whose row also has ``c_low`` and ``c_high`` shows as ``value [low, high]``."""

    def __init__(self, rows: dict[str, dict[str, float]], digits: int = 3):
        self.rows, self.digits = rows, digits
        self.columns = _columns(next(iter(rows.values())))

    def _number(self, v: float) -> str:
        if isinstance(v, float) and math.isnan(v):
            return "–"  # not applicable to this row
        return f"{v:,.{self.digits}f}" if isinstance(v, float) else f"{v:,}"

    def _cell(self, row: dict, c: str) -> str:
        text = self._number(row[c])
        if f"{c}_low" in row and f"{c}_high" in row:
            text += f" [{self._number(row[c + '_low'])}, {self._number(row[c + '_high'])}]"
        return text

    def __str__(self) -> str:
        name_w = max(len(name) for name in self.rows) + 2
        widths = [max(len(c), *(len(self._cell(r, c)) for r in self.rows.values())) + 2 for c in self.columns]
        lines = [" " * name_w + "".join(f"{c:>{w}s}" for c, w in zip(self.columns, widths))]
        lines += [f"{name:{name_w}s}" + "".join(f"{self._cell(r, c):>{w}s}" for c, w in zip(self.columns, widths))
                  for name, r in self.rows.items()]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in self.columns)
        body = "".join("<tr><th>" + esc(name) + "</th>" + "".join(f"<td>{self._cell(r, c)}</td>" for c in self.columns)
                       + "</tr>" for name, r in self.rows.items())
        return (f'<table class="dataframe genai-table"><thead><tr><th></th>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>")


def format_table(rows: dict[str, dict[str, float]]) -> Table:
    """Rows of :func:`evaluate_samples` results (or any numbers), one row per model: a :class:`Table`,
    which prints as aligned text and displays as an HTML table. Rows may differ only in which
    columns carry an interval (``c_low`` and ``c_high`` beside ``c``)."""
    if not isinstance(rows, dict) or not rows:
        fail("rows", "a non-empty dict {row name: {column: value}}", repr(rows)[:80])
    first = next(iter(rows.values()))
    if not isinstance(first, dict):
        fail("rows", "a dict of dicts {row name: {column: value}}", repr(first)[:80], error=TypeError)
    columns = _columns(first)
    for name, r in rows.items():
        if not isinstance(r, dict) or _columns(r) != columns:
            fail(f"rows[{name!r}]", f"the same columns as the first row {columns}", list(r) if isinstance(r, dict) else r)
        bad = [c for c, v in r.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            fail(f"rows[{name!r}]", "numbers in every column", f"{bad[0]}={r[bad[0]]!r}", error=TypeError)
    return Table({str(k): dict(v) for k, v in rows.items()})
