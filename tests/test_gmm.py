import math

import pytest
import torch
from torch import distributions as D

from genai_lib.data import Batches
from genai_lib.models.gmm import GaussianMixture, GMMConfig
from genai_lib.train import TrainConfig, fit


def reference(model: GaussianMixture):
    return D.MixtureSameFamily(D.Categorical(logits=model.logits),
                               D.MultivariateNormal(model.mu, scale_tril=model.scale_tril()))


def test_log_prob_equals_torch_distributions():
    torch.manual_seed(0)
    model = GaussianMixture(GMMConfig(dim=3, n_components=4))
    with torch.no_grad():
        model.L_raw.normal_(0, 0.3)
        model.logits.normal_()
    x = torch.randn(50, 3)
    assert torch.allclose(model.log_prob(x), reference(model).log_prob(x), atol=1e-5)
    assert model(x).item() == pytest.approx(-reference(model).log_prob(x).mean().item(), abs=1e-5)


def test_maximum_likelihood_recovers_two_clusters():
    torch.manual_seed(0)
    true = D.MixtureSameFamily(D.Categorical(torch.tensor([0.3, 0.7])),
                               D.MultivariateNormal(torch.tensor([[-3.0, 0.0], [3.0, 1.0]]), torch.eye(2) * 0.25))
    x = true.sample((4000,))
    model = GaussianMixture(GMMConfig(dim=2, n_components=2)).init_from_data(x, torch.Generator().manual_seed(0))
    fit(model, Batches(x, batch_size=500), TrainConfig(steps=300, lr=5e-2, schedule="constant"), progress=False)
    nll_true = -true.log_prob(x).mean().item()
    assert model(x).item() < nll_true + 0.05  # as good as the true density on this data
    weights = sorted(model.logits.softmax(0).tolist())
    assert weights == pytest.approx([0.3, 0.7], abs=0.05)


def test_samples_have_the_mixture_moments():
    torch.manual_seed(0)
    model = GaussianMixture(GMMConfig(dim=2, n_components=3))
    with torch.no_grad():
        model.L_raw.normal_(0, 0.3)
    x = model.sample(40000, torch.Generator().manual_seed(1))
    with torch.no_grad():
        pi, mu, L = model.logits.softmax(0), model.mu, model.scale_tril()
        mean = pi @ mu
        # Cov = sum_k pi_k (Sigma_k + mu_k mu_k^T) - mean mean^T
        cov = torch.einsum("k,kij->ij", pi, L @ L.transpose(1, 2) + mu[:, :, None] * mu[:, None, :]) - torch.outer(mean, mean)
    assert torch.allclose(x.mean(0), mean, atol=0.05)
    assert torch.allclose(torch.cov(x.T), cov, atol=0.1)


def test_wrong_shapes_are_clear():
    model = GaussianMixture(GMMConfig(dim=2))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        model.log_prob(torch.randn(5, 3))


def test_responsibilities_are_bayes_rule_over_components():
    g = GaussianMixture(GMMConfig(dim=1, n_components=2))
    with torch.no_grad():
        g.mu.copy_(torch.tensor([[-3.0], [3.0]]))
        g.logits.copy_(torch.tensor([0.0, math.log(3.0)]))           # weights 1/4, 3/4; unit variances
    x = torch.tensor([[0.0], [-3.0]])
    r = g.responsibilities(x)
    assert torch.allclose(r.sum(1), torch.ones(2))
    # at 0 both densities are equal, so the posterior is the prior: (1/4, 3/4)
    assert torch.allclose(r[0], torch.tensor([0.25, 0.75]), atol=1e-6)
    normal = torch.distributions.Normal(torch.tensor([-3.0, 3.0]), 1.0)
    joint = torch.tensor([0.25, 0.75]) * normal.log_prob(torch.tensor(-3.0)).exp()
    assert torch.allclose(r[1], joint / joint.sum(), atol=1e-6)
