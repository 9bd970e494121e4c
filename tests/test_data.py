"""Features are checked where they are read: every track of the index has valid features or a decode error row."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from astgenre.data import (
    EvaluationWindows,
    FeatureProblem,
    TrainingWindows,
    WindowBatch,
    collate_windows,
    load_split,
    model_inputs,
    open_features,
)
from astgenre.dataset import INDEX_COLUMNS
from astgenre.features import pad_value
from astgenre.labels import CLASSES

SPLIT = "evaluation"


def make_features(root: Path, n: int = 5, frames: int = 40) -> tuple[pd.DataFrame, list[Path], Path]:
    """Index rows, two shard folders of float16 features and an empty decode_errors.tsv."""
    shards = [root / "features" / f"shard{k}" for k in range(2)]
    for shard in shards:
        shard.mkdir(parents=True)
    rows = []
    for i in range(n):
        track_id = f"{SPLIT}-{i:04d}"
        features = np.random.default_rng(i).normal(size=(frames, 128)).astype(np.float16)
        np.save(shards[i % 2] / f"{track_id}.npy", features)
        rows.append([track_id, SPLIT, "rock_pop", "a", "b", "t", str(i), f"audio/{track_id}.mp3"])
    errors = root / "decode_errors.tsv"
    errors.write_text("track_id\tpath\terror\n")
    return pd.DataFrame(rows, columns=INDEX_COLUMNS), shards, errors


def feature_file(shards: list[Path], i: int) -> Path:
    return shards[i % 2] / f"{SPLIT}-{i:04d}.npy"


def test_valid_features_load(tmp_path):
    index, shards, errors = make_features(tmp_path)
    tracks, arrays = load_split(index, SPLIT, shards, errors)
    assert list(tracks["track_id"]) == list(index["track_id"])
    assert all(isinstance(a, np.memmap) and a.shape == (40, 128) for a in arrays.values())


def test_deleted_feature_file_is_an_error_naming_it_and_the_remedy(tmp_path):
    """Before: evaluation went on with 4 of 5 tracks, exit 0, pointing at a decode_errors.tsv that did not list it."""
    index, shards, errors = make_features(tmp_path)
    feature_file(shards, 3).unlink()
    with pytest.raises(FeatureProblem) as info:
        load_split(index, SPLIT, shards, errors)
    message = str(info.value)
    assert f"{SPLIT}-0003: no feature file {SPLIT}-0003.npy in {shards[0]}, {shards[1]}" in message
    assert f"and no row in {errors}" in message and "snakemake --forcerun features" in message
    assert info.value.problems == [message.splitlines()[1].removeprefix("  - ")]


def test_tracks_listed_in_decode_errors_are_left_out_with_a_warning(tmp_path, caplog):
    index, shards, errors = make_features(tmp_path)
    feature_file(shards, 2).unlink()
    errors.write_text(f"track_id\tpath\terror\n{SPLIT}-0002\taudio/x.mp3\tfile is empty (0 bytes)\n")
    with caplog.at_level(logging.WARNING, logger="astgenre.data"):
        tracks, arrays = load_split(index, SPLIT, shards, errors)
    assert f"{SPLIT}-0002" not in set(tracks["track_id"]) and len(tracks) == 4 and len(arrays) == 4
    assert f"1 {SPLIT} track(s) left out: they could not be decoded (see {errors}): {SPLIT}-0002" in caplog.text


def test_stale_features_of_an_undecodable_track_are_an_error(tmp_path):
    index, shards, errors = make_features(tmp_path)
    errors.write_text(f"track_id\tpath\terror\n{SPLIT}-0001\taudio/x.mp3\tcannot open\n")
    with pytest.raises(FeatureProblem, match=f"{SPLIT}-0001: .* exists but .* lists the track as undecodable"):
        load_split(index, SPLIT, shards, errors)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1000])


def _extend(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\0" * 256)


def _nan(path: Path) -> None:
    features = np.load(path)
    features[5, 7] = np.nan
    np.save(path, features)


def _inf(path: Path) -> None:
    np.save(path, np.full((40, 128), np.inf, np.float16))


def _one_dimensional(path: Path) -> None:
    np.save(path, np.zeros(40, np.float16))


def _no_frames(path: Path) -> None:
    np.save(path, np.zeros((0, 128), np.float16))


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a numpy file at all")


def _other_mel_bins(path: Path) -> None:
    np.save(path, np.zeros((40, 64), np.float16))


@pytest.mark.parametrize(
    "damage, reason",
    [
        (_truncate, "cannot be read (mmap length is greater than file size)"),
        (_extend, "is 10624 bytes long, its header announces 10368"),
        (_nan, "holds NaN or infinite values"),
        (_inf, "holds NaN or infinite values"),
        (_one_dimensional, "has shape (40,), not (frames, mel bins)"),
        (_no_frames, "has shape (0, 128), not (frames, mel bins)"),
        (_garbage, "cannot be read"),
        (_other_mel_bins, "has 64 mel bins, the others 128"),
    ],
)
def test_damaged_feature_file_is_named_with_what_is_wrong(tmp_path, damage, reason):
    index, shards, errors = make_features(tmp_path)
    path = feature_file(shards, 4)
    damage(path)
    with pytest.raises(FeatureProblem) as info:
        load_split(index, SPLIT, shards, errors)
    assert f"{SPLIT}-0004: {path} {reason}" in str(info.value)
    assert len(info.value.problems) == 1


def test_without_decode_errors_every_track_needs_features(tmp_path):
    index, shards, _ = make_features(tmp_path)
    feature_file(shards, 0).unlink()
    with pytest.raises(FeatureProblem, match=f"{SPLIT}-0000: no feature file"):
        load_split(index, SPLIT, shards)


def test_a_track_in_two_shards_is_an_error(tmp_path):
    index, shards, errors = make_features(tmp_path)
    copy = shards[1] / f"{SPLIT}-0000.npy"
    copy.write_bytes(feature_file(shards, 0).read_bytes())
    with pytest.raises(FeatureProblem, match=f"{SPLIT}-0000: both {feature_file(shards, 0)} and {copy}"):
        load_split(index, SPLIT, shards, errors)


def test_open_features_returns_the_checked_memory_map(tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.ones((3, 4), np.float16))
    features = open_features(path)
    assert isinstance(features, np.memmap) and features.shape == (3, 4) and float(features.sum()) == 12.0


# --------------------------------------------------------------------------- batches (__getitems__) vs items


def window_study(root: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Memory-mapped float16 tracks longer than, as long as, one frame longer than, and shorter than a 64-frame
    window, of every class."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    rows, arrays = [], {}
    for k, frames in enumerate([300, 64, 65, 40, 150, 300, 64, 20, 97, 128, 64, 300]):
        track_id = f"t{k:02d}"
        np.save(root / f"{track_id}.npy", rng.normal(0, 1, (frames, 128)).astype(np.float16))
        arrays[track_id] = open_features(root / f"{track_id}.npy")
        rows.append({"track_id": track_id, "label": CLASSES[k % len(CLASSES)]})
    return pd.DataFrame(rows), arrays


def one_by_one(dataset, items: list[int]) -> dict:
    """The reference: ``__getitem__`` window after window, stacked (what the DataLoader did before batches)."""
    return collate_windows([dataset[i] for i in items])


@pytest.mark.parametrize("mode", ["random", "first"])
@pytest.mark.parametrize(
    "augment",
    [None, {"freq_mask": 24, "time_mask": 96, "n_masks": 2}, {"freq_mask": 0, "time_mask": 500, "n_masks": 3}],
    ids=["no-specaugment", "study-specaugment", "time-masks-only"],
)
def test_a_batch_of_training_windows_is_the_windows_one_by_one(tmp_path, mode, augment):
    """Same windows, same order, same random draws: the values equal bit for bit, and torch's generator ends in the
    same state (the next batch, dropout and mixup draw what they drew before)."""
    tracks, arrays = window_study(tmp_path)
    windows = TrainingWindows(tracks, arrays, 64, mode=mode, windows_per_track=3, specaugment=augment)
    for seed in range(3):
        items = torch.randperm(len(windows), generator=torch.Generator().manual_seed(seed)).tolist()[:23]
        torch.manual_seed(seed)
        expected, state = one_by_one(windows, items), torch.get_rng_state()
        torch.manual_seed(seed)
        batch = collate_windows(windows.__getitems__(items))
        assert torch.equal(torch.get_rng_state(), state)
        assert batch["input_values"].dtype == torch.float16  # the features' own dtype; float32 on the device
        assert torch.equal(model_inputs(batch)["input_values"], expected["input_values"])
        assert torch.equal(batch["labels"], expected["labels"])


def test_a_batch_of_evaluation_windows_is_the_windows_one_by_one(tmp_path):
    tracks, arrays = window_study(tmp_path)
    ids = list(tracks["track_id"])
    for first_only in (False, True):
        windows = EvaluationWindows(ids, arrays, 64, 32, labels=list(range(len(ids))), first_only=first_only)
        items = list(range(len(windows)))[::-1]
        batch = model_inputs(collate_windows(windows.__getitems__(items)))
        expected = one_by_one(windows, items)
        assert batch["input_values"].dtype == torch.float32
        assert torch.equal(batch["input_values"], expected["input_values"])
        assert torch.equal(batch["labels"], expected["labels"])


def test_the_dataloader_fetches_whole_batches_with_padding_in_the_features_dtype(tmp_path):
    tracks, arrays = window_study(tmp_path)
    windows = EvaluationWindows(list(tracks["track_id"]), arrays, 64, 32)
    calls = []
    original = windows.__getitems__
    windows.__getitems__ = lambda items: calls.append(len(items)) or original(items)
    batches = list(DataLoader(windows, batch_size=8, collate_fn=collate_windows))
    assert calls == [8] * (len(windows) // 8) + ([len(windows) % 8] if len(windows) % 8 else [])
    short = windows.items.index(("t07", 0))  # 20 frames, padded to 64
    values = torch.cat([b["input_values"] for b in batches])[short]
    assert torch.equal(values[20:], torch.full((44, 128), float(np.float16(pad_value()))).half())


def test_a_sequence_of_items_still_collates(tmp_path):
    """astgenre predict and anything else that hands the collator a list of items."""
    tracks, arrays = window_study(tmp_path)
    windows = EvaluationWindows(list(tracks["track_id"]), arrays, 64, 32)
    batch = collate_windows([windows[0], windows[1]])
    assert batch["input_values"].shape == (2, 64, 128) and batch["input_values"].dtype == torch.float32
    assert isinstance(windows.__getitems__([0, 1]), WindowBatch) and len(windows.__getitems__([0, 1])) == 2
    assert torch.equal(windows.__getitems__([0, 1])[1]["input_values"].float(), windows[1]["input_values"])
