"""Track features on disk and the torch datasets of windows drawn from them."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from .features import FbankSettings, pad_value, window, window_starts
from .labels import LABEL2ID

log = logging.getLogger(__name__)


RERUN_FEATURES = "rerun the features stage: snakemake --forcerun features (with your --config/--configfile options)"


class FeatureProblem(ValueError):
    """Tracks of the index whose features are missing, unreadable or invalid; ``problems`` lists each one."""

    def __init__(self, what: str, problems: list[str], remedy: str = RERUN_FEATURES) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{len(self.problems)} {what}:\n{lines}{more}\nTo fix: {remedy}")


def find_features(feature_dirs: Iterable[Path]) -> dict[str, Path]:
    """Map track_id -> feature file over the shard folders; raises FeatureProblem for a track in two folders."""
    found: dict[str, Path] = {}
    twice = []
    for folder in feature_dirs:
        for path in sorted(Path(folder).glob("*.npy")):
            if path.stem in found:
                twice.append(f"{path.stem}: both {found[path.stem]} and {path}")
            found[path.stem] = path
    if twice:
        raise FeatureProblem(
            "track(s) with a feature file in two folders", twice, "delete the feature folders, then " + RERUN_FEATURES
        )
    return found


def read_decode_errors(path: Path | str) -> dict[str, str]:
    """track_id -> reason, from decode_errors.tsv (columns track_id, path, error)."""
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, encoding_errors="surrogateescape")
    if "track_id" not in table.columns:
        raise ValueError(f"{path} has no track_id column: it is not a decode_errors.tsv; rerun the decode stage")
    return dict(zip(table["track_id"], table.get("error", [""] * len(table)), strict=True))


def open_features(path: Path) -> np.ndarray:
    """A feature file memory-mapped and checked: a (frames >= 1, mel) float array, exactly as long as the file, all
    finite. Raises ValueError saying what is wrong (the caller names the track)."""
    try:
        features = np.load(path, mmap_mode="r")
    except (ValueError, OSError, EOFError) as err:  # "mmap length is greater than file size": truncated
        raise ValueError(f"cannot be read ({err})") from err
    if features.ndim != 2 or features.shape[0] < 1 or features.shape[1] < 1:
        raise ValueError(f"has shape {features.shape}, not (frames, mel bins)")
    if not np.issubdtype(features.dtype, np.floating):
        raise ValueError(f"has dtype {features.dtype}, not float")
    if isinstance(features, np.memmap):
        expected = features.offset + features.nbytes
        size = Path(path).stat().st_size
        if size != expected:
            raise ValueError(f"is {size} bytes long, its header announces {expected}")
    if not np.isfinite(features).all():
        raise ValueError("holds NaN or infinite values")
    return features


def load_split(
    index: pd.DataFrame,
    split: str,
    feature_dirs: Iterable[Path],
    decode_errors: Path | str | None = None,
    track_ids: Collection[str] | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Tracks of one split that have features, and their (frames, mel) arrays, memory-mapped and checked.

    Every track of the split must have a valid feature file (see :func:`open_features`; all with the same number of
    mel bins) or a row in ``decode_errors`` (the decode stage's decode_errors.tsv): those are left out with a warning.
    Anything else (a feature file deleted, truncated or NaN-filled after the features stage, or stale features of a
    track that now fails to decode) raises FeatureProblem naming each file and the remedy. With track_ids, the
    tracks are those of the index with these ids (a protocol's role, named by ``split``), in the index's order.
    """
    files = find_features(feature_dirs)
    failed = read_decode_errors(decode_errors) if decode_errors is not None else {}
    chosen = index["split"] == split if track_ids is None else index["track_id"].isin(set(track_ids))
    tracks = index[chosen].reset_index(drop=True)
    if tracks.empty:
        raise ValueError(f"the index has no track in split {split!r}")
    where = ", ".join(str(Path(d)) for d in feature_dirs) or "(no feature folder)"
    problems, arrays, skipped = [], {}, []
    for track_id in tracks["track_id"]:
        path = files.get(track_id)
        if track_id in failed:
            if path is not None:
                problems.append(f"{track_id}: {path} exists but {decode_errors} lists the track as undecodable")
            skipped.append(track_id)
        elif path is None:
            problems.append(f"{track_id}: no feature file {track_id}.npy in {where}, and no row in {decode_errors}")
        else:
            try:
                arrays[track_id] = open_features(path)
            except ValueError as err:
                problems.append(f"{track_id}: {path} {err}")
    problems += _mel_mismatches(arrays, files)
    if problems:
        raise FeatureProblem(f"{split} track(s) without valid features", problems)
    if skipped:
        log.warning(
            "%d %s track(s) left out: they could not be decoded (see %s): %s",
            len(skipped),
            split,
            decode_errors,
            ", ".join(skipped),
        )
    tracks = tracks[tracks["track_id"].isin(arrays)].reset_index(drop=True)
    if tracks.empty:
        raise ValueError(f"no {split} track has features: every one is listed in {decode_errors}")
    return tracks, arrays


def _mel_mismatches(arrays: dict[str, np.ndarray], files: dict[str, Path]) -> list[str]:
    """Files whose number of mel bins differs from the most common one."""
    bins = Counter(a.shape[1] for a in arrays.values())
    if len(bins) < 2:
        return []
    common = bins.most_common(1)[0][0]
    return [
        f"{t}: {files[t]} has {a.shape[1]} mel bins, the others {common}"
        for t, a in arrays.items()
        if a.shape[1] != common
    ]


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


class WindowBatch(Sequence):
    """Windows fetched together by a dataset's ``__getitems__``: ``input_values`` (windows, frames, mel) in the
    features' own dtype (float16 as the features stage writes them) and ``labels`` (windows,).

    The DataLoader hands it to the collator, :func:`collate_windows`, which returns the two tensors as they are: no
    per-window stacking, and the float32 copy is made by :func:`model_inputs` where the model runs (on a GPU, after
    a transfer of half the bytes). As a sequence it also gives window ``i`` as an item, for code that iterates.
    """

    def __init__(self, input_values: torch.Tensor, labels: torch.Tensor) -> None:
        self.input_values = input_values
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_values": self.input_values[i], "labels": self.labels[i]}


def collate_windows(batch: WindowBatch | Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The data collator: a :class:`WindowBatch` as its tensors; items (``__getitem__``'s) stacked key by key."""
    if isinstance(batch, WindowBatch):
        return {"input_values": batch.input_values, "labels": batch.labels}
    return {key: torch.stack([item[key] for item in batch]) for key in batch[0]}


def model_inputs(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch with float32 ``input_values``, as the model takes them (a batch of float16 features is cast on the
    device it was moved to; float16 to float32 is exact, so the values are those ``__getitem__`` returns)."""
    return {**batch, "input_values": batch["input_values"].float()}


def gather_windows(
    arrays: Sequence[np.ndarray], starts: Sequence[int], length: int, settings: FbankSettings = FbankSettings()
) -> np.ndarray:
    """(windows, length, mel) frames [start, start + length) of each (frames, mel) array, padded at the end with
    pad_value rounded to the array's dtype: :func:`astgenre.features.window` for many windows at once, written into
    one array of the arrays' common dtype (float16 features stay float16: half the bytes, and a plain copy)."""
    dtype = np.result_type(*{a.dtype for a in arrays}) if len(arrays) else np.float32
    bins = arrays[0].shape[1] if len(arrays) else 0
    out = np.empty((len(arrays), length, bins), dtype)
    pad = pad_value(settings)
    for k, (features, start) in enumerate(zip(arrays, starts, strict=True)):
        piece = features[start : start + length]
        out[k, : piece.shape[0]] = piece
        if piece.shape[0] < length:
            out[k, piece.shape[0] :] = np.asarray(pad, dtype=features.dtype)
    return out


def _as_batch(values: np.ndarray, labels: Sequence[int]) -> WindowBatch:
    return WindowBatch(torch.from_numpy(values), torch.as_tensor(np.asarray(labels, dtype=np.int64)))


class TrainingWindows(Dataset):
    """Windows of training tracks: each epoch draws `windows_per_track` random windows per track
    (or the first window only, as the reference protocol did).

    ``__getitem__`` gives one window (float32); ``__getitems__``, which the DataLoader calls with a whole batch of
    indices, gives the same windows as a :class:`WindowBatch`, with the same random draws in the same order.
    """

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

    def __getitems__(self, items: Sequence[int]) -> WindowBatch:
        """The windows of ``items`` at once: what ``[self[i] for i in items]`` gives, window for window and bit for
        bit, drawing the same random numbers from torch's generator in the same order (start, then each mask's
        width and position, window after window), then copying the windows and applying the masks in bulk."""
        tracks = [item % len(self.track_ids) for item in items]
        arrays = [self.arrays[self.track_ids[track]] for track in tracks]
        starts, masks = [], []
        for features in arrays:
            start = 0
            if self.mode == "random" and features.shape[0] > self.length:
                start = int(torch.randint(0, features.shape[0] - self.length + 1, ()).item())
            starts.append(start)
            if self.specaugment:
                masks.append(_mask_draws(self.length, features.shape[1], **self.specaugment))
        values = gather_windows(arrays, starts, self.length, self.settings)
        if self.specaugment:
            for x, bands in zip(values, masks, strict=True):
                for (freq_lo, freq_width), (time_lo, time_width) in bands:
                    x[:, freq_lo : freq_lo + freq_width] = 0
                    x[time_lo : time_lo + time_width, :] = 0
        return _as_batch(values, [self.labels[track] for track in tracks])


def _mask_draws(
    frames: int, bins: int, freq_mask: int, time_mask: int, n_masks: int
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The (lo, width) of the frequency and the time band of each of n_masks masks, drawn as :func:`spec_augment`
    draws them (same calls, same order; a band of width 0 where that mask is off)."""
    bands = []
    for _ in range(n_masks):
        freq = time = (0, 0)
        if freq_mask > 0:
            width = int(torch.randint(0, freq_mask + 1, ()).item())
            freq = (int(torch.randint(0, max(1, bins - width + 1), ()).item()), width)
        if time_mask > 0:
            width = int(torch.randint(0, min(time_mask, frames) + 1, ()).item())
            time = (int(torch.randint(0, max(1, frames - width + 1), ()).item()), width)
        bands.append((freq, time))
    return bands


class EvaluationWindows(Dataset):
    """Every window of every track (hop-spaced), in track order; `track_of` maps windows back to tracks.

    ``__getitem__`` gives one window (float32), ``__getitems__`` a batch of them as a :class:`WindowBatch`.
    """

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

    def __getitems__(self, items: Sequence[int]) -> WindowBatch:
        """The windows of ``items`` at once (the values of ``[self[i] for i in items]``)."""
        chosen = [self.items[item] for item in items]
        arrays = [self.arrays[track_id] for track_id, _ in chosen]
        values = gather_windows(arrays, [start for _, start in chosen], self.length, self.settings)
        return _as_batch(values, [self.window_labels[item] for item in items])


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
