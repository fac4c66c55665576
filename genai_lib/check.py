"""Self-checks for the exercises: ``check.<name>(your_function)`` says right or wrong.

Each check runs the student's function on a few cases and compares with a reference,
returning a :class:`CheckResult` that shows ✅ or ❌ with a hint. It never raises, so a
student can run a whole notebook; the solution notebooks assert ``.passed`` in a hidden
cell, so CI fails if a solution (or a check) is wrong.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"{'✅' if self.passed else '❌'} {self.name}: {self.message}"

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        return f'<p style="color:{colour}"><b>{"✅" if self.passed else "❌"} {self.name}</b>: {self.message}</p>'


def run_cases(name: str, fn: Callable, cases: list[tuple[tuple, object]], hint: str,
              atol: float = 1e-5, rtol: float = 1e-4) -> CheckResult:
    """Call ``fn(*args)`` for each case and compare with the expected value."""
    for args, expected in cases:
        try:
            got = fn(*args)
        except NotImplementedError:
            return CheckResult(name, False, "not implemented yet: fill in the exercise cell above and run it.")
        except Exception as e:  # the student's bug, reported, not raised
            return CheckResult(name, False, f"your function raised {type(e).__name__}: {e}. Hint: {hint}")
        try:
            got_t = torch.as_tensor(got, dtype=torch.float64)
            exp_t = torch.as_tensor(expected, dtype=torch.float64)
        except Exception:
            return CheckResult(name, False, f"expected a number or tensor, got {type(got).__name__}.")
        if got_t.shape != exp_t.shape:
            return CheckResult(name, False, f"expected shape {tuple(exp_t.shape)}, got {tuple(got_t.shape)}. Hint: {hint}")
        if not torch.allclose(got_t, exp_t, atol=atol, rtol=rtol, equal_nan=False):
            return CheckResult(name, False, f"wrong value (e.g. expected {_short(exp_t)}, got {_short(got_t)}). Hint: {hint}")
    return CheckResult(name, True, f"correct on all {len(cases)} test cases.")


def _short(t: torch.Tensor) -> str:
    flat = t.flatten()[:4].tolist()
    return "[" + ", ".join(f"{v:.4g}" for v in flat) + (", ...]" if t.numel() > 4 else "]") if t.dim() else f"{t.item():.4g}"


# --- Chapter 1: what generative AI is -------------------------------------------------

def gaussian_log_density(fn: Callable) -> CheckResult:
    """``fn(x, mu, sigma)``: elementwise $\\log\\mathcal N(x;\\mu,\\sigma^2)$."""
    def ref(x, mu, sigma):
        return torch.distributions.Normal(mu, sigma).log_prob(x)
    cases = []
    for x, mu, sigma in [(0.0, 0.0, 1.0), (1.5, -0.5, 2.0), ([0.1, 3.0, -2.0], [0.0, 1.0, -1.0], [0.5, 1.0, 3.0])]:
        x, mu, sigma = (torch.tensor(v, dtype=torch.float64) for v in (x, mu, sigma))
        cases.append(((x, mu, sigma), ref(x, mu, sigma)))
    return run_cases("gaussian_log_density", fn, cases,
                     "log N(x; mu, sigma^2) = -(x - mu)^2 / (2 sigma^2) - log(sigma) - log(2 pi) / 2.")


def bayes_posterior(fn: Callable) -> CheckResult:
    """``fn(log_lik, log_prior)``: posterior $p(y\\mid x)$ (N, C) from $\\log p(x\\mid y)$ (N, C) and $\\log p(y)$ (C,)."""
    g = torch.Generator().manual_seed(1)
    log_lik = torch.randn(5, 3, generator=g, dtype=torch.float64) * 3
    log_prior = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64).log()
    far = log_lik - 1000.0  # tiny likelihoods: exp() underflows to 0 unless you work in logs
    cases = [((log_lik, log_prior), (log_lik + log_prior).softmax(1)),
             ((far, log_prior), (far + log_prior).softmax(1))]
    return run_cases("bayes_posterior", fn, cases,
                     "p(y|x) = p(x|y) p(y) / sum_y' p(x|y') p(y'); add the logs, then normalise over classes "
                     "with logsumexp (or softmax) so that very small likelihoods do not underflow.")


def gaussian_sample(fn: Callable) -> CheckResult:
    """``fn(mu, L, n, generator)``: n samples of $\\mathcal N(\\mu, LL^\\top)$ as $x = \\mu + L\\varepsilon$."""
    name, hint = "gaussian_sample", "draw eps ~ N(0, I) with torch.randn(n, d, generator=generator), then x = mu + eps @ L.T."
    mu = torch.tensor([1.0, -2.0])
    L = torch.tensor([[1.0, 0.0], [0.8, 0.5]])
    n = 20000
    try:
        x = torch.as_tensor(fn(mu, L, n, torch.Generator().manual_seed(0)), dtype=torch.float64)
    except NotImplementedError:
        return CheckResult(name, False, "not implemented yet: fill in the exercise cell above and run it.")
    except Exception as e:
        return CheckResult(name, False, f"your function raised {type(e).__name__}: {e}. Hint: {hint}")
    if tuple(x.shape) != (n, 2):
        return CheckResult(name, False, f"expected shape ({n}, 2), got {tuple(x.shape)}. Hint: {hint}")
    mean_err = (x.mean(0) - mu).abs().max().item()
    cov_err = (torch.cov(x.T) - (L @ L.T).double()).abs().max().item()
    # Standard errors at n = 20000 are about 0.01: 0.05 is five of them.
    if mean_err > 0.05:
        return CheckResult(name, False, f"the sample mean is off by {mean_err:.3f}. Hint: {hint}")
    if cov_err > 0.05:
        return CheckResult(name, False, f"the sample covariance is off by {cov_err:.3f} (is it L L^T?). Hint: {hint}")
    return CheckResult(name, True, f"mean and covariance of {n} samples match N(mu, L L^T).")


def gaussian_parameter_count(fn: Callable) -> CheckResult:
    """``fn(d, n_classes)``: parameters of a class-conditional full-covariance Gaussian model."""
    cases = [((d, c), c * (d + d * (d + 1) // 2) + (c - 1)) for d, c in [(2, 2), (64, 10), (784, 10)]]
    return run_cases("gaussian_parameter_count", fn, cases,
                     "each class has a mean (d numbers) and a symmetric covariance (d(d+1)/2 numbers); "
                     "the class prior adds n_classes - 1 free numbers.")




# --- Chapter 2: likelihood, autoencoders and VAEs --------------------------------------

def gaussian_kl(fn: Callable) -> CheckResult:
    """``fn(mu, logvar)``: $\\mathrm{KL}(\\mathcal N(\\mu, \\operatorname{diag}e^{\\text{logvar}})\\Vert\\mathcal N(0,I))$ per row. (N,)"""
    g = torch.Generator().manual_seed(2)
    cases = []
    for shape in [(1, 1), (4, 3), (2, 20)]:
        mu, logvar = torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)
        ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                                torch.distributions.Normal(0.0, 1.0)).sum(-1)
        cases.append(((mu, logvar), ref))
    return run_cases("gaussian_kl", fn, cases,
                     "KL = -1/2 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)), summed over the last dimension "
                     "(one number per row).")


def reparameterize(fn: Callable) -> CheckResult:
    """``fn(mu, logvar, eps)``: $z = \\mu + \\sigma\\varepsilon$ with $\\sigma = e^{\\text{logvar}/2}$, differentiable in mu and logvar."""
    name, hint = "reparameterize", "sigma = exp(logvar / 2) (the standard deviation, not the variance); z = mu + sigma * eps."
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    eps = torch.randn(5, 2, generator=g, dtype=torch.float64)
    result = run_cases(name, fn, [((mu, logvar, eps), (mu + (0.5 * logvar).exp() * eps).detach())], hint)
    if not result:
        return result
    z = fn(mu, logvar, eps)
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        return CheckResult(name, False, "z has no gradient: build it from mu and logvar with tensor operations. Hint: " + hint)
    z.sum().backward()
    if not torch.allclose(logvar.grad, 0.5 * (0.5 * logvar).exp().detach() * eps):
        return CheckResult(name, False, "the gradient with respect to logvar is wrong. Hint: " + hint)
    return CheckResult(name, True, "correct values and gradients.")


def batch_elbo(fn: Callable) -> CheckResult:
    """``fn(x, logits, mu, logvar)``: mean ELBO (nats per image) of a batch, Bernoulli decoder, closed-form KL."""
    g = torch.Generator().manual_seed(4)
    x = torch.rand(6, 1, 28, 28, generator=g, dtype=torch.float64)
    logits = torch.randn(6, 1, 28, 28, generator=g, dtype=torch.float64)
    mu, logvar = torch.randn(6, 8, generator=g, dtype=torch.float64), torch.randn(6, 8, generator=g, dtype=torch.float64)
    rec = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)
    return run_cases("batch_elbo", fn, [((x, logits, mu, logvar), (rec - kl).mean())],
                     "per image: rec = sum over pixels of x log p + (1 - x) log(1 - p) (minus BCE with logits, "
                     "reduction='none', summed over pixels), minus the closed-form KL; then average over the batch. "
                     "A common mistake is averaging over pixels instead of summing.")


def iwae_from_log_weights(fn: Callable) -> CheckResult:
    """``fn(log_w)``: $\\log \\frac1K\\sum_k w_k$ per column from log-weights of shape (K, N), computed stably."""
    g = torch.Generator().manual_seed(5)
    log_w = torch.randn(7, 3, generator=g, dtype=torch.float64) * 2 - 1000.0  # exp() underflows even in float64
    cases = [((log_w,), torch.logsumexp(log_w, 0) - torch.log(torch.tensor(7.0, dtype=torch.float64))),
             ((log_w[:1],), log_w[0])]
    return run_cases("iwae_from_log_weights", fn, cases,
                     "log (1/K) sum_k exp(log_w_k) = logsumexp(log_w, dim=0) - log K; exp() of numbers near -1000 "
                     "underflows, so never leave log space.")


# --- Chapter 3: sequence models, attention and a small GPT ------------------------------

def causal_mask(fn: Callable) -> CheckResult:
    """``fn(T)``: a (T, T) boolean tensor, True where position i may attend to position j (j <= i)."""
    cases = [((T,), torch.ones(T, T).tril().bool()) for T in (1, 3, 6)]
    return run_cases("causal_mask", fn, cases,
                     "position i sees itself and the past, j <= i: the lower triangle including the diagonal "
                     "(torch.tril). True means 'allowed'.")


def top_p_keep(fn: Callable) -> CheckResult:
    """``fn(probs, p)``: boolean mask of the nucleus, the smallest set of most likely tokens with total mass >= p."""
    probs = torch.tensor([[0.5, 0.05, 0.3, 0.15], [0.1, 0.2, 0.3, 0.4]], dtype=torch.float64)
    cases = [((probs, 0.5), torch.tensor([[1, 0, 0, 0], [0, 0, 1, 1]]).bool()),
             ((probs, 0.79), torch.tensor([[1, 0, 1, 0], [0, 1, 1, 1]]).bool()),  # row 2: 0.4 + 0.3 < 0.79 needs the 0.2
             ((probs, 0.85), torch.tensor([[1, 0, 1, 1], [0, 1, 1, 1]]).bool())]  # no p on a float boundary
    return run_cases("top_p_keep", fn, cases,
                     "sort the probabilities in decreasing order, take the cumulative sum, and keep a token if the "
                     "mass of the tokens before it is still below p (so the token that crosses p is kept).")


def perplexity(fn: Callable) -> CheckResult:
    """``fn(loss)``: perplexity and bits per character from a mean cross-entropy in nats: (exp(loss), loss / ln 2)."""
    import math
    cases = [((v,), torch.tensor([math.exp(v), v / math.log(2)])) for v in (0.0, 1.0, 1.5, math.log(65))]

    def as_pair(loss):
        return torch.tensor([float(x) for x in fn(loss)])
    return run_cases("perplexity", as_pair, cases,
                     "perplexity = exp(cross-entropy in nats); bits = nats / ln 2. A uniform guess over 65 "
                     "characters has perplexity 65.")


def clip_by_norm(fn: Callable) -> CheckResult:
    """``fn(grads, max_norm)``: clip a list of tensors by their global norm (as clip_grad_norm_ does)."""
    g = torch.Generator().manual_seed(6)
    grads = [torch.randn(3, 4, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)]
    total = torch.sqrt(sum((t**2).sum() for t in grads)).item()

    def flat(max_norm):
        return torch.cat([t.flatten() for t in fn([t.clone() for t in grads], max_norm)])
    expected = torch.cat([t.flatten() for t in grads])
    cases = [((total * 2,), expected), ((1.0,), expected * (1.0 / (total + 1e-6)))]
    return run_cases("clip_by_norm", flat, cases,
                     "the norm is over all tensors together (sqrt of the sum of all squares), not per tensor; "
                     "scale only when it exceeds max_norm.", rtol=1e-4, atol=1e-5)


# --- Chapter 4: generative adversarial networks ----------------------------------------

def discriminator_loss(fn: Callable) -> CheckResult:
    """``fn(real_logits, fake_logits)``: $-\\overline{\\log D(x)} - \\overline{\\log(1 - D(G(z)))}$ with $D = \\sigma(\\ell)$,
    finite at any logit."""
    from .models.gan import d_loss
    real = torch.tensor([0.0, 2.0, -1.0], dtype=torch.float64)
    fake = torch.tensor([0.5, -3.0, 1.0], dtype=torch.float64)
    extreme = torch.tensor([-200.0, 200.0], dtype=torch.float64)
    cases = [((real, fake), d_loss(real, fake)), ((extreme, extreme), d_loss(extreme, extreme))]
    return run_cases("discriminator_loss", fn, cases,
                     "log D = log sigmoid(l) = -softplus(-l) and log(1 - D) = -softplus(l); average each term over "
                     "its own batch. torch.log(torch.sigmoid(l)) gives -inf at l = -200.")


def optimal_discriminator(fn: Callable) -> CheckResult:
    """``fn(x, mu_data, sigma_data, mu_g, sigma_g)``: $D^*(x)$ for two 1-D Gaussians."""
    x = torch.linspace(-4, 4, 9, dtype=torch.float64)
    cases = []
    for mu_d, s_d, mu_g, s_g in ((0.0, 1.0, 1.0, 1.0), (0.0, 1.0, 0.0, 2.0), (1.0, 0.5, -1.0, 0.5), (0.0, 1.0, 0.0, 1.0)):
        log_pd = torch.distributions.Normal(mu_d, s_d).log_prob(x)
        log_pg = torch.distributions.Normal(mu_g, s_g).log_prob(x)
        cases.append(((x, mu_d, s_d, mu_g, s_g), torch.sigmoid(log_pd - log_pg)))
    return run_cases("optimal_discriminator", fn, cases,
                     "D*(x) = p_data(x) / (p_data(x) + p_g(x)); with log-densities this is sigmoid(log p_data - log p_g), "
                     "which stays accurate in the tails where both densities underflow. Where p_g = p_data, D* = 1/2.")


def gradient_penalty(fn: Callable) -> CheckResult:
    """``fn(critic, real, fake, eps)``: WGAN-GP's mean of $(\\lVert\\nabla f(\\hat x)\\rVert - 1)^2$ at
    $\\hat x = \\epsilon x + (1 - \\epsilon)\\tilde x$ (``eps`` has shape (N, 1))."""
    g = torch.Generator().manual_seed(4)
    W1, W2 = torch.randn(3, 8, generator=g, dtype=torch.float64), torch.randn(8, 1, generator=g, dtype=torch.float64)

    def critic(x):
        return (torch.tanh(x @ W1) @ W2).squeeze(1)

    real, fake = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64)
    eps = torch.rand(6, 1, generator=g, dtype=torch.float64)
    norms = []
    for i in range(6):  # the reference, one sample at a time
        x_hat = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat[None]).sum(), x_hat)
        norms.append(grad.norm())
    expected = ((torch.stack(norms) - 1) ** 2).mean()

    def value(critic, real, fake, eps):
        return fn(critic, real, fake, eps).detach()
    return run_cases("gradient_penalty", value, [((critic, real, fake, eps), expected)],
                     "interpolate, call x_hat.requires_grad_(True), take torch.autograd.grad(critic(x_hat).sum(), x_hat, "
                     "create_graph=True), then the norm per sample (over all but the first dimension), minus 1, squared, "
                     "averaged.")


def slerp(fn: Callable) -> CheckResult:
    """``fn(z0, z1, t)``: spherical interpolation between two latent vectors, for t in [0, 1]."""
    import math
    z0 = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    z1 = torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64)
    theta = math.pi / 2

    def reference(t):
        return (math.sin((1 - t) * theta) * z0 + math.sin(t * theta) * z1) / math.sin(theta)
    cases = [((z0, z1, t), reference(t)) for t in (0.0, 0.25, 0.5, 1.0)]
    return run_cases("slerp", fn, cases,
                     "theta = arccos(z0.z1 / (|z0| |z1|)); slerp = (sin((1-t) theta) z0 + sin(t theta) z1) / sin(theta). "
                     "At t = 0 it must return z0 and at t = 1 z1.")


# --- Chapter 5: normalizing flows and diffusion ----------------------------------------

def affine_flow_log_prob(fn: Callable) -> CheckResult:
    """``fn(x, scale, shift)``: $\\log p(x)$ when $x = \\text{scale} \\odot z + \\text{shift}$, $z \\sim \\mathcal N(0, I)$
    (``x`` (N, d), ``scale`` and ``shift`` (d,), scale > 0), by the change-of-variables formula."""
    g = torch.Generator().manual_seed(5)
    cases = []
    for d in (1, 3):
        x = torch.randn(4, d, generator=g, dtype=torch.float64) * 2
        scale = torch.rand(d, generator=g, dtype=torch.float64) * 2 + 0.2
        shift = torch.randn(d, generator=g, dtype=torch.float64)
        expected = torch.distributions.Normal(shift, scale).log_prob(x).sum(-1)
        cases.append(((x, scale, shift), expected))
    return run_cases("affine_flow_log_prob", fn, cases,
                     "invert: z = (x - shift) / scale; log p(x) = log N(z; 0, I) + log|det dz/dx| = "
                     "sum_j [-z_j^2/2 - log(2 pi)/2] - sum_j log scale_j. One number per row.")


def q_sample(fn: Callable) -> CheckResult:
    """``fn(x0, alpha_bar_t, noise)``: $\\sqrt{\\bar\\alpha_t}\\,x_0 + \\sqrt{1 - \\bar\\alpha_t}\\,\\epsilon$ (``alpha_bar_t`` (N,))."""
    g = torch.Generator().manual_seed(6)
    x0 = torch.rand(3, 1, 2, 2, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(3, 1, 2, 2, generator=g, dtype=torch.float64)
    ab = torch.tensor([0.99, 0.5, 0.01], dtype=torch.float64)
    expected = ab.sqrt().view(-1, 1, 1, 1) * x0 + (1 - ab).sqrt().view(-1, 1, 1, 1) * noise
    return run_cases("q_sample", fn, [((x0, ab, noise), expected)],
                     "the coefficients are square roots (of alpha_bar and of 1 - alpha_bar, so the variance adds to 1), "
                     "and alpha_bar_t has one value per image: reshape it to (N, 1, 1, 1) to broadcast.")


def alpha_bar(fn: Callable) -> CheckResult:
    """``fn(betas)``: $\\bar\\alpha_t = \\prod_{s \\le t}(1 - \\beta_s)$ for every t, a tensor like ``betas``."""
    cases = [((torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64),), torch.tensor([0.9, 0.72, 0.504], dtype=torch.float64))]
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    cases.append(((betas,), torch.cumprod(1 - betas, 0)))
    return run_cases("alpha_bar", fn, cases,
                     "alpha_t = 1 - beta_t and alpha_bar_t is the running product: torch.cumprod(1 - betas, dim=0). "
                     "The first entry is 1 - beta_1, not 1.", atol=1e-10, rtol=1e-8)


def ddim_step(fn: Callable) -> CheckResult:
    """``fn(x_t, eps, alpha_bar_t, alpha_bar_prev)``: one deterministic DDIM step ($\\eta = 0$), no clipping."""
    g = torch.Generator().manual_seed(7)
    x_t = torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64)
    cases = []
    for a_t, a_prev in ((0.3, 0.6), (0.01, 0.2), (0.9, 1.0)):
        x0 = (x_t - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        cases.append(((x_t, eps, a_t, a_prev), math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps))
    return run_cases("ddim_step", fn, cases,
                     "first estimate x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t), then re-noise it to the "
                     "earlier step with the same eps: sqrt(alpha_bar_prev) x0 + sqrt(1 - alpha_bar_prev) eps.")
