"""Track-level classification metrics: one run, one split.

Predictions are the arg-max of the class probabilities, whose columns follow
:data:`astgenre.labels.CLASSES`. Everything returned is plain Python (floats, ints,
lists, ``None``) so it can be written to JSON as is.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from astgenre.contracts import PROB_COLUMNS
from astgenre.labels import CLASSES


def check_predictions(labels: Sequence[str], probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(labels, probs)`` as arrays after checking their shapes and vocabulary.

    Raises ValueError when probs is not ``(n_tracks, len(CLASSES))``, when the track counts
    disagree, when there are no tracks, when a label is not in CLASSES or a probability is not finite.
    """
    probs = np.asarray(probs, dtype=float)
    labels = np.asarray(labels, dtype=object)
    if probs.ndim != 2 or probs.shape[1] != len(CLASSES):
        raise ValueError(
            f"probs must have shape (n_tracks, {len(CLASSES)}) with columns in CLASSES order "
            f"{CLASSES}; got shape {probs.shape}"
        )
    if labels.ndim != 1 or labels.shape[0] != probs.shape[0]:
        raise ValueError(f"labels ({labels.shape[0]} entries) and probs ({probs.shape[0]} rows) must match one to one")
    if probs.shape[0] == 0:
        raise ValueError("no tracks: labels and probs are empty")
    unknown = sorted({str(label) for label in labels} - set(CLASSES))
    if unknown:
        raise ValueError(f"unknown labels {unknown}; expected one of {CLASSES}")
    if not np.all(np.isfinite(probs)):
        raise ValueError("probs contains NaN or infinite values")
    return labels.astype(str), probs


def predicted_labels(probs: np.ndarray) -> np.ndarray:
    """The class name with the highest probability for each row of ``probs`` (CLASSES order)."""
    return np.asarray(CLASSES)[np.argmax(np.asarray(probs, dtype=float), axis=1)]


def _one_vs_rest_auc(is_class: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC of one class against the rest; None when the class is absent or is every track."""
    if is_class.all() or not is_class.any():
        return None
    return float(roc_auc_score(is_class, scores))


def track_metrics(labels: Sequence[str], probs: np.ndarray) -> dict:
    """Metrics of track-level predictions.

    Returns accuracy, balanced_accuracy (mean recall over the classes present in ``labels``),
    macro_f1 and weighted_f1 (over all CLASSES), per_class {cls: precision, recall, f1, support,
    roc_auc}, macro_roc_auc (mean of the per-class AUCs that are defined), confusion (rows = true,
    columns = predicted, CLASSES order) and n_tracks. Precision, recall and F1 are 0 where undefined
    (scikit-learn ``zero_division=0``; ``support`` says whether the class was present); roc_auc is
    None for a class absent from ``labels`` (or when every track has that class), and macro_roc_auc
    is None when no class has an AUC.
    """
    y_true, probs = check_predictions(labels, probs)
    y_pred = predicted_labels(probs)
    classes = list(CLASSES)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    per_class = {
        cls: {
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
            "roc_auc": _one_vs_rest_auc(y_true == cls, probs[:, k]),
        }
        for k, cls in enumerate(CLASSES)
    }
    aucs = [entry["roc_auc"] for entry in per_class.values() if entry["roc_auc"] is not None]
    with warnings.catch_warnings():
        # scikit-learn warns when a predicted class is absent from y_true; it is then left out
        # of the mean recall, which is what the docstring promises.
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        balanced = balanced_accuracy_score(y_true, y_pred)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced),
        "macro_f1": float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=classes, average="weighted", zero_division=0)),
        "per_class": per_class,
        "macro_roc_auc": float(np.mean(aucs)) if aucs else None,
        "confusion": confusion_matrix(y_true, y_pred, labels=classes).astype(int).tolist(),
        "n_tracks": int(len(y_true)),
    }


def scores_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """accuracy, balanced_accuracy and macro_f1 from confusion matrices of shape ``(..., K, K)``.

    Vectorised over leading axes (used by the bootstrap); the definitions match
    :func:`track_metrics`: balanced accuracy averages recall over classes with true tracks,
    macro-F1 averages ``2TP / (2TP + FP + FN)`` over all K classes, 0 where undefined.
    """
    confusion = np.asarray(confusion, dtype=float)
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    true_totals = confusion.sum(axis=-1)
    pred_totals = confusion.sum(axis=-2)
    n = true_totals.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(true_totals > 0, tp / true_totals, np.nan)
        f1_denominator = true_totals + pred_totals
        f1 = np.where(f1_denominator > 0, 2 * tp / f1_denominator, 0.0)
        return {
            "accuracy": tp.sum(axis=-1) / n,
            "balanced_accuracy": np.nanmean(recall, axis=-1),
            "macro_f1": f1.mean(axis=-1),
        }


def reliability_bins(labels: Sequence[str], probs: np.ndarray, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Confidence (max probability) binned into ``n_bins`` equal-width bins ``(lo, hi]``.

    Returns edges (n_bins + 1), count, confidence (mean in bin) and accuracy (fraction correct in
    bin) per bin; confidence and accuracy are NaN for empty bins.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    y_true, probs = check_predictions(labels, probs)
    confidence = probs.max(axis=1)
    correct = (predicted_labels(probs) == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.digitize(confidence, edges[1:-1], right=True)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=n_bins) / count
    return {"edges": edges, "count": count, "confidence": mean_confidence, "accuracy": accuracy}


def expected_calibration_error(labels: Sequence[str], probs: np.ndarray, n_bins: int = 15) -> float:
    """ECE: the track-weighted mean of |accuracy - confidence| over equal-width confidence bins."""
    bins = reliability_bins(labels, probs, n_bins)
    filled = bins["count"] > 0
    weights = bins["count"][filled] / bins["count"].sum()
    return float(np.sum(weights * np.abs(bins["accuracy"][filled] - bins["confidence"][filled])))


def prediction_table(tracks: pd.DataFrame, probs: np.ndarray, n_windows: Sequence[int]) -> pd.DataFrame:
    """Per-track predictions: track_id, split, label, predicted, n_windows and one probability column per class."""
    table = tracks[["track_id", "split", "label"]].copy().reset_index(drop=True)
    table["predicted"] = [CLASSES[i] for i in probs.argmax(axis=1)]
    table["n_windows"] = list(n_windows)
    for i, column in enumerate(PROB_COLUMNS):
        table[column] = probs[:, i]
    return table
