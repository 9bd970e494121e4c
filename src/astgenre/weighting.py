"""Class weighting for imbalanced training data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

WEIGHTINGS = ("none", "inverse_frequency", "effective_number", "balanced_sampler")


def class_weights(counts: Sequence[int], weighting: str, beta: float = 0.999) -> np.ndarray | None:
    """Per-class loss weights, normalised to mean 1; None for unweighted loss.

    inverse_frequency: w_c proportional to 1 / n_c. effective_number (Cui et al., CVPR 2019):
    w_c proportional to (1 - beta) / (1 - beta ** n_c). balanced_sampler balances by sampling, not by loss.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    if weighting in ("none", "balanced_sampler"):
        return None
    n = np.asarray(counts, dtype=np.float64)
    if (n <= 0).any():
        raise ValueError(
            f"every class needs at least one training track for {weighting} weighting, got counts {list(counts)}"
        )
    if weighting == "inverse_frequency":
        w = 1.0 / n
    else:
        w = (1.0 - beta) / (1.0 - np.power(beta, n))
    return w / w.mean()


def sample_weights(labels: Sequence[int], n_classes: int) -> np.ndarray:
    """Per-sample weights of a class-balanced sampler: each class drawn equally often."""
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return 1.0 / counts[labels]


def weighted_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy with optional class weights; labels are class ids or soft targets (mixup)."""
    logits = logits.float()
    if labels.dim() == 1:
        return F.cross_entropy(logits, labels, weight=weights)
    log_probs = F.log_softmax(logits, dim=-1)
    per_class = -labels * log_probs
    if weights is None:
        return per_class.sum(-1).mean()
    per_class = per_class * weights
    return per_class.sum(-1).sum() / (labels * weights).sum()
