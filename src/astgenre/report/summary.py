"""summary.md: the study in a page — best variant, key numbers, data caveats, how to read the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from astgenre.labels import CLASSES, SPLITS
from astgenre.report import formatting as fmt
from astgenre.report.runs import read_json
from astgenre.report.stats import PAIRED_T_TEST, PERMUTATION_TEST, WILCOXON_TEST
from astgenre.report.tables import INTERVAL_NOTES, METRIC_TITLES, interval_cell, selection_rule

INDEX_SUMMARY_KEYS: tuple[str, ...] = ("tracks", "per_split", "artists", "artist_overlap", "note")
FILE_GUIDE: dict[str, str] = {
    "table.md": "every variant over seeds: evaluation metrics with std and 95% intervals, development accuracy, "
    "per-class recall",
    "comparison.md": "each variant against the baseline: paired tests over seeds and McNemar's test over tracks",
    "literature.md": "published results by protocol beside ours, with chance and majority class, each with its source",
    "runs.csv": "one row per run (variant, seed) with all metrics and per-run bootstrap intervals",
    "forest.png / variants.png": "accuracy (and balanced accuracy, macro-F1) per variant and seed",
    "recall_by_variant.png, confusion*.png": "which classes each variant gets right and confuses",
    "roc.png, calibration.png": "ranking quality and calibration of the best variant",
    "training_curves.png": "training loss and development macro-F1 of every run",
}


def read_index_summary(path: Path) -> dict:
    """The dataset index summary JSON, checked for its keys."""
    path = Path(path)
    summary = read_json(path, "index summary")
    missing = [key for key in INDEX_SUMMARY_KEYS if key not in summary]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}; expected {list(INDEX_SUMMARY_KEYS)}")
    return summary


def summary_markdown(
    index_summary: Mapping,
    variants: pd.DataFrame,
    comparison: pd.DataFrame,
    baseline: str,
    replica: str,
    reference: float | None,
    literature: Sequence[str] = (),
) -> str:
    """The summary page. ``variants`` is tables.variant_table, ``comparison`` tables.comparison_table, ``literature``
    the lines of literature.literature_summary."""
    best = variants[variants["best"]].iloc[0]
    metric = str(best["selected_by"])
    lines = [
        "# Summary",
        "",
        f"Runs: {_run_list(variants)}.",
        "",
        "## Best variant",
        "",
        f"**{best['variant']}**, with development {METRIC_TITLES[metric].lower()} "
        f"{fmt.mean_std(best[f'dev_{metric}_mean'], best[f'dev_{metric}_std'])}%. "
        f"Selection rule: {selection_rule(metric)}.",
        "",
        f"Evaluation split ({int(best['n_seeds'])} seed(s); mean ± std in percent, "
        "95% t-interval over seeds in brackets):",
        "",
        *[
            f"- {title}: {_metric(best, name)}"
            for name, title in (
                ("accuracy", "accuracy"),
                ("balanced_accuracy", "balanced accuracy"),
                ("macro_f1", "macro-F1"),
            )
        ],
        f"- accuracy, mean per-run 95% bootstrap interval over tracks: "
        f"{fmt.interval(best['eval_accuracy_boot_low'], best['eval_accuracy_boot_high'])}",
        f"- development accuracy: {fmt.mean_std(best['dev_accuracy_mean'], best['dev_accuracy_std'])} "
        f"(development − evaluation: {fmt.signed_points(best['dev_eval_accuracy_gap'])} pp)",
        "",
        *_baseline_section(variants, comparison, best["variant"], baseline),
        *_replica_section(variants, replica, reference),
        *literature,
        *_data_section(index_summary),
        "## How to read",
        "",
        "Percentages are means over seeds with one decimal; CSV files hold raw fractions. Intervals are 95%. "
        "Differences between variants smaller than the spread over seeds are not evidence of an effect; "
        "see comparison.md for the tests.",
        "",
        INTERVAL_NOTES,
        "",
        *[f"- `{name}`: {text}" for name, text in FILE_GUIDE.items()],
        "",
    ]
    return "\n".join(lines)


def _run_list(variants: pd.DataFrame) -> str:
    return ", ".join(f"{row['variant']} (seeds {row['seeds']})" for row in variants.to_dict("records"))


def _metric(row: Mapping, name: str) -> str:
    return interval_cell(row, f"eval_{name}")


def _p_text(p: float) -> str:
    text = fmt.p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _baseline_section(variants: pd.DataFrame, comparison: pd.DataFrame, best: str, baseline: str) -> list[str]:
    lines = ["## Against the baseline", ""]
    if baseline not in set(variants["variant"]):
        return [*lines, f"The baseline variant {baseline!r} was not run, so no paired comparison was made.", ""]
    row = variants[variants["variant"] == baseline].iloc[0]
    lines.append(
        f"Baseline {baseline!r}: evaluation accuracy {_metric(row, 'accuracy')}, macro-F1 {_metric(row, 'macro_f1')}."
    )
    if best == baseline:
        return [*lines, "The baseline is itself the best variant.", ""]
    chosen = (comparison["variant"] == best) & (comparison["metric"] == "accuracy") & comparison["seed"].isna()
    tests = comparison[chosen].set_index("test")
    parts = []
    for test in (PAIRED_T_TEST, WILCOXON_TEST, PERMUTATION_TEST):
        if test in tests.index:
            entry = tests.loc[test]
            if pd.notna(entry["p_value"]):
                value = f"{_p_text(entry['p_value'])} (Holm-adjusted: {fmt.p_value(entry['p_holm'])})"
            else:
                value = entry["note"]
            parts.append(f"{test}: {value}")
    difference = tests["mean_difference"].iloc[0] if len(tests) else float("nan")
    lines += [
        "",
        f"{best} − {baseline}, evaluation accuracy: {fmt.signed_points(difference)} pp; " + "; ".join(parts) + ".",
        "",
    ]
    return lines


def _replica_section(variants: pd.DataFrame, replica: str, reference: float | None) -> list[str]:
    lines = ["## Replica of the reference notebook", ""]
    reported = f"{100 * reference:.2f}%" if reference is not None else "not given in the literature file"
    if replica not in set(variants["variant"]):
        return [
            *lines,
            f"The replica variant {replica!r} was not run (the notebook reported {reported} on the development split).",
            "",
        ]
    return [
        *lines,
        f"The notebook reported {reported} accuracy on the development split, which it also used to choose its "
        "checkpoint (one run). Our replica, side by side:",
        "",
        replica_table(variants, replica, reference).markdown(),
        REPLICA_NOTE,
        "",
    ]


REPLICA_NOTE = (
    "The development number is optimistic wherever the development split chose the checkpoint; the "
    "evaluation number is the one to compare with other work."
)


def replica_table(variants: pd.DataFrame, replica: str, reference: float | None) -> fmt.Table:
    """The replica of the reference notebook on both splits (no rows when it was not run)."""
    rows = [
        [
            fmt.mean_std(row["dev_accuracy_mean"], row["dev_accuracy_std"]),
            _metric(row, "accuracy"),
            int(row["n_seeds"]),
        ]
        for row in variants[variants["variant"] == replica].to_dict("records")
    ]
    reported = f"{100 * reference:.2f}%" if reference is not None else "an accuracy not given in the literature file"
    return fmt.Table(
        name="replica",
        caption=f"The replica {replica!r} of the reference notebook, on both splits, in percent. The notebook "
        f"reported {reported} on the development split, which also chose its checkpoint. {REPLICA_NOTE}",
        headers=("Development accuracy", "Evaluation accuracy", "Seeds"),
        rows=rows,
        columns="nnn",
        wide=False,
        empty=f"The replica variant {replica!r} was not run.",
    )


def data_table(index_summary: Mapping) -> fmt.Table:
    """Tracks per split and class, and artists per split, from the dataset index summary."""
    per_split = index_summary["per_split"]
    rows = [
        [
            split,
            sum(per_split[split].values()),
            *[per_split[split].get(cls, 0) for cls in CLASSES],
            index_summary["artists"].get(split, fmt.MISSING),
        ]
        for split in SPLITS
        if split in per_split
    ]
    return fmt.Table(
        name="data",
        caption=f"The data: tracks per split and class, and artists per split ({index_summary['tracks']} tracks "
        f"indexed). {index_summary['note']}",
        headers=("Split", "Tracks", *[fmt.class_title(c) for c in CLASSES], "Artists"),
        rows=rows,
        columns="l" + "n" * (len(CLASSES) + 2),
    )


def _data_section(index_summary: Mapping) -> list[str]:
    overlap = index_summary["artist_overlap"]
    overlap_text = "; ".join(
        f"{pair}: {'not measurable' if n is None else f'{n} shared artist(s)'}" for pair, n in overlap.items()
    )
    return [
        "## Data",
        "",
        f"{index_summary['tracks']} tracks indexed.",
        "",
        data_table(index_summary).markdown(),
        f"**Artist overlap between splits** — {overlap_text}. {index_summary['note']}",
        "",
        "Tracks by an artist seen in training are easier to classify (artist and album effects), so accuracies "
        "on splits that share artists with training overstate genre recognition on unseen artists.",
        "",
    ]
