"""The green-list watermark: the processor, the green lists, and the z-test's null and power."""
import math

import pytest
import torch

from genai_lib import watermark as wm
from genai_lib.models.gpt import GPT, GPTConfig

V = 50


def test_processor_adds_delta_on_green_only():
    cfg = wm.WatermarkConfig(gamma=0.25, delta=1.5, key=7, context=2)
    idx = torch.randint(V, (6, 5), generator=torch.Generator().manual_seed(0))
    logits = torch.randn(6, V, generator=torch.Generator().manual_seed(1))
    out = wm.watermark_logits(cfg, V)(idx, logits)
    green = wm.green_mask(idx[:, -2:], V, cfg)
    assert torch.allclose(out[green], logits[green] + 1.5)
    assert torch.equal(out[~green], logits[~green])
    # exactly 12 of 50 green in every list: round(12.5) = 12 (Python rounds half to even)
    assert (green.sum(1) == wm.green_size(V, cfg)).all()
    assert wm.green_size(V, cfg) == 12


def test_green_lists_depend_on_key_and_context_and_are_deterministic():
    cfg = wm.WatermarkConfig(key=1)
    prev = torch.arange(V)[:, None]
    a, b = wm.green_mask(prev, V, cfg), wm.green_mask(prev, V, cfg)
    assert torch.equal(a, b)
    assert not torch.equal(a, wm.green_mask(prev, V, wm.WatermarkConfig(key=2)))
    assert len({tuple(row.tolist()) for row in a}) == V   # every context its own list
    # each token is green in about a share gamma of the contexts
    share = wm.green_mask(torch.arange(1000)[:, None] % V, V, cfg).float().mean(0)
    assert abs(share.mean().item() - 0.24) < 1e-6 and share.min() > 0.05


def test_green_lists_have_exact_size_and_are_balanced_across_contexts():
    # every list holds exactly green_size tokens (vocabularies where rounding matters), and
    # over many contexts each token is green in a share close to k / V: no token is
    # favoured by the hash (per-token sd over 2000 contexts is at most 0.011; margin 5 sd)
    for vocab, gamma, k in ((50, 0.25, 12), (65, 0.25, 16), (65, 0.1, 6), (1000, 0.5, 500)):
        cfg = wm.WatermarkConfig(gamma=gamma, context=3, key=5)
        assert wm.green_size(vocab, cfg) == k
        prev = torch.randint(vocab, (2000, 3), generator=torch.Generator().manual_seed(0))
        mask = wm.green_mask(prev, vocab, cfg)
        assert (mask.sum(1) == k).all(), (vocab, gamma)
        share = mask.float().mean(0)
        assert (share - k / vocab).abs().max() < 0.055, (vocab, gamma, share.min(), share.max())


def test_null_z_scores_are_standard_normal_for_uniform_tokens():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(V, (2000, 101), generator=g)
    for context in (1, 2):
        d = wm.detect(tokens, V, wm.WatermarkConfig(context=context, key=3))
        assert d.scored == 101 - context
        assert abs(d.z.mean().item()) < 0.08 and abs(d.z.std().item() - 1) < 0.08, (d.z.mean(), d.z.std())
        assert (d.z > 3).float().mean() < 0.005


def test_detect_matches_the_formula_on_a_hand_count():
    cfg = wm.WatermarkConfig(gamma=0.5, key=11)
    tokens = torch.randint(10, (30,), generator=torch.Generator().manual_seed(2))
    green = wm.green_mask(tokens[:-1, None], 10, cfg)[torch.arange(29), tokens[1:]].sum().item()
    d = wm.detect(tokens, 10, cfg)
    assert d.green.item() == green and d.scored == 29
    assert math.isclose(d.z.item(), (green - 0.5 * 29) / math.sqrt(29 * 0.25), rel_tol=1e-6)


def test_toy_watermarked_generator_gives_large_z():
    # a "model" with flat logits and gamma = 12/50 = 0.24: with delta = 2, a token is green
    # with probability 0.24 e^2 / (0.24 e^2 + 0.76) = 0.700
    cfg = wm.WatermarkConfig(delta=2.0)
    process = wm.watermark_logits(cfg, V)
    g = torch.Generator().manual_seed(0)
    idx = torch.zeros(8, 1, dtype=torch.long)
    for _ in range(200):
        p = process(idx, torch.zeros(8, V)).softmax(-1)
        idx = torch.cat([idx, torch.multinomial(p, 1, generator=g)], 1)
    z = wm.detect(idx, V, cfg).z
    # expected (0.700 - 0.24) * 200 / sqrt(200 * 0.24 * 0.76) = 15.2, binomial sd per sample
    # sqrt(200 * 0.7 * 0.3) / 6.04 = 1.07 (measured: mean 14.9, range 11.9 to 17.4)
    assert abs(z.mean().item() - 15.2) < 1.2 and z.min() > 10, z


def test_round_trip_through_gpt_generate_with_context_3():
    # a tiny random GPT samples with the processor; the right key finds the mark, another
    # key sees a z close to N(0, 1)
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
    cfg = wm.WatermarkConfig(delta=2.0, key=123, context=3)
    prompt = torch.randint(V, (16, 4), generator=torch.Generator().manual_seed(1))
    out = gpt.generate(prompt, 150, generator=torch.Generator().manual_seed(2),
                       processor=wm.watermark_logits(cfg, V))
    text = out[:, prompt.shape[1] - cfg.context:]        # the generated part and its context
    right = wm.detect(text, V, cfg)
    other = wm.detect(text, V, wm.WatermarkConfig(delta=2.0, key=124, context=3))
    assert right.scored == 150
    assert right.z.min() > 6, right.z   # near-uniform logits: measured min 11.7
    assert abs(other.z.mean().item()) < 0.8 and other.z.abs().max() < 4, other.z


def test_delta_zero_equals_plain_sampling():
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
    prompt = torch.zeros(3, 2, dtype=torch.long)
    plain = gpt.generate(prompt, 20, generator=torch.Generator().manual_seed(5))
    marked = gpt.generate(prompt, 20, generator=torch.Generator().manual_seed(5),
                          processor=wm.watermark_logits(wm.WatermarkConfig(delta=0.0, context=2), V))
    assert torch.equal(plain, marked)


@pytest.mark.parametrize("call, error, fragment", [
    (lambda: wm.WatermarkConfig(gamma=1.0), ValueError, "WatermarkConfig.gamma must be a finite number in (0, 1)"),
    (lambda: wm.WatermarkConfig(delta=-1), ValueError, "WatermarkConfig.delta must be a finite number >= 0"),
    (lambda: wm.WatermarkConfig(context=0), ValueError, "WatermarkConfig.context must be an integer between 1"),
    (lambda: wm.green_mask(torch.zeros(2, 2, dtype=torch.long), V, wm.WatermarkConfig()), ValueError,
     "prev_tokens must be (B, context) = (B, 1)"),
    (lambda: wm.green_mask(torch.full((2, 1), V), V, wm.WatermarkConfig()), ValueError,
     "prev_tokens must be token ids in [0, 50)"),
    (lambda: wm.detect(torch.zeros(1, dtype=torch.long), V, wm.WatermarkConfig()), ValueError,
     "tokens must be at least context + 1 = 2 tokens"),
    (lambda: wm.detect(torch.zeros(5), V, wm.WatermarkConfig()), TypeError, "tokens must be token ids"),
    (lambda: wm.detect(torch.zeros(5, dtype=torch.long), V, {"gamma": 0.25}), TypeError,
     "cfg must be a WatermarkConfig"),
    (lambda: wm.watermark_logits(wm.WatermarkConfig(), V)(torch.zeros(1, 3, dtype=torch.long),
                                                           torch.zeros(1, 7)),
     ValueError, "logits must be (B, vocab) logits with vocab = 50"),
    (lambda: wm.watermark_logits(wm.WatermarkConfig(context=3), V)(torch.zeros(1, 2, dtype=torch.long),
                                                                    torch.zeros(1, V)),
     ValueError, "idx must be sequences of at least context = 3 tokens"),
    (lambda: wm.green_size(1, wm.WatermarkConfig()), ValueError, "vocab_size must be an integer >= 2"),
])
def test_bad_input(call, error, fragment):
    with pytest.raises(error, match=None) as info:
        call()
    assert fragment in str(info.value), str(info.value)


def test_distinct_contexts_fast_path_matches_unique_rows():
    rows = torch.randint(7, (500, 3), generator=torch.Generator().manual_seed(0))
    fast, which = wm._distinct_rows(rows, 7)
    slow, which_slow = rows.unique(dim=0, return_inverse=True)
    assert torch.equal(fast, slow) and torch.equal(which, which_slow)
    assert torch.equal(fast[which], rows)


def test_detect_with_a_large_vocabulary_and_long_context():
    # 50,000 ** 5 does not fit in int64: the general path, checked against a hand count
    cfg = wm.WatermarkConfig(context=5, key=9)
    tokens = torch.randint(50000, (40,), generator=torch.Generator().manual_seed(1))
    prev = tokens.unfold(0, 6, 1)[:, :5]
    green = wm.green_mask(prev, 50000, cfg)[torch.arange(35), tokens[5:]].sum().item()
    assert wm.detect(tokens, 50000, cfg).green.item() == green
