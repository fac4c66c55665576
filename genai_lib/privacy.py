"""Memorization and privacy (Chapter 8b): membership inference, canary exposure, DP-SGD.

* A **membership-inference attack** guesses whether an example was in the training set from the
  model's loss on it (Yeom et al., 2018): members tend to have lower loss. Its ROC curve and
  AUROC say how much better than chance (0.5) the guess is.
* A **canary** (Carlini et al., 2019) is a made-up secret inserted into the training data. Its
  *exposure* compares its log-probability with that of every other possible secret:
  ``log2 |R| - log2 rank``, from 0 (the least likely of all) through about 1 bit (the median for a
  secret the model has not learned) to ``log2 |R|`` (the most likely of all: it gives it away).
* **DP-SGD** (Abadi et al., 2016) clips each example's gradient and adds Gaussian noise, so that
  the trained model depends little on any one example; Opacus tracks the privacy budget epsilon.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from opacus import PrivacyEngine
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from .validate import check_int, check_number, check_tensor, fail, plain_fields


def _scores(x, name: str) -> np.ndarray:
    a = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if a.ndim != 1 or len(a) == 0:
        fail(name, "a non-empty 1-D array of per-example values", f"shape {a.shape}",
             "Pass one value per example, e.g. the per-example losses")
    if not np.isfinite(a).all():
        fail(name, "finite values", "NaN or inf", "Check the model's losses before attacking them")
    return a


def roc(member_scores, nonmember_scores) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC curve and AUROC of "higher score means member": (false-positive rates, true-positive
    rates, AUROC), with a point at every distinct score. The AUROC is the probability that a
    random member outscores a random non-member (ties count half), 0.5 for a guess and 1 for a
    perfect attack; it equals the area under the curve."""
    m, n = _scores(member_scores, "member_scores"), _scores(nonmember_scores, "nonmember_scores")
    labels = np.r_[np.ones(len(m)), np.zeros(len(n))]
    fpr, tpr, _ = roc_curve(labels, np.r_[m, n], drop_intermediate=False)
    return fpr, tpr, float(roc_auc_score(labels, np.r_[m, n]))


def loss_attack(member_losses, nonmember_losses, max_fpr: float = 0.01) -> dict[str, float]:
    """The loss-threshold membership attack: call an example a member when its loss is low.

    Returns the AUROC, the best accuracy over thresholds on these balanced-or-not sets
    (``best_accuracy``, an optimistic number: the threshold is chosen on the same examples), and
    the true-positive rate at a false-positive rate of at most ``max_fpr`` (``tpr_at_low_fpr``),
    the kind of number Carlini et al. (2022) argue matters (they use 0.1% and 0.001%, which need
    many more non-members): can the attack be *sure* about anyone?
    """
    check_number(max_fpr, "max_fpr", 0, 1)
    m, n = _scores(member_losses, "member_losses"), _scores(nonmember_losses, "nonmember_losses")
    fpr, tpr, auroc = roc(-m, -n)
    accuracy = (tpr * len(m) + (1 - fpr) * len(n)) / (len(m) + len(n))
    return {"auroc": auroc, "best_accuracy": float(accuracy.max()),
            "tpr_at_low_fpr": float(tpr[fpr <= max_fpr].max())}


def exposure(canary_logprob: float, candidate_logprobs) -> float:
    """Exposure of a canary in bits: ``log2 |R| - log2 rank``, where ``candidate_logprobs`` holds
    the log-probability of every possible secret in R (the canary's included) and the rank is
    1 + the number of candidates the model finds strictly more likely than the canary."""
    c = _scores(candidate_logprobs, "candidate_logprobs")
    if isinstance(canary_logprob, torch.Tensor) and canary_logprob.numel() == 1:
        canary_logprob = canary_logprob.item()
    check_number(canary_logprob, "canary_logprob")
    if not (c == canary_logprob).any():
        fail("candidate_logprobs", "the log-probabilities of all candidates, the canary's among them",
             "no candidate with the canary's log-probability", "Score the canary with the same function")
    rank = 1 + int((c > canary_logprob).sum())
    return math.log2(len(c)) - math.log2(rank)


@torch.no_grad()
def continuation_logprobs(model: nn.Module, prefix: torch.Tensor, alphabet: torch.Tensor, length: int,
                          chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Every continuation of ``prefix`` by ``length`` tokens of ``alphabet``, with its
    log-probability under a next-token model (``model.next_logits(idx) -> (B, vocab)``).

    Returns (continuations (|alphabet|**length, length), log-probabilities). One level at a time:
    the last level needs only |alphabet|**(length - 1) forward passes, not |alphabet|**length.
    The probabilities are over the whole vocabulary, not renormalised to the alphabet.
    """
    if not hasattr(model, "next_logits"):
        fail("model", "a next-token model with next_logits(idx) (e.g. genai_lib.models.gpt.GPT)",
             type(model).__name__, error=TypeError)
    check_tensor(prefix, "prefix", ndim=1, floating=False, what="a 1-D sequence of token ids")
    check_tensor(alphabet, "alphabet", ndim=1, floating=False, what="a 1-D tensor of token ids")
    check_int(length, "length", low=1)
    check_int(chunk, "chunk", low=1)
    if len(alphabet) ** length > 10 ** 7:
        fail("length", f"at most 10 million continuations ({len(alphabet)} ** length)",
             f"{len(alphabet)} ** {length}", "Use a shorter secret or a smaller alphabet")
    device = next(model.parameters()).device
    prefix, alphabet = prefix.to(device), alphabet.to(device)
    seqs = torch.empty(1, 0, dtype=torch.long, device=device)
    logp = torch.zeros(1, device=device)
    for _ in range(length):
        x = torch.cat([prefix.expand(len(seqs), -1), seqs], 1)
        nxt = torch.cat([model.next_logits(x[i:i + chunk]).log_softmax(-1)[:, alphabet]
                         for i in range(0, len(x), chunk)])                     # (n, |alphabet|)
        logp = (logp[:, None] + nxt).flatten()
        seqs = torch.cat([seqs.repeat_interleave(len(alphabet), 0), alphabet.repeat(len(seqs))[:, None]], 1)
    return seqs.cpu(), logp.cpu()


@dataclass(frozen=True)
class DPConfig:
    """DP-SGD: clip each example's gradient to ``max_grad_norm``, add Gaussian noise, and choose
    the noise so that ``epochs`` passes over the data spend at most ``target_epsilon`` at
    ``delta``. Batches are Poisson samples: each example is in a batch with probability
    q = 1 / (number of batches of ``batch_size`` in the data), so the expected batch is about
    ``batch_size``. Neighbouring data sets differ by one example added or removed."""
    target_epsilon: float = 8.0
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    epochs: int = 10
    batch_size: int = 100
    lr: float = 1e-3

    def __post_init__(self):
        plain_fields(self)
        check_number(self.target_epsilon, "DPConfig.target_epsilon", 0, low_open=True)
        check_number(self.delta, "DPConfig.delta", 0, 1, low_open=True, high_open=True)
        check_number(self.max_grad_norm, "DPConfig.max_grad_norm", 0, low_open=True)
        check_int(self.epochs, "DPConfig.epochs", low=1)
        check_int(self.batch_size, "DPConfig.batch_size", low=1)
        check_number(self.lr, "DPConfig.lr", 0, low_open=True)


class _PerExample(nn.Module):
    # Opacus needs a module whose forward returns the loss of each example.
    def __init__(self, model: nn.Module, loss: Callable[[nn.Module, torch.Tensor], torch.Tensor]):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.loss(self.model, x)


class _Reduce(nn.Module):
    reduction = "mean"   # Opacus sets "none" when it needs the per-example losses

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        return losses if self.reduction == "none" else losses.mean()


def dp_fit(model: nn.Module, x: torch.Tensor, per_example_loss: Callable[[nn.Module, torch.Tensor], torch.Tensor],
           cfg: DPConfig, seed: int = 0) -> dict:
    """Train ``model`` in place with DP-SGD (Opacus, Adam, ghost clipping) on the examples ``x``.

    ``per_example_loss(model, batch)`` returns one loss per example, shape (B,). Returns the
    spent ``epsilon`` (at ``cfg.delta``), the ``noise_multiplier`` Opacus chose, the number of
    ``steps`` and the mean loss of each step (``losses``). The noisy gradient goes to Adam, which
    is allowed: whatever is computed from a private gradient stays private. Ghost clipping
    computes each example's gradient norm without storing its gradient (measured about ten times
    faster than storing them for the course's MLP VAE on a CPU); it supports the layers of an MLP
    (Linear, and layers without parameters). Seeds torch's global generator with ``seed`` (the
    Poisson batches and the noise come from it) and leaves the model in eval mode, with Opacus's
    hooks removed.
    """
    if not isinstance(model, nn.Module):
        fail("model", "a torch.nn.Module", type(model).__name__, error=TypeError)
    if not isinstance(cfg, DPConfig):
        fail("cfg", "a DPConfig", type(cfg).__name__, error=TypeError)
    check_tensor(x, "x", floating=True, what="a tensor of training examples (N, ...)")
    if len(x) < 2:
        fail("x", "at least 2 training examples", f"{len(x)}")
    if not callable(per_example_loss):
        fail("per_example_loss", "a function (model, batch) -> losses (B,)", repr(per_example_loss)[:60],
             error=TypeError)
    with torch.no_grad():
        probe = per_example_loss(model, x[:2])
    if not isinstance(probe, torch.Tensor) or probe.shape != (2,):
        got = tuple(probe.shape) if isinstance(probe, torch.Tensor) else type(probe).__name__
        fail("per_example_loss", "one loss per example: shape (B,) for a batch of B", f"{got} for B = 2",
             "Do not average over the batch: DP-SGD clips each example's gradient")
    torch.manual_seed(seed)
    wrapped = _PerExample(model, per_example_loss)
    optimizer = torch.optim.Adam(wrapped.parameters(), cfg.lr)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=cfg.batch_size)
    with warnings.catch_warnings():
        # Opacus warns that its fast (not cryptographically secure) noise is for experiments, and
        # when its Renyi orders could be extended for a slightly tighter (smaller) epsilon
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
        warnings.filterwarnings("ignore", message=".*[Oo]ptimal order.*")
        warnings.filterwarnings("ignore", message=".*full backward hook.*")
        engine = PrivacyEngine(accountant="rdp")
        wrapped, optimizer, criterion, loader = engine.make_private_with_epsilon(
            module=wrapped, optimizer=optimizer, criterion=_Reduce(), data_loader=loader,
            target_epsilon=cfg.target_epsilon, target_delta=cfg.delta, epochs=cfg.epochs,
            max_grad_norm=cfg.max_grad_norm, grad_sample_mode="ghost")
        losses, steps = [], 0
        for _ in range(cfg.epochs):
            for (batch,) in loader:
                steps += 1
                if len(batch) == 0:   # possible with Poisson batches, if rare: skipping a step
                    continue          # releases less than the accountant counts, so epsilon holds
                loss = criterion(wrapped(batch))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        epsilon = engine.get_epsilon(cfg.delta)
    wrapped._close()                         # remove the per-example hooks from the model
    model.eval()
    return {"epsilon": float(epsilon), "noise_multiplier": float(optimizer.noise_multiplier),
            "steps": steps, "losses": losses}
