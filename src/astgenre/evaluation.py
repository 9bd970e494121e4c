"""Track-level predictions of a fine-tuned model and their metrics."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from .contracts import PROB_COLUMNS
from .data import EvaluationWindows, aggregate_tracks, collate_windows, load_split
from .dataset import read_index
from .features import FbankSettings
from .labels import CLASSES
from .metrics import track_metrics
from .model import load_classifier


def resolve_device(device: str = "auto") -> torch.device:
    """auto -> cuda when available, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no GPU; use 'cpu' or 'auto'")
    return torch.device(device)


@torch.inference_mode()
def predict_windows(
    model: torch.nn.Module, windows: Dataset, batch_size: int = 32, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Logits of every window, in dataset order."""
    device = torch.device(device)
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    outputs = []
    for batch in DataLoader(windows, batch_size=batch_size, shuffle=False, collate_fn=collate_windows):
        x = batch["input_values"].to(device).float()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            outputs.append(model(input_values=x).logits.float().cpu().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, len(CLASSES)))


def prediction_table(tracks: pd.DataFrame, probs: np.ndarray, n_windows: Sequence[int]) -> pd.DataFrame:
    """Per-track predictions: track_id, split, label, predicted, n_windows and one probability column per class."""
    table = tracks[["track_id", "split", "label"]].copy().reset_index(drop=True)
    table["predicted"] = [CLASSES[i] for i in probs.argmax(axis=1)]
    table["n_windows"] = list(n_windows)
    for i, column in enumerate(PROB_COLUMNS):
        table[column] = probs[:, i]
    return table


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
) -> dict:
    """Predict every track of a split (or, with track_ids, of a protocol's role named ``split``) with a fine-tuned
    model; write predictions (TSV) and metrics (JSON, whose ``split`` is that name).

    ``decode_errors``: the decode stage's decode_errors.tsv, listing the only tracks allowed to lack features.
    """
    torch_device = resolve_device(device)
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
    logits = predict_windows(model, windows, batch_size, torch_device)
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
