"""Throughput of `astgenre predict` (files/s, windows/s) on generated MP3s with the demo preset's small model.

Usage: python benchmarks/bench_predict.py [--files 24] [--seconds 30] [--workers 0 2] [--device cpu] [--model DIR]
Each --workers value is timed on the same files and model (0: decoding in the main process). CPU use is the
process's and its workers' CPU time over the wall time: 2.0 means two cores kept busy. Without --model, a randomly
initialised AST of the demo preset's shape (workflow/presets/demo.yaml: model.create) is used.
Heavy imports stay inside main(): the decoding workers are spawned and re-import this script.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def write_mp3(path: Path, seconds: float, seed: int, rate: int = 44100) -> None:
    """Stereo 128 kb/s MP3: a few detuned tones over noise, different for each seed."""
    import av

    rng = np.random.default_rng(seed)
    t = np.arange(round(rate * seconds)) / rate
    mono = sum(0.15 * np.sin(2 * np.pi * f * t) for f in rng.uniform(80, 2000, size=4))
    signal = np.stack([mono, mono]) + 0.05 * rng.standard_normal((2, t.size))
    signal = np.clip(signal, -1, 1).astype(np.float32)
    with av.open(str(path), "w", format="mp3") as container:
        stream = container.add_stream(
            "libmp3lame" if "libmp3lame" in av.codecs_available else "mp3", rate=rate, layout="stereo"
        )
        stream.codec_context.bit_rate = 128000
        stream.codec_context.format = "fltp"
        step = stream.codec_context.frame_size or 1152
        for begin in range(0, t.size, step):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(signal[:, begin : begin + step]), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = rate, begin
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def demo_model(out: Path) -> Path:
    """A model dir shaped like the demo preset's (random weights: the speed, not the accuracy, is measured)."""
    from dataclasses import asdict

    import yaml

    from astgenre.features import FbankSettings
    from astgenre.labels import CLASSES
    from astgenre.model import create_checkpoint, load_for_finetuning, save_run_info

    preset = yaml.safe_load((REPO / "workflow/presets/demo.yaml").read_text())
    create_checkpoint(out / "checkpoint", preset["model"]["create"])
    load_for_finetuning(out / "checkpoint").save_pretrained(out / "model")
    save_run_info(
        out / "model",
        {
            "variant": "benchmark",
            "seed": 0,
            "checkpoint": str(out / "checkpoint"),
            "window_frames": preset["model"]["create"]["max_length"],
            "eval_hop_frames": preset["training"]["eval_hop_frames"],
            "window": "random",
            "aggregate": "logits",
            "features": asdict(FbankSettings()),
            "labels": list(CLASSES),
            "select_metric": "macro_f1",
            "best_dev_metric": None,
        },
    )
    return out / "model"


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=24, help="MP3 files to generate")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each file")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=None,
        help="decoding processes to compare (default: 0 and one per core)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="windows per model call")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--model", type=Path, default=None, help="a model or run dir instead of the demo-shaped model")
    args = parser.parse_args()

    import torch
    import transformers

    from astgenre.predict import Predictor, default_workers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    workers = args.workers if args.workers is not None else sorted({0, default_workers()})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = []
        for i in range(args.files):
            files.append(tmp / f"track{i:03d}.mp3")
            write_mp3(files[-1], args.seconds, seed=i)
        predictor = Predictor(args.model or demo_model(tmp), args.device)
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, "
            f"device {predictor.device}; model {predictor.model_dir.name}: window {predictor.info['window_frames']} "
            f"frames, hop {predictor.info['eval_hop_frames']}; {args.files} MP3s of {args.seconds:g} s, "
            f"batch {args.batch_size}"
        )
        predictor.predict(files[:2], batch_size=args.batch_size, workers=0)  # warm-up
        for n in workers:
            cpu, start = cpu_seconds(), time.perf_counter()
            table = predictor.predict(files, batch_size=args.batch_size, workers=n, progress=False)
            wall = time.perf_counter() - start
            cpu = cpu_seconds() - cpu
            assert (table["status"] == "ok").all(), table[table["status"] != "ok"]
            print(
                f"workers {n}: {len(files) / wall:7.2f} files/s  {table['n_windows'].sum() / wall:8.1f} windows/s  "
                f"{table['seconds'].sum() / wall:7.1f} audio s/s  CPU use {cpu / wall:.2f} cores  ({wall:.1f} s)"
            )


if __name__ == "__main__":
    main()
