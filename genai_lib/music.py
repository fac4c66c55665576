"""Bach chorale melodies as tokens: data, a grammar for sampling, and evaluation.

Chapter 7b trains the course's GPT on the soprano melodies of J. S. Bach's four-part chorales,
which music21 ships in its corpus (Cuthbert & Ariza, 2010), so nothing is downloaded.

**Tokens.** A melody is a sequence of notes and rests, each written as *two* tokens: its pitch
(``"C5"``, ``"G#4"``, or ``"rest"``) and then its duration in quarter notes (``"d1"``,
``"d0.5"``). Alternating tokens keep the vocabulary small (about 60 tokens) so that every token
is seen often, which a counting baseline needs; a combined (pitch, duration) token would
give a larger vocabulary with many rare tokens (Chapter 7b counts them). A model sequence adds a first token for the
mode (``"<major>"`` or ``"<minor>"``) and ``"<end>"`` after the last note.

The n-gram baseline is :mod:`genai_lib.models.ngram`, the synthesizer :mod:`genai_lib.audio`.

**Keys.** Every chorale is transposed to C major or A minor by music21's key analysis (the
Krumhansl-Schmuckler algorithm with Aarden-Essen key profiles, duration-weighted), so
that a model learns scale degrees rather than 24 keys' worth of pitches, and in-key share is
measurable with one scale per mode. The shift is the nearest one (-6 to +5 semitones).
"""
from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from .data import DataError, cache_dir
from .validate import (
    check_choice,
    check_int,
    check_labels,
    check_number,
    check_tensor,
    fail,
)

NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")   # spelling after transposition
REST, END = "rest", "<end>"
MODES = {"major": "<major>", "minor": "<minor>"}
TONIC = {"major": 0, "minor": 9}                        # C major, A minor
# pitch classes in the key: C major; A minor with its raised 6th and 7th (F#, G#) as well as the
# natural ones, as Bach's minor melodies use both (melodic and harmonic minor)
SCALES = {"major": frozenset({0, 2, 4, 5, 7, 9, 11}), "minor": frozenset({9, 11, 0, 2, 4, 5, 7, 6, 8})}
CACHE_NAME, CACHE_FORMAT = "bach_chorales_v1.json", "genai_lib.bach_chorales/1"
TUNE_WINDOW, TUNE_OVERLAP = 8, 0.5                      # see tune_groups
_PITCH = re.compile(r"([A-G][#b]?)(-?\d)")


def pitch_token(midi: int) -> str:
    check_int(midi, "midi", low=12, high=119, fix="MIDI note numbers run from 12 (C0) to 119 (B8)")
    return f"{NAMES[midi % 12]}{midi // 12 - 1}"


def duration_token(quarter_length) -> str:
    """``"d"`` and the length in quarter notes: ``"d1.5"``, or a fraction for tuplets (``"d1/3"``)."""
    if isinstance(quarter_length, bool) or not isinstance(quarter_length, (int, float, Fraction)) \
            or not 0 < quarter_length <= 64:
        fail("quarter_length", "a note length in quarter notes in (0, 64]", repr(quarter_length))
    q = Fraction(quarter_length).limit_denominator(96)
    return f"d{float(q):g}" if (q * 64).denominator == 1 else f"d{q}"


def melody_notes(tokens: list[str]) -> list[tuple[int | None, Fraction]]:
    """(MIDI pitch or None for a rest, length in quarter notes) for each pitch/duration pair."""
    if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
        fail("tokens", "a list of token strings such as ['C5', 'd1', 'rest', 'd0.5']", repr(tokens)[:60],
             error=TypeError)
    if len(tokens) % 2:
        fail("tokens", "pitch/duration pairs (an even number of tokens)", f"{len(tokens)} tokens",
             "Drop the special tokens <major>, <minor> and <end> first")
    notes = []
    for i in range(0, len(tokens), 2):
        p, d = tokens[i], tokens[i + 1]
        m = _PITCH.fullmatch(p)
        if p != REST and (m is None or m.group(1) not in NAMES):
            fail(f"tokens[{i}]", f"a pitch ({', '.join(NAMES)} and an octave) or 'rest'", repr(p))
        try:
            q = Fraction(d[1:]) if d.startswith("d") else None
        except (ValueError, ZeroDivisionError):
            q = None
        if q is None or q <= 0:
            fail(f"tokens[{i + 1}]", "a duration token such as 'd1' or 'd0.5'", repr(d))
        notes.append((None if p == REST else NAMES.index(m.group(1)) + 12 * (int(m.group(2)) + 1), q))
    return notes


def melody_tokens(melody, shift: int = 0) -> list[str]:
    """The tokens of a music21 melody (a Part or any Stream of notes), transposed by ``shift`` semitones.

    Tied notes become one note; a chord gives its top note; grace notes (no duration) are
    dropped; adjacent rests merge, and rests before the first or after the last note are
    dropped, so that equal melodies give equal tokens.
    """
    from music21 import stream

    if not isinstance(melody, stream.Stream):
        fail("melody", "a music21 Stream (e.g. score.parts[0])", type(melody).__name__, error=TypeError)
    check_int(shift, "shift", low=-11, high=11)
    events: list[list] = []
    for n in melody.stripTies().flatten().notesAndRests:
        q = n.duration.quarterLength
        if q == 0:
            continue
        midi = None if n.isRest else max(p.midi for p in n.pitches) + shift
        if midi is None and events and events[-1][0] is None:
            events[-1][1] += q
        else:
            events.append([midi, q])
    while events and events[0][0] is None:
        events.pop(0)
    while events and events[-1][0] is None:
        events.pop()
    return [t for m, q in events for t in (REST if m is None else pitch_token(m), duration_token(q))]


def tokens_to_stream(tokens: list[str], mode: str | None = None, bpm: float | None = None):
    """A music21 Part in 4/4 for the tokens (and the key, C major or A minor, if ``mode`` is given),
    to show, play, or write as MusicXML or MIDI, at ``bpm`` quarter notes per minute if given
    (else music21's default, 120). It starts on a downbeat: a chorale's pickup note is not marked.
    Special tokens must be removed first."""
    from music21 import key, meter, note, pitch, stream, tempo

    notes = melody_notes(tokens)
    if mode is not None:
        check_choice(mode, "mode", tuple(MODES))
    if bpm is not None:
        check_number(bpm, "bpm", 0, low_open=True)
    part = stream.Part()
    part.append(meter.TimeSignature("4/4"))
    if bpm is not None:
        part.append(tempo.MetronomeMark(number=bpm))
    if mode is not None:
        part.append(key.Key("C" if mode == "major" else "a"))
    for midi, q in notes:
        part.append(note.Rest(quarterLength=q) if midi is None else note.Note(pitch.Pitch(midi=midi), quarterLength=q))
    return part


def write_melody(tokens: list[str], path: str | Path, mode: str | None = None, bpm: float | None = None) -> Path:
    """Write the melody as MusicXML (``.musicxml``, ``.xml``) or MIDI (``.mid``) through music21; an
    existing file is never replaced (a temporary file is written, then renamed)."""
    path = Path(path)
    formats = {".musicxml": "musicxml", ".xml": "musicxml", ".mid": "midi", ".midi": "midi"}
    if path.suffix.lower() not in formats:
        fail("path", f"a file name ending in one of {sorted(formats)}", repr(str(path)))
    if path.exists():
        fail("path", "a new file", f"the existing {path}", "Choose another name or delete the file first")
    part = tokens_to_stream(tokens, mode, bpm)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        part.write(formats[path.suffix.lower()], fp=str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def chorale_record(score, name: str = "") -> dict | None:
    """A chorale as a record (see :func:`load_bach_chorales`), or None when the score has no part
    named Soprano: the corpus also holds a keyboard prelude, which is no chorale.

    The key comes from the whole score (all voices), which is more reliable than the melody alone.
    """
    from music21 import stream
    from music21.analysis.discrete import AardenEssen

    if not isinstance(score, stream.Score):
        fail("score", "a music21 Score (music21.converter.parse(...))", type(score).__name__, error=TypeError)
    soprano = [p for p in score.parts if (p.partName or "").strip().lower().startswith("soprano")]
    if not soprano:
        return None
    signatures = sorted({ts.ratioString for ts in soprano[0].recurse().getElementsByClass("TimeSignature")})
    # score.analyze("key") runs exactly this analysis (Aarden-Essen key profiles), but also builds
    # 23 alternative Key objects, which cost more than the analysis itself
    tonic, mode, _ = AardenEssen().process(score)[0]
    shift = (TONIC[mode] - tonic.pitchClass + 6) % 12 - 6           # the nearest transposition, -6..+5
    key_name = tonic.name.lower() if mode == "minor" else tonic.name     # music21 writes "F major", "g minor"
    return {"name": name, "key": f"{key_name} {mode}", "mode": mode, "shift": shift,
            "time_signature": "+".join(signatures) or "none", "tokens": melody_tokens(soprano[0], shift)}


def _parse_chorale(path: Path) -> dict | None:
    from music21 import converter

    # forceSource/storePickle: our JSON cache replaces music21's pickle of every score
    return chorale_record(converter.parse(path, forceSource=True, storePickle=False), path.stem)


def load_bach_chorales(time_signature: str | None = "4/4", refresh: bool = False,
                       progress: bool = True) -> list[dict]:
    """Bach's chorales from music21's corpus: one dict per chorale with its ``"name"`` (BWV number),
    original ``"key"``, ``"mode"``, the ``"shift"`` that transposed it to C major or A minor, its
    ``"time_signature"`` and the soprano melody's ``"tokens"``.

    Only the MusicXML files with a part named Soprano count (the corpus also holds a prelude and
    analyses; taking "the first part" would let the prelude in). Parsing them took about 30 s on
    one CPU core when measured, so the records are cached as JSON in ``cache_dir() /
    "bach_chorales_v1.json"``; ``refresh=True`` parses again. ``time_signature`` keeps the
    chorales in that metre (None keeps all).
    """
    from music21 import corpus

    if time_signature is not None and not isinstance(time_signature, str):
        fail("time_signature", "a string such as '4/4', or None for every chorale", repr(time_signature), error=TypeError)
    for name, value in (("refresh", refresh), ("progress", progress)):
        if not isinstance(value, bool):
            fail(name, "True or False", repr(value), error=TypeError)
    path = cache_dir() / CACHE_NAME
    cached = _read_cache(path) if path.exists() else None
    if cached is None or refresh:
        from tqdm.auto import tqdm

        files = [p for p in sorted(corpus.getComposer("bach")) if p.suffix in (".mxl", ".xml")]
        if not files:
            raise DataError("music21's corpus has no Bach files; reinstall music21 (pip install music21)")
        parsed = [_parse_chorale(p) for p in tqdm(files, desc="parsing chorales", disable=not progress)]
        cached = [c for c in parsed if c is not None]
        _write_json_atomic(path, {"format": CACHE_FORMAT, "chorales": cached})
    return [c for c in cached if time_signature is None or c["time_signature"] == time_signature]


def _read_cache(path: Path) -> list[dict]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        if content["format"] == CACHE_FORMAT:
            return content["chorales"]
    except (ValueError, KeyError, TypeError):
        pass
    raise DataError(f"{path} is not a chorale cache written by load_bach_chorales; it was left untouched. "
                    f"Move it away (or set GENAI_CACHE_DIR) and run again.")


def _write_json_atomic(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(content))
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


def _intervals(tokens: list[str]) -> list[int]:
    pitches = [m for m, _ in melody_notes(tokens) if m is not None]
    return [b - a for a, b in itertools.pairwise(pitches)]


def tune_groups(melodies: list[list[str]], n: int = TUNE_WINDOW, threshold: float = TUNE_OVERLAP) -> list[int]:
    """A group number per melody: two melodies are the same tune when at least ``threshold`` of the
    ``n``-note windows of the shorter one, as intervals (so transposition does not matter), also
    occur in the other; groups are the connected sets. Bach harmonised many hymn tunes several
    times, with passing notes that differ, so exact duplicates miss most of the repeats."""
    _check_melodies(melodies, "melodies")
    check_int(n, "n", low=2)
    check_number(threshold, "threshold", 0, 1, low_open=True)
    windows = [{tuple(iv[i:i + n - 1]) for i in range(len(iv) - n + 2)} for iv in map(_intervals, melodies)]
    shared: Counter = Counter()                     # (i, j) -> number of windows both have
    index: dict[tuple, list[int]] = {}
    for i, w in enumerate(windows):
        for key in w:
            for j in index.setdefault(key, []):
                shared[j, i] += 1
            index[key].append(i)
    parent = list(range(len(melodies)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for (i, j), k in shared.items():
        if k >= threshold * min(len(windows[i]), len(windows[j])):
            parent[root(j)] = root(i)
    roots = [root(i) for i in range(len(melodies))]
    number = {r: g for g, r in enumerate(dict.fromkeys(roots))}
    return [number[r] for r in roots]


def split_chorales(chorales: list[dict], held_out: float = 0.15, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(training, held-out) chorales, split by tune: exact duplicate melodies are dropped (the first
    copy is kept), and every version of a tune (:func:`tune_groups`) goes to the same side, so no
    held-out melody is, or nearly is, a training melody."""
    check_number(held_out, "held_out", 0, 1, low_open=True, high_open=True, fix="0.15 holds out 15% of the tunes")
    check_int(seed, "seed")
    if not isinstance(chorales, list) or len(chorales) < 2 or not all(isinstance(c, dict) and "tokens" in c
                                                                      for c in chorales):
        fail("chorales", "a list of at least two chorale dicts with 'tokens' (load_bach_chorales())",
             repr(chorales)[:60])
    unique, seen = [], set()
    for c in chorales:
        if tuple(c["tokens"]) not in seen:
            seen.add(tuple(c["tokens"]))
            unique.append(c)
    groups = tune_groups([c["tokens"] for c in unique])
    n_groups = max(groups) + 1
    order = torch.randperm(n_groups, generator=torch.Generator().manual_seed(seed)).tolist()
    held = set(order[:max(1, round(held_out * n_groups))])
    return [c for c, g in zip(unique, groups) if g not in held], [c for c, g in zip(unique, groups) if g in held]


@dataclass(frozen=True)
class MelodyVocab:
    """Token strings <-> ids; the special tokens come first, then pitches, "rest" and durations."""

    tokens: tuple[str, ...]

    def __post_init__(self):
        if not isinstance(self.tokens, tuple) or not all(isinstance(t, str) for t in self.tokens):
            fail("tokens", "a tuple of token strings (MelodyVocab.from_melodies)", type(self.tokens).__name__,
                 error=TypeError)
        if len(set(self.tokens)) != len(self.tokens) or self.tokens[:3] != (*MODES.values(), END):
            fail("tokens", f"distinct tokens starting with {(*MODES.values(), END)}", repr(self.tokens[:4]))

    @classmethod
    def from_melodies(cls, melodies: list[list[str]]) -> MelodyVocab:
        _check_melodies(melodies, "melodies")
        notes = {n for m in melodies for n in melody_notes(m)}
        pitches = sorted({p for p, _ in notes if p is not None})
        durations = sorted({d for _, d in notes})
        return cls((*MODES.values(), END, *map(pitch_token, pitches), REST, *map(duration_token, durations)))

    @cached_property
    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str], mode: str | None = None) -> torch.Tensor:
        """Ids of the tokens; with ``mode``, the model sequence ``<mode> tokens... <end>``."""
        if mode is not None:
            check_choice(mode, "mode", tuple(MODES))
            tokens = [MODES[mode], *tokens, END]
        unknown = sorted({t for t in tokens if t not in self.index})
        if unknown:
            fail("tokens", "tokens of the vocabulary", f"unknown tokens {unknown[:5]}",
                 "Build the vocabulary from every melody you will encode (MelodyVocab.from_melodies)")
        return torch.tensor([self.index[t] for t in tokens], dtype=torch.long)

    def decode(self, ids) -> list[str]:
        """Token strings of ids; a model sequence keeps its special tokens (see :meth:`melody`)."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.vocab_size]
        if bad:
            fail("ids", f"token ids in [0, {self.vocab_size})", f"{bad[:5]}")
        return [self.tokens[i] for i in ids]

    def melody(self, ids) -> list[str]:
        """The melody tokens of a generated sequence: the mode token dropped, cut at ``<end>``."""
        tokens = [t for t in self.decode(ids) if t not in MODES.values()]
        return tokens[:tokens.index(END)] if END in tokens else tokens[:len(tokens) // 2 * 2]

    def allowed(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, vocab) mask of the tokens that keep a sequence well formed, for ``allowed_only``: a
        pitch (not a rest) after the mode token; a duration after a pitch or rest; after a note's
        duration a pitch, a rest or <end>, after a rest's duration only a pitch (the melodies have
        no two rests in a row and end on a note); nothing but <end> after <end>; never a mode
        token after the first."""
        check_tensor(idx, "idx", ndim=2, floating=False, what="token ids (B, T)")
        check_labels(idx[:, -1], "idx", self.vocab_size, what="token ids")
        kind = self._kinds
        pitch, rest, end, dur = kind == 2, kind == 4, kind == 1, kind == 3
        # rows by the last token's kind: 0 mode, 1 <end>, 2 pitch, 3 duration, 4 rest
        after = torch.stack([pitch, end, dur, pitch | rest | end, dur])       # (5, V)
        mask = after[kind[idx[:, -1].cpu()]]                                   # (B, V)
        if idx.shape[1] >= 2:                                                  # a rest's duration
            rest_dur = (kind[idx[:, -2].cpu()] == 4) & (kind[idx[:, -1].cpu()] == 3)
            mask[rest_dur] = pitch
        return mask

    @cached_property
    def _kinds(self) -> torch.Tensor:
        """0 mode, 1 <end>, 2 pitch, 3 duration, 4 rest, for each token."""
        return torch.tensor([0 if t in MODES.values() else 1 if t == END else 4 if t == REST
                             else 3 if t.startswith("d") else 2 for t in self.tokens])


def _check_melodies(melodies, name: str) -> None:
    if not isinstance(melodies, (list, tuple)) or not melodies:
        fail(name, "a non-empty list of melodies (lists of tokens)", repr(melodies)[:60])
    for m in melodies:
        melody_notes(m)


@torch.no_grad()
def sequence_nll(model: torch.nn.Module, sequences: list[torch.Tensor]) -> float:
    """A GPT's mean negative log-likelihood per predicted token (nats), scored like :meth:`genai_lib.models.ngram.NGram.nll`.

    A sequence longer than the model's context is scored in overlapping windows: each token sees
    at least half a context of the tokens before it.
    """
    if not isinstance(sequences, (list, tuple)) or not sequences:
        fail("sequences", "a non-empty list of 1-D id tensors (MelodyVocab.encode)", repr(sequences)[:60])
    if not isinstance(model, torch.nn.Module) or not hasattr(getattr(model, "cfg", None), "block_size"):
        fail("model", "a language model with cfg.block_size (genai_lib.models.gpt.GPT)", type(model).__name__,
             error=TypeError)
    block, device = model.cfg.block_size, next(model.parameters()).device
    checked = []
    for ids in sequences:
        check_tensor(ids, "sequences[i]", ndim=1, floating=False, what="a 1-D tensor of token ids")
        if len(ids) < 2:
            fail("sequences[i]", "at least 2 token ids (the first is context, the rest are scored)",
                 f"{len(ids)} ids")
        check_labels(ids, "sequences[i]", model.cfg.vocab_size, what="token ids")
        checked.append(ids.to(device))
    step = max(1, block // 2)                               # new targets per window after the first
    was_training, total, count = model.training, 0.0, 0
    model.eval()
    try:
        for ids in checked:
            a = 1                                           # targets ids[a:b] in each window
            while a < len(ids):
                b = min(len(ids), max(a + step, block + 1))
                s = max(0, b - 1 - block)
                logits, _ = model(ids[None, s:b - 1])       # (1, b-1-s, V): row i predicts ids[s+i+1]
                logp = logits[0, a - 1 - s:].float().log_softmax(-1)
                total -= logp.gather(1, ids[a:b, None]).sum().item()
                count, a = count + b - a, b
    finally:
        model.train(was_training)
    return total / count


def pitch_class_histogram(melodies: list[list[str]]) -> np.ndarray:
    """The share of notes on each pitch class C, C#, ..., B (rests not counted). (12,)"""
    _check_melodies(melodies, "melodies")
    h = np.bincount([m % 12 for t in melodies for m, _ in melody_notes(t) if m is not None], minlength=12)
    return h / max(1, h.sum())


def interval_histogram(melodies: list[list[str]], max_interval: int = 12) -> np.ndarray:
    """The share of each melodic interval between successive notes (across rests), in semitones
    from -max_interval to +max_interval; larger leaps count at the ends. (2 max_interval + 1,)"""
    _check_melodies(melodies, "melodies")
    check_int(max_interval, "max_interval", low=1)
    steps = np.clip([i for t in melodies for i in _intervals(t)], -max_interval, max_interval).astype(int)
    h = np.bincount(steps + max_interval, minlength=2 * max_interval + 1)
    return h / max(1, h.sum())


def in_key_share(melodies: list[list[str]], mode: str) -> float:
    """The share of notes whose pitch class is in the key (``SCALES[mode]``): C major, or A minor
    with F# and G#. Melodies must be transposed (load_bach_chorales does)."""
    check_choice(mode, "mode", tuple(MODES))
    _check_melodies(melodies, "melodies")
    pitches = [m for t in melodies for m, _ in melody_notes(t) if m is not None]
    if not pitches:
        fail("melodies", "melodies with at least one note", "only rests")
    return sum(m % 12 in SCALES[mode] for m in pitches) / len(pitches)


def _windows(tokens: list[str], n: int) -> list[tuple]:
    notes = melody_notes(tokens)
    return [tuple(notes[i:i + n]) for i in range(len(notes) - n + 1)]


def copied_windows(samples: list[list[str]], training: list[list[str]], n: int = 8) -> float:
    """The share of the samples' ``n``-note windows (pitches and durations) that occur in a training
    melody: 0 for melodies made of new phrases, 1 for a copy."""
    check_int(n, "n", low=1)
    _check_melodies(samples, "samples")
    _check_melodies(training, "training")
    seen = {w for t in training for w in _windows(t, n)}
    windows = [w for s in samples for w in _windows(s, n)]
    if not windows:
        fail("samples", f"melodies of at least n={n} notes", "shorter ones", "Use a smaller n")
    return sum(w in seen for w in windows) / len(windows)


def longest_copy(samples: list[list[str]], training: list[list[str]]) -> list[int]:
    """For each sample, the length in notes of its longest run of notes that occurs in a training melody."""
    _check_melodies(samples, "samples")
    _check_melodies(training, "training")
    best, n, alive = [0] * len(samples), 1, set(range(len(samples)))
    while alive:                                   # a run of n + 1 notes contains one of n notes
        seen = {w for t in training for w in _windows(t, n)}
        alive = {i for i in alive if any(w in seen for w in _windows(samples[i], n))}
        for i in alive:
            best[i] = n
        n += 1
    return best
