"""Editing images with a trained diffusion model: sampling loops in which part of the image is known.

The network is never retrained. Each edit changes only *where the reverse process starts* or
*what is put back after each step*:

* **Inpainting, super-resolution** (``conditioned_sample``): the known part of the image is a
  linear projection $P x$ of the data (the kept pixels for inpainting, the low-resolution image
  for super-resolution). After every reverse step from $t$ to $t'$, the sample's component in that
  subspace is replaced by the known image noised to level $t'$:
  $x_{t'} \\leftarrow x_{t'} - P x_{t'} + P\\tilde x_{t'}$ with $\\tilde x_{t'} \\sim q(x_{t'} \\mid x_0^\\text{known})$.
  With $P$ a pixel mask this is the replacement method (Song et al., 2021; Lugmayr et al., 2022); with
  $P$ = "average over $f \\times f$ blocks, then repeat" it is ILVR (Choi et al., 2021) with block means
  as its low-pass filter, which makes it an exact projection (ILVR's own resize filter is not). RePaint's resampling (Lugmayr et
  al.) jumps back from $t'$ to $t$ with $q(x_t \\mid x_{t'})$ and denoises again, ``resample`` times,
  so that the generated part has more steps to agree with the known part.
* **SDEdit** (``sdedit``, Meng et al., 2022): noise an image to an intermediate step and run the
  reverse process from there: the higher the step, the less of the input survives.
* **Denoising** (``denoise``): an image with Gaussian noise of standard deviation $\\sigma$ *is*, up
  to a scale, a diffusion state: $\\sqrt{\\bar\\alpha_t}(x_0 + \\sigma\\epsilon) \\sim q(x_t \\mid x_0)$ when
  $(1 - \\bar\\alpha_t)/\\bar\\alpha_t = \\sigma^2$. So the reverse process starts at that $t$.

Images are in the diffusion model's range $[-1, 1]$, as in ``ddim_sample``; steps are 0-based.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..validate import check_int, check_number, check_tensor, fail, values_are_cheap
from .diffusion import Schedule, ddim_step, ddim_timesteps, q_sample

Projection = Callable[[torch.Tensor], torch.Tensor]


def mask_projection(mask: torch.Tensor) -> Projection:
    """$P x = m \\odot x$: the known pixels (``mask`` 1 where known, 0 where to be generated)."""
    check_tensor(mask, "mask", floating=True, what="a 0/1 mask broadcastable to the images, e.g. (1, 1, 28, 28)")
    if not ((mask == 0) | (mask == 1)).all():
        fail("mask", "values 0 (generate) or 1 (known) only", f"values in [{mask.min().item():.3g}, "
             f"{mask.max().item():.3g}]", "Threshold it: (mask > 0.5).float()")
    return lambda x: mask * x


def downsample_projection(factor: int) -> Projection:
    """$P x$ = the mean of each ``factor`` x ``factor`` block, repeated over the block: the part of an
    image that its low-resolution version determines. $P$ is a projection: $P P = P$."""
    check_int(factor, "factor", low=1)

    def project(x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % factor or x.shape[-2] % factor:
            fail("factor", f"a divisor of the image size {tuple(x.shape[-2:])}", factor)
        return F.interpolate(F.avg_pool2d(x, factor), scale_factor=factor, mode="nearest")
    return project


def _noise(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device="cpu").to(x)


def _steps(i: int, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)


def _jump(sched: Schedule, x: torch.Tensor, i_prev: int, i: int, noise: torch.Tensor) -> torch.Tensor:
    """A draw of $q(x_t \\mid x_{t'})$ for the later step $t > t'$ (RePaint's jump back):
    $\\sqrt{\\bar\\alpha_t/\\bar\\alpha_{t'}}\\,x_{t'} + \\sqrt{1 - \\bar\\alpha_t/\\bar\\alpha_{t'}}\\,\\epsilon$."""
    ratio = sched.alpha_bar[i] / sched.alpha_bar[i_prev]
    return ratio.sqrt() * x + (1 - ratio).sqrt() * noise


@torch.no_grad()
def conditioned_sample(eps_fn: Callable, sched: Schedule, known: torch.Tensor, project: Projection,
                       x_T: torch.Tensor, steps: int = 50, resample: int = 1, eta: float = 1.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample $x_0$ whose component $P x_0$ equals $P$ ``known`` (DDIM steps along
    ``ddim_timesteps(T, steps)``, stochastic for ``eta > 0``; ``resample`` > 1 is RePaint's resampling).
    Returns images on the $[-1, 1]$ scale, not clipped, so that $P x_0$ is exactly $P$ ``known`` (the
    generated part can stray slightly outside the range; clip before viewing)."""
    check_tensor(known, "known", floating=True, what="images in [-1, 1], (N, C, H, W)")
    if values_are_cheap(known) and known.abs().max() > 1 + 1e-3:
        fail("known", "images on the diffusion model's scale [-1, 1]",
             f"values in [{known.min().item():.3g}, {known.max().item():.3g}]", "Map [0, 1] images with 2 * x - 1")
    if not callable(project):
        fail("project", "a projection, e.g. mask_projection(mask) or downsample_projection(2)",
             type(project).__name__, error=TypeError)
    check_tensor(x_T, "x_T", floating=True, what="noise images, the shape of known")
    if x_T.shape != known.shape:
        fail("x_T", f"noise of the same shape as known {tuple(known.shape)}", f"shape {tuple(x_T.shape)}")
    check_int(resample, "resample", low=1, fix="1 is the plain replacement method; RePaint used 10")
    check_number(eta, "eta", 0, 1, fix="0 is deterministic DDIM, 1 has DDPM's variance")
    ts = ddim_timesteps(sched.T, steps)
    x = x_T
    for i, i_prev in zip(ts, ts[1:] + [-1]):
        rounds = resample if i_prev >= 0 else 1  # the last step lands on x_0: nothing to jump back from
        for r in range(rounds):
            x = ddim_step(sched, x, i, i_prev, eps_fn(x, _steps(i, x)), eta, generator)
            known_t = known if i_prev < 0 else q_sample(sched, known, _steps(i_prev, x), _noise(x, generator))
            x = x - project(x) + project(known_t)  # put the known part back, at the current noise level
            if r < rounds - 1:  # RePaint: back to step i with q(x_i | x_prev), and denoise again
                x = _jump(sched, x, i_prev, i, _noise(x, generator))
    return x


def noise_level_step(sched: Schedule, sigma: float) -> int:
    """The 0-based step whose noise-to-signal ratio $\\sqrt{(1-\\bar\\alpha_t)/\\bar\\alpha_t}$ is closest
    to ``sigma`` (the noise's standard deviation on the $[-1, 1]$ scale)."""
    ratio = ((1 - sched.alpha_bar) / sched.alpha_bar).sqrt()
    check_number(sigma, "sigma", 0, ratio[-1].item(), low_open=True,
                 fix="the standard deviation of the noise on the [-1, 1] scale, at most the last step's level")
    return int((ratio - sigma).abs().argmin())


def _reverse_from(eps_fn: Callable, sched: Schedule, x: torch.Tensor, start: int, steps: int, eta: float,
                  generator: torch.Generator | None) -> torch.Tensor:
    """DDIM from 0-based step ``start`` down to $x_0$, ``steps`` network calls at most."""
    ts = ddim_timesteps(start + 1, min(steps, start + 1))
    for i, i_prev in zip(ts, ts[1:] + [-1]):
        x = ddim_step(sched, x, i, i_prev, eps_fn(x, _steps(i, x)), eta, generator)
    return x


@torch.no_grad()
def sdedit(eps_fn: Callable, sched: Schedule, x0: torch.Tensor, start: int, steps: int = 50, eta: float = 0.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """SDEdit: draw $x_t \\sim q(x_t \\mid x_0)$ at the 0-based step ``start``, then run the reverse
    process to a clean image. A small ``start`` keeps the input; ``start`` near $T$ ignores it."""
    check_tensor(x0, "x0", floating=True, what="images in [-1, 1], (N, C, H, W)")
    check_int(start, "start", 0, sched.T - 1, fix=f"a step between 0 and {sched.T - 1}: larger edits more")
    check_int(steps, "steps", low=1)
    check_number(eta, "eta", 0, 1, fix="0 is deterministic DDIM, 1 has DDPM's variance")
    x = q_sample(sched, x0, _steps(start, x0), _noise(x0, generator))
    return _reverse_from(eps_fn, sched, x, start, steps, eta, generator)


@torch.no_grad()
def denoise(eps_fn: Callable, sched: Schedule, noisy: torch.Tensor, sigma: float, steps: int = 50,
            eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Restore ``noisy`` = $x_0 + \\sigma\\epsilon$ (on the $[-1, 1]$ scale): scale it by
    $\\sqrt{\\bar\\alpha_t}$ at the step whose noise level matches $\\sigma$ and run the reverse process."""
    check_tensor(noisy, "noisy", floating=True, what="noisy images on the [-1, 1] scale, (N, C, H, W)")
    check_int(steps, "steps", low=1)
    check_number(eta, "eta", 0, 1, fix="0 is deterministic DDIM, 1 has DDPM's variance")
    start = noise_level_step(sched, sigma)
    return _reverse_from(eps_fn, sched, sched.alpha_bar[start].sqrt() * noisy, start, steps, eta, generator)
