"""The linear probe's classifier (the embeddings are astgenre.baselines.probe's): ``StandardScaler`` then multinomial
``LogisticRegression`` (lbfgs, L2), its C chosen on the selection tracks from :data:`C_GRID` (ascending: a tie goes to
the stronger regularisation) by the study's selection metric, fitted on the training tracks only.

Apart from the embeddings so that a baseline's fit (one job per protocol fold) imports scikit-learn, not torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from .selection import FittedBaseline, fit_converged, select_and_fit

BASELINE = "linear_probe"
C_GRID: tuple[float, ...] = tuple(10.0**k for k in range(-4, 3))
GRID: tuple[dict[str, float], ...] = tuple({"C": c} for c in C_GRID)
"""C in selection order (ascending)."""
MAX_ITER = 2000


def candidate(C: float) -> Pipeline:  # noqa: N803 - scikit-learn's name
    """Standardise, then multinomial L2 logistic regression (lbfgs)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=MAX_ITER))


def predict_grid(
    x_train: np.ndarray, codes: np.ndarray, x_select: np.ndarray, grid: Sequence[dict[str, float]] = GRID
) -> list[tuple[np.ndarray, bool]]:
    """Each grid point's predicted class codes on the selection tracks and whether lbfgs converged, in grid order."""
    outcomes = []
    for point in grid:
        model, converged = fit_converged(lambda point=point: candidate(**point).fit(x_train, codes))
        outcomes.append((model.predict(x_select), converged))
    return outcomes


def fit_select(
    x_train: np.ndarray,
    y_train: Sequence[str],
    x_select: np.ndarray,
    y_select: Sequence[str],
    select_metric: str = "macro_f1",
    grid: Sequence[dict[str, float]] = GRID,
) -> FittedBaseline:
    """Choose C on the selection tracks, fit on the training tracks; labels are class names."""
    return select_and_fit(
        BASELINE,
        grid,
        lambda x, codes, x_sel: predict_grid(x, codes, x_sel, grid),
        candidate,
        (x_train, y_train),
        (x_select, y_select),
        select_metric,
    )
