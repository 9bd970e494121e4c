"""The classical baseline's features: per-track statistics of MFCCs and spectral descriptors (the 2004-era recipe).

Every frame-level feature is the one ``librosa.feature`` computes with the settings below, but all of them come from
one STFT of the track (``librosa.feature.*`` called on audio recomputes it for each feature) and from filter banks
built once per process. Frame settings (16 kHz audio):

- STFT: ``N_FFT`` = 1024 samples (64 ms), periodic Hann window, hop ``HOP_LENGTH`` = 512 (32 ms), frames centred
  with zero padding (librosa's defaults ``center=True, pad_mode="constant"``); 1 + n // 512 frames.
- MFCC: 128 Slaney mel bands (0 Hz .. Nyquist) of the power spectrum, ``power_to_db`` (ref 1, amin 1e-10, top_db 80),
  orthonormal DCT-II, the first ``N_MFCC`` = 20 coefficients (c0 included); deltas and delta-deltas with librosa's
  Savitzky-Golay ``delta`` (width 9, ``mode="interp"``).
- Spectral centroid, bandwidth (p = 2), roll-off (85 %) and contrast (6 octave bands from 200 Hz plus the rest,
  quantile 0.02) of the magnitude spectrum; chroma (12 bins, tuning fixed at 0, i.e. A = 440 Hz, each frame scaled
  to max 1) of the power spectrum; zero-crossing rate over 1024-sample frames centred with edge padding.

A track is summarised by the mean and the (population) standard deviation over its frames of each of the
``len(FRAME_FEATURES)`` = 83 frame features: 166 numbers, named in :data:`FEATURE_NAMES` (``mfcc03_mean``,
``contrast2_std``...). Arithmetic is float64 throughout.

Short and silent audio: a track shorter than :data:`MIN_SAMPLES` (the 9 frames the deltas need, 0.256 s) is
zero-padded at the end to that length, as the AST features pad short audio; a silent track gets librosa's values
for silence (finite: MFCCs of the -100 dB floor, centroid, bandwidth, roll-off, contrast, chroma and ZCR 0).
Empty, non-1-D or non-finite audio is a ValueError.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from pathlib import Path

import librosa
import numpy as np
import scipy.fft
import scipy.sparse

from .tables import write_feature_table

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
N_FFT = 1024
HOP_LENGTH = 512
N_MELS = 128
N_MFCC = 20
DELTA_WIDTH = 9
TOP_DB = 80.0
ROLL_PERCENT = 0.85
CONTRAST_FMIN = 200.0
CONTRAST_BANDS = 6
CONTRAST_QUANTILE = 0.02
N_CHROMA = 12
ZCR_THRESHOLD = 1e-10
MIN_SAMPLES = (DELTA_WIDTH - 1) * HOP_LENGTH
"""Shorter audio is zero-padded to this length: with centred frames it gives the DELTA_WIDTH frames deltas need."""

LIBROSA_SETTINGS: dict[str, dict] = {
    "mfcc": dict(sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS, n_mfcc=N_MFCC),
    "delta": dict(width=DELTA_WIDTH),
    "spectral_centroid": dict(sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH),
    "spectral_bandwidth": dict(sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH),
    "spectral_contrast": dict(
        sr=SAMPLE_RATE,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        fmin=CONTRAST_FMIN,
        n_bands=CONTRAST_BANDS,
        quantile=CONTRAST_QUANTILE,
    ),
    "spectral_rolloff": dict(sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, roll_percent=ROLL_PERCENT),
    "zero_crossing_rate": dict(frame_length=N_FFT, hop_length=HOP_LENGTH),
    "chroma_stft": dict(sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_chroma=N_CHROMA, tuning=0.0),
}
"""Keyword arguments of each ``librosa.feature`` function (called on the audio) that computes the same frame
features; the tests and the benchmark call librosa with exactly these."""

FRAME_FEATURES: tuple[str, ...] = (
    *(f"mfcc{k:02d}" for k in range(N_MFCC)),
    *(f"mfcc{k:02d}_delta" for k in range(N_MFCC)),
    *(f"mfcc{k:02d}_delta2" for k in range(N_MFCC)),
    "centroid",
    "bandwidth",
    *(f"contrast{k}" for k in range(CONTRAST_BANDS + 1)),
    "rolloff",
    "zcr",
    *(f"chroma{k:02d}" for k in range(N_CHROMA)),
)
"""Frame-level features in row order; chroma00 is C (librosa's ``base_c``); contrast0 is 0-200 Hz, contrast1 to
contrast5 the octaves from 200 Hz to 6.4 kHz, contrast6 6.4 kHz to Nyquist."""

FEATURE_NAMES: tuple[str, ...] = (
    *(f"{name}_mean" for name in FRAME_FEATURES),
    *(f"{name}_std" for name in FRAME_FEATURES),
)
"""Columns of :func:`track_features`: every frame feature's mean, then every frame feature's standard deviation."""


def n_frames(n_samples: int) -> int:
    """Frames of a track of n_samples samples (after padding to MIN_SAMPLES)."""
    return 1 + max(n_samples, MIN_SAMPLES) // HOP_LENGTH


def frame_features(audio: np.ndarray) -> np.ndarray:
    """(len(FRAME_FEATURES), frames) float64 frame-level features of 16 kHz mono audio, rows in FRAME_FEATURES order."""
    y = _checked(audio)
    magnitude = _magnitude_frames(y)  # (frames, bins)
    power = magnitude * magnitude
    banks = _banks()

    log_mel = librosa.power_to_db(banks.mel @ power.T, ref=1.0, amin=1e-10, top_db=TOP_DB)  # (mels, frames)
    mfcc = scipy.fft.dct(log_mel, axis=0, type=2, norm="ortho")[:N_MFCC]
    delta = librosa.feature.delta(mfcc, width=DELTA_WIDTH, order=1)
    delta2 = librosa.feature.delta(mfcc, width=DELTA_WIDTH, order=2)

    moments = magnitude @ banks.freq_powers  # (frames, 3): sum S, sum f S, sum f^2 S
    # librosa divides each frame by its L1 norm only when that norm is at least tiny (else leaves it as it is).
    scale = np.where(moments[:, 0] >= _TINY, moments[:, 0], 1.0)
    m0, m1, m2 = (moments / scale[:, None]).T
    centroid = m1
    bandwidth = np.sqrt(np.maximum(m2 - 2.0 * centroid * m1 + centroid * centroid * m0, 0.0))

    cumulative = np.cumsum(magnitude, axis=1)
    threshold = ROLL_PERCENT * cumulative[:, -1:]
    rolloff = banks.freqs[np.argmax(cumulative >= threshold, axis=1)]

    contrast = _contrast(magnitude, banks.contrast_bands)
    zcr = _zero_crossing_rate(y)
    chroma = banks.chroma @ power.T
    peak = np.abs(chroma).max(axis=0)
    chroma /= np.where(peak >= _TINY, peak, 1.0)

    return np.vstack([mfcc, delta, delta2, centroid, bandwidth, contrast, rolloff, zcr, chroma])


def track_features(audio: np.ndarray) -> np.ndarray:
    """(len(FEATURE_NAMES),) float64: mean and standard deviation over frames of every frame feature."""
    frames = frame_features(audio)
    return np.concatenate([frames.mean(axis=1), frames.std(axis=1)])


def featurize_shard(audio_dir: Path, track_ids: Iterable[str], out_path: Path) -> list[str]:
    """Read audio_dir/<id>.npy (16 kHz mono float32) for the given ids, write one feature table (see
    :mod:`astgenre.baselines.tables`) with n_windows 1 per track; return the ids written, in input order.

    Ids without an audio file are skipped (decode errors upstream), as by the AST features. The table is written
    whole or not at all, also when no track is left.
    """
    audio_dir = Path(audio_dir)
    present = [i for i in dict.fromkeys(track_ids) if (audio_dir / f"{i}.npy").is_file()]
    rows = np.zeros((len(present), len(FEATURE_NAMES)))
    for row, track_id in enumerate(present):
        path = audio_dir / f"{track_id}.npy"
        try:
            rows[row] = track_features(np.load(path))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    write_feature_table(out_path, present, rows, FEATURE_NAMES, n_windows=np.ones(len(present), dtype=int))
    return present


# ------------------------------------------------------------------------------------------------------ internals

_TINY = np.finfo(np.float64).tiny  # librosa.util.tiny of float64 data: util.normalize's threshold


class _Banks:
    """Filter banks and frequency tables shared by every track (built once per process)."""

    def __init__(self) -> None:
        self.freqs = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT)
        self.freq_powers = np.stack([np.ones_like(self.freqs), self.freqs, self.freqs**2], axis=1)
        # Each FFT bin feeds at most two mel filters: the sparse product is ~50x cheaper than the dense one.
        self.mel = scipy.sparse.csr_array(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS))
        self.chroma = librosa.filters.chroma(sr=SAMPLE_RATE, n_fft=N_FFT, tuning=0.0, n_chroma=N_CHROMA)
        self.window = librosa.filters.get_window("hann", N_FFT, fftbins=True)
        self.contrast_bands = _contrast_bands(self.freqs)


@functools.cache
def _banks() -> _Banks:
    return _Banks()


def _checked(audio: np.ndarray) -> np.ndarray:
    y = np.asarray(audio)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"expected non-empty 1-D mono audio, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"expected float audio in [-1, 1], got dtype {y.dtype}")
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        raise ValueError("audio contains NaN or infinite samples")
    if y.size < MIN_SAMPLES:
        y = np.pad(y, (0, MIN_SAMPLES - y.size))
    return y


def _magnitude_frames(y: np.ndarray) -> np.ndarray:
    """|STFT| as (frames, N_FFT // 2 + 1): librosa.stft's centred, zero-padded, Hann-windowed frames."""
    padded = np.pad(y, N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    spectrum = scipy.fft.rfft(frames * _banks().window, axis=1)
    return np.abs(spectrum)


def _contrast_bands(freqs: np.ndarray) -> list[tuple[int, int, int]]:
    """(first bin, end bin, quantile count) of each band, as librosa.feature.spectral_contrast selects them."""
    edges = np.zeros(CONTRAST_BANDS + 2)
    edges[1:] = CONTRAST_FMIN * 2.0 ** np.arange(CONTRAST_BANDS + 1)
    bands = []
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        selected = np.logical_and(freqs >= low, freqs <= high)
        idx = np.flatnonzero(selected)
        if k > 0:
            selected[idx[0] - 1] = True
        if k == CONTRAST_BANDS:
            selected[idx[-1] + 1 :] = True
        chosen = np.flatnonzero(selected)
        count = max(int(np.rint(CONTRAST_QUANTILE * chosen.size)), 1)
        end = chosen[-1] + 1 if k == CONTRAST_BANDS else chosen[-1]  # librosa drops a band's last bin but the top's
        bands.append((int(chosen[0]), int(end), count))
    return bands


def _contrast(magnitude: np.ndarray, bands: list[tuple[int, int, int]]) -> np.ndarray:
    """(bands + 1, frames) spectral contrast: dB of the mean of each band's top quantile over its bottom quantile."""
    peak = np.empty((len(bands), magnitude.shape[0]))
    valley = np.empty_like(peak)
    for k, (first, end, count) in enumerate(bands):
        ordered = np.sort(magnitude[:, first:end], axis=1)
        valley[k] = ordered[:, :count].mean(axis=1)
        peak[k] = ordered[:, -count:].mean(axis=1)
    return librosa.power_to_db(peak) - librosa.power_to_db(valley)


def _zero_crossing_rate(y: np.ndarray) -> np.ndarray:
    """librosa.feature.zero_crossing_rate over N_FFT-sample frames: edge-padded, centred; crossings between
    consecutive samples inside a frame (|x| <= 1e-10 counts as 0, and 0 as positive) over the frame length.

    Crossings are counted once per hop-long block: with N_FFT = 2 * HOP_LENGTH a frame is two blocks, less the
    pair that joins it to the next frame.
    """
    padded = np.pad(y, N_FFT // 2, mode="edge")
    negative = np.signbit(np.where(np.abs(padded) <= ZCR_THRESHOLD, 0.0, padded))
    count = 1 + (padded.size - N_FFT) // HOP_LENGTH
    change = np.zeros((count + 1) * HOP_LENGTH, dtype=bool)  # change[i]: samples i and i + 1 differ in sign
    used = min(change.size, padded.size - 1)
    np.not_equal(negative[1 : used + 1], negative[:used], out=change[:used])
    blocks = np.count_nonzero(change.reshape(-1, HOP_LENGTH), axis=1)
    joins = change[np.arange(count) * HOP_LENGTH + N_FFT - 1]
    return (blocks[:-1] + blocks[1:] - joins) / N_FFT
