"""Report statistics against scipy/statsmodels, and build_report on generated run files."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpimg
from scipy import stats
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from statsmodels.stats.contingency_tables import mcnemar

from astgenre.contracts import HISTORY_COLUMNS
from astgenre.labels import CLASSES, SPLITS, TRAINING_COUNTS
from astgenre.metrics import track_metrics
from astgenre.report import PAPER_DIR, REPORT_CAPTIONS, REPORT_FILES, build_report, paper_files, runs_frame
from astgenre.report import formatting as fmt
from astgenre.report.literature import read_literature, reference_accuracy
from astgenre.report.paper import DEFAULT_FORMATS, PAPER_FIGURES
from astgenre.report.runs import PATH_COLUMNS, load_runs
from astgenre.report.stats import (
    MCNEMAR_TEST,
    PAIRED_T_TEST,
    PERMUTATION_TEST,
    WILCOXON_TEST,
    bootstrap_ci,
    describe,
    equality_tolerance,
    mcnemar_exact,
    paired_permutation_test,
    paired_seed_tests,
    t_interval,
)
from astgenre.report.tables import interval_cell

REPO = Path(__file__).resolve().parents[1]
LITERATURE = REPO / "workflow" / "report" / "literature_ismir2004.csv"
CLASS_WEIGHTS = np.array([0.44, 0.16, 0.04, 0.06, 0.14, 0.16])  # roughly the ISMIR2004 class shares
STRENGTH = {"none": 1.6, "inverse_frequency": 2.2, "reference_replica": 1.9}


# ---------------------------------------------------------------- generated run files


def _tracks(split: str, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(SPLITS.index(split))
    labels = np.asarray(CLASSES)[rng.choice(len(CLASSES), size=n, p=CLASS_WEIGHTS)]
    labels[: len(CLASSES)] = CLASSES  # every class present
    return pd.DataFrame({"track_id": [f"{split[:3]}{i:04d}" for i in range(n)], "split": split, "label": labels})


def _predictions(tracks: pd.DataFrame, strength: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed + int(10 * strength))
    logits = rng.normal(size=(len(tracks), len(CLASSES)))
    logits[np.arange(len(tracks)), [CLASSES.index(c) for c in tracks["label"]]] += strength
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = tracks.copy()
    frame["predicted"] = np.asarray(CLASSES)[probs.argmax(axis=1)]
    frame["n_windows"] = rng.integers(1, 12, size=len(tracks))
    for k, cls in enumerate(CLASSES):
        frame[f"prob_{cls}"] = probs[:, k]
    return frame


def _history(seed: int, strength: float, epochs: int = 4) -> pd.DataFrame:
    rows = []
    for epoch in range(1, epochs + 1):
        for step_in_epoch in (1, 2):
            step = (epoch - 1) * 2 + step_in_epoch
            rows.append(
                {
                    "epoch": epoch - 1 + step_in_epoch / 2,
                    "step": step,
                    "train_loss": 1.8 / step + 0.05 * seed,
                    "learning_rate": 1e-5,
                }
            )
        rows.append(
            {
                "epoch": epoch,
                "step": epoch * 2,
                "dev_loss": 1.0 / epoch,
                "dev_accuracy": 0.5 + 0.05 * epoch,
                "dev_macro_f1": min(0.95, 0.3 + strength * 0.05 * epoch + 0.02 * seed),
                "dev_balanced_accuracy": 0.5,
                "dev_weighted_f1": 0.6 - 0.05 * abs(epoch - 2),  # peaks at epoch 2, before the last
            }
        )
    return pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))


def write_runs(root: Path, variants: list[str], seeds: list[int], n_tracks: int = 90) -> pd.DataFrame:
    """Predictions, metrics and history files for every (variant, seed), as the workflow writes them."""
    tracks = {split: _tracks(split, n_tracks) for split in ("development", "evaluation")}
    rows = []
    for variant in variants:
        for seed in seeds:
            run_dir = root / "runs" / variant / f"seed{seed}"
            run_dir.mkdir(parents=True)
            row = {"variant": variant, "seed": seed}
            for split, split_tracks in tracks.items():
                frame = _predictions(split_tracks, STRENGTH[variant] + 0.3 * (split == "development"), seed)
                frame.to_csv(run_dir / f"predictions_{split}.tsv", sep="\t", index=False, float_format="%.6g")
                metrics = {
                    "variant": variant,
                    "seed": seed,
                    "split": split,
                    **track_metrics(frame["label"], frame[[f"prob_{c}" for c in CLASSES]].to_numpy()),
                }
                (run_dir / f"metrics_{split}.json").write_text(json.dumps(metrics))
                row[f"predictions_{split}"] = run_dir / f"predictions_{split}.tsv"
                row[f"metrics_{split}"] = run_dir / f"metrics_{split}.json"
            history = _history(seed, STRENGTH[variant])
            history.to_csv(run_dir / "history.tsv", sep="\t", index=False)
            row["history"] = run_dir / "history.tsv"
            metric = "weighted_f1" if variant == "reference_replica" else "macro_f1"
            evaluations = history.dropna(subset=[f"dev_{metric}"])
            best = evaluations.loc[evaluations[f"dev_{metric}"].idxmax()]
            summary = {
                "variant": variant,
                "seed": seed,
                "select_metric": metric,
                "best_dev_metric": float(best[f"dev_{metric}"]),
                "selected_step": int(best["step"]),
                "recipe": {"weighting": "inverse_frequency" if variant == "inverse_frequency" else "none"},
            }
            (run_dir / "train_summary.json").write_text(json.dumps(summary))
            row["train_summary"] = run_dir / "train_summary.json"
            rows.append(row)
    return pd.DataFrame(rows)


def write_index_summary(path: Path) -> Path:
    summary = {
        "tracks": 2187,
        "per_split": {split: dict(TRAINING_COUNTS) for split in SPLITS},
        "artists": {"training": 120, "development": 118, "evaluation": 119},
        "artist_overlap": {"training-evaluation": 97, "training-development": None, "development-evaluation": None},
        "note": "Artists are shared between the official splits.",
    }
    path.write_text(json.dumps(summary))
    return path


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("study")
    runs = write_runs(root, ["none", "inverse_frequency", "reference_replica"], [0, 1, 2])
    out = root / "report"
    return out, build_report(runs, write_index_summary(root / "index_summary.json"), out, LITERATURE, n_boot=200)


@pytest.fixture(scope="module")
def single_report(tmp_path_factory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("single")
    runs = write_runs(root, ["inverse_frequency"], [0])
    out = root / "report"
    return out, build_report(runs, write_index_summary(root / "index_summary.json"), out, LITERATURE, n_boot=200)


# ---------------------------------------------------------------- statistics


def test_t_interval_matches_scipy():
    values = [0.81, 0.84, 0.79, 0.86]
    expected = stats.t.interval(0.95, df=3, loc=np.mean(values), scale=stats.sem(values))
    assert t_interval(values) == pytest.approx(expected)
    summary = describe(values)
    assert summary["std"] == pytest.approx(np.std(values, ddof=1))
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx(expected)


def test_single_value_has_no_spread():
    summary = describe([0.8])
    assert summary["mean"] == 0.8 and math.isnan(summary["std"]) and math.isnan(summary["ci_low"])


def test_paired_tests_match_scipy():
    baseline = {0: 0.80, 1: 0.82, 2: 0.78, 3: 0.81}
    variant = {0: 0.83, 1: 0.82, 2: 0.84, 3: 0.86, 9: 0.99}  # seed 9 has no partner
    t_result, w_result = paired_seed_tests(baseline, variant)
    a, b = [baseline[s] for s in range(4)], [variant[s] for s in range(4)]
    assert t_result.test == PAIRED_T_TEST and w_result.test == WILCOXON_TEST
    assert t_result.p_value == pytest.approx(stats.ttest_rel(b, a).pvalue)
    assert t_result.statistic == pytest.approx(stats.ttest_rel(b, a).statistic)
    assert w_result.p_value == pytest.approx(stats.wilcoxon(b, a).pvalue)
    assert t_result.n == 4 and "[9]" in t_result.note
    assert "zero difference" in w_result.note


@pytest.mark.parametrize(
    ("baseline", "variant", "reason"),
    [
        ({0: 0.8}, {0: 0.9}, "1 paired seed"),
        ({0: 0.8, 1: 0.7}, {0: 0.9, 1: 0.75}, "too few seeds: 2 paired seed(s)"),
        ({0: 0.8, 1: 0.7, 2: 0.6}, {0: 0.8, 1: 0.7, 2: 0.6}, "all paired differences are zero"),
    ],
)
def test_paired_tests_not_run_say_why(baseline, variant, reason):
    for result in paired_seed_tests(baseline, variant):
        assert math.isnan(result.p_value) and reason in result.note


def test_differences_equal_up_to_float_noise_have_zero_variance():
    """The demo's case: +2/75 on every seed, equal in exact arithmetic, 1e-16 apart in floating point."""
    tolerance = equality_tolerance(75)
    two = paired_seed_tests({0: 68 / 75, 1: 70 / 75}, {0: 70 / 75, 1: 72 / 75}, tolerance)
    assert all(math.isnan(r.p_value) and r.note.startswith("too few seeds") for r in two)
    baseline, variant = {0: 68 / 75, 1: 70 / 75, 2: 66 / 75}, {0: 70 / 75, 1: 72 / 75, 2: 68 / 75}
    differences = [variant[s] - baseline[s] for s in range(3)]
    assert len(set(differences)) > 1  # the float noise is real
    t_result, w_result = paired_seed_tests(baseline, variant, tolerance)
    assert math.isnan(t_result.p_value) and "zero variance" in t_result.note
    assert w_result.p_value == pytest.approx(2 / 2**3)  # three positive differences: the exact floor
    assert "smallest possible p with 3 nonzero difference(s): 0.25" in w_result.note


def _wilcoxon_exact(differences) -> float:
    """Two-sided exact signed-rank p by enumerating every sign pattern (no ties, no zeros in the fixture)."""
    ranks = stats.rankdata(np.abs(differences))
    observed = ranks[np.asarray(differences) > 0].sum()
    patterns = itertools.product([0, 1], repeat=len(ranks))
    totals = [sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in patterns]
    centre = ranks.sum() / 2
    return min(1.0, np.mean([abs(t - centre) >= abs(observed - centre) - 1e-12 for t in totals]))


def _sign_flip_exact(d) -> float:
    """Two-sided p of the sum of per-track differences by enumerating every sign pattern of the nonzero tracks."""
    nonzero = [x for x in d if x]
    observed = abs(sum(d))
    patterns = itertools.product([1, -1], repeat=len(nonzero))
    sums = [abs(sum(s * x for s, x in zip(signs, nonzero, strict=True))) for signs in patterns]
    return float(np.mean([x >= observed for x in sums]))


def _holm(p_values) -> list[float]:
    order = np.argsort(p_values)
    adjusted, running = np.empty(len(p_values)), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted.tolist()


FIVE_SEEDS_BASELINE = {0: 0.800, 1: 0.812, 2: 0.790, 3: 0.805, 4: 0.798}
FIVE_SEEDS_VARIANT = {0: 0.821, 1: 0.819, 2: 0.815, 3: 0.806, 4: 0.829}


def test_five_seeds_tests_and_intervals_against_independent_computations():
    """The full study's design (5 seeds): each p-value and interval recomputed from its textbook definition."""
    d = np.array([FIVE_SEEDS_VARIANT[s] - FIVE_SEEDS_BASELINE[s] for s in range(5)])
    t_result, w_result = paired_seed_tests(FIVE_SEEDS_BASELINE, FIVE_SEEDS_VARIANT, equality_tolerance(729))
    t_expected = d.mean() / (d.std(ddof=1) / math.sqrt(5))
    assert t_result.statistic == pytest.approx(t_expected, rel=1e-6)
    assert t_result.p_value == pytest.approx(2 * stats.t.sf(abs(t_expected), df=4), rel=1e-6)
    assert w_result.p_value == pytest.approx(_wilcoxon_exact(d)) and w_result.p_value == pytest.approx(0.0625)
    values = list(FIVE_SEEDS_VARIANT.values())
    half = stats.t.ppf(0.975, 4) * np.std(values, ddof=1) / math.sqrt(5)
    assert t_interval(values) == pytest.approx((np.mean(values) - half, np.mean(values) + half))
    # by hand: mean 0.818, sd sqrt(284e-6 / 4) = 0.0084261, half-width 2.7764 x 0.0084261 / sqrt(5) = 0.010462
    assert t_interval(values) == pytest.approx((0.807538, 0.828462), abs=1e-6)


def test_permutation_over_tracks_keeps_each_tracks_seeds_together():
    """The same 4 tracks flip in each of 3 seeds: pooled McNemar would count 12 independent pairs (p = 2/4096);
    the tracks are only 4, each 3 better under the variant, so the exact p is 2/16."""
    baseline = np.ones((3, 50), dtype=bool)
    baseline[:, :4] = False
    variant = np.ones((3, 50), dtype=bool)
    result = paired_permutation_test(baseline, variant)
    assert result.test == PERMUTATION_TEST and result.statistic == 12 and result.discordant == (0, 12)
    assert result.p_value == pytest.approx(2 / 16)
    pooled = mcnemar_exact(baseline.ravel(), variant.ravel())
    assert pooled.p_value == pytest.approx(2 / 4096)


def test_permutation_with_one_seed_is_mcnemars_exact_test():
    rng = np.random.default_rng(7)
    baseline, variant = rng.random((1, 120)) < 0.7, rng.random((1, 120)) < 0.8
    result = paired_permutation_test(baseline, variant)
    assert result.p_value == pytest.approx(mcnemar_exact(baseline[0], variant[0]).p_value)


def test_permutation_matches_enumeration_on_mixed_tracks():
    rng = np.random.default_rng(11)
    baseline = rng.random((5, 40)) < 0.75
    variant = baseline.copy()
    flips = rng.choice(40, size=12, replace=False)
    variant[rng.integers(0, 5, 12), flips] ^= True
    variant[rng.integers(0, 5, 12), flips] ^= True
    d = variant.sum(axis=0).astype(int) - baseline.sum(axis=0).astype(int)
    assert 0 < np.count_nonzero(d) <= 16
    assert paired_permutation_test(baseline, variant).p_value == pytest.approx(_sign_flip_exact(d.tolist()))


def test_mcnemar_exact_matches_statsmodels_and_binomial():
    # 1 track right only under the baseline, 9 right only under the variant, 20 right under both.
    baseline = [True] * 20 + [True] + [False] * 9
    variant = [True] * 20 + [False] + [True] * 9
    result = mcnemar_exact(baseline, variant)
    assert result.test == MCNEMAR_TEST and result.discordant == (1, 9)
    assert result.p_value == pytest.approx(2 * (1 + 10) / 2**10)  # two-sided exact binomial, hand-computed
    assert result.p_value == pytest.approx(mcnemar([[20, 1], [9, 0]], exact=True).pvalue)
    assert math.isnan(mcnemar_exact([True, False], [True, False]).p_value)


def test_bootstrap_is_deterministic_and_agrees_with_sklearn():
    rng = np.random.default_rng(3)
    labels = np.asarray(CLASSES)[rng.integers(0, len(CLASSES), 200)]
    predicted = np.where(rng.random(200) < 0.7, labels, np.asarray(CLASSES)[rng.integers(0, len(CLASSES), 200)])
    first = bootstrap_ci(labels, predicted, n_boot=300, seed=5)
    assert first == bootstrap_ci(labels, predicted, n_boot=300, seed=5)
    assert first != bootstrap_ci(labels, predicted, n_boot=300, seed=6)
    point = {
        "accuracy": accuracy_score(labels, predicted),
        "balanced_accuracy": balanced_accuracy_score(labels, predicted),
        "macro_f1": f1_score(labels, predicted, average="macro"),
    }
    for metric, (low, high) in first.items():
        assert low < point[metric] < high
        assert 0.02 < high - low < 0.3
    # the accuracy interval equals the percentiles of sklearn accuracy on the same resamples
    samples = np.random.default_rng(5).integers(0, 200, size=(300, 200))
    accuracies = [accuracy_score(labels[s], predicted[s]) for s in samples]
    assert first["accuracy"] == pytest.approx(tuple(np.percentile(accuracies, [2.5, 97.5])))


def test_formatting_is_percent_with_one_decimal():
    assert fmt.mean_std(0.8432, 0.0121) == "84.3 ± 1.2"
    assert fmt.mean_std(0.8432, float("nan")) == "84.3"
    assert fmt.mean_std_interval(0.8, 0.01, 0.78, 0.82) == "80.0 ± 1.0 [78.0, 82.0]"
    assert fmt.p_value(0.0004) == "< 0.001" and fmt.p_value(0.04567) == "0.0457"
    assert fmt.signed_points(-0.013) == "-1.3"


def test_literature_file_holds_the_reference_notebook():
    literature = read_literature(LITERATURE)
    assert reference_accuracy(literature) == pytest.approx(0.8615)
    assert set(literature["verified"]) <= {"yes", "secondary", "number only"}


def test_literature_in_fractions_is_rejected(tmp_path):
    path = tmp_path / "literature.csv"
    header = "method,authors,year,venue,accuracy_percent,metric,protocol,test_split,protocol_detail,source,verified"
    path.write_text(f"{header}\nX,A. B,2004,ISMIR,0.84,accuracy,official,evaluation,contest,paper,yes\n")
    with pytest.raises(ValueError, match="percentage"):
        read_literature(path)


# ---------------------------------------------------------------- reading runs


def test_runs_frame_requires_parallel_lists():
    paths = {name: ["a.tsv"] for name in PATH_COLUMNS}
    assert list(runs_frame(["none"], [0], paths)["seed"]) == [0]
    with pytest.raises(ValueError, match="parallel"):
        runs_frame(["none", "none"], [0, 1], paths)


def test_missing_and_malformed_files_are_named(tmp_path):
    runs = write_runs(tmp_path, ["none"], [0], n_tracks=20)
    broken = runs.copy()
    broken.loc[0, "history"] = tmp_path / "nowhere.tsv"
    with pytest.raises(FileNotFoundError, match="nowhere.tsv"):
        load_runs(broken)
    predictions = Path(runs.loc[0, "predictions_evaluation"])
    frame = pd.read_csv(predictions, sep="\t")
    frame.loc[0, "prob_world"] += 0.5
    frame.to_csv(predictions, sep="\t", index=False)
    with pytest.raises(ValueError, match="sum to 1"):
        load_runs(runs)


def test_metrics_of_another_run_are_rejected(tmp_path):
    runs = write_runs(tmp_path, ["none"], [0, 1], n_tracks=20)
    runs.loc[0, "metrics_evaluation"] = runs.loc[1, "metrics_evaluation"]
    with pytest.raises(ValueError, match="runs table expects"):
        load_runs(runs)


# ---------------------------------------------------------------- build_report


def _check_outputs(out: Path, written: list[Path]) -> None:
    paper = [out / PAPER_DIR / relative for relative in paper_files(DEFAULT_FORMATS).values()]
    assert sorted(written) == sorted([*(out / name for name in REPORT_FILES.values()), *paper])
    for path in written:
        assert path.is_file() and path.stat().st_size > 0, path
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            height, width, _ = mpimg.imread(path).shape
            assert 400 < width < 4000 and 300 < height < 4000, (path.name, width, height)


def test_full_report_writes_every_file(full_report):
    out, written = full_report
    _check_outputs(out, written)
    assert "±" in (out / "table.md").read_text()


def test_variant_table_summarises_seeds(full_report):
    out, _ = full_report
    table = pd.read_csv(out / "table.csv").set_index("variant")
    runs = pd.read_csv(out / "runs.csv")
    none = runs[runs["variant"] == "none"]["eval_accuracy"]
    assert table.loc["none", "n_seeds"] == 3
    assert table.loc["none", "eval_accuracy_mean"] == pytest.approx(none.mean())
    assert table.loc["none", "eval_accuracy_std"] == pytest.approx(none.std(ddof=1))
    assert (table.loc["none", "eval_accuracy_ci_low"], table.loc["none", "eval_accuracy_ci_high"]) == pytest.approx(
        t_interval(none)
    )
    # the best variant is chosen on the development split
    assert table["best"].sum() == 1
    assert table["dev_macro_f1_mean"].idxmax() == table.index[table["best"]][0]
    assert (runs["eval_accuracy_boot_low"] < runs["eval_accuracy"]).all()
    assert (runs["eval_accuracy"] < runs["eval_accuracy_boot_high"]).all()


def test_comparison_against_none(full_report):
    out, _ = full_report
    comparison = pd.read_csv(out / "comparison.csv")
    assert set(comparison["variant"]) == {"inverse_frequency", "reference_replica"}
    assert set(comparison["test"]) == {PAIRED_T_TEST, WILCOXON_TEST, PERMUTATION_TEST, MCNEMAR_TEST}
    mcnemar_rows = comparison[comparison["test"] == MCNEMAR_TEST]
    assert (mcnemar_rows["metric"] == "accuracy").all() and (mcnemar_rows["n"] == 90).all()  # one seed each
    assert sorted(mcnemar_rows["seed"].astype(int)) == [0, 0, 1, 1, 2, 2] and mcnemar_rows["p_holm"].isna().all()
    permutation = comparison[comparison["test"] == PERMUTATION_TEST]
    assert len(permutation) == 2 and (permutation["n"] == 90).all()
    assert comparison["p_value"].between(0, 1).all()
    # Holm over the whole family the table shows: every test over seeds and over tracks, all variants and metrics
    family = comparison[comparison["seed"].isna() & comparison["p_value"].notna()]
    assert len(family) == 2 * 3 * 2 + 2
    assert family["p_holm"].tolist() == pytest.approx(_holm(family["p_value"].to_numpy()))
    text = (out / "comparison.md").read_text()
    assert "McNemar" in text and "Holm" in text and "cannot go below p = 0.25 with 3 seeds" in text


def test_permutation_row_recomputed_from_the_predictions(full_report, tmp_path_factory):
    """The report's test over tracks equals a brute-force sign-flip enumeration on the run files' predictions."""
    out, _ = full_report
    runs = pd.read_csv(out / "runs.csv")
    comparison = pd.read_csv(out / "comparison.csv")
    row = comparison[(comparison["test"] == PERMUTATION_TEST) & (comparison["variant"] == "inverse_frequency")].iloc[0]
    root = out.parent
    correct = {}
    for variant in ("none", "inverse_frequency"):
        frames = [
            pd.read_csv(root / "runs" / variant / f"seed{seed}" / "predictions_evaluation.tsv", sep="\t")
            for seed in sorted(runs["seed"].unique())
        ]
        ordered = [f.sort_values("track_id") for f in frames]
        correct[variant] = np.array([(f["label"] == f["predicted"]).to_numpy() for f in ordered])
    d = correct["inverse_frequency"].sum(axis=0).astype(int) - correct["none"].sum(axis=0).astype(int)
    assert row["statistic"] == d.sum()
    rng = np.random.default_rng(0)
    signs = rng.choice([-1, 1], size=(200_000, d.size))
    monte_carlo = np.mean(np.abs(signs @ d) >= abs(d.sum()))
    assert row["p_value"] == pytest.approx(monte_carlo, abs=0.005)


def test_literature_and_summary_show_replica_on_both_splits(full_report):
    out, _ = full_report
    literature = pd.read_csv(out / "literature.csv", keep_default_na=False, na_values={"accuracy_std": [""]})
    replica = literature[literature["method"].str.contains("reference_replica")]
    assert len(replica) == 2
    assert set(zip(replica["protocol"], replica["test_split"], strict=True)) == {
        ("official", "evaluation"),
        ("literature", "development"),
    }
    assert (literature["accuracy"] <= 1).all()
    summary = (out / "summary.md").read_text()
    assert "86.15%" in summary and "training-evaluation: 97 shared artist(s)" in summary
    assert "Artists are shared between the official splits." in summary


SPLIT_COUNTS = {  # the real ISMIR2004 class counts, different in each split
    "training": (320, 115, 26, 45, 101, 122),
    "development": (320, 114, 26, 45, 102, 122),
    "evaluation": (319, 115, 26, 45, 101, 123),
}


@pytest.fixture(scope="module")
def literature_report(tmp_path_factory) -> Path:
    """Three variants x three seeds and the baseline system mfcc_svm, run under the official split and, per
    protocols.csv, the literature protocol and artist-filtered folds; an index with each split's own class counts."""
    from astgenre.report.protocols import protocol_table

    root = tmp_path_factory.mktemp("literature")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(STRENGTH, "mfcc_svm", 1.0)
        runs = pd.concat(
            [
                write_runs(root / "a", ["none", "inverse_frequency", "reference_replica"], [0, 1, 2]),
                write_runs(root / "b", ["mfcc_svm"], [0]),
            ]
        ).reset_index(drop=True)
    summary_path = Path(runs.iloc[-1]["train_summary"])
    summary_path.write_text(json.dumps({**json.loads(summary_path.read_text()), "kind": "baseline"}))
    index = json.loads(write_index_summary(root / "index_summary.json").read_text())
    index["per_split"] = {split: dict(zip(CLASSES, counts, strict=True)) for split, counts in SPLIT_COUNTS.items()}
    (root / "index_summary.json").write_text(json.dumps(index))
    scores = [
        {"protocol": protocol, "variant": variant, "seed": seed, "folds": folds, "n_tracks": 729}
        | {
            metric: 0.5 + 0.1 * k + 0.013 * seed + 0.07 * (variant == "none")
            for metric in ("accuracy", "balanced_accuracy", "macro_f1")
        }
        for k, (protocol, folds) in enumerate([("official", 1), ("literature", 1), ("artist_filtered", 5)])
        for variant, seeds in (("none", [0, 1, 2]), ("reference_replica", [0, 1]), ("mfcc_svm", [0]))
        for seed in seeds
    ]
    protocol_table(pd.DataFrame(scores)).to_csv(root / "protocols.csv", index=False)
    out = root / "report"
    build_report(runs, root / "index_summary.json", out, LITERATURE, n_boot=50, protocols=root / "protocols.csv")
    return out


def _literature_rows(report: Path) -> list[dict[str, str]]:
    """literature.md's table, one dict per row keyed by the header; the protocol filled down its group."""
    lines = [line for line in (report / "literature.md").read_text().splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines if not line.startswith("|---")]
    headers, rows, group = split[0], [], None
    for cells in split[1:]:
        row = dict(zip(headers, cells, strict=True))
        group = row["Protocol"] or group
        rows.append(row | {"Protocol": group})
    return rows


def test_literature_table_shows_every_published_number_and_citation(literature_report):
    published = pd.read_csv(LITERATURE, dtype=str, keep_default_na=False)
    shown = {row["Method"]: row for row in _literature_rows(literature_report)}
    assert len(published) == sum(row["Citation"] not in ("this study", "–") for row in shown.values())
    marks = {"yes": "", "secondary": " (secondhand)", "number only": " (number only: protocol not read)"}
    for source in published.to_dict("records"):
        row = shown[source["method"]]
        assert row["Citation"] == f"{source['authors']} ({source['year']}), {source['venue']}"
        assert row["Accuracy (%)"] == source["accuracy_percent"]  # as published, digit for digit
        assert row["Runs"] == "–"
        metric = "" if source["metric"] == "accuracy" else f"; {source['metric']}"
        assert row["Measured as"] == source["protocol_detail"] + metric
        assert row["Number read in"] == source["source"] + marks[source["verified"]]
    table = pd.read_csv(literature_report / "literature.csv", dtype=str, keep_default_na=False)
    rows = table[table["kind"] == "published"].set_index("method")
    for source in published.to_dict("records"):
        row = rows.loc[source["method"]]
        assert float(row["accuracy"]) == pytest.approx(float(source["accuracy_percent"]) / 100, abs=1e-12)
        for column in ("authors", "year", "venue", "metric", "protocol", "test_split", "protocol_detail", "source"):
            assert row[column] == source[column], (source["method"], column)
        assert row["verified"] == source["verified"]


def test_literature_table_groups_by_protocol(literature_report):
    published = pd.read_csv(LITERATURE, dtype=str, keep_default_na=False).set_index("method")
    titles = {  # the group titles the table shows, by the protocol column of the literature file
        "official": "official split (test: evaluation)",
        "literature": "literature protocol (test: development)",
        "cross-validation": "cross-validation (pooled tracks; ours artist-filtered)",
        "unknown": "protocol not stated",
    }
    rows = _literature_rows(literature_report)
    assert list(dict.fromkeys(row["Protocol"] for row in rows)) == list(titles.values())
    for row in rows:
        if row["Method"] in published.index:
            assert row["Protocol"] == titles[published.loc[row["Method"], "protocol"]], row["Method"]
    for title in titles.values():  # in each group: published, ours, then majority class and chance
        kinds = [
            "published" if row["Method"] in published.index else "ours" if row["Citation"] == "this study" else "ref"
            for row in rows
            if row["Protocol"] == title
        ]
        assert kinds == sorted(kinds, key=["published", "ours", "ref"].index), title
    table = pd.read_csv(literature_report / "literature.csv", keep_default_na=False)
    assert list(table["method"]) == [row["Method"] for row in rows]


def test_chance_and_majority_rows_come_from_the_test_split(literature_report):
    tests = {
        "official split (test: evaluation)": np.array(SPLIT_COUNTS["evaluation"]),
        "literature protocol (test: development)": np.array(SPLIT_COUNTS["development"]),
        "cross-validation (pooled tracks; ours artist-filtered)": np.add(
            SPLIT_COUNTS["training"], SPLIT_COUNTS["evaluation"]
        ),
    }
    rows = _literature_rows(literature_report)
    table = pd.read_csv(literature_report / "literature.csv", keep_default_na=False)
    for title, counts in tests.items():
        group = [row for row in rows if row["Protocol"] == title]
        chance = [row for row in group if row["Method"].startswith("chance")]
        majority = [row for row in group if row["Method"].startswith("majority class")]
        assert len(chance) == len(majority) == 1, title
        assert chance[0]["Accuracy (%)"] == f"{100 / 6:.1f}"
        assert majority[0]["Accuracy (%)"] == f"{100 * counts.max() / counts.sum():.1f}"
        assert CLASSES[int(counts.argmax())] in majority[0]["Method"]
    references = table[table["kind"] == "reference"]
    chances = references[references["method"].str.startswith("chance")]
    assert list(chances["accuracy"]) == pytest.approx([1 / 6] * 3)
    majorities = references[references["method"].str.startswith("majority")]
    assert list(majorities["accuracy"]) == pytest.approx([c.max() / c.sum() for c in tests.values()])
    assert not any(row["Protocol"] == "protocol not stated" and row["Citation"] == "–" for row in rows)


def test_our_numbers_in_the_literature_table_equal_their_tables(literature_report):
    variants = pd.read_csv(literature_report / "table.csv").set_index("variant")
    protocols = pd.read_csv(literature_report.parent / "protocols.csv").set_index(["protocol", "variant"])
    table = pd.read_csv(literature_report / "literature.csv", keep_default_na=False, na_values={"accuracy_std": [""]})
    ours = table[table["kind"] == "ours"]

    def cell(mean: float, std: float) -> str:
        return f"{100 * mean:.1f}" if math.isnan(std) else f"{100 * mean:.1f} ± {100 * std:.1f}"

    shown = [row for row in _literature_rows(literature_report) if row["Citation"] == "this study"]
    assert len(shown) == len(ours)
    expected = []
    official = ours[ours["protocol"] == "official"]
    best = variants.index[variants["best"]][0]
    assert official["variant"].iloc[0] == best
    assert set(official["variant"]) == {best, "reference_replica", "mfcc_svm"}
    for variant in official["variant"]:
        expected.append(
            (variant, variants.loc[variant, "eval_accuracy_mean"], variants.loc[variant, "eval_accuracy_std"])
        )
    for protocol, group in (("literature", "literature"), ("artist_filtered", "cross-validation")):
        rows = ours[(ours["protocol"] == group) & ours["source"].str.contains("protocols.csv")]
        assert list(rows["variant"]) == ["none", "reference_replica", "mfcc_svm"]
        if group == "literature":  # a baseline system chooses hyperparameters where AST chooses a checkpoint
            details = dict(zip(rows["variant"], rows["protocol_detail"], strict=True))
            assert "chooses the checkpoint" in details["none"]
            assert "chooses the hyperparameters" in details["mfcc_svm"] and "checkpoint" not in details["mfcc_svm"]
        expected += [
            (v, protocols.loc[(protocol, v), "accuracy_mean"], protocols.loc[(protocol, v), "accuracy_std"])
            for v in rows["variant"]
        ]
        if group == "literature":  # then the replica as the notebook measured itself: on development
            replica = variants.loc["reference_replica"]
            expected.append(("reference_replica", replica["dev_accuracy_mean"], replica["dev_accuracy_std"]))
    assert len(expected) == len(ours)
    for (variant, mean, std), row, markdown in zip(expected, ours.to_dict("records"), shown, strict=True):
        assert row["variant"] == variant
        assert row["accuracy"] == pytest.approx(mean, abs=1e-12)
        assert (math.isnan(std) and math.isnan(row["accuracy_std"])) or row["accuracy_std"] == pytest.approx(std)
        assert markdown["Accuracy (%)"] == cell(mean, std)
    summary = (literature_report / "summary.md").read_text()
    assert f"ours {cell(variants.loc[best, 'eval_accuracy_mean'], variants.loc[best, 'eval_accuracy_std'])} " in summary


def test_literature_table_without_protocols_says_so(single_report):
    out, _ = single_report
    table = pd.read_csv(out / "literature.csv", keep_default_na=False)
    assert set(table.loc[table["kind"] == "ours", "source"]) == {"this study (table.csv)"}
    text = (out / "literature.md").read_text()
    assert "did not run the literature protocol" in text and "did not run the artist-filtered protocol" in text


def test_single_run_without_baseline(single_report):
    out, written = single_report
    _check_outputs(out, written)
    table = pd.read_csv(out / "table.csv")
    assert len(table) == 1 and math.isnan(table.loc[0, "eval_accuracy_std"])
    assert table.loc[0, "eval_accuracy_boot_low"] < table.loc[0, "eval_accuracy_mean"]
    assert "not among the runs" in (out / "comparison.md").read_text()
    assert "± " not in (out / "table.md").read_text().split("## Per-class")[0].split("|---")[1]
    assert "was not run" in (out / "literature.md").read_text()


def test_two_seeds_give_no_test_over_seeds_and_flagged_intervals(tmp_path):
    runs = write_runs(tmp_path, ["none", "inverse_frequency"], [0, 1], n_tracks=90)
    out = tmp_path / "report"
    build_report(runs, write_index_summary(tmp_path / "index_summary.json"), out, LITERATURE, n_boot=100)
    comparison = pd.read_csv(out / "comparison.csv")
    over_seeds = comparison[comparison["test"].isin([PAIRED_T_TEST, WILCOXON_TEST])]
    assert over_seeds["p_value"].isna().all() and over_seeds["note"].str.startswith("too few seeds").all()
    text = (out / "comparison.md").read_text()
    assert "too few seeds" in text and "cannot go below p = 0.5 with 2 seeds" in text
    table = pd.read_csv(out / "table.csv")
    assert table["few_seeds"].all()
    markdown = (out / "table.md").read_text()
    assert "]†" in markdown.split("## Per-class")[0] and "fewer than 3 seeds" in markdown
    summary = (out / "summary.md").read_text()
    section = summary.split("## Against the baseline")[1].split("##")[0]
    assert f"{PAIRED_T_TEST}: too few seeds" in section and f"{WILCOXON_TEST}: too few seeds" in section
    assert f"{PERMUTATION_TEST}: p = " in section  # the test over tracks still speaks, Holm-adjusted


def test_a_clipped_interval_is_marked_as_clipped():
    row = {"m_mean": 0.97, "m_std": 0.04, "m_ci_low": 0.61, "m_ci_high": 1.0, "m_ci_clipped": True, "few_seeds": True}
    assert interval_cell(row, "m") == "97.0 ± 4.0 [61.0, 100.0 (clipped)]†"
    row.update(m_ci_high=0.99, m_ci_clipped=False, few_seeds=False)
    assert interval_cell(row, "m") == "97.0 ± 4.0 [61.0, 99.0]"


# ---------------------------------------------------------------- figures: what is drawn, read back


@pytest.fixture(scope="module")
def drawn(full_report, tmp_path_factory):
    """The report's figures drawn again from its own tables, returned as matplotlib Figures."""
    from astgenre.report import figures

    out, _ = full_report
    runs_table = pd.read_csv(out / "runs.csv")
    variants_table = pd.read_csv(out / "table.csv")
    root = out.parent

    def files(name: str) -> list[Path]:
        suffix = "json" if name.startswith(("metrics", "train")) else "tsv"
        pairs = zip(runs_table["variant"], runs_table["seed"], strict=True)
        return [root / "runs" / variant / f"seed{seed}" / f"{name}.{suffix}" for variant, seed in pairs]

    study = load_runs(
        runs_frame(list(runs_table["variant"]), list(runs_table["seed"]), {n: files(n) for n in PATH_COLUMNS})
    )
    # one variant with an interval clipped at 100% and two seeds, as a 2-seed study of a near-perfect model has
    clipped = variants_table.copy()
    clipped.loc[0, ["eval_accuracy_ci_high", "eval_accuracy_ci_clipped", "few_seeds"]] = [1.0, True, True]
    folder = tmp_path_factory.mktemp("figures")
    variants = tuple(variants_table["variant"])
    evaluation = study.predictions[study.predictions["split"] == "evaluation"]
    return {
        "study": study,
        "recall": figures.recall_figure(runs_table, variants, folder / "recall.png"),
        "forest": figures.forest_figure(clipped, 0.8615, folder / "forest.png"),
        "curves": figures.training_curves_figure(study.history, study.training, variants, folder / "curves.png"),
        "variants": figures.variants_figure(runs_table, variants, folder / "variants.png"),
        "roc": figures.roc_figure(evaluation[evaluation["variant"] == "none"], "none", folder / "roc.png"),
    }


def test_no_error_bar_of_the_recall_figure_leaves_0_to_100_percent(drawn):
    ax = drawn["recall"].axes[0]
    whiskers = np.concatenate([line.get_ydata() for line in ax.lines])
    whiskers = whiskers[np.isfinite(whiskers)]
    assert whiskers.size > 0 and whiskers.min() >= 0 and whiskers.max() <= 1
    assert ax.get_ylim()[1] <= 1.05


def test_the_forest_plot_stays_in_range_and_marks_the_clipped_bound(drawn):
    ax = drawn["forest"].axes[0]
    low, high = ax.get_xlim()
    assert low >= -0.01 and high <= 1.01
    segments = np.concatenate([c.get_segments() for c in ax.collections if hasattr(c, "get_segments")])
    assert segments[:, :, 0].min() >= 0 and segments[:, :, 0].max() <= 1
    arrows = [line for line in ax.lines if line.get_marker() == ">"]
    assert len(arrows) == 1 and arrows[0].get_xdata()[0] == 1.0 and arrows[0].get_ydata()[0] == 0
    dashed = [c for c in ax.collections if c.get_linestyle()[0][1] is not None]
    assert dashed, "the 2-seed interval is drawn dashed"
    labels = [t.get_text() for t in drawn["forest"].legends[0].get_texts()]
    assert "interval clipped at 100%" in labels and "t-interval over < 3 seeds: uninformative" in labels


def test_training_curves_plot_each_runs_own_selection_metric_and_star_its_epoch(drawn):
    fig, training = drawn["curves"], drawn["study"].training
    axes = np.array(fig.axes[: 2 * 3]).reshape(2, 3)
    for column, variant in enumerate(("none", "inverse_frequency", "reference_replica")):
        metric_ax = axes[1, column]
        label = "weighted F1" if variant == "reference_replica" else "macro-F1"
        assert label in metric_ax.get_ylabel()
        stars = [line for line in metric_ax.lines if line.get_marker() == "*"]
        expected = training[training["variant"] == variant].sort_values("seed")["best_dev_metric"].tolist()
        assert sorted(float(star.get_ydata()[0]) for star in stars) == pytest.approx(sorted(expected))
    assert axes[1, 2].lines[-1].get_xdata()[0] == 2  # the replica's fixture peaks at epoch 2, not the last
    assert "class-weighted" in axes[0, 1].get_ylabel() and "class-weighted" not in axes[0, 0].get_ylabel()


def test_variant_panels_share_one_range_and_every_roc_class_has_its_panel(drawn):
    limits = {ax.get_xlim() for ax in drawn["variants"].axes}
    assert len(limits) == 1
    roc_axes = [ax for ax in drawn["roc"].axes if ax.get_title()]
    assert len(roc_axes) == len(CLASSES)
    for ax, cls in zip(roc_axes, CLASSES, strict=True):
        assert ax.get_title().startswith(fmt.class_title(cls)) and len(ax.lines) == 2  # chance + the class


def test_every_report_file_has_a_caption():
    for caption in set(REPORT_CAPTIONS.values()):
        path = REPO / "workflow" / "report" / caption
        assert path.is_file() and len(path.read_text().strip()) > 40, path


class _Named(dict):
    """Attribute and key access, like Snakemake's input/output/params objects."""

    __getattr__ = dict.__getitem__


def test_workflow_script_builds_the_report(tmp_path):
    import runpy
    from types import SimpleNamespace

    from astgenre.report.protocols import protocol_table

    runs = write_runs(tmp_path, ["none"], [0], n_tracks=30)
    out = tmp_path / "report"
    scores = {"protocol": "literature", "variant": "none", "seed": 0, "folds": 1, "n_tracks": 30}
    scores |= {"accuracy": 0.625, "balanced_accuracy": 0.5, "macro_f1": 0.5}
    protocol_table(pd.DataFrame([scores])).to_csv(tmp_path / "protocols.csv", index=False)
    snakemake = SimpleNamespace(
        input=_Named(
            {name: [str(p) for p in runs[name]] for name in PATH_COLUMNS},
            index_summary=str(write_index_summary(tmp_path / "index_summary.json")),
            literature=str(LITERATURE),
            protocols=str(tmp_path / "protocols.csv"),
        ),
        output=_Named(
            {name: str(out / file_name) for name, file_name in REPORT_FILES.items()},
            **{name: str(out / PAPER_DIR / relative) for name, relative in paper_files(["pdf"]).items()},
        ),
        params=_Named(
            variants=list(runs["variant"]),
            seeds=[int(s) for s in runs["seed"]],
            formats=["pdf"],
            select_metric="macro_f1",
        ),
        log=[str(tmp_path / "report.log")],
    )
    runpy.run_path(str(REPO / "workflow" / "scripts" / "report.py"), init_globals={"snakemake": snakemake})
    assert all((out / name).is_file() for name in REPORT_FILES.values())
    assert sorted(p.name for p in (out / PAPER_DIR / "figures").iterdir()) == sorted(f"{n}.pdf" for n in PAPER_FIGURES)
    assert "best variant" in (tmp_path / "report.log").read_text()
    assert "| 62.5 | 1 | train on training minus" in (out / "literature.md").read_text()  # protocols.csv was read


def test_a_deterministic_baseline_is_paired_with_every_seed_and_never_the_best(tmp_path, monkeypatch):
    """A baseline runs once (seed 0, kind baseline): its one run stands beside each seed of `none` in the tests over
    seeds and over tracks, and it cannot be the best variant however well it does."""
    monkeypatch.setitem(STRENGTH, "mfcc_svm", 9.0)  # far better than none: it would be "best" if it could
    runs = pd.concat([write_runs(tmp_path / "a", ["none"], [0, 1, 2]), write_runs(tmp_path / "b", ["mfcc_svm"], [0])])
    summary_path = Path(runs.iloc[-1]["train_summary"])
    summary_path.write_text(json.dumps({**json.loads(summary_path.read_text()), "kind": "baseline"}))
    out = tmp_path / "report"
    build_report(runs.reset_index(drop=True), write_index_summary(tmp_path / "s.json"), out, LITERATURE, n_boot=50)
    table = pd.read_csv(out / "table.csv").set_index("variant")
    assert table.loc["none", "best"] and not table.loc["mfcc_svm", "best"] and table.loc["mfcc_svm", "baseline_system"]
    comparison = pd.read_csv(out / "comparison.csv")
    rows = comparison[comparison["variant"] == "mfcc_svm"]
    t_row = rows[(rows["test"] == PAIRED_T_TEST) & (rows["metric"] == "accuracy")].iloc[0]
    none_acc = pd.read_csv(out / "runs.csv").set_index(["variant", "seed"])["eval_accuracy"]
    differences = [none_acc[("mfcc_svm", 0)] - none_acc[("none", s)] for s in (0, 1, 2)]
    assert t_row["n"] == 3 and t_row["mean_difference"] == pytest.approx(np.mean(differences))
    assert t_row["statistic"] == pytest.approx(stats.ttest_1samp(differences, 0).statistic)
    assert "mfcc_svm is deterministic (one run)" in t_row["note"]  # the reader learns what the test amounts to
    permutation = rows[rows["test"] == PERMUTATION_TEST].iloc[0]
    frames = {
        key: pd.read_csv(path, sep="\t").set_index("track_id").sort_index()
        for key, path in (
            (("mfcc_svm", 0), runs.iloc[-1]["predictions_evaluation"]),
            *((("none", s), runs.iloc[s]["predictions_evaluation"]) for s in (0, 1, 2)),
        )
    }
    correct = {key: (f["label"] == f["predicted"]).astype(int) for key, f in frames.items()}
    expected = sum((correct[("mfcc_svm", 0)] - correct[("none", s)]).sum() for s in (0, 1, 2))
    assert permutation["statistic"] == expected
