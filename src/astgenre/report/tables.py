"""The tables of the report: per run, per variant over seeds, and variants against the baseline.

CSV tables keep raw fractions; the Markdown renderings show percent (see formatting.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from astgenre.labels import CLASSES
from astgenre.metrics import expected_calibration_error
from astgenre.report import formatting as fmt
from astgenre.report.runs import PROB_COLUMNS, SCALAR_METRICS, StudyRuns
from astgenre.report.stats import (
    BOOTSTRAP_METRICS,
    MCNEMAR_TEST,
    TestResult,
    bootstrap_ci,
    describe,
    mcnemar_exact,
    paired_seed_tests,
)

log = logging.getLogger(__name__)

SPLIT_PREFIX = {"development": "dev", "evaluation": "eval"}
HEADLINE_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1")
METRIC_TITLES = {"accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy", "macro_f1": "Macro-F1"}
RECALL_COLUMNS: tuple[str, ...] = tuple(f"recall_{cls}" for cls in CLASSES)
SELECTION_COLUMN = "dev_macro_f1_mean"
SELECTION_RULE = "highest mean development macro-F1 over seeds (the evaluation split is never used for selection)"
BOOTSTRAP_NOTE = (
    "the mean over the variant's runs of each run's 95% percentile bootstrap interval "
    "({n_boot} resamples of the evaluation tracks, seeded by the run's seed); per-run intervals are in runs.csv"
)


def run_table(study: StudyRuns, n_boot: int = 1000, confidence: float = 0.95) -> pd.DataFrame:
    """One row per run: development and evaluation metrics, evaluation ECE and bootstrap CIs."""
    metrics = study.metrics.set_index(["variant", "seed", "split"])
    rows = []
    for (variant, seed), tracks in study.predictions[study.predictions["split"] == "evaluation"].groupby(
        ["variant", "seed"], sort=False
    ):
        row: dict = {"variant": variant, "seed": int(seed)}
        for split, prefix in SPLIT_PREFIX.items():
            values = metrics.loc[(variant, seed, split)]
            row[f"{prefix}_n_tracks"] = int(values["n_tracks"])
            for name in (*SCALAR_METRICS, *RECALL_COLUMNS):
                row[f"{prefix}_{name}"] = float(values[name])
        row["eval_ece"] = expected_calibration_error(tracks["label"], tracks.loc[:, list(PROB_COLUMNS)].to_numpy())
        intervals = bootstrap_ci(
            tracks["label"], tracks["predicted"], n_boot=n_boot, confidence=confidence, seed=int(seed)
        )
        for name, (low, high) in intervals.items():
            row[f"eval_{name}_boot_low"] = low
            row[f"eval_{name}_boot_high"] = high
        rows.append(row)
    return pd.DataFrame(rows)


def variant_table(runs: pd.DataFrame, variants: Sequence[str], confidence: float = 0.95) -> pd.DataFrame:
    """One row per variant over its seeds: mean, std and t-interval of the evaluation metrics and
    per-class recalls, mean bootstrap bounds, development accuracy/macro-F1 and ``best``."""
    rows = []
    for variant in variants:
        group = runs[runs["variant"] == variant]
        row: dict = {
            "variant": variant,
            "n_seeds": len(group),
            "seeds": ",".join(str(s) for s in sorted(group["seed"])),
        }
        for name in ("accuracy", "macro_f1"):
            row[f"dev_{name}_mean"] = float(group[f"dev_{name}"].mean())
            row[f"dev_{name}_std"] = float(group[f"dev_{name}"].std(ddof=1)) if len(group) > 1 else math.nan
        for name in (*HEADLINE_METRICS, *RECALL_COLUMNS):
            values = group[f"eval_{name}"]
            if values.isna().any():
                log.warning(
                    "variant %s: eval_%s undefined (class without tracks) in %d run(s); described over the rest",
                    variant,
                    name,
                    int(values.isna().sum()),
                )
                values = values.dropna()
            summary = (
                describe(values, confidence)
                if len(values)
                else dict.fromkeys(("mean", "std", "ci_low", "ci_high"), math.nan)
            )
            # every metric here is a proportion: a t-interval reaching past [0, 1] is clipped to it
            summary["ci_low"], summary["ci_high"] = np.clip([summary["ci_low"], summary["ci_high"]], 0.0, 1.0)
            for key in ("mean", "std", "ci_low", "ci_high"):
                row[f"eval_{name}_{key}"] = summary[key]
        for name in BOOTSTRAP_METRICS:
            row[f"eval_{name}_boot_low"] = float(group[f"eval_{name}_boot_low"].mean())
            row[f"eval_{name}_boot_high"] = float(group[f"eval_{name}_boot_high"].mean())
        row["dev_eval_accuracy_gap"] = row["dev_accuracy_mean"] - row["eval_accuracy_mean"]
        rows.append(row)
    table = pd.DataFrame(rows)
    table["best"] = table["variant"] == select_best_variant(table)
    return table


def select_best_variant(table: pd.DataFrame) -> str:
    """The variant with the highest mean development macro-F1 (first listed on ties)."""
    scores = table.set_index("variant")[SELECTION_COLUMN]
    if scores.isna().all():
        raise ValueError("no variant has a development macro-F1; cannot select the best variant")
    return str(scores.idxmax())


def comparison_table(study: StudyRuns, runs: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Each variant against ``baseline``: paired t-test and Wilcoxon over seeds (evaluation
    accuracy, balanced accuracy, macro-F1) and McNemar's exact test on per-track correctness
    (pooled over seeds, paired by seed and track_id). Long format, one row per test, with Holm-
    adjusted p-values per (metric, test) over variants. Without the baseline every row says why."""
    others = [v for v in study.variants if v != baseline]
    rows = []
    for variant in others:
        for metric in HEADLINE_METRICS:
            if baseline not in study.variants:
                rows.append(_missing_baseline_row(variant, baseline, metric))
                continue
            base = _by_seed(runs, baseline, f"eval_{metric}")
            other = _by_seed(runs, variant, f"eval_{metric}")
            paired = sorted(set(base) & set(other))
            difference = float(np.mean([other[s] - base[s] for s in paired])) if paired else math.nan
            results = paired_seed_tests(base, other)
            if metric == "accuracy":
                results.append(_pooled_mcnemar(study.predictions, baseline, variant, paired))
            for result in results:
                rows.append(_test_row(variant, baseline, metric, result, base, other, paired, difference))
    columns = [
        "variant",
        "baseline",
        "metric",
        "test",
        "n",
        "statistic",
        "p_value",
        "p_holm",
        "mean_baseline",
        "mean_variant",
        "mean_difference",
        "discordant_baseline_only",
        "discordant_variant_only",
        "note",
    ]
    table = pd.DataFrame(rows, columns=columns)
    for _, index in table.groupby(["metric", "test"]).groups.items():
        p = table.loc[index, "p_value"]
        valid = p.notna()
        if valid.any():
            table.loc[p[valid].index, "p_holm"] = multipletests(p[valid].to_numpy(), method="holm")[1]
    return table


def _by_seed(runs: pd.DataFrame, variant: str, column: str) -> dict[int, float]:
    group = runs[runs["variant"] == variant]
    return dict(zip(group["seed"].astype(int), group[column].astype(float), strict=False))


def _pooled_mcnemar(predictions: pd.DataFrame, baseline: str, variant: str, seeds: Sequence[int]) -> TestResult:
    evaluation = predictions[predictions["split"] == "evaluation"]
    base_correct, other_correct = [], []
    for seed in seeds:
        base = evaluation[(evaluation["variant"] == baseline) & (evaluation["seed"] == seed)].set_index("track_id")
        other = evaluation[(evaluation["variant"] == variant) & (evaluation["seed"] == seed)].set_index("track_id")
        if set(base.index) != set(other.index):
            raise ValueError(
                f"evaluation predictions of {variant!r} and {baseline!r} (seed {seed}) cover different tracks "
                f"({len(set(base.index) ^ set(other.index))} differ); McNemar needs the same tracks"
            )
        base_correct.append(base["correct"].to_numpy(dtype=bool))
        other_correct.append(other.loc[base.index, "correct"].to_numpy(dtype=bool))
    if not seeds:
        return TestResult(MCNEMAR_TEST, math.nan, math.nan, 0, "not run: no seed run by both variants")
    result = mcnemar_exact(np.concatenate(base_correct), np.concatenate(other_correct))
    pooled = f"pooled over {len(seeds)} seed(s)"
    return TestResult(
        result.test,
        result.statistic,
        result.p_value,
        result.n,
        f"{result.note}; {pooled}" if result.note else pooled,
        result.discordant,
    )


def _test_row(variant, baseline, metric, result: TestResult, base, other, paired, difference) -> dict:
    return {
        "variant": variant,
        "baseline": baseline,
        "metric": metric,
        "test": result.test,
        "n": result.n,
        "statistic": result.statistic,
        "p_value": result.p_value,
        "p_holm": math.nan,
        "mean_baseline": float(np.mean([base[s] for s in paired])) if paired else math.nan,
        "mean_variant": float(np.mean([other[s] for s in paired])) if paired else math.nan,
        "mean_difference": difference,
        "discordant_baseline_only": result.discordant[0] if result.discordant else None,
        "discordant_variant_only": result.discordant[1] if result.discordant else None,
        "note": result.note,
    }


def _missing_baseline_row(variant: str, baseline: str, metric: str) -> dict:
    return {
        "variant": variant,
        "baseline": baseline,
        "metric": metric,
        "test": "",
        "n": 0,
        "statistic": math.nan,
        "p_value": math.nan,
        "p_holm": math.nan,
        "mean_baseline": math.nan,
        "mean_variant": math.nan,
        "mean_difference": math.nan,
        "discordant_baseline_only": None,
        "discordant_variant_only": None,
        "note": f"not run: baseline variant {baseline!r} is not among the runs",
    }


def variant_markdown(table: pd.DataFrame, n_boot: int) -> str:
    """table.md: headline metrics per variant, then per-class recall, with how to read them."""
    headers = [
        "Variant",
        "Seeds",
        "Accuracy",
        "Balanced accuracy",
        "Macro-F1",
        "Accuracy, bootstrap 95% CI",
        "Dev accuracy",
        "Dev − eval accuracy (pp)",
        "Dev macro-F1 (selection)",
    ]
    rows = []
    for row in table.to_dict("records"):
        name = f"**{row['variant']}** (best)" if row["best"] else row["variant"]
        rows.append(
            [
                name,
                row["n_seeds"],
                *[_cell(row, f"eval_{metric}") for metric in HEADLINE_METRICS],
                fmt.interval(row["eval_accuracy_boot_low"], row["eval_accuracy_boot_high"]),
                fmt.mean_std(row["dev_accuracy_mean"], row["dev_accuracy_std"]),
                fmt.signed_points(row["dev_eval_accuracy_gap"]),
                fmt.mean_std(row["dev_macro_f1_mean"], row["dev_macro_f1_std"]),
            ]
        )
    recall_rows = [
        [row["variant"], *[_cell(row, f"eval_{name}") for name in RECALL_COLUMNS]] for row in table.to_dict("records")
    ]
    return "\n".join(
        [
            "# Results per variant (evaluation split)",
            "",
            "Cells: mean ± std over seeds, in percent, with the 95% t-interval over seeds in brackets "
            "(clipped to [0, 100]; std and interval are absent for a single seed). "
            "Dev columns are the development split.",
            "",
            f"Best variant (bold): {SELECTION_RULE}.",
            "",
            f"Accuracy, bootstrap 95% CI: {BOOTSTRAP_NOTE.format(n_boot=n_boot)}.",
            "",
            fmt.markdown_table(rows, headers),
            "## Per-class recall (evaluation split)",
            "",
            fmt.markdown_table(recall_rows, ["Variant", *[fmt.class_title(c) for c in CLASSES]]),
        ]
    )


def _cell(row: dict, name: str) -> str:
    return fmt.mean_std_interval(row[f"{name}_mean"], row[f"{name}_std"], row[f"{name}_ci_low"], row[f"{name}_ci_high"])


def comparison_markdown(table: pd.DataFrame, baseline: str, variants: Sequence[str]) -> str:
    """comparison.md: one row per variant and metric, p-values with Holm-adjusted ones beside."""
    intro = [
        f"# Variants against the baseline {baseline!r} (evaluation split)",
        "",
        "Δ: mean over paired seeds of (variant − baseline), percentage points. Paired t-test and Wilcoxon "
        "signed-rank pair the runs by seed; McNemar's exact test pairs per-track correctness by seed and "
        "track_id, pooled over seeds (tracks repeat across seeds, so its p-value is optimistic). "
        "p-values are two-sided; Holm-adjusted over the variants in parentheses. With n seeds the exact "
        "Wilcoxon test cannot go below p = 2/2^n (0.25 for 3 seeds, 0.0625 for 5), so read it with the seed count.",
        "",
    ]
    if baseline not in variants:
        return "\n".join([*intro, f"No comparison: the baseline variant {baseline!r} is not among the runs.", ""])
    if table.empty:
        return "\n".join([*intro, f"No comparison: no variant other than {baseline!r} was run.", ""])
    headers = [
        "Variant",
        "Metric",
        "Δ (pp)",
        "Seeds",
        "Paired t-test p",
        "Wilcoxon p",
        "McNemar exact p; b / c",
        "Notes",
    ]
    rows = []
    for (variant, metric), group in table.groupby(["variant", "metric"], sort=False):
        tests = {row["test"]: row for row in group.to_dict("records")}
        first = group.iloc[0]
        mcnemar_row = tests.get(MCNEMAR_TEST)
        mcnemar_cell = (
            ""
            if mcnemar_row is None
            else (
                f"{_p_cell(mcnemar_row)}; b / c = {_count(mcnemar_row['discordant_baseline_only'])} / "
                f"{_count(mcnemar_row['discordant_variant_only'])}"
            )
        )
        notes = "; ".join(
            dict.fromkeys(f"{r['test'].split(' (')[0]}: {r['note']}" for r in tests.values() if r["note"])
        )
        rows.append(
            [
                variant,
                METRIC_TITLES[metric],
                fmt.signed_points(first["mean_difference"]),
                _count(next((r["n"] for r in tests.values() if r["test"] != MCNEMAR_TEST), 0)),
                _p_cell(_find(tests, "paired t-test")),
                _p_cell(_find(tests, "Wilcoxon")),
                mcnemar_cell,
                notes,
            ]
        )
    legend = "b / c: tracks right under the baseline only / under the variant only."
    return "\n".join([*intro, fmt.markdown_table(rows, headers), legend, ""])


def _find(tests: dict, prefix: str) -> dict | None:
    return next((row for name, row in tests.items() if name.startswith(prefix)), None)


def _p_cell(row: dict | None) -> str:
    if row is None or pd.isna(row["p_value"]):
        return fmt.MISSING
    return f"{fmt.p_value(row['p_value'])} (Holm {fmt.p_value(row['p_holm'])})"


def _count(value) -> str:
    return fmt.MISSING if value is None or pd.isna(value) else str(int(value))
