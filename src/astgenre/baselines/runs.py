"""A baseline run from files: fit on feature tables, write predictions and metrics as the AST runs do, and keep a
selection record that shows, from the files, which tracks the fit and the selection read.

Wiring, for one baseline under one protocol (every path chosen by the workflow):

1. features: ``mfcc.featurize_shard`` (audio cache shard -> table) or ``probe.embed_shard`` (AST feature shard ->
   table), one job per shard;
2. ``fit_from_tables(baseline, tables, train_tracks, select_tracks)`` -> :class:`FittedBaseline`, reading only
   the training and selection rows; ``write_selection_record`` saves its choice and the ids it read;
3. ``write_predictions(fitted, tables, tracks, split=..., ...)`` for each evaluated split or role: the
   ``predictions_<role>.tsv`` and ``metrics_<role>.json`` of an AST run (``astgenre.metrics.prediction_table``,
   ``astgenre.metrics.track_metrics``); ``n_windows`` is the table's (1 per track for mfcc_svm, the windows
   averaged for linear_probe);
4. ``check_selection_record(record_path, test_ids)`` fails if a test track was among those read in step 2.

A fitted baseline lives in memory only: steps 2 and 3 run in one job (the fits take seconds to a minute).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from astgenre.labels import CLASSES
from astgenre.metrics import prediction_table, track_metrics

from . import logistic, svm
from .selection import FittedBaseline
from .tables import load_tracks

FIT_SELECT: dict[str, Callable[..., FittedBaseline]] = {
    svm.BASELINE: svm.fit_select,
    logistic.BASELINE: logistic.fit_select,
}
"""Each baseline's ``fit_select(x_train, y_train, x_select, y_select, select_metric)``."""
BASELINES: tuple[str, ...] = tuple(FIT_SELECT)


def fit_from_tables(
    baseline: str,
    tables: Sequence[Path],
    train: pd.DataFrame,
    select: pd.DataFrame,
    select_metric: str = "macro_f1",
) -> FittedBaseline:
    """Fit ``baseline`` on the ``train`` tracks, choosing its hyperparameters on the ``select`` tracks.

    ``train`` and ``select`` are index rows (track_id, label, ...); only their rows of the feature tables are read.
    Tracks without features are dropped with a warning. Raises ValueError when a track is in both.
    """
    if baseline not in FIT_SELECT:
        raise ValueError(f"unknown baseline {baseline!r}; expected one of {', '.join(BASELINES)}")
    shared = sorted(set(train["track_id"]) & set(select["track_id"]))
    if shared:
        raise ValueError(f"{len(shared)} track(s) both in training and selection: {', '.join(shared[:8])}")
    train_tracks, train_features = load_tracks(tables, train)
    select_tracks, select_features = load_tracks(tables, select)
    fitted = FIT_SELECT[baseline](
        train_features.values,
        list(train_tracks["label"]),
        select_features.values,
        list(select_tracks["label"]),
        select_metric,
    )
    return replace(fitted, train_ids=train_features.track_ids, select_ids=select_features.track_ids)


def predict_tracks(fitted: FittedBaseline, tables: Sequence[Path], tracks: pd.DataFrame) -> pd.DataFrame:
    """Prediction table (PREDICTION_COLUMNS) of the tracks that have features."""
    kept, features = load_tracks(tables, tracks)
    return prediction_table(kept, fitted.predict_proba(features.values), features.n_windows)


def write_predictions(
    fitted: FittedBaseline,
    tables: Sequence[Path],
    tracks: pd.DataFrame,
    *,
    split: str,
    predictions_path: Path,
    metrics_path: Path,
    seed: int = 0,
) -> dict[str, Any]:
    """Write predictions (TSV) and metrics (JSON) of ``tracks`` in the AST runs' formats; return the metrics.

    The metrics carry ``variant`` = the baseline's name, ``seed`` (the baselines are deterministic: one run, labelled
    0 unless told) and ``split`` (the split or protocol role the tracks form).
    """
    table = predict_tracks(fitted, tables, tracks)
    table.to_csv(predictions_path, sep="\t", index=False, float_format="%.6g")
    probs = table[[f"prob_{cls}" for cls in CLASSES]].to_numpy()
    metrics = {"variant": fitted.baseline, "seed": seed, "split": split, **track_metrics(list(table["label"]), probs)}
    Path(metrics_path).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def selection_record(fitted: FittedBaseline) -> dict[str, Any]:
    """What was chosen, how, and on which tracks: the grid with its scores and the ids of every track read."""
    grid = fitted.selection_scores.astype(object).where(fitted.selection_scores.notna(), None)
    return {
        "baseline": fitted.baseline,
        "select_metric": fitted.select_metric,
        "chosen": fitted.chosen,
        "select_score": fitted.select_score,
        "classes_in_training": [CLASSES[k] for k in fitted.class_columns],
        "grid": grid.to_dict(orient="records"),
        "train_ids": list(fitted.train_ids),
        "select_ids": list(fitted.select_ids),
    }


def write_selection_record(fitted: FittedBaseline, path: Path) -> None:
    """selection_record as JSON."""
    Path(path).write_text(json.dumps(selection_record(fitted), indent=2, default=_plain) + "\n")


def check_selection_record(record: Path | dict[str, Any], test_ids: Iterable[str]) -> None:
    """Raise ValueError if the fit or the selection read a test track, or a track both fitted and selected on.

    ``record`` is a selection record or the path of one written by :func:`write_selection_record`: the check reads
    the ids that the fit actually loaded.
    """
    if not isinstance(record, dict):
        record = json.loads(Path(record).read_text())
    test = set(test_ids)
    read = {"training": set(record["train_ids"]), "selection": set(record["select_ids"])}
    problems = [
        f"{len(ids & test)} test track(s) read as {role} tracks: {', '.join(sorted(ids & test)[:8])}"
        for role, ids in read.items()
        if ids & test
    ]
    both = read["training"] & read["selection"]
    if both:
        problems.append(f"{len(both)} track(s) both fitted and selected on: {', '.join(sorted(both)[:8])}")
    if problems:
        raise ValueError(f"{record['baseline']}: " + "; ".join(problems))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_run(
    *,
    baseline: str,
    tables: Sequence[Path],
    index_path: Path,
    outputs: dict[str, Path],
    sets: Sequence[str],
    assignment: Path | None = None,
    fold: int = 0,
    select_metric: str = "macro_f1",
) -> dict[str, Any]:
    """One baseline run in the AST runs' files: fit on the train tracks, choose on the select tracks, predict each
    of ``sets``, check from the selection record that no test track was read; return the selection record.

    Without ``assignment`` (the official split): train on training, select on development, evaluate development
    and evaluation, and also write the history and train summary the report reads for every run (one row: the
    chosen grid point's development metrics; ``kind``: baseline). With an assignment: the roles of ``fold``,
    evaluated on select and test. ``outputs`` names the files: predictions_<set>, metrics_<set>, tracks, selection
    (and history, summary for the official split).
    """
    from astgenre import protocols
    from astgenre.contracts import DEV_METRICS, HISTORY_COLUMNS
    from astgenre.dataset import read_index

    index = read_index(index_path)
    if assignment is None:
        parts = {"train": "training", "select": "development", "development": "development", "evaluation": "evaluation"}
        tracks = {name: index[index["split"] == split] for name, split in parts.items()}
        test = tracks["evaluation"]
    else:
        roles = protocols.roles_of(protocols.read(assignment), fold)
        tracks = {role: index[index["track_id"].isin(set(ids))] for role, ids in roles.items()}
        test = tracks["test"]
    fitted = fit_from_tables(baseline, tables, tracks["train"], tracks["select"], select_metric)
    write_selection_record(fitted, outputs["selection"])
    check_selection_record(outputs["selection"], test["track_id"])
    used = pd.DataFrame(
        {
            "track_id": [*fitted.train_ids, *fitted.select_ids],
            "role": ["train"] * len(fitted.train_ids) + ["select"] * len(fitted.select_ids),
        }
    )
    used.to_csv(outputs["tracks"], sep="\t", index=False)
    metrics = {}
    for name in sets:
        metrics[name] = write_predictions(
            fitted,
            tables,
            tracks[name],
            split=name,
            predictions_path=outputs[f"predictions_{name}"],
            metrics_path=outputs[f"metrics_{name}"],
        )
    record = selection_record(fitted)
    if "history" in outputs:
        development = metrics["development"]
        row = {"epoch": 0, "step": 0, **{f"dev_{m}": development[m] for m in DEV_METRICS}}
        pd.DataFrame([row], columns=list(HISTORY_COLUMNS)).to_csv(outputs["history"], sep="\t", index=False)
        summary = {
            "variant": baseline,
            "seed": 0,
            "kind": "baseline",
            "select_metric": select_metric,
            "best_dev_metric": fitted.select_score,
            "selected_step": 0,
            "selected_epoch": 0,
            "chosen": fitted.chosen,
            "recipe": {"weighting": "none"},
        }
        Path(outputs["summary"]).write_text(json.dumps(summary, indent=2, default=_plain) + "\n")
    return record
