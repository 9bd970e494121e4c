"""The real ISMIR2004 layout end to end through the data path: a stand-in archive built from the real file listing and
tracklists (a tiny real MP3 at every audio path) goes through fetch over HTTP (with a dropped connection to resume
from),
extract, index and sharded decode."""

import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from astgenre.audio import decode_tracks
from astgenre.dataset import build_index, extract_archive, index_summary, select_shard
from astgenre.demo.sounds import encode_mp3
from astgenre.download import fetch_archive, md5sum
from astgenre.labels import SPLITS, TRAINING_COUNTS


def tiny_mp3(seconds: float = 0.3, rate: int = 22050) -> bytes:
    """A real, short MP3 (a 440 Hz tone), encoded like the demo corpus."""
    t = np.arange(int(seconds * rate)) / rate
    return encode_mp3((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :], rate, 64000)


@pytest.fixture(scope="module")
def standin_archive(tmp_path_factory, ismir_fixtures) -> Path:
    archive = tmp_path_factory.mktemp("standin") / "ismir04_genre.zip"
    mp3 = tiny_mp3()
    listing = [line.strip().lstrip("./") for line in (ismir_fixtures / "filenames.txt").read_text().splitlines()]
    audio = [name for name in listing if name.startswith("audio/") and name.endswith(".mp3")]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for split in SPLITS:
            zf.write(
                ismir_fixtures / "metadata" / split / "tracklist.csv", f"ismir04_genre/metadata/{split}/tracklist.csv"
            )
        for name in audio:
            zf.writestr(f"ismir04_genre/{name}", mp3)
    return archive


class RangeHandler(BaseHTTPRequestHandler):
    """Serves one file with Range support; drops the first connection halfway through."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        data = self.server.payload
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.server.ranges.append(start)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if not self.server.dropped:
            self.server.dropped = True
            self.wfile.write(data[start : start + len(data) // 2])
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(data[start:])


def test_standin_archive_through_fetch_extract_index_decode(standin_archive, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    server.payload, server.ranges, server.dropped = standin_archive.read_bytes(), [], False
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/records/1302992/files/ismir04_genre.zip"
        dest = tmp_path / "download" / "ismir04_genre.zip"
        dest.parent.mkdir()
        fetch_archive(url, dest, md5=md5sum(standin_archive), backoff=0.001, progress=False)
    finally:
        server.shutdown()
    assert server.ranges and server.ranges[0] > 0, "the dropped download was not resumed with a Range request"
    assert md5sum(dest) == md5sum(standin_archive)

    root = extract_archive(dest, tmp_path / "data")
    index, resolutions = build_index(root)
    assert len(index) == 2187
    assert index.groupby("split").size().to_dict() == {split: 729 for split in SPLITS}
    training = index[index["split"] == "training"]["label"].value_counts().to_dict()
    assert training == TRAINING_COUNTS
    assert len(resolutions) == 3  # the three tracklist paths that do not match the files on disk
    assert all((root / path).is_file() for path in index["path"])
    summary = index_summary(index)
    assert summary["artist_overlap"]["training-evaluation"] > 0

    errors = []
    for shard in range(4):
        tracks = select_shard(index, shard, 4)
        errors.append(
            decode_tracks(
                ((t.track_id, root / t.path) for t in tracks.itertuples()),
                tmp_path / "audio" / f"shard{shard}",
                duration=10.0,
            )
        )
    assert pd.concat(errors).empty
    decoded = sorted(p.stem for p in (tmp_path / "audio").glob("shard*/*.npy"))
    assert decoded == sorted(index["track_id"])
    one = np.load(tmp_path / "audio" / "shard0" / f"{index['track_id'].iloc[0]}.npy")
    assert one.dtype == np.float32 and abs(len(one) - 0.3 * 16000) < 1152 * 16000 / 22050
