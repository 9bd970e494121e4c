"""Throughput of astgenre.features.log_mel vs transformers.ASTFeatureExtractor (windows of 10.24 s per second).

Usage: python benchmarks/bench_features.py [--device cuda] [--repeats 5] [--batch 16]
The extractor always runs on CPU (it has no device option); log_mel runs on --device.
benchmarks/bench_data.py reuses measure() and report() from here.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from astgenre.features import log_mel, window

CLIP_SAMPLES = 163840  # 10.24 s at 16 kHz -> 1022 frames, one 1024-frame AST window


@dataclass(frozen=True)
class FeatureRates:
    """Windows per second of each method, measured in one call of :func:`measure`."""

    device: str
    batch: int
    repeats: int
    ours: float  # log_mel on `device`, result left there
    ours_end_to_end: float  # log_mel on `device`, result copied back to the CPU
    reference: float  # ASTFeatureExtractor, CPU, numpy
    max_diff: float  # max |log_mel - extractor| over 2 clips

    @property
    def speedup(self) -> float:
        return self.ours / self.reference

    @property
    def speedup_end_to_end(self) -> float:
        return self.ours_end_to_end / self.reference


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(run, n_windows: int, repeats: int, device: torch.device) -> float:
    """Windows per second of the median call (robust to other processes sharing the machine for a moment)."""
    run()  # warm-up (caches, CUDA context, kernels)
    _sync(device)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        _sync(device)
        seconds.append(time.perf_counter() - start)
    return n_windows / statistics.median(seconds)


def measure(device: str = "cpu", batch: int = 16, repeats: int = 5) -> FeatureRates:
    """Time log_mel (batched, on `device`) and the extractor (CPU) on the same `batch` clips of 10.24 s noise."""
    from transformers import ASTFeatureExtractor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the extractor's mel bank warns about an all-zero filter
        extractor = ASTFeatureExtractor()
    torch_device = torch.device(device)
    clips = (0.3 * np.random.default_rng(0).standard_normal((batch, CLIP_SAMPLES))).astype(np.float32)

    ours = _rate(lambda: log_mel(clips, device=torch_device), batch, repeats, torch_device)
    ours_end_to_end = _rate(lambda: log_mel(clips, device=torch_device).cpu(), batch, repeats, torch_device)
    reference = _rate(
        lambda: extractor(list(clips), sampling_rate=16000, return_tensors="np"),
        batch,
        max(1, repeats // 2),
        torch.device("cpu"),
    )
    expected = extractor(list(clips[:2]), sampling_rate=16000, return_tensors="np")["input_values"]
    got = log_mel(clips[:2], device=torch_device).cpu().numpy()
    max_diff = max(float(np.abs(window(g, 0, 1024) - e).max()) for g, e in zip(got, expected, strict=False))
    return FeatureRates(str(torch_device), batch, repeats, ours, ours_end_to_end, reference, max_diff)


def report(rates: FeatureRates) -> None:
    """Print the rates and speed-ups of :func:`measure`."""
    device = torch.device(rates.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, log_mel device: {device}")
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}")
    print(f"batch of {rates.batch} x 10.24 s clips, median of {rates.repeats} calls")
    print(f"log_mel ({device}):                {rates.ours:10.1f} windows/s")
    if device.type != "cpu":
        print(f"log_mel ({device}, result to CPU): {rates.ours_end_to_end:10.1f} windows/s")
    print(f"ASTFeatureExtractor (CPU, numpy):  {rates.reference:10.1f} windows/s")
    print(f"speed-up: {rates.speedup:.1f}x")
    if device.type != "cpu":
        print(f"speed-up with the copy back to CPU: {rates.speedup_end_to_end:.1f}x")
    print(f"max |log_mel - extractor| on 2 clips: {rates.max_diff:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="device for log_mel (cpu, cuda, cuda:1, ...)")
    parser.add_argument("--batch", type=int, default=16, help="clips per log_mel call")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions of each method")
    args = parser.parse_args()
    report(measure(args.device, args.batch, args.repeats))


if __name__ == "__main__":
    main()
