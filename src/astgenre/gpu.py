"""What a run does differently on a GPU to keep it busy: loader worker processes, pinned memory, TF32, the
evaluation batch. Every choice here depends on the device, and on the CPU each one is what it was before the GPU
settings existed, so that a CPU run's results for a seed do not move (docs/performance.md)."""

from __future__ import annotations

import torch

from .runtime import available_cores

AUTO = "auto"


def check_workers(setting: int | str) -> None:
    """Raise ValueError unless ``setting`` is a number of worker processes (>= 0) or ``auto``."""
    if setting != AUTO and (isinstance(setting, bool) or not isinstance(setting, int) or setting < 0):
        raise ValueError(f"dataloader_workers: {setting!r} is neither an integer >= 0 nor {AUTO!r}")


def loader_workers(setting: int | str, threads: int | None, device: torch.device, ranks: int = 1) -> int:
    """DataLoader worker processes of one rank: ``setting`` when it is a number; ``auto``: none on the CPU (the
    model's threads use the cores, and the batches stay those of the main process), and on a GPU the rank's share of
    the job's ``threads`` (all cores when None) less one for the process that drives the GPU, at least one."""
    check_workers(setting)
    if setting != AUTO:
        return int(setting)
    if device.type != "cuda":
        return 0
    per_rank = (threads or available_cores()) // max(1, ranks)
    return max(1, per_rank - 1)


def tf32_supported() -> bool:
    """Whether the GPU has TF32 tensor cores (Ampere, compute capability 8, and later)."""
    return torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8


def allow_tf32() -> None:
    """Let float32 matrix products run in TF32 (what stays in float32 under bf16 autocast, and all of an fp32
    recipe), switched as the Trainer's ``tf32=True`` switches it, so that one process never mixes torch's newer
    ``fp32_precision`` settings with the older ``allow_tf32`` flags. Call it on a GPU that has TF32 only."""
    try:
        from transformers.utils import enable_tf32
    except ImportError:  # a transformers release without it: the flags it would set on torch < 2.9
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return
    enable_tf32(True)


def eval_batch_size(cpu: int, gpu: int, device: torch.device) -> int:
    """The evaluation batch for the device: ``gpu`` on a GPU, ``cpu`` elsewhere."""
    return gpu if device.type == "cuda" else cpu
