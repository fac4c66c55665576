"""Plot: figures instead of printed tensors. Every helper returns a matplotlib Figure."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def image_grid(images: torch.Tensor, nrow: int | None = None, labels: Sequence | None = None,
               title: str | None = None, size: float = 1.0, cmap: str = "gray_r"):
    """A grid of greyscale images (N, 1, H, W) or (N, H, W) with values in [0, 1]."""
    x = torch.as_tensor(images).detach().float().cpu()
    if x.dim() == 4:
        if x.shape[1] != 1:
            raise ValueError(f"image_grid shows single-channel images, got shape {tuple(x.shape)}")
        x = x[:, 0]
    if x.dim() != 3:
        raise ValueError(f"expected images of shape (N, 1, H, W) or (N, H, W), got {tuple(x.shape)}")
    n = len(x)
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    ncol = int(np.ceil(n / nrow))
    fig, axes = plt.subplots(ncol, nrow, figsize=(size * nrow, size * ncol * (1.25 if labels is not None else 1)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(x[i].numpy(), cmap=cmap, vmin=0, vmax=1)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


STYLE = Path(__file__).with_name("course.mplstyle")


def use_style() -> None:
    """Apply the course's figure style (font sizes that read at the book's column width).
    Called explicitly in each notebook's set-up cell, so importing the library changes nothing."""
    plt.style.use(STYLE)


def tile(images: torch.Tensor, nrow: int | None = None, pad: int = 1) -> np.ndarray:
    """Images (N, 1, H, W) in [0, 1] laid out ``nrow`` per row in one array, ``pad`` pixels apart
    (background 0). One array per panel lets several grids share a figure."""
    x = torch.as_tensor(images).detach().float().cpu()
    if x.dim() != 4 or x.shape[1] != 1 or len(x) == 0:
        raise ValueError(f"images must be a non-empty batch (N, 1, H, W) of single-channel images, got shape "
                         f"{tuple(x.shape)}")
    n, _, H, W = x.shape
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    if not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow must be a positive integer, got {nrow!r}")
    rows = int(np.ceil(n / nrow))
    out = np.zeros((rows * (H + pad) - pad, nrow * (W + pad) - pad), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, nrow)
        out[r * (H + pad): r * (H + pad) + H, c * (W + pad): c * (W + pad) + W] = x[i, 0].numpy()
    return out


def image_rows(rows: Mapping[str, torch.Tensor], title: str | None = None, size: float = 0.9,
               cmap: str = "gray_r"):
    """One figure, one labelled row of images per entry of ``rows`` (e.g. an original, then each
    method's result for the same images, column by column)."""
    if not isinstance(rows, Mapping) or not rows:
        raise ValueError(f"rows must be a non-empty dict {{label: images}}, got {type(rows).__name__}")
    n = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), 1, figsize=(size * n + 1.6, size * len(rows) + (0.4 if title else 0)),
                             squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        ax.imshow(tile(images, nrow=n), cmap=cmap, vmin=0, vmax=1)
        ax.set_xticks([]); ax.set_yticks([])
        ax.set_ylabel(str(label), rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def image_panels(panels: Mapping[str, torch.Tensor], nrow: int | None = None, size: float = 3.2,
                 cmap: str = "gray_r"):
    """One figure, one titled grid of images per entry of ``panels`` (e.g. samples of several models)."""
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError(f"panels must be a non-empty dict {{title: images}}, got {type(panels).__name__}")
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size * 1.08), squeeze=False)
    for ax, (title, images) in zip(axes[0], panels.items()):
        ax.imshow(tile(images, nrow), cmap=cmap, vmin=0, vmax=1)
        ax.set_title(str(title), fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    return fig


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Moving average over ``window`` steps (shorter at the start), for readable loss curves."""
    v = np.asarray(values, dtype=float)
    if window <= 1 or len(v) == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def loss_curve(history, keys: Sequence[str] | None = None, window: int = 20, logy: bool = False,
               title: str | None = None, ylabel: str = "loss", eval_keys: Sequence[str] | None = None):
    """Training losses (raw and smoothed) against step, and evaluation results as points.

    ``keys`` picks the training losses (default: all); ``eval_keys`` the evaluation series (default:
    every one, whatever its name: a ``val_loss`` is drawn although no training loss is called that).
    """
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in keys or list(history.losses):
        values = history.losses[key]
        line, = ax.plot(history.steps, values, alpha=0.25)
        ax.plot(history.steps, smooth(values, window), color=line.get_color(), label=key)
    if eval_keys is None:  # every series, in the order they first appear
        eval_keys = list(dict.fromkeys(k for e in history.evals for k in e if k != "step"))
    for key in eval_keys:
        pts = [(e["step"], e[key]) for e in history.evals if key in e]
        if not pts:
            raise ValueError(f"no evaluation recorded {key!r}; recorded: "
                             f"{sorted({k for e in history.evals for k in e} - {'step'})}")
        ax.plot(*zip(*pts), "o", label=f"{key} (eval)")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def scatter_2d(points: torch.Tensor, labels: torch.Tensor | None = None, ax=None, title: str | None = None,
               s: float = 4, alpha: float = 0.6, cmap: str = "tab10", legend: bool = True):
    """A 2-D scatter plot of samples or latent codes (N, 2), coloured by label if given; the
    legend of labels (up to 10) sits beside the axes, or nowhere with ``legend=False`` (panels in
    a row, where it would cover the next one)."""
    p = torch.as_tensor(points).detach().float().cpu()
    if p.dim() != 2 or p.shape[1] != 2:
        raise ValueError(f"scatter_2d expects points of shape (N, 2), got {tuple(p.shape)}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
    else:
        fig = ax.figure
    c = None if labels is None else torch.as_tensor(labels).cpu().numpy()
    sc = ax.scatter(p[:, 0].numpy(), p[:, 1].numpy(), c=c, s=s, alpha=alpha, cmap=cmap if c is not None else None)
    if legend and c is not None and len(np.unique(c)) <= 10:
        # beside the axes, not over the points (the course's rule: legends outside the data)
        ax.legend(*sc.legend_elements(), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  markerscale=0.8, title="label", title_fontsize=7)
    ax.set_aspect("equal", adjustable="box")
    if title:
        ax.set_title(title)
    return fig
