"""Decode audio files to mono float32 excerpts: PyAV (FFmpeg) decodes, libsoxr resamples.

Why PyAV rather than ``librosa.load``: excerpts of VBR MP3s start at the exact sample (the packets before
``start`` are read and the decoded samples counted, since an MP3 seek is an estimate off by up to seconds), it
decodes real MP3s on which libsndfile fails, and it is faster (1.1-1.3x ``librosa.load`` per core,
``benchmarks/bench_data.py``). :class:`Excerpt` says which part of a track to decode.

A file FFmpeg cannot open or decode at all (some real Ogg Vorbis files: "Header processing failed") is read with
libsndfile instead; when both fail, the error names both reasons. :func:`decode_chunks` yields the excerpt in pieces,
so that a track of any length is decoded in bounded memory; :func:`decode` returns it whole.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import soundfile
import soxr
from tqdm.auto import tqdm

from .files import atomic_path

log = logging.getLogger(__name__)

MIDDLE = "middle"
ON_ERROR = ("skip", "fail")
ERROR_COLUMNS = ["track_id", "path", "error"]

# Decoded before `start` after a seek and dropped: the decoder (MP3 bit reservoir, overlap) and the resampler
# need a little history before the first sample we keep.
_PREROLL_S = 0.1
# When packets before `start` are skipped without decoding, the last of them (at least this many bytes
# and packets) are decoded anyway: an MP3 frame may take up to 511 bytes of its data from earlier frames.
_RESERVOIR_BYTES = 1024
_RESERVOIR_PACKETS = 3
_TRIM_AT = 256  # skipped packets are trimmed to that run whenever this many are held
# Containers whose timestamps after container.seek are exact (sample tables, PCM, granule positions).
_EXACT_SEEK_FORMATS = frozenset(
    {"wav", "w64", "aiff", "flac", "ogg", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "caf"}
)
# A seek that lands later than `start` by more than this is not trusted (we decode from the beginning).
_LATE_TOLERANCE_S = 1e-3
# Header durations outside (0, this] are ignored.
_MAX_PLAUSIBLE_S = 24 * 3600.0
# Decoded audio shorter than the header claims by more than this is reported as truncated.
_TRUNCATION_TOLERANCE_S = 0.5
# Frames libsndfile reads at a time (when FFmpeg cannot read a file).
_SNDFILE_BLOCK = 65536


class DecodeError(RuntimeError):
    """An audio file could not be decoded; ``str()`` is the one line ``"path: reason"``."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: {self.reason}")

    def __reduce__(self):  # keep picklable (multiprocessing) despite the two-argument constructor
        return type(self), (self.path, self.reason)


class DecodeFailures(RuntimeError):
    """Some tracks of :func:`decode_tracks` failed; ``errors`` holds them (track_id, path, error)."""

    def __init__(self, errors: pd.DataFrame) -> None:
        self.errors = errors
        lines = [f"  {row.track_id}: {row.path}: {row.error}" for row in errors.itertuples(index=False)]
        super().__init__(
            f"{len(errors)} track(s) could not be decoded (fix or replace these files, "
            f"or decode with on_error='skip'):\n" + "\n".join(lines)
        )

    def __reduce__(self):
        return type(self), (self.errors,)


@dataclass(frozen=True)
class Excerpt:
    """What to decode of a track: ``duration`` seconds (None: to the end) from ``start`` (seconds, or "middle":
    centred on the middle of the track), as mono at ``sample_rate`` Hz. The arguments are checked on creation
    (ValueError)."""

    sample_rate: int = 16000
    start: float | str = 0.0
    duration: float | None = None

    def __post_init__(self) -> None:
        sample_rate, start, duration = self.sample_rate, self.start, self.duration
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if isinstance(start, str):
            if start != MIDDLE:
                raise ValueError(f"start must be seconds >= 0 or {MIDDLE!r}, got {start!r}")
        elif (
            isinstance(start, bool)
            or not isinstance(start, (int, float, np.number))
            or not (math.isfinite(start) and start >= 0)
        ):
            raise ValueError(f"start must be seconds >= 0 or {MIDDLE!r}, got {start!r}")
        if duration is None:
            return
        if (
            isinstance(duration, bool)
            or not isinstance(duration, (int, float, np.number))
            or not (math.isfinite(duration) and duration > 0)
        ):
            raise ValueError(f"duration must be seconds > 0 or None, got {duration!r}")
        if self.n_samples < 1:
            raise ValueError(f"duration {duration} s is shorter than one sample at {sample_rate} Hz")

    @property
    def n_samples(self) -> int | None:
        """The wanted number of output samples (None: to the end of the track)."""
        return None if self.duration is None else round(self.duration * self.sample_rate)


def decode(
    path: Path,
    *,
    sample_rate: int = 16000,
    start: float | str = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode an audio file to mono float32 at sample_rate; excerpt [start, start+duration) seconds (duration None =
    to the end).

    start="middle" centres the excerpt on the middle of the track (with duration None: the whole track).
    A track shorter than the excerpt gives a shorter array (the caller pads). Raises DecodeError when the
    file cannot be opened or decoded, has no audio stream, yields no samples, or ends before `start`.
    """
    chunks = list(decode_chunks(path, sample_rate=sample_rate, start=start, duration=duration))
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


def decode_chunks(
    path: Path,
    *,
    sample_rate: int = 16000,
    start: float | str = 0.0,
    duration: float | None = None,
) -> Iterator[np.ndarray]:
    """:func:`decode` in pieces: non-empty mono float32 arrays whose concatenation is ``decode(...)``.

    Memory stays bounded whatever the track's length (start="middle" with a duration holds that excerpt once).
    The arguments are checked at once; DecodeError comes while iterating, before the first piece when the file
    cannot be read at all.
    """
    path = Path(path)
    n_wanted = Excerpt(sample_rate, start, duration).n_samples
    return _decode_any(path, sample_rate, start, n_wanted)


def decode_at_most(path: Path, max_samples: int, **excerpt: float | str | int | None) -> np.ndarray | None:
    """``decode(path, **excerpt)``, or None as soon as the excerpt proves longer than ``max_samples`` (the caller
    then streams it with :func:`decode_chunks`, so that no process holds a long track whole)."""
    chunks, size = [], 0
    for chunk in decode_chunks(path, **excerpt):
        size += chunk.size
        if size > max_samples:
            return None
        chunks.append(chunk)
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


def _decode_any(path: Path, sample_rate: int, start: float | str, n_wanted: int | None) -> Iterator[np.ndarray]:
    """FFmpeg's pieces, or libsndfile's when FFmpeg cannot read the file at all."""
    _check_file(path)
    ffmpeg = _ffmpeg_chunks(path, sample_rate, start, n_wanted)
    try:
        first = next(ffmpeg)
    except _FFmpegUnreadable as ffmpeg_error:
        try:
            chunks = _sndfile_chunks(path, sample_rate, start, n_wanted)
            first = next(chunks)
        except DecodeError as sndfile_error:
            raise DecodeError(path, f"FFmpeg: {ffmpeg_error.reason}; libsndfile: {sndfile_error.reason}") from None
        log.warning("%s: FFmpeg cannot read it (%s); decoded with libsndfile instead", path, ffmpeg_error.reason)
        yield first
        yield from chunks
        return
    yield first
    yield from ffmpeg


def _ffmpeg_chunks(path: Path, sample_rate: int, start: float | str, n_wanted: int | None) -> Iterator[np.ndarray]:
    with _ffmpeg_logs():
        if start == MIDDLE:
            yield from _middle_chunks(path, sample_rate, n_wanted)
        else:
            yield from _chunks_at(path, sample_rate, float(start), n_wanted)


def decode_tracks(
    tracks: Iterable[tuple[str, Path]],
    out_dir: Path,
    *,
    sample_rate: int = 16000,
    start: float | str = 0.0,
    duration: float | None = None,
    on_error: str = "skip",
    progress: bool = False,
) -> pd.DataFrame:
    """Decode (track_id, path) pairs to out_dir/<track_id>.npy (float32, 1-D); return the errors (columns track_id,
    path, error).

    Each .npy is written atomically; a stale .npy of a track that now fails is removed, so out_dir holds
    exactly the tracks that decoded. on_error="skip" returns the errors; "fail" decodes everything, then
    raises DecodeFailures listing all errors. A track_id may contain "/" (sub-folders are created).
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    Excerpt(sample_rate, start, duration)  # checks the arguments before any file is touched
    items = [(str(track_id), Path(path)) for track_id, path in tracks]
    _check_track_ids([track_id for track_id, _ in items])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    errors = []
    for track_id, path in tqdm(items, desc="decode", unit="track", disable=not progress):
        target = out_dir / f"{track_id}.npy"
        try:
            audio = decode(path, sample_rate=sample_rate, start=start, duration=duration)
        except DecodeError as exc:
            log.warning("track %s not decoded: %s", track_id, exc)
            errors.append({"track_id": track_id, "path": str(path), "error": exc.reason})
            target.unlink(missing_ok=True)
            continue
        _save_npy_atomic(target, audio)
    errors_frame = pd.DataFrame(errors, columns=ERROR_COLUMNS)
    if on_error == "fail" and len(errors_frame):
        raise DecodeFailures(errors_frame)
    return errors_frame


# --------------------------------------------------------------------------- arguments


def _check_track_ids(track_ids: list[str]) -> None:
    bad = [t for t in track_ids if not _is_relative_name(t)]
    if bad:
        raise ValueError(
            f"track ids must be non-empty relative names without '.', '..' or empty components "
            f"(they name out_dir/<track_id>.npy); bad: {bad[:10]}"
        )
    duplicates = sorted(t for t, n in Counter(track_ids).items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate track ids (each would overwrite the other's .npy): {duplicates[:10]}")


def _is_relative_name(track_id: str) -> bool:
    if not track_id or "\\" in track_id or "\0" in track_id or track_id.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in track_id.split("/"))


# --------------------------------------------------------------------------- output


def _save_npy_atomic(target: Path, audio: np.ndarray) -> None:
    with atomic_path(target) as temp, open(temp, "xb") as handle:
        np.save(handle, np.ascontiguousarray(audio, dtype=np.float32))


# --------------------------------------------------------------------------- decoding


@contextmanager
def _ffmpeg_logs() -> Iterator[None]:
    """Capture FFmpeg's log lines (no terminal spam) while keeping ERROR lines for exception messages."""
    previous = av.logging.get_level()
    if previous is None:  # PyAV's default drops everything, which also blanks error details
        av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture():
            yield
    finally:
        if previous is None:
            av.logging.set_level(None)


@dataclass
class _Read:
    """What one pass over a file found (filled in as it goes; complete once the pass ends)."""

    end_s: float = 0.0  # where the decoded audio ended, in seconds from the start of the track
    at_end: bool = True  # the stream ended (rather than us stopping once the excerpt was complete)
    header_s: float | None = None  # duration the headers claim, when plausible
    failures: int = 0  # packets the decoder rejected
    last_failure: str = ""


class _FFmpegUnreadable(DecodeError):
    """FFmpeg cannot read this file at all (nothing decoded): worth trying another decoder."""


class _UnsupportedFormat(Exception):
    """The decoder gives samples in a format _mono cannot read."""


class _Unlocatable(Exception):
    """A seek went somewhere we cannot trust; decode from the beginning instead."""


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DecodeError(path, "no such file" if not path.exists() else "not a regular file")
    if path.stat().st_size == 0:
        raise DecodeError(path, "file is empty (0 bytes)")


def _chunks_at(
    path: Path, sample_rate: int, start: float, n_wanted: int | None, *, warn: bool = True
) -> Iterator[np.ndarray]:
    """Pieces of [start, start + n_wanted samples): by seeking when start > 0, else (or if that fails) from the
    beginning. Every failure to locate the excerpt shows before the first piece."""
    if start > 0:
        read = _Read()
        chunks = _chunks(path, sample_rate, start, n_wanted, seek=True, read=read)
        try:
            first = next(chunks, None)
        except _Unlocatable:
            first = None
        if first is not None:
            yield first
            yield from chunks
            if warn:
                _warn_if_damaged(path, read)
            return
        chunks.close()  # past the end, or a bad seek: decoding from the beginning tells for sure
    read = _Read()
    produced = False
    for chunk in _chunks(path, sample_rate, start, n_wanted, seek=False, read=read):
        produced = True
        yield chunk
    if not produced:
        if read.end_s > 0:
            raise DecodeError(path, f"start {start:.3f} s is at or past the end of the track ({read.end_s:.3f} s)")
        detail = f" ({read.failures} packet(s) rejected, last: {read.last_failure})" if read.failures else ""
        raise _FFmpegUnreadable(path, f"no audio samples could be decoded{detail}")
    if warn:
        _warn_if_damaged(path, read)


def _middle_chunks(path: Path, sample_rate: int, n_wanted: int | None) -> Iterator[np.ndarray]:
    if n_wanted is None:
        yield from _chunks_at(path, sample_rate, 0.0, None)
        return
    header_s = _header_duration(path)
    if header_s is not None:
        start = max(0.0, (header_s - n_wanted / sample_rate) / 2)
        if start == 0.0:  # the track claims to be no longer than the excerpt: take it from the start
            yield from _chunks_at(path, sample_rate, 0.0, n_wanted)
            return
        read = _Read()
        try:
            excerpt = list(_chunks(path, sample_rate, start, n_wanted, seek=True, read=read))  # n_wanted at most
        except _Unlocatable:
            excerpt = []
        if sum(chunk.size for chunk in excerpt) == n_wanted:
            _warn_if_damaged(path, read)
            yield from excerpt
            return
        # The header overstated the length (truncated file, bad estimate): measure it by decoding.
    total = sum(chunk.size for chunk in _chunks_at(path, sample_rate, 0.0, None))  # warns about damage once
    yield from _slice(_chunks_at(path, sample_rate, 0.0, None, warn=False), max(0, (total - n_wanted) // 2), n_wanted)


def _slice(chunks: Iterator[np.ndarray], offset: int, count: int) -> Iterator[np.ndarray]:
    """Samples [offset, offset + count) of the concatenated pieces, as pieces."""
    position = 0
    for chunk in chunks:
        piece = chunk[max(0, offset - position) : max(0, offset + count - position)]
        position += chunk.size
        if piece.size:
            yield piece.copy()
        if position >= offset + count:
            chunks.close()
            return


def _warn_if_damaged(path: Path, read: _Read) -> None:
    if read.failures:
        log.warning(
            "%s: the decoder rejected %d packet(s) (last: %s); using the audio that decoded",
            path,
            read.failures,
            read.last_failure,
        )
    if read.at_end and read.header_s is not None:
        if read.header_s - read.end_s > max(_TRUNCATION_TOLERANCE_S, 0.02 * read.header_s):
            log.warning(
                "%s: audio ends at %.3f s but the header claims %.3f s (truncated file?); using what decoded",
                path,
                read.end_s,
                read.header_s,
            )


def _open(path: Path):
    """Open `path` with FFmpeg; return (container, first audio stream) or raise _FFmpegUnreadable."""
    _check_file(path)
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise _FFmpegUnreadable(path, f"cannot open: {_describe(exc)}") from exc
    if not container.streams.audio:
        format_name = container.format.name
        container.close()
        raise _FFmpegUnreadable(path, f"no audio stream (container format {format_name!r})")
    return container, container.streams.audio[0]


def _header_duration(path: Path) -> float | None:
    container, stream = _open(path)
    with container:
        return _claimed_seconds(container, stream)


def _claimed_seconds(container, stream) -> float | None:
    """Duration from the stream or container header, or None when absent or implausible."""
    seconds = None
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    if seconds is None or not (0 < seconds <= _MAX_PLAUSIBLE_S):
        return None
    return seconds


def _chunks(
    path: Path, sample_rate: int, start: float, n_wanted: int | None, *, seek: bool, read: _Read
) -> Iterator[np.ndarray]:
    """Decode from `start` (seconds) up to `n_wanted` output samples (None: to the end), in non-empty pieces.

    seek=False decodes from the first packet and counts samples. seek=True jumps to just before `start`
    and locates the first decoded frame by its timestamp (raising _Unlocatable, before the first piece, when it
    cannot): with container.seek where the format's timestamps after a seek are exact, otherwise (MP3 and other raw
    streams, whose seeks are estimates: wrong by seconds in VBR files) by demuxing without decoding. ``read`` is
    filled in as the pass goes.
    """
    container, stream = _open(path)
    with container:
        read.header_s = _claimed_seconds(container, stream)
        time_base = stream.time_base
        origin = stream.start_time or 0
        locate = seek and start > _PREROLL_S  # close to the beginning, decoding from there is as cheap
        skip_before = None  # packets ending before this pts are not decoded
        if locate:
            if time_base is None:
                raise _Unlocatable("stream has no time base")
            skip_before = origin + int((start - _PREROLL_S) / time_base)
            if container.format.name in _EXACT_SEEK_FORMATS:
                try:
                    container.seek(skip_before, stream=stream)
                except av.FFmpegError as exc:
                    raise _Unlocatable(_describe(exc)) from exc

        trim = _Trim(sample_rate, start, n_wanted)
        resampler = _Resampler(sample_rate)
        packets = _Packets(container, stream)
        skipped: list = []  # recent skipped packets: the last of them are decoded first (MP3 bit reservoir)
        read.at_end = True
        for packet in packets:
            if not trim.located and skip_before is not None:
                if _ends_before(packet, skip_before):
                    skipped.append(packet)
                    if len(skipped) >= _TRIM_AT:
                        skipped = _reservoir(skipped)
                    continue
                frames = [frame for p in (*_reservoir(skipped), packet) for frame in packets.decode(p)]
                skipped = []
            else:
                frames = packets.decode(packet)
            for frame in frames:
                if not trim.located:
                    trim.locate(_frame_seconds(frame, time_base, origin) if locate else 0.0)
                try:
                    yield from trim.add(resampler.push(frame))
                except _UnsupportedFormat as exc:
                    raise _FFmpegUnreadable(path, str(exc)) from exc
            read.end_s, read.failures, read.last_failure = trim.end_s(), packets.failures, packets.last_failure
            if n_wanted is not None and trim.kept >= n_wanted:
                read.at_end = False
                break
        yield from trim.add(resampler.flush())
    read.end_s, read.failures, read.last_failure = trim.end_s(), packets.failures, packets.last_failure


def _sndfile_chunks(path: Path, sample_rate: int, start: float | str, n_wanted: int | None) -> Iterator[np.ndarray]:
    """The excerpt decoded by libsndfile (soundfile) in non-empty pieces, resampled like FFmpeg's output."""
    try:
        handle = soundfile.SoundFile(str(path))
    except (RuntimeError, TypeError, ValueError, OSError) as exc:  # LibsndfileError is a RuntimeError
        raise DecodeError(path, f"cannot open: {getattr(exc, 'error_string', None) or exc}") from exc
    with handle:
        rate, frames = handle.samplerate, handle.frames
        if start == MIDDLE:
            begin_s = max(0.0, (frames / rate - n_wanted / sample_rate) / 2) if n_wanted is not None else 0.0
        else:
            begin_s = float(start)
        first = round(begin_s * rate)
        if first and first >= frames:
            raise DecodeError(path, f"start {begin_s:.3f} s is at or past the end of the track ({frames / rate:.3f} s)")
        origin = max(0, first - round(_PREROLL_S * rate))  # a little history for the resampler, dropped below
        if origin:
            handle.seek(origin)
        resampler = (
            soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ") if rate != sample_rate else None
        )
        trim = _Trim(sample_rate, begin_s, n_wanted)
        trim.locate(origin / rate)
        try:
            for block in handle.blocks(blocksize=_SNDFILE_BLOCK, dtype="float32", always_2d=True):
                mono = block.mean(axis=1, dtype=np.float32)
                yield from trim.add([mono if resampler is None else resampler.resample_chunk(mono)])
                if n_wanted is not None and trim.kept >= n_wanted:
                    break
            else:
                if resampler is not None:
                    yield from trim.add([resampler.resample_chunk(np.zeros(0, np.float32), last=True)])
        except (RuntimeError, ValueError) as exc:
            if not trim.kept:
                raise DecodeError(path, f"cannot decode: {exc}") from exc
            log.warning("%s: libsndfile stopped after %.3f s (%s); using what decoded", path, trim.end_s(), exc)
        if not trim.kept:
            raise DecodeError(path, "no audio samples could be decoded")


def _reservoir(packets: list) -> list:
    """The shortest run of the last packets that holds _RESERVOIR_BYTES and _RESERVOIR_PACKETS."""
    nbytes = 0
    for count, packet in enumerate(reversed(packets), start=1):
        nbytes += packet.size
        if count >= _RESERVOIR_PACKETS and nbytes >= _RESERVOIR_BYTES:
            return packets[-count:]
    return packets


def _ends_before(packet, pts: int) -> bool:
    return packet.pts is not None and bool(packet.duration) and packet.pts + packet.duration <= pts


def _frame_seconds(frame, time_base: Fraction | None, origin: int) -> float:
    """Time of a decoded frame relative to the stream start, from its timestamp."""
    if frame.pts is None or time_base is None:
        raise _Unlocatable("decoded frames carry no timestamps")
    return float((frame.pts - origin) * time_base)


class _Trim:
    """Resampled output, less what lies before `start` (known once the first frame is located) and beyond
    `n_wanted` samples."""

    def __init__(self, sample_rate: int, start: float, n_wanted: int | None = None) -> None:
        self.sample_rate = sample_rate
        self.start = start
        self.n_wanted = n_wanted
        self.first_s: float | None = None  # time of the first decoded sample
        self.to_drop = 0
        self.kept = 0  # samples at or after start (some may lie beyond n_wanted)
        self.total = 0

    @property
    def located(self) -> bool:
        return self.first_s is not None

    def locate(self, first_s: float) -> None:
        to_drop = round((self.start - first_s) * self.sample_rate)
        if to_drop < -round(_LATE_TOLERANCE_S * self.sample_rate):
            raise _Unlocatable(f"first frame is {first_s - self.start:.3f} s after the target")
        self.first_s = first_s
        self.to_drop = max(to_drop, 0)

    def add(self, chunks: list[np.ndarray]) -> list[np.ndarray]:
        """The non-empty parts of `chunks` that belong to the excerpt, as float32."""
        kept = []
        for chunk in chunks:
            self.total += chunk.size
            if self.to_drop:
                cut = min(self.to_drop, chunk.size)
                chunk = chunk[cut:]
                self.to_drop -= cut
            room = chunk.size if self.n_wanted is None else max(0, self.n_wanted - self.kept)
            self.kept += chunk.size
            if chunk.size and room:
                kept.append(np.ascontiguousarray(chunk[:room], dtype=np.float32))
        return kept

    def end_s(self) -> float:
        return (self.first_s or 0.0) + self.total / self.sample_rate


class _Packets:
    """Demux one stream, decoding packet by packet and tolerating bad packets (as ffmpeg does)."""

    def __init__(self, container, stream) -> None:
        self._iter = container.demux(stream)
        self.failures = 0
        self.last_failure = ""

    def __iter__(self):
        while True:
            try:
                packet = next(self._iter)
            except StopIteration:
                return
            except av.FFmpegError as exc:  # read error mid-file: keep what decoded so far
                self._fail(exc)
                return
            yield packet

    def decode(self, packet) -> list:
        try:
            return packet.decode()
        except av.FFmpegError as exc:
            self._fail(exc)
            return []

    def _fail(self, exc: Exception) -> None:
        self.failures += 1
        self.last_failure = _describe(exc)


# FFmpeg's sample formats (planar ones end in "p"): numpy dtype, and (offset, scale) to floats in [-1, 1) for integers.
_SAMPLE_DTYPES = {
    "u8": np.uint8,
    "s16": np.int16,
    "s32": np.int32,
    "s64": np.int64,
    "flt": np.float32,
    "dbl": np.float64,
}
_INT_SCALE = {"u8": (128.0, 1 / 128), "s16": (0.0, 1 / 2**15), "s32": (0.0, 1 / 2**31), "s64": (0.0, 1 / 2**63)}
# Input samples gathered before each call to soxr (per-call overhead; the excerpt may overshoot by this much).
_CHUNK_SAMPLES = 16384


def _mono(frame) -> np.ndarray:
    """A decoded frame as float32 mono: the mean of its channels, integer formats scaled to [-1, 1).

    Samples are read from the frame's buffers (every FFmpeg sample format, s64 included, which PyAV's
    to_ndarray does not convert); the result never shares memory with the frame.
    """
    channels = len(frame.layout.channels)
    kind = frame.format.name.removesuffix("p")
    if kind not in _SAMPLE_DTYPES:
        raise _UnsupportedFormat(f"decoder gives samples in format {frame.format.name!r}, which is not supported")
    dtype = _SAMPLE_DTYPES[kind]
    if frame.format.is_planar:
        planes = [np.frombuffer(plane, dtype, count=frame.samples) for plane in frame.planes[:channels]]
    else:  # packed: one buffer of interleaved samples
        packed = np.frombuffer(frame.planes[0], dtype, count=frame.samples * channels).reshape(-1, channels)
        planes = [packed[:, channel] for channel in range(channels)]
    if kind in _INT_SCALE:
        offset, scale = _INT_SCALE[kind]
        planes = [(plane.astype(np.float32) - np.float32(offset)) * np.float32(scale) for plane in planes]
    if channels == 1:
        return np.array(planes[0], dtype=np.float32)  # a copy
    if channels == 2:
        return ((planes[0] + planes[1]) * 0.5).astype(np.float32, copy=False)
    return np.mean(planes, axis=0, dtype=np.float64 if kind == "dbl" else np.float32).astype(np.float32, copy=False)


class _Resampler:
    """Frames to mono float32 at `rate`: channel mean, then libsoxr (quality "HQ", as librosa.load) streaming.

    Input is gathered into chunks of about _CHUNK_SAMPLES before resampling. The stream restarts (after a
    flush) if the input rate changes midway. Output sample k of a stream lies at k / rate seconds after the
    stream's first input sample (soxr compensates its filter delay).
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._stream: soxr.ResampleStream | None = None
        self._in_rate: int | None = None
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0

    def push(self, frame) -> list[np.ndarray]:
        if not frame.samples:
            return []
        out = []
        if frame.sample_rate != self._in_rate:
            out = self.flush()
            self._in_rate = frame.sample_rate
            if frame.sample_rate != self.rate:
                self._stream = soxr.ResampleStream(frame.sample_rate, self.rate, 1, dtype="float32", quality="HQ")
        self._pending.append(_mono(frame))
        self._pending_samples += frame.samples
        if self._pending_samples >= _CHUNK_SAMPLES:
            out.append(self._convert(last=False))
        return out

    def flush(self) -> list[np.ndarray]:
        out = [self._convert(last=True)] if self._in_rate is not None else []
        self._stream = None
        self._in_rate = None
        return out

    def _convert(self, *, last: bool) -> np.ndarray:
        chunk = np.concatenate(self._pending) if self._pending else np.zeros(0, np.float32)
        self._pending.clear()
        self._pending_samples = 0
        return chunk if self._stream is None else self._stream.resample_chunk(chunk, last=last)


def _describe(exc: Exception) -> str:
    """One line for an exception, with FFmpeg's last error log line but without the file name."""
    if isinstance(exc, av.FFmpegError):
        text = exc.strerror or type(exc).__name__
        if exc.log:
            text += f" ({exc.log[1].strip()}: {exc.log[2].strip()})"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())
