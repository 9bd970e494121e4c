"""The workflow does not trust inputs it has seen before: a local archive replaced after its verified fetch.

Runs Snakemake on the first two stages only (fetch, extract) with a tiny archive: seconds, not minutes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from astgenre.labels import SPLITS

TOP = "ismir04_genre"


def project_copy(repo: Path, work: Path) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(repo / name, work / name)
    shutil.copytree(repo / "workflow", work / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    return work


def tiny_archive(path: Path, *extra: str) -> str:
    """A zip of the archive's layout (empty tracklists); returns its MD5."""
    with zipfile.ZipFile(path, "w") as archive:
        for split in SPLITS:
            archive.writestr(f"{TOP}/metadata/{split}/tracklist.csv", "")
        for name in ("a.mp3", *extra):
            archive.writestr(f"{TOP}/audio/training/x/{name}", name.encode())
    return hashlib.md5(path.read_bytes()).hexdigest()


def extract(work: Path, archive: Path, md5: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "results/demo/data", "--config", "study=demo"]
        + [f"dataset={{url: {archive}, md5: {md5}}}"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_local_archive_replaced_after_the_fetch_goes_through_the_checksum_again(repo, tmp_path):
    work = project_copy(repo, tmp_path / "project")
    archive = tmp_path / "mirror" / "ismir04_genre.zip"
    archive.parent.mkdir()
    md5 = tiny_archive(archive)
    first = extract(work, archive, md5)
    assert first.returncode == 0, first.stderr[-3000:]
    data = work / "results/demo/data" / TOP / "audio/training/x"
    assert sorted(p.name for p in data.iterdir()) == ["a.mp3"]

    new_md5 = tiny_archive(archive, "b.mp3")  # the source is replaced in place, later than the fetch
    stamp = archive.stat().st_mtime + 10
    os.utime(archive, (stamp, stamp))
    second = extract(work, archive, md5)
    assert second.returncode != 0
    log = (work / "results/demo/logs/extract.log").read_text()
    assert f"has MD5 {new_md5}, but {md5} was verified when it was fetched" in log
    assert "set dataset.md5 to its checksum" in log
    assert not (work / "results/demo/data").exists()  # nothing was extracted from the unverified file

    third = extract(work, archive, new_md5)  # the new file is meant: its checksum is configured, fetch runs again
    assert third.returncode == 0, third.stderr[-3000:]
    assert sorted(p.name for p in data.iterdir()) == ["a.mp3", "b.mp3"]
    assert (work / "results/demo/download/ismir04_genre.zip.md5").read_text().split()[0] == new_md5
