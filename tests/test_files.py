"""Outputs are written whole or not at all, with the modes a plain open() gives (0644 under umask 022)."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_training import TINY_AST

from astgenre.dataset import extract_archive
from astgenre.export import export_best_model
from astgenre.features import featurize_tracks
from astgenre.files import atomic_path, atomic_write_text, make_temp_dir, share_like_umask, umask
from astgenre.model import RUN_INFO, create_checkpoint
from astgenre.synth import generate_corpus


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_umask_is_read_without_changing_it():
    previous = os.umask(0o027)
    try:
        assert umask() == 0o027
        assert umask() == 0o027
    finally:
        os.umask(previous)


def test_atomic_write_follows_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "sub" / "a.txt", "hello")
        folder = make_temp_dir(tmp_path, ".x.", ".partial")
    finally:
        os.umask(previous)
    assert (tmp_path / "sub" / "a.txt").read_text() == "hello"
    assert mode(tmp_path / "sub" / "a.txt") == 0o640
    assert mode(folder) == 0o750 and folder.name.startswith(".x.") and folder.name.endswith(".partial")


def test_atomic_path_leaves_the_target_alone_on_error(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        temp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_share_like_umask_repairs_files_and_folders(tmp_path, umask_022):
    (tmp_path / "d").mkdir(mode=0o700)
    (tmp_path / "d" / "w").write_bytes(b"x")
    os.chmod(tmp_path / "d" / "w", 0o600)
    (tmp_path / "d" / "run").write_bytes(b"x")
    os.chmod(tmp_path / "d" / "run", 0o700)
    share_like_umask(tmp_path / "d")
    assert (mode(tmp_path / "d"), mode(tmp_path / "d" / "w"), mode(tmp_path / "d" / "run")) == (0o755, 0o644, 0o755)


def test_feature_files_are_readable_by_others(tmp_path, umask_022):
    (tmp_path / "audio").mkdir()
    np.save(tmp_path / "audio" / "t1.npy", np.zeros(4000, np.float32))
    featurize_tracks(tmp_path / "audio", ["t1"], tmp_path / "features")
    assert mode(tmp_path / "features" / "t1.npy") == 0o644


def test_model_weights_are_readable_by_others(tmp_path, umask_022):
    create_checkpoint(tmp_path / "checkpoint", TINY_AST)
    assert {p.name: mode(p) for p in (tmp_path / "checkpoint").iterdir()} == {
        "config.json": 0o644,
        "model.safetensors": 0o644,
        "preprocessor_config.json": 0o644,
    }


def test_export_repairs_weights_written_0600(tmp_path, umask_022):
    run = tmp_path / "runs" / "none" / "seed0"
    (run / "model").mkdir(parents=True)
    (run / "model" / RUN_INFO).write_text(json.dumps({"variant": "none", "seed": 0}))
    (run / "model" / "model.safetensors").write_bytes(b"weights")
    os.chmod(run / "model" / "model.safetensors", 0o600)
    (run / "metrics_development.json").write_text(json.dumps({"split": "development", "macro_f1": 0.5}))
    export_best_model([run], tmp_path / "best_model")
    assert mode(tmp_path / "best_model" / "model.safetensors") == 0o644
    assert mode(tmp_path / "best_model") == 0o755


def test_generated_archive_is_readable_by_others(tmp_path, umask_022):
    generate_corpus(tmp_path / "ismir04_genre.zip", scale=0.001, min_per_class=1, seconds=0.5)
    assert mode(tmp_path / "ismir04_genre.zip") == 0o644


def test_extracted_data_is_readable_by_others(tmp_path, umask_022):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        for split in ("training", "development", "evaluation"):
            archive.writestr(f"ismir04_genre/metadata/{split}/tracklist.csv", "")
    root = extract_archive(tmp_path / "a.zip", tmp_path / "data")
    assert mode(tmp_path / "data") == 0o755 and mode(root) == 0o755
    assert mode(root / "metadata" / "training" / "tracklist.csv") == 0o644
