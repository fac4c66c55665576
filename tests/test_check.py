import math

import pytest

import torch

from genai_lib import check


def test_gaussian_log_density_accepts_right_and_rejects_wrong():
    def right(x, mu, sigma):
        return -((x - mu) ** 2) / (2 * sigma**2) - torch.log(sigma) - 0.5 * math.log(2 * math.pi)

    def forgot_the_normaliser(x, mu, sigma):
        return -((x - mu) ** 2) / (2 * sigma**2)

    assert check.gaussian_log_density(right)
    result = check.gaussian_log_density(forgot_the_normaliser)
    assert not result and "Hint" in result.message and "log(sigma)" in result.message
    assert "❌" in repr(result) and "✅" in repr(check.gaussian_log_density(right))


def test_bayes_posterior_demands_stability():
    assert check.bayes_posterior(lambda ll, lp: (ll + lp).softmax(1))

    def naive(ll, lp):  # underflows for log-likelihoods around -1000
        p = ll.exp() * lp.exp()
        return p / p.sum(1, keepdim=True)

    result = check.bayes_posterior(naive)
    assert not result.passed and "logsumexp" in result.message


def test_gaussian_sample():
    assert check.gaussian_sample(lambda mu, L, n, g: mu + torch.randn(n, 2, generator=g) @ L.T)
    wrong = check.gaussian_sample(lambda mu, L, n, g: mu + torch.randn(n, 2, generator=g) @ L)  # L instead of L^T
    assert not wrong and "covariance" in wrong.message
    assert "shape" in check.gaussian_sample(lambda mu, L, n, g: torch.zeros(n)).message


def test_parameter_count():
    assert check.gaussian_parameter_count(lambda d, c: c * (d + d * (d + 1) // 2) + c - 1)
    assert not check.gaussian_parameter_count(lambda d, c: c * (d + d * d))


def test_unimplemented_and_crashing_answers_are_reported_not_raised():
    def todo(*args):
        raise NotImplementedError

    assert "not implemented yet" in check.bayes_posterior(todo).message
    assert "not implemented yet" in check.gaussian_sample(todo).message
    crashed = check.gaussian_log_density(lambda *a: 1 / 0)
    assert not crashed and "ZeroDivisionError" in crashed.message
    assert "shape" in check.bayes_posterior(lambda ll, lp: lp).message
    assert "<p" in crashed._repr_html_()


def test_gaussian_kl_check():
    def right(mq, lq, mp, lp):
        return 0.5 * (lp - lq + (lq.exp() + (mq - mp) ** 2) / lp.exp() - 1).sum(-1)

    assert check.gaussian_kl(right)
    wrong = check.gaussian_kl(lambda mq, lq, mp, lp: right(mq, lq, mp, lp) / mq.shape[-1])   # a mean, not a sum
    assert not wrong and "Hint" in wrong.message
    # the notebook's KL against N(0, I) (and the library's vae.gaussian_kl) is not the answer
    from genai_lib.models import vae
    assert not check.gaussian_kl(lambda mq, lq, mp, lp: vae.gaussian_kl(mq, lq))


def test_reparameterize_check():
    assert check.reparameterize(lambda mu, lv, eps: mu + (0.5 * lv).exp() * eps)
    assert not check.reparameterize(lambda mu, lv, eps: mu + lv.exp() * eps)  # variance, not std
    detached = check.reparameterize(lambda mu, lv, eps: (mu + (0.5 * lv).exp() * eps).detach())
    assert not detached and "gradient" in detached.message


def test_batch_elbo_check():
    import torch.nn.functional as F

    def right(x, logits, mu, lv):
        rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        return (rec + 0.5 * (1 + lv - mu**2 - lv.exp()).sum(1)).mean()

    def pixel_mean(x, logits, mu, lv):
        rec = -F.binary_cross_entropy_with_logits(logits, x)
        return (rec + 0.5 * (1 + lv - mu**2 - lv.exp()).sum(1)).mean()

    assert check.batch_elbo(right)
    wrong = check.batch_elbo(pixel_mean)
    assert not wrong and "summing" in wrong.message


def test_iwae_from_log_weights_check():
    assert check.iwae_from_log_weights(lambda lw: torch.logsumexp(lw, 0) - math.log(lw.shape[0]))
    naive = check.iwae_from_log_weights(lambda lw: lw.exp().mean(0).log())
    assert not naive and "logsumexp" in naive.message
    forgot_k = check.iwae_from_log_weights(lambda lw: torch.logsumexp(lw, 0))
    assert not forgot_k


def test_chapter3_checks():
    assert check.causal_mask(lambda T: torch.ones(T, T).tril().bool())
    wrong = check.causal_mask(lambda T: torch.ones(T, T).tril(-1).bool())  # forgot the diagonal
    assert not wrong and "diagonal" in wrong.message

    def nucleus(probs, p):
        sorted_p, order = probs.sort(-1, descending=True)
        keep_sorted = sorted_p.cumsum(-1) - sorted_p < p
        return keep_sorted.scatter(-1, order, keep_sorted)

    assert check.top_p_keep(nucleus)
    assert not check.top_p_keep(lambda probs, p: probs >= p * probs.max(-1, keepdim=True).values)
    assert check.perplexity(lambda loss: (math.exp(loss), loss / math.log(2)))
    assert not check.perplexity(lambda loss: (math.exp(loss), loss / math.log(10)))


def test_clip_by_norm_check():
    def right(grads, max_norm):
        total = torch.sqrt(sum((g**2).sum() for g in grads))
        return [g * min(1.0, max_norm / (total.item() + 1e-6)) for g in grads]

    def per_tensor(grads, max_norm):
        return [g * min(1.0, max_norm / (g.norm().item() + 1e-6)) for g in grads]

    assert check.clip_by_norm(right)
    wrong = check.clip_by_norm(per_tensor)
    assert not wrong and "all tensors together" in wrong.message
    assert not check.clip_by_norm(lambda grads, m: [g * m / torch.sqrt(sum((h**2).sum() for h in grads)) for g in grads])


def test_gan_checks():
    import torch.nn.functional as F

    assert check.discriminator_loss(lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean())
    naive = check.discriminator_loss(lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean())
    assert not naive and "softplus" in naive.message
    summed = check.discriminator_loss(lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum())
    assert not summed
    normal = torch.distributions.Normal
    assert check.optimal_discriminator(
        lambda x, md, sd, mg, sg: torch.sigmoid(normal(md, sd).log_prob(x) - normal(mg, sg).log_prob(x)))
    assert not check.optimal_discriminator(  # the ratio p_data / p_g, not D*
        lambda x, md, sd, mg, sg: (normal(md, sd).log_prob(x) - normal(mg, sg).log_prob(x)).exp())

    def gp(critic, real, fake, eps):
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        return ((g.norm(dim=1) - 1) ** 2).mean()

    def gp_squared_norm(critic, real, fake, eps):  # a common slip: ||grad||^2 - 1
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
        return ((g.pow(2).sum(1) - 1) ** 2).mean()

    assert check.gradient_penalty(gp)
    assert not check.gradient_penalty(gp_squared_norm)

    def slerp(z0, z1, t):
        theta = torch.arccos((z0 @ z1) / (z0.norm() * z1.norm()))
        return (torch.sin((1 - t) * theta) * z0 + torch.sin(t * theta) * z1) / torch.sin(theta)

    assert check.slerp(slerp)
    assert not check.slerp(lambda z0, z1, t: (1 - t) * z0 + t * z1)  # linear interpolation


def test_chapter5_checks():
    import math

    def log_prob(x, scale, shift):
        z = (x - shift) / scale
        return (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1) - scale.log().sum()
    assert check.affine_flow_log_prob(log_prob)
    # forgetting the log-determinant is the classic mistake
    assert not check.affine_flow_log_prob(lambda x, scale, shift: (-0.5 * ((x - shift) / scale) ** 2
                                                                    - 0.5 * math.log(2 * math.pi)).sum(-1))

    def q(x0, ab, noise):
        ab = ab.view(-1, 1, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    assert check.q_sample(q)
    assert not check.q_sample(lambda x0, ab, noise: ab.view(-1, 1, 1, 1) * x0 + (1 - ab).view(-1, 1, 1, 1) * noise)

    assert check.alpha_bar(lambda betas: torch.cumprod(1 - betas, 0))
    assert not check.alpha_bar(lambda betas: 1 - torch.cumsum(betas, 0))  # a first-order approximation

    def ddim(x_t, eps, a_t, a_prev):
        x0 = (x_t - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        return math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
    assert check.ddim_step(ddim)
    assert not check.ddim_step(lambda x_t, eps, a_t, a_prev: math.sqrt(a_prev / a_t) * x_t)  # drops the noise term


def test_chapter6_checks():
    def scores(flags, truth):
        hits = (flags & truth).sum().item()
        return (hits / flags.sum().item() if flags.any() else 0.0), hits / truth.sum().item()

    assert check.detector_scores(scores)
    swapped = check.detector_scores(lambda f, t: scores(f, t)[::-1])           # recall and precision swapped
    assert not swapped and "precision =" in swapped.message
    assert "raised ZeroDivisionError" in check.detector_scores(
        lambda f, t: ((f & t).sum().item() / f.sum().item(), (f & t).sum().item() / t.sum().item())).message  # 0 flagged

    def weights(y, k):
        counts = torch.bincount(y, minlength=k).double()
        return 1 / counts[y] / (counts > 0).sum()

    assert check.balancing_weights(weights)
    assert not check.balancing_weights(lambda y, k: 1 / torch.bincount(y, minlength=k).double()[y])   # not normalised
    assert not check.balancing_weights(lambda y, k: 1 / torch.bincount(y, minlength=k).double()[y] / k)  # absent classes


def test_chapter7_checks():
    def step(ab, sigma):
        return int((((1 - ab) / ab).sqrt() - sigma).abs().argmin())
    assert check.noise_level_step(step)
    assert not check.noise_level_step(lambda ab, s: int((ab - s).abs().argmin()))  # compares alpha_bar itself

    def jump(x, ab_t, ab_prev, z):
        r = ab_t / ab_prev
        return math.sqrt(r) * x + math.sqrt(1 - r) * z
    assert check.repaint_jump(jump)
    assert not check.repaint_jump(lambda x, a, b, z: math.sqrt(a) * x + math.sqrt(1 - a) * z)  # jumps from x_0

    def ks(a, b):
        grid = torch.cat([a, b])
        fa = (a[None, :] <= grid[:, None]).double().mean(1)
        fb = (b[None, :] <= grid[:, None]).double().mean(1)
        return (fa - fb).abs().max().item()
    assert check.ks_statistic(ks)
    assert not check.ks_statistic(lambda a, b: abs(a.mean() - b.mean()).item())

    def one_sided(a, b):  # no absolute value: misses a gap in the other direction
        grid = torch.cat([a, b])
        return ((a[None, :] <= grid[:, None]).double().mean(1) - (b[None, :] <= grid[:, None]).double().mean(1)).max().item()
    assert not check.ks_statistic(one_sided)

    def auc(p, n):
        return ((p[:, None] > n[None, :]).double() + 0.5 * (p[:, None] == n[None, :]).double()).mean().item()
    assert check.auroc(auc)
    assert not check.auroc(lambda p, n: (p[:, None] > n[None, :]).double().mean().item())  # ties counted 0
    assert check.cost_per_1000(lambda r, p: p / 3600 * 1000 / r)
    assert not check.cost_per_1000(lambda r, p: p / 60 * 1000 / r)  # per minute, not per hour

    def typical(nll, h, m):
        return (nll.view(-1, m).mean(1) - h).abs()
    assert check.typicality_score(typical)
    assert not check.typicality_score(lambda nll, h, m: nll.view(-1, m).mean(1) - h)  # one-sided: misses too-likely batches


def test_or_reference_keeps_a_right_answer_and_replaces_an_open_exercise(capsys):
    import math
    from genai_lib.check import reference

    def mine(loss):
        return math.exp(loss), loss / math.log(2)

    def open_exercise(loss):
        raise NotImplementedError("Exercise: replace this line with your code")

    assert check.or_reference(mine, "perplexity") is mine
    assert capsys.readouterr().out == ""
    assert check.or_reference(open_exercise, "perplexity") is reference.perplexity
    assert "not solved yet" in capsys.readouterr().out
    with pytest.raises(ValueError, match="name must be one of the exercises"):
        check.or_reference(mine, "no_such_exercise")


@pytest.mark.parametrize("name", ["gaussian_parameter_count", "perplexity", "slerp", "alpha_bar"])
def test_every_reference_answer_passes_its_own_check(name):
    from genai_lib.check import reference

    self_check, answer = reference.REFERENCES[name]
    assert self_check(answer).passed


def test_or_reference_refuses_what_is_not_a_function_or_a_name():
    with pytest.raises(TypeError, match="fn must be the exercise's function"):
        check.or_reference(None, "perplexity")
    with pytest.raises(ValueError, match="name must be one of"):
        check.or_reference(len, ["perplexity"])


def test_chapter_7a_checks():
    def unigram(train, test, V):
        p = (torch.bincount(train, minlength=V) + 1).double()
        return -(p / p.sum()).log()[test].mean().item()
    assert check.unigram_nll(unigram)
    assert not check.unigram_nll(lambda a, b, V: -(torch.bincount(a, minlength=V).double().add(1e-9) / len(a))
                                 .log()[b].mean().item())     # unsmoothed: an unseen id is impossible
    assert check.constrained_probs(lambda p, m: p * m / (p * m).sum(-1, keepdim=True))
    assert not check.constrained_probs(lambda p, m: p * m)     # not renormalised
    assert not check.constrained_probs(lambda p, m: (p * m).softmax(-1))   # softmax of probabilities is wrong
