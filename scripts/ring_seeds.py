"""Notebook 4a's three GANs on the ring of 8 Gaussians, over several seeds.

Notebook 4a trains each model once (seed 0). One seed cannot carry a comparison (which covers more
modes, which reaches 8 of 8 first), and more seeds do not fit the notebook's quick profile, so this
script repeats the three quick-profile runs for ``--seeds`` seeds with the notebook's
configurations (written into the output; the notebook checks that they are its own) and records,
per seed: the modes covered at every evaluation, the first evaluated step with 8/8 modes, and over
the last 4 evaluations the mean and fewest modes covered and the mean share of high-quality samples.
The data and evaluation settings are written too (``settings``).

Usage: ``python scripts/ring_seeds.py [--seeds 5]`` writes ``genai_lib/weights/ch04_ring_seeds.json``
(about 6 minutes on a 2-core CPU).
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from genai_lib import pretrained, runtime, utils
from genai_lib.data import Batches, ring_of_gaussians
from genai_lib.metrics import mode_coverage
from genai_lib.models.gan import GAN, GANConfig
from genai_lib.train import TrainConfig, fit

STD = 0.05
# The data and the evaluation, as notebook 4a sets them (written into the output and checked there).
SETTINGS = {"ring_points": 20000, "modes": 8, "radius": 2.0, "std": STD, "data_seed": 0,
            "eval_seed": 123, "eval_samples": 2000, "late_evaluations": 4}
NET = dict(arch="mlp", data_dim=2, z_dim=2, hidden=128, n_layers=3)
# Notebook 4a's quick profile (section 4a.4).
RUNS = {
    "GAN, batch 64": (GANConfig(**NET), TrainConfig(steps=2000, lr=1e-3, betas=(0.5, 0.999), grad_clip=None,
                                                    schedule="constant", eval_every=125, log_every=50), 64),
    "GAN, batch 256": (GANConfig(**NET), TrainConfig(steps=2000, lr=1e-3, betas=(0.5, 0.999), grad_clip=None,
                                                     schedule="constant", eval_every=125, log_every=50), 256),
    "WGAN-GP": (GANConfig(**NET, loss="wgan-gp", d_steps=5, gp_weight=10.0),
                TrainConfig(steps=1500, lr=3e-4, betas=(0.5, 0.9), grad_clip=None, schedule="constant",
                            eval_every=125, log_every=50), 5 * 256),
}


def run(cfg: GANConfig, train: TrainConfig, batch: int, seed: int, ring, centres, device) -> dict:
    """One run as notebook 4a's ``train_on_ring`` does it: the same seeds and evaluation samples."""
    torch.manual_seed(seed)
    model = GAN(cfg).to(device)

    def evaluate(m):
        with utils.fork_rng(device):  # CPU and GPU streams restored after the evaluation
            torch.manual_seed(SETTINGS["eval_seed"])
            samples = m.sample(SETTINGS["eval_samples"]).cpu()
        return mode_coverage(samples, centres, STD)

    hist = fit(model, Batches(ring, batch_size=batch, seed=seed), train, evaluate=evaluate, progress=False)
    first = next((e["step"] for e in hist.evals if e["modes_covered"] == 8), None)
    late = SETTINGS["late_evaluations"]
    tail = hist.evals[-late:]
    return {"first_full": first, "modes_late": sum(e["modes_covered"] for e in tail) / late,
            "min_modes_late": min(e["modes_covered"] for e in tail),
            "quality_late": sum(e["high_quality"] for e in tail) / late, "seconds": round(hist.seconds, 1),
            "modes_by_evaluation": [e["modes_covered"] for e in hist.evals]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)
    rt = runtime.runtime()
    ring, centres = ring_of_gaussians(SETTINGS["ring_points"], modes=SETTINGS["modes"], radius=SETTINGS["radius"],
                                      std=STD, generator=torch.Generator().manual_seed(SETTINGS["data_seed"]))
    ring = ring.to(rt.device)
    t0 = time.time()
    results = {name: [] for name in RUNS}
    for seed in range(args.seeds):
        for name, (cfg, train, batch) in RUNS.items():
            r = run(cfg, train, batch, seed, ring, centres, rt.device)
            results[name].append(r | {"seed": seed})
            print(f"seed {seed}, {name}: first 8/8 at step {r['first_full']}, {r['modes_late']:.2f} modes "
                  f"and {r['quality_late']:.2f} high quality late, {r['seconds']:.0f} s", flush=True)
    configs = {name: {"gan": dataclasses.asdict(cfg), "train": dataclasses.asdict(train), "batch": batch}
               for name, (cfg, train, batch) in RUNS.items()}
    out = pretrained.write_measurement("ch04_ring_seeds", f"python scripts/ring_seeds.py --seeds {args.seeds}",
                                       results, time.time() - t0, configs=configs, settings=SETTINGS,
                                       seeds=list(range(args.seeds)))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
