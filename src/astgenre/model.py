"""Loading AST checkpoints for fine-tuning, and the small local checkpoint of the demo preset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

from .features import FbankSettings
from .files import share_like_umask
from .labels import CLASSES, ID2LABEL, LABEL2ID

RUN_INFO = "astgenre.json"
"""File saved beside a fine-tuned model: feature settings, window length and hop, aggregation, labels."""


def create_checkpoint(
    out_dir: Path, ast_kwargs: dict[str, Any], settings: FbankSettings = FbankSettings(), seed: int = 0
) -> None:
    """Create a randomly initialised AST of the given shape and save it like a hub checkpoint.

    The demo preset loads it through the same `from_pretrained` path as the real AudioSet checkpoint.
    """
    torch.manual_seed(seed)
    config = ASTConfig(**ast_kwargs)
    model = ASTForAudioClassification(config)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    ASTFeatureExtractor(
        num_mel_bins=config.num_mel_bins, max_length=config.max_length, mean=settings.mean, std=settings.std
    ).save_pretrained(out_dir)
    share_like_umask(out_dir)  # safetensors writes the weights 0600


def load_for_finetuning(checkpoint: str | Path, *, attn_implementation: str = "sdpa") -> ASTForAudioClassification:
    """ASTForAudioClassification from a checkpoint with a fresh 6-class head (the AudioSet head is dropped)."""
    try:
        return ASTForAudioClassification.from_pretrained(
            str(checkpoint),
            num_labels=len(CLASSES),
            label2id=LABEL2ID,
            id2label=ID2LABEL,
            ignore_mismatched_sizes=True,
            attn_implementation=attn_implementation,
        )
    except OSError as error:
        raise OSError(
            f"could not load the AST checkpoint {checkpoint!r}: {error}. Without internet access the model hub "
            "is unreachable: run the demo preset (--config study=demo) or set model.checkpoint to a local directory."
        ) from error


def save_run_info(model_dir: Path, info: dict[str, Any]) -> None:
    """Write the settings a fine-tuned model needs for inference next to its weights."""
    (Path(model_dir) / RUN_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def load_classifier(
    model_dir: Path, device: str | torch.device = "cpu"
) -> tuple[ASTForAudioClassification, dict[str, Any]]:
    """A fine-tuned model and its run info, ready for inference."""
    model_dir = Path(model_dir)
    info_path = model_dir / RUN_INFO
    if not info_path.exists():
        raise FileNotFoundError(f"{info_path} is missing: {model_dir} is not a model written by astgenre's train rule")
    info = json.loads(info_path.read_text())
    model = ASTForAudioClassification.from_pretrained(str(model_dir)).to(device)
    model.eval()
    if list(model.config.id2label.values()) != list(CLASSES):
        raise ValueError(f"{model_dir}: labels {list(model.config.id2label.values())} differ from {list(CLASSES)}")
    return model, info
