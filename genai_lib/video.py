"""Video: Moving MNIST (Srivastava et al., 2015), made on the fly from MNIST digits.

Each digit moves with a constant velocity and bounces elastically off the frame's edges. The
known trajectories let a notebook compare a video model's motion with the truth, e.g. through
:func:`centre_of_mass`. Bouncing in a box of width $L$ = size - 28 is the triangle wave of the
unbounced motion $u_t = p_0 + v t$: fold $u$ into $[0, 2L)$, and reflect the upper half,

$$p_t = L - \\bigl|\\,(u_t \\bmod 2L) - L\\,\\bigr|,$$

which reflects the position and flips the velocity's sign at each wall, for any speed.
"""
from __future__ import annotations

import math

import torch

from .validate import check_finite, check_images, check_int, check_number, check_tensor, fail, values_are_cheap

DIGIT = 28  # MNIST digits are 28x28


def _fold(u: torch.Tensor, L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Position in [0, L] and the direction (+1/-1) of travel relative to u's, for unbounced u."""
    if L == 0:  # the digit fills the frame and cannot move
        return torch.zeros_like(u), torch.ones_like(u)
    f = torch.remainder(u, 2 * L)                                        # [0, 2L)
    return L - (f - L).abs(), torch.where(f < L, 1.0, -1.0).to(u.dtype)


def moving_mnist(digits: torch.Tensor, n_clips: int, frames: int = 10, size: int = 48, n_digits: int = 1,
                 seed: int = 0, speed: tuple[float, float] = (2.0, 4.0)) -> tuple[torch.Tensor, dict]:
    """``n_clips`` clips (n_clips, frames, 1, size, size) in [0, 1] of ``n_digits`` bouncing digits.

    digits: (N, 28, 28) or (N, 1, 28, 28) floats in [0, 1], drawn from at random. Each digit
    starts at a uniform position, moves in a uniform direction at a speed uniform in ``speed``
    (pixels per frame), and is drawn at its position rounded to whole pixels, so it is always
    fully inside the frame and keeps all its intensity; overlapping digits combine by max.
    Deterministic given ``seed`` (a private torch.Generator, never the global one).

    Returns the clips (on the digits' device) and ``info`` (on the CPU) with
    ``positions`` (n_clips, n_digits, frames, 2): each digit's drawn top-left (row, col), long;
    ``velocity`` (n_clips, n_digits, frames, 2): its velocity leaving each frame (px/frame; the
    sign flips at a bounce); ``digit_index`` (n_clips, n_digits): which of ``digits`` it is.
    """
    check_tensor(digits, "digits", floating=True, what="MNIST digits (N, 28, 28)")
    if not (digits.dim() == 3 or (digits.dim() == 4 and digits.shape[1] == 1)) or digits.shape[-2:] != (DIGIT, DIGIT):
        fail("digits", "MNIST digits of shape (N, 28, 28) or (N, 1, 28, 28)", f"shape {tuple(digits.shape)}")
    digits = check_images(digits.reshape(-1, 1, DIGIT, DIGIT), "digits", tol=0.0)
    check_int(n_clips, "n_clips", low=1)
    check_int(frames, "frames", low=2, fix="A clip needs at least 2 frames to show any motion")
    check_int(size, "size", low=DIGIT, fix=f"The frame must hold a whole {DIGIT}x{DIGIT} digit")
    check_int(n_digits, "n_digits", low=1)
    check_int(seed, "seed")
    if not isinstance(speed, (tuple, list)) or len(speed) != 2:
        fail("speed", "a (low, high) pair of speeds in pixels per frame", repr(speed), error=TypeError)
    lo = check_number(speed[0], "speed[0]", 0)
    hi = check_number(speed[1], "speed[1]", lo, fix=f"The upper speed must be at least the lower one ({lo})")

    g = torch.Generator().manual_seed(seed)
    L = size - DIGIT                                                     # the box the top-left moves in
    digit_index = torch.randint(len(digits), (n_clips, n_digits), generator=g)
    p0 = torch.rand(n_clips, n_digits, 1, 2, generator=g, dtype=torch.float64) * L
    angle = torch.rand(n_clips, n_digits, 1, generator=g, dtype=torch.float64) * 2 * math.pi
    v = lo + (hi - lo) * torch.rand(n_clips, n_digits, 1, generator=g, dtype=torch.float64)
    v = v[..., None] * torch.stack([torch.sin(angle), torch.cos(angle)], -1)   # (n, d, 1, 2) (row, col)
    t = torch.arange(frames, dtype=torch.float64)[:, None]                    # (frames, 1)
    # $u_t = p_0 + v t$, then fold it into the box (module docstring)
    p, direction = _fold(p0 + v * t, L)                                       # (n, d, frames, 2)
    positions = p.round().long()
    velocity = (v * direction).to(digits.dtype)

    # draw: each digit's 28x28 pixels go to flat indices (row + i) * size + (col + j) of its frame
    ij = torch.arange(DIGIT)
    rows = positions[..., 0, None, None] + ij[:, None]                       # (n, d, frames, 28, 1)
    cols = positions[..., 1, None, None] + ij[None, :]                       # (n, d, frames, 1, 28)
    flat = (rows * size + cols).flatten(-2)                                  # (n, d, frames, 784)
    flat = flat.to(digits.device)                                           # draw where the digits are
    pixels = digits[digit_index.to(digits.device)].flatten(2)                # (n, d, 784)
    canvas = torch.zeros(n_clips, frames, size * size, dtype=digits.dtype, device=digits.device)
    for k in range(n_digits):
        values = pixels[:, k, None, :].expand(-1, frames, -1)                # (n, frames, 784)
        canvas = canvas.scatter_reduce(2, flat[:, k], values, reduce="amax")  # max combines the digits
    clips = canvas.view(n_clips, frames, 1, size, size)
    return clips, {"positions": positions, "velocity": velocity, "digit_index": digit_index}


def centre_of_mass(frames: torch.Tensor) -> torch.Tensor:
    """Intensity-weighted mean (row, col) of each image (..., H, W) => (..., 2).

    $c = \\sum_{ij} x_{ij}\\,(i, j) / \\sum_{ij} x_{ij}$. For a single digit drawn at top-left p it is
    p plus the digit's own centre, so differences between frames are its displacement.
    """
    check_tensor(frames, "frames", floating=True, what="images (..., H, W)")
    if frames.dim() < 2:
        fail("frames", "images (..., H, W) with at least 2 dimensions", f"shape {tuple(frames.shape)}")
    check_finite(frames, "frames")
    mass = frames.sum((-2, -1))                                              # (...)
    if values_are_cheap(frames) and (float(frames.min()) < 0 or bool((mass <= 0).any())):
        fail("frames", "non-negative intensities with some mass in every image",
             f"values in [{float(frames.min()):.3g}, {float(frames.max()):.3g}] and "
             f"{int((mass <= 0).sum())} images of total intensity <= 0",
             "The centre of mass of a blank frame is undefined; leave such frames out")
    H, W = frames.shape[-2:]
    r = torch.arange(H, dtype=frames.dtype, device=frames.device)
    c = torch.arange(W, dtype=frames.dtype, device=frames.device)
    row = (frames.sum(-1) * r).sum(-1) / mass                                # (...)
    col = (frames.sum(-2) * c).sum(-1) / mass
    return torch.stack([row, col], -1)                                       # (..., 2)
