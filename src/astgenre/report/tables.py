"""The tables of the report: per run, per variant over seeds, and variants against the baseline.

CSV tables keep raw fractions; the Markdown renderings show percent (see formatting.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from astgenre.contracts import DEV_METRICS, PROB_COLUMNS
from astgenre.labels import CLASSES
from astgenre.metrics import expected_calibration_error
from astgenre.report import formatting as fmt
from astgenre.report.runs import SCALAR_METRICS, StudyRuns
from astgenre.report.stats import (
    BOOTSTRAP_METRICS,
    MIN_SEEDS,
    PAIRED_T_TEST,
    PERMUTATION_TEST,
    WILCOXON_TEST,
    TestResult,
    bootstrap_ci,
    equality_tolerance,
    mcnemar_exact,
    paired_permutation_test,
    paired_seed_tests,
    proportion_summary,
    wilcoxon_floor,
)

log = logging.getLogger(__name__)

SPLIT_PREFIX = {"development": "dev", "evaluation": "eval"}
HEADLINE_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1")
METRIC_TITLES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "macro_f1": "Macro-F1",
    "weighted_f1": "Weighted F1",
}
RECALL_COLUMNS: tuple[str, ...] = tuple(f"recall_{cls}" for cls in CLASSES)
DEFAULT_SELECTION = "macro_f1"


def selection_rule(metric: str) -> str:
    """How the best variant is chosen, in words."""
    return (
        f"highest mean development {METRIC_TITLES[metric].lower()} over seeds "
        "(the evaluation split is never used for selection)"
    )


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


def variant_table(
    runs: pd.DataFrame,
    variants: Sequence[str],
    confidence: float = 0.95,
    select_metric: str = DEFAULT_SELECTION,
    baselines: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per variant over its seeds: mean, std and t-interval of the evaluation metrics and
    per-class recalls, mean bootstrap bounds, development metrics, and ``best`` (by the mean development
    ``select_metric``, recorded in ``selected_by``)."""
    rows = []
    for variant in variants:
        group = runs[runs["variant"] == variant]
        row: dict = {
            "variant": variant,
            "n_seeds": len(group),
            "seeds": ",".join(str(s) for s in sorted(group["seed"])),
        }
        for name in DEV_METRICS:
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
            # every metric here is a proportion: a t-interval reaching past [0, 1] is clipped to it, and marked
            summary = proportion_summary(values, confidence)
            for key in ("mean", "std", "ci_low", "ci_high", "ci_clipped"):
                row[f"eval_{name}_{key}"] = summary[key]
        for name in BOOTSTRAP_METRICS:
            row[f"eval_{name}_boot_low"] = float(group[f"eval_{name}_boot_low"].mean())
            row[f"eval_{name}_boot_high"] = float(group[f"eval_{name}_boot_high"].mean())
        row["dev_eval_accuracy_gap"] = row["dev_accuracy_mean"] - row["eval_accuracy_mean"]
        row["few_seeds"] = len(group) < MIN_SEEDS
        rows.append(row)
    table = pd.DataFrame(rows)
    table["selected_by"] = select_metric
    table["baseline_system"] = table["variant"].isin(baselines)
    candidates = table[~table["baseline_system"]] if (~table["baseline_system"]).any() else table
    table["best"] = table["variant"] == select_best_variant(candidates, select_metric)
    return table


def select_best_variant(table: pd.DataFrame, metric: str = DEFAULT_SELECTION) -> str:
    """The variant with the highest mean development ``metric`` (first listed on ties)."""
    scores = table.set_index("variant")[f"dev_{metric}_mean"]
    if scores.isna().all():
        raise ValueError(f"no variant has a development {metric}; cannot select the best variant")
    return str(scores.idxmax())


HOLM_FAMILY: tuple[str, ...] = (PAIRED_T_TEST, WILCOXON_TEST, PERMUTATION_TEST)
"""The tests of comparison.md's main table: Holm's adjustment runs over all their p-values at once."""
COMPARISON_COLUMNS: tuple[str, ...] = (
    "variant",
    "baseline",
    "metric",
    "test",
    "seed",
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
)


def comparison_table(study: StudyRuns, runs: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Each variant against ``baseline`` on the evaluation split, long format (one row per test).

    Over seeds, per metric (accuracy, balanced accuracy, macro-F1): paired t-test and Wilcoxon signed-rank
    (:func:`paired_seed_tests`: at least MIN_SEEDS seeds, float-noise tolerance of a millionth of a track). Over
    tracks, for accuracy: the exact paired permutation test with each track's seeds kept together
    (:func:`paired_permutation_test`), and McNemar's exact test per seed (``seed`` set; descriptive). Holm's
    adjustment (``p_holm``) covers every p-value of the HOLM_FAMILY tests in the table, all variants and metrics
    together. Without the baseline every row says why.
    """
    others = [v for v in study.variants if v != baseline]
    evaluation = study.predictions[study.predictions["split"] == "evaluation"]
    deterministic = set(study.baselines)
    rows = []
    for variant in others:
        if baseline not in study.variants:
            rows += [_missing_baseline_row(variant, baseline, metric) for metric in HEADLINE_METRICS]
            continue
        for metric in HEADLINE_METRICS:
            base = _by_seed(runs, baseline, f"eval_{metric}")
            other = _by_seed(runs, variant, f"eval_{metric}")
            if variant in deterministic:  # one deterministic run, paired with every seed of the baseline
                other = dict.fromkeys(base, next(iter(other.values())))
            paired = sorted(set(base) & set(other))
            difference = float(np.mean([other[s] - base[s] for s in paired])) if paired else math.nan
            n_tracks = int(runs.loc[runs["variant"].isin([baseline, variant]), "eval_n_tracks"].min())
            results = [(None, r) for r in paired_seed_tests(base, other, equality_tolerance(n_tracks))]
            if metric == "accuracy":
                base_correct, other_correct = _paired_correctness(
                    evaluation, baseline, variant, paired, variant in deterministic
                )
                results.append((None, _permutation_row(base_correct, other_correct)))
                results += [(seed, mcnemar_exact(base_correct[k], other_correct[k])) for k, seed in enumerate(paired)]
            for seed, result in results:
                row = _test_row(variant, baseline, metric, result, base, other, paired, difference, seed)
                if variant in deterministic and result.test in (PAIRED_T_TEST, WILCOXON_TEST):
                    row["note"] = _join_note(row["note"], DETERMINISTIC_NOTE.format(variant=variant))
                rows.append(row)
    table = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    family = table["test"].isin(HOLM_FAMILY) & table["seed"].isna() & table["p_value"].notna()
    if family.any():
        table.loc[family, "p_holm"] = multipletests(table.loc[family, "p_value"].to_numpy(), method="holm")[1]
    per_seed = table["seed"].notna()
    table.loc[per_seed, "note"] = [_join_note(note, PER_SEED_NOTE) for note in table.loc[per_seed, "note"]]
    return table


PER_SEED_NOTE = "one seed; descriptive, outside the Holm family"
DETERMINISTIC_NOTE = (
    "{variant} is deterministic (one run): in effect a one-sample test of the baseline's seeds against its one value"
)


def _join_note(*notes: str) -> str:
    return "; ".join(note for note in notes if isinstance(note, str) and note)


def _by_seed(runs: pd.DataFrame, variant: str, column: str) -> dict[int, float]:
    group = runs[runs["variant"] == variant]
    return dict(zip(group["seed"].astype(int), group[column].astype(float), strict=False))


def _paired_correctness(
    evaluation: pd.DataFrame, baseline: str, variant: str, seeds: Sequence[int], deterministic: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, tracks) boolean arrays of per-track correctness, the same track in the same column; a deterministic
    variant's single run stands beside every seed of the baseline."""
    base_correct, other_correct, tracks = [], [], None
    for seed in seeds:
        base = evaluation[(evaluation["variant"] == baseline) & (evaluation["seed"] == seed)].set_index("track_id")
        runs = evaluation[evaluation["variant"] == variant]
        other = (runs if deterministic else runs[runs["seed"] == seed]).set_index("track_id")
        tracks = sorted(base.index) if tracks is None else tracks
        if set(base.index) != set(tracks) or set(other.index) != set(tracks):
            raise ValueError(
                f"evaluation predictions of {variant!r} and {baseline!r} (seed {seed}) cover different tracks; "
                "paired tests over tracks need the same tracks in every run"
            )
        base_correct.append(base.loc[tracks, "correct"].to_numpy(dtype=bool))
        other_correct.append(other.loc[tracks, "correct"].to_numpy(dtype=bool))
    if not seeds:
        return np.zeros((0, 0), dtype=bool), np.zeros((0, 0), dtype=bool)
    return np.array(base_correct), np.array(other_correct)


def _permutation_row(base_correct: np.ndarray, other_correct: np.ndarray) -> TestResult:
    if base_correct.shape[0] == 0:
        return TestResult(PERMUTATION_TEST, math.nan, math.nan, 0, "not run: no seed run by both variants")
    return paired_permutation_test(base_correct, other_correct)


def _test_row(variant, baseline, metric, result: TestResult, base, other, paired, difference, seed=None) -> dict:
    return {
        "variant": variant,
        "baseline": baseline,
        "metric": metric,
        "test": result.test,
        "seed": seed,
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
        "seed": None,
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


VARIANT_HEADERS: tuple[str, ...] = (
    "Variant",
    "Seeds",
    "Accuracy",
    "Balanced accuracy",
    "Macro-F1",
    "Accuracy, bootstrap 95% CI",
    "Dev accuracy",
    "Dev − eval accuracy (pp)",
    "Dev {metric} (selection)",
)
"""Headers of table.md's main table; {metric} is the development metric that selected the best variant."""
CELLS_NOTE = (
    "Cells: mean ± std over seeds, in percent, with the 95% t-interval over seeds in brackets "
    "(std and interval are absent for a single seed)."
)


def variant_tables(table: pd.DataFrame, n_boot: int) -> tuple[fmt.Table, fmt.Table]:
    """The cells of table.md: headline metrics per variant (best in bold), and per-class recall."""
    metric = str(table["selected_by"].iloc[0])
    rows = []
    for row in table.to_dict("records"):
        name = f"**{row['variant']}** (best)" if row["best"] else row["variant"]
        rows.append(
            [
                name,
                row["n_seeds"],
                *[interval_cell(row, f"eval_{name}") for name in HEADLINE_METRICS],
                fmt.interval(row["eval_accuracy_boot_low"], row["eval_accuracy_boot_high"]),
                fmt.mean_std(row["dev_accuracy_mean"], row["dev_accuracy_std"]),
                fmt.signed_points(row["dev_eval_accuracy_gap"]),
                fmt.mean_std(row[f"dev_{metric}_mean"], row[f"dev_{metric}_std"]),
            ]
        )
    recall_rows = [
        [row["variant"], *[interval_cell(row, f"eval_{name}") for name in RECALL_COLUMNS]]
        for row in table.to_dict("records")
    ]
    notes = f"{INTERVAL_NOTES} Best variant (bold): {selection_rule(metric)}. {_bootstrap_note(n_boot)}"
    variants = fmt.Table(
        name="variants",
        caption=f"Results per variant (evaluation split). {CELLS_NOTE} Dev: the development split. {notes}",
        headers=tuple(h.format(metric=METRIC_TITLES[metric].lower()) for h in VARIANT_HEADERS),
        rows=rows,
        columns="l" + "n" * (len(VARIANT_HEADERS) - 1),
    )
    recall = fmt.Table(
        name="recall",
        caption=f"Per-class recall (evaluation split). {CELLS_NOTE} {INTERVAL_NOTES}",
        headers=("Variant", *[fmt.class_title(c) for c in CLASSES]),
        rows=recall_rows,
        columns="l" + "n" * len(CLASSES),
    )
    return variants, recall


def _bootstrap_note(n_boot: int) -> str:
    return f"Accuracy, bootstrap 95% CI: {BOOTSTRAP_NOTE.format(n_boot=n_boot)}."


def variant_markdown(table: pd.DataFrame, n_boot: int) -> str:
    """table.md: headline metrics per variant, then per-class recall, with how to read them."""
    variants, recall = variant_tables(table, n_boot)
    metric = str(table["selected_by"].iloc[0])
    return "\n".join(
        [
            "# Results per variant (evaluation split)",
            "",
            f"{CELLS_NOTE} Dev columns are the development split.",
            "",
            INTERVAL_NOTES,
            "",
            f"Best variant (bold): {selection_rule(metric)}.",
            "",
            _bootstrap_note(n_boot),
            "",
            variants.markdown(),
            "## Per-class recall (evaluation split)",
            "",
            recall.markdown(),
        ]
    )


FEW_SEEDS_MARK = "†"
INTERVAL_NOTES = (
    f"{FEW_SEEDS_MARK}: t-interval over fewer than {MIN_SEEDS} seeds (1 degree of freedom with 2 seeds): too wide "
    "to inform, shown only for completeness. A bound marked (clipped) lay outside [0, 100] and was cut to it: the "
    "interval is wider than it looks."
)


def interval_cell(row: Mapping, name: str) -> str:
    """Mean ± std [t-interval] of one metric of a variant_table row, with the clipping and few-seeds marks."""
    return fmt.mean_std_interval(
        row[f"{name}_mean"],
        row[f"{name}_std"],
        row[f"{name}_ci_low"],
        row[f"{name}_ci_high"],
        clipped=bool(row.get(f"{name}_ci_clipped", False)),
        mark=FEW_SEEDS_MARK if row.get("few_seeds") and not pd.isna(row[f"{name}_ci_low"]) else "",
    )


COMPARISON_HEADERS: tuple[str, ...] = (
    "Variant",
    "Metric",
    "Δ (pp)",
    "Seeds",
    "Paired t-test p",
    "Wilcoxon p",
    "Permutation test p; b / c",
)
COMPARISON_METHODS = (
    "Δ: mean over paired seeds of (variant − baseline), percentage points. Over seeds: paired t-test and "
    "Wilcoxon signed-rank test, one value per seed; they need at least "
    f"{MIN_SEEDS} paired seeds, and differences within a millionth of one track count as equal (no test on "
    "float noise). Over tracks (accuracy): an exact paired permutation test in which each track's correct "
    "answers, summed over its seeds, swap sides with probability 1/2; a track appears once per seed, so its "
    "seeds move together and are never counted as independent pairs (with one seed it is McNemar's exact test). "
    "McNemar's exact test per seed follows below, as a description. p-values are two-sided; Holm's adjustment "
    "covers every p-value of the main table at once (all variants, metrics and tests), in parentheses."
)
DISCORDANT_LEGEND = (
    "b / c: (track, seed) pairs right under the baseline only / under the variant only, summed over seeds."
)
MCNEMAR_TITLE = "McNemar's exact test per seed (descriptive; not adjusted, not part of the Holm family)"


def comparison_tables(
    table: pd.DataFrame, baseline: str, variants: Sequence[str]
) -> tuple[fmt.Table, fmt.Table, list[str]]:
    """The cells of comparison.md: one row per variant and metric, McNemar's test per seed, and the notes."""
    main = table[table["seed"].isna()] if "seed" in table else table
    if baseline not in variants:
        empty = f"No comparison: the baseline variant {baseline!r} is not among the runs."
    elif table.empty:
        empty = f"No comparison: no variant other than {baseline!r} was run."
    else:
        empty = ""
    rows, notes = [], []
    groups = main.groupby(["variant", "metric"], sort=False) if not empty else []
    for (variant, metric), group in groups:
        tests = {row["test"]: row for row in group.to_dict("records")}
        permutation = tests.get(PERMUTATION_TEST)
        rows.append(
            [
                variant,
                METRIC_TITLES[metric],
                fmt.signed_points(group.iloc[0]["mean_difference"]),
                _count(tests.get(PAIRED_T_TEST, {}).get("n")),
                _p_cell(tests.get(PAIRED_T_TEST)),
                _p_cell(tests.get(WILCOXON_TEST)),
                ""
                if permutation is None
                else f"{_p_cell(permutation)}; {_count(permutation['discordant_baseline_only'])} / "
                f"{_count(permutation['discordant_variant_only'])}",
            ]
        )
        title = f"{variant}, {METRIC_TITLES[metric]}"
        notes += [f"{title}, {r['test'].split(' (')[0]}: {r['note']}" for r in tests.values() if r["note"]]
    per_seed = table[table["seed"].notna()] if "seed" in table and not empty else table.iloc[0:0]
    seed_rows = [
        [
            row["variant"],
            int(row["seed"]),
            f"{_count(row['discordant_baseline_only'])} / {_count(row['discordant_variant_only'])}",
            fmt.p_value(row["p_value"]) if pd.notna(row["p_value"]) else row["note"].split(";")[0],
        ]
        for row in per_seed.to_dict("records")
    ]
    comparison = fmt.Table(
        name="comparison",
        caption=" ".join(
            [
                f"{_comparison_title(baseline)}.",
                COMPARISON_METHODS,
                _seed_count_note(_paired_seeds(table)),
                DISCORDANT_LEGEND,
            ]
        ),
        headers=COMPARISON_HEADERS,
        rows=rows,
        columns="llnnnnn",
        empty=empty,
    )
    mcnemar = fmt.Table(
        name="mcnemar",
        caption=f"{MCNEMAR_TITLE}. {DISCORDANT_LEGEND}",
        headers=("Variant", "Seed", "b / c", "p"),
        rows=seed_rows,
        columns="lnnn",
        wide=False,
        empty=empty or "No test per seed.",
    )
    return comparison, mcnemar, list(dict.fromkeys(notes))


def _paired_seeds(table: pd.DataFrame) -> int:
    """The most seeds any variant shares with the baseline (the n of the t-tests)."""
    main = table[table["seed"].isna()] if "seed" in table else table
    t_tests = main["test"] == PAIRED_T_TEST
    return int(main.loc[t_tests, "n"].max()) if t_tests.any() else 0


def _comparison_title(baseline: str) -> str:
    return f"Variants against the baseline {baseline!r} (evaluation split)"


def comparison_markdown(table: pd.DataFrame, baseline: str, variants: Sequence[str]) -> str:
    """comparison.md: one row per variant and metric (tests over seeds and over tracks, Holm-adjusted p beside
    each), then McNemar's test per seed."""
    comparison, mcnemar, notes = comparison_tables(table, baseline, variants)
    intro = [f"# {_comparison_title(baseline)}", "", COMPARISON_METHODS, "", _seed_count_note(_paired_seeds(table)), ""]
    if comparison.empty:
        return "\n".join([*intro, comparison.empty, ""])
    lines = [*intro, comparison.markdown(), DISCORDANT_LEGEND, ""]
    if mcnemar.rows:
        lines += [f"## {MCNEMAR_TITLE}", "", mcnemar.markdown()]
    if notes:
        lines += ["## Notes", "", *[f"- {note}" for note in notes], ""]
    return "\n".join(lines)


def _seed_count_note(n_seeds: int) -> str:
    """What the number of seeds allows, stated for the seeds actually run."""
    if n_seeds == 0:
        return "No variant shares a seed with the baseline: no test over seeds."
    floor = f"the exact Wilcoxon test cannot go below p = {wilcoxon_floor(n_seeds):.3g} with {n_seeds} seeds"
    if n_seeds < MIN_SEEDS:
        return (
            f'With {n_seeds} paired seed(s), no test over seeds is reported as evidence (cells say "too few '
            f'seeds"; {floor}). Only the test over tracks can speak; it measures these runs, not seed-to-seed '
            "variation."
        )
    return f"With {n_seeds} paired seeds, {floor}: read its p-values with the seed count in mind."


_NOT_RUN_LABELS = {
    "too few seeds": "too few seeds",
    "not run: all paired differences are zero": "not run (no difference)",
    "not run: the paired differences are all equal": "not run (zero variance)",
    "not run: no track differs": "not run (no track differs)",
}


def _p_cell(row: dict | None) -> str:
    if row is None:
        return fmt.MISSING
    if pd.isna(row["p_value"]):
        note = str(row.get("note") or "")
        return next((label for prefix, label in _NOT_RUN_LABELS.items() if note.startswith(prefix)), fmt.MISSING)
    holm = f" (Holm {fmt.p_value(row['p_holm'])})" if pd.notna(row.get("p_holm")) else ""
    return f"{fmt.p_value(row['p_value'])}{holm}"


def _count(value) -> str:
    return fmt.MISSING if value is None or pd.isna(value) else str(int(value))
