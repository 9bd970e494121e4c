"""The demo archive: the planned tracks, synthesised in parallel, written as ``ismir04_genre.zip``."""

from __future__ import annotations

import hashlib
import logging
import math
import multiprocessing
import os
import sys
import zipfile
from pathlib import Path

from astgenre.demo.layout import DELIBERATE_MISMATCH, TOP, class_counts, plan_tracks, tracklist_csv
from astgenre.demo.sounds import track_mp3
from astgenre.files import atomic_path
from astgenre.labels import SPLITS

logger = logging.getLogger(__name__)

_ZIP_TIME = (2004, 9, 1, 0, 0, 0)

# ------------------------------------------------------------------------------------------------- the archive


def _workers(jobs: int) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8, jobs // 4))


def _mp3s(jobs: list[tuple]):
    """The encoded tracks in job order; forked worker processes on Linux (no re-import of __main__)."""
    workers = _workers(len(jobs))
    if workers == 1 or not sys.platform.startswith("linux"):
        yield from map(track_mp3, jobs)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(track_mp3, jobs, chunksize=2)


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(f"{TOP}/{name}", date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    info.create_system = 3
    return info


def _readme(
    scale: float,
    min_per_class: int,
    seconds: float,
    seed: int,
    counts: dict[str, int],
    min_artists: int = 1,
    signature_db: float | None = None,
) -> bytes:
    return (
        "Synthetic demo corpus of the astgenre project (astgenre.demo.generate_corpus), shaped like the ISMIR2004\n"
        "Genre archive (Zenodo record 1302992). The audio is synthesised, not music of the real dataset.\n"
        f"scale={scale} min_per_class={min_per_class} seconds={seconds} seed={seed}\n"
        f"min_artists_per_class={min_artists} artist_signature_db={signature_db}\n"
        f"tracks per class in each split: {counts}\n"
        f"deliberate tracklist/disk mismatch (training): {DELIBERATE_MISMATCH[0]!r} is {DELIBERATE_MISMATCH[1]!r}\n"
    ).encode()


def generate_corpus(
    dest_zip: Path,
    *,
    scale: float = 0.1,
    min_per_class: int = 4,
    seconds: float = 8.0,
    seed: int = 0,
    min_artists_per_class: int = 1,
    artist_signature_db: float | None = None,
) -> str:
    """Write the demo archive to dest_zip (atomically) and return its md5 hex digest.

    min_artists_per_class: each class's named tracks come from at least this many artists (artist-disjoint folds
    need several). artist_signature_db: give every artist a signature tone at this level relative to the music
    (None: no signature), so that recognising artists pays off where they are shared between splits.
    """
    dest_zip = Path(dest_zip)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1 or math.isnan(scale):
        raise ValueError(f"generate_corpus: scale must be in (0, 1] (share of the real track counts), got {scale!r}")
    if isinstance(min_per_class, bool) or not isinstance(min_per_class, int) or min_per_class < 1:
        raise ValueError(f"generate_corpus: min_per_class must be an integer >= 1, got {min_per_class!r}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0.5 <= seconds <= 120:
        raise ValueError(f"generate_corpus: seconds must be between 0.5 and 120 (track length), got {seconds!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"generate_corpus: seed must be a non-negative integer, got {seed!r}")
    artists = min_artists_per_class
    if isinstance(artists, bool) or not isinstance(artists, int) or artists < 1:
        raise ValueError(f"generate_corpus: min_artists_per_class must be an integer >= 1, got {artists!r}")
    level = artist_signature_db
    if level is not None and (isinstance(level, bool) or not -60 <= float(level) <= 20):
        raise ValueError(f"generate_corpus: artist_signature_db must be in [-60, 20] dB or null, got {level!r}")
    tracks = plan_tracks(float(scale), min_per_class, seed, min_artists_per_class)
    counts = class_counts(float(scale), min_per_class)
    signature = None if artist_signature_db is None else float(artist_signature_db)
    jobs = [(t.split, t.disk, t.label, t.style_key, t.folder, seed, float(seconds), signature) for t in tracks]
    dest_zip.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest_zip, suffix=".partial") as tmp:
        with open(tmp, "xb") as handle, zipfile.ZipFile(handle, "w") as archive:
            readme = _readme(scale, min_per_class, seconds, seed, counts, artists, signature)
            archive.writestr(_info("README.txt"), readme)
            for split in SPLITS:
                rows = [t for t in tracks if t.split == split]
                archive.writestr(_info(f"metadata/{split}/tracklist.csv"), tracklist_csv(rows))
            for track, mp3 in zip(tracks, _mp3s(jobs), strict=False):
                archive.writestr(_info(f"audio/{track.split}/{track.disk}"), mp3)
        md5 = hashlib.md5()
        with open(tmp, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                md5.update(block)
    logger.info(
        "wrote %s: %d tracks of %.1f s (%s per class per split), md5 %s",
        dest_zip,
        len(tracks),
        seconds,
        counts,
        md5.hexdigest(),
    )
    return md5.hexdigest()
