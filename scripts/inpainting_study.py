"""Inpainting with Chapter 5's diffusion model on many held-out digits (notebook 7c, Section 7c.2).

The notebook's quick profile inpaints 100 digits, whose accuracies have a standard error of about
4 points: too few to rank methods that are a few points apart. This script runs the same comparison on
``--n`` test digits (from index 5,000 on, as in the notebook) with the quick profile's settings (25 DDIM
steps, RePaint with 4 rounds) and the full profile's (50 steps, 10 rounds), each with the plain
replacement method given the same number of network calls, and the two baselines that need no model.
It writes ``genai_lib/weights/ch07_inpainting.json``; the notebook glues the numbers.

Usage: ``python scripts/inpainting_study.py [--n 2000]`` (minutes on a GPU; hours on a CPU).
"""
from __future__ import annotations

import argparse
import time

import torch

from genai_lib import metrics, presets, pretrained, runtime
from genai_lib.data import load_mnist
from genai_lib.models import editing

RECIPE = "ch05_ddpm"
SETTINGS = {"quick": (25, 4), "full": (50, 10)}  # DDIM steps, RePaint rounds


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args(argv)
    rt = runtime.runtime()
    model = presets.build_pretrained(RECIPE).to(rt.device)
    pretrained.load_pretrained(model, RECIPE)
    model.eval()
    clf = metrics.reference_classifier(device=rt.device)
    x_train, _ = load_mnist("train")
    x_test, y_test = load_mnist("test")
    x, y = x_test[5000:5000 + args.n], y_test[5000:5000 + args.n]
    mask = torch.zeros(1, 1, 28, 28)
    mask[..., :14] = 1
    eps = model.eps_fn(torch.zeros(len(x), dtype=torch.long, device=rt.device), guidance=0.0)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1)).to(rt.device)

    def judge(images):
        probs, _ = metrics.classify(clf, images.to(rt.device))
        probs = probs.cpu()
        acc = (probs.argmax(1) == y).float().mean().item()
        return {"accuracy": acc, "accuracy_se": (acc * (1 - acc) / len(y)) ** 0.5,
                "confident": metrics.confident_rate(probs)}

    def inpaint(steps, resample):
        out = editing.conditioned_sample(eps, model.sched, (2 * x - 1).to(rt.device),
                                         editing.mask_projection(mask.to(rt.device)), noise, steps=steps,
                                         resample=resample, generator=torch.Generator().manual_seed(2))
        return ((out + 1) / 2).clamp(0, 1).cpu()

    t0 = time.time()
    results = {"zeros": judge(mask * x), "mean image": judge(mask * x + (1 - mask) * x_train[:10000].mean(0, keepdim=True))}
    for profile, (steps, r) in SETTINGS.items():
        results[f"RePaint, {steps} steps x {r} ({profile})"] = judge(inpaint(steps, r))
        results[f"replacement, {steps * r} steps ({profile})"] = judge(inpaint(steps * r, 1))
    for name, v in results.items():
        print(f"{name}: accuracy {v['accuracy']:.3f} (se {v['accuracy_se']:.3f}), confident {v['confident']:.3f}")
    out = pretrained.write_measurement("ch07_inpainting", f"python scripts/inpainting_study.py --n {args.n}", results,
                                       time.time() - t0, recipe=RECIPE, n=args.n, first_test_index=5000)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
