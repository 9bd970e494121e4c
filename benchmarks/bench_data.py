"""Data-side throughput: MP3 decoding (astgenre.audio.decode vs librosa.load), log-mel features, cache sizes.

Usage: python benchmarks/bench_data.py [--long-files 4] [--short-files 8] [--repeats 3] [--device cuda]

Every MP3 is generated in a temporary folder with PyAV (44.1 kHz stereo, 128 kb/s CBR, LAME/Xing header, no ID3
tag): --long-files tracks of --long-seconds (default 4 minutes) and --short-files tracks of 30 s. It prints
1. decoding speed in x real time per core (seconds of audio out per second of this process's CPU time; wall-clock
   figures beside them) for (a) 30 s excerpts from the middle of the long tracks, (b) whole 30 s tracks; for
   astgenre.audio.decode and for librosa.load(path, sr=16000, mono=True, offset=..., duration=...) on the same
   files and excerpts, with the ratio, and PASS/FAIL against the target of 500x real time per core on (a);
2. features: windows/s of astgenre.features.log_mel (batched, on --device) vs transformers.ASTFeatureExtractor,
   with one torch thread (per core, as the workflow's features rule runs) and with all cores, PASS/FAIL against
   the 5x target (per core, on the CPU);
3. the disk size of the full study's caches (float32 decoded audio, float16 features), from files written here.
CPU time is used for per-core figures because other processes may share the machine; wall-clock figures are
printed for reference and suffer when they do.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parent
DECODE_TARGET = 500.0  # x real time per core, 30 s excerpts from the middle of 4-minute MP3s
FEATURE_TARGET = 5.0  # log_mel / ASTFeatureExtractor, per core on the CPU
EXCERPT_S = 30.0
SAMPLE_RATE = 16000


# --------------------------------------------------------------------------- generated MP3s


def write_mp3(path: Path, seconds: float, seed: int, *, rate: int = 44100) -> Path:
    """Write a stereo 128 kb/s CBR MP3 (no ID3 tag) of detuned tones over noise, different for each seed."""
    import av

    rng = np.random.default_rng(seed)
    t = np.arange(round(rate * seconds)) / rate
    mono = sum(0.15 * np.sin(2 * np.pi * f * t) for f in rng.uniform(80, 2000, size=4))
    signal = np.clip(np.stack([mono, mono]) + 0.05 * rng.standard_normal((2, t.size)), -1, 1).astype(np.float32)
    with av.open(str(path), "w", format="mp3", options={"id3v2_version": "0"}) as container:
        stream = container.add_stream("libmp3lame", rate=rate, layout="stereo", options={"compression_level": "9"})
        stream.codec_context.bit_rate = 128000
        frame = av.AudioFrame.from_ndarray(signal, format="fltp", layout="stereo")
        frame.sample_rate = rate
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _write_mp3_job(job: tuple[Path, float, int]) -> Path:
    return write_mp3(*job)


def make_mp3s(folder: Path, prefix: str, count: int, seconds: float, first_seed: int, workers: int) -> list[Path]:
    """`count` MP3s of `seconds` each, encoded on `workers` processes."""
    jobs = [(folder / f"{prefix}{i:03d}.mp3", seconds, first_seed + i) for i in range(count)]
    with ProcessPoolExecutor(max_workers=max(1, min(workers, count))) as pool:
        return list(pool.map(_write_mp3_job, jobs))


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class DecodeRate:
    """Audio produced and time spent over all files and repeats of one decoding method."""

    audio_s: float
    cpu_s: float
    wall_s: float

    @property
    def per_core(self) -> float:
        return self.audio_s / self.cpu_s

    @property
    def wall(self) -> float:
        return self.audio_s / self.wall_s


def time_decoding(load: Callable[[Path], np.ndarray], files: list[Path], repeats: int) -> DecodeRate:
    """Decode every file `repeats` times (after one untimed pass); x real time from the 16 kHz samples returned."""
    for path in files:
        load(path)
    samples = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        for path in files:
            samples += load(path).size
    return DecodeRate(samples / SAMPLE_RATE, time.process_time() - cpu, time.perf_counter() - wall)


def ours(duration: float | None) -> Callable[[Path], np.ndarray]:
    """astgenre.audio.decode: the middle `duration` seconds (None: the whole track)."""
    from astgenre.audio import decode

    return lambda path: decode(path, sample_rate=SAMPLE_RATE, start="middle", duration=duration)


def librosa_middle(duration: float | None) -> Callable[[Path], np.ndarray]:
    """librosa.load of the same excerpt: the offset comes from the file's duration (read inside the timing)."""
    import librosa
    import soundfile

    def load(path: Path) -> np.ndarray:
        if duration is None:
            return librosa.load(path, sr=SAMPLE_RATE, mono=True)[0]
        offset = max(0.0, (soundfile.info(path).duration - duration) / 2)
        return librosa.load(path, sr=SAMPLE_RATE, mono=True, offset=offset, duration=duration)[0]

    return load


def agreement(a: np.ndarray, b: np.ndarray, max_lag: int = 64) -> str:
    """Lengths, best lag (samples, within max_lag) and correlation at that lag of two decodes of the same excerpt."""
    n = min(a.size, b.size) - 2 * max_lag
    if n < 16000:
        return f"{a.size} vs {b.size} samples (too short to compare)"
    x = a[max_lag : max_lag + n]
    corr = {
        lag: float(np.corrcoef(x, b[max_lag + lag : max_lag + lag + n])[0, 1]) for lag in range(-max_lag, max_lag + 1)
    }
    lag = max(corr, key=corr.get)
    return f"{a.size} vs {b.size} samples, best offset {lag:+d} samples, correlation {corr[lag]:.4f}"


# --------------------------------------------------------------------------- features and caches


def feature_rates(device: str, batch: int, repeats: int, threads: list[int]) -> list[tuple[int, object]]:
    """bench_features.measure with each thread count for torch and BLAS (log_mel on `device`; the extractor: CPU)."""
    import torch
    from threadpoolctl import threadpool_limits

    sys.path.insert(0, str(BENCHMARKS))
    from bench_features import measure

    results = []
    for n in threads:
        torch.set_num_threads(n)
        with threadpool_limits(limits=n):  # numpy's BLAS too: the extractor gets the same cores
            results.append((n, measure(device, batch, repeats)))
    return results


def cache_sizes(folder: Path, long_file: Path, n_tracks: int) -> dict[str, int]:
    """Bytes per track and in all of the decoded-audio (float32) and feature (float16) caches, from written files."""
    from astgenre.audio import decode_tracks
    from astgenre.features import featurize_tracks, n_frames

    errors = decode_tracks(
        [("t", long_file)],
        folder / "audio",
        sample_rate=SAMPLE_RATE,
        start="middle",
        duration=EXCERPT_S,
        on_error="fail",
    )
    assert errors.empty
    featurize_tracks(folder / "audio", ["t"], folder / "features")
    audio_file, feature_file = folder / "audio" / "t.npy", folder / "features" / "t.npy"
    frames = n_frames(round(EXCERPT_S * SAMPLE_RATE))
    shape = np.load(feature_file, mmap_mode="r").shape
    if shape != (frames, 128):
        raise RuntimeError(f"{feature_file}: expected ({frames}, 128) features, got {shape}")
    audio_bytes, feature_bytes = audio_file.stat().st_size, feature_file.stat().st_size
    return {
        "frames": frames,
        "audio_per_track": audio_bytes,
        "features_per_track": feature_bytes,
        "audio_total": audio_bytes * n_tracks,
        "features_total": feature_bytes * n_tracks,
    }


def _size(n: int) -> str:
    return f"{n:,} B = {n / 1e9:.3f} GB ({n / 2**30:.3f} GiB)"


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-files", type=int, default=4, help="MP3s of --long-seconds for the excerpt benchmark")
    parser.add_argument("--long-seconds", type=float, default=240.0, help="length of the long MP3s")
    parser.add_argument("--short-files", type=int, default=8, help="30 s MP3s for the whole-track benchmark")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the files per decoding method")
    parser.add_argument(
        "--device", default="cpu", help="device for log_mel (cpu, cuda, ...); the extractor runs on CPU"
    )
    parser.add_argument("--batch", type=int, default=16, help="10.24 s clips per log_mel call")
    parser.add_argument("--feature-repeats", type=int, default=5, help="timed log_mel calls per thread count")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=None,
        help="torch thread counts for the feature benchmark (default: 1 and every core)",
    )
    parser.add_argument("--skip-features", action="store_true", help="decoding and cache sizes only")
    args = parser.parse_args()

    import warnings

    import av
    import librosa
    import soundfile
    import torch

    from astgenre.labels import SPLITS, TRAINING_COUNTS

    if args.device.startswith("cuda") and not args.skip_features and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: torch sees no GPU")
    warnings.filterwarnings("ignore", module="librosa")
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        long_files = make_mp3s(tmp, "long", args.long_files, args.long_seconds, 0, cores)
        short_files = make_mp3s(tmp, "short", args.short_files, EXCERPT_S, 1000, cores)
        print(
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; PyAV {av.__version__} "
            f"(FFmpeg {av.library_versions['libavcodec']}), librosa {librosa.__version__} "
            f"(libsndfile {soundfile.__libsndfile_version__}), torch {torch.__version__}"
        )
        print(
            f"generated {len(long_files)} x {args.long_seconds:g} s and {len(short_files)} x {EXCERPT_S:g} s "
            f"MP3s (44.1 kHz stereo 128 kb/s) in {time.perf_counter() - started:.1f} s; {args.repeats} timed passes"
        )

        print("\n== decoding to 16 kHz mono float32 (x real time: audio seconds per CPU second of one process)")
        cases = [
            (f"(a) middle {EXCERPT_S:g} s of {args.long_seconds:g} s tracks", long_files, EXCERPT_S),
            (f"(b) whole {EXCERPT_S:g} s tracks", short_files, None),
        ]
        excerpt_rate = None
        for title, files, duration in cases:
            a = time_decoding(ours(duration), files, args.repeats)
            b = time_decoding(librosa_middle(duration), files, args.repeats)
            check = agreement(ours(duration)(files[0]), librosa_middle(duration)(files[0]))
            print(f"{title}: {a.audio_s / args.repeats:.0f} s of audio per pass")
            print(f"  astgenre.audio.decode: {a.per_core:8.1f}x per core  ({a.wall:8.1f}x wall clock)")
            print(f"  librosa.load:          {b.per_core:8.1f}x per core  ({b.wall:8.1f}x wall clock)")
            print(
                f"  ratio: {a.per_core / b.per_core:.1f}x per core ({a.wall / b.wall:.1f}x wall clock); "
                f"same excerpt? {check}"
            )
            excerpt_rate = excerpt_rate or a.per_core
        verdict = "PASS" if excerpt_rate >= DECODE_TARGET else "FAIL"
        print(f"target >= {DECODE_TARGET:g}x real time per core on (a): {verdict} ({excerpt_rate:.0f}x)")

        if not args.skip_features:
            threads = args.threads or sorted({1, cores})
            print(
                f"\n== features: 10.24 s windows per second, batch {args.batch}, log_mel on {args.device}, "
                f"ASTFeatureExtractor on CPU (median of {args.feature_repeats} calls)"
            )
            per_core = None
            for n, rates in feature_rates(args.device, args.batch, args.feature_repeats, threads):
                line = (
                    f"  {n} torch thread(s): log_mel {rates.ours:8.1f}/s, extractor {rates.reference:7.1f}/s, "
                    f"ratio {rates.speedup:5.1f}x"
                )
                if rates.device != "cpu":
                    line += (
                        f"; with the copy back to CPU {rates.ours_end_to_end:8.1f}/s ({rates.speedup_end_to_end:.1f}x)"
                    )
                print(line + f"; max |difference| {rates.max_diff:.1e}")
                if n == 1:
                    per_core = rates.speedup
            if args.device == "cpu" and per_core is not None:
                verdict = "PASS" if per_core >= FEATURE_TARGET else "FAIL"
                print(f"target >= {FEATURE_TARGET:g}x the extractor per core on the CPU: {verdict} ({per_core:.1f}x)")

        n_tracks = len(SPLITS) * sum(TRAINING_COUNTS.values())
        sizes = cache_sizes(tmp, long_files[0], n_tracks)
        print(f"\n== caches of the full study: {n_tracks} tracks x {EXCERPT_S:g} s excerpt at {SAMPLE_RATE} Hz")
        print(
            f"  features: {sizes['frames']} frames x 128 mel x float16 = {sizes['frames'] * 128 * 2:,} B "
            f"+ .npy header -> {sizes['features_per_track']:,} B per track; total {_size(sizes['features_total'])}"
        )
        print(
            f"  decoded audio: {round(EXCERPT_S * SAMPLE_RATE):,} samples x float32 -> "
            f"{sizes['audio_per_track']:,} B per track; total {_size(sizes['audio_total'])}"
        )
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
