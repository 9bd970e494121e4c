"""Statistics of the study: intervals over seeds, bootstrap over tracks, paired tests.

Tests over seeds (paired t-test, Wilcoxon) treat each seed as one replicate: they need at least :data:`MIN_SEEDS`
paired seeds, and differences that agree to within a millionth of one track's weight count as equal
(:func:`equality_tolerance`). Tests over tracks respect the design: a track appears once per seed, so the exchangeable
unit is the track with all its seeds (:func:`paired_permutation_test`); McNemar's exact test is run per seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from astgenre.labels import CLASSES, LABEL2ID
from astgenre.metrics import scores_from_confusion

PAIRED_T_TEST = "paired t-test (scipy.stats.ttest_rel)"
WILCOXON_TEST = "Wilcoxon signed-rank (scipy.stats.wilcoxon)"
MCNEMAR_TEST = "McNemar exact (statsmodels mcnemar, exact=True)"
PERMUTATION_TEST = "exact paired permutation test over tracks (signs flipped per track, seeds kept together)"
MIN_SEEDS = 3
"""Fewest paired seeds for a test over seeds: with 2 the exact Wilcoxon p cannot go below 0.5 and the t-test has
one degree of freedom."""
BOOTSTRAP_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1")


@dataclass(frozen=True)
class TestResult:
    """One hypothesis test: its name, statistic, two-sided p-value, sample size and a note.

    statistic and p_value are NaN when the test cannot be run; ``note`` then says why.
    ``discordant`` holds McNemar's (baseline-only correct, variant-only correct) counts.
    """

    test: str
    statistic: float
    p_value: float
    n: int
    note: str = ""
    discordant: tuple[int, int] | None = None


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean; ``(nan, nan)`` with fewer than 2 values."""
    x = np.asarray(values, dtype=float)
    if np.isnan(x).any():
        raise ValueError(f"t_interval got NaN among {x.tolist()}")
    if x.size < 2:
        return (math.nan, math.nan)
    half = stats.t.ppf(0.5 + confidence / 2, df=x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return (float(x.mean() - half), float(x.mean() + half))


def describe(values: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """n, mean, std (ddof=1) and t-interval (ci_low, ci_high) of values; std/CI NaN for one value."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("describe needs at least one value")
    low, high = t_interval(x, confidence)
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std(ddof=1)) if x.size > 1 else math.nan,
        "ci_low": low,
        "ci_high": high,
    }


def proportion_summary(values: Sequence[float], confidence: float = 0.95) -> dict[str, float | bool]:
    """describe() of a proportion over seeds, its t-interval clipped to [0, 1] with ``ci_clipped`` saying whether a
    bound was cut, and ``few_seeds`` when fewer than MIN_SEEDS values make the interval uninformative."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if x.size == 0:
        nan = math.nan
        return {"n": 0, "mean": nan, "std": nan, "ci_low": nan, "ci_high": nan, "ci_clipped": False, "few_seeds": True}
    summary: dict = describe(x, confidence)
    low, high = summary["ci_low"], summary["ci_high"]
    summary["ci_clipped"] = bool(low < 0 or high > 1)  # False for NaN bounds
    summary["ci_low"], summary["ci_high"] = (float(v) for v in np.clip([low, high], 0.0, 1.0))
    summary["few_seeds"] = x.size < MIN_SEEDS
    return summary


def bootstrap_ci(
    labels: Sequence[str],
    predicted: Sequence[str],
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs over tracks of accuracy, balanced accuracy and macro-F1.

    Tracks are resampled with replacement ``n_boot`` times with ``numpy.random.default_rng(seed)``,
    so equal inputs and seed give equal intervals.
    """
    y_true = np.array([LABEL2ID[str(label)] for label in labels])
    y_pred = np.array([LABEL2ID[str(label)] for label in predicted])
    if y_true.size == 0 or y_true.shape != y_pred.shape:
        raise ValueError(f"bootstrap_ci needs equally many labels and predictions, got {y_true.size} and {y_pred.size}")
    k = len(CLASSES)
    codes = y_true * k + y_pred
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, codes.size, size=(n_boot, codes.size))
    offsets = (np.arange(n_boot) * k * k)[:, None]
    confusions = np.bincount((codes[samples] + offsets).ravel(), minlength=n_boot * k * k).reshape(n_boot, k, k)
    scores = scores_from_confusion(confusions)
    tail = 100 * (1 - confidence) / 2
    return {
        metric: tuple(float(v) for v in np.percentile(scores[metric], [tail, 100 - tail]))
        for metric in BOOTSTRAP_METRICS
    }


def equality_tolerance(n_tracks: int) -> float:
    """Differences of track-level metrics closer than this are equal: a millionth of one track's weight (1/n)."""
    if n_tracks < 1:
        raise ValueError(f"equality_tolerance needs at least one track, got {n_tracks}")
    return 1e-6 / n_tracks


def wilcoxon_floor(n: int) -> float:
    """The smallest two-sided p-value the exact Wilcoxon signed-rank test can give with n paired values."""
    return min(1.0, 2.0 / 2**n)


def paired_seed_tests(
    baseline: Mapping[int, float], variant: Mapping[int, float], tolerance: float = 1e-9
) -> list[TestResult]:
    """Paired t-test and Wilcoxon signed-rank test of variant vs baseline, paired by seed.

    Only seeds present in both mappings are paired. Differences are rounded to multiples of ``tolerance`` (see
    :func:`equality_tolerance`), so that float noise neither breaks ties nor fakes variance. Not run (NaN, with a
    note) with fewer than MIN_SEEDS paired seeds, when every difference is zero, and, for the t-test, when the
    differences are all equal (zero variance).
    """
    seeds = sorted(set(baseline) & set(variant))
    n = len(seeds)
    unpaired = sorted(set(baseline) ^ set(variant))
    unpaired_note = f"seeds without a partner left out: {unpaired}" if unpaired else ""

    def not_run(reason: str, tests: Sequence[str] = (PAIRED_T_TEST, WILCOXON_TEST)) -> list[TestResult]:
        return [TestResult(name, math.nan, math.nan, n, _join(reason, unpaired_note)) for name in tests]

    if n < MIN_SEEDS:
        return not_run(f"too few seeds: {n} paired seed(s), at least {MIN_SEEDS} needed for a test over seeds")
    a = np.array([baseline[s] for s in seeds], dtype=float)
    b = np.array([variant[s] for s in seeds], dtype=float)
    differences = np.round((b - a) / tolerance) * tolerance
    if np.all(differences == 0):
        return not_run("not run: all paired differences are zero")
    results = []
    if np.all(differences == differences[0]):
        results += not_run("not run: the paired differences are all equal (zero variance)", (PAIRED_T_TEST,))
    else:
        t = stats.ttest_1samp(differences, 0.0)
        results.append(TestResult(PAIRED_T_TEST, float(t.statistic), float(t.pvalue), n, unpaired_note))
    w = stats.wilcoxon(differences)
    zeros = int(np.sum(differences == 0))
    zero_note = f"{zeros} zero difference(s) dropped (zero_method='wilcox')" if zeros else ""
    floor = f"smallest possible p with {n - zeros} nonzero difference(s): {wilcoxon_floor(n - zeros):.3g}"
    results.append(
        TestResult(WILCOXON_TEST, float(w.statistic), float(w.pvalue), n, _join(zero_note, floor, unpaired_note))
    )
    return results


def paired_permutation_test(baseline_correct: np.ndarray, variant_correct: np.ndarray) -> TestResult:
    """Exact paired permutation test of per-track correctness over all seeds at once.

    ``baseline_correct`` and ``variant_correct`` are boolean arrays (seeds, tracks), the same track in the same
    column. Each track contributes d = (variant correct) - (baseline correct) summed over its seeds; under the null
    hypothesis the two variants are exchangeable on every track, so each track's d changes sign with probability
    1/2, independently of the other tracks, while a track's seeds stay together. The statistic is the sum of d
    (tracks right under the variant minus under the baseline, over seeds); its exact null distribution is computed
    by convolution, and the p-value is two-sided. With one seed this is McNemar's exact test.
    """
    a = np.asarray(baseline_correct, dtype=bool)
    b = np.asarray(variant_correct, dtype=bool)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired_permutation_test needs two (seeds, tracks) arrays, got {a.shape} and {b.shape}")
    d = b.sum(axis=0).astype(np.int64) - a.sum(axis=0).astype(np.int64)
    observed = int(d.sum())
    n_seeds, n_tracks = a.shape
    discordant = (int((a & ~b).sum()), int((~a & b).sum()))
    if not np.any(d):
        return TestResult(PERMUTATION_TEST, math.nan, math.nan, n_tracks, "not run: no track differs", discordant)
    magnitudes = np.abs(d[d != 0])
    total = int(magnitudes.sum())
    distribution = np.zeros(2 * total + 1)
    distribution[total] = 1.0  # index k holds P(sum = k - total)
    for m in magnitudes:
        distribution = 0.5 * (np.roll(distribution, m) + np.roll(distribution, -m))
    values = np.arange(-total, total + 1)
    p_value = float(min(1.0, distribution[np.abs(values) >= abs(observed)].sum()))
    note = f"{n_tracks} tracks x {n_seeds} seed(s); {magnitudes.size} track(s) differ"
    return TestResult(PERMUTATION_TEST, float(observed), p_value, n_tracks, note, discordant)


def mcnemar_exact(baseline_correct: Sequence[bool], variant_correct: Sequence[bool]) -> TestResult:
    """McNemar's exact test on paired correctness (one entry per paired track).

    ``discordant`` = (baseline right and variant wrong, baseline wrong and variant right); the
    statistic is statsmodels' (the smaller discordant count). NaN with a note when there are no
    discordant pairs.
    """
    a = np.asarray(baseline_correct, dtype=bool)
    b = np.asarray(variant_correct, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"mcnemar_exact needs two equally long 1-d sequences, got shapes {a.shape} and {b.shape}")
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
    discordant = (int(table[0, 1]), int(table[1, 0]))
    if sum(discordant) == 0:
        return TestResult(MCNEMAR_TEST, math.nan, math.nan, int(a.size), "not run: no discordant pairs", discordant)
    result = mcnemar(table, exact=True)
    return TestResult(MCNEMAR_TEST, float(result.statistic), float(result.pvalue), int(a.size), "", discordant)


def _join(*notes: str) -> str:
    return "; ".join(note for note in notes if note)
