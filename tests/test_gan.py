import math

import pytest
import torch
from torch import nn

from genai_lib.data import Batches, ring_of_gaussians
from genai_lib.metrics import mode_coverage
from genai_lib.models import gan as G
from genai_lib.train import TrainConfig, fit


def softplus(v):
    return math.log1p(math.exp(v))


def test_losses_equal_their_formulas():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([0.0, -1.0])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    # -V: -mean log D(x) - mean log(1 - D(G(z)))
    expected_d = -(math.log(sig(0)) + math.log(sig(2))) / 2 - (math.log(1 - sig(0)) + math.log(1 - sig(-1))) / 2
    assert G.d_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    assert G.g_loss_minimax(fake).item() == pytest.approx((math.log(1 - sig(0)) + math.log(1 - sig(-1))) / 2, rel=1e-6)
    assert G.g_loss_nonsaturating(fake).item() == pytest.approx(-(math.log(sig(0)) + math.log(sig(-1))) / 2, rel=1e-6)
    assert G.wgan_d_loss(real, fake).item() == pytest.approx(-0.5 - 1.0)
    assert G.wgan_g_loss(fake).item() == pytest.approx(0.5)
    # hinge: mean relu(1 - real) + mean relu(1 + fake) = (1 + 0)/2 + (1 + 0)/2
    assert G.hinge_d_loss(real, fake).item() == pytest.approx(1.0)


def test_losses_and_gradients_are_finite_at_extreme_logits():
    logits = torch.tensor([-1000.0, -80.0, 0.0, 80.0, 1000.0], requires_grad=True)
    for loss in (G.d_loss(logits, logits), G.g_loss_minimax(logits), G.g_loss_nonsaturating(logits)):
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
    # the naive formula is not: log(sigmoid(-1000)) = -inf in float32
    assert torch.isinf(torch.log(torch.sigmoid(torch.tensor(-1000.0))))
    assert G.g_loss_nonsaturating(torch.tensor([-1000.0])).item() == pytest.approx(1000.0)


def test_saturating_gradient_vanishes_where_nonsaturating_does_not():
    l = torch.tensor([-8.0], requires_grad=True)  # D(G(z)) = 0.0003: D rejects the fake
    (g_minimax,) = torch.autograd.grad(G.g_loss_minimax(l), l)
    (g_ns,) = torch.autograd.grad(G.g_loss_nonsaturating(l), l)
    assert abs(g_minimax.item()) < 1e-3 and abs(g_ns.item()) > 0.99


def test_gradient_penalty_equals_an_autograd_reference():
    # linear critic f(x) = w.x: the gradient is w everywhere, so the penalty is (|w| - 1)^2
    lin = nn.Linear(3, 1)
    critic = lambda x: lin(x).squeeze(1)  # noqa: E731
    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    expected = (lin.weight.norm() - 1) ** 2
    assert G.gradient_penalty(critic, real, fake).item() == pytest.approx(expected.item(), rel=1e-5)
    # a non-linear critic, checked sample by sample with the same interpolation points
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    f = lambda x: net(x).squeeze(1)  # noqa: E731
    torch.manual_seed(1)
    gp = G.gradient_penalty(f, real, fake)
    torch.manual_seed(1)
    eps = torch.rand(5, 1)
    ref = []
    for i in range(5):
        x_hat = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).requires_grad_(True)
        (g,) = torch.autograd.grad(f(x_hat[None]).sum(), x_hat)
        ref.append((g.norm() - 1) ** 2)
    assert gp.item() == pytest.approx(torch.stack(ref).mean().item(), rel=1e-5)
    (grad,) = torch.autograd.grad(gp, net[0].weight)  # differentiable: the penalty can be minimised
    assert grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same shape"):
        G.gradient_penalty(f, real, fake[:2])


def test_generator_makes_mnist_shaped_images_and_d_one_logit_per_image():
    for n_classes in (0, 10):
        model = G.GAN(G.GANConfig(arch="dc", hidden=8, n_classes=n_classes))
        y = torch.arange(4) if n_classes else None
        images = model.sample(4, y=y)
        assert images.shape == (4, 1, 28, 28)  # not 32x32 (the articles' bug)
        assert images.min() >= 0 and images.max() <= 1
        assert model.D(images, y).shape == (4,)  # one logit per label
    with pytest.raises(ValueError, match="conditional"):
        model.sample(4)
    with pytest.raises(ValueError, match=r"\(N, 64\)"):
        model.G(torch.randn(4, 10), torch.arange(4))
    with pytest.raises(ValueError, match="GANConfig.loss must be one of"):
        G.GAN(G.GANConfig(loss="wasserstein"))


@pytest.mark.parametrize("loss", sorted(G.LOSSES))
def test_few_steps_update_both_players(loss):
    torch.manual_seed(0)
    model = G.GAN(G.GANConfig(arch="dc", hidden=8, z_dim=16, loss=loss, n_classes=10, d_steps=2 if loss == "wgan-gp" else 1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.rand(64, 1, 28, 28), torch.randint(10, (64,))
    cfg = TrainConfig(steps=3, lr=2e-4, betas=(0.5, 0.999), grad_clip=None, log_every=1)
    history = fit(model, Batches(x, y, batch_size=16, seed=0), cfg, progress=False)
    assert set(history.losses) == {"d", "g"} and all(math.isfinite(v) for v in history.losses["d"])
    after = model.state_dict()
    assert not torch.equal(before["G.body.0.weight"], after["G.body.0.weight"])
    assert not torch.equal(before["D.head.weight"], after["D.head.weight"])
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        model.training_step((torch.rand(8, 784), y[:8]), lambda name, loss: loss)


def test_discriminator_learns_the_optimal_discriminator_on_1d_gaussians():
    """Trained against a fixed generator, D approaches D* = p_data / (p_data + p_g)."""
    torch.manual_seed(0)
    p_data, p_g = torch.distributions.Normal(0.0, 1.0), torch.distributions.Normal(1.5, 0.7)
    net = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(400):
        loss = G.d_loss(net(p_data.sample((512, 1))).squeeze(1), net(p_g.sample((512, 1))).squeeze(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    grid = torch.linspace(-1.5, 2.5, 41)
    with torch.no_grad():
        learned = torch.sigmoid(net(grid[:, None]).squeeze(1))
    optimal = G.optimal_discriminator(p_data.log_prob(grid), p_g.log_prob(grid))
    assert (learned - optimal).abs().max() < 0.08
    assert G.optimal_discriminator(torch.tensor(0.3), torch.tensor(0.3)).item() == 0.5


def test_ring_of_gaussians_and_mode_coverage():
    x, centres = ring_of_gaussians(4000, modes=8, radius=2.0, std=0.05, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4000, 2) and centres.shape == (8, 2)
    assert torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0))
    full = mode_coverage(x, centres, std=0.05)
    assert full["modes_covered"] == 8 and full["high_quality"] > 0.98
    nearest = torch.cdist(x, centres).argmin(1)
    collapsed = mode_coverage(x[nearest < 3], centres, std=0.05)
    assert collapsed["modes_covered"] == 3
    blurry = mode_coverage(x + 0.5, centres, std=0.05)  # shifted off the modes: low quality
    assert blurry["high_quality"] < 0.05
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        mode_coverage(x[:, :1], centres, std=0.05)


def test_weight_average_follows_its_formula_and_is_used_for_sampling():
    torch.manual_seed(0)
    model = G.GAN(G.GANConfig(arch="mlp", z_dim=2, hidden=8, n_layers=1, ema=0.9))
    before = [p.clone() for p in model.G_ema.parameters()]
    fit(model, Batches(torch.randn(32, 2), batch_size=16, seed=0), TrainConfig(steps=1, grad_clip=None), progress=False)
    for avg, old, new in zip(model.G_ema.parameters(), before, model.G.parameters()):
        assert torch.allclose(avg, 0.9 * old + 0.1 * new)  # one step: avg = 0.9 avg + 0.1 theta
        assert not avg.requires_grad
    z = torch.randn(4, 2)
    assert torch.equal(model.sample(z=z), model.G_ema(z))
    assert not torch.equal(model.sample(z=z), model.G(z))
    assert G.GAN(G.GANConfig(arch="mlp", z_dim=2, hidden=8, n_layers=1)).G_ema is None


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
def test_conditional_discriminators_use_the_label(conditioning):
    torch.manual_seed(0)
    for arch, x in (("dc", torch.rand(6, 1, 28, 28) * 2 - 1), ("mlp", torch.randn(6, 2))):
        model = G.GAN(G.GANConfig(arch=arch, hidden=8, d_hidden=16, z_dim=4, label_dim=3, n_classes=10,
                                  d_conditioning=conditioning))
        with torch.no_grad():
            for p in model.D.parameters():  # make every weight matter
                p.normal_()
        y = torch.arange(6)
        assert model.D(x, y).shape == (6,)
        assert not torch.allclose(model.D(x, y), model.D(x, (y + 1) % 10))  # another label, another logit
        assert model.G.embed.embedding_dim == 3
        with pytest.raises(ValueError, match="conditional"):
            model.D(x)
    with pytest.raises(ValueError, match="d_conditioning"):
        G.GAN(G.GANConfig(n_classes=10, d_conditioning="film"))


def test_discrete_latent_codes_keep_the_gan_unconditional():
    torch.manual_seed(0)
    model = G.GAN(G.GANConfig(arch="dc", hidden=8, z_dim=16, latent_codes=10, label_dim=4))
    assert model.D.embed is None and model.G.embed.num_embeddings == 10
    images = model.sample(6)  # random codes are drawn when none are given
    assert images.shape == (6, 1, 28, 28)
    z = torch.randn(2, 16)
    same_code = model.sample(z=z, y=torch.tensor([3, 3]))
    other_code = model.sample(z=z, y=torch.tensor([4, 4]))
    assert not torch.allclose(same_code, other_code)  # the code changes the image
    history = fit(model, Batches(torch.rand(32, 1, 28, 28), batch_size=16, seed=0),  # no labels needed
                  TrainConfig(steps=2, grad_clip=None), progress=False)
    assert len(history.losses["g"]) == 2
    with pytest.raises(ValueError, match="not both"):
        G.GAN(G.GANConfig(n_classes=10, latent_codes=10))


@pytest.mark.parametrize("augment", ["none", "real", "both"])
def test_augmentation_reaches_exactly_the_images_it_should(augment, monkeypatch):
    """"real" augments only the data D sees; "both" (DiffAugment) also G's samples, and G's
    gradient flows through the augmentation; "none" leaves both alone."""
    torch.manual_seed(0)
    model = G.GAN(G.GANConfig(arch="dc", hidden=8, z_dim=8, augment=augment, augment_shift=2, augment_cutout=6))
    seen = []
    forward = model.D.forward

    def spy(x, y=None):
        seen.append(x)
        return forward(x, y)

    monkeypatch.setattr(model.D, "forward", spy)
    calls = []
    monkeypatch.setattr(model, "_augment", lambda x: calls.append(x) or model.__class__._augment(model, x))
    real = torch.rand(8, 1, 28, 28)

    def update(name, loss):
        loss.backward()
        return loss.detach()

    model.training_step((real,), update)
    n_aug = {"none": 0, "real": 1, "both": 2}[augment]
    assert len(calls) == n_aug                          # real (and fake) batches went through the augmentation
    real_seen, fake_for_g = seen[0], seen[2]
    assert torch.equal(real_seen, real * 2 - 1) == (augment == "none")
    assert fake_for_g.requires_grad                     # G's loss is differentiable through D's input
    assert model.G.body[0].weight.grad is not None and model.G.body[0].weight.grad.abs().sum() > 0
    # augmentation happens in [0, 1] and maps back: the background stays -1 (black), never grey 0
    if augment != "none":
        assert real_seen.min() >= -1 and real_seen.max() <= 1
        assert torch.isin(torch.tensor(-1.0), real_seen)


def test_wgan_gp_penalises_the_images_d_scored(monkeypatch):
    """With augmentation, the gradient penalty is taken at the augmented images D saw."""
    torch.manual_seed(0)
    model = G.GAN(G.GANConfig(arch="dc", hidden=8, z_dim=8, loss="wgan-gp", augment="both", augment_shift=2))
    marked = []
    monkeypatch.setattr(model, "_augment", lambda x: marked.append(x * 0 + 0.123) or marked[-1])
    seen = []
    monkeypatch.setattr(G, "gradient_penalty", lambda critic, real, fake, *a: seen.append((real, fake)) or real.sum() * 0)
    model.training_step((torch.rand(4, 1, 28, 28),), lambda name, loss: loss.detach())
    real, fake = seen[0]
    assert torch.all(real == 0.123) and torch.all(fake == 0.123)


def test_a_gan_trains_under_bfloat16_autocast():
    """On a GPU, fit runs under autocast (bfloat16): G's output reaches D in bfloat16, which the
    input check must accept (it refused it once, so the full profile could not train a GAN on a GPU)."""
    torch.manual_seed(0)
    model = G.GAN(G.GANConfig(arch="dc", hidden=8, z_dim=8))
    history = fit(model, Batches(torch.rand(16, 1, 28, 28), batch_size=8), TrainConfig(steps=2, lr=1e-3),
                  amp_dtype=torch.bfloat16, progress=False)
    assert history.steps[-1] == 2 and all(math.isfinite(v[-1]) for v in history.losses.values())
