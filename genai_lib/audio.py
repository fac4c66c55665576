"""A tiny additive synthesizer: melody tokens (genai_lib.music) as a waveform to listen to."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .music import melody_notes
from .validate import check_int, check_number, fail


@dataclass(frozen=True)
class SynthConfig:
    sample_rate: int = 16000                  # samples per second
    bpm: float = 90.0                         # quarter notes per minute
    harmonics: tuple[float, ...] = (1.0, 0.5, 0.3, 0.15)   # amplitudes of f, 2f, 3f, ... (an organ-like tone)
    attack: float = 0.01                      # seconds of linear fade-in
    release: float = 0.04                     # seconds of fade-out at the end of each note (no clicks)
    decay: float = 1.5                        # per second: exp(-decay t) after the attack
    gain: float = 0.5                         # the peak amplitude
    tuning: float = 440.0                     # Hz of A4 (MIDI 69); 452.9 is a quarter tone sharp

    def __post_init__(self):
        check_int(self.sample_rate, "SynthConfig.sample_rate", low=1000)
        check_number(self.bpm, "SynthConfig.bpm", 0, low_open=True)
        if not isinstance(self.harmonics, tuple) or not self.harmonics or any(
                not isinstance(a, (int, float)) or a < 0 for a in self.harmonics) or sum(self.harmonics) <= 0:
            fail("SynthConfig.harmonics", "a tuple of non-negative amplitudes, not all zero", repr(self.harmonics))
        for name in ("attack", "release", "decay"):
            check_number(getattr(self, name), f"SynthConfig.{name}", 0)
        check_number(self.gain, "SynthConfig.gain", 0, 1, low_open=True)
        check_number(self.tuning, "SynthConfig.tuning", 0, low_open=True)


def synthesize(tokens: list[str], cfg: SynthConfig = SynthConfig()) -> np.ndarray:
    """The melody as a waveform (float32 in [-gain, gain]) for ``IPython.display.Audio(wave, rate=sr)``.

    Additive synthesis: a note of frequency $f = f_{A4} \\cdot 2^{(m - 69)/12}$ Hz (MIDI pitch $m$,
    $f_{A4}$ = ``cfg.tuning``, 440 Hz by default) is
    $\\sum_h a_h \\sin(2\\pi h f t) / \\sum_h a_h$ times an envelope that fades in, decays and fades
    out; harmonics above the Nyquist frequency are left out (they would alias).
    """
    if not isinstance(cfg, SynthConfig):
        fail("cfg", "a SynthConfig", type(cfg).__name__, error=TypeError)
    notes = melody_notes(tokens)
    if not notes:
        fail("tokens", "at least one note", "no tokens")
    sr, a = cfg.sample_rate, np.asarray(cfg.harmonics)
    pieces = []
    for midi, q in notes:
        t = np.arange(round(float(q) * 60 / cfg.bpm * sr)) / sr                    # seconds into the note
        if midi is None:
            pieces.append(np.zeros_like(t))
            continue
        f = cfg.tuning * 2 ** ((midi - 69) / 12)
        h = np.arange(1, len(a) + 1)
        keep = h * f < sr / 2
        tone = (a[keep, None] * np.sin(2 * np.pi * f * h[keep, None] * t)).sum(0) / a.sum()
        envelope = (np.minimum(1, t / max(cfg.attack, 1 / sr)) * np.exp(-cfg.decay * t)
                    * np.clip((t[-1:] - t) / max(cfg.release, 1 / sr), 0, 1)) if len(t) else t
        pieces.append(tone * envelope)
    return (cfg.gain * np.concatenate(pieces)).astype(np.float32)
