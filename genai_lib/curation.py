"""Curate: the data transformations behind Chapter 6 ("data decides what a model can generate").

Every experiment of that chapter trains the same model on data changed in one known way, so
each change is a small, exact function here: sub-sampling, corrupting images, flipping labels,
long-tailing the classes, planting duplicates, and the fixes (class-balanced re-sampling,
exact and near-duplicate removal, differentiable augmentation). None modifies its input; a
function that chooses examples also returns which, so a notebook can check what was done.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .validate import check_images, check_int, check_labels, check_number, check_tensor, fail


def _check_image_batch(x: torch.Tensor) -> None:
    """Images (N, C, H, W) of any size, floats in [0, 1]."""
    check_tensor(x, "x", ndim=4, floating=True, what="images (N, C, H, W)")
    check_images(x, "x", size=tuple(x.shape[1:]))


# --- choosing examples ------------------------------------------------------------------------


def subsample(n_total: int, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` distinct indices out of ``n_total``, uniformly at random (sorted). (n,)"""
    check_int(n_total, "n_total", low=1)
    check_int(n, "n", 1, n_total)
    return torch.randperm(n_total, generator=generator)[:n].sort().values


def per_class(y: torch.Tensor, k: int, n_classes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``k`` random indices of each class (e.g. "10 labels per class"), sorted. (k * n_classes,)"""
    check_labels(y, "y", n_classes)
    check_int(k, "k", low=1)
    chosen = []
    for c in range(n_classes):
        idx = (y == c).nonzero().squeeze(1)
        if len(idx) < k:
            fail("k", f"at most the size of the smallest class ({len(idx)} examples of class {c})", k)
        chosen.append(idx[torch.randperm(len(idx), generator=generator)[:k]])
    return torch.cat(chosen).sort().values


def long_tail(y: torch.Tensor, rho: float, n_classes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of a long-tailed subset: each example of class $k$ is kept with probability $\\rho^k$
    (class 0 complete, class 9 with $\\rho^9$ of its examples). Sorted."""
    check_labels(y, "y", n_classes)
    check_number(rho, "rho", 0, 1, low_open=True)
    keep = torch.rand(len(y), generator=generator) < rho ** y.cpu().double()
    return keep.nonzero().squeeze(1)


def class_histogram(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Share of each class among labels (or predicted classes) ``y``. (n_classes,), sums to 1."""
    check_labels(y, "y", n_classes)
    return torch.bincount(y.cpu(), minlength=n_classes).double() / len(y)


def total_variation(p: torch.Tensor, q: torch.Tensor) -> float:
    """$\\mathrm{TV}(p, q) = \\tfrac12 \\sum_k |p_k - q_k|$: the largest difference in probability the two
    distributions give any set of classes (0 = equal, 1 = disjoint)."""
    for name, t in (("p", p), ("q", q)):
        check_tensor(t, name, ndim=1, floating=True, what="a probability vector (K,)")
        if float(t.min()) < 0 or abs(float(t.sum()) - 1) > 1e-6:
            fail(name, "a probability vector (non-negative, summing to 1)", f"sum {float(t.sum()):.4f}")
    if p.shape != q.shape:
        fail("q", f"a vector of the same length as p ({len(p)})", len(q))
    return 0.5 * (p.double() - q.double()).abs().sum().item()


def balanced_sample(y: torch.Tensor, n: int, n_classes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Re-sampling that corrects a class imbalance: ``n`` indices drawn with replacement, each
    example weighted by 1 / (its class's count), so every present class is drawn equally often."""
    check_labels(y, "y", n_classes)
    check_int(n, "n", low=1)
    counts = torch.bincount(y.cpu(), minlength=n_classes).double()
    weights = 1.0 / counts[y.cpu()]
    return torch.multinomial(weights, n, replacement=True, generator=generator)


# --- defects ----------------------------------------------------------------------------------


def corrupt_images(x: torch.Tensor, share: float, kind: str = "invert",
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A copy of ``x`` (images in [0, 1]) in which a random ``share`` is corrupted; returns
    (images, mask of the corrupted ones). Kinds: ``invert`` (1 - x), ``noise`` (uniform noise),
    ``occlude`` (a random 14x14 square set to 1)."""
    _check_image_batch(x)
    check_number(share, "share", 0, 1)
    if kind not in ("invert", "noise", "occlude"):
        fail("kind", "one of ['invert', 'noise', 'occlude']", repr(kind))
    n = len(x)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=generator)[: round(share * n)]] = True
    out = x.clone()
    bad = mask.nonzero().squeeze(1).to(x.device)
    if kind == "invert":
        out[bad] = 1 - x[bad]
    elif kind == "noise":
        out[bad] = torch.rand((len(bad), *x.shape[1:]), generator=generator).to(x)
    else:
        H, W = x.shape[-2:]
        size = min(H, W) // 2
        corners = torch.randint(0, min(H, W) - size + 1, (len(bad), 2), generator=generator)
        for j, (r, c) in zip(bad.tolist(), corners.tolist()):
            out[j, :, r:r + size, c:c + size] = 1.0
    return out, mask


def flip_labels(y: torch.Tensor, share: float, n_classes: int,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Label noise: a random ``share`` of the labels is replaced by a *different* class, uniformly;
    returns (noisy labels, mask of the flipped ones)."""
    check_labels(y, "y", n_classes)
    check_number(share, "share", 0, 1)
    if n_classes < 2:
        fail("n_classes", "at least 2 (a label can only flip to another class)", n_classes)
    n = len(y)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=generator)[: round(share * n)]] = True
    offset = torch.randint(1, n_classes, (n,), generator=generator)  # 1..K-1: never the same class
    noisy = torch.where(mask.to(y.device), (y + offset.to(y.device)) % n_classes, y)
    return noisy, mask


def plant_duplicates(x: torch.Tensor, sources: torch.Tensor, copies: int, noise: float = 0.0,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Append ``copies`` copies of each image ``x[sources]`` (exact if ``noise`` = 0, otherwise
    near-duplicates with Gaussian pixel noise of that standard deviation, clipped to [0, 1]).
    Returns (the enlarged set, for every row the index of its source: itself for originals)."""
    check_tensor(x, "x", floating=True, what="images (N, ...)")
    check_tensor(sources, "sources", ndim=1, floating=False, what="indices of images to duplicate")
    check_int(copies, "copies", low=1)
    check_number(noise, "noise", 0)
    if int(sources.min()) < 0 or int(sources.max()) >= len(x):
        fail("sources", f"indices in [0, {len(x)})", f"values in [{int(sources.min())}, {int(sources.max())}]")
    src = sources.repeat_interleave(copies).to(x.device)
    dup = x[src]
    if noise > 0:
        dup = (dup + noise * torch.randn(dup.shape, generator=generator).to(x)).clamp(0, 1)
    origin = torch.cat([torch.arange(len(x), device=x.device), src])
    return torch.cat([x, dup]), origin


# --- finding duplicates -----------------------------------------------------------------------


def exact_duplicates(x: torch.Tensor) -> torch.Tensor:
    """Mask of rows that repeat an earlier row exactly (the first occurrence is kept): hashing
    the bytes finds every exact copy in one pass. (N,) bool"""
    check_tensor(x, "x", what="a data tensor (N, ...)")
    seen, dup = set(), torch.zeros(len(x), dtype=torch.bool)
    for i, row in enumerate(x.detach().cpu().contiguous().numpy()):
        h = hashlib.sha1(row.tobytes()).digest()
        dup[i] = h in seen
        seen.add(h)
    return dup


def near_duplicates(features: torch.Tensor, threshold: float, chunk: int = 2048) -> torch.Tensor:
    """Mask of rows within Euclidean distance ``threshold`` of an earlier row that is *kept*
    (greedy: the first row is kept, each later row is dropped if it is that close to a kept
    one). Comparing with kept rows only matters for chains: in [0, 0.4, 0.8] with threshold 0.5
    the third row is kept, because the row it is close to was itself dropped. ``features`` are
    vectors (N, D): pixels, or a network's features, where shifted or re-encoded copies of one
    image are close. (N,) bool"""
    check_tensor(features, "features", ndim=2, floating=True, what="feature vectors (N, D)")
    check_number(threshold, "threshold", 0, low_open=True)
    f = features.detach().float()
    dup = torch.zeros(len(f), dtype=torch.bool)
    for i in range(0, len(f), chunk):
        close = (torch.cdist(f[i:i + chunk], f[:i + chunk]) <= threshold).cpu()   # (chunk, rows so far)
        for r in range(close.shape[0]):
            row = i + r
            dup[row] = bool((close[r, :row] & ~dup[:row]).any())
    return dup


def nearest_distance(queries: torch.Tensor, reference: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """For each query, the Euclidean distance to its nearest neighbour in ``reference``, both
    flattened to vectors: the memorization test compares it for generated samples and for
    held-out real images. (N,)"""
    check_tensor(queries, "queries", floating=True, what="a batch (N, ...)")
    check_tensor(reference, "reference", floating=True, what="a batch (M, ...)")
    q, r = queries.flatten(1).float(), reference.flatten(1).float()
    if q.shape[1] != r.shape[1]:
        fail("queries", f"items of the same size as reference ({r.shape[1]} values)", f"{q.shape[1]}")
    return torch.cat([torch.cdist(q[i:i + chunk], r).min(1).values for i in range(0, len(q), chunk)])


# --- a fast feature space, and class models in it -------------------------------------------


@dataclass(frozen=True)
class PCA:
    """The top principal components of flattened images (Chapter 1's feature space). Chapter 6
    fits its fast models here: a Gaussian mixture on these features trains in seconds, so one
    experiment can train the same model on five versions of the data."""
    mean: torch.Tensor        # (D,) the mean image, flattened
    components: torch.Tensor  # (D, d) orthonormal principal directions
    shape: tuple              # the shape of one image, e.g. (1, 28, 28)

    @classmethod
    def fit(cls, x: torch.Tensor, d: int, max_rows: int = 20000) -> "PCA":
        """Principal directions of (the first ``max_rows`` of) ``x`` by SVD of the centred data."""
        _check_image_batch(x)
        check_int(d, "d", 1, x[0].numel())
        check_int(max_rows, "max_rows", low=d)
        flat = x[:max_rows].flatten(1).float()
        mean = flat.mean(0)
        _, _, Vt = torch.linalg.svd(flat - mean, full_matrices=False)
        return cls(mean, Vt[:d].T.contiguous(), tuple(x.shape[1:]))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> features (N, d)."""
        check_tensor(x, "x", floating=True, what=f"images (N, {', '.join(map(str, self.shape))})")
        if tuple(x.shape[1:]) != self.shape:
            fail("x", f"images of shape (N, {', '.join(map(str, self.shape))}), as the PCA was fitted on",
                 f"shape {tuple(x.shape)}")
        return (x.flatten(1).float() - self.mean) @ self.components

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Features (N, d) -> images, clipped to [0, 1] (the projection can leave the pixel range)."""
        check_tensor(z, "z", ndim=2, floating=True, what=f"features (N, {self.components.shape[1]})")
        if z.shape[1] != self.components.shape[1]:
            fail("z", f"features of size {self.components.shape[1]}", z.shape[1])
        return (z @ self.components.T + self.mean).clamp(0, 1).reshape(-1, *self.shape)


def class_gaussians(z: torch.Tensor, y: torch.Tensor, n_classes: int,
                    ridge: float = 1e-3) -> torch.distributions.MultivariateNormal:
    """One Gaussian per class, fitted by maximum likelihood (mean and covariance with 1/N, plus
    ``ridge`` on the diagonal so that a rare class's covariance stays invertible). Batch shape
    (n_classes,): ``.log_prob(z[:, None])`` gives (N, K); ``.sample((n,))`` gives (n, K, d)."""
    check_tensor(z, "z", ndim=2, floating=True, what="feature vectors (N, d)")
    check_labels(y, "y", n_classes, n=len(z))
    check_number(ridge, "ridge", 0, low_open=True)
    counts = torch.bincount(y, minlength=n_classes)
    if int(counts.min()) < 2:
        fail("y", "at least 2 examples of every class", f"counts {counts.tolist()}")
    means = torch.stack([z[y == c].mean(0) for c in range(n_classes)])
    covs = torch.stack([torch.cov(z[y == c].T, correction=0) for c in range(n_classes)])
    covs = covs + ridge * torch.eye(z.shape[1], dtype=z.dtype, device=z.device)
    return torch.distributions.MultivariateNormal(means, covariance_matrix=covs)


def label_issues(z: torch.Tensor, y: torch.Tensor, n_classes: int, threshold: float = 0.1, folds: int = 2,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Mask of examples whose label looks wrong: under class Gaussians fitted on the *other*
    folds, the posterior probability of the given label is below ``threshold``. Out-of-fold
    scores matter: a model scores its own training labels as likely, wrong ones included
    (the idea of confident learning, Northcutt et al., 2021). (N,) bool"""
    check_number(threshold, "threshold", 0, 1, low_open=True, high_open=True)
    check_int(folds, "folds", 2, len(z))
    check_labels(y, "y", n_classes, n=len(z))
    fold = torch.randperm(len(z), generator=generator).to(z.device) % folds
    flag = torch.zeros(len(z), dtype=torch.bool, device=z.device)
    for f in range(folds):
        held = fold == f
        gauss = class_gaussians(z[~held], y[~held], n_classes)
        prior = torch.bincount(y[~held], minlength=n_classes).to(z.dtype).log()
        posterior = (gauss.log_prob(z[held][:, None]) + prior).softmax(1)      # (n_held, K)
        flag[held] = posterior.gather(1, y[held][:, None]).squeeze(1) < threshold
    return flag


# --- augmentation -----------------------------------------------------------------------------


def center_of_mass(x: torch.Tensor) -> torch.Tensor:
    """Intensity-weighted centre (row, column) of each image, in pixels. (N, 2). MNIST centres
    its digits this way, so a shift of the centre measures how far a sample has moved."""
    _check_image_batch(x)
    img = x.sum(1)                                                            # (N, H, W)
    H, W = img.shape[-2:]
    mass = img.sum((1, 2)).clamp(min=1e-8)
    rows = (img.sum(2) * torch.arange(H, dtype=x.dtype, device=x.device)).sum(1) / mass
    cols = (img.sum(1) * torch.arange(W, dtype=x.dtype, device=x.device)).sum(1) / mass
    return torch.stack([rows, cols], 1)


def translate(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Shift each image by whole pixels (rows, columns) (N, 2), filling with 0; differentiable in x."""
    check_tensor(x, "x", ndim=4, floating=True, what="images (N, C, H, W)")
    check_tensor(shifts, "shifts", ndim=2, floating=False, what="integer shifts (N, 2)")
    if tuple(shifts.shape) != (len(x), 2):
        fail("shifts", f"one (row, column) shift per image, shape ({len(x)}, 2)", f"shape {tuple(shifts.shape)}")
    N, C, H, W = x.shape
    pad = int(shifts.abs().max()) if shifts.numel() else 0
    padded = F.pad(x, (pad, pad, pad, pad))                                   # (N, C, H+2p, W+2p)
    r = (torch.arange(H, device=x.device)[None, :] - shifts[:, :1].to(x.device) + pad)  # (N, H)
    c = (torch.arange(W, device=x.device)[None, :] - shifts[:, 1:].to(x.device) + pad)  # (N, W)
    rows = padded.gather(2, r[:, None, :, None].expand(N, C, H, W + 2 * pad))
    return rows.gather(3, c[:, None, None, :].expand(N, C, H, W))


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image about its centre by ``degrees`` (N,) (counter-clockwise as displayed, rows
    downwards), bilinear, filling with 0; differentiable in x. A classic augmentation."""
    check_tensor(x, "x", ndim=4, floating=True, what="images (N, C, H, W)")
    check_tensor(degrees, "degrees", ndim=1, floating=True, what="one angle per image (N,)")
    if len(degrees) != len(x):
        fail("degrees", f"one angle per image ({len(x)})", len(degrees))
    a = torch.deg2rad(degrees.to(x))
    cos, sin = a.cos(), a.sin()
    zero = torch.zeros_like(a)
    # affine_grid maps output coordinates to input ones, in (column, row) order with rows down
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)   # (N, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def orientation(x: torch.Tensor) -> torch.Tensor:
    """The angle (degrees, in (-90, 90]) of each image's principal axis of inertia, from the
    second moments of its intensity, measured counter-clockwise from vertical as displayed. (N,)
    Upright digits are near 0 (a slanted "1" a little off); rotating an image by $a$ adds $a$."""
    _check_image_batch(x)
    img = x.sum(1)                                                             # (N, H, W)
    H, W = img.shape[-2:]
    mass = img.sum((1, 2)).clamp(min=1e-8)
    r = torch.arange(H, dtype=x.dtype, device=x.device)[None, :, None]
    c = torch.arange(W, dtype=x.dtype, device=x.device)[None, None, :]
    rc, cc = center_of_mass(x).unbind(1)
    dr, dc = r - rc[:, None, None], c - cc[:, None, None]
    mu_rr = (img * dr**2).sum((1, 2)) / mass
    mu_cc = (img * dc**2).sum((1, 2)) / mass
    mu_rc = (img * dr * dc).sum((1, 2)) / mass
    # the major axis's angle from the row (vertical) axis; with rows pointing down, a positive
    # covariance of row and column means the top leans left, i.e. a counter-clockwise tilt
    return torch.rad2deg(0.5 * torch.atan2(2 * mu_rc, mu_rr - mu_cc))


def diff_augment(x: torch.Tensor, max_shift: int = 3, cutout: int = 0, same_for_batch: bool = False,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Differentiable augmentation (DiffAugment, Zhao et al., 2020): random translation by up to
    ``max_shift`` pixels and, if ``cutout`` > 0, a zeroed square of that size. Applied to real
    *and* generated images before the discriminator, it keeps D from memorizing a small data set
    while G still learns un-augmented images; gradients flow through it to G.
    ``same_for_batch`` applies one transform to the whole batch."""
    check_tensor(x, "x", ndim=4, floating=True, what="images (N, C, H, W)")
    check_int(max_shift, "max_shift", 0, min(x.shape[-2:]) - 1)
    check_int(cutout, "cutout", 0, min(x.shape[-2:]))
    n = 1 if same_for_batch else len(x)
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator).expand(len(x), 2)
    out = translate(x, shifts) if max_shift else x
    if cutout:
        H, W = x.shape[-2:]
        corner = torch.randint(0, min(H, W) - cutout + 1, (n, 2), generator=generator).expand(len(x), 2)
        rr = torch.arange(H)[None, :, None] - corner[:, 0, None, None]        # (N, H, 1)
        cc = torch.arange(W)[None, None, :] - corner[:, 1, None, None]        # (N, 1, W)
        hole = (rr >= 0) & (rr < cutout) & (cc >= 0) & (cc < cutout)          # (N, H, W)
        out = out * (~hole[:, None]).to(out)
    return out
