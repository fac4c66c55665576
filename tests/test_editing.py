"""Editing loops (genai_lib.models.editing), checked against a noise predictor that is exactly right
for data that is one image x*: eps(x_t, t) = (x_t - sqrt(abar_t) x*) / sqrt(1 - abar_t)."""
import pytest
import torch
import torch.nn.functional as F

from genai_lib.models import diffusion as D
from genai_lib.models import editing as E

SCHED = D.Schedule(D.linear_betas(100))


def oracle(target: torch.Tensor):
    def eps(x, i):
        ab = SCHED.at("alpha_bar", i, x)
        return (x - ab.sqrt() * target) / (1 - ab).sqrt()
    return eps


def images(n=3, seed=0):
    return torch.rand((n, 1, 8, 8), generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_an_all_ones_mask_returns_the_known_pixels():
    known, noise = images(), torch.randn(3, 1, 8, 8)
    out = E.conditioned_sample(oracle(images(seed=1)), SCHED, known, E.mask_projection(torch.ones(1, 1, 8, 8)),
                               noise, steps=10)
    assert torch.allclose(out, known, atol=1e-6)


def test_inpainting_keeps_known_pixels_and_generates_the_rest():
    known, target = images(seed=2), images(seed=3)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1  # left half known
    for resample in (1, 3):
        out = E.conditioned_sample(oracle(target), SCHED, known, E.mask_projection(mask), torch.randn(3, 1, 8, 8),
                                   steps=10, resample=resample, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(out, mask * known + (1 - mask) * target, atol=1e-4)


def test_with_nothing_known_it_is_plain_ddim():
    noise, eps = torch.randn(3, 1, 8, 8), oracle(images(seed=4))
    out = E.conditioned_sample(eps, SCHED, images(), E.mask_projection(torch.zeros(1, 1, 8, 8)), noise, steps=7,
                               eta=0.0)
    assert torch.allclose(out, D.ddim_sample(eps, SCHED, noise, steps=7), atol=1e-5)


def test_super_resolution_output_downsamples_to_its_input():
    known = images(seed=5)
    project = E.downsample_projection(4)
    assert torch.allclose(project(project(known)), project(known))  # a projection
    out = E.conditioned_sample(oracle(images(seed=6)), SCHED, known, project, torch.randn(3, 1, 8, 8), steps=10,
                               resample=2)
    assert torch.allclose(F.avg_pool2d(out, 4), F.avg_pool2d(known, 4), atol=1e-5)
    assert not torch.allclose(out, known, atol=1e-2)  # only the low-resolution part is pinned


def test_noise_level_step_matches_the_noise_to_signal_ratio():
    ratio = ((1 - SCHED.alpha_bar) / SCHED.alpha_bar).sqrt()
    for i in (3, 40, 90):
        assert E.noise_level_step(SCHED, ratio[i].item()) == i
    assert E.noise_level_step(SCHED, 1e-6) == 0


def test_denoise_and_sdedit_recover_the_single_image_of_the_data():
    target = images(1, seed=7)
    x0 = target + 0.3 * torch.randn(1, 1, 8, 8)
    assert torch.allclose(E.denoise(oracle(target), SCHED, x0, sigma=0.3, steps=5), target, atol=1e-4)
    out = E.sdedit(oracle(target), SCHED, images(1, seed=8), start=60, steps=8, eta=1.0,
                   generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out, target, atol=1e-4)


def test_sdedit_keeps_the_input_at_a_small_start_and_forgets_it_at_a_large_one():
    x0, other = images(seed=9) * 0.9, images(seed=10)
    zero = lambda x, i: torch.zeros_like(x)  # noqa: E731  (a network that predicts no noise)
    out = E.sdedit(zero, SCHED, x0, start=0, steps=1, generator=torch.Generator().manual_seed(0))
    # all that is added is noise of std sqrt((1 - abar_1) / abar_1) = 0.03 (beta_1 = 1e-3 for T = 100)
    assert (out - x0).abs().max() < 0.2 and (out - x0).std() < 0.05
    far = E.sdedit(oracle(other), SCHED, x0, start=99, steps=10)
    assert torch.allclose(far, other, atol=1e-4)  # from the last step, only the model's target is left


def test_the_jump_back_composes_with_the_forward_process():
    """Noising x_0 to step t' and jumping to t must give q(x_t | x_0): mean sqrt(abar_t) x_0, variance 1 - abar_t."""
    n, x0, i_prev, i = 200_000, 0.7, 20, 60
    g = torch.Generator().manual_seed(0)
    x_prev = D.q_sample(SCHED, torch.full((n, 1), x0), torch.full((n,), i_prev), torch.randn(n, 1, generator=g))
    x = E._jump(SCHED, x_prev, i_prev, i, torch.randn(n, 1, generator=g))
    ab = SCHED.alpha_bar[i].item()
    assert x.mean().item() == pytest.approx(ab ** 0.5 * x0, abs=0.01)
    assert x.var().item() == pytest.approx(1 - ab, rel=0.02)


def test_resampling_costs_r_network_calls_per_step_except_the_last():
    calls = []

    def counting(x, i):
        calls.append(int(i[0]))
        return torch.zeros_like(x)
    E.conditioned_sample(counting, SCHED, images(), E.mask_projection(torch.ones(1, 1, 8, 8)), torch.randn(3, 1, 8, 8),
                         steps=5, resample=3)
    assert len(calls) == 4 * 3 + 1  # four steps with three rounds each, then one step onto x_0
