"""Membership inference, canary exposure and DP-SGD (genai_lib.privacy)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from genai_lib import privacy
from genai_lib.models.gpt import GPT, GPTConfig


def test_auroc_matches_sklearn_with_ties_and_the_curve_ends_at_one():
    rng = np.random.default_rng(0)
    m, n = np.round(rng.normal(1, 1, 300), 1), np.round(rng.normal(0, 1, 200), 1)   # many ties
    fpr, tpr, auroc = privacy.roc(m, n)
    assert auroc == pytest.approx(roc_auc_score([1] * 300 + [0] * 200, np.r_[m, n]), abs=1e-12)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_auroc_of_separable_identical_and_reversed_scores():
    assert privacy.roc([2.0, 3.0], [0.0, 1.0])[2] == 1.0
    assert privacy.roc([1.0, 1.0], [1.0, 1.0])[2] == 0.5
    assert privacy.roc([0.0], [1.0])[2] == 0.0


def test_loss_attack_calls_low_loss_members():
    attack = privacy.loss_attack([0.1, 0.2, 0.3], [1.0, 2.0, 3.0])
    assert attack == {"auroc": 1.0, "best_accuracy": 1.0, "tpr_at_low_fpr": 1.0}
    rng = np.random.default_rng(1)
    guess = privacy.loss_attack(rng.normal(size=2000), rng.normal(size=2000))
    assert abs(guess["auroc"] - 0.5) < 0.03 and guess["tpr_at_low_fpr"] < 0.05


def test_exposure_by_hand():
    # 8 candidates, 3 strictly more likely than the canary: rank 4, exposure log2 8 - log2 4 = 1
    logps = [-1.0, -2.0, -3.0, -5.0, -5.5, -6.0, -7.0, -8.0]
    assert privacy.exposure(-5.0, logps) == pytest.approx(1.0)
    assert privacy.exposure(-1.0, logps) == pytest.approx(3.0)    # the most likely: log2 |R|
    assert privacy.exposure(-8.0, logps) == pytest.approx(0.0)    # the least likely
    with pytest.raises(ValueError, match="candidate_logprobs"):
        privacy.exposure(-4.0, logps)                              # the canary is not a candidate


class Table(nn.Module):
    """A next-token model whose log-probabilities depend only on the last token: easy to check."""

    def __init__(self, vocab: int, seed: int = 0):
        super().__init__()
        self.logits = nn.Parameter(torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(seed)))

    def next_logits(self, idx):
        return self.logits[idx[:, -1]]


def test_continuation_logprobs_enumerate_every_secret_with_its_chain_rule_probability():
    model = Table(6)
    prefix, alphabet = torch.tensor([5, 4]), torch.tensor([0, 2, 3])
    seqs, logp = privacy.continuation_logprobs(model, prefix, alphabet, 3, chunk=4)
    assert seqs.shape == (27, 3) and len({tuple(s) for s in seqs.tolist()}) == 27
    assert set(seqs.flatten().tolist()) == {0, 2, 3}
    lp = model.logits.detach().log_softmax(-1)
    for s, value in zip(seqs.tolist(), logp.tolist()):
        expected = lp[4, s[0]] + lp[s[0], s[1]] + lp[s[1], s[2]]
        assert value == pytest.approx(expected.item(), abs=1e-5)
    assert logp.exp().sum() < 1   # the alphabet is part of the vocabulary: not renormalised


def test_continuation_logprobs_on_a_gpt_agree_with_its_forward_pass():
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8)).eval()
    prefix, alphabet = torch.tensor([1, 2, 3]), torch.tensor([4, 5])
    seqs, logp = privacy.continuation_logprobs(gpt, prefix, alphabet, 2)
    full = torch.cat([prefix.expand(4, -1), seqs], 1)
    with torch.no_grad():
        logits, _ = gpt(full)
    lp = logits.log_softmax(-1)
    expected = lp[:, 2, :].gather(1, seqs[:, :1]).squeeze(1) + lp[:, 3, :].gather(1, seqs[:, 1:]).squeeze(1)
    torch.testing.assert_close(logp, expected, atol=1e-5, rtol=1e-5)


def test_dp_fit_spends_the_target_epsilon_and_learns():
    torch.manual_seed(0)
    x = torch.randn(400, 3) + torch.tensor([2.0, -1.0, 0.5])
    mean = nn.Linear(1, 3)     # a Gaussian with a learned mean: loss = squared distance

    def loss(model, batch):
        return (batch - model(torch.ones(len(batch), 1))).pow(2).sum(1)

    before = loss(mean, x).mean().item()
    result = privacy.dp_fit(mean, x, loss, privacy.DPConfig(target_epsilon=2.0, delta=1e-4, epochs=15,
                                                            batch_size=50, lr=0.05, max_grad_norm=1.0))
    assert result["epsilon"] == pytest.approx(2.0, abs=0.1)
    assert result["noise_multiplier"] > 0.5 and result["steps"] == 15 * 8
    assert loss(mean, x).mean().item() < before / 2


def test_dp_noise_grows_as_epsilon_shrinks():
    x = torch.randn(200, 2)

    def loss(model, batch):
        return (batch - model(torch.ones(len(batch), 1))).pow(2).sum(1)

    sigmas = [privacy.dp_fit(nn.Linear(1, 2), x, loss, privacy.DPConfig(target_epsilon=e, epochs=2,
                                                                          batch_size=20))["noise_multiplier"]
              for e in (8.0, 1.0)]
    assert sigmas[1] > 2 * sigmas[0]


def test_dp_fit_refuses_a_batch_mean_loss():
    with pytest.raises(ValueError, match="one loss per example"):
        privacy.dp_fit(nn.Linear(1, 2), torch.randn(10, 2), lambda m, b: (b - m(torch.ones(len(b), 1))).pow(2).mean(),
                       privacy.DPConfig(epochs=1))


def test_dp_config_validates():
    with pytest.raises(ValueError, match="DPConfig.target_epsilon"):
        privacy.DPConfig(target_epsilon=0)
    with pytest.raises(ValueError, match="DPConfig.delta"):
        privacy.DPConfig(delta=1.0)
    assert math.isclose(privacy.DPConfig().delta, 1e-5)


def test_roc_area_equals_auroc_and_best_accuracy_counts_every_example():
    rng = np.random.default_rng(2)
    m, n = rng.normal(0.5, 1, 80), rng.normal(0, 1, 320)
    fpr, tpr, auroc = privacy.roc(m, n)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auroc, abs=1e-12)
    # unbalanced, by hand: members' losses [1, 2], non-members' [3, 1.5, 4, 5]; the best
    # thresholds, loss <= 1 or loss <= 2, are right on 5 of the 6 examples
    attack = privacy.loss_attack([1.0, 2.0], [3.0, 1.5, 4.0, 5.0], max_fpr=0.25)
    assert attack["best_accuracy"] == pytest.approx(5 / 6)
    # at most 25% false positives allows the threshold 2 (FPR exactly 0.25): TPR 1
    assert attack["tpr_at_low_fpr"] == 1.0


def test_dp_fit_removes_its_hooks():
    model = nn.Linear(1, 2)
    privacy.dp_fit(model, torch.randn(50, 2), lambda m, b: (b - m(torch.ones(len(b), 1))).pow(2).sum(1),
                   privacy.DPConfig(epochs=1, batch_size=10))
    assert not model._forward_hooks and not model._backward_hooks
    assert not hasattr(model.weight, "grad_sample") and not hasattr(model.weight, "_norm_sample")
