"""The linear probe: embeddings of the frozen pretrained AST, averaged per track, and a logistic regression on them.

- Embedding of a window: the pooled output that ``ASTForAudioClassification.forward`` hands to its classifier
  (``outputs.pooler_output``: the mean of the [CLS] and distillation tokens after the encoder's final layer norm),
  computed with the pretrained checkpoint loaded strictly (every tensor, including its AudioSet head, which is not
  used), in eval and inference mode, float32, batched.
- Windows: those the study evaluates (``astgenre.data.EvaluationWindows``): the model's ``max_length`` frames, hop
  and first-window-only from the recipe. A track's embedding is the mean of its windows'.
- Classifier: ``StandardScaler`` then multinomial ``LogisticRegression`` (lbfgs, L2), its C chosen on the selection
  tracks from :data:`C_GRID` (ascending: a tie goes to the stronger regularisation) by the study's selection metric,
  fitted on the training tracks only; probabilities are the model's own softmax.
- Determinism: inference and lbfgs involve no randomness; results are repeatable on one machine and thread count
  (float sums may round differently across BLAS builds or devices).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from transformers import ASTForAudioClassification

from astgenre.data import EvaluationWindows, collate_windows, find_features
from astgenre.features import FbankSettings
from astgenre.model import load_pretrained_strict

from .logistic import BASELINE, C_GRID, GRID, MAX_ITER, candidate, fit_select, predict_grid
from .tables import write_feature_table

__all__ = [
    "BASELINE",
    "C_GRID",
    "GRID",
    "MAX_ITER",
    "candidate",
    "embed_shard",
    "embed_windows",
    "fit_select",
    "load_frozen",
    "predict_grid",
    "track_embeddings",
]


def load_frozen(checkpoint: str | Path, device: str | torch.device = "cpu") -> ASTForAudioClassification:
    """The pretrained AST, every tensor loaded strictly, in eval mode, with gradients off."""
    model = load_pretrained_strict(ASTForAudioClassification, checkpoint)
    model.requires_grad_(False)
    return model.to(device).eval()


@torch.inference_mode()
def embed_windows(
    model: ASTForAudioClassification, windows: Dataset, batch_size: int = 32, device: str | torch.device = "cpu"
) -> np.ndarray:
    """(windows, hidden_size) float32 pooled outputs (the classifier's input), in dataset order."""
    device = torch.device(device)
    encoder = model.audio_spectrogram_transformer
    outputs = [
        encoder(input_values=batch["input_values"].to(device).float()).pooler_output.float().cpu().numpy()
        for batch in DataLoader(windows, batch_size=batch_size, shuffle=False, collate_fn=collate_windows)
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, model.config.hidden_size), dtype=np.float32)


def track_embeddings(
    model: ASTForAudioClassification,
    track_ids: Sequence[str],
    arrays: dict[str, np.ndarray],
    *,
    hop: int,
    first_only: bool = False,
    settings: FbankSettings = FbankSettings(),
    batch_size: int = 32,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """(tracks, hidden_size) float64 mean window embedding of each track, and its number of windows.

    ``arrays`` maps track id -> (frames, mel) normalised features (``astgenre.features``); windows are the model's
    ``max_length`` frames every ``hop`` frames (only the first when ``first_only``), as the study evaluates.
    """
    windows = EvaluationWindows(
        list(track_ids), arrays, int(model.config.max_length), hop, first_only=first_only, settings=settings
    )
    embeddings = embed_windows(model, windows, batch_size, device).astype(np.float64)
    track_of = np.asarray(windows.track_of, dtype=int)
    counts = np.bincount(track_of, minlength=len(track_ids))
    sums = np.zeros((len(track_ids), embeddings.shape[1]))
    np.add.at(sums, track_of, embeddings)
    return sums / counts[:, None], counts


def embedding_names(hidden_size: int) -> tuple[str, ...]:
    """Column names of the embedding: emb000, emb001, ..."""
    width = max(3, len(str(hidden_size - 1)))
    return tuple(f"emb{k:0{width}d}" for k in range(hidden_size))


def embed_shard(
    checkpoint: str | Path,
    feature_dirs: Iterable[Path],
    track_ids: Iterable[str],
    out_path: Path,
    *,
    hop: int,
    first_only: bool = False,
    settings: FbankSettings = FbankSettings(),
    batch_size: int = 32,
    device: str = "cpu",
    threads: int | None = None,
) -> list[str]:
    """Embed the given tracks' AST features (``<feature_dir>/<id>.npy``) with the frozen checkpoint and write one
    feature table (track_id, n_windows, embedding); return the ids written, in input order.

    Ids without features are skipped (decode errors upstream). The table is written whole or not at all.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    files = find_features(feature_dirs)
    present = [i for i in dict.fromkeys(track_ids) if i in files]
    arrays = {i: np.load(files[i], mmap_mode="r") for i in present}
    model = load_frozen(checkpoint, device)
    if present:
        values, counts = track_embeddings(
            model,
            present,
            arrays,
            hop=hop,
            first_only=first_only,
            settings=settings,
            batch_size=batch_size,
            device=device,
        )
    else:
        values, counts = np.zeros((0, model.config.hidden_size)), np.zeros(0, dtype=int)
    write_feature_table(out_path, present, values, embedding_names(model.config.hidden_size), n_windows=counts)
    return present
