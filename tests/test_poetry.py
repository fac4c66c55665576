import json

import pytest
import torch

from genai_lib import data, poetry
from genai_lib.data import CharTokenizer
from genai_lib.models.gpt import GPT, GPTConfig, allowed_only

JING_YE_SI = "床前明月光，疑是地上霜。举头望明月，低头思故乡。"


@pytest.fixture
def tiny_poems(tmp_path, monkeypatch):
    """A two-poem chinese-poetry file in $GENAI_DATA_DIR, in traditional characters as upstream."""
    entries = [{"author": "李白", "title": "靜夜思", "paragraphs": ["床前明月光，疑是地上霜。", "舉頭望明月，低頭思故鄉。"]},
               {"author": "無名", "title": "殘", "paragraphs": ["一二三四五，上山打老虎。"]}]
    folder = tmp_path / "chinese-poetry"
    folder.mkdir()
    path = folder / "poet.tang.0.json"
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    spec = dict(data.DATASETS["chinese-poetry"], files={"poet.tang.0.json": data.sha256(path)})
    monkeypatch.setitem(data.DATASETS, "chinese-poetry", spec)
    monkeypatch.setenv("GENAI_DATA_DIR", str(tmp_path))
    return path


def test_load_tang_poems_converts_to_simplified_as_an_option(tiny_poems):
    traditional = poetry.load_tang_poems(simplified=False, files=("poet.tang.0.json",))
    simplified = poetry.load_tang_poems(files=("poet.tang.0.json",))
    assert traditional[0]["text"] == "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"
    assert simplified[0]["text"] == JING_YE_SI and simplified[0]["title"] == "静夜思"
    assert poetry.stanzas(simplified) == [(0, JING_YE_SI)]   # the two-line poem has no whole stanza


def test_a_corrupt_file_is_a_clear_error(tiny_poems):
    tiny_poems.write_text("[]", encoding="utf-8")
    with pytest.raises(data.DataError, match="corrupt"):
        poetry.load_tang_poems(files=("poet.tang.0.json",))


def test_form_and_stanzas():
    assert poetry.is_quatrain(JING_YE_SI)
    assert not poetry.is_quatrain(JING_YE_SI.replace("。", "，", 1))      # wrong punctuation
    assert not poetry.is_quatrain(JING_YE_SI[:-1])                       # too short
    assert not poetry.is_quatrain(JING_YE_SI.replace("床", "a"))         # not a Chinese character
    eight = {"text": JING_YE_SI + "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"}
    seven = {"text": "朝辞白帝彩云间，千里江陵一日还。"}
    assert poetry.stanzas([seven, eight]) == [(1, JING_YE_SI), (1, "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。")]
    assert poetry.quatrain_lines(JING_YE_SI) == ["床前明月光", "疑是地上霜", "举头望明月", "低头思故乡"]


def test_split_is_by_poem_disjoint_and_fixed():
    pairs = [(k, f"{'一二三四五'[k % 5]}{'山水'[k % 2]}花月夜，春江潮水连。海上明月共，潮生白云{'天地人'[k % 3]}。")
             for k in range(60) for _ in range(2)]
    train, held = poetry.split_stanzas(pairs, held_out=0.25)
    assert not set(train) & set(held)
    assert train == poetry.split_stanzas(pairs, held_out=0.25)[0]
    assert len(train) + len(held) < len(pairs)       # held-out stanzas repeated in training were dropped
    def stanza(k):   # 20 characters of its own, from the CJK block
        c = [chr(0x4E00 + 20 * k + j) for j in range(20)]
        return "".join(c[0:5]) + "，" + "".join(c[5:10]) + "。" + "".join(c[10:15]) + "，" + "".join(c[15:20]) + "。"
    distinct = [(k, stanza(k)) for k in range(40)]
    train, held = poetry.split_stanzas(distinct, held_out=0.25)
    assert len(held) == 10 and len(train) == 30
    # a variant of a training stanza (three lines within one character) is not held out
    variant = [(0, JING_YE_SI), (1, JING_YE_SI.replace("床", "窗").replace("望", "看"))]
    train, held = poetry.split_stanzas(variant, held_out=0.5)
    assert len(train) == 1 and held == []
    two_changed = JING_YE_SI.replace("床前", "窗外").replace("举头", "抬眼").replace("低头", "垂首")
    train, held = poetry.split_stanzas([(0, JING_YE_SI), (1, two_changed)], held_out=0.5)
    assert len(train) == 1 and len(held) == 1   # three lines differ in two characters: kept
    with pytest.raises(ValueError, match="leaves some poems for training"):
        poetry.split_stanzas([(0, JING_YE_SI), (1, two_changed)], held_out=0.9)


def test_rhyme_groups_follow_mandarin_finals():
    assert poetry.rhymes("霜", "乡") and poetry.rhymes("光", "乡")        # uang, iang: one group
    assert poetry.rhymes("人", "春") and not poetry.rhymes("霜", "人")
    assert poetry.rhyme_group("，") is None and not poetry.rhymes("，", "，")
    # every reading counts: 还 is hái and huán (Tang poets rhymed it with 关), 斜 is xié and xiá (with 家)
    assert poetry.rhymes("还", "关") and poetry.rhymes("还", "来") and poetry.rhymes("斜", "家")
    assert poetry.rhyme_group("还") == "ai" and poetry.rhyme_groups("还") >= {"ai", "an"}
    assert poetry.rhyme_rate([JING_YE_SI]) == 1.0
    assert poetry.rhyme_rate([JING_YE_SI.replace("乡", "人")]) == 0.0


def test_novelty_measures():
    training = {"床前明月光", "疑是地上霜"}
    assert poetry.copied_lines([JING_YE_SI], training) == 0.5
    pieces = poetry.line_pieces(["白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"])
    assert len(pieces) == 4 * 15 and "依山尽" in pieces and "尽，黄" not in pieces
    assert poetry.longest_copy(JING_YE_SI, pieces) == 1                                  # 上
    assert poetry.longest_copy(JING_YE_SI, poetry.line_pieces([JING_YE_SI.replace("乡", "国")])) == 5
    assert poetry.longest_copy(JING_YE_SI, poetry.line_pieces(["望明山水天，一二三四五。六七八九十，百千万亿兆。"])) == 2
    assert poetry.longest_copy(JING_YE_SI, poetry.line_pieces(["一二三四五，一二三四五。一二三四五，一二三四五。"])) == 0


def tiny_gpt(tok, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=25, n_layer=1, n_head=2, n_embd=16))


TOK = CharTokenizer.from_text("\n" + JING_YE_SI + "白日依山尽黄河入海流人春天")


@pytest.mark.parametrize("heads, rhyme", [(None, False), ("白黄入春", False), (None, True), ("床疑举低", True)])
def test_every_constrained_sample_has_the_form(heads, rhyme):
    model = tiny_gpt(TOK)
    constraint = poetry.QuatrainConstraint(TOK, heads=heads, rhyme=rhyme)
    prompt = TOK.encode("\n").repeat(64, 1)
    out = model.generate(prompt, 25, generator=torch.Generator().manual_seed(0), processor=constraint)
    texts = [TOK.decode(row[1:25]) for row in out]
    assert all(poetry.is_quatrain(t) for t in texts) and (out[:, 25] == TOK.encode("\n")[0]).all()
    if heads:
        assert all("".join(t[i] for i in poetry.HEAD_AT) == heads for t in texts)
    if rhyme:
        assert poetry.rhyme_rate(texts) == 1.0 and all(t[10] != t[22] for t in texts)
    # an untrained model, unconstrained, almost never writes the form
    free = model.generate(prompt, 25, generator=torch.Generator().manual_seed(0))
    assert sum(poetry.is_quatrain(TOK.decode(r[1:25])) for r in free) < 4


def test_no_constraint_is_plain_sampling_and_allowed_only_masks():
    model = tiny_gpt(TOK)
    prompt = TOK.encode("\n").repeat(8, 1)
    plain = model.generate(prompt, 20, generator=torch.Generator().manual_seed(3))
    everything = allowed_only(lambda idx: torch.ones(idx.shape[0], TOK.vocab_size, dtype=torch.bool))
    assert torch.equal(plain, model.generate(prompt, 20, generator=torch.Generator().manual_seed(3),
                                             processor=everything))
    odd = allowed_only(lambda idx: (torch.arange(TOK.vocab_size) % 2 == 1).expand(idx.shape[0], -1))
    out = model.generate(prompt, 20, generator=torch.Generator().manual_seed(3), processor=odd)
    assert (out[:, 1:] % 2 == 1).all()
    none = allowed_only(lambda idx: torch.zeros(idx.shape[0], TOK.vocab_size, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one token"):
        model.generate(prompt, 1, processor=none)
    with pytest.raises(TypeError, match="boolean mask"):
        model.generate(prompt, 1, processor=allowed_only(lambda idx: torch.ones(3)))
    with pytest.raises(ValueError, match="the logits' shape"):
        model.generate(prompt, 1, processor=allowed_only(lambda idx: torch.ones(3, dtype=torch.bool)))


def test_character_nll_counts_only_the_characters():
    model = tiny_gpt(TOK)
    rows = poetry.stanza_rows([JING_YE_SI] * 3, TOK)
    assert rows.shape == (3, 26) and TOK.decode(rows[0]) == "\n" + JING_YE_SI + "\n"
    logits, _ = model(rows[:, :-1])
    logp = logits.log_softmax(-1).gather(-1, rows[:, 1:, None])[..., 0]
    expected = -logp[:, [i for i in range(25) if i not in (5, 11, 17, 23, 24)]].mean().item()
    assert poetry.character_nll(model, rows, batch_size=2) == pytest.approx(expected, rel=1e-5)
    per = poetry.character_nll(model, rows, per_stanza=True)
    assert per.shape == (3,) and per.mean().item() == pytest.approx(expected, rel=1e-5)
    assert model.training    # restored


def test_constraint_rejects_bad_settings():
    with pytest.raises(ValueError, match="heads must be four Chinese characters"):
        poetry.QuatrainConstraint(TOK, heads="白黄")
    with pytest.raises(ValueError, match="which it does not have"):
        poetry.QuatrainConstraint(TOK, heads="白黄入龙")
    with pytest.raises(ValueError, match="punctuation and a newline"):
        poetry.QuatrainConstraint(CharTokenizer.from_text("白黄"))
    with pytest.raises(TypeError, match="heads must be a string"):
        poetry.QuatrainConstraint(TOK, heads=list("白黄入春"))
    with pytest.raises(ValueError, match="scores over the tokenizer's"):
        poetry.QuatrainConstraint(TOK)(TOK.encode("\n")[None], torch.zeros(1, 3))
    with pytest.raises(ValueError, match="start must equal the prompt's length"):
        poetry.QuatrainConstraint(TOK).allowed(torch.zeros(1, 30, dtype=torch.long))
