"""Reading the files of the runs (predictions, metrics, history) into tidy tables."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from astgenre.contracts import EVALUATION_SPLITS, HISTORY_COLUMNS, PREDICTION_COLUMNS, PROB_COLUMNS
from astgenre.labels import CLASSES

log = logging.getLogger(__name__)

PATH_COLUMNS: tuple[str, ...] = (
    *(f"predictions_{split}" for split in EVALUATION_SPLITS),
    *(f"metrics_{split}" for split in EVALUATION_SPLITS),
    "history",
    "train_summary",
)
"""The runs table's path columns: one file of each kind per run, named like the report rule's inputs."""
RUN_COLUMNS: tuple[str, ...] = ("variant", "seed", *PATH_COLUMNS)
SCALAR_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "macro_roc_auc")
METRICS_KEYS: tuple[str, ...] = (*SCALAR_METRICS, "per_class", "confusion", "n_tracks", "variant", "seed", "split")
FINE_TUNED = "fine-tuned"
BASELINE = "baseline"
"""train_summary.json's ``kind``: a fine-tuned AST run, or a deterministic baseline (astgenre.baselines) run once."""
SUMMARY_KEYS: tuple[str, ...] = ("variant", "seed", "select_metric", "best_dev_metric", "selected_step", "recipe")
"""Keys of train_summary.json the report reads: which metric selected the checkpoint, and where."""
PROB_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class StudyRuns:
    """Everything the report reads, one row per run (x split, x track, x logged step).

    predictions: PREDICTION_COLUMNS plus variant, seed, correct; both splits.
    metrics: variant, seed, split, SCALAR_METRICS, n_tracks, recall_/support_/roc_auc_<cls>
        (recall NaN where the class has no tracks).
    history: HISTORY_COLUMNS plus variant, seed.
    training: variant, seed, select_metric, best_dev_metric, selected_step, weighting (one row per run).
    variants: variants in order of first appearance in the runs table.
    """

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    history: pd.DataFrame
    training: pd.DataFrame
    variants: tuple[str, ...]

    @property
    def baselines(self) -> tuple[str, ...]:
        """Variants that are deterministic baselines (one run, no training curve), in the runs' order."""
        kinds = self.training.groupby("variant", sort=False)["kind"].agg(set)
        return tuple(v for v in self.variants if kinds.get(v) == {BASELINE})


def runs_frame(
    variants: Sequence[str], seeds: Sequence[int], paths: Mapping[str, Sequence[str | Path]]
) -> pd.DataFrame:
    """The runs table from parallel lists: variants, seeds and one path list per PATH_COLUMNS name.

    A single value (one run) may be given bare instead of as a one-element list.
    """
    missing = [name for name in PATH_COLUMNS if name not in paths]
    if missing:
        raise ValueError(f"runs_frame: missing path lists {missing}; expected {list(PATH_COLUMNS)}")
    variants, seeds = _as_list(variants), _as_list(seeds)
    paths = {name: _as_list(paths[name]) for name in PATH_COLUMNS}
    lengths = {"variants": len(variants), "seeds": len(seeds), **{name: len(paths[name]) for name in PATH_COLUMNS}}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"runs_frame: the lists must be parallel (equally long), got lengths {lengths}")
    frame = pd.DataFrame({"variant": [str(v) for v in variants], "seed": [int(s) for s in seeds]})
    for name in PATH_COLUMNS:
        frame[name] = [str(p) for p in paths[name]]
    return validate_runs(frame)


def _as_list(values) -> list:
    return [values] if isinstance(values, (str, Path, int)) else list(values)


def validate_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Check the runs table (columns, at least one run, no duplicate (variant, seed)); return a clean copy."""
    missing = [c for c in RUN_COLUMNS if c not in runs.columns]
    if missing:
        raise ValueError(f"runs table lacks columns {missing}; expected {list(RUN_COLUMNS)}")
    if runs.empty:
        raise ValueError("runs table is empty: the report needs at least one run")
    runs = runs.loc[:, list(RUN_COLUMNS)].copy()
    runs["variant"] = runs["variant"].astype(str)
    runs["seed"] = runs["seed"].astype(int)
    duplicated = runs[runs.duplicated(["variant", "seed"], keep=False)]
    if not duplicated.empty:
        pairs = sorted(set(zip(duplicated["variant"], duplicated["seed"], strict=False)))
        raise ValueError(f"runs table lists these (variant, seed) runs more than once: {pairs}")
    return runs.reset_index(drop=True)


def read_predictions(path: Path, split: str | None) -> pd.DataFrame:
    """One predictions TSV, checked: columns, split (when given; a protocol role's file mixes splits), labels in
    CLASSES, probabilities summing to 1."""
    path = Path(path)
    frame = _read_tsv(path)
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected {list(PREDICTION_COLUMNS)}")
    if frame.empty:
        raise ValueError(f"{path}: no tracks")
    frame["track_id"] = frame["track_id"].astype(str)
    if split is not None:
        other_splits = sorted(set(frame["split"].astype(str)) - {split})
        if other_splits:
            raise ValueError(f"{path}: expected only split {split!r}, found {other_splits}")
    for column in ("label", "predicted"):
        unknown = sorted(set(frame[column].astype(str)) - set(CLASSES))
        if unknown:
            raise ValueError(f"{path}: column {column!r} has unknown classes {unknown}; expected {CLASSES}")
    if frame["track_id"].duplicated().any():
        raise ValueError(
            f"{path}: duplicate track_id {sorted(frame.loc[frame['track_id'].duplicated(), 'track_id'])[:5]}"
        )
    probs = frame.loc[:, list(PROB_COLUMNS)].to_numpy(dtype=float)
    bad = ~np.isfinite(probs).all(axis=1) | (np.abs(probs.sum(axis=1) - 1) > PROB_SUM_TOLERANCE)
    if bad.any():
        raise ValueError(
            f"{path}: {int(bad.sum())} row(s) whose probabilities are not finite or do not sum to 1 "
            f"(first track {frame.loc[bad, 'track_id'].iloc[0]!r})"
        )
    return frame


def read_json(path: Path, what: str) -> dict:
    """A JSON file, with errors that name the file and say what it should have been."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None


def read_metrics(path: Path) -> dict:
    """One metrics JSON (track_metrics output plus variant, seed, split), checked for its keys."""
    path = Path(path)
    metrics = read_json(path, "metrics file")
    missing = [key for key in METRICS_KEYS if key not in metrics]
    if missing:
        raise ValueError(
            f"{path}: missing keys {missing}; expected the output of astgenre.metrics.track_metrics "
            "plus variant, seed, split"
        )
    missing_classes = [cls for cls in CLASSES if cls not in metrics["per_class"]]
    if missing_classes:
        raise ValueError(f"{path}: per_class lacks classes {missing_classes}")
    return metrics


def read_history(path: Path) -> pd.DataFrame:
    """One training log TSV (empty cells become NaN)."""
    path = Path(path)
    frame = _read_tsv(path)
    missing = [c for c in HISTORY_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected {list(HISTORY_COLUMNS)}")
    return frame.loc[:, list(HISTORY_COLUMNS)].apply(pd.to_numeric, errors="raise")


def read_train_summary(path: Path, variant: str, seed: int) -> dict:
    """One run's train_summary.json, checked for its keys and for the run it belongs to."""
    path = Path(path)
    summary = read_json(path, "training summary")
    missing = [key for key in SUMMARY_KEYS if key not in summary]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}; expected those written by astgenre.training.train_run")
    if (str(summary["variant"]), int(summary["seed"])) != (variant, seed):
        raise ValueError(f"{path}: holds run {(summary['variant'], summary['seed'])}, expected {(variant, seed)}")
    return {
        "variant": variant,
        "seed": seed,
        "select_metric": str(summary["select_metric"]),
        "best_dev_metric": float(summary["best_dev_metric"]),
        "selected_step": int(summary["selected_step"]),
        "weighting": str(summary["recipe"].get("weighting", "none")),
        "kind": str(summary.get("kind", FINE_TUNED)),
    }


def load_runs(runs: pd.DataFrame) -> StudyRuns:
    """Read and check every file named in the runs table."""
    runs = validate_runs(runs)
    predictions, metrics, history, training = [], [], [], []
    for run in runs.itertuples(index=False):
        for split in EVALUATION_SPLITS:
            frame = read_predictions(Path(getattr(run, f"predictions_{split}")), split)
            frame.insert(0, "variant", run.variant)
            frame.insert(1, "seed", run.seed)
            frame["correct"] = frame["label"] == frame["predicted"]
            predictions.append(frame)
            metrics_path = Path(getattr(run, f"metrics_{split}"))
            row = _metrics_row(read_metrics(metrics_path), metrics_path, run.variant, run.seed, split)
            _check_consistency(row, frame, metrics_path)
            metrics.append(row)
        frame = read_history(Path(run.history))
        frame.insert(0, "variant", run.variant)
        frame.insert(1, "seed", run.seed)
        history.append(frame)
        training.append(read_train_summary(Path(run.train_summary), run.variant, run.seed))
    return StudyRuns(
        predictions=pd.concat(predictions, ignore_index=True),
        metrics=pd.DataFrame(metrics),
        history=pd.concat(history, ignore_index=True),
        training=pd.DataFrame(training),
        variants=tuple(dict.fromkeys(runs["variant"])),
    )


def _metrics_row(metrics: dict, path: Path, variant: str, seed: int, split: str) -> dict:
    found = (str(metrics["variant"]), int(metrics["seed"]), str(metrics["split"]))
    if found != (variant, seed, split):
        raise ValueError(
            f"{path}: holds variant/seed/split {found} but the runs table expects {(variant, seed, split)}"
        )
    row: dict = {"variant": variant, "seed": seed, "split": split, "n_tracks": int(metrics["n_tracks"])}
    for key in SCALAR_METRICS:
        row[key] = math.nan if metrics[key] is None else float(metrics[key])
    for cls in CLASSES:
        entry = metrics["per_class"][cls]
        support = int(entry["support"])
        row[f"support_{cls}"] = support
        row[f"recall_{cls}"] = float(entry["recall"]) if support > 0 else math.nan
        row[f"roc_auc_{cls}"] = math.nan if entry["roc_auc"] is None else float(entry["roc_auc"])
    return row


def _check_consistency(row: dict, predictions: pd.DataFrame, metrics_path: Path) -> None:
    """Warn when the metrics JSON and the predictions TSV of the same run disagree."""
    if row["n_tracks"] != len(predictions):
        raise ValueError(
            f"{metrics_path}: n_tracks={row['n_tracks']} but the predictions file has {len(predictions)} tracks"
        )
    accuracy = float(predictions["correct"].mean())
    if abs(accuracy - row["accuracy"]) > 1e-9:
        log.warning(
            "%s: accuracy %.6f differs from the accuracy of the predictions file (%.6f); "
            "tables use the metrics file, per-track statistics the predictions file",
            metrics_path,
            row["accuracy"],
            accuracy,
        )


def _read_tsv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep="\t")
    except FileNotFoundError:
        raise FileNotFoundError(f"run file not found: {path}") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty file, expected a header row") from None
