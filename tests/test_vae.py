import math

import pytest
import torch
from torch import distributions as D

from genai_lib.data import Batches
from genai_lib.models import vae as V
from genai_lib.models.vqvae import VQVAE, CodePrior, VQVAEConfig, VectorQuantizer
from genai_lib.train import TrainConfig, fit


def test_gaussian_kl_equals_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    ref = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(V.gaussian_kl(mu, logvar), ref, atol=1e-5)
    assert torch.allclose(V.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))
    with pytest.raises(ValueError, match="same shape"):
        V.gaussian_kl(mu, logvar[:, :2])


def test_reparameterized_gradient_equals_the_analytic_gradient():
    # E_{z ~ N(mu, sigma^2)}[z^2] = mu^2 + sigma^2, so d/dmu = 2 mu and d/dlogvar = sigma^2.
    mu = torch.tensor([0.7], requires_grad=True)
    logvar = torch.tensor([math.log(0.25)], requires_grad=True)
    z = V.reparameterize(mu.expand(400_000), logvar.expand(400_000), torch.Generator().manual_seed(0))
    z.pow(2).mean().backward()
    assert mu.grad.item() == pytest.approx(1.4, abs=0.01)
    assert logvar.grad.item() == pytest.approx(0.25, abs=0.01)


def ppca(seed=0):
    """A linear-Gaussian model: z ~ N(0, I_2), x | z ~ N(W z + b, s^2 I_3), so p(x) = N(b, W W^T + s^2 I)."""
    g = torch.Generator().manual_seed(seed)
    W, b, s = torch.randn(3, 2, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64), 0.5

    def log_likelihood(x, z):
        return D.Normal(z @ W.T + b, s).log_prob(x).sum(-1)

    marginal = D.MultivariateNormal(b, W @ W.T + s**2 * torch.eye(3, dtype=torch.float64))
    M = W.T @ W + s**2 * torch.eye(2, dtype=torch.float64)

    def imperfect_posterior(x):
        # The exact posterior is N(M^-1 W^T (x - b), s^2 M^-1); we shift it and widen it on purpose.
        mean = (x - b) @ W @ torch.linalg.inv(M).T + 0.3
        var = (s**2 * torch.linalg.inv(M)).diagonal() * 1.5
        return mean, var.log().expand_as(mean)

    return log_likelihood, marginal, imperfect_posterior


def test_iwae_converges_to_the_closed_form_log_likelihood():
    log_likelihood, marginal, posterior = ppca()
    x = marginal.sample((5,), )
    mu, logvar = posterior(x)
    exact = marginal.log_prob(x)
    estimate = V.iwae_bound(x, mu, logvar, log_likelihood, K=20000, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(estimate, exact, atol=0.05), (estimate, exact)
    elbo = V.elbo(x.repeat(2000, 1), mu.repeat(2000, 1), logvar.repeat(2000, 1), log_likelihood,
                  generator=torch.Generator().manual_seed(2))[0].reshape(2000, 5).mean(0)
    assert (elbo < exact - 0.2).all(), (elbo, exact)  # the ELBO's gap is far larger than the tolerance


def test_bounds_are_ordered_in_expectation():
    log_likelihood, marginal, posterior = ppca(seed=3)
    x = marginal.sample((1,)).expand(20000, 3)  # one point, many independent estimates
    mu, logvar = posterior(x)
    g = torch.Generator().manual_seed(0)
    bounds = [V.iwae_bound(x, mu, logvar, log_likelihood, K, g) for K in (1, 5, 50)]
    means = [b.mean().item() for b in bounds]
    standard_error = max(b.std().item() for b in bounds) / math.sqrt(len(x))
    elbo_closed_kl = V.elbo(x, mu, logvar, log_likelihood, generator=g)[0]
    exact = marginal.log_prob(x[:1]).item()
    # L_1 (KL by sampling) and the ELBO (KL in closed form) have the same expectation.
    assert abs(elbo_closed_kl.mean().item() - means[0]) < 4 * standard_error * math.sqrt(2)
    assert means[0] < means[1] < means[2] <= exact + 4 * standard_error, (means, exact)
    with pytest.raises(ValueError, match="K must be"):
        V.iwae_bound(x, mu, logvar, log_likelihood, K=0)


@pytest.mark.parametrize("arch,decoder", [("mlp", "bernoulli"), ("conv", "bernoulli"), ("mlp", "gaussian")])
def test_vae_trains_on_fake_data(arch, decoder):
    torch.manual_seed(0)
    x = (torch.rand(64, 1, 28, 28) > 0.7).float()
    model = V.VAE(V.VAEConfig(arch=arch, decoder=decoder, latent_dim=4, hidden=64))
    first = model(x).item()
    fit(model, Batches(x, batch_size=32), TrainConfig(steps=30, lr=3e-3), progress=False)
    assert model(x).item() < first
    assert model.sample(3).shape == (3, 1, 28, 28)
    bounds = model.iwae(x[:4], K=8)
    assert bounds.shape == (4,) and torch.isfinite(bounds).all()


def test_vae_shape_errors_are_clear():
    model = V.VAE(V.VAEConfig(latent_dim=4, hidden=32))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        model(torch.rand(2, 784))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        model.decode(torch.randn(2, 5))
    with pytest.raises(ValueError, match="VAEConfig.arch must be one of"):
        V.VAE(V.VAEConfig(arch="transformer"))


def test_straight_through_estimator_passes_gradients_to_the_encoder():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 4)
    z_e = torch.randn(2, 4, 3, 3, requires_grad=True)
    z_q, idx, codebook_loss, commitment_loss = vq(z_e)
    assert torch.allclose(z_q, vq.codebook(idx).permute(0, 3, 1, 2))  # forward: the nearest codes
    g = torch.randn_like(z_q)
    (z_q * g).sum().backward()
    assert torch.equal(z_e.grad, g)  # backward: the identity
    model = VQVAE(VQVAEConfig(codebook_size=8, code_dim=4, channels=8))
    model(torch.rand(2, 1, 28, 28)).backward()
    assert model.encoder[0].weight.grad.abs().sum() > 0
    assert model.quantizer.codebook.weight.grad.abs().sum() > 0


def test_vqvae_trains_and_decodes():
    torch.manual_seed(0)
    x = (torch.rand(64, 1, 28, 28) > 0.7).float()
    model = VQVAE(VQVAEConfig(codebook_size=8, code_dim=4, channels=8))
    first = model(x).item()
    fit(model, Batches(x, batch_size=32), TrainConfig(steps=30, lr=3e-3), progress=False)
    assert model(x).item() < first
    codes = model.encode(x[:5])
    assert codes.shape == (5, 7, 7) and model.decode_indices(codes).shape == (5, 1, 28, 28)
    with pytest.raises(ValueError, match=r"code indices in \[0, 8\)"):
        model.decode_indices(torch.full((1, 7, 7), 8))


def test_code_prior_is_a_normalised_markov_chain():
    codes = torch.tensor([[[0, 1, 1]], [[0, 1, 0]], [[1, 1, 1]]])  # 3 grids of shape 1x3, K = 2
    prior = CodePrior(codes, codebook_size=2, smoothing=0.5)
    every = torch.tensor([[[a, b, c]] for a in (0, 1) for b in (0, 1) for c in (0, 1)])
    assert prior.log_prob(every).exp().sum().item() == pytest.approx(1.0)
    # first code: counts (2, 1) + 0.5 smoothing -> p(0) = 2.5 / 4
    assert prior.first[0].item() == pytest.approx(2.5 / 4)
    assert prior.sample(10, torch.Generator().manual_seed(0)).shape == (10, 1, 3)
    deterministic = CodePrior(torch.tensor([[[2, 0, 1]]] * 50), codebook_size=3, smoothing=1e-6)
    assert (deterministic.sample(20) == torch.tensor([2, 0, 1]).reshape(1, 3)).all()


def test_test_elbo_averages_over_batches():
    torch.manual_seed(0)
    model = V.VAE(V.VAEConfig(latent_dim=3, hidden=16))
    x = torch.rand(10, 1, 28, 28)
    elbo, rec, kl = model.test_elbo(x, batch_size=4)
    assert elbo == pytest.approx(rec - kl, rel=1e-5) and kl > 0
    with torch.no_grad():
        _, _, kl_direct = model.elbo(x)
    assert kl == pytest.approx(kl_direct.mean().item(), rel=1e-5)  # the closed-form KL does not depend on z


def test_iwae_bound_decodes_in_chunks_with_the_same_result():
    log_likelihood, marginal, posterior = ppca(seed=4)
    x = marginal.sample((6,))
    mu, logvar = posterior(x)
    rows = []

    def counting(x_rep, z):  # records how many decodes each call makes
        rows.append(len(z))
        return log_likelihood(x_rep, z)

    whole = V.iwae_bound(x, mu, logvar, counting, K=50, generator=torch.Generator().manual_seed(0))
    assert rows == [300]                                   # K * N = 50 * 6 in one call by default
    rows.clear()
    chunked = V.iwae_bound(x, mu, logvar, counting, K=50, generator=torch.Generator().manual_seed(0), max_decodes=20)
    assert max(rows) <= 20 and sum(rows) == 300, rows      # 3 samples of 6 images per call
    assert torch.allclose(chunked, whole, atol=1e-5), (chunked, whole)
    with pytest.raises(ValueError, match="max_decodes"):
        V.iwae_bound(x, mu, logvar, log_likelihood, K=5, max_decodes=0)
