"""The training recipe of one variant, typed and checked once: config ``training`` with the variant's overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from .contracts import SELECT_METRICS
from .gpu import check_workers
from .weighting import WEIGHTINGS

SCHEDULERS = ("cosine", "linear", "constant_with_warmup")
WINDOWS = ("random", "first")
AGGREGATES = ("logits", "probs")
PRECISIONS = ("auto", "bf16", "fp32")
REPORT_TO = ("none", "tensorboard")


@dataclass(frozen=True)
class SpecAugment:
    """Frequency and time masking of training windows: n_masks bands of up to freq_mask bins and time_mask frames."""

    freq_mask: int
    time_mask: int
    n_masks: int


@dataclass(frozen=True)
class Recipe:
    """How one run trains (see config.yaml's ``training`` section for each field's meaning and default)."""

    weighting: str
    epochs: int
    batch_size: int
    eval_batch_size: int
    eval_batch_size_gpu: int
    grad_accum: int
    learning_rate: float
    weight_decay: float
    warmup_ratio: float
    scheduler: str
    layer_decay: float | None
    window: str
    windows_per_track: int
    eval_hop_frames: int
    aggregate: str
    specaugment: SpecAugment | None
    mixup: float
    select_metric: str
    early_stopping_patience: int | None
    effective_number_beta: float
    precision: str
    gradient_checkpointing: bool
    dataloader_workers: int | str
    threads: int
    report_to: str = "none"

    def __post_init__(self) -> None:
        choices = {
            "weighting": WEIGHTINGS,
            "scheduler": SCHEDULERS,
            "window": WINDOWS,
            "aggregate": AGGREGATES,
            "select_metric": SELECT_METRICS,
            "precision": PRECISIONS,
            "report_to": REPORT_TO,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"recipe {name}: {getattr(self, name)!r} is not one of {', '.join(allowed)}")
        positive = ("epochs", "batch_size", "eval_batch_size", "eval_batch_size_gpu", "grad_accum")
        for name in (*positive, "windows_per_track", "eval_hop_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"recipe {name}: {value!r} is not a positive integer")
        try:
            check_workers(self.dataloader_workers)
        except ValueError as err:
            raise ValueError(f"recipe {err}") from None
        if not self.learning_rate > 0:
            raise ValueError(f"recipe learning_rate: {self.learning_rate!r} is not positive")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Recipe:
        """The recipe from a mapping of exactly its fields (config.variant_training's output); a missing or unknown
        key is a ValueError naming it."""
        names = {field.name for field in fields(cls)}
        unknown, missing = sorted(set(values) - names), sorted(names - set(values))
        if unknown or missing:
            raise ValueError(f"recipe keys: unknown {unknown}, missing {missing}; expected {sorted(names)}")
        augment = values["specaugment"]
        if isinstance(augment, Mapping):
            augment = SpecAugment(**augment)
        return cls(**{**values, "specaugment": augment})

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON, Snakemake params), the inverse of from_mapping."""
        return asdict(self)

    @property
    def first_window_only(self) -> bool:
        """Training and evaluation use each track's first window only (the reference protocol)."""
        return self.window == "first"

    @property
    def effective_batch(self) -> int:
        """Windows per optimizer step on one device."""
        return self.batch_size * self.grad_accum
