"""Presets shared by more than one notebook, so that their checkpoints are interchangeable.

Notebook 3a trains the Shakespeare GPT and notebook 3b fine-tunes it: with the same preset and
checkpoint path, 3b loads what 3a saved (or trains it, if run alone).
"""
from __future__ import annotations

import torch

from .models.gpt import GPTConfig
from .train import TrainConfig

SHAKESPEARE_GPT = {
    "quick": dict(gpt=GPTConfig(vocab_size=65, block_size=64, n_layer=3, n_head=4, n_embd=96),
                  train=TrainConfig(steps=700, lr=3e-3, warmup_steps=30, weight_decay=0.1, eval_every=350), batch=32),
    # nanoGPT's shakespeare_char setting
    "full": dict(gpt=GPTConfig(vocab_size=65, block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2),
                 train=TrainConfig(steps=5000, lr=1e-3, betas=(0.9, 0.99), warmup_steps=100, weight_decay=0.1,
                                   eval_every=500), batch=64),
}


def shakespeare_gpt_checkpoint(profile: str) -> str:
    from .runtime import PROFILES
    from .validate import check_choice

    check_choice(profile, "profile", PROFILES)
    return f"checkpoints/ch03_shakespeare_gpt_{profile}.pt"


# --- Chapter 4: the pretrained GANs (made by scripts/pretrain.py, loaded by notebook 4b) ---
from dataclasses import replace  # noqa: E402

from .models.gan import GANConfig  # noqa: E402

GAN_TRAINING = TrainConfig(steps=6000, lr=2e-4, betas=(0.5, 0.999), grad_clip=None, schedule="cosine",
                           min_lr_ratio=0.1, eval_every=1000, checkpoint_every=500, log_every=50)
PRETRAINED_RECIPES = {
    # DCGAN (Radford et al., 2016): Adam(2e-4, beta1 = 0.5), BatchNorm, LeakyReLU(0.2) in D, batch 64;
    # samples from the moving average of G's weights. G also gets a discrete latent code (10
    # values, drawn at random; no labels are used): a continuous G fed by one Gaussian cannot map
    # onto separate digit clusters without drawing in-between shapes; a code lets it jump.
    "ch04_dcgan": dict(gan=GANConfig(arch="dc", z_dim=64, hidden=32, latent_codes=10, label_dim=10, ema=0.999),
                       train=replace(GAN_TRAINING, steps=12000), batch=64),
    # The same networks made conditional: the label's embedding in G, a projection discriminator.
    # The embedding is small: with one as large as z, G ignored z and drew one image per class.
    "ch04_cgan": dict(gan=GANConfig(arch="dc", z_dim=64, hidden=32, n_classes=10, label_dim=10, ema=0.999),
                      train=replace(GAN_TRAINING, steps=5000), batch=64),
}


# --- Chapter 5: the pretrained diffusion model (made by scripts/pretrain.py, loaded by notebook 5b) ---
from .models.diffusion import Diffusion, DiffusionConfig  # noqa: E402
from .models.gan import GAN  # noqa: E402

PRETRAINED_RECIPES["ch05_ddpm"] = dict(
    # One label-conditional U-Net, labels dropped half the time, so the same network is also the
    # unconditional model (label "none") and classifier-free guidance can mix the two. The "no label"
    # network is the weaker one (it must cover all ten digits at once). H100 sweeps: dropping labels 20%
    # of the time it reached 0.60 confident after 18,000 steps, 50% gave 0.63 after 14,000 (width 32,
    # batch 128); scripts/sweep_ddpm.py then gave 0.70 (width 32, batch 256, 24,000 steps) and 0.74
    # (width 48, batch 256, 20,000 steps; this recipe, 8 min on an H100, 5.1 MB of weights).
    diffusion=DiffusionConfig(channels=48, n_classes=10, T=1000, schedule="linear", p_uncond=0.5, ema=0.999),
    train=TrainConfig(steps=20000, lr=1e-3, warmup_steps=200, grad_clip=1.0, schedule="cosine", min_lr_ratio=0.1,
                      eval_every=4000, checkpoint_every=1000, log_every=50),
    batch=256,
    sampling=dict(steps=25, guidance=2.0),  # what the script's evaluations use (DDIM, eta = 0)
)


# --- Chapter 6: GANs trained on a few hundred images, with and without augmentation ---
from .curation import subsample  # noqa: E402
from .validate import check_int  # noqa: E402

FEW_SHOT_IMAGES = 256  # MNIST training images the scarce-data GANs see: few_shot_indices()
FEW_SHOT_GAN = dict(gan=PRETRAINED_RECIPES["ch04_dcgan"]["gan"], train=replace(GAN_TRAINING, steps=3000), batch=64,
                    subset=FEW_SHOT_IMAGES)
PRETRAINED_RECIPES["ch06_gan_none"] = FEW_SHOT_GAN  # Chapter 4's DCGAN, no augmentation
for _mode in ("real", "both"):
    # Random translation by up to 2 pixels, the augmentation of DiffAugment (Zhao et al., 2020) that
    # keeps a digit whole (their cutout removed half of a 28x28 digit and slowed learning here);
    # "real" applies it to the data only (classic augmentation), "both" to real and fake alike.
    PRETRAINED_RECIPES[f"ch06_gan_{_mode}"] = dict(FEW_SHOT_GAN, gan=replace(FEW_SHOT_GAN["gan"], augment=_mode, augment_shift=2))


# --- Chapter 7a: the poetry GPT (five-character stanzas of the Tang poems, simplified characters) ---
from .models.gpt import GPT, GPTConfig  # noqa: E402

PRETRAINED_RECIPES["ch07a_poetry_gpt"] = dict(
    # one stanza per row: a newline, 24 characters, a newline (25 inputs, 25 targets); the vocabulary
    # is every character of the stanzas (genai_lib.poetry), 6,026 after OpenCC's t2s conversion
    gpt=GPTConfig(vocab_size=6026, block_size=25, n_layer=4, n_head=4, n_embd=128, dropout=0.1),
    train=TrainConfig(steps=4000, lr=2e-3, warmup_steps=100, weight_decay=0.1, eval_every=500,
                      checkpoint_every=250, log_every=50),
    batch=64,
)


def few_shot_indices(n_train: int = 60000) -> torch.Tensor:
    """The indices of the MNIST training images the Chapter 6 GANs were trained on (seed 0)."""
    check_int(n_train, "n_train", low=FEW_SHOT_IMAGES)
    return subsample(n_train, FEW_SHOT_IMAGES, torch.Generator().manual_seed(0))


def build_pretrained(name: str):
    """The untrained model of a pretrained recipe (a GAN, a diffusion model or a GPT), on the CPU."""
    if not isinstance(name, str) or name not in PRETRAINED_RECIPES:
        raise ValueError(f"name must be one of {sorted(PRETRAINED_RECIPES)}, got {name!r}")
    recipe = PRETRAINED_RECIPES[name]
    if "gpt" in recipe:
        return GPT(recipe["gpt"])
    return GAN(recipe["gan"]) if "gan" in recipe else Diffusion(recipe["diffusion"])
