"""Safe extraction of the ISMIR2004 Genre archive and the track index built from its tracklists.

The archive (Zenodo record 1302992, ``ismir04_genre.zip``) holds ``ismir04_genre/audio/<split>/...`` and
``ismir04_genre/metadata/<split>/tracklist.csv``. Class labels come from the tracklists, never from the audio
folders (those use 8 original genres). A few tracklist paths do not match the files on disk; they are resolved
by a documented name normalisation (see :func:`name_key`) and every resolution is reported.
"""

from __future__ import annotations

import csv
import fcntl
import glob
import itertools
import logging
import operator
import os
import re
import secrets
import shutil
import stat
import unicodedata
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from astgenre.labels import CLASSES, SPLITS

logger = logging.getLogger(__name__)

ARCHIVE_TOP = "ismir04_genre"
INDEX_COLUMNS = ["track_id", "split", "label", "artist", "album", "title", "track_number", "path"]
RESOLUTION_COLUMNS = ["split", "tracklist_path", "resolved_path", "rule"]
UNREFERENCED_ATTR = "unreferenced_files"
"""Key of ``index.attrs`` where :func:`build_index` lists audio files that no tracklist references."""

_TRACKLIST_FIELDS = ("label", "artist", "album", "title", "track_number", "tracklist_path")
_LOST_CHARS = re.compile("[\ufffd\udc80-\udcff]+")  # U+FFFD and bytes kept by the surrogateescape decoder
_ANONYMISED_ARTIST = re.compile(r"artist_\d+")
_MB = 1 << 20
# An entry may declare up to _MAX_RATIO times its stored bytes (MP3s store about 1:1, the text tracklists about 5:1;
# deflate reaches 1032:1 on zeros); entries up to _MAX_UNCHECKED_ENTRY bytes are exempt. The disk must hold the
# declared total plus _DISK_MARGIN.
_MAX_RATIO = 100
_MAX_UNCHECKED_ENTRY = 1 << 20
_DISK_MARGIN = 64 * _MB


ORIGINAL_ARCHIVE = "Use the original ismir04_genre.zip from Zenodo record 1302992."


class ArchiveError(ValueError):
    """The archive cannot be extracted as it is (damaged, duplicate or clashing entries, implausible sizes)."""


class UnsafeArchiveError(ArchiveError):
    """An archive entry would be written outside the destination or is not a plain file or folder."""

    def __init__(self, zip_path: Path, entry: str, reason: str) -> None:
        self.entry = entry
        super().__init__(
            f"{zip_path}: unsafe archive entry {entry!r} ({reason}); nothing was extracted. {ORIGINAL_ARCHIVE}"
        )


class IndexProblem(ValueError):
    """Tracklists that cannot be turned into a complete, consistent index; ``problems`` lists each one."""

    def __init__(self, root: Path, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) building the ISMIR2004 index of {root}:\n{lines}")


# --------------------------------------------------------------------------------------------------- extraction


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why writing this entry would be unsafe, or None."""
    name = info.filename
    parts = re.split(r"[/\\]", name)
    mode = info.external_attr >> 16
    if not name:
        return "empty name"
    if name.startswith(("/", "\\")):
        return "absolute path"
    if re.match(r"[A-Za-z]:", name):
        return "drive letter"
    if ".." in parts:
        return "'..' path component"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "special file"
    return None


def extract_archive(zip_path: Path, dest: Path) -> Path:
    """Extract safely into dest (created), return dest / 'ismir04_genre'.

    Every entry is checked before anything is written (safe names, no duplicates, no path that is both a file and a
    folder, the tracklists present, plausible sizes that fit on the disk); members are streamed into a temporary
    folder beside ``dest`` that is renamed to ``dest`` only once complete, and an entry yielding more bytes than it
    declares stops the extraction. Temporary folders left by an extraction that was killed are removed first.
    ``dest`` must not exist or be empty. Raises ArchiveError (UnsafeArchiveError) naming the archive and the entry.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(
            f"{dest} already exists and is not an empty folder; delete it to extract {zip_path} again"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(dest)
    with _open_zip(zip_path) as archive:
        infos = archive.infolist()
        _check_entries(zip_path, infos)
        _check_sizes(zip_path, infos, dest.parent)
        with _partial_folder(dest) as partial:
            for info in infos:
                target = partial.joinpath(*PurePosixPath(info.filename).parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _extract_member(archive, info, target, zip_path)
            if dest.exists():
                dest.rmdir()  # empty, checked above
            partial.rename(dest)
    logger.info("extracted %d entries of %s into %s", len(infos), zip_path, dest)
    return dest / ARCHIVE_TOP


def _open_zip(zip_path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, EOFError) as err:
        raise ArchiveError(
            f"{zip_path} is not a readable zip archive ({err}): it is damaged or incomplete (an interrupted copy?). "
            f"Download it again, or replace your local copy, then rerun. {ORIGINAL_ARCHIVE}"
        ) from err


def _check_entries(zip_path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Unsafe names, duplicate files, paths that are both a file and a folder, missing tracklists."""
    for info in infos:
        reason = _unsafe_reason(info)
        if reason:
            raise UnsafeArchiveError(zip_path, info.filename, reason)
    files = [PurePosixPath(info.filename).as_posix() for info in infos if not info.is_dir()]
    duplicates = sorted(name for name, count in Counter(files).items() if count > 1)
    if duplicates:
        raise ArchiveError(
            f"{zip_path} holds {len(duplicates)} file(s) more than once, so one copy would silently replace another: "
            f"{', '.join(map(repr, duplicates[:10]))}; nothing was extracted. {ORIGINAL_ARCHIVE}"
        )
    folders = {PurePosixPath(info.filename).as_posix() for info in infos if info.is_dir()}
    folders |= {parent.as_posix() for name in files for parent in PurePosixPath(name).parents}
    clashes = sorted(set(files) & folders)
    if clashes:
        raise ArchiveError(
            f"{zip_path}: {', '.join(map(repr, clashes[:10]))} is both a file and a folder in the archive; "
            f"nothing was extracted. {ORIGINAL_ARCHIVE}"
        )
    missing = [f"{ARCHIVE_TOP}/metadata/{s}/tracklist.csv" for s in SPLITS]
    missing = [m for m in missing if m not in set(files)]
    if missing:
        raise ArchiveError(
            f"{zip_path} lacks {', '.join(missing)}: it is not the ISMIR2004 genre archive "
            "(expected ismir04_genre.zip from Zenodo record 1302992)"
        )


def _check_sizes(zip_path: Path, infos: list[zipfile.ZipInfo], where: Path) -> None:
    """Refuse sizes the archive cannot plausibly hold (a zip bomb) or that do not fit on the disk."""
    for info in infos:
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.file_size != info.compress_size) or (
            info.file_size > _MAX_UNCHECKED_ENTRY and info.file_size > _MAX_RATIO * info.compress_size
        ):
            raise ArchiveError(
                f"{zip_path}: entry {info.filename!r} declares {info.file_size:,} bytes from {info.compress_size:,} "
                f"stored bytes (more than {_MAX_RATIO}:1 or a stored entry of another size): not a plausible member "
                f"of this archive (a zip bomb?); nothing was extracted. {ORIGINAL_ARCHIVE}"
            )
    total = sum(info.file_size for info in infos)
    stored_total = sum(info.compress_size for info in infos)
    if total > _MAX_UNCHECKED_ENTRY + _MAX_RATIO * stored_total:
        raise ArchiveError(
            f"{zip_path}: its entries declare {total:,} bytes from {stored_total:,} stored bytes (more than "
            f"{_MAX_RATIO}:1): not a plausible archive (a zip bomb?); nothing was extracted. {ORIGINAL_ARCHIVE}"
        )
    free = shutil.disk_usage(where).free
    if total + _DISK_MARGIN > free:
        raise ArchiveError(
            f"extracting {zip_path} needs {total:,} bytes (plus a margin of {_DISK_MARGIN:,}) but {where} has only "
            f"{free:,} bytes free; free some space (or put results/ on a larger disk) and rerun"
        )


def _extract_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, zip_path: Path) -> None:
    """Stream one entry to target, stopping as soon as it yields more bytes than it declares."""
    written = 0
    try:
        with archive.open(info) as src, open(target, "xb") as dst:
            while block := src.read(_MB):
                written += len(block)
                if written > info.file_size:
                    raise ArchiveError(
                        f"{zip_path}: entry {info.filename!r} holds more than the {info.file_size:,} bytes it "
                        f"declares; extraction stopped and nothing was kept. {ORIGINAL_ARCHIVE}"
                    )
                dst.write(block)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise ArchiveError(
            f"{zip_path}: entry {info.filename!r} cannot be read ({err}): the archive is damaged; nothing was kept. "
            f"Download it again, or replace your local copy, then rerun. {ORIGINAL_ARCHIVE}"
        ) from err


# An extraction in progress holds an exclusive lock on "<partial folder>.lock", created before the folder and removed
# after it: a partial folder whose lock file is missing or can be locked was left by a process that died.
_LOCK_SUFFIX = ".lock"


@contextmanager
def _partial_folder(dest: Path) -> Iterator[Path]:
    """A new temporary folder beside dest, locked as in use; removed with its lock unless renamed away."""
    token = secrets.token_hex(6)
    partial = dest.parent / f".{dest.name}.{token}.partial"
    lock = partial.with_name(partial.name + _LOCK_SUFFIX)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        partial.mkdir()
        try:
            yield partial
        finally:
            shutil.rmtree(partial, ignore_errors=True)  # gone already when renamed to dest
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def _remove_stale_partials(dest: Path) -> None:
    """Delete the temporary folders of extractions into dest that were killed (their lock is free or missing)."""
    for partial in sorted(dest.parent.glob(f".{glob.escape(dest.name)}.*.partial")):
        if not partial.is_dir() or partial.is_symlink():
            continue
        lock = partial.with_name(partial.name + _LOCK_SUFFIX)
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            fd = None
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    logger.info("%s belongs to an extraction still running; left alone", partial)
                    continue
            logger.warning("removing %s, left by an extraction that was interrupted", partial)
            shutil.rmtree(partial, ignore_errors=True)
            lock.unlink(missing_ok=True)
        finally:
            if fd is not None:
                os.close(fd)


# --------------------------------------------------------------------------------------------- name resolution


def _fold(text: str) -> str:
    """NFKD, drop accents and any non-ASCII or undecodable character, lowercase, non-alphanumeric runs -> '_'."""
    ascii_only = "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii())
    return re.sub(r"[^a-z0-9]+", "_", ascii_only.lower())


def _strip_number_zeros(key: str) -> str:
    return re.sub(r"^0+(?=\d)", "", key)


def name_key(name: str) -> str:
    """Normalised key of a file or folder name, e.g. ``"05-Kruhový_objazd.mp3"`` -> ``"5_kruhovy_objazd_mp3"``."""
    return _strip_number_zeros(_fold(name))


def _name_matcher(name: str) -> tuple[re.Pattern[str], str]:
    """A full-match pattern over :func:`name_key` values for a tracklist name, and the rule it applies.

    A lost character (U+FFFD or an undecodable byte) and the separators beside it match any run of key
    characters, since the character it replaced is unknown.
    """
    pieces = _LOST_CHARS.split(name)
    keys = [_fold(p) for p in pieces]
    keys[0] = _strip_number_zeros(keys[0])
    if len(keys) == 1:
        return re.compile(re.escape(keys[0])), "normalised_name"
    last = len(keys) - 1
    keys = [k.lstrip("_") if i else k for i, k in enumerate(keys)]
    keys = [k.rstrip("_") if i < last else k for i, k in enumerate(keys)]
    return re.compile("[a-z0-9_]*".join(re.escape(k) for k in keys)), "normalised_name+lost_character_wildcard"


@dataclass
class _Resolver:
    """Resolves tracklist paths against the extracted tree, one path component at a time."""

    root: Path
    _listing: dict[Path, list[os.DirEntry[str]]] = field(default_factory=dict)

    def _entries(self, folder: Path) -> list[os.DirEntry[str]]:
        if folder not in self._listing:
            with os.scandir(folder) as it:
                self._listing[folder] = list(it)
        return self._listing[folder]

    def resolve(self, base: Path, rel: PurePosixPath) -> tuple[Path, str]:
        """Return (existing path, rule) for ``base / rel``; rule is "" when the path exists as written.

        Raises LookupError saying which component could not be resolved or was ambiguous.
        """
        current, rules = base, []
        for depth, part in enumerate(rel.parts):
            is_file = depth == len(rel.parts) - 1
            candidate = current / part
            if candidate.is_file() if is_file else candidate.is_dir():
                current = candidate
                continue
            if not current.is_dir():
                raise LookupError(f"folder {current.relative_to(self.root).as_posix()} does not exist")
            pattern, rule = _name_matcher(part)
            matches = sorted(
                e.name
                for e in self._entries(current)
                if (e.is_file() if is_file else e.is_dir()) and pattern.fullmatch(name_key(e.name))
            )
            kind = "file" if is_file else "folder"
            where = current.relative_to(self.root).as_posix()
            if not matches:
                raise LookupError(f"no {kind} in {where} matches {part!r}, even after name normalisation")
            if len(matches) > 1:
                raise LookupError(f"{part!r} is ambiguous in {where}: {', '.join(map(repr, matches))} all match")
            current = current / matches[0]
            rules.append(f"{kind}: {rule}")
        return current, "; ".join(rules)


# ------------------------------------------------------------------------------------------------------- index


def _read_tracklist(path: Path, split: str, problems: list[str]) -> list[tuple[int, dict[str, str]]]:
    """(line number, fields) of each well-formed row; malformed rows and bad labels go to problems."""
    rows = []
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        for fields in reader:
            line = reader.line_num
            if len(fields) not in (6, 7):
                problems.append(
                    f"{split}: {path}:{line}: row has {len(fields)} columns, expected 6 or 7 "
                    "(class, artist, album, track, track number, file path[, track id]); fix or restore the tracklist"
                )
                continue
            row = dict(zip(_TRACKLIST_FIELDS, fields, strict=False))
            if row["label"] not in CLASSES:
                problems.append(
                    f"{split}: {path}:{line}: {row['tracklist_path']!r} has class {row['label']!r}, "
                    f"not one of {', '.join(CLASSES)}; fix the tracklist"
                )
                continue
            rows.append((line, row))
    return rows


def _relative_tracklist_path(text: str) -> PurePosixPath | None:
    """The tracklist path if it is a plain relative path, else None."""
    rel = PurePosixPath(text)
    if not text or rel.is_absolute() or "\\" in text or any(p in ("..", ".") for p in text.split("/")):
        return None
    return rel


def _audio_files(audio: Path, root: Path) -> list[str]:
    return sorted(
        (Path(folder) / name).relative_to(root).as_posix() for folder, _, names in os.walk(audio) for name in names
    )


def build_index(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (index, resolutions) for an extracted ismir04_genre root.

    ``index`` has INDEX_COLUMNS (all str; ``path`` posix, relative to root), one row per tracklist row,
    track ids ``<split>-NNNN`` in tracklist order. ``resolutions`` (RESOLUTION_COLUMNS) lists each tracklist
    path that was resolved to a differently named file; ``resolved_path`` is relative to root like ``path``.
    Audio files no tracklist references are listed in ``index.attrs["unreferenced_files"]``.
    Raises IndexProblem listing every malformed row, bad label, unresolved, ambiguous or duplicate path.
    """
    root = Path(root)
    resolver = _Resolver(root)
    problems: list[str] = []
    records: list[dict[str, str]] = []
    resolutions: list[dict[str, str]] = []
    first_row: dict[str, str] = {}
    for split in SPLITS:
        tracklist = root / "metadata" / split / "tracklist.csv"
        audio = root / "audio" / split
        missing = [p for p in (tracklist, audio) if not p.exists()]
        if missing:
            problems.append(
                f"{split}: {', '.join(map(str, missing))} missing; pass the extracted '{ARCHIVE_TOP}' folder "
                "of the complete archive"
            )
            continue
        for n, (line, row) in enumerate(_read_tracklist(tracklist, split, problems), start=1):
            where = f"{split}: {tracklist}:{line}: {row['tracklist_path']!r}"
            rel = _relative_tracklist_path(row["tracklist_path"])
            if rel is None:
                problems.append(f"{where} is not a relative path inside audio/{split}/; fix the tracklist")
                continue
            try:
                found, rule = resolver.resolve(audio, rel)
            except LookupError as err:
                problems.append(f"{where} not found: {err}; restore the file or correct the tracklist path")
                continue
            path = found.relative_to(root).as_posix()
            if path in first_row:
                problems.append(f"{where} is the same file as {first_row[path]}; each track must be listed once")
                continue
            first_row[path] = f"{split}: {tracklist}:{line}"
            if rule:
                logger.info("%s: resolved tracklist path %r to %r (%s)", split, row["tracklist_path"], path, rule)
                resolutions.append(
                    {"split": split, "tracklist_path": row["tracklist_path"], "resolved_path": path, "rule": rule}
                )
            records.append({"track_id": f"{split}-{n:04d}", "split": split, **row, "path": path})
    if problems:
        raise IndexProblem(root, problems)
    index = pd.DataFrame(records, columns=INDEX_COLUMNS, dtype=str)
    unreferenced = sorted(set(_audio_files(root / "audio", root)) - set(first_row))
    if unreferenced:
        logger.warning("%d audio file(s) under %s are in no tracklist", len(unreferenced), root / "audio")
    index.attrs[UNREFERENCED_ATTR] = unreferenced
    return index, pd.DataFrame(resolutions, columns=RESOLUTION_COLUMNS, dtype=str)


def _check_columns(index: pd.DataFrame, what: str) -> None:
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise ValueError(f"{what} lacks index column(s) {', '.join(missing)}; build it with build_index")


def write_index(index: pd.DataFrame, path: Path) -> None:
    """Write the index as a tab-separated file with INDEX_COLUMNS."""
    _check_columns(index, "index to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    index[INDEX_COLUMNS].to_csv(path, sep="\t", index=False, lineterminator="\n", errors="surrogateescape")


def read_index(path: Path) -> pd.DataFrame:
    """Read an index written by write_index; every column stays str (e.g. track_number "05")."""
    index = pd.read_csv(
        path, sep="\t", dtype=str, keep_default_na=False, na_filter=False, encoding_errors="surrogateescape"
    )
    if list(index.columns) != INDEX_COLUMNS:
        raise ValueError(
            f"{path}: columns {list(index.columns)} are not {INDEX_COLUMNS}; rebuild it with build_index/write_index"
        )
    return index


def select_shard(index: pd.DataFrame, shard: int, n_shards: int) -> pd.DataFrame:
    """Rows at positions i with i % n_shards == shard (row labels kept)."""
    for name, value in (("shard", shard), ("n_shards", n_shards)):
        if isinstance(value, bool):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        try:
            operator.index(value)
        except TypeError:
            raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if n_shards < 1:
        raise ValueError(f"n_shards must be at least 1, got {n_shards}")
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard must be in 0..{n_shards - 1}, got {shard}")
    return index.iloc[shard::n_shards]


# ----------------------------------------------------------------------------------------------------- summary


def index_summary(index: pd.DataFrame) -> dict:
    """Counts per split x label with totals, unique artists per split and artist overlap between splits.

    Splits whose artists are all anonymised (``artist_N``) get ``None`` overlaps, explained in ``note``.
    ``unreferenced_files`` comes from ``index.attrs`` (set by build_index); ``None`` when unknown.
    """
    _check_columns(index, "index")
    present = set(index["split"])
    splits = [s for s in SPLITS if s in present] + sorted(present - set(SPLITS))
    labels = list(CLASSES) + sorted(set(index["label"]) - set(CLASSES))
    by_split = {s: index[index["split"] == s] for s in splits}
    artists = {s: set(frame["artist"]) for s, frame in by_split.items()}
    anonymised = [s for s in splits if artists[s] and all(_ANONYMISED_ARTIST.fullmatch(a) for a in artists[s])]
    overlap = {
        f"{a}-{b}": None if a in anonymised or b in anonymised else len(artists[a] & artists[b])
        for a, b in itertools.combinations(splits, 2)
    }
    notes = []
    if anonymised:
        which = " and ".join(anonymised)
        notes.append(
            f"Artists of the {which} split{'s' if len(anonymised) > 1 else ''} are anonymised (artist_N), so "
            "artist overlap with the other splits cannot be measured; it is reported as null, not 0."
        )
    unreferenced = index.attrs.get(UNREFERENCED_ATTR)
    if unreferenced is None:
        notes.append("Unreferenced audio files are unknown: the index was not built by build_index in this run.")
    return {
        "tracks": len(index),
        "per_split": {s: {lab: int((frame["label"] == lab).sum()) for lab in labels} for s, frame in by_split.items()},
        "split_totals": {s: len(frame) for s, frame in by_split.items()},
        "label_totals": {lab: int((index["label"] == lab).sum()) for lab in labels},
        "artists": {s: len(a) for s, a in artists.items()},
        "artist_overlap": overlap,
        "unreferenced_files": None if unreferenced is None else list(unreferenced),
        "note": " ".join(notes),
    }


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def format_summary(summary: dict) -> str:
    """Markdown rendering of an index_summary dict (also after a JSON round trip)."""
    per_split = summary["per_split"]
    labels = list(summary["label_totals"])
    lines = ["## ISMIR2004 track index", "", f"Tracks: {summary['tracks']}", ""]
    lines += _table(
        ["split", *labels, "total"],
        [[s, *(counts[lab] for lab in labels), summary["split_totals"][s]] for s, counts in per_split.items()]
        + [["total", *(summary["label_totals"][lab] for lab in labels), summary["tracks"]]],
    )
    lines += ["", "### Artists", ""]
    lines += _table(["split", "unique artists"], [[s, n] for s, n in summary["artists"].items()])
    lines += ["", "### Artist overlap between splits", ""]
    lines += _table(
        ["splits", "shared artists"],
        [[pair, "not measurable" if n is None else n] for pair, n in summary["artist_overlap"].items()],
    )
    unreferenced = summary["unreferenced_files"]
    lines += ["", "### Audio files in no tracklist", ""]
    if unreferenced is None:
        lines.append("Unknown.")
    elif not unreferenced:
        lines.append("None.")
    else:
        lines += [f"- `{p}`" for p in unreferenced]
    if summary.get("note"):
        lines += ["", f"Note: {summary['note']}"]
    return "\n".join(lines) + "\n"
