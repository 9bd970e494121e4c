"""Speed of the baselines: MFCC features (x real time per core, beside librosa.feature called naively), the SVM's
selection at the full study's size, the probe's embeddings (windows/s), and the baselines' work at the demo's size.

Usage: python benchmarks/bench_baselines.py [--tracks 8] [--repeats 5] [--model demo|base] [--device cpu]
Everything runs with --threads BLAS and torch threads (default 1: per-core figures). Audio is synthetic (chirps,
tones and noise, 16 kHz float32 like the decoded cache); models are created locally with random weights.
Target (issue 16): MFCC features >= 200x real time per core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.signal
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16000
TARGET_X_REAL_TIME = 200.0
BASE_AST = dict(
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    patch_size=16,
    frequency_stride=10,
    time_stride=10,
    max_length=1024,
    num_mel_bins=128,
    num_labels=527,
)
"""MIT/ast-finetuned-audioset-10-10-0.4593's shape."""


def synthetic_audio(n_tracks: int, seconds: float, seed: int = 0) -> list[np.ndarray]:
    """Tracks of a chirp, a few harmonic tones and noise bursts (float32, 16 kHz)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tracks = []
    for _ in range(n_tracks):
        x = 0.2 * scipy.signal.chirp(t, rng.uniform(50, 500), t[-1], rng.uniform(2000, 7000), method="logarithmic")
        for f in rng.uniform(80, 1000, size=3):
            x += 0.1 * np.sin(2 * np.pi * f * t) * (1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 4) * t))
        x += 0.05 * rng.standard_normal(t.size) * (rng.random(t.size // 4000 + 1).repeat(4000)[: t.size] > 0.5)
        tracks.append(x.astype(np.float32))
    return tracks


def naive_librosa(audio: np.ndarray) -> np.ndarray:
    """The same frame features from one librosa.feature call each (each recomputing its STFT), as one would write it."""
    import librosa

    from astgenre.baselines.mfcc import LIBROSA_SETTINGS as s

    coefficients = librosa.feature.mfcc(y=audio, **s["mfcc"])
    frames = np.vstack(
        [
            coefficients,
            librosa.feature.delta(coefficients, order=1, **s["delta"]),
            librosa.feature.delta(coefficients, order=2, **s["delta"]),
            librosa.feature.spectral_centroid(y=audio, **s["spectral_centroid"]),
            librosa.feature.spectral_bandwidth(y=audio, **s["spectral_bandwidth"]),
            librosa.feature.spectral_contrast(y=audio, **s["spectral_contrast"]),
            librosa.feature.spectral_rolloff(y=audio, **s["spectral_rolloff"]),
            librosa.feature.zero_crossing_rate(audio, **s["zero_crossing_rate"]),
            librosa.feature.chroma_stft(y=audio, **s["chroma_stft"]),
        ]
    )
    return np.concatenate([frames.mean(axis=1), frames.std(axis=1)])


def cpu_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median process CPU time of `repeats` calls after a warm-up (caches, numba compilation)."""
    run()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return statistics.median(times)


def bench_mfcc(n_tracks: int, seconds: float, repeats: int) -> float:
    from astgenre.baselines.mfcc import track_features

    tracks = synthetic_audio(n_tracks, seconds)
    audio_seconds = n_tracks * seconds
    ours = cpu_seconds(lambda: [track_features(a) for a in tracks], repeats)
    naive = cpu_seconds(lambda: [naive_librosa(a) for a in tracks], max(1, repeats // 2))
    diff = max(
        float(np.max(np.abs(track_features(a) - naive_librosa(a)) / (np.abs(naive_librosa(a)) + 1e-3)))
        for a in tracks[:2]
    )
    ours_x, naive_x = audio_seconds / ours, audio_seconds / naive
    verdict = "PASS" if ours_x >= TARGET_X_REAL_TIME else "FAIL"
    print(f"MFCC features, {n_tracks} tracks of {seconds:.0f} s, median of {repeats} passes (CPU time):")
    print(f"  astgenre.baselines.mfcc   {ours_x:8.0f}x real time per core  ({1000 * ours / n_tracks:.1f} ms/track)")
    print(f"  naive librosa.feature.*   {naive_x:8.0f}x real time per core  ({1000 * naive / n_tracks:.1f} ms/track)")
    print(f"  ratio {naive / ours:.2f}; target >= {TARGET_X_REAL_TIME:.0f}x: {verdict}")
    print(f"  max relative difference to librosa on float32 audio (librosa computes in float32): {diff:.1e}")
    return ours_x


def bench_svm(n_tracks: int) -> None:
    from astgenre.baselines import svm
    from astgenre.baselines.mfcc import FEATURE_NAMES
    from astgenre.labels import CLASSES, TRAINING_COUNTS

    scale = n_tracks / sum(TRAINING_COUNTS.values())
    counts = {cls: max(2, round(n * scale)) for cls, n in TRAINING_COUNTS.items()}
    centres = np.random.default_rng(1).normal(0, 0.4, (len(CLASSES), len(FEATURE_NAMES)))

    def draw(seed: int) -> tuple[np.ndarray, list[str]]:
        rng = np.random.default_rng(seed)
        x = [centres[k] + rng.standard_normal((counts[c], len(FEATURE_NAMES))) for k, c in enumerate(CLASSES)]
        return np.vstack(x), [c for c in CLASSES for _ in range(counts[c])]

    (x_train, y_train), (x_select, y_select) = draw(2), draw(3)
    start = time.perf_counter()
    fitted = svm.fit_select(x_train, y_train, x_select, y_select)
    wall = time.perf_counter() - start
    print(
        f"\nSVM selection: {len(y_train)} training and {len(y_select)} selection tracks x {len(FEATURE_NAMES)} "
        f"features, {len(svm.GRID)} grid points + calibrated final fit: {wall:.1f} s wall (chose {fitted.chosen})"
    )


def make_model(shape: dict, folder: Path):
    from astgenre.baselines.probe import load_frozen
    from astgenre.model import create_checkpoint

    create_checkpoint(folder, shape)
    return load_frozen(folder)


def bench_probe(model, device: str, batch: int, n_windows: int, repeats: int) -> float:
    import torch
    from torch.utils.data import TensorDataset

    from astgenre.baselines.probe import embed_windows

    class Windows(TensorDataset):
        def __getitem__(self, item):
            return {"input_values": self.tensors[0][item]}

    frames, mels = int(model.config.max_length), int(model.config.num_mel_bins)
    windows = Windows(torch.randn(n_windows, frames, mels))
    if device != "cpu":
        few = Windows(windows.tensors[0][:8])
        on_cpu = embed_windows(model.to("cpu"), few, batch, "cpu")
        on_device = embed_windows(model.to(device), few, batch, device)
        print(f"  max |{device} - cpu| of 8 window embeddings: {np.abs(on_device - on_cpu).max():.2e}")
    model = model.to(device)
    embed_windows(model, Windows(windows.tensors[0][:batch]), batch, device)  # warm-up
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        embed_windows(model, windows, batch, device)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return n_windows / statistics.median(times)


def bench_demo(demo_shape: dict, workdir: Path, threads: int) -> None:
    """The baselines' in-process work on the demo preset's sizes: MFCC tables of every track, probe tables with the
    demo model, both fits and predictions of the official protocol (training / development / evaluation)."""
    import pandas as pd

    from astgenre.baselines import mfcc, probe, runs
    from astgenre.demo import class_counts
    from astgenre.features import log_mel

    preset = yaml.safe_load((REPO / "workflow" / "presets" / "demo.yaml").read_text())
    seconds = float(preset["dataset"]["generate"]["seconds"])
    counts = class_counts(
        float(preset["dataset"]["generate"]["scale"]), int(preset["dataset"]["generate"]["min_per_class"])
    )
    hop = int(preset["training"]["eval_hop_frames"])
    rows = []
    for split in ("training", "development", "evaluation"):
        for label, n in counts.items():
            for _ in range(n):
                rows.append({"track_id": f"{split}-{len(rows):04d}", "split": split, "label": label})
    index = pd.DataFrame(rows)
    audio_dir, feature_dir = workdir / "audio", workdir / "features"
    audio_dir.mkdir()
    feature_dir.mkdir()
    for track_id, audio in zip(index["track_id"], synthetic_audio(len(index), seconds, seed=5), strict=True):
        np.save(audio_dir / f"{track_id}.npy", audio)
        np.save(feature_dir / f"{track_id}.npy", log_mel(audio).numpy().astype(np.float16))
    make_model(demo_shape, workdir / "checkpoint")
    ids = list(index["track_id"])
    timings: dict[str, tuple[float, float]] = {}  # what -> (wall, CPU) seconds
    start, cpu = time.perf_counter(), time.process_time()
    mfcc_tables = [workdir / f"mfcc{k}.tsv" for k in range(2)]
    for k, path in enumerate(mfcc_tables):
        mfcc.featurize_shard(audio_dir, ids[k::2], path)
    timings["mfcc features (2 shards)"] = (time.perf_counter() - start, time.process_time() - cpu)
    start, cpu = time.perf_counter(), time.process_time()
    probe_tables = [workdir / f"probe{k}.tsv" for k in range(2)]
    for k, path in enumerate(probe_tables):
        probe.embed_shard(workdir / "checkpoint", [feature_dir], ids[k::2], path, hop=hop, threads=threads)
    timings["probe embeddings (2 shards)"] = (time.perf_counter() - start, time.process_time() - cpu)
    splits = {s: index[index["split"] == s].reset_index(drop=True) for s in ("training", "development", "evaluation")}
    for name, tables in (("mfcc_svm", mfcc_tables), ("linear_probe", probe_tables)):
        start, cpu = time.perf_counter(), time.process_time()
        fitted = runs.fit_from_tables(name, tables, splits["training"], splits["development"])
        for role in ("development", "evaluation"):
            runs.write_predictions(
                fitted,
                tables,
                splits[role],
                split=role,
                predictions_path=workdir / f"{name}_{role}.tsv",
                metrics_path=workdir / f"{name}_{role}.json",
            )
        timings[f"{name} fit + predictions (1 protocol)"] = (time.perf_counter() - start, time.process_time() - cpu)
    print(
        f"\nDemo sizes ({len(index)} tracks of {seconds:.0f} s, demo model, hop {hop} frames), in process, "
        f"{threads} thread(s):"
    )
    for what, (wall, cpu) in timings.items():
        print(f"  {what:42s} {wall:6.2f} s wall {cpu:6.2f} s CPU")
    wall, cpu = (sum(t[k] for t in timings.values()) for k in (0, 1))
    print(f"  {'total':42s} {wall:6.2f} s wall {cpu:6.2f} s CPU")
    for module in ("astgenre.baselines.mfcc", "astgenre.baselines.probe"):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", f"import {module}"], check=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")}
        )
        print(f"  python -c 'import {module}' (a job's start-up): {time.perf_counter() - start:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=8, help="30 s tracks for the MFCC benchmark")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of those tracks")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    parser.add_argument("--svm-tracks", type=int, default=729, help="training (and selection) tracks")
    parser.add_argument("--model", choices=("demo", "base"), default="demo", help="probe model shape")
    parser.add_argument("--device", default="cpu", help="probe device: cpu or cuda")
    parser.add_argument("--batch", type=int, default=16, help="probe batch size")
    parser.add_argument("--windows", type=int, default=64, help="windows embedded per timed pass")
    parser.add_argument(
        "--sections", default="mfcc,svm,probe,demo", help="comma-separated: mfcc, svm, probe, demo (default all)"
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))

    import tempfile

    import torch
    import transformers
    from threadpoolctl import threadpool_limits

    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; {args.threads} thread(s)")
    preset = yaml.safe_load((REPO / "workflow" / "presets" / "demo.yaml").read_text())
    demo_shape = preset["model"]["create"]
    with threadpool_limits(limits=args.threads), tempfile.TemporaryDirectory() as tmp:
        if "mfcc" in sections:
            bench_mfcc(args.tracks, args.seconds, args.repeats)
        if "svm" in sections:
            bench_svm(args.svm_tracks)
        if "probe" in sections:
            shape = demo_shape if args.model == "demo" else BASE_AST
            print(
                f"\nProbe embeddings ({args.model} shape: hidden {shape['hidden_size']}, {shape['num_hidden_layers']} "
                f"layers, {shape['max_length']} frames), {args.device}, batch {args.batch}, float32:"
            )
            model = make_model(shape, Path(tmp) / "model")
            rate = bench_probe(model, args.device, args.batch, args.windows, max(1, args.repeats // 2))
            print(f"  {rate:.2f} windows/s")
        if "demo" in sections:
            folder = Path(tmp) / "demo"
            folder.mkdir()
            bench_demo(demo_shape, folder, args.threads)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
