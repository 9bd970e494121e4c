"""Genre predictions for any audio files with a fine-tuned model, decoded and featurised exactly as in the study.

Worker processes decode the files ahead (:func:`astgenre.audio.decode`) while this process computes their
log-mel features (:func:`astgenre.features.log_mel`, rounded to float16 like the study's feature files) and runs
the model on batches of windows drawn from several files at once. Window logits are aggregated per file as
:func:`astgenre.evaluation.evaluate_run` does. A file that cannot be decoded gets an error row; the others go on.
The workers are started with "spawn": a script calling :func:`predict_files` needs the
``if __name__ == "__main__":`` guard, and keeps heavy imports out of its top level to start them quickly.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import av
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .audio import DecodeError, Excerpt, decode_at_most, decode_chunks
from .contracts import PROB_COLUMNS, RUN_INFO
from .data import aggregate_tracks
from .evaluation import predict_windows
from .features import FbankSettings, LogMelStream, window
from .files import atomic_path, atomic_write_text
from .labels import CLASSES
from .model import load_classifier
from .runtime import available_cores, resolve_device, torch_threads

log = logging.getLogger(__name__)

# Suffix -> decoders that read it (any one present is enough); folders are searched for these suffixes.
_SUFFIX_DECODERS = {
    ".mp3": ("mp3float", "mp3"),
    ".wav": ("pcm_s16le",),
    ".flac": ("flac",),
    ".ogg": ("vorbis", "opus", "flac"),
    ".oga": ("vorbis", "opus", "flac"),
    ".opus": ("opus", "libopus"),
    ".m4a": ("aac", "alac"),
    ".aac": ("aac",),
    ".aif": ("pcm_s16be",),
    ".aiff": ("pcm_s16be",),
    ".wma": ("wmav2", "wmav1", "wmapro"),
}
OUTPUT_SUFFIXES = (".csv", ".tsv", ".json")
STATUS_OK, STATUS_ERROR = "ok", "error"
# Files decoded ahead of the model, per worker: keeps workers busy without holding many tracks in memory.
_PREFETCH_PER_WORKER = 4
# Excerpts longer than this (19 MB of 16 kHz audio) are not decoded ahead whole but streamed in pieces.
_STREAM_ABOVE_S = 300.0
SHORT_SECONDS = 1.0
"""Files with less decoded audio than this (seconds) get a warning: their genres are a guess."""
SILENCE_DBFS = -60.0
"""Files whose RMS level (over the analysed excerpt) is below this many dBFS get a warning: silence has no genre."""


_REEXPORT = (
    "its files are damaged or do not belong together: export it again (snakemake --forcerun export_best_model), "
    "retrain the run, or pass another model"
)


class ModelError(RuntimeError):
    """The model given to predict is missing or unusable; the message says what to pass instead."""


def _has_decoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "r")
        return True
    except Exception:  # noqa: BLE001 - PyAV raises different errors for unknown codecs across versions
        return False


AUDIO_SUFFIXES: tuple[str, ...] = tuple(
    suffix for suffix, decoders in _SUFFIX_DECODERS.items() if any(_has_decoder(d) for d in decoders)
)
"""Suffixes (lower case) of the files searched for in folders: those whose decoder this FFmpeg build has."""


# --------------------------------------------------------------------------- inputs


def collect_audio_files(inputs: Iterable[Path | str]) -> list[Path]:
    """Expand folders (recursively, sorted) to their audio files; keep files as given, in order, each once.

    A file named on its own is kept whatever its suffix (decoding tells whether it is audio); one that does not
    exist is kept too, so that it is reported. In folders, hidden files and folders (".name") are skipped.
    Raises ValueError when nothing is left.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    inputs = [Path(p) for p in inputs]
    for given in inputs:
        if given.is_dir():
            files = _audio_files_under(given)
            if not files:
                log.warning("%s: no audio files (%s) in this folder", given, ", ".join(AUDIO_SUFFIXES))
        else:
            files = [given]
        for path in files:
            key = Path(os.path.abspath(path))
            if key not in seen:
                seen.add(key)
                found.append(path)
    if not found:
        where = ", ".join(str(p) for p in inputs) or "(nothing given)"
        raise ValueError(f"no audio files found in {where}; looked for {', '.join(AUDIO_SUFFIXES)}")
    return found


def _audio_files_under(folder: Path) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [Path(root) / n for n in names if not n.startswith(".") and Path(n).suffix.lower() in AUDIO_SUFFIXES]
    return sorted(files, key=lambda p: p.as_posix())


def resolve_model_dir(path: Path | str) -> Path:
    """The model directory of a model dir (holding astgenre.json) or a run dir (holding model/astgenre.json)."""
    path = Path(path)
    for candidate in (path, path / "model"):
        if (candidate / RUN_INFO).is_file():
            return candidate
    if not path.exists():
        raise ModelError(f"model {path} does not exist; pass results/<study>/best_model, a run directory or its model/")
    raise ModelError(
        f"{path} is not a model of this project: neither {path / RUN_INFO} nor {path / 'model' / RUN_INFO} exists; "
        "pass results/<study>/best_model, a run directory (results/<study>/runs/<variant>/seed<N>) or its model/"
    )


# --------------------------------------------------------------------------- decoding and features


def _failure(error: BaseException) -> str:
    """The one-line reason reported for a file that could not be decoded."""
    if isinstance(error, DecodeError):
        return error.reason
    return f"unexpected error: {type(error).__name__}: {' '.join(str(error).split())}"


class _Inline(Executor):
    """Runs the work in the calling process (workers=0)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # noqa: BLE001 - delivered through the future, like a process pool does
            future.set_exception(error)
        return future


def _decoded(
    paths: Sequence[Path], excerpt: Excerpt, workers: int
) -> Iterator[tuple[Iterable[np.ndarray], str | None]]:
    """(audio pieces, None) or ((), reason) for each path, in order.

    Excerpts up to _STREAM_ABOVE_S seconds are decoded ahead by `workers` processes (0: here) while this process
    computes features and runs the model; the workers run :func:`astgenre.audio.decode_at_most` only (a light
    import: they start in about a second). Longer excerpts are decoded here, piece by piece, as they are consumed.
    """
    if workers == 0:
        executor: Executor = _Inline()
        ahead = 1
    else:
        level = logging.getLogger().getEffectiveLevel()
        executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=functools.partial(logging.basicConfig, level=level, format="%(levelname)s: %(message)s"),
        )
        ahead = workers * _PREFETCH_PER_WORKER
    kwargs = asdict(excerpt)
    limit = round(_STREAM_ABOVE_S * excerpt.sample_rate)
    pending: deque[tuple[Path, Future]] = deque()
    with executor:
        try:
            for path in paths:
                with _sigint_blocked():  # workers start on submit: they inherit the mask and leave Ctrl-C to us
                    pending.append((path, executor.submit(decode_at_most, path, limit, **kwargs)))
                if len(pending) >= ahead:
                    yield _outcome(*pending.popleft(), kwargs)
            while pending:
                yield _outcome(*pending.popleft(), kwargs)
        finally:
            for _, future in pending:
                future.cancel()


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread meanwhile (POSIX); a Ctrl-C that arrives is handled once unblocked."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _outcome(path: Path, future: Future, excerpt: dict[str, Any]) -> tuple[Iterable[np.ndarray], str | None]:
    try:
        audio = future.result()
    except BrokenProcessPool:
        raise
    except Exception as error:  # noqa: BLE001 - one odd file must not stop the others; it is reported
        log.debug("decoding failed", exc_info=error)
        return (), _failure(error)
    if audio is None:  # too long to hold: decode it here, piece by piece
        return decode_chunks(path, **excerpt), None
    return (audio,), None


def default_workers(device: torch.device | str = "cpu") -> int:
    """Decoding processes: half the cores when the model runs on CPU (it gets the other half), else all but one."""
    cores = available_cores()
    return max(1, cores // 2) if torch.device(device).type == "cpu" else max(1, cores - 1)


# --------------------------------------------------------------------------- prediction


class Predictor:
    """A fine-tuned model ready to classify audio files (``model``: a model dir, a run dir or an exported
    best_model)."""

    def __init__(self, model: Path | str, device: str = "auto") -> None:
        self.model_dir = resolve_model_dir(model)
        try:
            self.device = resolve_device(device)
        except (RuntimeError, ValueError) as error:
            raise ModelError(str(error)) from error
        try:
            self.model, self.info = load_classifier(self.model_dir, self.device)
        except Exception as error:  # noqa: BLE001 - torn weights, a wrong head, bad JSON: all mean "unusable model"
            reason = " ".join(f"{type(error).__name__}: {error}".split())
            raise ModelError(f"cannot load the model in {self.model_dir} ({reason}); {_REEXPORT}") from error
        missing = {"window_frames", "eval_hop_frames", "window", "aggregate", "features"} - set(self.info)
        if missing:
            raise ModelError(f"{self.model_dir / RUN_INFO} lacks {sorted(missing)}; {_REEXPORT}")
        try:
            self.settings = FbankSettings(**self.info["features"])
        except TypeError as error:
            raise ModelError(
                f"{self.model_dir / RUN_INFO}: bad feature settings {self.info['features']}: {error}; {_REEXPORT}"
            ) from error
        config = self.model.config
        if (config.num_mel_bins, config.max_length) != (self.settings.num_mel_bins, int(self.info["window_frames"])):
            raise ModelError(
                f"{self.model_dir}: the model takes {config.max_length} frames x {config.num_mel_bins} mel bins but "
                f"{RUN_INFO} says {self.info['window_frames']} x {self.settings.num_mel_bins}; {_REEXPORT}"
            )

    def predict(
        self,
        paths: Sequence[Path | str],
        *,
        top_k: int = 3,
        batch_size: int = 32,
        start: float | str = 0.0,
        duration: float | None = None,
        workers: int | None = None,
        progress: bool | None = None,
    ) -> pd.DataFrame:
        """One row per file, in the order given (columns: :func:`prediction_columns`); failed files have status "error".

        Windows of ``window_frames`` every ``eval_hop_frames`` (or the first only, for models trained on the first
        window) cover the excerpt [start, start+duration) of each file (whole track by default; start may be
        "middle"); up to ``batch_size`` windows, from one file or several, go through the model at once. The file's
        probabilities aggregate its window logits as in evaluation. ``workers`` decoding processes (default:
        :func:`default_workers`; 0 decodes in this process); on CPU the model then uses the remaining cores.
        ``progress``: a progress bar on stderr (None: when stderr is a terminal).
        """
        if not 1 <= top_k <= len(CLASSES):
            raise ValueError(f"top_k must be between 1 and {len(CLASSES)}, got {top_k}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        workers = default_workers(self.device) if workers is None else workers
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        excerpt = Excerpt(self.settings.sample_rate, start, duration)  # checks the arguments before any file is touched
        paths = [Path(p) for p in paths]
        workers = min(workers, len(paths)) if len(paths) > 1 else 0  # one file: no process to start

        seconds = np.full(len(paths), math.nan)
        errors: list[str | None] = [None] * len(paths)
        warnings: list[str] = [""] * len(paths)
        batches = _Batches(self.model, self.device, batch_size)
        bar = tqdm(
            total=len(paths), desc="predict", unit="file", disable=(not progress) if progress is not None else None
        )
        share_cores = self.device.type == "cpu" and workers > 0
        with bar, torch_threads(available_cores() - workers) if share_cores else nullcontext():
            for file, (chunks, reason) in enumerate(_decoded(paths, excerpt, workers)):
                if reason is None:
                    try:
                        level = self._windows_of(chunks, file, batches)
                    except Exception as error:  # noqa: BLE001 - streamed here: reported like a worker's failure
                        log.debug("decoding failed", exc_info=error)
                        reason = _failure(error)
                if reason is not None:
                    errors[file] = reason
                    log.info("%s: %s", printable(str(paths[file])), reason)
                    batches.drop(file)
                else:
                    seconds[file] = level.samples / excerpt.sample_rate
                    warnings[file] = quality_warning(seconds[file], level.rms_dbfs())
                    if warnings[file]:
                        log.warning("%s: %s", printable(str(paths[file])), warnings[file])
                bar.update()
            batches.run(final=True)

        ok = [i for i, e in enumerate(errors) if e is None]
        probs = np.full((len(paths), len(CLASSES)), math.nan)
        logits, window_files = batches.results(ok)
        n_windows = np.bincount(window_files, minlength=len(paths))
        if ok:
            position = {file: k for k, file in enumerate(ok)}
            probs[ok] = aggregate_tracks(logits, [position[f] for f in window_files], len(ok), self.info["aggregate"])
        return prediction_frame(paths, probs, errors, seconds, n_windows, top_k, warnings)

    def _windows_of(self, chunks: Iterable[np.ndarray], file: int, batches: _Batches) -> _Level:
        """Feed the windows of one file's audio pieces to the model as they complete; return the audio's level."""
        windows = _Windows(
            int(self.info["window_frames"]),
            int(self.info["eval_hop_frames"]),
            self.info["window"] == "first",
            self.settings,
        )
        features = LogMelStream(self.settings, self.device)
        level = _Level()
        for chunk in chunks:
            level.add(chunk)
            batches.add(windows.push(features.push(chunk)), file)
        batches.add(windows.push(features.finish()) + windows.finish(), file)
        return level


class _Batches:
    """Windows waiting for the model, run ``batch_size`` at a time whichever files they come from, and the logits."""

    def __init__(self, model: torch.nn.Module, device: torch.device, batch_size: int) -> None:
        self.model, self.device, self.batch_size = model, device, batch_size
        self.queue: deque[tuple[dict[str, torch.Tensor], int]] = deque()  # (window, its file)
        self.logits: list[np.ndarray] = []
        self.files: list[int] = []  # file of each row of the logits

    def add(self, windows: list[dict[str, torch.Tensor]], file: int) -> None:
        self.queue.extend((window, file) for window in windows)
        self.run()

    def run(self, final: bool = False) -> None:
        while len(self.queue) >= self.batch_size or (final and self.queue):
            batch = [self.queue.popleft() for _ in range(min(self.batch_size, len(self.queue)))]
            items = [item for item, _ in batch]
            self.logits.append(predict_windows(self.model, items, len(items), self.device))
            self.files.extend(file for _, file in batch)

    def drop(self, file: int) -> None:
        """Forget the queued windows of a file that failed midway (its logits are left out by results)."""
        left = [entry for entry in self.queue if entry[1] != file]
        self.queue.clear()
        self.queue.extend(left)

    def results(self, files: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(logits, file of each row) of the windows of ``files``, in the order they were run."""
        all_files = np.asarray(self.files, dtype=int)
        kept = np.isin(all_files, files)
        logits = np.concatenate(self.logits) if self.logits else np.zeros((0, len(CLASSES)))
        return logits[kept], all_files[kept]


class _Windows:
    """The evaluation windows of one track whose frames arrive in pieces: the windows, in the order, of
    :class:`astgenre.data.EvaluationWindows` over the whole track, as model inputs; holds about one window of frames.

    A window starting at ``s`` is complete once ``s + length`` frames are in; it exists (``window_starts``) when the
    previous one did not reach the last frame, which is known for sure only at :meth:`finish`.
    """

    def __init__(self, length: int, hop: int, first_only: bool, settings: FbankSettings) -> None:
        self.length, self.hop, self.first_only, self.settings = length, hop, first_only, settings
        self.frames = np.zeros((0, settings.num_mel_bins), np.float16)
        self.offset = 0  # track frame index of self.frames[0]
        self.seen = 0  # frames received so far
        self.next = 0  # start of the next window
        self.done = False

    def push(self, frames: np.ndarray) -> list[dict[str, torch.Tensor]]:
        self.frames = np.concatenate([self.frames, frames])
        self.seen += frames.shape[0]
        items = []
        while not self.done and self.seen >= self.next + self.length:
            items.append(self._take())
        self._forget()
        return items

    def finish(self) -> list[dict[str, torch.Tensor]]:
        items = []
        while not self.done and (self.next == 0 or self.seen > self.next - self.hop + self.length):
            items.append(self._take())
        return items

    def _take(self) -> dict[str, torch.Tensor]:
        x = window(self.frames, self.next - self.offset, self.length, self.settings).astype(np.float32)
        self.done = self.first_only
        self.next += self.hop
        return {"input_values": torch.from_numpy(x), "labels": torch.tensor(-100)}

    def _forget(self) -> None:
        drop = min(self.next, self.seen) - self.offset if not self.done else self.frames.shape[0]
        if drop > 0:
            self.frames = self.frames[drop:].copy()
            self.offset += drop


class _Level:
    """Length and RMS level of the decoded audio, accumulated piece by piece."""

    def __init__(self) -> None:
        self.samples = 0
        self.energy = 0.0

    def add(self, chunk: np.ndarray) -> None:
        self.samples += chunk.size
        self.energy += float(np.dot(chunk.astype(np.float64), chunk.astype(np.float64)))

    def rms_dbfs(self) -> float:
        """RMS level in dB relative to full scale (a full-scale sine is -3 dBFS); -inf for digital silence."""
        if not self.samples or self.energy <= 0:
            return -math.inf
        return 10 * math.log10(self.energy / self.samples)


def quality_warning(seconds: float, rms_dbfs: float) -> str:
    """Why a file's probabilities mean little ("" when they are fine): shorter than SHORT_SECONDS, or quieter than
    SILENCE_DBFS (RMS over the analysed excerpt)."""
    reasons = []
    if seconds < SHORT_SECONDS:
        reasons.append(f"too short: {seconds:.3f} s of audio (< {SHORT_SECONDS:g} s)")
    if rms_dbfs < SILENCE_DBFS:
        reasons.append(f"silent: RMS level {rms_dbfs:.1f} dBFS (< {SILENCE_DBFS:g} dBFS)")
    return "; ".join(reasons) + ("; the genres are a guess" if reasons else "")


def printable(text: str) -> str:
    """``text`` with bytes that are not UTF-8 (file names in Latin-1, kept as surrogates) written as ``\\xNN``."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def prediction_columns(top_k: int) -> list[str]:
    """file, status ("ok"/"error"), error (reason or empty), warning (why the genres of a file that was classified
    mean little: too short or silent; else empty), seconds (decoded), n_windows, genre_1, prob_1, ..., genre_k, prob_k
    (most probable first), then prob_<class> for every class (NaN for files that failed)."""
    top = [column for rank in range(1, top_k + 1) for column in (f"genre_{rank}", f"prob_{rank}")]
    return ["file", "status", "error", "warning", "seconds", "n_windows", *top, *PROB_COLUMNS]


def prediction_frame(
    paths: Sequence[Path],
    probs: np.ndarray,
    errors: Sequence[str | None],
    seconds: np.ndarray,
    n_windows: np.ndarray,
    top_k: int,
    warnings: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The table of :meth:`Predictor.predict` from per-file probabilities (NaN rows for errors).

    File names and reasons are :func:`printable`: any name the filesystem holds can be written and printed.
    """
    warnings = [""] * len(paths) if warnings is None else list(warnings)
    table = pd.DataFrame(
        {
            "file": [printable(str(p)) for p in paths],
            "status": [STATUS_OK if e is None else STATUS_ERROR for e in errors],
            "error": pd.Series([None if e is None else printable(e) for e in errors], dtype="object"),
            "warning": pd.Series([printable(w) for w in warnings], dtype="object"),
            "seconds": seconds,
            "n_windows": n_windows.astype(int),
        }
    )
    order = np.argsort(-np.nan_to_num(probs, nan=-1.0), axis=1, kind="stable")
    for rank in range(top_k):
        cls = order[:, rank]
        table[f"genre_{rank + 1}"] = pd.Series(
            [CLASSES[c] if e is None else None for c, e in zip(cls, errors, strict=False)], dtype="object"
        )
        table[f"prob_{rank + 1}"] = probs[np.arange(len(paths)), cls]
    for i, column in enumerate(PROB_COLUMNS):
        table[column] = probs[:, i]
    return table[prediction_columns(top_k)]


def predict_files(
    paths: Sequence[Path | str],
    model: Path | str,
    *,
    top_k: int = 3,
    batch_size: int = 32,
    device: str = "auto",
    start: float | str = 0.0,
    duration: float | None = None,
    workers: int | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Load the model (model dir, run dir or best_model) and predict the files; see :meth:`Predictor.predict`."""
    return Predictor(model, device).predict(
        paths, top_k=top_k, batch_size=batch_size, start=start, duration=duration, workers=workers, progress=progress
    )


# --------------------------------------------------------------------------- output


def check_output(path: Path) -> None:
    """Raise ValueError, naming the path and the reason, when predictions could not be written to ``path``.

    Run before any work: the folder is created if needed and a probe file is written in it.
    """
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"{path}: output must end in {', '.join(OUTPUT_SUFFIXES)}")
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; give a file name ending in {', '.join(OUTPUT_SUFFIXES)}")
    probe = path.with_name(f".{path.name}.{os.getpid()}.probe")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(probe, "xb"):
            pass
        probe.unlink()
    except OSError as error:
        raise ValueError(
            f"--out {path} cannot be written ({error.strerror or error}); choose a path in a folder you can write to"
        ) from error


def write_predictions(table: pd.DataFrame, path: Path, *, metadata: dict[str, Any] | None = None) -> None:
    """Write the table as CSV, TSV or JSON (by suffix), atomically. JSON: {**metadata, "files": [one object per
    file]}."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ValueError(f"{path}: output must end in {', '.join(OUTPUT_SUFFIXES)}")
    if suffix == ".json":
        document = {**(metadata or {}), "files": prediction_records(table)}
        atomic_write_text(path, json.dumps(document, indent=2, allow_nan=False) + "\n")
    else:
        with atomic_path(path) as temp:
            table.to_csv(temp, sep="," if suffix == ".csv" else "\t", index=False, float_format="%.6g")


def prediction_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """One JSON-ready object per row: file, status, error, warning, seconds, n_windows, top [{genre, probability}]
    and probabilities {class: p} (null for files that failed)."""
    ranks = sorted(int(c.split("_")[1]) for c in table.columns if c.startswith("genre_"))
    records = []
    for row in table.to_dict("records"):
        ok = row["status"] == STATUS_OK
        records.append(
            {
                "file": row["file"],
                "status": row["status"],
                "error": None if ok else row["error"],
                "warning": row.get("warning") or None,
                "seconds": float(row["seconds"]) if ok else None,
                "n_windows": int(row["n_windows"]),
                "top": [{"genre": row[f"genre_{r}"], "probability": float(row[f"prob_{r}"])} for r in ranks]
                if ok
                else [],
                "probabilities": {c: float(row[p]) for c, p in zip(CLASSES, PROB_COLUMNS, strict=False)}
                if ok
                else None,
            }
        )
    return records
