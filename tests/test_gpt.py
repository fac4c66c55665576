import pytest
import torch
import torch.nn.functional as F

from genai_lib.data import TextBatches
from genai_lib.models.gpt import GPT, GPTConfig, causal_attention, sinusoidal_positions, top_k_filter, top_p_filter
from genai_lib.models.lora import LoRALinear, add_lora, merge_lora
from genai_lib.models.rnn import CharRNN, RNNConfig
from genai_lib.train import TrainConfig, fit

SMALL = GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=32)


def test_causal_attention_equals_pytorch_sdpa():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 8, generator=g) for _ in range(3))
    ours, weights = causal_attention(q, k, v)
    assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-6)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 7))
    assert (weights.triu(1) == 0).all()  # nothing attends to the future


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_changing_a_future_token_never_changes_earlier_logits(positions):
    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**SMALL.__dict__, "positions": positions})).eval()
    idx = torch.randint(0, 11, (1, 12))
    changed = idx.clone()
    changed[0, 8] = (idx[0, 8] + 1) % 11
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.allclose(a[0, :8], b[0, :8], atol=1e-6)
    assert not torch.allclose(a[0, 8:], b[0, 8:])
    maps = model.attention_maps(idx)
    assert len(maps) == 2 and maps[0].shape == (1, 2, 12, 12)


def test_sinusoidal_positions_values():
    pe = sinusoidal_positions(4, 6)
    assert torch.allclose(pe[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    assert pe[3, 0].item() == pytest.approx(torch.sin(torch.tensor(3.0)).item())
    assert pe[3, 3].item() == pytest.approx(torch.cos(torch.tensor(3.0 / 10000 ** (2 / 6))).item())


def test_top_k_keeps_exactly_the_k_largest():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0]])
    kept = torch.isfinite(top_k_filter(logits, 2))
    assert kept.tolist() == [[False, True, False, True, False]]
    assert torch.isfinite(top_k_filter(logits, 10)).all()
    with pytest.raises(ValueError):
        top_k_filter(logits, 0)


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.05, 0.3, 0.15]])
    logits = probs.log()
    assert torch.isfinite(top_p_filter(logits, 0.5)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.8)).tolist() == [[True, False, True, False]]  # 0.5 + 0.3 = 0.8
    assert torch.isfinite(top_p_filter(logits, 0.81)).tolist() == [[True, False, True, True]]
    assert torch.isfinite(top_p_filter(logits, 1.0)).all()
    with pytest.raises(ValueError):
        top_p_filter(logits, 0.0)


def test_model_overfits_a_tiny_sequence():
    torch.manual_seed(0)
    ids = torch.arange(11).repeat(20)  # 0, 1, ..., 10, 0, 1, ...: perfectly predictable
    model = GPT(SMALL)
    history = fit(model, TextBatches(ids, block_size=16, batch_size=16), TrainConfig(steps=150, lr=3e-3), progress=False)
    assert history.last("loss", 10) < 0.05
    out = model.generate(torch.tensor([[3, 4]]), 30, temperature=0)
    assert out[0].tolist() == [(3 + i) % 11 for i in range(32)]  # greedy decoding continues the pattern, past block_size


def test_bad_inputs_are_clear():
    model = GPT(SMALL)
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 11\)"):
        model(torch.tensor([[1, 11]]))
    with pytest.raises(ValueError, match="exceeds block_size"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(TypeError, match="dtype torch.long"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="divisible"):
        GPT(GPTConfig(n_embd=30, n_head=4))


def test_lora_starts_equal_and_merges_exactly():
    torch.manual_seed(0)
    base = GPT(SMALL).eval()
    idx = torch.randint(0, 11, (2, 10))
    reference, _ = base(idx)
    model = add_lora(base, r=2, alpha=4)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith((".A", ".B")) for n in trainable)
    assert torch.allclose(model(idx)[0], reference)  # B = 0 at initialisation
    for m in model.modules():
        if isinstance(m, LoRALinear):
            torch.nn.init.normal_(m.B, std=0.5)
    adapted, _ = model(idx)
    assert not torch.allclose(adapted, reference)
    merged = merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    assert torch.allclose(merged(idx)[0], adapted, atol=1e-5)
    with pytest.raises(ValueError, match="no Linear layer"):
        add_lora(GPT(SMALL), targets=("nothing",))


def test_lora_trains_only_the_adapters():
    torch.manual_seed(0)
    model = add_lora(GPT(SMALL), r=2)
    frozen = model.blocks[0].attn.qkv.base.weight.clone()
    fit(model, TextBatches(torch.arange(11).repeat(20), 16, 8), TrainConfig(steps=20, lr=1e-2), progress=False)
    assert torch.equal(model.blocks[0].attn.qkv.base.weight, frozen)
    assert model.blocks[0].attn.qkv.B.abs().sum() > 0


def test_char_rnn_learns_and_generates():
    torch.manual_seed(0)
    model = CharRNN(RNNConfig(vocab_size=11, n_embd=16, hidden=32))
    fit(model, TextBatches(torch.arange(11).repeat(20), 16, 16), TrainConfig(steps=200, lr=1e-2), progress=False)
    out = model.generate(torch.tensor([[0, 1, 2]]), 20, temperature=0.01)
    assert out[0].tolist() == [i % 11 for i in range(23)]
    with pytest.raises(ValueError, match="token ids"):
        model(torch.tensor([[11]]))


def test_text_batches_are_shifted_windows_and_resumable():
    ids = torch.arange(100)
    b = TextBatches(ids, block_size=8, batch_size=4, seed=1)
    x, y = next(b)
    assert x.shape == (4, 8) and torch.equal(y, x + 1)
    state = b.state_dict()
    expected = next(b)[0]
    c = TextBatches(ids, block_size=8, batch_size=4, seed=1)
    c.load_state_dict(state)
    assert torch.equal(next(c)[0], expected)
    with pytest.raises(ValueError, match="longer than block_size"):
        TextBatches(torch.arange(5), block_size=8, batch_size=2)


def test_next_logits_equal_the_last_position_of_forward():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)).eval()
    idx = torch.randint(0, 11, (3, 5))
    assert torch.allclose(model.next_logits(idx), model(idx)[0][:, -1], atol=1e-6)
