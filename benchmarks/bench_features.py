"""Throughput of astgenre.features.log_mel vs transformers.ASTFeatureExtractor (windows of 10.24 s per second).

Usage: python benchmarks/bench_features.py [--device cuda] [--repeats 5] [--batch 16]
The extractor always runs on CPU (it has no device option); log_mel runs on --device.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from astgenre.features import log_mel, window

CLIP_SAMPLES = 163840  # 10.24 s at 16 kHz -> 1022 frames, one 1024-frame AST window


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(run, n_windows: int, repeats: int, device: torch.device) -> float:
    run()  # warm-up (caches, CUDA context, kernels)
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    _sync(device)
    return n_windows * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="device for log_mel (cpu, cuda, cuda:1, ...)")
    parser.add_argument("--batch", type=int, default=16, help="clips per log_mel call")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions of each method")
    args = parser.parse_args()

    from transformers import ASTFeatureExtractor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the extractor's mel bank warns about an all-zero filter
        extractor = ASTFeatureExtractor()
    device = torch.device(args.device)
    clips = (0.3 * np.random.default_rng(0).standard_normal((args.batch, CLIP_SAMPLES))).astype(np.float32)

    ours = _rate(lambda: log_mel(clips, device=device), args.batch, args.repeats, device)
    ours_end_to_end = _rate(lambda: log_mel(clips, device=device).cpu(), args.batch, args.repeats, device)
    reference = _rate(
        lambda: extractor(list(clips), sampling_rate=16000, return_tensors="np"),
        args.batch,
        max(1, args.repeats // 2),
        torch.device("cpu"),
    )
    expected = extractor(list(clips[:2]), sampling_rate=16000, return_tensors="np")["input_values"]
    got = log_mel(clips[:2], device=device).cpu().numpy()
    max_diff = max(np.abs(window(g, 0, 1024) - e).max() for g, e in zip(got, expected))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, log_mel device: {device}")
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}")
    print(f"batch of {args.batch} x 10.24 s clips, {args.repeats} repeats")
    print(f"log_mel ({device}):                {ours:10.1f} windows/s")
    if device.type != "cpu":
        print(f"log_mel ({device}, result to CPU): {ours_end_to_end:10.1f} windows/s")
    print(f"ASTFeatureExtractor (CPU, numpy):  {reference:10.1f} windows/s")
    print(f"speed-up: {ours / reference:.1f}x")
    if device.type != "cpu":
        print(f"speed-up with the copy back to CPU: {ours_end_to_end / reference:.1f}x")
    print(f"max |log_mel - extractor| on 2 clips: {max_diff:.2e}")


if __name__ == "__main__":
    main()
