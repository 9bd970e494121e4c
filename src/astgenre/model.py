"""Loading AST checkpoints (strictly: every tensor or an error), and the small local checkpoint of the demo preset.

Every load of weights in the project goes through :func:`load_pretrained_strict` (``from_pretrained``, whose name
conversion maps transformers 5's in-memory parameter names onto the legacy names in saved files) or
:func:`load_weights_into` (the Trainer's best-model reload and resume). Both refuse a checkpoint that does not match
the model tensor for tensor; the Trainer's own path (``load_state_dict(strict=False)`` on the raw file) silently
skips every renamed tensor (huggingface/transformers#48805).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification, PreTrainedModel
from transformers.utils import SAFE_WEIGHTS_NAME

from .contracts import PREPROCESSOR_CONFIG, RUN_INFO
from .features import FbankSettings
from .files import share_like_umask
from .labels import CLASSES, ID2LABEL, LABEL2ID

HEAD_KEYS: tuple[str, ...] = ("classifier.dense.weight", "classifier.dense.bias")
"""The classification head: the only tensors whose shape may differ from the pretrained checkpoint (527 -> 6)."""


class CheckpointMismatch(ValueError):
    """A checkpoint's tensors do not all match the model: never loaded in part."""

    def __init__(self, path: Path | str, problems: dict[str, Sequence[str]]) -> None:
        self.path = str(path)
        self.problems = {kind: sorted(keys) for kind, keys in problems.items() if keys}
        details = "; ".join(
            f"{kind} ({len(keys)}): {', '.join(keys[:8])}{', ...' if len(keys) > 8 else ''}"
            for kind, keys in self.problems.items()
        )
        super().__init__(
            f"{path}: the checkpoint's tensors do not match the model ({details}). Nothing was loaded: the file was "
            "written by another model shape or altered; retrain the run (delete its folder) or restore the file."
        )


def weights_file(folder: Path | str) -> Path:
    """The single safetensors file of a saved model folder (sharded or .bin checkpoints are not ours)."""
    path = Path(folder) / SAFE_WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {folder} holds no model weights written by save_pretrained")
    return path


def _digests(tensors: Mapping[str, torch.Tensor]) -> Counter:
    """Multiset of (dtype, shape, sha256 of the bytes) of the tensors: equal whatever the tensors are named."""
    found: Counter = Counter()
    for tensor in tensors.values():
        data = tensor.detach().to("cpu").contiguous()
        raw = data.view(torch.uint8) if data.dim() and data.numel() else data.reshape(-1).view(torch.uint8)
        found[(str(data.dtype), tuple(data.shape), hashlib.sha256(raw.numpy().tobytes()).hexdigest())] += 1
    return found


def check_weights_equal(model: torch.nn.Module, path: Path | str) -> None:
    """Raise CheckpointMismatch unless every tensor of the safetensors file is in the model, byte for byte, and the
    model holds no tensor that the file lacks.

    The comparison is by content, not by name: transformers 5 names AST's parameters differently in memory than in
    the files it writes, and its own conversion is what maps one onto the other.
    """
    on_disk = _digests(load_file(str(path)))
    in_memory = _digests(model.state_dict())
    if on_disk != in_memory:
        only_disk, only_memory = on_disk - in_memory, in_memory - on_disk
        raise CheckpointMismatch(
            path,
            {
                "tensors in the file that the model does not hold": [_describe(key) for key in only_disk],
                "tensors of the model that the file does not hold": [_describe(key) for key in only_memory],
            },
        )


def _describe(key: tuple[str, tuple[int, ...], str]) -> str:
    dtype, shape, digest = key
    return f"{dtype}{list(shape)} sha256:{digest[:12]}"


def load_pretrained_strict(
    model_class: type[PreTrainedModel],
    folder: Path | str,
    *,
    allowed_mismatched: Iterable[str] = (),
    **kwargs: Any,
) -> PreTrainedModel:
    """``model_class.from_pretrained(folder, **kwargs)``, refusing any tensor missing, unexpected or of another shape.

    Loading goes through ``from_pretrained`` so that the library's own name conversion applies.
    ``allowed_mismatched``: keys whose shape may differ (a new classification head); they are then initialised
    afresh, as from_pretrained does with ``ignore_mismatched_sizes``.
    """
    allowed = set(allowed_mismatched)
    model, info = model_class.from_pretrained(str(folder), output_loading_info=True, **kwargs)
    mismatched = sorted(str(item[0] if isinstance(item, tuple) else item) for item in info.get("mismatched_keys", ()))
    problems = {
        "missing from the checkpoint": sorted(map(str, info.get("missing_keys", ()))),
        "unexpected in the checkpoint": sorted(map(str, info.get("unexpected_keys", ()))),
        "of another shape": [key for key in mismatched if key not in allowed],
        "errors": [str(message) for message in info.get("error_msgs", ())],
    }
    if any(problems.values()):
        raise CheckpointMismatch(_weights_path_or_folder(folder), problems)
    return model


def _weights_path_or_folder(folder: Path | str) -> str:
    path = Path(folder) / SAFE_WEIGHTS_NAME
    return str(path if path.is_file() else folder)


def load_weights_into(model: PreTrainedModel, folder: Path | str) -> None:
    """Load the weights saved in folder into model, every tensor, or raise CheckpointMismatch and change nothing.

    Used for the Trainer's best-model reload and resume, whose own path (``load_state_dict(strict=False)`` on the
    raw file) skips every tensor whose saved name differs from its name in memory.
    """
    path = weights_file(folder)
    fresh = load_pretrained_strict(type(model), folder, config=copy.deepcopy(model.config), dtype=_dtype_of(model))
    check_weights_equal(fresh, path)
    model.load_state_dict(fresh.state_dict(), strict=True)


def _dtype_of(model: torch.nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


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
    feature_extractor(settings, config.max_length).save_pretrained(out_dir)
    share_like_umask(out_dir)  # safetensors writes the weights 0600


def load_for_finetuning(checkpoint: str | Path, *, attn_implementation: str = "sdpa") -> ASTForAudioClassification:
    """ASTForAudioClassification from a checkpoint with a fresh 6-class head (the AudioSet head is dropped)."""
    try:
        return load_pretrained_strict(
            ASTForAudioClassification,
            checkpoint,
            allowed_mismatched=HEAD_KEYS,
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
    """Write the settings a fine-tuned model needs for inference next to its weights: astgenre.json for
    ``astgenre predict`` and, from its feature settings and window length, preprocessor_config.json for transformers.
    """
    (Path(model_dir) / RUN_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    feature_extractor(FbankSettings(**info["features"]), int(info["window_frames"])).save_pretrained(model_dir)


def feature_extractor(settings: FbankSettings, max_length: int) -> ASTFeatureExtractor:
    """The transformers feature extractor that computes the features a model was trained on: the study's log-mel
    settings and the model's window of ``max_length`` frames (longer input is cut to it, shorter input padded)."""
    return ASTFeatureExtractor(
        sampling_rate=settings.sample_rate,
        num_mel_bins=settings.num_mel_bins,
        max_length=max_length,
        mean=settings.mean,
        std=settings.std,
    )


def feature_extractor_problems(model_dir: Path | str) -> list[str]:
    """How the folder's preprocessor_config.json differs from the features in its astgenre.json and from the model's
    window (config.json ``max_length``); empty when they agree. A missing file is a problem too."""
    model_dir = Path(model_dir)
    path = model_dir / PREPROCESSOR_CONFIG
    if not path.is_file():
        return [f"{path} is missing: transformers' AutoFeatureExtractor and pipeline cannot load the model"]
    saved = json.loads(path.read_text())
    info = json.loads((model_dir / RUN_INFO).read_text())
    if not isinstance(info.get("features"), dict) or "window_frames" not in info:
        return [f"{model_dir / RUN_INFO} lacks the feature settings or the window length to compare {path} with"]
    settings = FbankSettings(**info["features"])
    expected = feature_extractor(settings, int(info["window_frames"])).to_dict()
    max_length = json.loads((model_dir / "config.json").read_text()).get("max_length")
    problems = [
        f"{path}: {key} is {saved.get(key)!r}, but the model was trained with {expected[key]!r}"
        for key in ("feature_extractor_type", "sampling_rate", "num_mel_bins", "max_length", "mean", "std")
        if saved.get(key) != expected[key]
    ]
    problems += [
        f"{path}: {key} is {saved.get(key)!r}, not {value!r} as the study's features"
        for key, value in (("do_normalize", True), ("padding_value", 0.0))
        if saved.get(key, value) != value
    ]
    if max_length != expected["max_length"]:
        problems.append(
            f"{model_dir / 'config.json'}: max_length {max_length}, not the window {expected['max_length']}"
        )
    return problems


def load_classifier(
    model_dir: Path, device: str | torch.device = "cpu"
) -> tuple[ASTForAudioClassification, dict[str, Any]]:
    """A fine-tuned model and its run info, ready for inference."""
    model_dir = Path(model_dir)
    info_path = model_dir / RUN_INFO
    if not info_path.exists():
        raise FileNotFoundError(f"{info_path} is missing: {model_dir} is not a model written by astgenre's train rule")
    info = json.loads(info_path.read_text())
    model = load_pretrained_strict(ASTForAudioClassification, model_dir)
    check_weights_equal(model, weights_file(model_dir))
    model = model.to(device)
    model.eval()
    if list(model.config.id2label.values()) != list(CLASSES):
        raise ValueError(f"{model_dir}: labels {list(model.config.id2label.values())} differ from {list(CLASSES)}")
    return model, info
