"""The demo corpus's layout: which tracks, in which folders, listed how (no audio here).

Layout (as in ``ismir04_genre.zip`` of Zenodo record 1302992)::

    ismir04_genre/audio/{training,evaluation}/<genre folder>/<artist>/<album>/<n>-<title>.mp3
    ismir04_genre/audio/development/artist_N_album_M_track_K.mp3
    ismir04_genre/metadata/<split>/tracklist.csv   (no header, every field quoted; evaluation adds a track id)

Audio folders use the 8 original genres of the real archive (jazz_blues lives under ``jazz/``, metal_punk under
``metal/`` or ``punk/``, rock_pop under ``rock/`` or ``pop/``); the tracklist's first column holds the 6 classes.
As in the real data, training and evaluation share artists and albums, and exactly one tracklist path does not
match its file (:data:`DELIBERATE_MISMATCH`).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from astgenre.labels import CLASSES, SPLITS, TRAINING_COUNTS

TOP = "ismir04_genre"
FOLDERS: dict[str, tuple[tuple[str, float], ...]] = {
    "classical": (("classical", 1.0),),
    "electronic": (("electronic", 1.0),),
    "jazz_blues": (("jazz", 1.0),),
    "metal_punk": (("metal", 29 / 45), ("punk", 16 / 45)),
    "rock_pop": (("rock", 95 / 101), ("pop", 6 / 101)),
    "world": (("world", 1.0),),
}
"""Audio folder(s) of each class with their share of the real training split (the real archive has no blues/)."""
if set(FOLDERS) != set(CLASSES):
    raise ImportError(f"astgenre.demo.layout.FOLDERS covers {sorted(FOLDERS)}, not the classes {list(CLASSES)}")

DELIBERATE_MISMATCH = ("3-l_oracle.mp3", "03-l'oracle.mp3")
"""(name in the tracklist, name on disk) of the one training track whose tracklist path does not match its file."""

_NAMED_SPLITS = ("training", "evaluation")
_TRACK_ID_RANGE = (50000, 60000)


def class_counts(scale: float, min_per_class: int) -> dict[str, int]:
    """Tracks per class in each split: TRAINING_COUNTS * scale rounded half up, at least min_per_class."""
    return {c: max(min_per_class, math.floor(TRAINING_COUNTS[c] * scale + 0.5)) for c in CLASSES}


# ------------------------------------------------------------------------------------------------ corpus plan


@dataclass(frozen=True)
class Track:
    split: str
    label: str
    folder: str  # audio folder genre (8 original genres)
    artist: str  # tracklist fields
    album: str
    title: str
    number: int
    disk: str  # path relative to audio/<split>/ of the file in the archive
    listed: str  # path relative to audio/<split>/ written in the tracklist
    style_key: str  # artist identity of the sound (dev artists keep the style of a named artist)
    track_id: int | None = None


_SYLLABLE_C = tuple("bdfgklmnprstvz") + ("ch", "sh", "tr")
_SYLLABLE_V = tuple("aeiou") + ("ai", "ou")
_WORDS = (
    "night",
    "river",
    "blue",
    "dance",
    "song",
    "light",
    "stone",
    "fire",
    "rain",
    "road",
    "city",
    "dream",
    "echo",
    "garden",
    "winter",
    "summer",
    "mirror",
    "shadow",
    "ocean",
    "silver",
    "golden",
    "morning",
    "train",
    "circle",
    "heart",
    "machine",
    "sky",
    "wolf",
    "moon",
    "desert",
    "suite",
    "prelude",
    "theme",
)
_ARTICLES = ("l'", "d'")
_SUFFIXES = ("_(live)", "_(remix)", "_(part_2)", "_(edit)")


def _word(rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return str(rng.choice(_WORDS))
    return "".join(str(rng.choice(_SYLLABLE_C)) + str(rng.choice(_SYLLABLE_V)) for _ in range(rng.integers(2, 4)))


def _phrase(rng: np.random.Generator, lo: int, hi: int, quirks: bool) -> str:
    """A name as found on disk: lowercase words joined by '_', sometimes with an apostrophe or parentheses."""
    words = [_word(rng) for _ in range(rng.integers(lo, hi + 1))]
    if quirks and rng.random() < 0.08:
        words[0] = str(rng.choice(_ARTICLES)) + words[0]
    name = "_".join(words)
    if quirks and rng.random() < 0.06:
        name += str(rng.choice(_SUFFIXES))
    return name


def _field(disk_name: str) -> str:
    """The tracklist spelling of a name on disk: apostrophes become '_', parentheses are dropped."""
    return disk_name.replace("'", "_").replace("(", "").replace(")", "")


def _unique(make, used: set[str]) -> str:
    for _ in range(1000):
        name = make()
        if _field(name) not in used:
            used.add(_field(name))
            return name
    raise RuntimeError("could not draw a unique synthetic name")  # pragma: no cover - 1000 collisions


def _folder_for(rng: np.random.Generator, label: str) -> str:
    names, weights = zip(*FOLDERS[label], strict=False)
    return str(rng.choice(names, p=np.asarray(weights) / sum(weights)))


def _plan_named(rng, label: str, n: int, used_artists: set[str], cap: int) -> tuple[list[Track], list[tuple[str, str]]]:
    """Training and evaluation tracks of one class, sharing artists and albums, at most `cap` tracks per artist;
    and the (style_key, folder) list."""
    need = {split: n for split in _NAMED_SPLITS}
    tracks: list[Track] = []
    artists: list[tuple[str, str]] = []
    minority = FOLDERS[label][-1][0] if len(FOLDERS[label]) > 1 and n >= 2 else None
    while any(need.values()):
        artist = _unique(lambda: _phrase(rng, 1, 2, quirks=False), used_artists)
        first = minority is not None and not artists
        folder = minority if first else _folder_for(rng, label)
        style_key = f"{label}/{artist}"
        artists.append((style_key, folder))
        used_albums: set[str] = set()
        room = cap
        for _ in range(1 if first else rng.integers(1, 4)):
            if not any(need.values()) or room <= 0:
                break
            if first:  # the rarer folder (punk/, pop/) always appears in both named splits
                take = {split: 1 for split in _NAMED_SPLITS}
            else:
                take = {split: min(need[split], int(rng.integers(0, 5))) for split in _NAMED_SPLITS}
                if not any(take.values()):
                    take[max(need, key=need.get)] = 1
                while sum(take.values()) > room:  # the artist's share of the class is capped
                    take[max(take, key=take.get)] -= 1
            size = sum(take.values())
            room -= size
            album = _unique(lambda: _phrase(rng, 1, 4, quirks=True), used_albums)
            numbers = np.sort(rng.choice(np.arange(1, size + int(rng.integers(1, 12))), size, replace=False))
            used_titles: set[str] = set()
            splits = [s for s in _NAMED_SPLITS for _ in range(take[s])]
            for split, number in zip(rng.permutation(splits), numbers, strict=False):
                title = _unique(lambda: _phrase(rng, 1, 4, quirks=True), used_titles)
                path = f"{folder}/{artist}/{album}/{number}-{title}.mp3"
                tracks.append(
                    Track(
                        str(split),
                        label,
                        folder,
                        artist,
                        _field(album),
                        _field(title),
                        int(number),
                        path,
                        path,
                        style_key,
                    )
                )
            for split in _NAMED_SPLITS:
                need[split] -= take[split]
    return tracks, artists


def _plan_development(rng, label: str, n: int, artists: list[tuple[str, str]]) -> list[list[list[Track]]]:
    """Development tracks of one class as artists -> albums -> tracks, names filled in later (anonymised)."""
    plan: list[list[list[Track]]] = []
    left = n
    while left:
        style_key, folder = artists[len(plan)] if len(plan) < len(artists) else (f"{label}/dev{len(plan)}", "")
        albums = []
        for _ in range(rng.integers(1, 4)):
            size = min(left, int(rng.integers(1, 7)))
            albums.append([Track("development", label, folder, "", "", "", 0, "", "", style_key) for _ in range(size)])
            left -= size
            if not left:
                break
        plan.append(albums)
    return plan


def _with_mismatch(tracks: list[Track]) -> list[Track]:
    """Rename the first classical training track to the deliberate mismatch (track 3, "l'oracle")."""
    listed, disk = DELIBERATE_MISMATCH
    number = int(listed.split("-")[0])
    i = next(i for i, t in enumerate(tracks) if t.split == "training" and t.label == "classical")
    target = tracks[i]
    folder = target.disk.rsplit("/", 1)[0]
    album = [t for t in tracks if t.disk.startswith(folder + "/") and t is not target]
    taken = {t.number for t in album}
    if number in taken:  # the album neighbour numbered 3 takes the target's number instead
        j = next(j for j, t in enumerate(tracks) if t in album and t.number == number)
        other = tracks[j]
        path = f"{folder}/{target.number}-{other.disk.rsplit('/', 1)[1].split('-', 1)[1]}"
        tracks[j] = replace(other, number=target.number, disk=path, listed=path)
    title = _field(Path(disk).stem.split("-", 1)[1])
    tracks[i] = replace(target, title=title, number=number, disk=f"{folder}/{disk}", listed=f"{folder}/{listed}")
    return tracks


def plan_tracks(scale: float, min_per_class: int, seed: int, min_artists: int = 1) -> list[Track]:
    """Every track of the corpus, in tracklist order within each split; each class's training and evaluation tracks
    come from at least `min_artists` artists (an artist holds at most 2n / min_artists of its 2n named tracks)."""
    counts = class_counts(scale, min_per_class)
    used_artists: set[str] = set()
    named: list[Track] = []
    development: list[list[list[Track]]] = []
    for c_index, label in enumerate(CLASSES):
        rng = np.random.default_rng([seed, 1, c_index])
        cap = math.ceil(2 * counts[label] / min_artists) if min_artists > 1 else 2 * counts[label]
        tracks, artists = _plan_named(rng, label, counts[label], used_artists, max(2, cap))
        named += tracks
        development += _plan_development(rng, label, counts[label], artists)
    named = _with_mismatch(named)
    dev: list[Track] = []
    for a, albums in enumerate(development, start=1):
        for m, album in enumerate(albums, start=1):
            for k, t in enumerate(album, start=1):
                name = f"artist_{a}_album_{m}_track_{k}.mp3"
                dev.append(
                    replace(
                        t,
                        artist=f"artist_{a}",
                        album=f"album_{m}",
                        title=f"track_{k}",
                        number=k,
                        disk=name,
                        listed=name,
                    )
                )
    order = {s: i for i, s in enumerate(SPLITS)}
    named.sort(key=lambda t: (order[t.split], CLASSES.index(t.label), t.artist, t.album, t.title))
    evaluation = [i for i, t in enumerate(named) if t.split == "evaluation"]
    ids = np.random.default_rng([seed, 2]).choice(np.arange(*_TRACK_ID_RANGE), len(evaluation), replace=False)
    for i, track_id in zip(evaluation, ids, strict=False):
        named[i] = replace(named[i], track_id=int(track_id))
    return sorted(named + dev, key=lambda t: order[t.split])


def tracklist_csv(tracks: list[Track]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for t in tracks:
        row = [t.label, t.artist, t.album, t.title, str(t.number), t.listed]
        writer.writerow(row if t.track_id is None else [*row, str(t.track_id)])
    return buf.getvalue().encode("utf-8")
