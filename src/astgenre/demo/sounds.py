"""The demo corpus's audio: each class synthesised with its own rhythm, timbre and register; tempo, key and
instrument parameters vary per artist (:class:`Style`) and per track, all drawn from the corpus seed."""

from __future__ import annotations

import functools
import io
import zlib
from dataclasses import dataclass

import av
import numpy as np
from scipy import signal

from astgenre.labels import CLASSES

# ------------------------------------------------------------------------------------------- signal building


_TABLE_N = 4096
_PHASE = np.arange(_TABLE_N) / _TABLE_N
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def _table(amps) -> np.ndarray:
    """One period of a harmonic waveform with the given partial amplitudes (partial 1 first), peak 1."""
    amps = np.asarray(amps, dtype=float)
    k = np.arange(1, len(amps) + 1)
    wave = amps @ np.sin(2 * np.pi * k[:, None] * _PHASE[None, :])
    return wave / np.abs(wave).max()


@functools.lru_cache(maxsize=512)
def _saw(partials: int) -> np.ndarray:
    return _table(1.0 / np.arange(1, partials + 1))


def _partials(freq: float, sr: int, most: int) -> int:
    """How many harmonics of freq stay below 0.45 sr, at most `most` (at least 1)."""
    return max(1, min(most, int(0.45 * sr / freq)))


def _osc(
    table: np.ndarray, freq: float, n: int, sr: int, vib_rate: float = 0.0, vib_depth: float = 0.0, phase: float = 0.0
) -> np.ndarray:
    """Wavetable oscillator, optionally with vibrato (depth as a fraction of freq)."""
    if vib_depth:
        t = np.arange(n) / sr
        cycles = np.cumsum(freq * (1 + vib_depth * np.sin(2 * np.pi * vib_rate * t + 7 * phase))) / sr + phase
    else:
        cycles = freq * np.arange(n) / sr + phase
    return table[(cycles * _TABLE_N).astype(np.intp) & (_TABLE_N - 1)]  # cycles >= 0, _TABLE_N a power of 2


def _env(n: int, sr: int, attack: float, release: float, decay: float | None = None) -> np.ndarray:
    """Linear attack, optional exponential decay (time constant in s), linear release to 0 at the end."""
    e = np.ones(n)
    a = min(n, max(1, int(attack * sr)))
    e[:a] = np.linspace(0.0, 1.0, a, endpoint=False)
    if decay:
        e *= np.exp(-np.arange(n) / (decay * sr))
    r = min(n, max(1, int(release * sr)))
    e[n - r :] *= np.linspace(1.0, 0.0, r)
    return e


def _filter(x: np.ndarray, sr: int, btype: str, cutoff, order: int = 2) -> np.ndarray:
    nyq = sr / 2
    edges = np.clip(np.atleast_1d(np.asarray(cutoff, dtype=float)), 20.0, 0.9 * nyq) / nyq
    sos = signal.butter(order, edges if len(edges) > 1 else edges[0], btype=btype, output="sos")
    return signal.sosfilt(sos, x)


def _place(buf: np.ndarray, sound: np.ndarray, start: float, sr: int, gain: float = 1.0) -> None:
    i = int(round(start * sr))
    if 0 <= i < len(buf):
        m = min(len(sound), len(buf) - i)
        buf[i : i + m] += gain * sound[:m]


def _pan(mono: np.ndarray, pan: float) -> np.ndarray:
    angle = (pan + 1) * np.pi / 4
    return np.stack([np.cos(angle) * mono, np.sin(angle) * mono])


def _pluck(rng, freq: float, seconds: float, sr: int, damping: float, brightness: float) -> np.ndarray:
    """Karplus-Strong plucked string, computed one delay-line length at a time."""
    n = max(1, int(seconds * sr))
    period = max(2, int(round(sr / freq)))
    burst = signal.lfilter([brightness], [1, brightness - 1], rng.uniform(-1, 1, period))
    y = np.zeros(n + period + 1)
    off = period + 1
    y[off : off + min(period, n)] = burst[: min(period, n)]
    for s in range(0, n, period):
        e = min(s + period, n)
        y[off + s : off + e] += (
            0.5 * damping * (y[off + s - period : off + e - period] + y[off + s - period - 1 : off + e - period - 1])
        )
    out = y[off:]
    return out * _env(n, sr, 0.001, 0.01)


# drums: one-shots rendered once per track and placed at each hit


def _kick(rng, sr, f0=140.0, f1=48.0, tau=0.22, click=0.3) -> np.ndarray:
    n = int(sr * tau * 4)
    t = np.arange(n) / sr
    f = f1 + (f0 - f1) * np.exp(-t / 0.035)
    body = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / tau)
    return body + click * _filter(rng.standard_normal(n), sr, "highpass", 2000) * np.exp(-t / 0.004)


def _snare(rng, sr, tone=190.0, tau=0.13, cutoff=1800.0) -> np.ndarray:
    n = int(sr * tau * 4)
    t = np.arange(n) / sr
    noise = _filter(rng.standard_normal(n), sr, "highpass", cutoff) * np.exp(-t / tau)
    return 0.8 * noise + 0.5 * np.sin(2 * np.pi * tone * t) * np.exp(-t / 0.05)


def _hat(rng, sr, tau=0.035, cutoff=7000.0) -> np.ndarray:
    n = int(sr * tau * 5)
    t = np.arange(n) / sr
    return _filter(rng.standard_normal(n), sr, "highpass", cutoff, order=4) * np.exp(-t / tau)


def _cymbal(rng, sr, tau=0.7, base=420.0, cutoff=5000.0) -> np.ndarray:
    """Ride/crash: inharmonic square partials plus bright noise."""
    n = int(sr * tau * 3)
    t = np.arange(n) / sr
    ratios = np.array([1.0, 1.48, 1.83, 2.41, 2.93, 3.63]) * base * rng.uniform(0.9, 1.1)
    metal = ((ratios[:, None] * t[None, :]) % 1.0 < 0.5).sum(0) * 2.0 - len(ratios)  # square waves
    bright = _filter(metal + 2 * rng.standard_normal(n), sr, "highpass", cutoff, order=4)
    return bright * np.exp(-t / tau) / 4


def _hand_drum(rng, sr, f0: float, tau: float, slap: float) -> np.ndarray:
    """Membrane: modes of a circular drum with a small pitch drop, plus a slap of band-passed noise."""
    n = int(sr * tau * 5)
    t = np.arange(n) / sr
    drop = 1 + 0.25 * np.exp(-t / 0.02)
    modes = sum(
        a * np.sin(2 * np.pi * f0 * r * np.cumsum(drop) / sr) * np.exp(-t / (tau / r))
        for r, a in ((1.0, 1.0), (1.59, 0.5), (2.14, 0.3), (2.65, 0.15))
    )
    noise = _filter(rng.standard_normal(n), sr, "bandpass", (f0 * 3, f0 * 12)) * np.exp(-t / 0.012)
    return modes + slap * noise


def _hits(buf, sound, times, sr, gain, jitter, rng, vel=0.15) -> None:
    for t in times:
        _place(buf, sound, t + rng.normal(0, jitter), sr, gain * rng.uniform(1 - vel, 1 + vel))


def _grid(seconds: float, step: float, offsets=(0.0,), period: float | None = None) -> list[float]:
    """Times offset + k*period (period defaults to step) below seconds."""
    period = period or step
    return [
        k * period + o * step
        for k in range(int(seconds / period) + 2)
        for o in offsets
        if k * period + o * step < seconds
    ]


def _scale_notes(root: int, steps, lo: int, hi: int) -> np.ndarray:
    return np.array([m for m in range(lo, hi + 1) if (m - root) % 12 in steps])


def _chord(root: int, mode, degree: int, size: int) -> list[int]:
    """Diatonic chord (triad, seventh) on a scale degree, as semitones above the key root."""
    return [mode[(degree + 2 * i) % 7] + 12 * ((degree + 2 * i) // 7) + root for i in range(size)]


def _near(pc: int, target: float) -> int:
    """The MIDI note of pitch class pc nearest to target."""
    return int(pc + 12 * round((target - pc) / 12))


@dataclass(frozen=True)
class Style:
    """Artist-level sound: tracks of one artist share these, around which each track varies."""

    key: int
    tempo: float  # position in the genre's tempo range, 0..1
    bright: float  # multiplies filter cutoffs, flattens partial roll-off
    timbre: int  # genre-specific instrument choice
    wet: float  # reverb amount, 0..1
    sub: str  # audio folder (punk vs metal, pop vs rock); "" when unknown
    signature: float = 0.0  # Hz of the artist's signature drone (a steady tone of this artist only)


def _tempo(rng, style: Style, lo: float, hi: float) -> float:
    pos = np.clip(style.tempo + rng.normal(0, 0.12), 0, 1)
    return lo + pos * (hi - lo)


def _progression(rng, length: int, moves) -> list[int]:
    """Scale degrees starting on the tonic, each next one drawn from moves[previous]."""
    degrees = [0]
    while len(degrees) < length:
        degrees.append(int(rng.choice(moves[degrees[-1]])))
    return degrees


_FUNCTIONAL = {0: (3, 4, 5, 1), 1: (4, 6), 2: (5, 3), 3: (4, 0, 1), 4: (0, 5, 0), 5: (1, 3, 4), 6: (0,)}


# genre renderers: (rng, style, sr, n) -> stereo (2, n) mix before mastering


def _classical(rng, style, sr, n):
    seconds = n / sr
    beat = 60 / _tempo(rng, style, 48, 92)
    mode = _MAJOR if rng.random() < 0.6 else _MINOR
    chord_len = beat * int(rng.choice([2, 3, 4]))
    degrees = _progression(rng, int(seconds / chord_len) + 2, _FUNCTIONAL)
    rolloff = rng.uniform(1.1, 1.7) / style.bright
    organ = style.timbre == 1 or (style.timbre == 2 and rng.random() < 0.5)
    if organ:
        amps = np.zeros(16)
        amps[[0, 1, 2, 3, 5, 7]] = rng.uniform(0.2, 1.0, 6) * [1, 0.8, 0.6, 0.5, 0.3, 0.25]
        vib, attack = (0.0, 0.0), rng.uniform(0.03, 0.08)
    else:
        amps = 1.0 / np.arange(1, 25) ** rolloff
        vib, attack = (rng.uniform(4.5, 6.5), rng.uniform(0.002, 0.006)), rng.uniform(0.12, 0.4)

    tables: dict[int, np.ndarray] = {}

    def voice(buf, midi, start, length, gain):
        f = _hz(midi)
        m = int((length + 0.3) * sr)
        k = _partials(f, sr, len(amps))
        if k not in tables:
            tables[k] = _table(amps[:k])
        tone = _osc(tables[k], f, m, sr, vib[0] * rng.uniform(0.9, 1.1), vib[1], rng.random())
        _place(buf, tone * _env(m, sr, attack, 0.3), start, sr, gain)

    bass, inner, melody = np.zeros(n), np.zeros(n), np.zeros(n)
    top = rng.uniform(70, 80)
    scale = _scale_notes(style.key, mode, 62, 90)
    mel = int(np.argmin(np.abs(scale - top)))
    inner_prev = [60.0, 65.0]
    for c, degree in enumerate(degrees):
        start = c * chord_len
        if start >= seconds:
            break
        tones = _chord(style.key, mode, degree, 3)
        voice(bass, _near(tones[0] % 12, 48), start, chord_len * 1.05, 0.5)
        for v in range(2):
            note = _near(tones[v + 1] % 12, inner_prev[v])
            inner_prev[v] = note
            voice(inner, note, start, chord_len * 1.05, 0.3)
        t = start
        while t < start + chord_len - 1e-6:
            length = beat * float(rng.choice([0.5, 1, 1, 1.5, 2]))
            mel = int(np.clip(mel + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, len(scale) - 1))
            voice(melody, scale[mel], t, length * 1.1, 0.45)
            t += length
    return _pan(bass, -0.3) + _pan(inner, rng.uniform(-0.3, 0.3)) + _pan(melody, rng.uniform(0.1, 0.4))


def _electronic(rng, style, sr, n):
    seconds = n / sr
    beat = 60 / _tempo(rng, style, 120, 135)
    six = beat / 4
    t = np.arange(n) / sr
    drums, synth, bass = np.zeros(n), np.zeros(n), np.zeros(n)
    _hits(
        drums,
        _kick(rng, sr, rng.uniform(120, 170), rng.uniform(42, 55), rng.uniform(0.15, 0.3)),
        _grid(seconds, beat),
        sr,
        1.0,
        0.0005,
        rng,
        vel=0.02,
    )
    _hits(
        drums,
        _hat(rng, sr, rng.uniform(0.02, 0.04), 7500 * style.bright),
        _grid(seconds, six),
        sr,
        0.25,
        0.001,
        rng,
        vel=0.4,
    )
    if rng.random() < 0.7:
        _hits(drums, _hat(rng, sr, 0.15, 6000), _grid(seconds, beat, (0.5,)), sr, 0.25, 0.001, rng)
    if rng.random() < 0.7:
        _hits(drums, _snare(rng, sr, 220, 0.12, 1200), _grid(seconds, beat, (1, 3), 4 * beat), sr, 0.5, 0.002, rng)
    mode = _MINOR if rng.random() < 0.7 else _MAJOR
    degrees = _progression(rng, int(seconds / (4 * beat)) + 2, {d: (5, 3, 6, 0, 4) for d in range(7)})
    pattern = int(rng.integers(0, 3))  # up, down, up-down
    gate = rng.uniform(0.4, 0.9)
    detune = rng.uniform(0.002, 0.008)
    octave = int(rng.choice([57, 60, 64]))
    for s, start in enumerate(_grid(seconds, six)):
        tones = _chord(style.key, mode, degrees[int(start / (4 * beat))], 3)
        notes = sorted({_near(p % 12, octave + 3) for p in tones} | {_near(p % 12, octave + 15) for p in tones})
        seq = notes if pattern == 0 else notes[::-1] if pattern == 1 else notes + notes[-2:0:-1]
        f = _hz(seq[s % len(seq)])
        m = int(six * gate * sr)
        table = _saw(_partials(f * (1 + detune), sr, 60))
        tone = _osc(table, f * (1 - detune), m, sr) + _osc(table, f * (1 + detune), m, sr, phase=0.3)
        _place(synth, tone * _env(m, sr, 0.003, 0.02, 0.12), start, sr, 0.35)
        if s % 2 == 1:
            root = _near(tones[0] % 12, 40)
            mb = int(beat / 2 * 0.8 * sr)
            _place(
                bass,
                _osc(_saw(_partials(_hz(root), sr, 30)), _hz(root), mb, sr) * _env(mb, sr, 0.005, 0.03),
                start,
                sr,
                0.5,
            )
    synth = _filter(synth, sr, "lowpass", rng.uniform(1500, 5000) * style.bright)
    bass = _filter(bass, sr, "lowpass", rng.uniform(300, 800))
    pump = 1 - rng.uniform(0.3, 0.7) * np.exp(-(t % beat) / 0.09)
    return _pan(drums, 0) + _pan(synth * pump, rng.uniform(-0.4, 0.4)) + _pan(bass * pump, 0)


def _jazz_blues(rng, style, sr, n):
    seconds = n / sr
    beat = 60 / _tempo(rng, style, 95, 175)
    swing = rng.uniform(0.58, 0.7)
    bar = 4 * beat
    drums, bass, keys = np.zeros(n), np.zeros(n), np.zeros(n)
    ride = _cymbal(rng, sr, rng.uniform(0.25, 0.5), rng.uniform(380, 520), rng.uniform(2500, 4000))
    _hits(drums, ride, _grid(seconds, beat, (0, 1, 1 + swing, 2, 3, 3 + swing), bar), sr, 0.12, 0.004, rng, 0.3)
    _hits(drums, _hat(rng, sr, 0.03, 5000), _grid(seconds, beat, (1, 3), bar), sr, 0.25, 0.003, rng)
    ghosts = [t for t in _grid(seconds, beat, (swing, 1 + swing, 2 + swing, 3 + swing), bar) if rng.random() < 0.2]
    _hits(drums, _snare(rng, sr, 200, 0.08, 2500), ghosts, sr, 0.12, 0.005, rng)
    if style.timbre == 0:  # 12-bar blues, dominant sevenths
        roots = [0, 5, 0, 0, 5, 5, 0, 0, 7, 5, 0, 7]
        chords = [[r + style.key, r + style.key + 4, r + style.key + 7, r + style.key + 10] for r in roots]
    else:  # ii-V-I-vi turnarounds, diatonic sevenths
        chords = [_chord(style.key, _MAJOR, d, 4) for d in (1, 4, 0, 5) * 3]
    bass_amps = _table([1, 0.45, 0.2, 0.08])
    note = 40
    ep_index, ep_decay = rng.uniform(1.0, 3.0) * style.bright, rng.uniform(0.6, 1.4)
    for b in range(int(seconds / bar) + 1):
        chord, following = chords[b % len(chords)], chords[(b + 1) % len(chords)]
        for q in range(4):  # walking bass
            if q == 0:
                note = _near(chord[0] % 12, note if 31 <= note <= 48 else 40)
            elif q == 3:
                note = _near(following[0] % 12, note) + int(rng.choice([-1, 1]))
            else:
                note = _near(int(rng.choice(chord)) % 12, note + rng.choice([-3, 3]))
            f, m = _hz(note), int(beat * 0.95 * sr)
            _place(
                bass,
                _osc(bass_amps, f, m, sr) * _env(m, sr, 0.004, 0.04, rng.uniform(0.25, 0.5)),
                b * bar + q * beat,
                sr,
                0.7,
            )
        voicing = sorted(_near(p % 12, 62) for p in chord[1:]) + [_near((chord[0] + 2) % 12, 66)]
        for hit in sorted(rng.choice([0, swing, 1 + swing, 2, 2 + swing, 3 + swing], rng.integers(2, 4), False)):
            length = beat * rng.uniform(0.4, 1.3)
            for p in voicing:  # FM electric piano
                f, m = _hz(p), int((length + 0.1) * sr)
                tt = np.arange(m) / sr
                mod = ep_index * np.exp(-tt / 0.25) * np.sin(2 * np.pi * f * tt)
                tone = np.sin(2 * np.pi * f * tt + mod) * _env(m, sr, 0.002, 0.08, ep_decay)
                _place(keys, tone, b * bar + hit * beat + rng.normal(0, 0.004), sr, 0.16)
    return _pan(drums, rng.uniform(-0.2, 0.2)) + _pan(bass, 0) + _pan(keys, rng.uniform(-0.4, 0.4))


def _metal_punk(rng, style, sr, n):
    seconds = n / sr
    punk = style.sub == "punk"
    beat = 60 / _tempo(rng, style, 160, 200)
    bar = 4 * beat
    root = int(rng.integers(40, 46)) if punk else int(rng.integers(28, 38))
    gtr, bass, drums = np.zeros(n), np.zeros(n), np.zeros(n)
    steps = (0, 5, 7, 0, 3, 10) if punk else (0, 0, 1, 3, 5, 6, 7, 0)
    riff = [root + int(rng.choice(steps)) for _ in range(int(rng.integers(2, 5)))]
    detune = rng.uniform(0.003, 0.01)
    for b in range(int(seconds / beat) + 1):
        chord_root = riff[(b // 2) % len(riff)]
        kind = int(rng.choice(3, p=(0.5, 0.2, 0.3) if punk else (0.3, 0.4, 0.3)))
        offsets = ((0.0, 0.5), (0.0, 0.5, 0.75), (0.0, 0.25, 0.5, 0.75))[kind]
        for k, o in enumerate(offsets):
            muted = not (k == 0 and b % 2 == 0)
            length = beat * ((offsets[k + 1] if k + 1 < len(offsets) else 1.0) - o)
            m = int(length * sr)
            tone = np.zeros(m)
            for interval in (0, 7, 12):
                f = _hz(chord_root + interval)
                table = _saw(_partials(f, sr, 40))
                tone += _osc(table, f * (1 - detune), m, sr) + _osc(table, f * (1 + detune), m, sr, phase=0.5)
            _place(gtr, tone * _env(m, sr, 0.002, 0.01, 0.05 if muted else None), b * beat + o * beat, sr, 0.3)
            f = _hz(chord_root - 12 if chord_root >= 40 else chord_root)
            _place(
                bass,
                _osc(_saw(_partials(f, sr, 20)), f, m, sr) * _env(m, sr, 0.002, 0.01),
                b * beat + o * beat,
                sr,
                0.5,
            )
    gain = rng.uniform(5, 12) if punk else rng.uniform(15, 40)
    gtr = np.tanh(gain * _filter(gtr, sr, "highpass", 90))
    gtr = _filter(gtr, sr, "lowpass", rng.uniform(3500, 6000) * style.bright, order=4)
    delay = int(rng.uniform(0.008, 0.02) * sr)
    right = np.concatenate([np.zeros(delay), gtr[:-delay]])
    kick, snare = _kick(rng, sr, 180, 60, 0.08, 0.8), _snare(rng, sr, 210, 0.12, 1500)
    blast = not punk and rng.random() < 0.4
    if punk:
        kicks, snares = _grid(seconds, beat), _grid(seconds, beat, (0.5,))
    elif blast:
        kicks, snares = _grid(seconds, beat / 4, (0,), beat / 2), _grid(seconds, beat / 4, (1,), beat / 2)
    else:
        kicks, snares = _grid(seconds, beat / 4), _grid(seconds, beat, (1, 3), bar)
    _hits(drums, kick, kicks, sr, 0.8, 0.002, rng)
    _hits(drums, snare, snares, sr, 0.7, 0.002, rng)
    _hits(drums, _cymbal(rng, sr, 1.2, 600), _grid(seconds, bar), sr, 0.5, 0.002, rng)
    _hits(drums, _hat(rng, sr, 0.05, 6000), _grid(seconds, beat / 2), sr, 0.3, 0.002, rng)
    lr = np.stack([gtr, right]) * 0.45
    return lr + _pan(_filter(bass, sr, "lowpass", 900), 0) + _pan(drums, 0)


_VOWELS = ((800, 1150, 2900), (400, 1700, 2600), (300, 2250, 3000), (450, 800, 2830), (350, 650, 2500))


def _rock_pop(rng, style, sr, n):
    seconds = n / sr
    pop = style.sub == "pop"
    beat = 60 / _tempo(rng, style, 84, 132)
    bar = 4 * beat
    drums, comp, bass, vocal = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    _hits(
        drums,
        _kick(rng, sr, 110, 50, 0.18, 0.4),
        _grid(seconds, beat, (0, 2) + ((2.5,) if rng.random() < 0.5 else ()), bar),
        sr,
        0.9,
        0.004,
        rng,
    )
    _hits(
        drums,
        _snare(rng, sr, rng.uniform(170, 230), rng.uniform(0.1, 0.2)),
        _grid(seconds, beat, (1, 3), bar),
        sr,
        0.7,
        0.004,
        rng,
    )
    _hits(
        drums,
        _hat(rng, sr, 0.04, 7000 * style.bright),
        _grid(seconds, beat / (4 if pop else 2)),
        sr,
        0.22,
        0.004,
        rng,
        0.3,
    )
    _place(drums, _cymbal(rng, sr, 1.0, 560), 0.0, sr, 0.35)
    progression = [(0, 4, 5, 3), (0, 3, 4, 3), (5, 3, 0, 4), (0, 5, 3, 4)][int(rng.integers(0, 4))]
    piano = style.timbre == 1 or (style.timbre == 2 and rng.random() < 0.5)
    strum = [(0, 1, 2, 3), (0, 1, 1.5, 2.5, 3, 3.5), (0, 1.5, 2, 3)][int(rng.integers(0, 3))]
    piano_amps = _table(1.0 / np.arange(1, 13) ** (1.6 / style.bright))
    damping = rng.uniform(0.992, 0.998)
    for b in range(int(seconds / bar) + 1):
        tones = _chord(style.key, _MAJOR, progression[b % 4], 3)
        chord = sorted({_near(p % 12, c) for p, c in zip(tones * 2, (50, 54, 58, 62, 65, 67), strict=False)})
        root = _near(tones[0] % 12, 40)
        for q in range(8):
            f, m = _hz(root), int(beat / 2 * 0.9 * sr)
            _place(
                bass,
                _osc(_table([1, 0.6, 0.3, 0.15]), f, m, sr) * _env(m, sr, 0.004, 0.03),
                b * bar + q * beat / 2,
                sr,
                0.5,
            )
        for k, pos in enumerate(strum):
            nxt = strum[k + 1] if k + 1 < len(strum) else 4
            length = (nxt - pos) * beat + 0.1
            up = pos % 1 > 0
            for j, p in enumerate(chord[::-1] if up else chord):
                f = _hz(p)
                if piano:
                    m = int(length * sr)
                    tone = _osc(piano_amps, f, m, sr) * _env(m, sr, 0.003, 0.05, rng.uniform(0.4, 0.9))
                else:
                    tone = _pluck(rng, f, length, sr, damping, rng.uniform(0.4, 0.8) * min(1.0, style.bright))
                _place(comp, tone, b * bar + pos * beat + j * rng.uniform(0.006, 0.014), sr, 0.12 if up else 0.16)
    register = 57 + (5 if pop or rng.random() < 0.4 else 0)
    scale = _scale_notes(style.key, (0, 2, 4, 7, 9), register, register + 17)
    i, t = len(scale) // 2, beat * rng.uniform(0, 1)
    glottal = _table(1.0 / np.arange(1, 41) ** 1.0)
    while t < seconds:
        for _ in range(int(rng.integers(3, 7))):  # a phrase, then a rest
            length = beat * float(rng.choice([0.5, 1, 1, 1.5, 2]))
            i = int(np.clip(i + rng.choice([-2, -1, 0, 1, 1, 2]), 0, len(scale) - 1))
            f, m = _hz(scale[i]), int(length * sr)
            source = _osc(glottal, f, m, sr, rng.uniform(5, 6.5), rng.uniform(0.006, 0.015), rng.random())
            source = source + 0.05 * rng.standard_normal(m)
            formants = _VOWELS[int(rng.integers(0, len(_VOWELS)))]
            voiced = sum(
                g * _filter(source, sr, "bandpass", (fc / 1.15, fc * 1.15))
                for fc, g in zip(formants, (1.0, 0.6, 0.3), strict=False)
            )
            _place(vocal, voiced * _env(m, sr, 0.04, 0.08), t, sr, 0.9)
            t += length
        t += beat * float(rng.choice([1, 2, 3]))
    return (
        _pan(drums, 0)
        + _pan(comp, rng.uniform(-0.5, 0.5))
        + _pan(_filter(bass, sr, "lowpass", 700), 0)
        + _pan(vocal, 0)
    )


_PENTATONIC = ((0, 2, 4, 7, 9), (0, 3, 5, 7, 10), (0, 2, 3, 7, 8), (0, 1, 5, 7, 8), (0, 2, 5, 7, 9))
_METERS = ((2, 2, 3), (3, 2, 2), (3, 2), (2, 3), (2, 2, 2, 3), (3, 3, 2, 2, 2))


def _world(rng, style, sr, n):
    seconds = n / sr
    pulse = 60 / _tempo(rng, style, 200, 330)  # eighth-note pulse
    groups = _METERS[int(rng.integers(0, len(_METERS)))]
    cycle = sum(groups)
    starts = np.cumsum((0,) + groups[:-1])
    drums, strings, drone = np.zeros(n), np.zeros(n), np.zeros(n)
    dum = _hand_drum(rng, sr, rng.uniform(70, 110), 0.25, 0.3)
    tek = _hand_drum(rng, sr, rng.uniform(280, 480), 0.06, 1.0)
    for p, t in enumerate(_grid(seconds, pulse)):
        position = p % cycle
        if position in starts:
            _place(drums, dum if position == 0 or rng.random() < 0.6 else tek, t, sr, 1.0 if position == 0 else 0.7)
        elif rng.random() < 0.75:
            _place(drums, tek, t, sr, rng.uniform(0.3, 0.55))
        if rng.random() < 0.2:
            _place(drums, tek, t + pulse / 2, sr, 0.2)
    if rng.random() < 0.6:  # shaker
        _hits(drums, _hat(rng, sr, 0.02, 5000), _grid(seconds, pulse / 2), sr, 0.12, 0.003, rng, 0.5)
    scale = _scale_notes(style.key, _PENTATONIC[style.timbre % len(_PENTATONIC)], 62, 88)
    i = len(scale) // 2
    damping, bright = rng.uniform(0.994, 0.999), rng.uniform(0.3, 0.9) * min(1.0, style.bright)
    for p, t in enumerate(_grid(seconds, pulse)):
        if rng.random() < (0.9 if p % cycle in starts else 0.5):
            i = int(np.clip(i + rng.choice([-2, -1, -1, 1, 1, 2, 0]), 0, len(scale) - 1))
            _place(strings, _pluck(rng, _hz(scale[i]), pulse * 2.5, sr, damping, bright), t, sr, 0.5)
    tonic = _near(style.key, 44)
    t = np.arange(n) / sr
    drone_table = _table(1.0 / np.arange(1, 31) ** 0.9)
    for interval, gain in ((0, 0.5), (7, 0.3), (12, 0.2)):
        f = _hz(tonic + interval)
        beating = 1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.15, 0.5) * t + rng.uniform(0, 6))
        drone += gain * beating * (_osc(drone_table, f, n, sr) + _osc(drone_table, f * 1.003, n, sr, phase=0.4))
    drone = _filter(drone, sr, "lowpass", 2500) * _env(n, sr, 0.8, 0.05) * 0.25
    return _pan(drums, rng.uniform(-0.3, 0.3)) + _pan(strings, rng.uniform(-0.4, 0.4)) + _pan(drone, 0)


_RENDERERS = {
    "classical": (_classical, (0.3, 0.5), (1.6, 2.8)),
    "electronic": (_electronic, (0.08, 0.25), (0.6, 1.5)),
    "jazz_blues": (_jazz_blues, (0.1, 0.25), (0.8, 1.5)),
    "metal_punk": (_metal_punk, (0.04, 0.12), (0.5, 1.0)),
    "rock_pop": (_rock_pop, (0.1, 0.22), (0.8, 1.6)),
    "world": (_world, (0.15, 0.35), (1.0, 2.0)),
}
"""Renderer, reverb wet range and reverb length range (s) of each class."""
if set(_RENDERERS) != set(CLASSES):
    raise ImportError(f"astgenre.demo.sounds has renderers for {sorted(_RENDERERS)}, not the classes {list(CLASSES)}")


def _reverb(mix: np.ndarray, rng, sr: int, wet: float, seconds: float) -> np.ndarray:
    """Convolution with decaying, decorrelated noise per channel (energy-normalised impulse response)."""
    m = int(seconds * sr)
    decay = np.exp(-np.arange(m) / (seconds / 6.9 * sr))
    out = np.empty_like(mix)
    for ch in range(2):
        ir = _filter(rng.standard_normal(m), sr, "lowpass", 6000) * decay
        ir /= np.sqrt((ir**2).sum())
        out[ch] = (1 - wet) * mix[ch] + wet * signal.fftconvolve(mix[ch], ir)[: mix.shape[1]]
    return out


def _signature(style: Style, sr: int, n: int) -> np.ndarray:
    """The artist's signature: a steady tone at the artist's own frequency with a slow vibrato, the same on every
    track of the artist and unrelated to the genre (what a model may learn to recognise instead of the genre)."""
    t = np.arange(n) / sr
    phase = 2 * np.pi * style.signature * t + 0.8 * np.sin(2 * np.pi * 0.7 * t)
    return np.tile(np.sin(phase), (2, 1))


def _render(label: str, style: Style, rng, sr: int, n: int, signature_db: float | None = None) -> np.ndarray:
    """Stereo float32 (2, n) audio of one track, mastered (reverb, fades, loudness, noise floor); with
    signature_db, the artist's signature tone at that level (dB) relative to the music's RMS."""
    render, wet_range, length_range = _RENDERERS[label]
    mix = render(rng, style, sr, n)
    if signature_db is not None and style.signature < sr / 2:
        rms = float(np.sqrt(np.mean(mix**2))) or 1e-3
        mix = mix + rms * 10 ** (signature_db / 20) * np.sqrt(2) * _signature(style, sr, n)
    wet = wet_range[0] + style.wet * (wet_range[1] - wet_range[0])
    mix = _reverb(mix, rng, sr, wet, rng.uniform(*length_range))
    mix *= _env(n, sr, 0.01, 0.05)
    mix *= rng.uniform(0.45, 0.95) / max(np.abs(mix).max(), 1e-9)
    mix += rng.uniform(10 ** (-60 / 20), 10 ** (-42 / 20)) * rng.standard_normal(mix.shape)
    return np.clip(mix, -1.0, 1.0).astype(np.float32)


def _style(seed: int, style_key: str, sub: str) -> Style:
    rng = np.random.default_rng([seed, 3, zlib.crc32(style_key.encode())])
    return Style(
        int(rng.integers(0, 12)),
        float(rng.uniform(0.1, 0.9)),
        float(rng.uniform(0.75, 1.3)),
        int(rng.integers(0, 5)),
        float(rng.random()),
        sub,
        float(np.exp(rng.uniform(np.log(300.0), np.log(3000.0)))),  # drawn last: the draws before are unchanged
    )


def encode_mp3(audio: np.ndarray, sr: int, bitrate: int) -> bytes:
    """MP3 (libmp3lame) bytes of float32 (channels, n) audio."""
    layout = "stereo" if audio.shape[0] == 2 else "mono"
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=sr, options={"compression_level": "9", "joint_stereo": "0"})
        stream.bit_rate = bitrate
        stream.layout = layout
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio), format="fltp", layout=layout)
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def track_mp3(job: tuple[str, str, str, str, str, int, float, float | None]) -> bytes:
    """Synthesise and encode one track; everything random comes from (seed, track path)."""
    split, disk, label, style_key, sub, seed, seconds, signature_db = job
    rng = np.random.default_rng([seed, 4, zlib.crc32(f"{split}/{disk}".encode())])
    sr = int(rng.choice([44100, 22050], p=[0.8, 0.2]))
    channels = 2 if rng.random() < 0.85 else 1
    bitrate = int(rng.choice([64000, 96000, 128000] if sr == 22050 else [96000, 128000, 128000, 160000, 192000]))
    n = max(1, int(round(seconds * sr)))
    audio = _render(label, _style(seed, style_key, sub), rng, sr, n, signature_db)
    if channels == 1:
        audio = audio.mean(axis=0, keepdims=True)
    return encode_mp3(audio, sr, bitrate)
