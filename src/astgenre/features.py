"""AST input features: batched torch log-mel filterbank matching ``transformers.ASTFeatureExtractor``.

The extractor (without torchaudio) computes a Kaldi-style fbank with ``transformers.audio_utils.spectrogram``:
400-sample frames every 160 samples (snip edges), per-frame DC removal, preemphasis 0.97, symmetric Hann window,
512-point power spectrum, 128 Kaldi mel filters (20 Hz .. Nyquist), floor 1.192092955078125e-07, natural log.
It then pads the raw fbank with zeros to ``max_length`` frames and normalises as ``(fbank - mean) / (2 * std)``.
This module reproduces that on batches of frames with torch and returns normalised float32 features.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers.audio_utils import mel_filter_bank, window_function

from .files import atomic_path

FRAME_LENGTH = 400
HOP_LENGTH = 160
FFT_LENGTH = 512
PREEMPHASIS = 0.97
MEL_FLOOR = 1.192092955078125e-07
MIN_FREQUENCY = 20.0

# Framing, DC removal, preemphasis and the FFT run in float64: float32 FFT rounding alone reaches ~1e-3 on a chirp.
# The mel projection sums non-negative powers, so float32 keeps its relative error ~1e-6 there; it is 2.5x faster.
_COMPUTE_DTYPE = torch.float64
_MEL_DTYPE = torch.float32
# Frames processed at once inside log_mel: small chunks stay in CPU cache, large ones keep a GPU busy.
_CHUNK_FRAMES = {"cpu": 512, "cuda": 65536}
# Frames per LogMelStream block (rounded to whole _CHUNK_FRAMES): about 41 s of audio.
_STREAM_BLOCK_FRAMES = 4096
# Audio samples per featurize_tracks batch (after padding); bounds memory when tracks are long.
_MAX_BATCH_SAMPLES = 16 * 16000 * 60


@dataclass(frozen=True)
class FbankSettings:
    """Extractor settings that the features depend on (defaults: AST AudioSet checkpoints)."""

    sample_rate: int = 16000
    num_mel_bins: int = 128
    mean: float = -4.2677393
    std: float = 4.5689974


def n_frames(n_samples: int) -> int:
    """Number of snip-edge frames for ``n_samples`` samples (0 when shorter than one frame)."""
    if n_samples < FRAME_LENGTH:
        return 0
    return 1 + (n_samples - FRAME_LENGTH) // HOP_LENGTH


@functools.cache
def _mel_matrix(sample_rate: int, num_mel_bins: int, device: torch.device) -> torch.Tensor:
    """(FFT_LENGTH // 2 + 1, num_mel_bins) mel filters, built with the extractor's own arguments."""
    with warnings.catch_warnings():
        # The extractor's own bank has an all-zero filter at 128 bins; it warns too. Same matrix, same features.
        warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
        filters = mel_filter_bank(
            num_frequency_bins=FFT_LENGTH // 2 + 1,
            num_mel_filters=num_mel_bins,
            min_frequency=MIN_FREQUENCY,
            max_frequency=sample_rate // 2,
            sampling_rate=sample_rate,
            norm=None,
            mel_scale="kaldi",
            triangularize_in_mel_space=True,
        )
    return torch.from_numpy(np.ascontiguousarray(filters)).to(device=device, dtype=_MEL_DTYPE)


@functools.cache
def _hann_window(device: torch.device) -> torch.Tensor:
    window = window_function(FRAME_LENGTH, "hann", periodic=False)
    return torch.from_numpy(window).to(device=device, dtype=_COMPUTE_DTYPE)


def _fbank_frames(frames: torch.Tensor, padded: torch.Tensor, settings: FbankSettings) -> torch.Tensor:
    """Raw log-mel fbank of (..., FRAME_LENGTH) float64 frames -> (..., num_mel_bins) float32.

    `padded` is a (..., FFT_LENGTH) float64 buffer whose last FFT_LENGTH - FRAME_LENGTH columns are zero; the
    windowed frames are written into its head. DC removal is folded into the preemphasis: with m the frame
    mean, (x - m) preemphasised is x preemphasised minus (1 - PREEMPHASIS) * m at every sample.
    """
    device = frames.device
    head = padded[..., :FRAME_LENGTH]
    torch.sub(frames[..., 1:], frames[..., :-1], alpha=PREEMPHASIS, out=head[..., 1:])
    torch.mul(frames[..., 0], 1.0 - PREEMPHASIS, out=head[..., 0])
    head.sub_(frames.mean(dim=-1, keepdim=True) * (1.0 - PREEMPHASIS))
    head.mul_(_hann_window(device))
    spectrum = torch.fft.rfft(padded)
    power = (spectrum.real.square() + spectrum.imag.square()).to(_MEL_DTYPE)
    mel = power @ _mel_matrix(settings.sample_rate, settings.num_mel_bins, device)
    return mel.clamp_min_(MEL_FLOOR).log_()


@torch.no_grad()
def log_mel(
    waveforms: torch.Tensor | np.ndarray,
    settings: FbankSettings = FbankSettings(),
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """(T,) -> (frames, mel) or (B, T) -> (B, frames, mel), normalised, float32. frames = 1 + (T - 400) // 160.

    Waveforms are 16 kHz mono in [-1, 1]; like the extractor, they are rounded to float32 first.
    The result lives on ``device``.
    """
    device = torch.device(device)
    audio = torch.as_tensor(waveforms)
    if audio.ndim not in (1, 2):
        raise ValueError(f"log_mel expects a (T,) or (B, T) waveform, got shape {tuple(audio.shape)}")
    if not audio.is_floating_point():
        raise ValueError(f"log_mel expects float audio in [-1, 1], got dtype {audio.dtype}")
    if audio.ndim == 2 and audio.shape[0] == 0:
        raise ValueError("log_mel got an empty batch (0 waveforms)")
    if audio.shape[-1] < FRAME_LENGTH:
        raise ValueError(
            f"log_mel needs at least {FRAME_LENGTH} samples per waveform, got {audio.shape[-1]}; zero-pad short audio"
        )
    audio = audio.to(torch.float32).to(device=device, dtype=_COMPUTE_DTYPE)
    batch = audio if audio.ndim == 2 else audio.unsqueeze(0)
    frames = batch.unfold(-1, FRAME_LENGTH, HOP_LENGTH)  # (B, F, FRAME_LENGTH), a view
    count = frames.shape[1]
    out = torch.empty((batch.shape[0], count, settings.num_mel_bins), dtype=torch.float32, device=device)
    step = max(1, _CHUNK_FRAMES.get(device.type, _CHUNK_FRAMES["cpu"]) // batch.shape[0])
    padded = torch.zeros((batch.shape[0], min(step, count), FFT_LENGTH), dtype=_COMPUTE_DTYPE, device=device)
    for begin in range(0, count, step):
        chunk = frames[:, begin : begin + step]
        fbank = _fbank_frames(chunk, padded[:, : chunk.shape[1]], settings)
        target = out[:, begin : begin + step]
        torch.sub(fbank, settings.mean, out=target)
        target.div_(settings.std * 2)
    return out if audio.ndim == 2 else out[0]


class LogMelStream:
    """Log-mel features of audio that arrives in pieces, as float16 (frames, mel) blocks: together exactly
    ``log_mel`` of the whole audio (zero-padded to one frame when shorter, as ``featurize_tracks`` does).

    Frames are computed in blocks of whole internal chunks of :func:`log_mel`, so the arithmetic is that of the whole
    track (the result is identical, not merely close) while at most one block of audio is held.
    """

    def __init__(self, settings: FbankSettings = FbankSettings(), device: str | torch.device = "cpu") -> None:
        self.settings = settings
        self.device = torch.device(device)
        chunk = _CHUNK_FRAMES.get(self.device.type, _CHUNK_FRAMES["cpu"])
        self.block = chunk * max(1, _STREAM_BLOCK_FRAMES // chunk)
        self.samples = 0
        self._pending = np.zeros(0, np.float32)

    def push(self, audio: np.ndarray) -> np.ndarray:
        """Frames that the audio so far completes, in whole blocks (often none: shape (0, mel))."""
        self.samples += audio.size
        self._pending = np.concatenate([self._pending, np.asarray(audio, np.float32)])
        ready = n_frames(self._pending.size) // self.block * self.block
        if not ready:
            return self._empty()
        out = self._features(self._pending[: (ready - 1) * HOP_LENGTH + FRAME_LENGTH])
        self._pending = self._pending[ready * HOP_LENGTH :].copy()
        return out

    def finish(self) -> np.ndarray:
        """The remaining frames (one padded frame when the whole audio is shorter than a frame)."""
        pending, self._pending = self._pending, np.zeros(0, np.float32)
        if self.samples < FRAME_LENGTH:
            pending = np.pad(pending, (0, FRAME_LENGTH - pending.size))
        return self._features(pending) if n_frames(pending.size) else self._empty()

    def _features(self, audio: np.ndarray) -> np.ndarray:
        return log_mel(audio, self.settings, self.device).cpu().numpy().astype(np.float16)

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.settings.num_mel_bins), np.float16)


def pad_value(settings: FbankSettings = FbankSettings()) -> float:
    """Normalised value of the extractor's zero padding: (0 - mean) / (2 * std)."""
    return (0.0 - settings.mean) / (settings.std * 2)


def window(features: np.ndarray, start: int, length: int, settings: FbankSettings = FbankSettings()) -> np.ndarray:
    """Frames [start, start+length) of a (frames, mel) array, padded at the end with pad_value to `length`."""
    if features.ndim != 2:
        raise ValueError(f"window expects (frames, mel) features, got shape {features.shape}")
    if length < 1:
        raise ValueError(f"window length must be positive, got {length}")
    if not 0 <= start < features.shape[0]:
        raise ValueError(f"window start {start} outside the {features.shape[0]} frames of the features")
    piece = features[start : start + length]
    if piece.shape[0] == length:
        return piece.copy()
    out = np.full((length, features.shape[1]), pad_value(settings), dtype=features.dtype)
    out[: piece.shape[0]] = piece
    return out


def window_starts(n_frames: int, length: int, hop: int) -> list[int]:
    """Starts of evaluation windows covering a track: 0, hop, ...; at least one; last window may be padded; no window
    starting past the last frame.

    Windows are added until one reaches the last frame, so no window lies entirely inside the padding.
    """
    if n_frames < 1:
        raise ValueError(f"window_starts needs at least one frame, got n_frames={n_frames}")
    if length < 1 or hop < 1:
        raise ValueError(f"window length and hop must be positive, got length={length}, hop={hop}")
    if hop > length:
        raise ValueError(f"hop {hop} > window length {length} would leave frames uncovered")
    starts = [0]
    while starts[-1] + length < n_frames:
        starts.append(starts[-1] + hop)
    return starts


def _load_audio(path: Path, min_samples: int) -> np.ndarray:
    audio = np.load(path)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"{path}: expected non-empty 1-D mono audio, got shape {audio.shape}; re-run decoding")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"{path}: expected float32 audio in [-1, 1], got dtype {audio.dtype}; re-run decoding")
    audio = audio.astype(np.float32, copy=False)
    if not np.isfinite(audio).all():
        raise ValueError(f"{path}: audio contains NaN or infinite samples; re-run decoding")
    if audio.size < min_samples:
        audio = np.pad(audio, (0, min_samples - audio.size))
    return audio


def _save_atomic(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as temp, open(temp, "xb") as stream:  # creates sub-folders: track ids may contain "/"
        np.save(stream, array)


def _batches(lengths: dict[str, int], batch_size: int) -> list[list[str]]:
    """Ids grouped by similar length (sorted), at most batch_size and _MAX_BATCH_SAMPLES padded samples each."""
    batches: list[list[str]] = []
    current: list[str] = []
    for track_id in sorted(lengths, key=lambda key: lengths[key]):
        longest = lengths[track_id]  # sorted ascending: the newcomer is the longest
        if current and (len(current) == batch_size or (len(current) + 1) * longest > _MAX_BATCH_SAMPLES):
            batches.append(current)
            current = []
        current.append(track_id)
    if current:
        batches.append(current)
    return batches


def featurize_tracks(
    audio_dir: Path,
    track_ids: Iterable[str],
    out_dir: Path,
    settings: FbankSettings = FbankSettings(),
    device: str = "cpu",
    batch_size: int = 16,
    min_samples: int = 400,
) -> list[str]:
    """Read audio_dir/<id>.npy (float32 16 kHz mono), write out_dir/<id>.npy as float16 (frames, mel); return ids
    written.

    Ids without an audio file are skipped (they were listed as decode errors upstream) and not returned.
    Audio shorter than 400 samples is zero-padded to 400 (min_samples). Returned ids keep the input order (duplicates
    once). Ids may contain "/" (sub-folders are created). Raises ValueError naming the file for audio that is not
    non-empty, 1-D, float and finite.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if min_samples < FRAME_LENGTH:
        raise ValueError(f"min_samples must be at least one frame ({FRAME_LENGTH}), got {min_samples}")
    audio_dir, out_dir = Path(audio_dir), Path(out_dir)
    present = [i for i in dict.fromkeys(track_ids) if (audio_dir / f"{i}.npy").is_file()]
    lengths = {i: max(min_samples, np.load(audio_dir / f"{i}.npy", mmap_mode="r").size) for i in present}
    out_dir.mkdir(parents=True, exist_ok=True)
    for batch in _batches(lengths, batch_size):
        audio = [_load_audio(audio_dir / f"{i}.npy", min_samples) for i in batch]
        padded = np.zeros((len(audio), max(a.size for a in audio)), dtype=np.float32)
        for row, samples in zip(padded, audio, strict=False):
            row[: samples.size] = samples
        features = log_mel(padded, settings, device).cpu().numpy()
        for track_id, samples, track_features in zip(batch, audio, features, strict=False):
            _save_atomic(out_dir / f"{track_id}.npy", track_features[: n_frames(samples.size)].astype(np.float16))
    return present
