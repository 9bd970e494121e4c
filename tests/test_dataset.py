"""Tests of archive extraction, the track index and its summary (astgenre.dataset)."""

from __future__ import annotations

import csv
import fcntl
import json
import logging
import os
import shutil
import stat
import struct
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from astgenre.dataset import (
    INDEX_COLUMNS,
    ArchiveError,
    IndexProblem,
    UnsafeArchiveError,
    build_index,
    extract_archive,
    format_summary,
    index_summary,
    name_key,
    read_index,
    select_shard,
    write_index,
)
from astgenre.labels import CLASSES, SPLITS, TRAINING_COUNTS

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ismir04"
TOP = "ismir04_genre"


def _need_fixtures() -> None:
    if not (FIXTURES / "filenames.txt").is_file():
        pytest.skip(f"real ISMIR2004 fixtures not found at {FIXTURES}")


def _fixture_tracklist(split: str) -> list[list[str]]:
    with open(FIXTURES / "metadata" / split / "tracklist.csv", encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


# ------------------------------------------------------------------------------------- real layout, end to end


@pytest.fixture(scope="module")
def real_archive(tmp_path_factory) -> Path:
    """A zip with the real metadata and a few bytes at every audio path of the real archive."""
    _need_fixtures()
    zip_path = tmp_path_factory.mktemp("archive") / "ismir04_genre.zip"
    listed = (FIXTURES / "filenames.txt").read_text(encoding="utf-8").splitlines()
    audio = [line.removeprefix("./") for line in listed if line.startswith("./audio/")]
    with zipfile.ZipFile(zip_path, "w") as archive:
        for split in SPLITS:
            name = f"metadata/{split}/tracklist.csv"
            archive.write(FIXTURES / name, f"{TOP}/{name}")
        for i, rel in enumerate(audio):
            archive.writestr(f"{TOP}/{rel}", f"dummy {i}".encode())
    return zip_path


@pytest.fixture(scope="module")
def real_root(real_archive, tmp_path_factory) -> Path:
    return extract_archive(real_archive, tmp_path_factory.mktemp("extract") / "data")


@pytest.fixture(scope="module")
def real_index(real_root):
    return build_index(real_root)


def test_real_index_counts_and_ids(real_index, real_root):
    index, _ = real_index
    assert list(index.columns) == INDEX_COLUMNS
    assert len(index) == 2187
    assert index.groupby("split").size().to_dict() == {s: 729 for s in SPLITS}
    training = index[index["split"] == "training"]["label"].value_counts().to_dict()
    assert training == TRAINING_COUNTS
    assert index["track_id"].is_unique and index["path"].is_unique
    assert index["track_id"].iloc[0] == "training-0001"
    assert index[index["split"] == "evaluation"]["track_id"].iloc[-1] == "evaluation-0729"
    assert all((real_root / p).is_file() for p in index["path"])
    assert index.attrs["unreferenced_files"] == []


def test_real_index_follows_tracklist_order_and_fields(real_index):
    index, _ = real_index
    for split in SPLITS:
        rows = _fixture_tracklist(split)
        part = index[index["split"] == split]
        assert list(part["label"]) == [r[0] for r in rows]
        assert list(part["title"]) == [r[3] for r in rows]
        assert list(part["track_number"]) == [r[4] for r in rows]


def test_labels_come_from_tracklist_not_folders(real_index):
    index, _ = real_index
    named = index[index["split"] != "development"]
    folder = named["path"].str.split("/").str[2]
    merged = {
        "jazz": "jazz_blues",
        "blues": "jazz_blues",
        "metal": "metal_punk",
        "punk": "metal_punk",
        "rock": "rock_pop",
        "pop": "rock_pop",
    }
    assert set(folder) - set(CLASSES), "fixture should have folders that are not class names"
    for genre, label in merged.items():
        assert (named.loc[folder == genre, "label"] == label).all()
    assert (folder == "jazz").any()
    development = index[index["split"] == "development"]
    assert development["path"].str.fullmatch(r"audio/development/artist_\d+_album_\d+_track_\d+\.mp3").all()
    assert development["label"].value_counts().sum() == 729


def test_real_resolutions_are_the_mismatched_paths(real_index):
    _, resolutions = real_index
    on_disk = {line.removeprefix("./") for line in (FIXTURES / "filenames.txt").read_text("utf-8").splitlines()}
    mismatched = {
        (split, row[5])
        for split in SPLITS
        for row in _fixture_tracklist(split)
        if f"audio/{split}/{row[5]}" not in on_disk
    }
    assert len(mismatched) == 3
    assert set(zip(resolutions["split"], resolutions["tracklist_path"], strict=False)) == mismatched
    assert len(resolutions) == 3
    assert set(resolutions["resolved_path"]) <= on_disk
    broken = resolutions[resolutions["tracklist_path"].str.contains("\ufffd")]
    assert list(broken["resolved_path"]) == ["audio/evaluation/electronic/strojovna_07/dirnix/05-kruhovy_objazd.mp3"]
    assert "lost_character" in broken["rule"].iloc[0]


def test_real_summary(real_index):
    index, _ = real_index
    summary = index_summary(index)
    assert summary["tracks"] == 2187
    assert summary["per_split"]["training"] == TRAINING_COUNTS
    assert summary["split_totals"] == {s: 729 for s in SPLITS}
    assert summary["artist_overlap"]["training-development"] is None
    assert summary["artist_overlap"]["training-evaluation"] > 0
    assert "anonymised" in summary["note"]
    text = format_summary(json.loads(json.dumps(summary)))
    assert "| training | 320 | 115 | 26 | 45 | 101 | 122 | 729 |" in text


def test_index_roundtrip(real_index, tmp_path):
    index, _ = real_index
    path = tmp_path / "sub" / "index.tsv"
    write_index(index, path)
    back = read_index(path)
    pd.testing.assert_frame_equal(back, index.reset_index(drop=True), check_dtype=False)
    assert all(isinstance(v, str) for v in back["track_number"])


# --------------------------------------------------------------------------------------------- unsafe archives


def _zip_with(path: Path, evil: zipfile.ZipInfo | str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for split in SPLITS:
            archive.writestr(f"{TOP}/metadata/{split}/tracklist.csv", "")
        archive.writestr(f"{TOP}/audio/training/rock/a/b/1-x.mp3", b"ok")
        archive.writestr(evil, b"/etc/passwd")
    return path


def _symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(f"{TOP}/audio/link.mp3")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("evil", ["../evil", f"{TOP}/../../evil", "/tmp/evil_abs", "C:/evil", "symlink"])
def test_unsafe_archive_rejected_before_writing(tmp_path, evil):
    entry = _symlink_entry() if evil == "symlink" else evil
    zip_path = _zip_with(tmp_path / "bad.zip", entry)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(UnsafeArchiveError) as err:
        extract_archive(zip_path, work / "data")
    name = entry.filename if isinstance(entry, zipfile.ZipInfo) else entry
    assert err.value.entry == name and repr(name) in str(err.value)
    assert list(work.iterdir()) == []
    assert not (tmp_path / "evil").exists()


def test_archive_without_tracklists_rejected(tmp_path):
    zip_path = tmp_path / "other.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr(f"{TOP}/metadata/training/tracklist.csv", "")
    with pytest.raises(ValueError, match="metadata/evaluation/tracklist.csv"):
        extract_archive(zip_path, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_extract_refuses_non_empty_dest_and_cleans_partial(tmp_path, monkeypatch):
    zip_path = _zip_with(tmp_path / "ok.zip", f"{TOP}/audio/training/rock/a/b/2-y.mp3")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(FileExistsError):
        extract_archive(zip_path, tmp_path / "full")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipExtFile, "read", fail)  # any streaming copy reads the members
    with pytest.raises(OSError, match="disk full"):
        extract_archive(zip_path, tmp_path / "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "ok.zip"]
    monkeypatch.undo()
    root = extract_archive(zip_path, tmp_path / "data")
    assert (root / "audio/training/rock/a/b/2-y.mp3").read_bytes() == b"/etc/passwd"


def _good_zip(path: Path, extra: dict[str, bytes] | None = None, compression: int = zipfile.ZIP_STORED) -> Path:
    """A minimal archive of the right layout, plus `extra` entries (name -> bytes; duplicates allowed)."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for split in SPLITS:
            archive.writestr(f"{TOP}/metadata/{split}/tracklist.csv", f'"rock_pop","a","b","c","1","x/{split}.mp3"\n')
        archive.writestr(f"{TOP}/audio/training/x/training.mp3", b"mp3 bytes")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def _declare_size(zip_path: Path, name: str, size: int) -> None:
    """Rewrite the uncompressed size that the headers of entry `name` declare (a lying archive)."""
    data = bytearray(zip_path.read_bytes())
    encoded = name.encode()
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        name_at = {b"PK\x01\x02": 46, b"PK\x03\x04": 30}[signature]
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + name_at : start + name_at + len(encoded)] == encoded:
                struct.pack_into("<I", data, start + offset, size)
            start += 4
    zip_path.write_bytes(bytes(data))


def _nothing_written(folder: Path, *keep: str) -> bool:
    return sorted(p.name for p in folder.iterdir()) == sorted(keep)


def test_zip_bomb_is_refused_before_writing(tmp_path):
    """16 MiB of zeros deflate to 16 KiB: an entry declaring 1000x its stored size is not a member of this archive."""
    bomb = f"{TOP}/audio/training/x/zeros.mp3"
    zip_path = _good_zip(tmp_path / "bomb.zip", {bomb: bytes(16 << 20)}, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ArchiveError, match=rf"{zip_path}: entry '{bomb}' declares 16,777,216 bytes from .* zip bomb"):
        extract_archive(zip_path, tmp_path / "data")
    assert _nothing_written(tmp_path, "bomb.zip")


def test_many_small_bombs_are_refused_by_their_total(tmp_path):
    extra = {f"{TOP}/audio/training/x/{k}.mp3": bytes(1 << 19) for k in range(100)}  # 100 x 512 KiB of zeros
    zip_path = _good_zip(tmp_path / "bombs.zip", extra, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ArchiveError, match=r"entries declare 52,4\d\d,\d\d\d bytes from .* zip bomb"):
        extract_archive(zip_path, tmp_path / "data")
    assert _nothing_written(tmp_path, "bombs.zip")


def test_stored_entry_with_a_lying_size_is_refused(tmp_path):
    name = f"{TOP}/audio/training/x/big.mp3"
    zip_path = _good_zip(tmp_path / "lying.zip", {name: bytes(5000)})
    _declare_size(zip_path, name, 3 << 30)
    with pytest.raises(ArchiveError, match=rf"entry '{name}' declares 3,221,225,472 bytes from 5,000 stored bytes"):
        extract_archive(zip_path, tmp_path / "data")
    assert _nothing_written(tmp_path, "lying.zip")


def test_entry_yielding_more_than_it_declares_is_stopped(tmp_path):
    name = f"{TOP}/audio/training/x/more.mp3"
    zip_path = _good_zip(tmp_path / "more.zip", {name: b"abc" * 100_000}, compression=zipfile.ZIP_DEFLATED)
    _declare_size(zip_path, name, 1000)
    with pytest.raises(ArchiveError, match=rf"{zip_path}: entry '{name}' (holds more than|cannot be read)"):
        extract_archive(zip_path, tmp_path / "data")
    assert _nothing_written(tmp_path, "more.zip")


def test_archive_larger_than_the_free_disk_is_refused(tmp_path, monkeypatch):
    zip_path = _good_zip(tmp_path / "ok.zip")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(ArchiveError, match=rf"extracting {zip_path} needs \d+ bytes .* only 1,000 bytes free"):
        extract_archive(zip_path, tmp_path / "data")
    assert _nothing_written(tmp_path, "ok.zip")


def test_duplicate_entries_are_refused_and_named(tmp_path):
    tracklist = f"{TOP}/metadata/training/tracklist.csv"
    with pytest.warns(UserWarning, match="Duplicate name"):
        zip_path = _good_zip(tmp_path / "dup.zip", {tracklist: b'"rock_pop","a","b","c","1","x/other.mp3"\n'})
    with pytest.raises(ArchiveError, match=rf"holds 1 file\(s\) more than once.*'{tracklist}'"):
        extract_archive(zip_path, tmp_path / "data")
    assert _nothing_written(tmp_path, "dup.zip")


def test_a_path_that_is_a_file_and_a_folder_is_refused(tmp_path):
    clash = f"{TOP}/audio/training/x/training.mp3"
    zip_path = _good_zip(tmp_path / "clash.zip", {f"{clash}/inner.mp3": b"x"})
    with pytest.raises(ArchiveError, match=rf"'{clash}' is both a file and a folder"):
        extract_archive(zip_path, tmp_path / "data")
    assert _nothing_written(tmp_path, "clash.zip")


def test_truncated_archive_names_the_file_and_the_remedy(tmp_path):
    zip_path = _good_zip(tmp_path / "cut.zip", {f"{TOP}/audio/training/x/a.mp3": os.urandom(50_000)})
    zip_path.write_bytes(zip_path.read_bytes()[:30_000])
    with pytest.raises(ArchiveError, match=rf"{zip_path} is not a readable zip archive .* Download it again"):
        extract_archive(zip_path, tmp_path / "data")
    assert _nothing_written(tmp_path, "cut.zip")


def test_partial_folders_of_killed_extractions_are_removed(tmp_path):
    zip_path = _good_zip(tmp_path / "ok.zip")
    stale_old = tmp_path / ".data.abcdef12.partial"  # an older layout without a lock file
    stale_locked = tmp_path / ".data.0011223344ff.partial"  # its lock file exists but nobody holds it
    live = tmp_path / ".data.ffeeddccbbaa.partial"  # another extraction still running: its lock is held
    for folder in (stale_old, stale_locked, live):
        (folder / TOP).mkdir(parents=True)
        (folder / TOP / "big.mp3").write_bytes(b"x" * 1000)
    (tmp_path / f"{stale_locked.name}.lock").touch()
    held = os.open(tmp_path / f"{live.name}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        root = extract_archive(zip_path, tmp_path / "data")
    finally:
        os.close(held)
    assert (root / "audio/training/x/training.mp3").read_bytes() == b"mp3 bytes"
    assert _nothing_written(tmp_path, "ok.zip", "data", live.name, f"{live.name}.lock")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [TOP]


# ------------------------------------------------------------------------------------ synthetic index problems


def _make_root(tmp_path: Path, tracklists: dict[str, list[list[str]]], files: list[str]) -> Path:
    """An ismir04_genre tree with the given tracklist rows (per split) and audio files (relative to root)."""
    root = tmp_path / TOP
    for split in SPLITS:
        (root / "audio" / split).mkdir(parents=True)
        meta = root / "metadata" / split
        meta.mkdir(parents=True)
        with open(meta / "tracklist.csv", "w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(tracklists.get(split, []))
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    return root


def _row(path: str, label: str = "rock_pop", number: str = "1") -> list[str]:
    return [label, "artist", "album", "title", number, path]


def test_normalisation_resolves_and_logs(tmp_path, caplog):
    root = _make_root(
        tmp_path,
        {"training": [_row("rock/a/Café (live)/01-Don't.mp3"), _row("rock/a/b/2-ok.mp3")]},
        [
            "audio/training/rock/a/cafe_live_/1-don_t.mp3",
            "audio/training/rock/a/b/2-ok.mp3",
            "audio/training/rock/a/b/3-extra.mp3",
        ],
    )
    with caplog.at_level(logging.INFO, logger="astgenre.dataset"):
        index, resolutions = build_index(root)
    assert list(index["path"]) == ["audio/training/rock/a/cafe_live_/1-don_t.mp3", "audio/training/rock/a/b/2-ok.mp3"]
    assert resolutions.to_dict("records") == [
        {
            "split": "training",
            "tracklist_path": "rock/a/Café (live)/01-Don't.mp3",
            "resolved_path": "audio/training/rock/a/cafe_live_/1-don_t.mp3",
            "rule": "folder: normalised_name; file: normalised_name",
        }
    ]
    assert "01-Don't.mp3" in caplog.text
    assert index.attrs["unreferenced_files"] == ["audio/training/rock/a/b/3-extra.mp3"]
    summary = index_summary(index)
    assert summary["unreferenced_files"] == ["audio/training/rock/a/b/3-extra.mp3"]
    assert "3-extra.mp3" in format_summary(summary)


def test_name_key():
    assert name_key("05-Kruhový_Objazd.mp3") == "5_kruhovy_objazd_mp3"
    assert name_key("d'intavolatura_(1620)") == name_key("d_intavolatura_(1620)")
    assert name_key("0-intro.mp3") == "0_intro_mp3"


def test_unresolvable_paths_all_named(tmp_path):
    root = _make_root(
        tmp_path,
        {
            "training": [_row("rock/a/b/1-gone.mp3"), _row("rock/a/b/2-here.mp3")],
            "evaluation": [_row("rock/x/y/9-lost.mp3")],
        },
        ["audio/training/rock/a/b/2-here.mp3"],
    )
    with pytest.raises(IndexProblem) as err:
        build_index(root)
    assert len(err.value.problems) == 2
    message = str(err.value)
    assert "rock/a/b/1-gone.mp3" in message and "rock/x/y/9-lost.mp3" in message
    assert "training" in message and "evaluation" in message and "2-here" not in message


def test_ambiguous_path_is_an_error(tmp_path):
    root = _make_root(
        tmp_path,
        {"training": [_row("rock/a/b/1-it's.mp3")]},
        ["audio/training/rock/a/b/1-it_s.mp3", "audio/training/rock/a/b/01-it-s.mp3"],
    )
    with pytest.raises(IndexProblem, match="ambiguous") as err:
        build_index(root)
    assert "1-it's.mp3" in str(err.value)


def test_lost_character_must_match_one_file(tmp_path):
    files = ["audio/training/rock/a/b/5-kruhovy_objazd.mp3", "audio/training/rock/a/b/5-kruhova_objazd.mp3"]
    root = _make_root(tmp_path, {"training": [_row("rock/a/b/5-kruhov\ufffd_objazd.mp3")]}, files)
    with pytest.raises(IndexProblem, match="ambiguous"):
        build_index(root)
    (root / files[1]).unlink()
    _, resolutions = build_index(root)
    assert list(resolutions["resolved_path"]) == [files[0]]


def test_bad_label_malformed_row_and_duplicate(tmp_path):
    root = _make_root(
        tmp_path,
        {
            "training": [
                _row("rock/a/b/1-a.mp3", label="rock"),
                ["rock_pop", "artist", "1-b.mp3"],
                _row("rock/a/b/2-c.mp3"),
                _row("rock/a/b/02-c.mp3"),
            ],
            "development": [_row("../escape.mp3")],
        },
        ["audio/training/rock/a/b/1-a.mp3", "audio/training/rock/a/b/2-c.mp3"],
    )
    with pytest.raises(IndexProblem) as err:
        build_index(root)
    problems = err.value.problems
    assert len(problems) == 4
    training_csv = str(root / "metadata" / "training" / "tracklist.csv")
    assert any("'rock'" in p and f"{training_csv}:1" in p for p in problems)
    assert any("3 columns" in p and f"{training_csv}:2" in p for p in problems)
    assert any("02-c.mp3" in p and "same file" in p for p in problems)
    assert any("../escape.mp3" in p for p in problems)


def test_missing_split_folder(tmp_path):
    root = _make_root(tmp_path, {}, [])
    shutil.rmtree(root / "audio" / "evaluation")
    with pytest.raises(IndexProblem, match="audio/evaluation"):
        build_index(root)


def test_read_index_rejects_wrong_columns(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="x.tsv"):
        read_index(path)


# ---------------------------------------------------------------------------------------- shards and summary


def _synthetic_index() -> pd.DataFrame:
    rows = [
        ("training", "classical", "anna"),
        ("training", "world", "bo"),
        ("training", "world", "cy"),
        ("training", "rock_pop", "bo"),
        ("evaluation", "classical", "bo"),
        ("evaluation", "world", "cy"),
        ("evaluation", "metal_punk", "dee"),
        ("development", "classical", "artist_1"),
        ("development", "jazz_blues", "artist_2"),
    ]
    return pd.DataFrame(
        [
            {
                "track_id": f"{s}-{i:04d}",
                "split": s,
                "label": lab,
                "artist": a,
                "album": "al",
                "title": "t",
                "track_number": "1",
                "path": f"audio/{s}/{i}.mp3",
            }
            for i, (s, lab, a) in enumerate(rows, start=1)
        ],
        columns=INDEX_COLUMNS,
    )


@pytest.mark.parametrize("n_shards", [1, 2, 4, 9, 12])
def test_select_shard_partitions(n_shards):
    index = _synthetic_index()
    shards = [select_shard(index, k, n_shards) for k in range(n_shards)]
    ids = [t for shard in shards for t in shard["track_id"]]
    assert len(ids) == len(set(ids)) == len(index)
    pd.testing.assert_frame_equal(pd.concat(shards).sort_index(), index)
    assert list(shards[0]["track_id"]) == list(index["track_id"].iloc[::n_shards])


@pytest.mark.parametrize("shard, n_shards", [(-1, 2), (2, 2), (0, 0), (True, 2), (0, 2.0)])
def test_select_shard_validates(shard, n_shards):
    with pytest.raises((ValueError, TypeError)):
        select_shard(_synthetic_index(), shard, n_shards)


def test_summary_artist_overlap():
    summary = index_summary(_synthetic_index())
    assert summary["tracks"] == 9
    assert summary["artists"] == {"training": 3, "development": 2, "evaluation": 3}
    assert summary["artist_overlap"] == {
        "training-development": None,
        "training-evaluation": 2,
        "development-evaluation": None,
    }
    assert summary["per_split"]["training"] == {
        "classical": 1,
        "electronic": 0,
        "jazz_blues": 0,
        "metal_punk": 0,
        "rock_pop": 1,
        "world": 2,
    }
    assert summary["label_totals"]["classical"] == 3
    assert "development" in summary["note"] and "anonymised" in summary["note"]
    assert summary["unreferenced_files"] is None
    text = format_summary(summary)
    assert "| training-evaluation | 2 |" in text and "| training-development | not measurable |" in text
