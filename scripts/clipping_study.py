"""The sampler bug of notebook 5b's warning box, measured: three ways to clip in a DDIM step.

A DDIM step estimates $\\hat x_0 = (x_t - \\sqrt{1-\\bar\\alpha_t}\\,\\hat\\epsilon)/\\sqrt{\\bar\\alpha_t}$ and jumps to
$x_{t'} = \\sqrt{\\bar\\alpha_{t'}}\\,\\hat x_0 + \\sqrt{1-\\bar\\alpha_{t'}}\\,\\hat\\epsilon$. The variants:

* ``consistent`` (the library's ``ddim_step``): clip $\\hat x_0$ to [-1, 1], then re-derive $\\hat\\epsilon$ from it;
* ``inconsistent`` (our first version; diffusers' default ``use_clipped_model_output=False``): clip
  $\\hat x_0$ but keep the network's $\\hat\\epsilon$;
* ``none``: no clipping.

Each runs guided sampling (scale 2, 25 DDIM steps, eta = 0) with Chapter 5b's pretrained model on
the first ``--n`` noises and labels of the notebook's evaluation (noise seed 5, labels
``arange(n) % 10``); the reference classifier reports how often the sample is the requested digit.

Usage: ``python scripts/clipping_study.py [--n 200]`` writes ``genai_lib/weights/ch05_ddpm_clipping.json``.
"""
from __future__ import annotations

import argparse
import time

import torch

from genai_lib import metrics, presets, pretrained, runtime
from genai_lib.data import load_mnist
from genai_lib.models.diffusion import ddim_step, ddim_timesteps

RECIPE = "ch05_ddpm"
NOISE_SEED = 5   # notebook 5b's evaluation noise
GUIDANCE, STEPS = 2.0, 25


@torch.no_grad()
def step(sched, x_t, i, i_prev, eps, variant):
    """One deterministic DDIM step with the given clipping variant."""
    if variant == "consistent":
        return ddim_step(sched, x_t, i, i_prev, eps)
    a_t = sched.alpha_bar[i]
    a_prev = sched.alpha_bar[i_prev] if i_prev >= 0 else torch.ones((), device=x_t.device)
    x0 = (x_t - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    if variant == "inconsistent":
        x0 = x0.clamp(-1, 1)                      # eps is kept: the pair no longer agrees with x_t
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps


def sample(model, x_T, y, variant):
    eps_fn = model.eps_fn(y, GUIDANCE)
    ts = ddim_timesteps(model.cfg.T, STEPS)
    x = x_T
    for i, i_prev in zip(ts, ts[1:] + [-1]):
        idx = torch.full((len(x),), i, device=x.device, dtype=torch.long)
        x = step(model.sched, x, i, i_prev, eps_fn(x, idx), variant)
    return ((x + 1) / 2).clamp(0, 1)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args(argv)
    rt = runtime.runtime()
    model = presets.build_pretrained(RECIPE).to(rt.device).eval()
    pretrained.load_pretrained(model, RECIPE)
    clf = metrics.reference_classifier(device=rt.device)
    load_mnist("test")  # the classifier's data are present (fails clearly otherwise)
    x_T = torch.randn(500, 1, 28, 28, generator=torch.Generator().manual_seed(NOISE_SEED))[:args.n].to(rt.device)
    y = torch.arange(args.n, device=rt.device) % 10
    t0, results = time.time(), {}
    for variant in ("consistent", "inconsistent", "none"):
        images = torch.cat([sample(model, x_T[k:k + 64], y[k:k + 64], variant) for k in range(0, args.n, 64)])
        probs, _ = metrics.classify(clf, images)
        acc = (probs.argmax(1).to(y.device) == y).float().mean().item()
        results[variant] = {"label_accuracy": acc, "se": (acc * (1 - acc) / args.n) ** 0.5}
        print(f"{variant}: classified as the requested digit {acc:.3f}")
    out = pretrained.write_measurement(f"{RECIPE}_clipping", f"python scripts/clipping_study.py --n {args.n}", results,
                                       time.time() - t0, recipe=RECIPE, n=args.n, guidance=GUIDANCE, ddim_steps=STEPS,
                                       noise_seed=NOISE_SEED)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
