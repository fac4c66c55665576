import math

import pytest
import torch

from genai_lib.models import diffusion as D


def test_q_sample_agrees_with_iterating_the_one_step_process():
    sched = D.Schedule(D.linear_betas(50))
    x0 = torch.full((200_000, 1), 0.7)
    x = x0.clone()
    g = torch.Generator().manual_seed(0)
    for i in range(30):  # x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) noise, up to t = 30
        x = sched.alphas[i].sqrt() * x + sched.betas[i].sqrt() * torch.randn(x.shape, generator=g)
    direct = D.q_sample(sched, x0, torch.full((200_000,), 29))
    ab = sched.alpha_bar[29].item()
    for sample in (x, direct):
        assert sample.mean().item() == pytest.approx(math.sqrt(ab) * 0.7, abs=0.01)
        assert sample.var().item() == pytest.approx(1 - ab, rel=0.02)


def test_posterior_coefficients_for_a_short_schedule():
    sched = D.Schedule(torch.tensor([0.1, 0.2, 0.3]))
    # by hand: alpha_bar = 0.9, 0.72, 0.504
    assert torch.allclose(sched.alpha_bar, torch.tensor([0.9, 0.72, 0.504]))
    # t = 2 (index 1): coef_x0 = sqrt(0.9) * 0.2 / 0.28; coef_xt = sqrt(0.8) * 0.1 / 0.28; var = 0.2 * 0.1 / 0.28
    assert sched.coef_x0[1].item() == pytest.approx(math.sqrt(0.9) * 0.2 / 0.28, rel=1e-6)
    assert sched.coef_xt[1].item() == pytest.approx(math.sqrt(0.8) * 0.1 / 0.28, rel=1e-6)
    assert sched.posterior_var[1].item() == pytest.approx(0.2 * 0.1 / 0.28, rel=1e-6)
    # t = 1: the posterior is exactly x_0 (alpha_bar_prev = 1)
    assert sched.coef_x0[0].item() == pytest.approx(1.0) and sched.coef_xt[0].item() == 0 and sched.posterior_var[0] == 0
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        D.Schedule(torch.tensor([0.1, 1.5]))


def test_cosine_schedule_ends_near_pure_noise_and_is_gentler_at_the_start():
    lin, cos = D.Schedule(D.linear_betas(1000)), D.Schedule(D.cosine_betas(1000))
    assert cos.alpha_bar[-1] < 1e-4 and lin.alpha_bar[-1] < 1e-4
    assert (cos.alpha_bar[100:600] > lin.alpha_bar[100:600]).all()  # less signal destroyed early on
    assert torch.all(cos.alpha_bar[1:] < cos.alpha_bar[:-1])


def test_ddim_with_eta_one_has_the_ddpm_variance_and_eta_zero_is_deterministic():
    sched = D.Schedule(D.linear_betas(20))
    x_t, eps = torch.randn(100_000, 1), torch.randn(100_000, 1) * 0.1
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    ddpm = D.ddpm_step(sched, x_t, 10, eps, generator=g1) - D.ddpm_step(sched, x_t, 10, eps, generator=g2)
    ddim = D.ddim_step(sched, x_t, 10, 9, eps, eta=1.0, generator=g1) - D.ddim_step(sched, x_t, 10, 9, eps, eta=1.0, generator=g2)
    # the difference of two draws has twice the step's variance
    assert ddpm.var().item() / 2 == pytest.approx(sched.posterior_var[10].item(), rel=0.02)
    assert ddim.var().item() / 2 == pytest.approx(sched.posterior_var[10].item(), rel=0.02)
    assert torch.equal(D.ddim_step(sched, x_t, 10, 5, eps), D.ddim_step(sched, x_t, 10, 5, eps))


def test_a_perfect_noise_prediction_recovers_x0_and_the_loss_runs():
    sched = D.Schedule(D.cosine_betas(100))
    x0 = torch.rand(8, 1, 4, 4) * 2 - 1
    i = torch.randint(100, (8,))
    noise = torch.randn_like(x0)
    x_t = D.q_sample(sched, x0, i, noise)
    assert torch.allclose(D.predict_x0(sched, x_t, i, noise), x0, atol=1e-4)
    assert torch.allclose(D.ddim_step(sched, x_t[:1], int(i[0]), -1, noise[:1]), x0[:1], atol=1e-4)
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    loss = D.diffusion_loss(lambda x, t: net(x), sched, x0)
    loss.backward()
    assert loss.item() > 0 and net.weight.grad is not None
