"""The sweep that chose Chapter 5's diffusion recipe (issue 12, item 23): longer training, larger
batches and a wider U-Net for the "no label" network, which is the weak part of the shipped model.

    python scripts/sweep_ddpm.py NAME      # NAME: one of CANDIDATES below; needs a GPU to finish in minutes

Each candidate is registered as a recipe under its own name and trained by ``scripts/pretrain.py``
(same data, seed, evaluation and log). The winner is chosen by the "no label" confident-digit rate of
the log's last evaluation (500 samples, 25-step DDIM, fixed noise): samples and the reference
classifier only, no test images beyond the 500 that the FID in the log compares with. Its recipe
then replaces ``ch05_ddpm`` in ``genai_lib.presets`` and its log says it was run under this name.
"""
from __future__ import annotations

import sys
from dataclasses import replace

from genai_lib.presets import PRETRAINED_RECIPES

BASE = PRETRAINED_RECIPES["ch05_ddpm"]
CANDIDATES = {
    # twice the batch and 1.7 times the steps: 3.4 times the images of the 2026 recipe
    "ddpm_c32_b256": dict(BASE, batch=256, train=replace(BASE["train"], steps=24000, eval_every=4000)),
    # a wider U-Net (channels 48: about 2.2 times the parameters, still under 10 MB)
    "ddpm_c48_b256": dict(BASE, batch=256, diffusion=replace(BASE["diffusion"], channels=48),
                          train=replace(BASE["train"], steps=20000, eval_every=4000)),
}


if __name__ == "__main__":
    name = sys.argv[1]
    if name not in CANDIDATES:
        sys.exit(f"sweep_ddpm.py: NAME must be one of {sorted(CANDIDATES)}; got {name!r}")
    PRETRAINED_RECIPES[name] = CANDIDATES[name]
    sys.argv = ["pretrain.py", name] + sys.argv[2:]
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    import pretrain  # noqa: E402  (scripts/pretrain.py, after the candidate is registered)
    pretrain.main()
