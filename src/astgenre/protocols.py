"""Evaluation protocols: which tracks each run trains on, selects its checkpoint on, and is tested on.

Published ISMIR2004 numbers do not share one protocol. Each protocol here is a table of roles (an *assignment*:
one row per track and fold, role ``train``, ``select`` or ``test``), written to ``results/<study>/protocols/`` and
read by training and evaluation, so that every protocol runs through the same machinery:

- ``official``: train on training, select on development, test on evaluation (the 2004 contest's split).
- ``literature``: test on development, as most papers after 2005 and the reference notebook report; select on an
  artist-grouped, class-stratified part of training, never on development.
- ``artist_filtered``: training and evaluation pooled (their artists are named), K artist-disjoint folds stratified
  by class; each fold is tested once, selection uses an artist-disjoint part of the other folds.

Every artist of the evaluation split also appears in training, so the official number measures partly artist and
album recognition; the artist-filtered folds take that away. Assignments are reproducible from their seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from .labels import CLASSES

PROTOCOLS: tuple[str, ...] = ("official", "literature", "artist_filtered")
ROLES: tuple[str, ...] = ("train", "select", "test")
ASSIGNMENT_COLUMNS: tuple[str, ...] = ("track_id", "split", "label", "artist", "fold", "role")
ARTIST_DISJOINT: dict[str, tuple[tuple[str, str], ...]] = {
    "official": (),
    "literature": (("select", "train"),),
    "artist_filtered": (("select", "train"), ("test", "train"), ("test", "select")),
}
"""Role pairs that share no artist, per protocol. The official split shares its artists by design (every evaluation
artist is in training); the development split's artists are anonymised (artist_N), so the literature protocol
cannot check its test artists against training, as none of the papers it compares with could."""
ATTEMPTS = 200
"""Shuffles tried (random_state = seed, seed + 1, ...) for folds in which every class has tracks in every role."""


class AssignmentError(ValueError):
    """A protocol's assignment leaks tracks or artists between roles, or leaves a class out of a role."""


def official(index: pd.DataFrame) -> pd.DataFrame:
    """Fold 0: training -> train, development -> select, evaluation -> test."""
    roles = {"training": "train", "development": "select", "evaluation": "test"}
    return _table(index.assign(fold=0, role=index["split"].map(roles)))


def literature(index: pd.DataFrame, select_fraction: float, seed: int) -> pd.DataFrame:
    """Fold 0: development -> test; training split into train and an artist-grouped, class-stratified select part
    of about ``select_fraction``; the evaluation split is not used."""
    training = index[index["split"] == "training"]
    select = _held_out(training, select_fraction, seed)
    roles = np.where(training["track_id"].isin(select), "select", "train")
    parts = [training.assign(role=roles), index[index["split"] == "development"].assign(role="test")]
    return _table(pd.concat(parts).assign(fold=0))


def artist_filtered(index: pd.DataFrame, folds: int, select_fraction: float, seed: int) -> pd.DataFrame:
    """Training and evaluation pooled; ``folds`` artist-disjoint test folds stratified by class; in each fold, the
    other tracks split into train and an artist-disjoint select part of about ``select_fraction``."""
    pooled = index[index["split"].isin(["training", "evaluation"])].reset_index(drop=True)
    _need_artists(pooled, max(folds, 3), f"{folds} artist-disjoint folds with train and select parts")
    for attempt in range(ATTEMPTS):
        state = seed + attempt
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=state)
        tables = []
        for fold, (rest, test) in enumerate(splitter.split(pooled, pooled["label"], pooled["artist"])):
            others = pooled.iloc[rest]
            select = _held_out(others, select_fraction, state)
            roles = np.where(others["track_id"].isin(select), "select", "train")
            tables += [others.assign(fold=fold, role=roles), pooled.iloc[test].assign(fold=fold, role="test")]
        table = _table(pd.concat(tables))
        if not _missing_classes(table):
            return table
    raise AssignmentError(
        f"no shuffle of {ATTEMPTS} (random_state {seed}..{seed + ATTEMPTS - 1}) puts every class in every role of "
        f"every fold: too few artists per class for {folds} folds ({artist_counts(pooled)}); use fewer folds"
    )


def build(protocol: str, index: pd.DataFrame, settings: Mapping[str, Any]) -> pd.DataFrame:
    """The assignment of one protocol, from its config settings (folds, select_fraction, seed)."""
    if protocol == "official":
        table = official(index)
    elif protocol == "literature":
        table = literature(index, settings["select_fraction"], settings["seed"])
    elif protocol == "artist_filtered":
        table = artist_filtered(index, settings["folds"], settings["select_fraction"], settings["seed"])
    else:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    check(table, ARTIST_DISJOINT[protocol])
    return table


def check(table: pd.DataFrame, disjoint: tuple[tuple[str, str], ...] = ARTIST_DISJOINT["artist_filtered"]) -> None:
    """Raise AssignmentError unless, in every fold: each track has one role, the role pairs in ``disjoint`` share no
    artist, and every class is in every role."""
    problems = []
    for fold, rows in table.groupby("fold"):
        repeated = rows["track_id"][rows["track_id"].duplicated()]
        if len(repeated):
            problems.append(f"fold {fold}: tracks in two roles: {sorted(repeated)[:5]}")
        artists = {role: set(rows.loc[rows["role"] == role, "artist"]) for role in ROLES}
        for a, b in disjoint:
            shared = artists[a] & artists[b]
            if shared:
                problems.append(f"fold {fold}: artists in both {a} and {b}: {sorted(shared)[:5]}")
    problems += _missing_classes(table)
    if problems:
        raise AssignmentError("invalid assignment:\n  " + "\n  ".join(problems))


def roles_of(table: pd.DataFrame, fold: int) -> dict[str, list[str]]:
    """track ids per role of one fold, in the assignment's order."""
    rows = table[table["fold"] == fold]
    if rows.empty:
        raise ValueError(f"the assignment has no fold {fold} (folds: {sorted(table['fold'].unique())})")
    return {role: list(rows.loc[rows["role"] == role, "track_id"]) for role in ROLES}


def artist_counts(tracks: pd.DataFrame) -> dict[str, int]:
    """Distinct artists per class."""
    return {cls: int(tracks.loc[tracks["label"] == cls, "artist"].nunique()) for cls in CLASSES}


def fold_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Tracks and artists per fold, role and class (long format): how the folds keep every class everywhere."""
    grouped = table.groupby(["fold", "role", "label"], sort=True)
    summary = grouped.agg(tracks=("track_id", "size"), artists=("artist", "nunique")).reset_index()
    return summary.rename(columns={"label": "class"})


def write(table: pd.DataFrame, path: Path) -> None:
    """The assignment as TSV (ASSIGNMENT_COLUMNS), written whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    table.loc[:, list(ASSIGNMENT_COLUMNS)].to_csv(partial, sep="\t", index=False)
    partial.replace(path)


def read(path: Path) -> pd.DataFrame:
    """An assignment TSV, checked for its columns and roles."""
    table = pd.read_csv(path, sep="\t", dtype={"track_id": str, "artist": str}, keep_default_na=False)
    missing = [c for c in ASSIGNMENT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected {list(ASSIGNMENT_COLUMNS)}")
    unknown = sorted(set(table["role"]) - set(ROLES))
    if unknown:
        raise ValueError(f"{path}: unknown roles {unknown}; expected {list(ROLES)}")
    return table


def _held_out(tracks: pd.DataFrame, fraction: float, seed: int) -> set[str]:
    """Track ids of an artist-grouped, class-stratified part of about `fraction` of the tracks: within each class,
    whole artists in a seeded random order until the class's share is reached, always at least one artist and
    never the last one (the class keeps an artist for training)."""
    if not 0 < fraction < 1:
        raise ValueError(f"select_fraction must be in (0, 1), got {fraction}")
    _need_artists(tracks, 2, "a select part and a train part")
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for cls in CLASSES:
        rows = tracks[tracks["label"] == cls]
        if rows.empty:
            continue
        sizes = rows.groupby("artist").size().sort_index()
        order = sizes.index[rng.permutation(len(sizes))]
        taken, n = [], 0
        for artist in order[:-1]:
            if taken and n >= fraction * len(rows):
                break
            taken.append(artist)
            n += int(sizes[artist])
        held |= set(rows.loc[rows["artist"].isin(taken), "track_id"])
    return held


def _need_artists(tracks: pd.DataFrame, at_least: int, why: str) -> None:
    counts = artist_counts(tracks)
    few = {cls: n for cls, n in counts.items() if n < at_least and (tracks["label"] == cls).any()}
    if few:
        raise AssignmentError(f"{why} need at least {at_least} artists per class; these classes have fewer: {few}")


def _missing_classes(table: pd.DataFrame) -> list[str]:
    present = set(table["label"])
    return [
        f"fold {fold}, {role}: no track of {sorted(present - set(rows['label']))}"
        for (fold, role), rows in table.groupby(["fold", "role"])
        if set(rows["label"]) != present
    ] + [
        f"fold {fold}: no {role} tracks"
        for fold, rows in table.groupby("fold")
        for role in ROLES
        if not (rows["role"] == role).any()
    ]


def _table(rows: pd.DataFrame) -> pd.DataFrame:
    table = rows.loc[:, list(ASSIGNMENT_COLUMNS)].copy()
    table["fold"] = table["fold"].astype(int)
    order = {role: i for i, role in enumerate(ROLES)}
    table = table.sort_values(["fold", "role", "track_id"], key=lambda c: c.map(order) if c.name == "role" else c)
    return table.reset_index(drop=True)
