"""Classical Chinese poetry: the Tang poems, the five-character quatrain and its rules.

A five-character quatrain (五言绝句) has four lines of five characters, written with a comma
after lines 1 and 3 and a full stop after lines 2 and 4, and the last characters of lines 2
and 4 rhyme. Chapter 7a trains the course's GPT on four-line stanzas of this form and writes
the form, acrostics (藏头诗) and the rhyme into the sampling as constraints
(:class:`QuatrainConstraint`, a processor for :meth:`GPT.generate`).

Rhyme is judged in modern Mandarin with pypinyin: two characters rhyme when the finals of some
reading of each fall in the same one of the thirteen rhyme groups (十三辙) of Mandarin verse. Tang poets rhymed by
the Middle Chinese of their time, so some of their rhymes no longer rhyme in Mandarin; the
corpus's own rate, measured the same way, is the yardstick.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

import torch

from .data import DATASETS, CharTokenizer, DataError, fetch
from .models.gpt import allowed_only
from .validate import check_int, check_tensor, fail

TANG_FILES = tuple(DATASETS["chinese-poetry"]["files"])
COMMA, STOP, NEWLINE = "，", "。", "\n"
LINE, LINES = 5, 4
STANZA = LINES * (LINE + 1)          # 24 characters: 5 + "，" + 5 + "。" + 5 + "，" + 5 + "。"
PUNCT_AT = {5: COMMA, 11: STOP, 17: COMMA, 23: STOP}
HEAD_AT = (0, 6, 12, 18)             # the first character of each line
RHYME_AT = (10, 22)                  # the last character of lines 2 and 4
_CJK = re.compile(r"[\u4e00-\u9fff]")

# The thirteen rhyme groups of Mandarin verse, by pypinyin's strict finals (v is ü).
RHYME_GROUPS = {
    "a": ("a", "ia", "ua"), "o": ("o", "e", "uo", "io"), "ie": ("ie", "ve"), "i": ("i", "v", "er"),
    "u": ("u",), "ai": ("ai", "uai"), "ei": ("ei", "uei"), "ao": ("ao", "iao"), "ou": ("ou", "iou"),
    "an": ("an", "ian", "uan", "van"), "en": ("en", "in", "uen", "vn"),
    "ang": ("ang", "iang", "uang"), "eng": ("eng", "ing", "ong", "iong", "ueng"),
}
_GROUP_OF = {final: group for group, finals in RHYME_GROUPS.items() for final in finals}


def load_tang_poems(simplified: bool = True, files: tuple[str, ...] = TANG_FILES) -> list[dict]:
    """The Tang poems as dicts with "author", "title" and "text" (the lines joined).

    The files are stored in traditional characters; ``simplified`` converts them with OpenCC
    (``t2s``), which also merges variant forms and so shrinks the vocabulary.
    """
    if not isinstance(files, (tuple, list)) or not files:
        fail("files", f"a non-empty tuple of file names from {TANG_FILES[:2]} ...", repr(files)[:60],
             error=TypeError if not isinstance(files, (tuple, list)) else ValueError)
    convert = _t2s() if simplified else (lambda s: s)
    poems = []
    for name in files:
        path = fetch("chinese-poetry", name)
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
            for e in entries:
                poems.append({"author": convert(e["author"]), "title": convert(e["title"]),
                              "text": convert("".join(e["paragraphs"]))})
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"{path} is not a chinese-poetry file (a JSON list of poems with 'author', 'title' "
                            f"and 'paragraphs'): {type(e).__name__}: {e}. Delete it and run again.") from None
    return poems


def _t2s():
    try:
        import opencc
    except ImportError:
        raise ImportError("simplified=True needs OpenCC: pip install opencc (or pass simplified=False)") from None
    return opencc.OpenCC("t2s").convert


def stanzas(poems: list[dict]) -> list[tuple[int, str]]:
    """(poem index, stanza) for every four-line stanza of the five-character poems.

    A poem counts when its whole text is lines of five characters, each closed by a comma or
    a full stop (quatrains, regulated verse, longer five-character poems). It is cut into
    consecutive stanzas of four lines (the last two lines of a 6-, 10- or 14-line poem are left
    over); a stanza is kept when it has the quatrain's punctuation and only characters of the
    basic CJK block otherwise. That drops lines with gaps "□" or typing errors, and, after the
    simplified conversion, the few stanzas whose rare characters OpenCC maps outside that block.
    """
    if not isinstance(poems, list) or any(not isinstance(p, dict) or "text" not in p for p in poems):
        fail("poems", "a list of poems as dicts with a 'text' (load_tang_poems())", type(poems).__name__, error=TypeError)
    out = []
    for k, poem in enumerate(poems):
        lines = re.findall(r"[^，。？！；]+[，。？！；]", poem["text"])
        if not lines or "".join(lines) != poem["text"] or any(len(s) != LINE + 1 for s in lines):
            continue
        for start in range(0, len(lines) - LINES + 1, LINES):
            text = "".join(lines[start:start + LINES])
            if is_quatrain(text):
                out.append((k, text))
    return out


def split_stanzas(pairs: list[tuple[int, str]], held_out: float = 0.1, seed: int = 0) -> tuple[list[str], list[str]]:
    """(training, held-out) stanzas, split by poem: every stanza of a poem goes to the same side.

    The collection repeats some poems under two authors or in variant versions, which differ by
    a character here and there. So a held-out stanza is dropped when three or more of its four
    lines match a training line in at least four of their five characters: the held-out side
    holds no training stanza, nor a close variant of one.
    """
    from .validate import check_number

    check_number(held_out, "held_out", 0, 1, low_open=True, high_open=True, fix="0.1 holds out a tenth of the poems")
    check_int(seed, "seed")
    if not isinstance(pairs, list) or not pairs or not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
        fail("pairs", "a non-empty list of (poem index, stanza) pairs (stanzas())", repr(pairs)[:60])
    poems = sorted({k for k, _ in pairs})
    order = torch.randperm(len(poems), generator=torch.Generator().manual_seed(seed)).tolist()
    held = {poems[i] for i in order[:max(1, round(held_out * len(poems)))]}
    train = [text for k, text in pairs if k not in held]
    if not train:
        fail("held_out", "a share that leaves some poems for training", f"{held_out} of {len(poems)} poems")
    near = {key for text in set(train) for line in quatrain_lines(text) for key in _masked(line)}
    kept = [text for k, text in pairs if k in held
            and sum(any(key in near for key in _masked(line)) for line in quatrain_lines(text)) < 3]
    return train, kept


def _masked(line: str) -> list[str]:
    """A line with each character in turn replaced by "?": two lines match in at least four of
    five characters exactly when they share one of these keys."""
    return [line[:i] + "?" + line[i + 1:] for i in range(len(line))]


def stanza_rows(texts: list[str], tok: CharTokenizer) -> torch.Tensor:
    """(N, 26) token ids, one stanza per row between two newlines: the model reads tokens 0..24
    and predicts tokens 1..25, so the first newline is the prompt and the last one ends the poem."""
    if not isinstance(tok, CharTokenizer):
        fail("tok", "a CharTokenizer", type(tok).__name__, error=TypeError)
    if not isinstance(texts, list) or not texts:
        fail("texts", "a non-empty list of quatrains", repr(texts)[:60])
    bad = [t for t in texts if not isinstance(t, str) or not is_quatrain(t)]
    if bad:
        fail("texts", "quatrains only (is_quatrain)", f"{len(bad)} other entries, e.g. {bad[0]!r}")
    return tok.encode("".join(NEWLINE + t + NEWLINE for t in texts)).view(len(texts), STANZA + 2)


# the targets that are characters: not the punctuation, not the final newline
CHAR_TARGETS = torch.tensor([i for i in range(STANZA + 1) if i not in PUNCT_AT and i != STANZA])


@torch.no_grad()
def character_nll(model: torch.nn.Module, rows: torch.Tensor, batch_size: int = 512,
                  per_stanza: bool = False) -> float | torch.Tensor:
    """Mean negative log-likelihood (nats) of the 20 characters of each stanza; the punctuation and
    the newline, which the form fixes, would flatter a model that has learned the positions.
    ``per_stanza=True`` gives each stanza's mean (N,), for standard errors."""
    check_tensor(rows, "rows", ndim=2, floating=False, what="stanza rows (N, 26) from stanza_rows")
    if rows.shape[1] != STANZA + 2:
        fail("rows", f"stanza rows of {STANZA + 2} tokens (stanza_rows)", f"shape {tuple(rows.shape)}")
    check_int(batch_size, "batch_size", low=1)
    if not isinstance(per_stanza, bool):
        fail("per_stanza", "True or False", repr(per_stanza), error=TypeError)
    was_training, nll = model.training, []
    model.eval()
    device = next(model.parameters()).device
    for chunk in rows.split(batch_size):
        chunk = chunk.to(device)
        logits, _ = model(chunk[:, :-1])
        logp = logits.float().log_softmax(-1).gather(-1, chunk[:, 1:, None])[..., 0]
        nll.append(-logp[:, CHAR_TARGETS.to(device)].mean(1).cpu())
    model.train(was_training)
    nll = torch.cat(nll).double()
    return nll if per_stanza else nll.mean().item()


def is_quatrain(text: str) -> bool:
    """Four lines of five Chinese characters with the quatrain's punctuation."""
    if not isinstance(text, str):
        fail("text", "a string", type(text).__name__, error=TypeError)
    return len(text) == STANZA and all(
        text[i] == PUNCT_AT[i] if i in PUNCT_AT else bool(_CJK.fullmatch(text[i])) for i in range(STANZA))


def rhyme_groups(char: str) -> frozenset[str]:
    """The Mandarin rhyme groups (十三辙) of all of a character's readings (还 is hái and huán),
    empty for a non-Chinese character."""
    if not isinstance(char, str):
        fail("char", "one character (a str)", type(char).__name__, error=TypeError)
    if len(char) != 1:
        fail("char", "one character", repr(char)[:20])
    return _groups(char)


@lru_cache(maxsize=None)
def _groups(char: str) -> frozenset[str]:
    if not _CJK.fullmatch(char):
        return frozenset()
    from pypinyin import Style, pinyin

    finals = pinyin(char, style=Style.FINALS, strict=True, heteronym=True)[0]
    return frozenset(_GROUP_OF[f] for f in finals if f in _GROUP_OF)


def rhyme_group(char: str) -> str | None:
    """The rhyme group of a character's commonest reading (for statistics), or None."""
    rhyme_groups(char)
    if not _CJK.fullmatch(char):
        return None
    from pypinyin import Style, lazy_pinyin

    return _GROUP_OF.get(lazy_pinyin(char, style=Style.FINALS, strict=True)[0])


def rhymes(a: str, b: str) -> bool:
    """Whether two characters rhyme: some reading of each falls in the same rhyme group."""
    return bool(rhyme_groups(a) & rhyme_groups(b))


def rhyme_rate(texts: list[str]) -> float:
    """The share of quatrains whose lines 2 and 4 end in rhyming characters."""
    if not isinstance(texts, (list, tuple)) or not texts:
        fail("texts", "a non-empty list of quatrains", repr(texts)[:60])
    bad = [t for t in texts if not isinstance(t, str) or not is_quatrain(t)]
    if bad:
        fail("texts", "quatrains only (is_quatrain)", f"{len(bad)} other strings, e.g. {bad[0]!r}",
             "Measure the rhyme of the samples with a valid form")
    return sum(rhymes(t[RHYME_AT[0]], t[RHYME_AT[1]]) for t in texts) / len(texts)


def quatrain_lines(text: str) -> list[str]:
    """The four five-character lines of a quatrain, without punctuation."""
    if not is_quatrain(text):
        fail("text", "a quatrain (is_quatrain)", repr(text)[:40])
    return [text[i:i + LINE] for i in HEAD_AT]


def copied_lines(samples: list[str], training: set[str]) -> float:
    """The share of the samples' lines that appear verbatim as a line of the training stanzas."""
    if not isinstance(training, (set, frozenset)) or not training:
        fail("training", "a non-empty set of training lines", type(training).__name__, error=TypeError)
    lines = [line for s in samples for line in quatrain_lines(s)]
    if not lines:
        fail("samples", "a non-empty list of quatrains", repr(samples)[:40])
    return sum(line in training for line in lines) / len(lines)


def line_pieces(texts: list[str]) -> frozenset[str]:
    """Every run of consecutive characters within a line of the quatrains ``texts`` (1 to 5
    characters): the index :func:`longest_copy` looks runs up in, built once for a training set."""
    if not isinstance(texts, list) or not texts:
        fail("texts", "a non-empty list of quatrains (the training stanzas)", repr(texts)[:60])
    return frozenset(line[i:j] for t in texts for line in quatrain_lines(t)
                     for i in range(LINE) for j in range(i + 1, LINE + 1))


def longest_copy(sample: str, pieces: frozenset[str]) -> int:
    """The length of the longest run of the sample's characters, within one line, that also occurs
    within a line of the training stanzas (``pieces = line_pieces(train)``): 5 is a copied line."""
    if not isinstance(pieces, frozenset) or not pieces:
        fail("pieces", "the training stanzas' line_pieces(...)", type(pieces).__name__, error=TypeError)
    best = 0
    for line in quatrain_lines(sample):
        for i in range(LINE):
            j = i + best + 1          # only a longer run can improve on the best so far
            while j <= LINE and line[i:j] in pieces:
                best, j = j - i, j + 1
    return best


@dataclass(frozen=True)
class QuatrainConstraint:
    """Allowed next tokens for a quatrain, as a processor for ``GPT.generate`` (via ``__call__``).

    The sequence so far is the prompt (``start`` tokens, e.g. a newline) and then the poem.
    At each position only the form's tokens are allowed: the punctuation where it belongs,
    Chinese characters elsewhere, a newline at the end. ``heads`` fixes the first character of
    each line (an acrostic, 藏头诗); ``rhyme`` makes line 4 end in a character of line 2's last
    character's rhyme group (not the same character), and line 2 end in a character that has
    such a partner in the vocabulary.
    """

    tok: CharTokenizer
    start: int = 1
    heads: str | None = None
    rhyme: bool = False

    def __post_init__(self):
        if not isinstance(self.tok, CharTokenizer):
            fail("tok", "the poems' CharTokenizer", type(self.tok).__name__, error=TypeError)
        check_int(self.start, "QuatrainConstraint.start", low=1, fix="the prompt has at least one token")
        missing = [c for c in PUNCT_AT.values() if c not in self.tok.chars] + (
            [] if NEWLINE in self.tok.chars else ["\\n"])
        if missing:
            fail("tok", "a vocabulary with the quatrain's punctuation and a newline", f"one without {missing}")
        if isinstance(self.heads, (list, tuple)):
            fail("heads", "a string of four characters", type(self.heads).__name__, error=TypeError)
        if self.heads is not None:
            if not isinstance(self.heads, str) or len(self.heads) != LINES or not all(map(_CJK.fullmatch, self.heads)):
                fail("heads", "four Chinese characters, one per line", repr(self.heads))
            unknown = [c for c in self.heads if c not in self.tok.chars]
            if unknown:
                fail("heads", "characters of the model's vocabulary", f"{unknown}, which it does not have",
                     "Choose other head characters")
        if not isinstance(self.rhyme, bool):
            fail("rhyme", "True or False", repr(self.rhyme), error=TypeError)

    def allowed(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, vocab) mask of the tokens allowed after the sequences ``idx`` (B, T)."""
        check_tensor(idx, "idx", ndim=2, floating=False, what="token ids (B, T)")
        pos = idx.shape[1] - self.start
        if not 0 <= pos <= STANZA:
            fail("idx", f"the prompt plus at most {STANZA} poem tokens", f"{pos} tokens after the prompt",
                 "QuatrainConstraint.start must equal the prompt's length")
        masks = _masks(self.tok.chars)
        B, V = idx.shape[0], self.tok.vocab_size
        if pos == STANZA:
            return masks["newline"].expand(B, V).clone()
        if pos in PUNCT_AT:
            return masks[PUNCT_AT[pos]].expand(B, V).clone()
        if self.heads is not None and pos in HEAD_AT:
            return masks["one"](self.heads[HEAD_AT.index(pos)]).expand(B, V).clone()
        mask = masks["cjk"].expand(B, V).clone()
        if self.rhyme and pos == RHYME_AT[0]:    # a character that another one of the vocabulary rhymes with
            mask &= masks["rhymable"]
        if self.rhyme and pos == RHYME_AT[1]:    # one that rhymes with line 2's, but not the same one
            target = idx[:, self.start + RHYME_AT[0]].cpu()                        # (B,)
            G = masks["groups"]                                                    # (V, 13)
            mask &= (G[target].float() @ G.T.float() > 0) & (torch.arange(V) != target[:, None])
        return mask

    def __call__(self, idx: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        if logits.shape[-1] != self.tok.vocab_size:
            fail("logits", f"scores over the tokenizer's {self.tok.vocab_size} tokens", f"{logits.shape[-1]}",
                 "Use the tokenizer the model was trained with")
        return allowed_only(self.allowed)(idx, logits)


@lru_cache(maxsize=4)
def _masks(chars: str) -> dict:
    V = len(chars)
    onehot = lambda c: torch.arange(V) == chars.index(c)   # noqa: E731
    names = list(RHYME_GROUPS)
    G = torch.tensor([[g in _groups(c) for g in names] for c in chars])  # (V, 13): character c reads in group g
    return {COMMA: onehot(COMMA), STOP: onehot(STOP), "newline": onehot(NEWLINE),
            "cjk": torch.tensor([bool(_CJK.fullmatch(c)) for c in chars]), "one": onehot, "groups": G,
            "rhymable": (G & (G.sum(0) > 1)).any(1)}   # in a group with another member
