"""Hyperparameter selection shared by the baselines: a grid scored on the selection tracks, then one final fit.

The policy mirrors the AST runs, which train on the training split and only *choose* (a checkpoint) on the
selection split: every candidate is fitted on the training tracks alone and scored on the selection tracks with the
study's selection metric (``astgenre.metrics.track_metrics`` of the arg-max predictions); the best candidate wins,
ties going to the earliest in grid order (each baseline orders its grid from the most to the least regularised); the
final model is fitted on the training tracks alone with the chosen values, never on training + selection. The test
tracks are not an argument of anything here.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from astgenre.contracts import SELECT_METRICS
from astgenre.labels import CLASSES, LABEL2ID
from astgenre.metrics import scores_from_confusion, track_metrics

log = logging.getLogger(__name__)

_CONFUSION_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
SCORE_TOLERANCE = 1e-12
"""How far the final model's selection score may lie from the score that chose its hyperparameters."""


@dataclass(frozen=True)
class FittedBaseline:
    """A baseline fitted on the training tracks with hyperparameters chosen on the selection tracks."""

    baseline: str
    estimator: Any  # fitted scikit-learn classifier; its classes are codes 0..k-1 of `class_columns`
    class_columns: tuple[int, ...]  # the CLASSES position of each class code (the classes present in training)
    chosen: dict[str, float]
    selection_scores: pd.DataFrame  # one row per grid point, grid order: hyperparameters, score, converged, chosen
    select_metric: str
    train_ids: tuple[str, ...] = field(default=())
    select_ids: tuple[str, ...] = field(default=())

    @property
    def select_score(self) -> float:
        """The chosen grid point's score on the selection tracks."""
        return float(self.selection_scores.loc[self.selection_scores["chosen"], "score"].iloc[0])

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """(tracks, len(CLASSES)) probabilities in CLASSES order; 0 for a class absent from the training tracks."""
        probs = np.zeros((len(features), len(CLASSES)))
        probs[:, list(self.class_columns)] = self.estimator.predict_proba(np.asarray(features, dtype=np.float64))
        return probs


def fit_converged(fit: Callable[[], Any]) -> tuple[Any, bool]:
    """``fit()``'s result, and False when it raised a scikit-learn ConvergenceWarning (recorded, not shown; other
    warnings are shown as usual)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        result = fit()
    converged = True
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            converged = False
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return result, converged


def encode_labels(labels: Sequence[str]) -> tuple[np.ndarray, tuple[int, ...]]:
    """Class names -> codes 0..k-1 over the classes present (in CLASSES order), and each code's CLASSES position."""
    _check_labels(labels, "training")
    present = tuple(sorted({LABEL2ID[label] for label in labels}))
    if len(present) < 2:
        raise ValueError(f"the training tracks hold {len(present)} class(es); a classifier needs at least 2")
    code = {class_id: k for k, class_id in enumerate(present)}
    return np.array([code[LABEL2ID[label]] for label in labels]), present


def score_predictions(labels: Sequence[str], predictions: Sequence[Sequence[str]], metric: str) -> np.ndarray:
    """The study's metric of each list of arg-max predictions (class names) against ``labels``.

    Accuracy, balanced accuracy and macro-F1 come from ``astgenre.metrics.scores_from_confusion`` over all the
    predictions' confusion matrices at once; weighted-F1 from ``astgenre.metrics.track_metrics``, one at a time.
    Both follow track_metrics' definitions (tested).
    """
    labels = list(labels)
    if metric in _CONFUSION_METRICS:
        truth = np.array([LABEL2ID[label] for label in labels])
        predicted = np.array([[LABEL2ID[label] for label in p] for p in predictions]).reshape(-1, len(labels))
        confusion = np.zeros((len(predicted), len(CLASSES), len(CLASSES)))
        for k, row in enumerate(predicted):
            np.add.at(confusion[k], (truth, row), 1.0)
        return np.asarray(scores_from_confusion(confusion)[metric], dtype=np.float64)
    scores = []
    for p in predictions:
        one_hot = np.zeros((len(p), len(CLASSES)))
        one_hot[np.arange(len(p)), [LABEL2ID[label] for label in p]] = 1.0
        scores.append(track_metrics(labels, one_hot)[metric])
    return np.asarray(scores, dtype=np.float64)


GridPredictions = Callable[[np.ndarray, np.ndarray, np.ndarray], Iterable[tuple[np.ndarray, bool]]]
"""(training features, training class codes, selection features) -> for each grid point in order, the predicted
class codes of the selection tracks and whether the fit converged."""


def select_and_fit(
    baseline: str,
    grid: Sequence[Mapping[str, float]],
    predict_grid: GridPredictions,
    final: Callable[..., Any],
    train: tuple[np.ndarray, Sequence[str]],
    select: tuple[np.ndarray, Sequence[str]],
    select_metric: str = "macro_f1",
) -> FittedBaseline:
    """Score every grid point's predictions on ``select`` (each fitted on ``train`` by ``predict_grid``), fit
    ``final(**chosen)`` on ``train``; return it with the grid's scores.

    ``train`` and ``select`` are (features, class names). The final model's arg-max predictions must be the chosen
    candidate's (it may add calibration): this is checked on the selection tracks. Raises ValueError for an unknown
    metric, an empty grid, mismatched or non-finite inputs, fewer than 2 training classes or an unknown label.
    """
    if select_metric not in SELECT_METRICS:
        raise ValueError(f"select_metric {select_metric!r} is not one of {', '.join(SELECT_METRICS)}")
    if not grid:
        raise ValueError("the hyperparameter grid is empty")
    x_train, y_train = _checked(*train, "training")
    x_select, y_select = _checked(*select, "selection")
    codes, columns = encode_labels(y_train)
    names = np.asarray(CLASSES)[list(columns)]

    outcomes = list(predict_grid(x_train, codes, x_select))
    if len(outcomes) != len(grid):
        raise RuntimeError(f"{baseline}: {len(outcomes)} predictions for a grid of {len(grid)} points")
    scores = pd.DataFrame([dict(point) for point in grid])
    scores["score"] = score_predictions(y_select, [names[predicted] for predicted, _ in outcomes], select_metric)
    scores["converged"] = [converged for _, converged in outcomes]
    best = int(np.argmax(scores["score"].to_numpy()))  # the first maximum: the earliest in grid order
    scores["chosen"] = np.arange(len(scores)) == best
    chosen = {key: float(value) for key, value in grid[best].items()}
    if not scores.loc[best, "converged"]:
        log.warning("%s: the chosen %s did not converge (ConvergenceWarning)", baseline, chosen)
    if best in (0, len(grid) - 1):
        log.warning("%s: the chosen %s lies at the end of the grid", baseline, chosen)

    fitted = FittedBaseline(
        baseline=baseline,
        estimator=final(**chosen).fit(x_train, codes),
        class_columns=columns,
        chosen=chosen,
        selection_scores=scores,
        select_metric=select_metric,
    )
    final_score = score_predictions(y_select, [_predicted(fitted.predict_proba(x_select))], select_metric)[0]
    if abs(final_score - fitted.select_score) > SCORE_TOLERANCE:
        raise RuntimeError(
            f"{baseline}: the final model scores {select_metric} {final_score!r} on the selection tracks, but its "
            f"hyperparameters {chosen} were chosen with {fitted.select_score!r}: the final fit differs from the "
            "candidate's"
        )
    return fitted


def _predicted(probs: np.ndarray) -> np.ndarray:
    return np.asarray(CLASSES)[np.argmax(probs, axis=1)]


def _check_labels(labels: Sequence[str], what: str) -> None:
    unknown = sorted(set(labels) - set(CLASSES))
    if unknown:
        raise ValueError(f"{what}: unknown labels {unknown}; expected one of {CLASSES}")


def _checked(features: np.ndarray, labels: Sequence[str], what: str) -> tuple[np.ndarray, list[str]]:
    x = np.asarray(features, dtype=np.float64)
    labels = [str(label) for label in labels]
    _check_labels(labels, what)
    if x.ndim != 2 or x.shape[0] != len(labels) or x.shape[0] == 0:
        raise ValueError(f"{what}: features {x.shape} and {len(labels)} labels must be (tracks, features) and match")
    if not np.isfinite(x).all():
        raise ValueError(f"{what}: the features contain NaN or infinite values")
    return x, labels
