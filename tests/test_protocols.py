"""Protocol assignments on the real ISMIR2004 metadata: no leaks between roles, every class everywhere."""

import csv

import pandas as pd
import pytest

from astgenre import protocols
from astgenre.labels import CLASSES, SPLITS


@pytest.fixture(scope="module")
def real_index(ismir_fixtures) -> pd.DataFrame:
    """track_id, split, label, artist of every track of the real tracklists (no audio needed)."""
    rows = []
    for split in SPLITS:
        with open(ismir_fixtures / "metadata" / split / "tracklist.csv", encoding="utf-8", newline="") as handle:
            for n, row in enumerate(csv.reader(handle)):
                rows.append({"track_id": f"{split}-{n:04d}", "split": split, "label": row[0], "artist": row[1]})
    return pd.DataFrame(rows)


def roles(table, fold=0) -> dict[str, set]:
    return {role: set(ids) for role, ids in protocols.roles_of(table, fold).items()}


def test_official_is_the_three_splits(real_index):
    table = protocols.build("official", real_index, {})
    parts = roles(table)
    for role, split in (("train", "training"), ("select", "development"), ("test", "evaluation")):
        assert parts[role] == set(real_index.loc[real_index["split"] == split, "track_id"])
    assert len(table) == 3 * 729


def test_literature_tests_on_development_and_selects_on_held_out_training_artists(real_index):
    table = protocols.build("literature", real_index, {"select_fraction": 0.2, "seed": 0})
    parts = roles(table)
    split_of = real_index.set_index("track_id")["split"]
    assert parts["test"] == set(real_index.loc[real_index["split"] == "development", "track_id"])
    assert {split_of[t] for t in parts["train"] | parts["select"]} == {"training"}  # development never selects
    assert len(parts["train"]) + len(parts["select"]) == 729 and 0.1 < len(parts["select"]) / 729 < 0.35
    artist_of = real_index.set_index("track_id")["artist"]
    assert not {artist_of[t] for t in parts["select"]} & {artist_of[t] for t in parts["train"]}
    assert protocols.build("literature", real_index, {"select_fraction": 0.2, "seed": 0}).equals(table)


def test_artist_filtered_folds_are_artist_disjoint_and_class_complete(real_index):
    table = protocols.build("artist_filtered", real_index, {"folds": 5, "select_fraction": 0.2, "seed": 0})
    pooled = real_index[real_index["split"] != "development"]
    artist_of = real_index.set_index("track_id")["artist"]
    label_of = real_index.set_index("track_id")["label"]
    tested = []
    for fold in range(5):
        parts = roles(table, fold)
        assert parts["train"] | parts["select"] | parts["test"] == set(pooled["track_id"])
        artists = {role: {artist_of[t] for t in ids} for role, ids in parts.items()}
        assert not artists["test"] & (artists["train"] | artists["select"]) and not artists["select"] & artists["train"]
        for role, ids in parts.items():
            assert {label_of[t] for t in ids} == set(CLASSES), (fold, role)
        tested += sorted(parts["test"])
    assert sorted(tested) == sorted(pooled["track_id"])  # every pooled track is tested exactly once
    assert protocols.artist_counts(pooled)["jazz_blues"] == 5  # why K = 5 is the most this collection allows
    again = protocols.build("artist_filtered", real_index, {"folds": 5, "select_fraction": 0.2, "seed": 0})
    assert again.equals(table)
    other = protocols.build("artist_filtered", real_index, {"folds": 5, "select_fraction": 0.2, "seed": 1})
    assert not other.equals(table)


def test_too_many_folds_for_the_artists_is_refused(real_index):
    with pytest.raises(protocols.AssignmentError, match="jazz_blues"):
        protocols.build("artist_filtered", real_index, {"folds": 6, "select_fraction": 0.2, "seed": 0})


def test_a_leaking_assignment_is_refused(real_index):
    table = protocols.build("artist_filtered", real_index, {"folds": 5, "select_fraction": 0.2, "seed": 0})
    leaked = table.copy()
    test_row = leaked[(leaked["fold"] == 0) & (leaked["role"] == "test")].index[0]
    leaked.loc[len(leaked)] = {**leaked.loc[test_row].to_dict(), "role": "train"}
    with pytest.raises(protocols.AssignmentError, match="tracks in two roles"):
        protocols.check(leaked)
    moved = table.copy()
    moved.loc[test_row, "role"] = "train"  # a test track moved to train: its artist is now on both sides
    with pytest.raises(protocols.AssignmentError, match="artists in both test and train"):
        protocols.check(moved)


def test_assignment_round_trips_through_its_file(real_index, tmp_path):
    table = protocols.build("literature", real_index, {"select_fraction": 0.2, "seed": 0})
    protocols.write(table, tmp_path / "a.tsv")
    pd.testing.assert_frame_equal(protocols.read(tmp_path / "a.tsv"), table)
