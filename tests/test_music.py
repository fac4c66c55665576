import json
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

music21 = pytest.importorskip("music21")
from music21 import chord, converter, meter, note, stream, tie  # noqa: E402

from genai_lib import audio, music  # noqa: E402
from genai_lib.models import ngram  # noqa: E402
from genai_lib.check import ch07b  # noqa: E402
from genai_lib.data import DataError  # noqa: E402
from genai_lib.models.gpt import GPT, GPTConfig, allowed_only  # noqa: E402

# a melody with a rest, a dotted note, accidentals, a note across the bar line and a triplet
TOKENS = ["C5", "d1", "D5", "d0.5", "rest", "d0.5", "E5", "d2", "G#4", "d1.5", "Bb4", "d0.25", "C5", "d4",
          "A4", "d1/3", "B4", "d1/3", "C5", "d1/3"]
C_MAJOR = [t for p in ("C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5") for t in (p, "d1")]


def score(soprano: str, bass: str, names=("Soprano", "Bass")) -> stream.Score:
    """A two-part score from 'pitch:quarters' words (a quarter note when no length is given)."""
    sc = stream.Score()
    for name, words in zip(names, (soprano, bass)):
        part = stream.Part()
        part.partName = name
        part.append(meter.TimeSignature("4/4"))
        for w in words.split():
            p, q = w.split(":") if ":" in w else (w, "1")
            part.append(note.Note(p, quarterLength=float(q)))
        sc.insert(0, part)
    return sc


def test_tokens_round_trip_through_a_stream_and_a_musicxml_file(tmp_path):
    assert music.melody_tokens(music.tokens_to_stream(TOKENS)) == TOKENS
    path = music.write_melody(TOKENS, tmp_path / "melody.musicxml", mode="major")
    assert music.melody_tokens(converter.parse(path).parts[0]) == TOKENS   # the tied note across the bar is one
    assert music.write_melody(TOKENS, tmp_path / "melody.mid").read_bytes()[:4] == b"MThd"
    before = path.read_bytes()
    with pytest.raises(ValueError, match="path must be a new file"):
        music.write_melody(C_MAJOR, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["melody.mid",
                                                                                           "melody.musicxml"]
    assert music.melody_notes(TOKENS)[:3] == [(72, 1), (74, Fraction(1, 2)), (None, Fraction(1, 2))]


def test_melody_tokens_merges_ties_and_rests_and_takes_a_chords_top_note():
    part = stream.Part()
    part.append(note.Rest(quarterLength=1))                      # a leading rest is dropped
    first, second = note.Note("C4"), note.Note("C4")
    first.tie, second.tie = tie.Tie("start"), tie.Tie("stop")
    part.append([first, second, note.Rest(quarterLength=0.5), note.Rest(quarterLength=0.5)])
    part.append(note.Note("D4").getGrace())                      # no duration: dropped
    part.append([chord.Chord(["C4", "E4", "G4"], quarterLength=2), note.Rest()])
    assert music.melody_tokens(part) == ["C4", "d2", "rest", "d1", "G4", "d2"]
    assert music.melody_tokens(part, shift=2) == ["D4", "d2", "rest", "d1", "A4", "d2"]


def test_chorales_are_transposed_to_c_major_and_a_minor():
    g_major = score("G4 A4 B4 C5 D5:2 B4:2 C5 A4 F#4 A4 G4:4", "G2:2 D3:2 G2:2 G3:2 C3 D3 D2:2 G2:4")
    record = music.chorale_record(g_major, "g")
    assert (record["key"], record["mode"], record["shift"], record["time_signature"]) == ("G major", "major", 5, "4/4")
    assert record["tokens"][:10] == ["C5", "d1", "D5", "d1", "E5", "d1", "F5", "d1", "G5", "d2"]
    assert music.in_key_share([record["tokens"]], "major") == 1.0
    d_major = music.chorale_record(g_major.transpose(7))            # the nearest shift is down 2, not up 10
    assert (d_major["key"], d_major["shift"], d_major["tokens"]) == ("D major", -2, record["tokens"])
    e_minor = score("E4 F#4 G4 A4 B4:2 G4:2 A4 F#4 D#4 F#4 E4:4", "E2:2 B2:2 E3:2 E2:2 A2 B2 B1:2 E2:4")
    record = music.chorale_record(e_minor)
    assert (record["key"], record["shift"]) == ("e minor", 5)
    assert record["tokens"][0] == "A4" and "G#4" in record["tokens"] and record["tokens"][-2] == "A4"
    assert music.chorale_record(score("C4", "C3", names=("Violin", "Bass"))) is None    # no soprano: no chorale


def test_load_bach_chorales_parses_real_chorales_and_caches_them(tmp_path, monkeypatch):
    paths = [p for p in music21.corpus.getComposer("bach") if p.name in ("bwv66.6.mxl", "bwv269.mxl")]
    assert len(paths) == 2
    monkeypatch.setattr(music21.corpus, "getComposer", lambda composer: paths)
    monkeypatch.setenv("GENAI_CACHE_DIR", str(tmp_path))
    chorales = music.load_bach_chorales(time_signature=None, progress=False)
    assert [c["name"] for c in chorales] == ["bwv269", "bwv66.6"]
    bwv66 = chorales[1]
    assert (bwv66["key"], bwv66["shift"]) == ("f# minor", 3)           # music21's own example key
    assert bwv66["tokens"][:4] == ["E5", "d0.5", "D5", "d0.5"]          # C#5 and B4 in F# minor
    cache = tmp_path / music.CACHE_NAME
    assert json.loads(cache.read_text())["chorales"] == chorales

    def no_parsing(path):
        raise AssertionError("the second call must read the cache")

    monkeypatch.setattr(music, "_parse_chorale", no_parsing)
    assert music.load_bach_chorales(time_signature=None, progress=False) == chorales
    assert all(c["time_signature"] == "4/4" for c in music.load_bach_chorales(progress=False))
    cache.write_text("a user's own notes")
    with pytest.raises(DataError, match="left untouched"):
        music.load_bach_chorales(progress=False)
    assert cache.read_text() == "a user's own notes"


def random_melody(g: torch.Generator, n: int = 24) -> list[str]:
    steps = torch.randint(-4, 5, (n,), generator=g).cumsum(0) + 67
    lengths = torch.randint(0, 3, (n,), generator=g)
    return [t for p, q in zip(steps.tolist(), lengths.tolist()) for t in (music.pitch_token(p), ("d0.5", "d1", "d2")[q])]


def transpose(tokens: list[str], semitones: int) -> list[str]:
    return [t if t.startswith("d") or t == "rest" else music.pitch_token(m + semitones)
            for t, (m, _) in zip(tokens, [n for n in music.melody_notes(tokens) for _ in (0, 1)])]


def test_tune_groups_see_through_transposition_and_passing_notes():
    g = torch.Generator().manual_seed(0)
    a, b = random_melody(g), random_melody(g)
    varied = a[:20] + ["rest", "d1"] + a[20:]                      # one rest added: intervals unchanged
    varied2 = a[:-4] + ["C6", "d1", "C4", "d1"]                     # the last two notes changed
    assert music.tune_groups([a, b, transpose(a, 3), varied, varied2]) == [0, 1, 0, 0, 0]
    assert music.tune_groups([a, b, a[:24], a[:12]], n=8) == [0, 1, 0, 2]   # a fragment of 12 notes is a, of 6 too short


def test_split_is_by_tune_drops_duplicates_and_is_fixed():
    g = torch.Generator().manual_seed(1)
    tunes = [random_melody(g) for _ in range(40)]
    chorales = [{"name": f"t{i}", "mode": "major", "tokens": t} for i, t in enumerate(tunes)]
    chorales += [{"name": f"copy{i}", "mode": "major", "tokens": tunes[i]} for i in range(10)]            # duplicates
    chorales += [{"name": f"var{i}", "mode": "minor", "tokens": transpose(tunes[i], -3)} for i in range(10, 20)]
    train, held = music.split_chorales(chorales, held_out=0.25, seed=0)
    assert len(train) + len(held) == 50                             # the 10 exact duplicates dropped
    assert not {tuple(c["tokens"]) for c in train} & {tuple(c["tokens"]) for c in held}
    side = {c["name"]: "train" for c in train} | {c["name"]: "held" for c in held}
    assert all(side[f"var{i}"] == side[f"t{i}"] for i in range(10, 20))    # a tune's versions stay together
    assert sum(side[f"t{i}"] == "held" for i in range(40)) == 10          # a quarter of the 40 tunes
    again = music.split_chorales(chorales, held_out=0.25, seed=0)
    assert [c["name"] for c in again[1]] == [c["name"] for c in held]
    assert [c["name"] for c in music.split_chorales(chorales, 0.25, seed=1)[1]] != [c["name"] for c in held]


def test_vocab_encodes_model_sequences_and_its_grammar_keeps_samples_well_formed():
    vocab = music.MelodyVocab.from_melodies([TOKENS, C_MAJOR])
    assert vocab.tokens[:5] == ("<major>", "<minor>", "<end>", "C4", "D4") and vocab.tokens[-1] == "d4"
    ids = vocab.encode(C_MAJOR[:4], mode="minor")
    assert vocab.decode(ids) == ["<minor>", "C4", "d1", "D4", "d1", "<end>"]
    assert vocab.melody(torch.cat([ids, ids])) == C_MAJOR[:4]        # cut at the first <end>
    mask = vocab.allowed(torch.stack([ids[:1], ids[1:2], ids[2:3], ids[5:6]]))
    kinds = [{t for t, m in zip(vocab.tokens, row) if m} for row in mask.tolist()]
    pitches = {t for t in vocab.tokens if t[0].isupper()}
    durations = {t for t in vocab.tokens if t.startswith("d")}
    # no rest right after the mode token
    assert kinds == [pitches, durations, pitches | {"rest", "<end>"}, {"<end>"}]
    # after a rest: a duration; after a rest's duration: a pitch only (no rest after a rest,
    # no <end> after a rest)
    rest = vocab.encode(["C4", "d1", "rest", "d1"], mode="major")
    rows = [vocab.allowed(rest[None, :4])[0], vocab.allowed(rest[None, :5])[0]]
    assert [{t for t, m in zip(vocab.tokens, row) if m} for row in rows] == [durations, pitches]

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=vocab.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16))
    prompt = vocab.encode(["<major>"]).repeat(16, 1)
    out = model.generate(prompt, 30, generator=torch.Generator().manual_seed(0), processor=allowed_only(vocab.allowed))
    for row in out:
        music.melody_notes(vocab.melody(row))                         # parses: pitch, duration, pitch, ...
    free = model.generate(prompt, 30, generator=torch.Generator().manual_seed(0))
    well_formed = 0
    for row in free:
        try:
            music.melody_notes(vocab.melody(row))
            well_formed += 1
        except ValueError:
            pass
    assert well_formed < 4                                          # an untrained model rarely alternates


def test_ngram_nll_equals_a_hand_computation():
    model = ngram.NGram(ngram.NGramConfig(n=2, k=0.5), vocab_size=3)
    model.fit([torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2])])
    # counts after 0: {1: 2}; after 1: {1: 1, 2: 2}; after 2: none (uniform)
    expected = -(math.log(0.5 / 3.5) + math.log(1 / 3) + math.log(0.5 / 4.5)) / 3
    assert model.nll([torch.tensor([0, 2, 1, 0])]) == pytest.approx(expected, rel=1e-12)
    assert model.probs([1]) == pytest.approx(np.array([0.5, 1.5, 2.5]) / 4.5)
    trigram = ngram.NGram(ngram.NGramConfig(n=3, k=1.0), vocab_size=3).fit([torch.tensor([1, 0, 2])])
    # histories padded with the first token, and their shorter ends (for interpolation)
    assert trigram.counts.keys() == {(1, 1), (1, 0), (1,), (0,), ()}
    out = trigram.generate(torch.tensor([[0, 1]]), 5, generator=torch.Generator().manual_seed(0),
                           allowed=lambda idx: torch.tensor([[False, False, True]]))
    assert out[0, 2:].tolist() == [2] * 5


def test_interpolated_ngram_mixes_the_orders():
    seqs = [torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2])]
    cfg = ngram.NGramConfig(n=2, k=0.5, weights=(0.25, 0.75))
    model = ngram.NGram(cfg, vocab_size=3).fit(seqs)
    unigram = (np.array([0, 3, 2]) + 0.5) / (5 + 1.5)               # tokens after the first: 1, 1, 2, 1, 2
    assert model.order_probs([1]) == pytest.approx(np.stack([unigram, np.array([0, 1, 2]) / 3]))
    assert model.order_probs([2])[1] == pytest.approx(unigram)      # unseen history: the lower order
    assert model.probs([1]) == pytest.approx(0.25 * unigram + 0.75 * np.array([0, 1, 2]) / 3)
    held = [torch.tensor([0, 2, 1, 0])]
    P = model.target_order_probs(held)
    assert -np.log(P @ np.array(cfg.weights)).mean() == pytest.approx(model.nll(held))
    with pytest.raises(ValueError, match="summing to 1"):
        ngram.NGramConfig(n=2, weights=(0.5, 0.6))


def test_sequence_nll_is_the_models_cross_entropy_and_counts_every_token_once():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=16))
    short = torch.tensor([0, 3, 4, 5, 6, 2])
    logits, _ = model(short[None, :-1])
    assert music.sequence_nll(model, [short]) == pytest.approx(F.cross_entropy(logits[0], short[1:]).item(), rel=1e-5)
    long = torch.randint(0, 7, (29,), generator=torch.Generator().manual_seed(0))
    assert math.isfinite(music.sequence_nll(model, [long, short]))
    with torch.no_grad():
        model.head.weight.zero_()                                   # tied to the embedding: every logit is 0
    assert music.sequence_nll(model, [long, short]) == pytest.approx(math.log(7), rel=1e-6)


class _Recorder(torch.nn.Module):
    """A stand-in language model that records the windows it is given; uniform logits."""

    def __init__(self, block_size: int, vocab_size: int = 50):
        super().__init__()
        self.cfg = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=1, n_head=1, n_embd=4)
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.windows = []

    def forward(self, idx):
        assert idx.shape[1] <= self.cfg.block_size
        self.windows.append(idx[0].tolist())
        return torch.zeros(1, idx.shape[1], self.cfg.vocab_size) + self.w, None


@pytest.mark.parametrize("block", [1, 2, 3, 8])
@pytest.mark.parametrize("length", [2, 3, 9, 29])
def test_sequence_nll_scores_each_target_once_with_enough_context(block, length):
    # sequence_nll scores, in each window, the targets after the ones already scored: replay that
    # on the recorded windows (ids are positions, so a window shows which targets it can score)
    model = _Recorder(block)
    model.train()
    ids = torch.arange(length)
    assert music.sequence_nll(model, [ids]) == pytest.approx(math.log(50))
    assert model.training                                          # train mode restored
    scored, last = [], 0
    for w in model.windows:
        targets = [t + 1 for t in w if t + 1 > last]                # row t predicts ids[t + 1]
        assert targets and targets == list(range(last + 1, w[-1] + 2))
        for t in targets:
            assert t - w[0] >= max(1, block // 2) or w[0] == 0      # context of >= block // 2 tokens
        scored += targets
        last = scored[-1]
    assert scored == list(range(1, length))                          # targets 1 .. L-1, once each


def test_sequence_nll_rejects_short_sequences_and_restores_train_mode_on_errors():
    model = _Recorder(4)
    model.train()
    with pytest.raises(ValueError, match="at least 2 token ids"):
        music.sequence_nll(model, [torch.tensor([3])])
    with pytest.raises(ValueError):
        music.sequence_nll(model, [torch.tensor([3, 60])])           # id beyond the vocabulary
    assert model.training


def test_histograms_distance_and_key():
    pcs = music.pitch_class_histogram([C_MAJOR])
    assert pcs[0] == pytest.approx(2 / 8) and pcs[2] == pytest.approx(1 / 8) and pcs[1] == 0
    steps = music.interval_histogram([C_MAJOR], max_interval=2)     # -2 .. +2 semitones
    assert steps == pytest.approx([0, 0, 0, 2 / 7, 5 / 7])
    assert music.interval_histogram([["C4", "d1", "rest", "d1", "C6", "d1"]], 12)[-1] == 1.0   # leaps are clipped
    assert music.in_key_share([C_MAJOR], "major") == 1.0
    chromatic = [t for m in range(60, 72) for t in (music.pitch_token(m), "d1")]
    assert music.in_key_share([chromatic], "major") == 7 / 12 and music.in_key_share([chromatic], "minor") == 9 / 12


def test_novelty_measures():
    g = torch.Generator().manual_seed(2)
    a, b = random_melody(g), random_melody(g)
    assert music.copied_windows([a], [a, b]) == 1.0
    assert music.copied_windows([b], [a]) == 0.0
    spliced = a[:20] + b[20:]                                        # 10 notes of a, then 14 of b
    assert music.longest_copy([a, spliced], [a]) == [24, 10]
    assert music.copied_windows([spliced], [a], n=8) == pytest.approx(3 / 17)


def test_synthesizer_shape_range_pitch_and_determinism():
    cfg = audio.SynthConfig(sample_rate=8000, bpm=120)
    wave = audio.synthesize(["A4", "d2", "rest", "d1", "A5", "d0.5"], cfg)
    assert wave.dtype == np.float32 and wave.shape == (8000 + 4000 + 2000,)    # 120 bpm: a quarter is 0.5 s
    assert np.abs(wave).max() <= cfg.gain and np.abs(wave).max() > 0.3 * cfg.gain
    assert not wave[8000:12000].any()                                   # the rest is silent
    assert abs(wave[0]) < 1e-6 and abs(wave[7999]) < 1e-2               # fades: no clicks
    spectrum = np.abs(np.fft.rfft(wave[:8000]))
    assert np.argmax(spectrum) / 1.0 == pytest.approx(440, abs=1)       # 1 s of A4: 1 Hz bins
    assert np.array_equal(wave, audio.synthesize(["A4", "d2", "rest", "d1", "A5", "d0.5"], cfg))
    low_rate = audio.synthesize(["A5", "d2"], audio.SynthConfig(sample_rate=2000, bpm=60))
    peaks = np.abs(np.fft.rfft(low_rate[:2000]))                        # 880 Hz; 1760 Hz is above Nyquist
    assert peaks[880] > 10 * peaks[np.r_[1:870, 890:1001]].max()        # no aliased harmonic (240 Hz)


def test_synthesizer_tuning_moves_every_pitch():
    sharp = audio.SynthConfig(sample_rate=8000, bpm=60, tuning=440 * 2 ** (0.5 / 12))   # a quarter tone up
    wave = audio.synthesize(["A4", "d1", "E5", "d1"], sharp)
    for note, f in ((wave[:8000], 452.89), (wave[8000:], 452.89 * 2 ** (7 / 12))):
        spectrum = np.abs(np.fft.rfft(note))                               # 1 s per note: 1 Hz bins
        assert np.argmax(spectrum) == pytest.approx(f, abs=1)
    assert np.array_equal(audio.synthesize(["A4", "d1"], audio.SynthConfig(sample_rate=8000, tuning=440.0)),
                          audio.synthesize(["A4", "d1"], audio.SynthConfig(sample_rate=8000)))   # the default
    with pytest.raises(ValueError, match="SynthConfig.tuning"):
        audio.SynthConfig(tuning=0)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="an even number of tokens"):
        music.melody_notes(["C4"])
    with pytest.raises(ValueError, match=r"tokens\[2\] must be a pitch"):
        music.melody_notes(["C4", "d1", "Db4", "d1"])
    with pytest.raises(ValueError, match="unknown tokens"):
        music.MelodyVocab.from_melodies([C_MAJOR]).encode(["C7"])
    with pytest.raises(TypeError, match="melody must be a music21 Stream"):
        music.melody_tokens(C_MAJOR)
    with pytest.raises(ValueError, match="SynthConfig.gain"):
        audio.SynthConfig(gain=2.0)


def test_self_checks_accept_right_answers_and_reject_wrong_ones():
    assert ch07b.midi_frequency(lambda m: 440 * 2 ** ((m - 69) / 12))
    wrong = ch07b.midi_frequency(lambda m: 440 * 2 ** ((m - 60) / 12))
    assert not wrong and "Hint" in wrong.message and "69" in wrong.message
    assert ch07b.add_k_probs(lambda c, k: (c + k) / (c.sum() + k * len(c)))
    unnormalised = ch07b.add_k_probs(lambda c, k: (c + k) / c.sum())
    assert not unnormalised and "k * V" in unnormalised.message
    assert not ch07b.add_k_probs(lambda c, k: c / c.sum())           # no smoothing: nan for unseen histories
