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


# --- Motion by shifting pixels (a video model that moves the last frame rather than redrawing it)


def _check_frames(x: torch.Tensor, name: str) -> torch.Tensor:
    check_tensor(x, name, ndim=3, floating=True, what="frames (N, H, W)")
    check_finite(x, name)
    return x


def advect(frames: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Move each frame by a mixture of whole-pixel shifts: (N, H, W), (N, K, K) => (N, H, W).

    $\\hat x = \\sum_{d} w_d\\, S_d\\, x$, where $S_d x$ is $x$ moved by $d = (d_r, d_c)$ pixels
    (down and right; zeros enter at the edges, pixels that leave are lost) and
    ``kernels[n, R + dr, R + dc]`` $= w_d$ with $R = (K - 1)/2$. A one-hot kernel moves the frame
    by one shift; a spread kernel blurs it. This is the "convolutional dynamic neural advection"
    of Finn et al. (2016) with one kernel per frame.
    """
    _check_frames(frames, "frames")
    check_tensor(kernels, "kernels", ndim=3, floating=True, what="shift weights (N, K, K)")
    K = kernels.shape[-1]
    if kernels.shape[0] != frames.shape[0] or kernels.shape[1] != K or K % 2 == 0:
        fail("kernels", f"odd square weights (N, K, K) with N = {frames.shape[0]} (one per frame)",
             f"shape {tuple(kernels.shape)}", "Use K = 2 * max_shift + 1")
    R, (N, H, W) = K // 2, frames.shape
    padded = torch.nn.functional.pad(frames, (R, R, R, R))                  # (N, H + 2R, W + 2R)
    # out[n, i, j] = sum_ab padded[n, i + a, j + b] w'[a, b] with w' the kernel flipped: a = R - dr
    weight = kernels.flip(-2, -1).to(frames.dtype)[:, None]                 # (N, 1, K, K)
    return torch.nn.functional.conv2d(padded[None], weight, groups=N)[0]   # (N, H, W)


def shift_errors(prev: torch.Tensor, nxt: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Squared error of every whole-pixel shift of ``prev`` against ``nxt``: (N, K, K), K = 2R + 1.

    ``out[n, R + dr, R + dc]`` $= \\lVert x_{\\text{next}} - S_d\\, x_{\\text{prev}} \\rVert^2$ (the
    shift of :func:`advect`), from $\\lVert a - b \\rVert^2 = \\lVert a \\rVert^2 + \\lVert b \\rVert^2 -
    2\\langle a, b\\rangle$: one correlation and box sums, not K² shifted copies.
    """
    _check_frames(prev, "prev")
    _check_frames(nxt, "nxt")
    if prev.shape != nxt.shape:
        fail("nxt", f"frames of the same shape as prev {tuple(prev.shape)}", f"shape {tuple(nxt.shape)}")
    R = check_int(max_shift, "max_shift", low=0)
    N, H, W = prev.shape
    K = 2 * R + 1
    padded = torch.nn.functional.pad(prev, (R, R, R, R))                    # (N, H + 2R, W + 2R)
    # <nxt, S_d prev> = sum_ij padded[n, i + R - dr, j + R - dc] nxt[n, i, j]
    cross = torch.nn.functional.conv2d(padded[None], nxt[:, None], groups=N)[0]   # (N, K, K), a = R - dr
    # ||S_d prev||^2: the mass of prev^2 left inside the frame, by box sums of an integral image
    s = torch.nn.functional.pad(padded.square().cumsum(1).cumsum(2), (1, 0, 1, 0))  # (N, H+2R+1, W+2R+1)
    a = torch.arange(K, device=prev.device)
    r0, c0 = a[:, None], a[None, :]                                         # (K, 1), (1, K)
    energy = s[:, r0 + H, c0 + W] - s[:, r0, c0 + W] - s[:, r0 + H, c0] + s[:, r0, c0]  # (N, K, K)
    err = nxt.square().sum((-2, -1))[:, None, None] + energy - 2 * cross
    return err.flip(-2, -1).clamp_min(0)                                    # index R + dr, R + dc


def crop_around(frames: torch.Tensor, centres: torch.Tensor, size: int = DIGIT) -> torch.Tensor:
    """The ``size`` x ``size`` window of each frame (N, H, W) centred on ``centres`` (N, 2) (row, col).

    The window is moved inside the frame where the centre is too close to an edge, so every crop
    is whole: e.g. to read a moving digit with a classifier trained on 28x28 MNIST images.
    """
    _check_frames(frames, "frames")
    check_tensor(centres, "centres", ndim=2, floating=True, what="centres (N, 2)")
    N, H, W = frames.shape
    if centres.shape != (N, 2):
        fail("centres", f"one (row, col) per frame, shape ({N}, 2)", f"shape {tuple(centres.shape)}")
    check_int(size, "size", 1, min(H, W), fix=f"The frames are {H}x{W}")
    top = (centres - (size - 1) / 2).round().long()                         # (N, 2) top-left corner
    top = torch.stack([top[:, 0].clamp(0, H - size), top[:, 1].clamp(0, W - size)], 1)
    i = torch.arange(size, device=frames.device)
    rows = (top[:, 0, None] + i)[:, :, None]                                # (N, size, 1)
    cols = (top[:, 1, None] + i)[:, None, :]                                # (N, 1, size)
    return frames[torch.arange(N, device=frames.device)[:, None, None], rows, cols]  # (N, size, size)
