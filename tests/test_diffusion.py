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
    # Every step, not a random few: at the cosine schedule's last steps alpha_bar is ~1e-7, and the
    # float32 inversion divides rounding errors by sqrt(alpha_bar), so the tolerance follows it
    # (measured worst error * sqrt(alpha_bar) over 50 seeds: 1.5e-7).
    sched = D.Schedule(D.cosine_betas(100))
    i = torch.arange(100)
    x0 = torch.rand(100, 1, 4, 4) * 2 - 1
    noise = torch.randn_like(x0)
    x_t = D.q_sample(sched, x0, i, noise)
    tol = 1e-6 / sched.alpha_bar[i].sqrt()                                   # (100,)
    err = (D.predict_x0(sched, x_t, i, noise) - x0).abs().flatten(1).max(1).values
    assert (err <= tol).all(), (err / tol).max()
    for k in (0, 50, 99):
        step = D.ddim_step(sched, x_t[k:k + 1], k, -1, noise[k:k + 1])
        assert (step - x0[k:k + 1].clamp(-1, 1)).abs().max() <= tol[k]
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    loss = D.diffusion_loss(lambda x, t: net(x), sched, x0)
    loss.backward()
    assert loss.item() > 0 and net.weight.grad is not None


def test_ddim_step_with_a_clipped_x0_stays_on_the_path_to_that_x0():
    # A predictor that says "x0 = 3" (out of range) for every x_t. After clipping, x0 = 1, and the
    # deterministic step must keep x_t = sqrt(ab) * 1 + sqrt(1 - ab) * e with the same e (DDIM's path
    # to the clipped x0). Keeping the network's own eps instead breaks that, which is what ruined
    # guided samples before the fix.
    sched = D.Schedule(D.linear_betas(1000))
    x_t = torch.randn(1000, 1)
    ab = sched.alpha_bar
    eps = (x_t - ab[600].sqrt() * 3.0) / (1 - ab[600]).sqrt()
    x_prev = D.ddim_step(sched, x_t, 600, 400, eps)
    e_t = (x_t - ab[600].sqrt()) / (1 - ab[600]).sqrt()
    e_prev = (x_prev - ab[400].sqrt()) / (1 - ab[400]).sqrt()
    assert torch.allclose(e_prev, e_t, atol=1e-4)
    assert torch.allclose(D.ddim_step(sched, x_t, 600, -1, eps), torch.ones_like(x_t), atol=1e-5)


def test_ddim_timesteps_cover_the_chain_in_order():
    assert D.ddim_timesteps(1000, 1000) == list(range(999, -1, -1))
    ts = D.ddim_timesteps(1000, 10)
    assert ts[0] == 999 and ts[-1] == 0 and len(ts) == 10 and ts == sorted(ts, reverse=True)
    with pytest.raises(ValueError, match="steps must be an integer between 1 and"):
        D.ddim_timesteps(100, 0)


def _gaussian_data_eps(sched, mu, s):
    """The exact noise predictor when x_0 ~ N(mu, s^2): E[eps | x_t] in closed form."""
    def eps(x, i):
        ab = sched.at("alpha_bar", i, x)
        var_t = ab * s**2 + 1 - ab
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / var_t
    return eps


def test_sampling_loops_with_the_exact_noise_predictor_reproduce_the_data_distribution():
    """For 1-D Gaussian data the optimal eps is known; DDPM and full-length DDIM must then recover N(mu, s^2)."""
    sched = D.Schedule(D.linear_betas(1000))
    mu, s = 0.3, 0.2
    eps = _gaussian_data_eps(sched, mu, s)
    x_T = torch.randn(50_000, 1, generator=torch.Generator().manual_seed(0))
    x_ddpm, chain = D.ddpm_sample(eps, sched, x_T, record=(999, 500), generator=torch.Generator().manual_seed(1))
    x_ddim = D.ddim_sample(eps, sched, x_T, steps=1000)
    for x in (x_ddpm, x_ddim):
        assert x.mean().item() == pytest.approx(mu, abs=0.01)
        assert x.std().item() == pytest.approx(s, rel=0.05)
    assert set(chain) == {999, 500} and torch.equal(chain[999], x_T)
    # 20 DDIM steps: the mean is right and eta = 0 is a deterministic map of x_T (the spread is
    # too small with so few evenly spaced steps: the discretisation error the notebook plots)
    few = D.ddim_sample(eps, sched, x_T, steps=20)
    assert few.mean().item() == pytest.approx(mu, abs=0.01) and few.std().item() < s
    assert torch.equal(few, D.ddim_sample(eps, sched, x_T, steps=20))


def test_diffusion_model_trains_a_few_steps_and_samples_images():
    from genai_lib.train import TrainConfig, fit

    torch.manual_seed(0)
    model = D.Diffusion(D.DiffusionConfig(channels=8, n_classes=10, T=50, ema=0.9))
    x, y = torch.rand(16, 1, 28, 28), torch.arange(16) % 10
    history = fit(model, iter([(x, y)] * 3), TrainConfig(steps=3, lr=1e-3), progress=False)
    assert len(history.losses["loss"]) == 3 and all(math.isfinite(v) for v in history.losses["loss"])
    # the moving average moved towards the trained weights, but not all the way
    w, w_ema = model.net.inp.weight, model.net_ema.inp.weight
    assert not torch.equal(w, w_ema)
    for kwargs in (dict(n=4), dict(y=torch.tensor([1, 2, 3, 4]), steps=5, guidance=3.0)):
        out = model.sample(**kwargs)
        assert out.shape == (4, 1, 28, 28) and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="conditional: give labels"):
        model(x)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        model(torch.rand(4, 784), y[:4])


def test_guidance_mixes_conditional_and_unconditional_predictions():
    torch.manual_seed(0)
    model = D.Diffusion(D.DiffusionConfig(channels=8, n_classes=3, T=10)).eval()
    for p in model.net.out.parameters():  # the output layer starts at zero; make it say something
        torch.nn.init.normal_(p, std=0.1)
    x, i, y = torch.randn(2, 1, 28, 28), torch.tensor([5, 5]), torch.tensor([0, 2])
    with torch.no_grad():
        cond, uncond = model.net(x, i, y), model.net(x, i, None)
        got = model.eps_fn(y, guidance=2.5)(x, i)
    assert torch.allclose(got, uncond + 2.5 * (cond - uncond), atol=1e-5)
    with torch.no_grad():  # s = 0 is the "no label" network alone (one pass, not two)
        assert torch.allclose(model.eps_fn(y, guidance=0.0)(x, i), uncond, atol=1e-6)
    with pytest.raises(ValueError, match="conditional model"):
        D.Diffusion(D.DiffusionConfig(channels=8, T=10)).eps_fn(y, guidance=2.0)


def test_sampling_in_batches_keeps_each_label_with_its_image():
    torch.manual_seed(0)
    model = D.Diffusion(D.DiffusionConfig(channels=8, n_classes=3, T=10)).eval()
    for p in model.net.out.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x_T, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 0])
    whole = model.sample(y=y, x_T=x_T, steps=3, guidance=2.0)
    assert torch.allclose(model.sample(y=y, x_T=x_T, steps=3, guidance=2.0, batch_size=3), whole, atol=1e-5)
    assert not torch.allclose(model.sample(y=y.roll(1), x_T=x_T, steps=3, guidance=2.0)[:3], whole[:3], atol=1e-3)


def test_compare_samplers_scores_every_sampler_on_the_same_noise():
    from genai_lib.metrics import ReferenceCNN

    torch.manual_seed(0)
    model = D.Diffusion(D.DiffusionConfig(channels=8, T=10))
    x_T = torch.randn(8, 1, 28, 28)
    samplers = {"DDIM, 2 steps": dict(steps=2), "DDPM, 10 steps": dict(steps=None)}
    out = D.compare_samplers(model, ReferenceCNN(), torch.rand(8, 1, 28, 28), x_T, samplers)
    assert list(out) == list(samplers)
    for r in out.values():
        assert 0 <= r["confident_rate"] <= 1 and r["seconds"] > 0 and r["classifier_fid"] >= 0
        assert r["confident_rate_se"] == pytest.approx((r["confident_rate"] * (1 - r["confident_rate"]) / 8) ** 0.5)
        assert len(r["confident"]) == 8 and sum(r["confident"]) / 8 == pytest.approx(r["confident_rate"])
    with pytest.raises(ValueError, match="samplers must be a non-empty dict"):
        D.compare_samplers(model, ReferenceCNN(), torch.rand(8, 1, 28, 28), x_T, {})


def test_clipping_study_variants_differ_only_where_x0_leaves_the_range():
    """scripts/clipping_study.py: 'consistent' is the library's step; the old step ('inconsistent')
    agrees with it while x0 stays in [-1, 1] and leaves its path once x0 is clipped."""
    import runpy
    from pathlib import Path

    study = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "clipping_study.py"))
    sched = D.Schedule(D.linear_betas(100))
    gen = torch.Generator().manual_seed(0)
    x_t = torch.randn(4, 1, 4, 4, generator=gen)
    small_eps = 0.01 * torch.randn(4, 1, 4, 4, generator=gen)
    i, i_prev = 10, 5        # little noise: x0 = (x_t - small) / sqrt(abar) is outside [-1, 1] somewhere
    step = study["step"]
    assert torch.equal(step(sched, x_t, i, i_prev, small_eps, "consistent"), D.ddim_step(sched, x_t, i, i_prev, small_eps))
    assert not torch.allclose(step(sched, x_t, i, i_prev, small_eps, "inconsistent"),
                              step(sched, x_t, i, i_prev, small_eps, "consistent"))
    inside = 0.1 * x_t
    eps_in = (inside - sched.alpha_bar[i].sqrt() * 0.5 * torch.tanh(x_t)) / (1 - sched.alpha_bar[i]).sqrt()  # x0 in range
    for variant in ("inconsistent", "none"):
        assert torch.allclose(step(sched, inside, i, i_prev, eps_in, variant),
                              step(sched, inside, i, i_prev, eps_in, "consistent"), atol=1e-5)
