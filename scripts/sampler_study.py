"""How the sampler changes the unconditional samples of Chapter 5b's pretrained diffusion model.

The "no label" network of ``ch05_ddpm`` is evaluated with DDIM (25 and 100 steps, eta = 0 and
eta = 1) and with DDPM's full ancestral chain, on the same noises as notebook 5b's evaluation
(``torch.randn(500, 1, 28, 28)`` from seed 5, the first ``--n``), by the reference classifier.
DDPM's 1,000 network calls per sample take minutes on a CPU, more than the notebook's quick
profile has, so this script measures them once and writes the result beside the weights;
the notebook glues the numbers from that file (and, in the full profile, measures them itself).

Usage: ``python scripts/sampler_study.py [--n 300]`` writes ``genai_lib/weights/ch05_ddpm_samplers.json``.
"""
from __future__ import annotations

import argparse
import time

import torch

from genai_lib import metrics, presets, pretrained, runtime
from genai_lib.data import load_mnist
from genai_lib.models.diffusion import SAMPLERS, compare_samplers

RECIPE = "ch05_ddpm"
NOISE_SEED = 5          # notebook 5b's evaluation noise; the sampling noise uses NOISE_SEED + 1


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args(argv)
    rt = runtime.runtime()
    model = presets.build_pretrained(RECIPE).to(rt.device)
    pretrained.load_pretrained(model, RECIPE)
    clf = metrics.reference_classifier(device=rt.device)
    x_test, _ = load_mnist("test", device=rt.device)
    real = x_test[:1000]  # the notebook's reference set (held-out test images)
    t0 = time.time()
    x_T = torch.randn(500, 1, 28, 28, generator=torch.Generator().manual_seed(NOISE_SEED))[:args.n].to(rt.device)
    results = compare_samplers(model, clf, real, x_T, SAMPLERS, seed=NOISE_SEED + 1)
    for name, r in results.items():
        print(f"{name}: confident {r['confident_rate']:.3f} (se {r['confident_rate_se']:.3f}), "
              f"FID {r['classifier_fid']:.1f}, {r['seconds']:.0f} s")
    out = pretrained.write_measurement(f"{RECIPE}_samplers", f"python scripts/sampler_study.py --n {args.n}", results,
                                       time.time() - t0, recipe=RECIPE, n=args.n, noise_seed=NOISE_SEED)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
