"""Generative adversarial networks (Goodfellow et al., 2014), trained with :func:`genai_lib.train.fit`.

A generator $G$ maps noise $z \\sim p(z)$ to data; a discriminator $D$ tells real data from
$G$'s output. They play the game

$$\\min_G \\max_D V(D, G) = \\mathbb E_{x\\sim p_\\text{data}}[\\log D(x)]
  + \\mathbb E_{z\\sim p(z)}[\\log(1 - D(G(z)))].$$

Every loss below takes the discriminator's *logits* $\\ell$ (with $D = \\sigma(\\ell)$), because
$\\log D = -\\operatorname{softplus}(-\\ell)$ and $\\log(1 - D) = -\\operatorname{softplus}(\\ell)$ are
exact and finite at any logit, while ``log(sigmoid(l))`` is ``-inf`` once $\\ell \\le -88.73$
in float32: $e^{-\\ell}$ overflows, so $\\sigma(\\ell) = 1/(1 + e^{-\\ell})$ is exactly 0.

:class:`GAN` holds both networks and implements ``configure_optimizers`` and
``training_step`` for the course's training loop: (1) update D, then (2) update G.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..curation import diff_augment
from ..validate import (check_choice, check_images, check_int, check_labels, check_number, check_points, check_tensor,
                        fail, plain_fields)

# --- losses ---------------------------------------------------------------------------


def _check_scores(t: torch.Tensor, name: str) -> None:
    check_tensor(t, name, floating=True, what="the discriminator's logits or scores (N,)")


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """$-V(D, G)$ as a minibatch estimate: $-\\overline{\\log D(x)} - \\overline{\\log(1 - D(G(z)))}$.

    This is the binary cross-entropy with label 1 for real and 0 for fake samples.
    """
    _check_scores(real_logits, "real_logits")
    _check_scores(fake_logits, "fake_logits")
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the game as written: minimise $\\overline{\\log(1 - D(G(z)))}$.

    Its gradient vanishes when D confidently rejects the fakes (early in training):
    $\\partial/\\partial\\ell \\log(1-\\sigma(\\ell)) = -\\sigma(\\ell) \\to 0$ as $D \\to 0$.
    """
    _check_scores(fake_logits, "fake_logits")
    return -F.softplus(fake_logits).mean()


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The loss used in practice: minimise $-\\overline{\\log D(G(z))}$ (same fixed point, strong
    gradients early: $\\partial/\\partial\\ell\\,[-\\log\\sigma(\\ell)] = -(1 - \\sigma(\\ell)) \\to -1$)."""
    _check_scores(fake_logits, "fake_logits")
    return F.softplus(-fake_logits).mean()


def wgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss of the Wasserstein GAN (Arjovsky et al., 2017): $\\overline{f(G(z))} - \\overline{f(x)}$."""
    _check_scores(real_scores, "real_scores")
    _check_scores(fake_scores, "fake_scores")
    return fake_scores.mean() - real_scores.mean()


def wgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss of the Wasserstein GAN: $-\\overline{f(G(z))}$."""
    _check_scores(fake_scores, "fake_scores")
    return -fake_scores.mean()


def hinge_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge loss (Lim & Ye, 2017; Miyato et al., 2018): $\\overline{[1-f(x)]_+} + \\overline{[1+f(G(z))]_+}$."""
    _check_scores(real_scores, "real_scores")
    _check_scores(fake_scores, "fake_scores")
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *args) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al., 2017): $\\mathbb E_{\\hat x}[(\\lVert\\nabla_{\\hat x} f(\\hat x)\\rVert_2 - 1)^2]$,

    at points $\\hat x = \\epsilon x + (1-\\epsilon)\\tilde x$ on lines between real and fake samples,
    $\\epsilon \\sim U[0, 1]$ per sample. ``args`` (e.g. labels) are passed on to ``critic``.
    The graph is kept (``create_graph``) so the penalty itself can be minimised.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat, *args).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


LOSSES = {  # name -> (discriminator loss, generator loss)
    "minimax": (d_loss, g_loss_minimax),
    "non-saturating": (d_loss, g_loss_nonsaturating),
    "wgan-gp": (wgan_d_loss, wgan_g_loss),
    "hinge": (hinge_d_loss, wgan_g_loss),  # the hinge GAN's generator loss is the WGAN one
}


def optimal_discriminator(log_p_data: torch.Tensor, log_p_g: torch.Tensor) -> torch.Tensor:
    """$D^*(x) = p_\\text{data}(x) / (p_\\text{data}(x) + p_g(x)) = \\sigma(\\log p_\\text{data}(x) - \\log p_g(x))$."""
    check_tensor(log_p_data, "log_p_data", floating=True, what="log-densities (N,)")
    check_tensor(log_p_g, "log_p_g", floating=True, what="log-densities (N,)")
    if log_p_data.shape != log_p_g.shape:
        fail("log_p_g", f"the same shape as log_p_data {tuple(log_p_data.shape)}", f"{tuple(log_p_g.shape)}")
    return torch.sigmoid(log_p_data - log_p_g)


# --- networks -------------------------------------------------------------------------


AUGMENT = ("none", "real", "both")


@dataclass(frozen=True)
class GANConfig:
    arch: str = "dc"            # "mlp" (vectors, e.g. 2-D toy data) or "dc" (28x28 images in [0, 1])
    data_dim: int = 2           # mlp only: size of a data vector
    z_dim: int = 64
    hidden: int = 64            # mlp: width; dc: base number of channels (of G, and of D unless d_hidden)
    d_hidden: int = 0           # D's width or base channels (0: hidden)
    n_layers: int = 3           # mlp only: hidden layers in G and in D
    n_classes: int = 0          # > 0: conditional GAN (G gets a label embedding; D see d_conditioning)
    label_dim: int = 0          # size of G's label (or latent code) embedding (0: z_dim)
    latent_codes: int = 0       # unconditional only: > 0 adds a uniform discrete latent code with this many values
    d_conditioning: str = "projection"  # "projection" (Miyato & Koyama, 2018) or "concat" (one-hot input channels)
    loss: str = "non-saturating"  # a key of LOSSES
    gp_weight: float = 10.0     # wgan-gp only
    d_steps: int = 1            # D updates per G update; each uses its own slice of the batch
    spectral_norm: bool = False  # spectral normalisation of D's layers (Miyato et al., 2018)
    d_lr_scale: float = 1.0     # D's learning rate = scale * TrainConfig.lr
    ema: float = 0.0            # > 0: also keep an exponential moving average of G's weights for sampling
    augment: str = "none"       # dc only: what D's input is augmented on: "none", "real" (real images only:
                                # classic augmentation, which leaks into G), "both" (DiffAugment: real and fake)
    augment_shift: int = 3      # augmentation: random translation by up to this many pixels
    augment_cutout: int = 0     # augmentation: > 0 also zeroes a random square of this size

    def __post_init__(self):
        plain_fields(self)
        check_choice(self.arch, "GANConfig.arch", ("mlp", "dc"))
        check_choice(self.loss, "GANConfig.loss", sorted(LOSSES))
        check_choice(self.d_conditioning, "GANConfig.d_conditioning", ("projection", "concat"))
        for name in ("data_dim", "z_dim", "hidden", "n_layers", "d_steps"):
            check_int(getattr(self, name), f"GANConfig.{name}", low=1)
        for name in ("d_hidden", "n_classes", "label_dim", "latent_codes"):
            check_int(getattr(self, name), f"GANConfig.{name}", low=0)
        if self.n_classes and self.latent_codes:
            fail("GANConfig", "n_classes (labels from the data) or latent_codes (random codes), not both",
                 f"n_classes={self.n_classes}, latent_codes={self.latent_codes}")
        check_number(self.gp_weight, "GANConfig.gp_weight", 0)
        check_number(self.d_lr_scale, "GANConfig.d_lr_scale", 0, low_open=True)
        check_number(self.ema, "GANConfig.ema", 0, 1, high_open=True, fix="0 turns averaging off; 0.999 is typical")
        check_choice(self.augment, "GANConfig.augment", AUGMENT)
        check_int(self.augment_shift, "GANConfig.augment_shift", 0, 27)
        check_int(self.augment_cutout, "GANConfig.augment_cutout", 0, 28)
        if self.augment != "none" and self.arch != "dc":
            fail("GANConfig.augment", '"none" for arch="mlp" (augmentation shifts images)', repr(self.augment))


def mlp_generator_body(cfg: GANConfig, in_dim: int) -> nn.Sequential:
    layers, d = [], in_dim
    for _ in range(cfg.n_layers):
        layers += [nn.Linear(d, cfg.hidden), nn.ReLU()]
        d = cfg.hidden
    return nn.Sequential(*layers, nn.Linear(d, cfg.data_dim))


def dc_generator_body(cfg: GANConfig, in_dim: int) -> nn.Sequential:
    """DCGAN generator for 28x28 (Radford et al., 2016): project to 7x7, upsample twice with
    stride-2 transposed convolutions (7 -> 14 -> 28), BatchNorm + ReLU, tanh output in [-1, 1]."""
    c = cfg.hidden
    return nn.Sequential(
        nn.Linear(in_dim, 4 * c * 7 * 7, bias=False), nn.BatchNorm1d(4 * c * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (4 * c, 7, 7)),
        nn.ConvTranspose2d(4 * c, 2 * c, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * c), nn.ReLU(),  # 14x14
        nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),  # 28x28
        nn.Conv2d(c, 1, 3, padding=1), nn.Tanh(),
    )


class Generator(nn.Module):
    """$G(z, y)$: the body sees $z$, concatenated with an embedding of the label $y$ (conditional
    GAN) or of a random discrete code $c$ (``latent_codes``; no labels are used then)."""

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        codes = cfg.n_classes or cfg.latent_codes
        emb = (cfg.label_dim or cfg.z_dim) if codes else 0
        self.embed = nn.Embedding(codes, emb) if codes else None
        body = {"mlp": mlp_generator_body, "dc": dc_generator_body}[cfg.arch]
        self.body = body(cfg, cfg.z_dim + emb)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_tensor(z, "z", floating=True, like=next(self.body.parameters()), what=f"noise of shape (N, {self.cfg.z_dim})")
        if z.dim() != 2 or z.shape[1] != self.cfg.z_dim:
            raise ValueError(f"z must have shape (N, {self.cfg.z_dim}), got {tuple(z.shape)}")
        if self.embed is None and y is not None:
            fail("y", "None: this generator is unconditional and has no latent code", "labels")
        if self.embed is not None:
            if y is None:
                raise ValueError("this generator takes a label or code: pass y of shape (N,)")
            check_labels(y, "y", self.embed.num_embeddings, len(z))
            z = torch.cat([z, self.embed(y)], dim=1)
        return self.body(z)


def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(layer) if on else layer


def _label_inputs(cfg: GANConfig) -> int:
    """Extra input channels (or features) of a discriminator that sees the label as a one-hot input."""
    return cfg.n_classes if cfg.n_classes and cfg.d_conditioning == "concat" else 0


def mlp_discriminator_body(cfg: GANConfig) -> tuple[nn.Sequential, int]:
    layers, d, width = [], cfg.data_dim + _label_inputs(cfg), cfg.d_hidden or cfg.hidden
    for _ in range(cfg.n_layers):
        layers += [_sn(nn.Linear(d, width), cfg.spectral_norm), nn.LeakyReLU(0.2)]
        d = width
    return nn.Sequential(*layers), d


def dc_discriminator_body(cfg: GANConfig) -> tuple[nn.Sequential, int]:
    """Strided convolutions (28 -> 14 -> 7 -> 4) with LeakyReLU(0.2). BatchNorm only for the
    cross-entropy losses: the gradient penalty is per sample, which batch statistics break,
    and spectral normalisation replaces it."""
    c, sn = cfg.d_hidden or cfg.hidden, cfg.spectral_norm
    bn = cfg.loss in ("minimax", "non-saturating") and not sn
    norm = (lambda ch: nn.BatchNorm2d(ch)) if bn else (lambda ch: nn.Identity())
    body = nn.Sequential(
        _sn(nn.Conv2d(1 + _label_inputs(cfg), c, 4, stride=2, padding=1), sn), nn.LeakyReLU(0.2),             # 14x14
        _sn(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), sn), norm(2 * c), nn.LeakyReLU(0.2),                 # 7x7
        _sn(nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1), sn), norm(4 * c), nn.LeakyReLU(0.2),             # 4x4
        nn.Flatten(),
    )
    return body, 4 * c * 4 * 4


class Discriminator(nn.Module):
    """$D(x, y)$ returns a logit (or a critic score). Conditional: the projection discriminator
    (Miyato & Koyama, 2018), $\\ell = w^\\top h(x) + \\mathrm{embed}(y)^\\top h(x)$."""

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        body = {"mlp": mlp_discriminator_body, "dc": dc_discriminator_body}[cfg.arch]
        self.body, features = body(cfg)
        self.head = _sn(nn.Linear(features, 1), cfg.spectral_norm)
        projection = cfg.n_classes and cfg.d_conditioning == "projection"
        self.embed = _sn(nn.Embedding(cfg.n_classes, features), cfg.spectral_norm) if projection else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        shape = "(N, 1, 28, 28)" if self.cfg.arch == "dc" else f"(N, {self.cfg.data_dim})"
        check_tensor(x, "x", floating=True, like=next(self.parameters()),
                     what=f"inputs in the model's space ([-1, 1] images or vectors) {shape}")
        if (self.cfg.arch == "dc" and tuple(x.shape[1:]) != (1, 28, 28)) or \
                (self.cfg.arch == "mlp" and (x.dim() != 2 or x.shape[1] != self.cfg.data_dim)):
            fail("x", f"a batch of shape {shape}", f"shape {tuple(x.shape)}")
        if self.cfg.n_classes and y is None:
            raise ValueError("this discriminator is conditional: pass labels y of shape (N,)")
        if not self.cfg.n_classes and y is not None:
            fail("y", "None: this discriminator is unconditional", "labels")
        if y is not None:
            check_labels(y, "y", self.cfg.n_classes, len(x))
        if _label_inputs(self.cfg):  # one-hot label, as extra channels (images) or features (vectors)
            onehot = F.one_hot(y, self.cfg.n_classes).to(x.dtype)
            if x.dim() == 4:
                onehot = onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])
            x = torch.cat([x, onehot], dim=1)
        h = self.body(x)
        logit = self.head(h).squeeze(1)  # (N,): one logit per sample, like the labels
        if self.embed is not None:
            logit = logit + (self.embed(y) * h).sum(1)
        return logit


class GAN(nn.Module):
    """Generator + discriminator with the training step of the course's loop.

    For ``arch="dc"`` the data are images in [0, 1] (as :func:`genai_lib.data.load_mnist`
    returns them); they are mapped to [-1, 1] to match G's tanh, and :meth:`sample` maps back.
    """

    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        self.G, self.D = Generator(cfg), Discriminator(cfg)
        # The average of G's recent weights samples better than the last iterate, which
        # oscillates in the game (Yazici et al., 2019; Karras et al., 2018).
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if cfg.ema else None

    def configure_optimizers(self, train_cfg) -> dict[str, torch.optim.Optimizer]:
        """Adam for each player, no weight decay (DCGAN: lr 2e-4, betas (0.5, 0.999))."""
        return {"d": torch.optim.Adam(self.D.parameters(), lr=train_cfg.lr * self.cfg.d_lr_scale, betas=train_cfg.betas),
                "g": torch.optim.Adam(self.G.parameters(), lr=train_cfg.lr, betas=train_cfg.betas)}

    def _to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        like = next(self.D.parameters())
        if self.cfg.arch == "dc":
            return check_images(x, "x", like=like) * 2 - 1
        return check_points(x, "x", self.cfg.data_dim, like=like)

    def _d_input(self, x: torch.Tensor, real: bool) -> torch.Tensor:
        """What D sees: "real" augments only real images, "both" (DiffAugment) real and fake alike."""
        if self.cfg.augment == "both" or (real and self.cfg.augment == "real"):
            return self._augment(x)
        return x

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        """Translate (and cut out) images in model space [-1, 1]; done in [0, 1] so that the
        pixels moved in, and the hole, are background (black), not grey."""
        return diff_augment((x + 1) / 2, self.cfg.augment_shift, self.cfg.augment_cutout) * 2 - 1

    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, device=next(self.parameters()).device)

    def codes(self, n: int) -> torch.Tensor | None:
        """Random discrete codes for G (``latent_codes``), or None."""
        if not self.cfg.latent_codes:
            return None
        return torch.randint(self.cfg.latent_codes, (n,), device=next(self.parameters()).device)

    def training_step(self, batch: tuple, update) -> dict[str, torch.Tensor]:
        real = self._to_model_space(batch[0])
        if self.cfg.n_classes and len(batch) < 2:
            fail("batch", "(images, labels): this GAN is conditional", "images alone",
                 "Build the batches with Batches(x, y, batch_size=...)")
        if not self.cfg.n_classes and len(batch) > 1:
            fail("batch", "images alone: this GAN is unconditional and would ignore labels", f"{len(batch)} tensors",
                 "Build the batches with Batches(x, batch_size=...), or set GANConfig.n_classes")
        labels = batch[1] if self.cfg.n_classes else None
        loss_d_fn, loss_g_fn = LOSSES[self.cfg.loss]
        k = self.cfg.d_steps
        if real.shape[0] < k:
            raise ValueError(f"a batch of {real.shape[0]} cannot feed d_steps={k} discriminator updates")
        reals = real.chunk(k)
        ys = labels.chunk(k) if labels is not None else [None] * k
        # (1) update D: push D(x) up on real data and D(G(z)) down on fakes; G is held fixed.
        reuse = k == 1  # see (2)
        for x, y in zip(reals, ys):
            with torch.set_grad_enabled(reuse):  # fakes that step (2) reuses keep G's graph
                fake = self.G(self.noise(len(x)), y if y is not None else self.codes(len(x)))
            x_d, fake_d = self._d_input(x, real=True), self._d_input(fake, real=False)   # augmentation (Chapter 6)
            loss_d = loss_d_fn(self.D(x_d, y), self.D(fake_d.detach(), y))
            if self.cfg.loss == "wgan-gp":
                # on the images D scored: augmented ones when augmenting
                loss_d = loss_d + self.cfg.gp_weight * gradient_penalty(self.D, x_d, fake_d, *([y] if y is not None else []))
            loss_d = update("d", loss_d)
        # (2) update G: make D call its samples real; D is held fixed (no gradients to its weights).
        # With one D step, G reuses that step's fakes (as the DCGAN reference code does: one generator
        # pass per step, not two). With several critic steps G draws fresh noise, as WGAN-GP's
        # algorithm does: reusing the fakes the critic has just been fitted to stopped WGAN-GP from
        # covering the ring in Chapter 4a (1 of 8 modes after 1,500 steps instead of 8).
        self.D.requires_grad_(False)
        try:
            if not reuse:
                fake = self.G(self.noise(len(reals[-1])), ys[-1] if ys[-1] is not None else self.codes(len(reals[-1])))
                fake_d = self._d_input(fake, real=False)
            # with DiffAugment G's gradient flows back through the (differentiable) augmentation
            loss_g = update("g", loss_g_fn(self.D(fake_d, ys[-1])))
        finally:
            self.D.requires_grad_(True)
        if self.G_ema is not None:
            self.update_ema()
        return {"d": loss_d, "g": loss_g}

    @torch.no_grad()
    def update_ema(self) -> None:
        """$\\bar\\theta \\leftarrow \\beta\\bar\\theta + (1-\\beta)\\theta$ for G's weights; BatchNorm statistics are copied."""
        for avg, p in zip(self.G_ema.parameters(), self.G.parameters()):
            avg.lerp_(p, 1 - self.cfg.ema)
        for avg, b in zip(self.G_ema.buffers(), self.G.buffers()):
            avg.copy_(b)

    @torch.no_grad()
    def sample(self, n: int | None = None, y: torch.Tensor | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """Samples in data space: images in [0, 1] for ``dc``, vectors for ``mlp``.

        Give ``n`` (fresh noise), or ``z`` (e.g. an interpolation path); conditional models
        need labels ``y`` (N,). Runs G (its moving average, if kept) in eval mode, so
        BatchNorm uses its running statistics.
        """
        if y is not None and not (self.cfg.n_classes or self.cfg.latent_codes):
            fail("y", "None: this GAN is unconditional", "labels", "Train a conditional GAN (GANConfig.n_classes)")
        if z is None:
            if n is None:
                n = len(y) if y is not None else None
            if n is None:
                raise ValueError("give n, z or y")
            check_int(n, "n", low=1)
            z = self.noise(n)
        elif n is not None and n != len(z):
            fail("n", f"None or the number of noise vectors in z ({len(z)})", n)
        if self.cfg.n_classes and y is None:
            raise ValueError("this GAN is conditional: pass the labels y to sample")
        if self.cfg.latent_codes and y is None:
            y = self.codes(len(z))
        net = self.G_ema if self.G_ema is not None else self.G
        was_training = net.training
        net.eval()
        x = net(z, y)
        net.train(was_training)
        return (x + 1) / 2 if self.cfg.arch == "dc" else x
