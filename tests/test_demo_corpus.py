"""The synthetic demo corpus: real archive layout and tracklist format, class imbalance, MP3 audio, distinct genres."""

import csv
import hashlib
import io
import re
import zipfile
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from astgenre.dataset import build_index, extract_archive
from astgenre.demo import DELIBERATE_MISMATCH, FOLDERS, class_counts, generate_corpus
from astgenre.labels import CLASSES, SPLITS, TRAINING_COUNTS

TINY = dict(scale=0.02, min_per_class=2, seconds=2.0, seed=0)
TOP = "ismir04_genre/"
NAMED_AUDIO = re.compile(r"audio/(training|evaluation)/([a-z]+)/([^/]+)/([^/]+)/(\d+)-([^/]+)\.mp3")
DEV_AUDIO = re.compile(r"audio/development/artist_(\d+)_album_(\d+)_track_(\d+)\.mp3")
QUOTED_ROW = {6: re.compile(r'"[^"\n]*"(,"[^"\n]*"){5}'), 7: re.compile(r'"[^"\n]*"(,"[^"\n]*"){5},"\d+"')}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, str]:
    dest = tmp_path_factory.mktemp("synth") / "source" / "ismir04_genre.zip"
    return dest, generate_corpus(dest, **TINY)


@pytest.fixture(scope="module")
def members(corpus) -> dict[str, bytes]:
    with zipfile.ZipFile(corpus[0]) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def tracklist(members: dict[str, bytes], split: str) -> list[list[str]]:
    text = members[f"{TOP}metadata/{split}/tracklist.csv"].decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def audio_names(members: dict[str, bytes]) -> set[str]:
    return {name[len(TOP) :] for name in members if name.startswith(TOP + "audio/")}


def decode(data: bytes, rate: int | None = None) -> tuple[np.ndarray, int, int]:
    """(samples as (channels, n) float32, sample rate, channels) of MP3 bytes, optionally resampled to mono."""
    with av.open(io.BytesIO(data)) as container:
        assert container.format.name == "mp3"
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith("mp3")
        sr, channels = stream.rate, stream.channels
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate) if rate else None
        chunks = []
        for frame in container.decode(stream):
            chunks += [f.to_ndarray() for f in resampler.resample(frame)] if resampler else [frame.to_ndarray()]
        if resampler:
            chunks += [f.to_ndarray() for f in resampler.resample(None)]
    return np.concatenate(chunks, axis=1), sr, channels


# ------------------------------------------------------------------------------------------------------ layout


ALL_FOLDERS = {name for folders in FOLDERS.values() for name, _ in folders}


def test_patterns_and_folders_describe_the_real_archive(ismir_fixtures):
    real = [line.strip().removeprefix("./") for line in (ismir_fixtures / "filenames.txt").read_text().splitlines()]
    real_audio = [p for p in real if p.startswith("audio/")]
    assert real_audio and all(NAMED_AUDIO.fullmatch(p) or DEV_AUDIO.fullmatch(p) for p in real_audio)
    assert {m.group(2) for p in real_audio if (m := NAMED_AUDIO.fullmatch(p))} == ALL_FOLDERS
    for split in SPLITS:
        lines = (ismir_fixtures / "metadata" / split / "tracklist.csv").read_bytes().decode("utf-8").split("\n")
        width = 7 if split == "evaluation" else 6
        assert lines[-1] == "" and all(QUOTED_ROW[width].fullmatch(line) for line in lines[:-1])


def test_layout_matches_the_real_archive(members):
    assert all(name.startswith(TOP) for name in members)
    assert {f"metadata/{s}/tracklist.csv" for s in SPLITS} <= {n[len(TOP) :] for n in members}
    names = audio_names(members)
    assert all(NAMED_AUDIO.fullmatch(n) or DEV_AUDIO.fullmatch(n) for n in names)
    for split in ("training", "evaluation"):  # all 8 original folder genres, punk/ and pop/ included, as in real data
        folders = {m.group(2) for n in names if (m := NAMED_AUDIO.fullmatch(n)) and m.group(1) == split}
        assert folders == ALL_FOLDERS
    assert {n.split("/")[1] for n in names} == set(SPLITS)


def test_tracklists_are_quoted_headerless_with_a_track_id_in_evaluation(members):
    for split in SPLITS:
        width = 7 if split == "evaluation" else 6
        lines = members[f"{TOP}metadata/{split}/tracklist.csv"].decode("ascii").split("\n")
        assert lines[-1] == "", "rows end with a newline, no carriage return"
        assert all(QUOTED_ROW[width].fullmatch(line) for line in lines[:-1]), split
        rows = tracklist(members, split)
        assert {len(r) for r in rows} == {width}
        assert {r[0] for r in rows} <= set(CLASSES), "no header row, class in the first column"
        assert all(r[4].isdigit() for r in rows)
    ids = [r[6] for r in tracklist(members, "evaluation")]
    assert len(set(ids)) == len(ids)


def test_rows_agree_with_paths_folders_and_anonymised_development(members):
    for split in ("training", "evaluation"):
        for label, artist, album, _title, number, path, *_ in tracklist(members, split):
            folder, path_artist, path_album, name = path.split("/")
            assert folder in {f for f, _ in FOLDERS[label]}, f"{label} lives under {folder}/"
            assert path_artist == artist and path_album.replace("'", "_").replace("(", "").replace(")", "") == album
            assert name.startswith(f"{number}-")
    for _label, artist, album, title, number, path in tracklist(members, "development"):
        assert path == f"{artist}_{album}_{title}.mp3" and title == f"track_{number}"
        assert re.fullmatch(r"artist_\d+", artist) and re.fullmatch(r"album_\d+", album)


def test_training_and_evaluation_share_artists_and_albums_have_several_tracks(members):
    artists = {s: {r[1] for r in tracklist(members, s)} for s in ("training", "evaluation")}
    assert artists["training"] & artists["evaluation"]
    albums = Counter((r[1], r[2]) for s in ("training", "evaluation") for r in tracklist(members, s))
    assert max(albums.values()) >= 3


# ------------------------------------------------------------------------------------------------------ counts


def test_class_counts_rule():
    assert class_counts(0.1, 4) == {
        "classical": 32,
        "electronic": 12,
        "jazz_blues": 4,
        "metal_punk": 5,
        "rock_pop": 10,
        "world": 12,
    }  # 320, 11.5, 2.6 -> min 4, 4.5, 10.1, 12.2
    assert class_counts(1.0, 4) == class_counts(1.0, 1) == TRAINING_COUNTS


def test_every_split_follows_the_imbalance(members):
    expected = class_counts(TINY["scale"], TINY["min_per_class"])
    assert expected["classical"] > expected["world"] >= TINY["min_per_class"]
    for split in SPLITS:
        assert Counter(r[0] for r in tracklist(members, split)) == expected, split


# -------------------------------------------------------------------------------------------------- mismatch


def test_every_tracklist_path_exists_but_the_one_deliberate_mismatch(members):
    on_disk = audio_names(members)
    listed = {f"audio/{s}/{r[5]}" for s in SPLITS for r in tracklist(members, s)}
    missing, unlisted = listed - on_disk, on_disk - listed
    assert len(missing) == len(unlisted) == 1
    (tracklist_path,), (disk_path,) = missing, unlisted
    assert tracklist_path.startswith("audio/training/") and disk_path.startswith("audio/training/")
    assert tracklist_path.rsplit("/", 1) == [disk_path.rsplit("/", 1)[0], DELIBERATE_MISMATCH[0]]
    assert disk_path.rsplit("/", 1)[1] == DELIBERATE_MISMATCH[1]
    assert len(listed) == sum(len(tracklist(members, s)) for s in SPLITS), "each file is listed once"


def test_index_resolves_the_mismatch(corpus, tmp_path):
    root = extract_archive(corpus[0], tmp_path / "extracted")
    index, resolutions = build_index(root)
    assert len(index) == 3 * sum(class_counts(TINY["scale"], TINY["min_per_class"]).values())
    assert len(resolutions) == 1
    assert resolutions["tracklist_path"].iloc[0].endswith("/" + DELIBERATE_MISMATCH[0])
    assert resolutions["resolved_path"].iloc[0].endswith("/" + DELIBERATE_MISMATCH[1])


# ----------------------------------------------------------------------------------------------------- audio


def test_every_file_is_an_mp3_of_the_requested_length(members):
    rates, layouts, sizes = Counter(), Counter(), set()
    for name in audio_names(members):
        data = members[TOP + name]
        samples, sr, channels = decode(data)
        assert samples.shape[0] == channels and np.isfinite(samples).all()
        assert abs(samples.shape[1] / sr - TINY["seconds"]) < 0.06, name
        assert 0.05 < np.abs(samples).max() <= 1.01, name
        rates[sr] += 1
        layouts[channels] += 1
        sizes.add(round(len(data) * 8 / TINY["seconds"] / 16000))  # ~ bitrate in 16 kbit/s steps
    assert set(rates) == {22050, 44100} and rates[44100] > rates[22050]
    assert set(layouts) == {1, 2} and layouts[2] > layouts[1]
    assert len(sizes) >= 3, "bitrates vary like a real collection"


def features(data: bytes) -> np.ndarray:
    """Mean log band energies (timbre, register), spectral centroid (Hz) and onset strength of a track.

    Onset strength: positive spectral flux per second relative to the mean magnitude, high for percussive music.
    """
    sr, hop = 22050, 512
    y = decode(data, rate=sr)[0][0]
    frames = np.lib.stride_tricks.sliding_window_view(y, 1024)[::hop] * np.hanning(1024)
    magnitude = np.abs(np.fft.rfft(frames, axis=1))
    freqs = np.fft.rfftfreq(1024, 1 / sr)
    edges = np.geomspace(60, sr / 2, 25)
    bands = [
        (magnitude[:, (freqs >= lo) & (freqs < hi)] ** 2).sum(axis=1) for lo, hi in zip(edges, edges[1:], strict=False)
    ]
    timbre = np.log(np.stack(bands, axis=1) + 1e-10).mean(axis=0)
    centroid = ((magnitude @ freqs) / (magnitude.sum(axis=1) + 1e-9)).mean()
    flux = np.maximum(np.diff(magnitude, axis=0), 0).sum(axis=1).mean() / magnitude.sum(axis=1).mean() * sr / hop
    return np.concatenate([timbre, [centroid, flux]])


def test_genres_differ_and_are_learnable(members):
    data = {}
    for split in ("training", "evaluation"):
        rows = tracklist(members, split)
        found = audio_names(members)
        paths = [
            p if p in found else p.rsplit("/", 1)[0] + "/" + DELIBERATE_MISMATCH[1]
            for p in (f"audio/{split}/{r[5]}" for r in rows)
        ]
        data[split] = (np.array([features(members[TOP + p]) for p in paths]), np.array([r[0] for r in rows]))
    x, y = data["training"]
    mean = {c: x[y == c].mean(axis=0) for c in CLASSES}
    centroid, onsets = {c: m[-2] for c, m in mean.items()}, {c: m[-1] for c, m in mean.items()}
    assert onsets["classical"] < 0.7 * min(onsets[c] for c in CLASSES if c != "classical")
    assert centroid["metal_punk"] > 1.5 * centroid["classical"]
    assert centroid["world"] < centroid["electronic"]

    # nearest class mean on standardised features, trained on training and scored on evaluation (chance ~ 1/6)
    scale = x.std(axis=0) + 1e-9
    means = np.stack([mean[c] / scale for c in CLASSES])
    x_eval, y_eval = data["evaluation"]
    distances = (((x_eval / scale)[:, None, :] - means[None]) ** 2).sum(axis=-1)
    predicted = np.array(CLASSES)[distances.argmin(axis=1)]
    assert (predicted == y_eval).mean() >= 0.75


# -------------------------------------------------------------------------------------------- file and errors


def test_md5_is_returned_and_nothing_else_is_left(corpus):
    dest, md5 = corpus
    assert md5 == hashlib.md5(dest.read_bytes()).hexdigest()
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]


def test_seed_decides_the_plan(tmp_path):
    small = dict(scale=0.001, min_per_class=1, seconds=0.5)

    def lists(path: Path, seed: int) -> list[bytes]:
        generate_corpus(path, seed=seed, **small)
        with zipfile.ZipFile(path) as archive:
            return [archive.read(f"{TOP}metadata/{s}/tracklist.csv") for s in SPLITS]

    first, again, other = lists(tmp_path / "a.zip", 0), lists(tmp_path / "b.zip", 0), lists(tmp_path / "c.zip", 1)
    assert first == again and first != other
    assert sum(len(t.splitlines()) for t in first) == 3 * len(CLASSES)


@pytest.mark.parametrize(
    "bad", [dict(scale=0.0), dict(scale=float("nan")), dict(min_per_class=0), dict(seconds=0.0), dict(seed=-1)]
)
def test_bad_arguments_are_refused_before_writing(tmp_path, bad):
    dest = tmp_path / "corpus.zip"
    with pytest.raises(ValueError, match=next(iter(bad))):
        generate_corpus(dest, **bad)
    assert not dest.exists() and not list(tmp_path.iterdir())
