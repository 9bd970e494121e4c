"""Track features on disk and the torch datasets of windows drawn from them."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from .features import FbankSettings, window, window_starts
from .labels import LABEL2ID

log = logging.getLogger(__name__)


def find_features(feature_dirs: Iterable[Path]) -> dict[str, Path]:
    """Map track_id -> feature file over the shard folders."""
    found: dict[str, Path] = {}
    for folder in feature_dirs:
        for path in sorted(Path(folder).glob("*.npy")):
            found[path.stem] = path
    return found


def load_split(
    index: pd.DataFrame, split: str, feature_dirs: Iterable[Path], track_ids: Collection[str] | None = None
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Tracks of one split that have features, and their (frames, mel) arrays, memory-mapped.

    With track_ids, the tracks are those of the index with these ids (a protocol's role, named by ``split``), in
    the index's order. Tracks without features were listed in decode_errors.tsv upstream; they are logged here too.
    """
    files = find_features(feature_dirs)
    chosen = index["split"] == split if track_ids is None else index["track_id"].isin(set(track_ids))
    tracks = index[chosen].reset_index(drop=True)
    if tracks.empty:
        raise ValueError(f"the index has no track in split {split!r}")
    missing = [t for t in tracks["track_id"] if t not in files]
    if missing:
        log.warning(
            "%d %s tracks have no features (see decode_errors.tsv): %s", len(missing), split, ", ".join(missing)
        )
    tracks = tracks[tracks["track_id"].isin(files)].reset_index(drop=True)
    if tracks.empty:
        raise ValueError(f"no {split} track has features: check decode_errors.tsv")
    arrays = {t: np.load(files[t], mmap_mode="r") for t in tracks["track_id"]}
    return tracks, arrays


def spec_augment(x: torch.Tensor, freq_mask: int, time_mask: int, n_masks: int, fill: float = 0.0) -> torch.Tensor:
    """SpecAugment on one (frames, mel) window: n_masks frequency and time bands set to fill."""
    x = x.clone()
    frames, bins = x.shape
    for _ in range(n_masks):
        if freq_mask > 0:
            width = int(torch.randint(0, freq_mask + 1, ()).item())
            lo = int(torch.randint(0, max(1, bins - width + 1), ()).item())
            x[:, lo : lo + width] = fill
        if time_mask > 0:
            width = int(torch.randint(0, min(time_mask, frames) + 1, ()).item())
            lo = int(torch.randint(0, max(1, frames - width + 1), ()).item())
            x[lo : lo + width, :] = fill
    return x


class TrainingWindows(Dataset):
    """Windows of training tracks: each epoch draws `windows_per_track` random windows per track
    (or the first window only, as the reference protocol did)."""

    def __init__(
        self,
        tracks: pd.DataFrame,
        arrays: dict[str, np.ndarray],
        length: int,
        *,
        mode: str = "random",
        windows_per_track: int = 1,
        specaugment: dict | None = None,
        settings: FbankSettings = FbankSettings(),
    ) -> None:
        self.track_ids = list(tracks["track_id"])
        self.labels = [LABEL2ID[label] for label in tracks["label"]]
        self.arrays = arrays
        self.length = length
        self.mode = mode
        self.repeats = 1 if mode == "first" else windows_per_track
        self.specaugment = specaugment
        self.settings = settings

    def __len__(self) -> int:
        return len(self.track_ids) * self.repeats

    def label_of(self, item: int) -> int:
        return self.labels[item % len(self.track_ids)]

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        track = item % len(self.track_ids)
        features = self.arrays[self.track_ids[track]]
        start = 0
        if self.mode == "random" and features.shape[0] > self.length:
            start = int(torch.randint(0, features.shape[0] - self.length + 1, ()).item())
        x = torch.from_numpy(window(features, start, self.length, self.settings).astype(np.float32))
        if self.specaugment:
            x = spec_augment(x, fill=0.0, **self.specaugment)
        return {"input_values": x, "labels": torch.tensor(self.labels[track])}


class EvaluationWindows(Dataset):
    """Every window of every track (hop-spaced), in track order; `track_of` maps windows back to tracks."""

    def __init__(
        self,
        track_ids: Sequence[str],
        arrays: dict[str, np.ndarray],
        length: int,
        hop: int,
        *,
        labels: Sequence[int] | None = None,
        first_only: bool = False,
        settings: FbankSettings = FbankSettings(),
    ) -> None:
        self.arrays = arrays
        self.length = length
        self.settings = settings
        self.items: list[tuple[str, int]] = []
        self.track_of: list[int] = []
        self.window_labels: list[int] = []
        for i, track_id in enumerate(track_ids):
            starts = [0] if first_only else window_starts(arrays[track_id].shape[0], length, hop)
            for start in starts:
                self.items.append((track_id, start))
                self.track_of.append(i)
                self.window_labels.append(labels[i] if labels is not None else -100)
        self.n_tracks = len(track_ids)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        track_id, start = self.items[item]
        x = window(self.arrays[track_id], start, self.length, self.settings).astype(np.float32)
        return {"input_values": torch.from_numpy(x), "labels": torch.tensor(self.window_labels[item])}


def aggregate_tracks(
    window_logits: np.ndarray, track_of: Sequence[int], n_tracks: int, how: str = "logits"
) -> np.ndarray:
    """Track-level class probabilities from window logits: softmax of the mean logits, or mean of the window
    probabilities."""
    window_logits = np.asarray(window_logits, dtype=np.float64)
    track_of = np.asarray(track_of)
    if how == "logits":
        values = window_logits
    elif how == "probs":
        values = _softmax(window_logits)
    else:
        raise ValueError(f"aggregate must be 'logits' or 'probs', not {how!r}")
    sums = np.zeros((n_tracks, values.shape[1]))
    np.add.at(sums, track_of, values)
    counts = np.bincount(track_of, minlength=n_tracks)[:, None]
    if (counts == 0).any():
        raise ValueError("a track has no window")
    mean = sums / counts
    return _softmax(mean) if how == "logits" else mean


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
