"""Feature tables of the baselines: one TSV per shard, one row per track (``track_id``, ``n_windows``, features).

Both baselines turn a track into one vector (the MFCC statistics, or the probe's mean embedding), computed in
shards like the AST features and read back by explicit track ids: the reader returns exactly the rows asked for, so
a fit given the training and selection ids never holds another track's values. Floats are written with 17
significant digits, so that reading a table back gives the float64 values that were computed, bit for bit.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

ID_COLUMN = "track_id"
N_WINDOWS_COLUMN = "n_windows"
"""How many classifier inputs the track's vector summarises (1 for the MFCC statistics, the windows averaged for
the probe); it becomes the ``n_windows`` column of the predictions."""


@dataclass(frozen=True)
class TrackFeatures:
    """Rows of feature tables for a list of tracks, in the order asked for."""

    track_ids: tuple[str, ...]
    n_windows: np.ndarray  # (tracks,) int
    values: np.ndarray  # (tracks, features) float64
    names: tuple[str, ...]


def write_feature_table(
    path: Path, track_ids: Sequence[str], values: np.ndarray, names: Sequence[str], *, n_windows: Sequence[int]
) -> None:
    """Write one table (tab-separated, whole or not at all): track_id, n_windows, then one column per name."""
    values = np.asarray(values, dtype=np.float64).reshape(len(track_ids), len(names))
    if len(set(track_ids)) != len(track_ids):
        raise ValueError("a feature table lists each track once; got duplicate track ids")
    if len(n_windows) != len(track_ids):
        raise ValueError(f"n_windows has {len(n_windows)} entries for {len(track_ids)} tracks")
    table = pd.DataFrame(values, columns=list(names))
    table.insert(0, N_WINDOWS_COLUMN, np.asarray(n_windows, dtype=int))
    table.insert(0, ID_COLUMN, list(track_ids))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            table.to_csv(stream, sep="\t", index=False, float_format="%.17g", na_rep="NaN", lineterminator="\n")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_feature_table(path: Path) -> pd.DataFrame:
    """One table as written by :func:`write_feature_table` (track ids as str, features float64)."""
    table = pd.read_csv(path, sep="\t", dtype={ID_COLUMN: str}, keep_default_na=False, na_values=["NaN"])
    if list(table.columns[:2]) != [ID_COLUMN, N_WINDOWS_COLUMN]:
        raise ValueError(f"{path}: not a baseline feature table (columns {list(table.columns[:2])} ...)")
    return table


def read_features(tables: Iterable[Path], track_ids: Sequence[str], *, missing: str = "error") -> TrackFeatures:
    """The rows of ``track_ids`` (in that order) from the shard tables; each id in at most one table.

    Only the requested rows leave this function: the values of every other track are dropped as each table is read.
    An id in no table is a ValueError (``missing="error"``) or left out (``missing="skip"``). Raises ValueError for
    an id in two tables and for tables whose feature columns differ.
    """
    if missing not in ("error", "skip"):
        raise ValueError(f"missing must be 'error' or 'skip', not {missing!r}")
    wanted = list(dict.fromkeys(track_ids))
    if len(wanted) != len(track_ids):
        raise ValueError("read_features got duplicate track ids")
    wanted_set = set(wanted)
    names: tuple[str, ...] | None = None
    pieces = []
    for path in tables:
        table = read_feature_table(path)
        columns = tuple(table.columns[2:])
        if names is not None and columns != names:
            raise ValueError(f"{path}: feature columns differ from the other tables'")
        names = columns
        pieces.append(table[table[ID_COLUMN].isin(wanted_set)])
    if names is None:
        raise ValueError("read_features got no table")
    rows = pd.concat(pieces, ignore_index=True)
    duplicated = sorted(set(rows.loc[rows[ID_COLUMN].duplicated(), ID_COLUMN]))
    if duplicated:
        raise ValueError(f"track(s) in more than one feature table: {', '.join(duplicated[:8])}")
    found = set(rows[ID_COLUMN])
    absent = [t for t in wanted if t not in found]
    if absent and missing == "error":
        raise ValueError(f"{len(absent)} track(s) in no feature table: {', '.join(absent[:8])}")
    rows = rows.set_index(ID_COLUMN).loc[[t for t in wanted if t in found]]
    return TrackFeatures(
        track_ids=tuple(rows.index),
        n_windows=rows[N_WINDOWS_COLUMN].to_numpy(dtype=int),
        values=rows[list(names)].to_numpy(dtype=np.float64),
        names=names,
    )


def load_tracks(tables: Sequence[Path], tracks: pd.DataFrame) -> tuple[pd.DataFrame, TrackFeatures]:
    """Index rows (track_id, split, label, ...) that have features, and their features in the same order.

    Tracks without a row (decode errors upstream) are dropped with a warning, as ``astgenre.data.load_split`` does.
    """
    features = read_features(tables, list(tracks["track_id"]), missing="skip")
    found = set(features.track_ids)
    absent = [t for t in tracks["track_id"] if t not in found]
    if absent:
        log.warning("%d track(s) have no baseline features (see decode_errors.tsv): %s", len(absent), ", ".join(absent))
    if not found:
        raise ValueError("none of the tracks has baseline features: check decode_errors.tsv")
    return tracks[tracks["track_id"].isin(found)].reset_index(drop=True), features
