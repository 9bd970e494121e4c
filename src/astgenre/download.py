"""Fetch the dataset archive (HTTP(S) with resume and retries, or a local file) and verify its MD5.

``fetch_archive`` is the single entry point. Over HTTP the bytes stream into ``<dest>.part`` and only
become ``dest`` once their MD5 matched; a local source is verified and linked, never copied. Either way a
``<dest>.md5`` sidecar in ``md5sum`` format is written next to ``dest``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TypeVar
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from tqdm import tqdm

from .files import atomic_write_text

__all__ = ["ChecksumError", "DownloadError", "OFFLINE_HINT", "fetch_archive", "md5sum", "verify_fetched"]

CHUNK = 1 << 20
USER_AGENT = "astgenre-download/0.1 (python-urllib)"
OFFLINE_HINT = (
    "If this machine has no internet access, run the offline demo preset: "
    "`snakemake --cores all --resources gpu=1 --config study=demo`, or point dataset.url at a local copy "
    "of the archive (file:///path/to/ismir04_genre.zip) in a --configfile overlay."
)
SERVER_HINT = (
    "The server was reached but did not deliver the file: it may be down or overloaded. Try again later, or point "
    "dataset.url at a mirror or a local copy of the archive in a --configfile overlay."
)
LOCAL_MD5_HINT = (
    "The archive is a local copy, so only its checksum was missing: set dataset.md5 to the archive's MD5 (listed on "
    "the Zenodo record page, https://zenodo.org/records/1302992) in your --configfile overlay; nothing is fetched then."
)

log = logging.getLogger(__name__)
_sleep = time.sleep  # module attribute so tests can record the backoff delays instead of waiting

# Failures worth another attempt. HTTPError (a URLError) is sorted by status code before these apply.
_TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, ssl.SSLError)
# 4xx fail at once, except the two that explicitly mean "try again later".
_RETRYABLE_4XX = {408, 429}
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_MD5_HEX = re.compile(r"[0-9a-f]{32}")

T = TypeVar("T")


class DownloadError(RuntimeError):
    """The archive could not be fetched, or its expected checksum could not be determined."""


class ChecksumError(DownloadError):
    """The fetched (or local) archive does not have the expected MD5."""


class _Retry(Exception):
    """A transient failure detected by this module (short body, server restarted the range, ...)."""


def md5sum(path: Path, chunk: int = CHUNK) -> str:
    """Return the MD5 hex digest of the file at ``path``, read in ``chunk``-byte pieces."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fetch_archive(
    url: str,
    dest: Path,
    *,
    md5: str | None = None,
    record_api: str | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 30.0,
    progress: bool = True,
) -> str:
    """Fetch url to dest, verify md5, return the md5 hex digest.

    ``url``: https://, http://, file:// or a filesystem path (local sources become a symlink at ``dest``).
    ``md5``: expected digest (hex, any case, optional ``md5:`` prefix); when None it is looked up in the
    ``files[]`` of the Zenodo record JSON at ``record_api`` under the archive's file name.
    ``retries``: extra attempts after transient failures that made no progress, waiting ``backoff * 2**k`` seconds
    before retry k (k = 0, 1, ...); an attempt that added bytes starts the count afresh, and every attempt resumes
    from the bytes already in ``<dest>.part``.
    Raises ChecksumError on a digest mismatch (the partial download is deleted) and DownloadError otherwise.
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    dest = Path(dest)
    local = _local_source(url)
    if local is not None and not local.is_file():
        raise DownloadError(
            f"Local archive {local} (dataset.url = {url!r}) does not exist or is not a file: "
            "check the path, or download the archive there first."
        )
    name = local.name if local is not None else _url_file_name(url)
    hint = LOCAL_MD5_HINT if local is not None else None
    expected = _expected_md5(md5, record_api, name, retries=retries, backoff=backoff, timeout=timeout, hint=hint)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if local is not None:
        digest = md5sum(local)
        if digest != expected:
            raise ChecksumError(_mismatch(local, url, expected, digest))
        _link(Path(os.path.abspath(local)), dest)
    else:
        digest = _download(url, dest, expected, retries=retries, backoff=backoff, timeout=timeout, progress=progress)
    _write_sidecar(dest, digest)
    return digest


# --- checksum sources -----------------------------------------------------------------------------------


def _normalise_md5(value: str, source: str) -> str:
    text = value.strip().lower()
    if text.startswith("md5:"):
        text = text[4:].strip()
    if not _MD5_HEX.fullmatch(text):
        raise DownloadError(f"{source}: {value!r} is not an MD5 hex digest (32 hex digits, optionally 'md5:' prefixed)")
    return text


def _expected_md5(
    md5: str | None,
    record_api: str | None,
    name: str,
    *,
    retries: int,
    backoff: float,
    timeout: float,
    hint: str | None = None,
) -> str:
    if md5 is not None:
        return _normalise_md5(md5, "dataset.md5")
    if record_api is not None:
        return _record_md5(record_api, name, retries=retries, backoff=backoff, timeout=timeout, hint=hint)
    raise DownloadError(
        f"No checksum for {name!r}: dataset.md5 must be set (or dataset.record_api pointed at a Zenodo record "
        "that lists the file), so that the download can be verified."
    )


def _record_md5(
    record_api: str, name: str, *, retries: int, backoff: float, timeout: float, hint: str | None = None
) -> str:
    """MD5 of ``files[key == name]`` in the Zenodo record JSON at ``record_api``; ``hint`` replaces the remedy
    given when the record cannot be fetched."""

    def get() -> bytes:
        request = urllib.request.Request(record_api, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
        with _open(request, timeout) as response:
            return response.read()

    raw = _with_retries(get, record_api, retries, backoff, hint=hint)
    try:
        record = json.loads(raw)
    except ValueError as err:
        raise DownloadError(f"Record API {record_api} did not return JSON ({err}); set dataset.md5 instead.") from err
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, list):
        raise DownloadError(f"Record API {record_api} returned no 'files' list; set dataset.md5 instead.")
    for entry in files:
        if isinstance(entry, dict) and entry.get("key") == name:
            checksum = entry.get("checksum")
            source = f"{record_api} files[key={name!r}].checksum"
            if not isinstance(checksum, str) or not checksum.strip().lower().startswith("md5:"):
                raise DownloadError(f"{source} is {checksum!r}, not 'md5:<hex>'; set dataset.md5 instead.")
            return _normalise_md5(checksum, source)
    keys = [entry.get("key") for entry in files if isinstance(entry, dict)]
    raise DownloadError(
        f"Record API {record_api} lists no file named {name!r} (it has {keys}); "
        "fix dataset.url so its last path component is one of these, or set dataset.md5."
    )


# --- sources and destinations ------------------------------------------------------------------------------


def _local_source(url: str) -> Path | None:
    """The filesystem path of a file:// URL or plain path; None for http(s)."""
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        return None
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise DownloadError(f"dataset.url {url!r}: file:// URLs must name a local path (file:///abs/path).")
        return Path(url2pathname(parsed.path))
    if scheme == "":
        return Path(url).expanduser()
    raise DownloadError(
        f"dataset.url {url!r}: unsupported scheme {scheme!r}; use https://, http://, file:// or a path."
    )


def _url_file_name(url: str) -> str:
    """Last path component of an HTTP URL (the Zenodo ``.../files/<name>/content`` form gives ``<name>``)."""
    parts = [unquote(p) for p in PurePosixPath(urlparse(url).path).parts if p != "/"]
    if len(parts) >= 3 and parts[-1] == "content" and parts[-3] == "files":
        return parts[-2]
    return parts[-1] if parts else ""


def _link(target: Path, dest: Path) -> None:
    """Make ``dest`` a symlink to ``target``, atomically replacing whatever ``dest`` was."""
    if os.path.abspath(dest) == str(target):
        return  # dest already is the source file
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.link")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, dest)


def _write_sidecar(dest: Path, digest: str) -> None:
    atomic_write_text(dest.with_name(dest.name + ".md5"), f"{digest}  {dest.name}\n")


def verify_fetched(dest: Path) -> str:
    """Check that ``dest`` still has the MD5 recorded beside it (``<dest>.md5``) when it was fetched; return it.

    A local source is linked, not copied: replacing it after the fetch changes ``dest`` too. Raises ChecksumError
    naming the file, what it links to and the remedy when the bytes changed, DownloadError when it is gone.
    """
    dest = Path(dest)
    sidecar = dest.with_name(dest.name + ".md5")
    try:
        recorded = _normalise_md5(sidecar.read_text().split()[0], str(sidecar))
    except (OSError, IndexError) as err:
        raise DownloadError(
            f"{sidecar} (the checksum verified when {dest} was fetched) is missing or empty; delete {dest} and rerun "
            "to fetch and verify the archive again."
        ) from err
    where = f"{dest} (a link to {os.path.realpath(dest)})" if dest.is_symlink() else str(dest)
    try:
        actual = md5sum(dest)
    except OSError as err:
        raise DownloadError(
            f"{where} cannot be read ({err}): restore the archive there, or delete {dest} and {sidecar} and rerun "
            "to fetch it again."
        ) from err
    if actual != recorded:
        raise ChecksumError(
            f"{where} has MD5 {actual}, but {recorded} was verified when it was fetched ({sidecar}): the archive "
            "changed since. Restore the original; if the new file is the one to use, set dataset.md5 to its checksum "
            "(the fetch then runs again and verifies it)."
        )
    return actual


def _mismatch(path: Path, url: str, expected: str, actual: str) -> str:
    return f"MD5 mismatch for {path} (from {url}): expected {expected}, got {actual}."


# --- HTTP ----------------------------------------------------------------------------------------------


def _open(request: urllib.request.Request, timeout: float) -> http.client.HTTPResponse:
    # A fresh opener per request picks up proxy settings from the environment at call time.
    return urllib.request.build_opener().open(request, timeout=timeout)


def _describe(err: BaseException) -> str:
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
    return str(reason)


def _with_retries(
    attempt: Callable[[], T],
    url: str,
    retries: int,
    backoff: float,
    *,
    position: Callable[[], int] | None = None,
    hint: str | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, retrying transient failures with exponential backoff.

    Only failed attempts that made no progress count against ``retries``: with ``position`` (the bytes on disk), an
    attempt that got further than any before starts the count and the backoff afresh. The final error ends with
    ``hint``, else with OFFLINE_HINT when the server could not be reached and SERVER_HINT when it answered.
    """
    best = position() if position else 0
    failures = 0
    while True:
        try:
            return attempt()
        except urllib.error.HTTPError as err:
            err.close()
            if 400 <= err.code < 500 and err.code not in _RETRYABLE_4XX:
                raise DownloadError(f"Fetching {url} failed with HTTP {err.code} {err.reason} (not retried).") from err
            reason, reached = f"HTTP {err.code} {err.reason}", True
        except _Retry as err:
            reason, reached = str(err), True
        except _TRANSIENT as err:
            # A URLError (not HTTPError) means no connection was made; the others broke one that was.
            reason, reached = _describe(err), not isinstance(err, urllib.error.URLError)
        now = position() if position else best
        if now > best:
            best, failures = now, 0
            log.warning("%s: attempt failed after progress to %d bytes (%s); resuming", url, now, reason)
        else:
            failures += 1
            if failures > retries:
                break
            log.warning(
                "%s: attempt failed without progress (%s), %d of %d retries left",
                url,
                reason,
                retries - failures + 1,
                retries,
            )
        _sleep(backoff * 2 ** max(failures - 1, 0))
    ending = hint or (SERVER_HINT if reached else OFFLINE_HINT)
    raise DownloadError(
        f"Could not fetch {url}: {retries + 1} attempt(s) in a row made no progress; last error: {reason}. {ending}"
    )


class _Part:
    """The ``.part`` file with a running MD5 of its bytes and the expected total size once known."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.total: int | None = None
        self.size = -1  # forces the first sync() to hash whatever is already on disk
        self.sync()

    def sync(self) -> None:
        """(Re)hash the file if the running digest does not cover exactly its current bytes."""
        size = self.path.stat().st_size if self.path.exists() else 0
        if size == self.size:
            return
        self.hasher = hashlib.md5()
        self.size = 0
        if size:
            with open(self.path, "rb") as fh:
                while block := fh.read(CHUNK):
                    self.add(block)

    def add(self, block: bytes) -> None:
        self.hasher.update(block)
        self.size += len(block)

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)
        self.hasher = hashlib.md5()
        self.size = 0


def _download(
    url: str, dest: Path, expected: str, *, retries: int, backoff: float, timeout: float, progress: bool
) -> str:
    part = _Part(dest.with_name(dest.name + ".part"))
    if part.size:
        log.info("%s: resuming from %d bytes already in %s", url, part.size, part.path)
    _with_retries(
        lambda: _attempt(url, part, expected, dest.name, timeout, progress),
        url,
        retries,
        backoff,
        position=lambda: part.size,
    )
    actual = part.hasher.hexdigest()
    if actual != expected:
        part.reset()
        raise ChecksumError(_mismatch(dest, url, expected, actual) + f" The partial download {part.path} was deleted.")
    os.replace(part.path, dest)
    return actual


def _attempt(url: str, part: _Part, expected: str, name: str, timeout: float, progress: bool) -> None:
    """One GET of the remaining bytes into ``part``; raises a transient error if the body came up short."""
    part.sync()
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if part.size:
        headers["Range"] = f"bytes={part.size}-"
    try:
        response = _open(urllib.request.Request(url, headers=headers), timeout)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not part.size:
            raise
        err.close()
        # Nothing left past our offset: either the part is already complete, or it is stale/oversized.
        match = re.search(r"/(\d+)\s*$", err.headers.get("Content-Range", ""))
        total = int(match.group(1)) if match else None
        if total in (None, part.size) and part.hasher.hexdigest() == expected:
            return
        log.warning("%s: server cannot resume at byte %d; restarting from zero", url, part.size)
        part.reset()
        _attempt(url, part, expected, name, timeout, progress)  # no Range now, so no 416 again
        return
    with response:
        total = _remaining_span(response, part, url)
        with (
            open(part.path, "ab") as fh,
            tqdm(
                total=total,
                initial=part.size,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=name,
                disable=not progress,
                dynamic_ncols=True,
            ) as bar,
        ):
            while block := response.read(CHUNK):
                fh.write(block)
                part.add(block)
                bar.update(len(block))
    if total is not None and part.size != total:
        if part.size > total:
            part.reset()
        raise _Retry(f"connection ended after {part.size} of {total} bytes")


def _remaining_span(response: http.client.HTTPResponse, part: _Part, url: str) -> int | None:
    """Check where the response body starts, truncating ``part`` if the server restarts at zero.

    Returns the expected size of the complete file (None if the server does not say).
    """
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not match:
            raise _Retry(f"206 response without a usable Content-Range ({response.headers.get('Content-Range')!r})")
        start = int(match.group(1))
        if start != part.size:
            part.reset()
            raise _Retry(f"server resumed at byte {start} instead of {part.size}; restarting from zero")
        total = int(match.group(3)) if match.group(3) != "*" else (start + length if length is not None else None)
    else:
        if part.size:
            log.warning("%s: server ignored the Range request; restarting from zero", url)
            part.reset()
        total = length
    if part.total is not None and total is not None and total != part.total and part.size:
        previous, part.total = part.total, total
        part.reset()
        raise _Retry(f"file size on the server changed from {previous} to {total} bytes; restarting from zero")
    part.total = total if total is not None else part.total
    return total
