"""The classical baseline's classifier: standardised MFCC statistics, an RBF SVM, temperature-scaled probabilities.

- Standardisation: ``StandardScaler`` fitted on the training tracks (inside the pipeline, so never on another split).
- Kernel: exp(-gamma * |x - x'|^2) of the standardised features, computed by :class:`RBFKernel` and given to
  ``SVC(kernel="precomputed")``: the grid computes the squared distances once and each of its points costs an
  ``exp`` and a libsvm fit without kernel evaluations (4-5x faster than ``SVC(kernel="rbf")``, same decision values
  to ~1e-12); the final model computes its kernel with the same function, so it is the grid's model exactly.
- Grid: the coarse grid of Hsu, Chang & Lin's *A Practical Guide to Support Vector Classification* (libsvm),
  C = 2^-5, 2^-3, ..., 2^15 and gamma = 2^-15, 2^-13, ..., 2^3: 110 points, ordered by C then gamma, both
  ascending, so that a tie goes to the smallest C (the widest margin), then the smallest gamma (the smoothest
  kernel). Candidates are scored by their predictions (``break_ties=True``: the arg-max of the decision function).
- Final fit: the training tracks only, with the chosen C and gamma (as the AST runs, which never train on the
  selection split).
- Probabilities: softmax of the decision function over a temperature (``CalibratedClassifierCV(...,
  method="temperature", ensemble=False)``), the temperature fitted on out-of-fold decision values of the training
  tracks (stratified, :data:`CALIBRATION_FOLDS` folds, fewer when the smallest class has fewer tracks). One
  parameter that keeps the arg-max, so the predicted class is the SVM's own and the selection split chooses but
  never calibrates. (``SVC(probability=True)``, pairwise Platt scaling, is deprecated in scikit-learn 1.9, and its
  arg-max may disagree with the SVM's prediction.)
- Determinism: libsvm is deterministic for given data; the calibration folds are shuffled with random_state 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from .selection import FittedBaseline, select_and_fit

BASELINE = "mfcc_svm"
C_GRID: tuple[float, ...] = tuple(2.0**k for k in range(-5, 16, 2))
GAMMA_GRID: tuple[float, ...] = tuple(2.0**k for k in range(-15, 4, 2))
GRID: tuple[dict[str, float], ...] = tuple({"C": c, "gamma": gamma} for c in C_GRID for gamma in GAMMA_GRID)
"""(C, gamma) in selection order: C ascending, then gamma ascending."""
CALIBRATION_FOLDS = 5
RANDOM_STATE = 0


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared Euclidean distances, |a|^2 + |b|^2 - 2 a.b clipped at 0."""
    d = np.einsum("ij,ij->i", a, a)[:, None] + np.einsum("ij,ij->i", b, b)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0, out=d)


def rbf(distances: np.ndarray, gamma: float) -> np.ndarray:
    """exp(-gamma * squared distance)."""
    return np.exp(-gamma * distances)


class RBFKernel(TransformerMixin, BaseEstimator):
    """Features -> RBF kernel values against the training rows seen by ``fit`` (for ``SVC(kernel="precomputed")``)."""

    def __init__(self, gamma: float = 1.0) -> None:
        self.gamma = gamma

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> RBFKernel:
        self.reference_ = np.array(x, dtype=np.float64)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return rbf(squared_distances(np.asarray(x, dtype=np.float64), self.reference_), self.gamma)


def final(C: float, gamma: float, n_folds: int = CALIBRATION_FOLDS) -> Pipeline:  # noqa: N803 - scikit-learn's name
    """Standardise, RBF SVM, temperature-scaled probabilities (temperature by cross-validation on the training
    tracks; the SVM itself is fitted on all of them)."""
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=RANDOM_STATE)
    svm = make_pipeline(RBFKernel(gamma), SVC(C=C, kernel="precomputed", break_ties=True))
    return make_pipeline(StandardScaler(), CalibratedClassifierCV(svm, method="temperature", cv=folds, ensemble=False))


def predict_grid(
    x_train: np.ndarray, codes: np.ndarray, x_select: np.ndarray, grid: Sequence[dict[str, float]] = GRID
) -> list[tuple[np.ndarray, bool]]:
    """Each grid point's predicted class codes on the selection tracks (fitted on the training tracks), in grid
    order, and True (libsvm runs to convergence: max_iter=-1). Each gamma's kernels are computed once."""
    scaler = StandardScaler().fit(x_train)
    train, select = scaler.transform(x_train), scaler.transform(x_select)
    train_distances, select_distances = squared_distances(train, train), squared_distances(select, train)
    outcomes: list[tuple[np.ndarray, bool] | None] = [None] * len(grid)
    for gamma in dict.fromkeys(point["gamma"] for point in grid):
        k_train, k_select = rbf(train_distances, gamma), rbf(select_distances, gamma)
        for i, point in enumerate(grid):
            if point["gamma"] == gamma:
                model = SVC(C=point["C"], kernel="precomputed", break_ties=True).fit(k_train, codes)
                outcomes[i] = (model.predict(k_select), True)
    return outcomes


def calibration_folds(labels: Sequence[str]) -> int:
    """CALIBRATION_FOLDS, or the track count of the smallest training class when lower; at least 2."""
    _, counts = np.unique(np.asarray(labels, dtype=str), return_counts=True)
    folds = min(CALIBRATION_FOLDS, int(counts.min()))
    if folds < 2:
        raise ValueError("a training class has one track: calibrating the SVM's probabilities needs 2 per class")
    return folds


def fit_select(
    x_train: np.ndarray,
    y_train: Sequence[str],
    x_select: np.ndarray,
    y_select: Sequence[str],
    select_metric: str = "macro_f1",
    grid: Sequence[dict[str, float]] = GRID,
) -> FittedBaseline:
    """Choose C and gamma on the selection tracks, fit on the training tracks; labels are class names."""
    folds = calibration_folds(y_train)
    return select_and_fit(
        BASELINE,
        grid,
        lambda x, codes, x_sel: predict_grid(x, codes, x_sel, grid),
        lambda **point: final(**point, n_folds=folds),
        (x_train, y_train),
        (x_select, y_select),
        select_metric,
    )
