"""Where the work runs: the torch device a setting names, the CPU cores this process may use, torch's threads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def resolve_device(device: str = "auto") -> torch.device:
    """auto -> cuda when available, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no GPU; use 'cpu' or 'auto'")
    return torch.device(device)


def bf16_on(device: str | torch.device) -> bool:
    """Whether computing in bf16 is possible on ``device`` (a CUDA device that supports it)."""
    return torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported()


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def torch_threads(limit: int) -> Iterator[None]:
    """Use at most `limit` torch threads inside the block (other work has the other cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(before, limit)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
