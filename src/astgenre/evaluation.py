"""Track-level predictions of a fine-tuned model and their metrics."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from . import gpu
from .data import EvaluationWindows, aggregate_tracks, collate_windows, load_split
from .dataset import read_index
from .features import FbankSettings
from .labels import CLASSES
from .metrics import prediction_table, track_metrics
from .model import load_classifier
from .runtime import bf16_on, resolve_device


@torch.inference_mode()
def predict_windows(
    model: torch.nn.Module,
    windows: Dataset | Sequence[dict[str, torch.Tensor]],
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    workers: int = 0,
) -> np.ndarray:
    """Logits of every window, in dataset order.

    On a GPU the batches come through pinned memory from ``workers`` loader processes and the logits stay there
    until the end, so that loading the next batch overlaps the model's work on this one; on the CPU the windows
    are read in this process, batch after batch, as always.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    use_bf16 = bf16_on(device)
    loader = DataLoader(
        windows,
        batch_size=batch_size,
        shuffle=False,
        collate_fn=collate_windows,
        num_workers=workers,
        pin_memory=cuda,
    )
    outputs = []
    for batch in loader:
        x = batch["input_values"].to(device, non_blocking=cuda).float()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            outputs.append(model(input_values=x).logits.float())
    return torch.cat(outputs).cpu().numpy() if outputs else np.zeros((0, len(CLASSES)))


def evaluate_run(
    *,
    index_path: Path,
    feature_dirs: Iterable[Path],
    model_dir: Path,
    split: str,
    predictions_path: Path,
    metrics_path: Path,
    batch_size: int = 32,
    device: str = "auto",
    decode_errors: Path | None = None,
    track_ids: Sequence[str] | None = None,
    gpu_batch_size: int | None = None,
    workers: int | str = 0,
    threads: int | None = None,
) -> dict:
    """Predict every track of a split (or, with track_ids, of a protocol's role named ``split``) with a fine-tuned
    model; write predictions (TSV) and metrics (JSON, whose ``split`` is that name).

    ``decode_errors``: the decode stage's decode_errors.tsv, listing the only tracks allowed to lack features.
    On a GPU only: batches of ``gpu_batch_size`` windows (default ``batch_size``), ``workers`` loader processes
    (``auto``: from ``threads``, see :func:`astgenre.gpu.loader_workers`) and TF32 where the GPU has it.
    """
    torch_device = resolve_device(device)
    batch_size = gpu.eval_batch_size(batch_size, gpu_batch_size or batch_size, torch_device)
    if torch_device.type == "cuda" and gpu.tf32_supported():
        gpu.allow_tf32()
    n_workers = gpu.loader_workers(workers, threads, torch_device)
    model, info = load_classifier(model_dir, torch_device)
    settings = FbankSettings(**info["features"])
    index = read_index(index_path)
    tracks, arrays = load_split(index, split, list(feature_dirs), decode_errors, track_ids)
    windows = EvaluationWindows(
        list(tracks["track_id"]),
        arrays,
        info["window_frames"],
        info["eval_hop_frames"],
        first_only=info["window"] == "first",
        settings=settings,
    )
    logits = predict_windows(model, windows, batch_size, torch_device, n_workers)
    probs = aggregate_tracks(logits, windows.track_of, windows.n_tracks, info["aggregate"])
    table = prediction_table(tracks, probs, np.bincount(windows.track_of, minlength=windows.n_tracks))
    table.to_csv(predictions_path, sep="\t", index=False, float_format="%.6g")
    metrics = {
        "variant": info["variant"],
        "seed": info["seed"],
        "split": split,
        **track_metrics(list(tracks["label"]), probs),
    }
    Path(metrics_path).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
