"""Denoising diffusion (Ho et al., 2020) and DDIM sampling (Song et al., 2021), separate from the network.

Forward process, fixed: $q(x_t \\mid x_{t-1}) = \\mathcal N(\\sqrt{\\alpha_t}\\,x_{t-1}, \\beta_t I)$ with
$\\alpha_t = 1 - \\beta_t$, so with $\\bar\\alpha_t = \\prod_{s\\le t}\\alpha_s$

$$q(x_t \\mid x_0) = \\mathcal N(\\sqrt{\\bar\\alpha_t}\\,x_0,\\,(1-\\bar\\alpha_t) I).$$

A network $\\epsilon_\\theta(x_t, t)$ learns to predict the noise in $x_t$; the reverse process uses
the posterior $q(x_{t-1} \\mid x_t, x_0) = \\mathcal N(\\tilde\\mu_t, \\tilde\\beta_t I)$ with $x_0$ replaced
by its estimate. Time steps are 0-based in code: index ``i`` is step $t = i + 1$.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import (check_choice, check_images, check_int, check_labels, check_number, check_tensor, fail,
                        plain_fields)
from .unet import UNet, UNetConfig


def linear_betas(T: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> torch.Tensor:
    """Ho et al.'s schedule, scaled from their T = 1000 to any T (about the same total noise;
    capped below 1 for very short chains)."""
    check_int(T, "T", low=1)
    scale = 1000 / T
    return torch.linspace(scale * beta_1, scale * beta_T, T, dtype=torch.float64).clamp(max=0.999)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal (2021): $\\bar\\alpha_t = f(t)/f(0)$, $f(t) = \\cos^2\\big(\\frac{t/T + s}{1 + s}\\frac{\\pi}{2}\\big)$."""
    check_int(T, "T", low=1)
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


class Schedule(nn.Module):
    """The noise schedule and every coefficient derived from it, as buffers (they follow ``.to``)."""

    def __init__(self, betas: torch.Tensor):
        super().__init__()
        check_tensor(betas, "betas", ndim=1, floating=True, what="a 1-D tensor of noise levels")
        betas = betas.double()
        if betas.dim() != 1 or not ((betas > 0) & (betas < 1)).all():
            raise ValueError("betas must be a 1-D tensor with values in (0, 1)")
        alphas = 1 - betas
        alpha_bar = torch.cumprod(alphas, 0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        buffers = {
            "betas": betas, "alphas": alphas, "alpha_bar": alpha_bar, "alpha_bar_prev": alpha_bar_prev,
            # posterior q(x_{t-1} | x_t, x_0): mean = coef_x0 * x_0 + coef_xt * x_t, variance = posterior_var
            "coef_x0": alpha_bar_prev.sqrt() * betas / (1 - alpha_bar),
            "coef_xt": alphas.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar),
            "posterior_var": betas * (1 - alpha_bar_prev) / (1 - alpha_bar),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value.float())

    @property
    def T(self) -> int:
        return len(self.betas)

    def at(self, name: str, i: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Coefficient ``name`` at 0-based steps ``i`` (N,), shaped to broadcast against ``x``."""
        return getattr(self, name)[i].view(-1, *([1] * (x.dim() - 1)))


def _check_steps(sched: Schedule, i: torch.Tensor, x: torch.Tensor) -> None:
    """0-based steps (N,), one per example, in [0, T)."""
    check_tensor(x, "x", floating=True, what="a batch (N, ...)")
    check_labels(i, "i", sched.T, len(x), what="0-based time steps")


def _check_step_index(i: int, T: int, name: str = "i", low: int = 0) -> None:
    check_int(i, name, low, T - 1)


def q_sample(sched: Schedule, x0: torch.Tensor, i: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    """A draw of $x_t \\sim q(x_t \\mid x_0)$: $\\sqrt{\\bar\\alpha_t}\\,x_0 + \\sqrt{1-\\bar\\alpha_t}\\,\\epsilon$."""
    _check_steps(sched, i, x0)
    noise = torch.randn_like(x0) if noise is None else noise
    return sched.at("alpha_bar", i, x0).sqrt() * x0 + (1 - sched.at("alpha_bar", i, x0)).sqrt() * noise


def predict_x0(sched: Schedule, x_t: torch.Tensor, i: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Invert $q$: $\\hat x_0 = (x_t - \\sqrt{1-\\bar\\alpha_t}\\,\\hat\\epsilon)/\\sqrt{\\bar\\alpha_t}$."""
    _check_steps(sched, i, x_t)
    return (x_t - (1 - sched.at("alpha_bar", i, x_t)).sqrt() * eps) / sched.at("alpha_bar", i, x_t).sqrt()


def diffusion_loss(eps_model: Callable, sched: Schedule, x0: torch.Tensor, *cond) -> torch.Tensor:
    """Ho et al.'s simplified objective $\\mathbb E_{t, x_0, \\epsilon}\\lVert\\epsilon - \\epsilon_\\theta(x_t, t)\\rVert^2$,
    $t$ uniform. It is the ELBO's sum of KL terms with their per-step weights dropped."""
    check_tensor(x0, "x0", floating=True, what="clean data (N, ...) in [-1, 1]")
    i = torch.randint(sched.T, (x0.shape[0],), device=x0.device)
    noise = torch.randn_like(x0)
    return F.mse_loss(eps_model(q_sample(sched, x0, i, noise), i, *cond), noise)


@torch.no_grad()
def ddpm_step(sched: Schedule, x_t: torch.Tensor, i: int, eps: torch.Tensor,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """One ancestral step: $x_{t-1} \\sim \\mathcal N(\\tilde\\mu_t(x_t, \\hat x_0), \\tilde\\beta_t I)$ (no noise at the last step)."""
    _check_step_index(i, sched.T)
    idx = torch.full((x_t.shape[0],), i, device=x_t.device, dtype=torch.long)
    x0 = predict_x0(sched, x_t, idx, eps).clamp(-1, 1)
    mean = sched.at("coef_x0", idx, x_t) * x0 + sched.at("coef_xt", idx, x_t) * x_t
    if i == 0:
        return mean
    noise = torch.randn(x_t.shape, generator=generator, device="cpu").to(x_t)
    return mean + sched.at("posterior_var", idx, x_t).sqrt() * noise


@torch.no_grad()
def ddim_step(sched: Schedule, x_t: torch.Tensor, i: int, i_prev: int, eps: torch.Tensor, eta: float = 0.0,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """One DDIM step from step ``i`` to ``i_prev`` (< i; -1 means $x_0$):

    $x_{prev} = \\sqrt{\\bar\\alpha_{prev}}\\,\\hat x_0 + \\sqrt{1 - \\bar\\alpha_{prev} - \\sigma^2}\\,\\hat\\epsilon + \\sigma z$,
    $\\sigma = \\eta \\sqrt{\\tfrac{1-\\bar\\alpha_{prev}}{1-\\bar\\alpha_t}\\big(1 - \\tfrac{\\bar\\alpha_t}{\\bar\\alpha_{prev}}\\big)}$.
    $\\eta = 0$ is deterministic; $\\eta = 1$ with consecutive steps has DDPM's variance.

    $\\hat x_0$ is clipped to the data range $[-1, 1]$, and $\\hat\\epsilon$ is then re-derived from the
    clipped $\\hat x_0$ so that the two stay consistent with $x_t$. Clipping $\\hat x_0$ but keeping the
    network's $\\hat\\epsilon$ moves $x_{prev}$ off the path DDIM assumes; with guidance, which pushes
    $\\hat x_0$ far out of range at large $t$, that mismatch ruined whole digits (tested).
    """
    _check_step_index(i, sched.T)
    _check_step_index(i_prev, i, "i_prev", low=-1)
    check_number(eta, "eta", 0, 1, fix="0 is deterministic DDIM, 1 has DDPM's variance")
    a_t = sched.alpha_bar[i]
    a_prev = sched.alpha_bar[i_prev] if i_prev >= 0 else torch.ones((), device=x_t.device)
    sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
    x0 = ((x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)
    eps = (x_t - a_t.sqrt() * x0) / (1 - a_t).sqrt()
    x = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
    if eta > 0 and i_prev >= 0:
        x = x + sigma * torch.randn(x_t.shape, generator=generator, device="cpu").to(x_t)
    return x


# --- The sampling loops, written out; ``eps_fn(x_t, i)`` is any noise predictor ---------------

def ddpm_sample(eps_fn: Callable, sched: Schedule, x_T: torch.Tensor, record: tuple[int, ...] = (),
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Ancestral sampling: all $T$ steps from $x_T \\sim \\mathcal N(0, I)$ down to $x_0$.

    Returns $x_0$ and ``{i: x_i}`` for the 0-based steps in ``record`` (the state *before* step i).
    """
    check_tensor(x_T, "x_T", floating=True, what="noise (N, ...)")
    x, chain = x_T, {}
    for i in reversed(range(sched.T)):
        if i in record:
            chain[i] = x
        idx = torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)
        x = ddpm_step(sched, x, i, eps_fn(x, idx), generator)
    return x, chain


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """``steps`` evenly spaced 0-based steps from T-1 down to 0 (the subsequence DDIM visits)."""
    check_int(steps, "steps", 1, T, fix="None runs DDPM's full chain instead")
    return sorted({round(v) for v in torch.linspace(0, T - 1, steps).tolist()}, reverse=True)


def ddim_sample(eps_fn: Callable, sched: Schedule, x_T: torch.Tensor, steps: int = 50, eta: float = 0.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """DDIM: jump along ``ddim_timesteps(T, steps)``; deterministic in $x_T$ when ``eta = 0``."""
    check_number(eta, "eta", 0, 1, fix="0 is deterministic DDIM, 1 has DDPM's variance")
    check_tensor(x_T, "x_T", floating=True, what="noise (N, ...)")
    ts = ddim_timesteps(sched.T, steps)
    x = x_T
    for i, i_prev in zip(ts, ts[1:] + [-1]):
        idx = torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)
        x = ddim_step(sched, x, i, i_prev, eps_fn(x, idx), eta, generator)
    return x


# --- The model: a noise-predicting network and its schedule ------------------------------------

@dataclass(frozen=True)
class DiffusionConfig:
    channels: int = 32          # the U-Net's width (see unet.UNetConfig)
    n_classes: int = 0          # > 0: label-conditional, trained for classifier-free guidance
    T: int = 1000
    schedule: str = "linear"    # "linear" (Ho et al.) or "cosine" (Nichol & Dhariwal)
    p_uncond: float = 0.1       # how often a label is dropped to "no label" in training
    ema: float = 0.0            # > 0: keep a moving average of the weights for sampling

    def __post_init__(self):
        plain_fields(self)
        UNetConfig(channels=self.channels, n_classes=self.n_classes)  # its checks, with its messages
        check_int(self.T, "DiffusionConfig.T", low=1)
        check_choice(self.schedule, "DiffusionConfig.schedule", ("linear", "cosine"))
        check_number(self.p_uncond, "DiffusionConfig.p_uncond", 0, 1)
        check_number(self.ema, "DiffusionConfig.ema", 0, 1, high_open=True, fix="0 turns averaging off; 0.999 is typical")


class Diffusion(nn.Module):
    """$\\epsilon_\\theta$ (a U-Net) with its schedule. ``forward(x, y)`` is the training loss on
    images in [0, 1]; ``sample`` runs DDPM or DDIM, with classifier-free guidance if labelled."""

    def __init__(self, cfg: DiffusionConfig = DiffusionConfig()):
        super().__init__()
        self.cfg = cfg
        self.net = UNet(UNetConfig(channels=cfg.channels, n_classes=cfg.n_classes))
        self.sched = Schedule(linear_betas(cfg.T) if cfg.schedule == "linear" else cosine_betas(cfg.T))
        self.net_ema = copy.deepcopy(self.net).requires_grad_(False) if cfg.ema else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_images(x, "x", like=self.net.inp.weight)
        if self.cfg.n_classes:
            if y is None:
                raise ValueError("this model is conditional: give labels y (N,)")
            check_labels(y, "y", self.cfg.n_classes, len(x))
            drop = torch.rand(y.shape, device=y.device) < self.cfg.p_uncond
            y = torch.where(drop, torch.full_like(y, self.cfg.n_classes), y)
        elif y is not None:
            fail("y", "None: this diffusion model is unconditional and would ignore labels", "labels",
                 "Build the batches with Batches(x, batch_size=...), or set DiffusionConfig.n_classes")
        return diffusion_loss(self.net, self.sched, x * 2 - 1, y)

    def training_step(self, batch: tuple, update) -> dict[str, torch.Tensor]:
        loss = update("model", self(*batch))
        if self.net_ema is not None:
            with torch.no_grad():
                for avg, p in zip(self.net_ema.parameters(), self.net.parameters()):
                    avg.lerp_(p, 1 - self.cfg.ema)
        return {"loss": loss}

    def eps_fn(self, y: torch.Tensor | None = None, guidance: float = 1.0) -> Callable:
        """The noise predictor the sampling loops call. With labels and guidance scale $s$,
        $\\hat\\epsilon = \\epsilon(x_t, \\varnothing) + s\\,(\\epsilon(x_t, y) - \\epsilon(x_t, \\varnothing))$:
        $s = 0$ ignores the label, $s = 1$ is the plain conditional model, $s > 1$ guides harder."""
        check_number(guidance, "guidance", 0, fix="0 ignores the label, 1 is the plain conditional model")
        if y is not None and not self.cfg.n_classes:
            fail("y", "None: this diffusion model is unconditional", "labels",
                 "Train a conditional model (DiffusionConfig.n_classes) to choose what it draws")
        if y is not None:
            check_labels(y, "y", self.cfg.n_classes)
        net = self.net_ema if self.net_ema is not None else self.net
        if y is None or guidance == 1.0:
            return lambda x, i: net(x, i, y)
        if not self.cfg.n_classes:
            raise ValueError("guidance needs a conditional model (n_classes > 0)")
        null = torch.full_like(y, self.cfg.n_classes)
        if guidance == 0.0:  # the label is ignored: the unconditional network alone, one pass
            return lambda x, i: net(x, i, null)

        def guided(x: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
            e = net(torch.cat([x, x]), torch.cat([i, i]), torch.cat([y, null]))  # one batch, two predictions
            e_cond, e_uncond = e.chunk(2)
            return e_uncond + guidance * (e_cond - e_uncond)
        return guided

    @torch.no_grad()
    def sample(self, n: int | None = None, y: torch.Tensor | None = None, steps: int | None = None,
               eta: float = 0.0, guidance: float = 1.0, x_T: torch.Tensor | None = None,
               generator: torch.Generator | None = None, batch_size: int | None = None) -> torch.Tensor:
        """Images in [0, 1]. ``steps=None`` runs DDPM's full chain; an int runs DDIM with that many.
        Give ``n`` (fresh noise, from ``generator`` if given), or ``x_T``; labels ``y`` (N,) if conditional.

        Samples are drawn ``batch_size`` at a time (default: 64 on a CPU, where small batches stay
        in cache and ran about 3x faster than 512 at once on two cores; 1024 on a GPU)."""
        device = self.sched.betas.device
        check_number(eta, "eta", 0, 1, fix="0 is deterministic DDIM, 1 has DDPM's variance")
        if steps is not None:
            ddim_timesteps(self.cfg.T, steps)  # checks steps
        if batch_size is not None:
            check_int(batch_size, "batch_size", low=1)
        self.eps_fn(y, guidance)  # checks the labels and the guidance scale before any work
        if y is None and guidance != 1.0:
            fail("guidance", "1 (the default) when no labels y are given: guidance mixes the conditional and "
                 "unconditional predictions", guidance, "Pass the labels y to guide")
        if x_T is not None and n is not None and n != len(x_T):
            fail("n", f"None or the number of noise images in x_T ({len(x_T)})", n)
        if x_T is None:
            n = n if n is not None else (len(y) if y is not None else None)
            if n is None:
                raise ValueError("give n, y or x_T")
            check_int(n, "n", low=1)
            x_T = torch.randn((n, 1, 28, 28), generator=generator, device="cpu").to(device)
        check_tensor(x_T, "x_T", floating=True, like=self.net.inp.weight, what="noise images (N, 1, 28, 28)")
        if x_T.dim() != 4 or tuple(x_T.shape[1:]) != (1, 28, 28):
            fail("x_T", "noise images of shape (N, 1, 28, 28)", f"shape {tuple(x_T.shape)}")
        if y is not None and len(y) != len(x_T):
            raise ValueError(f"{len(y)} labels for {len(x_T)} samples")
        if batch_size is None:
            batch_size = 1024 if x_T.device.type == "cuda" else 64
        was_training = self.training
        self.eval()
        out = []
        for k in range(0, len(x_T), batch_size):
            x, y_k = x_T[k:k + batch_size], (y[k:k + batch_size] if y is not None else None)
            eps = self.eps_fn(y_k, guidance)
            out.append(ddpm_sample(eps, self.sched, x, generator=generator)[0] if steps is None
                       else ddim_sample(eps, self.sched, x, steps, eta, generator))
        self.train(was_training)
        return ((torch.cat(out) + 1) / 2).clamp(0, 1)


# --- Comparing samplers ------------------------------------------------------------------------

SAMPLERS = {  # name -> keyword arguments of Diffusion.sample (steps=None is DDPM's full chain)
    "DDIM, 25 steps, eta = 0": dict(steps=25, eta=0.0),
    "DDIM, 25 steps, eta = 1": dict(steps=25, eta=1.0),
    "DDIM, 100 steps, eta = 0": dict(steps=100, eta=0.0),
    "DDIM, 100 steps, eta = 1": dict(steps=100, eta=1.0),
    "DDPM, 1,000 steps": dict(steps=None),
}


def compare_samplers(model: Diffusion, clf, real: torch.Tensor, x_T: torch.Tensor, samplers: dict = SAMPLERS,
                     seed: int = 6) -> dict[str, dict[str, float]]:
    """Sample metrics of the unconditional ("no label") samples of ``model`` for each sampler,
    all from the same noises ``x_T`` (the sampling noise of DDPM and eta > 0 from ``seed``), with the
    standard error of the confident-digit rate, the seconds each sampler took, and per noise whether
    its sample is a confident digit (samplers on the same noises are compared pair by pair)."""
    from .. import metrics  # the evaluation step of the pipeline; imported here to keep this module light

    if not isinstance(model, Diffusion):
        fail("model", "a Diffusion model", type(model).__name__, error=TypeError)
    if not samplers:
        fail("samplers", "a non-empty dict {name: Diffusion.sample keyword arguments}", repr(samplers))
    results = {}
    for name, kw in samplers.items():
        t0 = time.perf_counter()
        images = model.sample(x_T=x_T, generator=torch.Generator().manual_seed(seed), **kw)
        seconds = time.perf_counter() - t0
        m = metrics.evaluate_samples(clf, images, real)
        rate = m["confident_rate"]
        probs, _ = metrics.classify(clf, images)
        results[name] = {**m, "confident_rate_se": math.sqrt(rate * (1 - rate) / len(x_T)), "seconds": seconds,
                         # per noise: 1 if that sample is a confident digit (for paired comparisons of samplers)
                         "confident": (probs.max(1).values > 0.9).int().tolist()}
    return results
