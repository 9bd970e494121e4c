"""The study under each protocol: test metrics per protocol and variant, and the artist effect.

Test predictions of every protocol are pooled per (protocol, variant, seed): an artist-filtered seed predicts every
pooled track once, in the fold that held it out, so its metrics are those of the pooled predictions. Intervals are
over seeds. The artist effect compares the official runs with the artist-filtered runs on the tracks both test: the
evaluation split, which the official runs test with every artist seen in training and the artist-filtered runs with
the track's artist held out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from astgenre.labels import LABEL2ID
from astgenre.metrics import scores_from_confusion
from astgenre.report import formatting as fmt
from astgenre.report.runs import read_predictions
from astgenre.report.stats import (
    MIN_SEEDS,
    PERMUTATION_TEST,
    paired_permutation_test,
    proportion_summary,
    t_interval,
)

PROTOCOL_REPORT_FILES: dict[str, str] = {
    "protocols_csv": "protocols.csv",
    "protocols_md": "protocols.md",
    "artist_effect_csv": "artist_effect.csv",
    "protocols_figure": "protocols.png",
}
"""Output name -> file name inside the report directory (the protocol_report rule declares them)."""
PROTOCOL_TITLES = {
    "official": "official: train on training, select on development, test on evaluation",
    "literature": "literature: test on development, select on held-out training artists",
    "artist_filtered": "artist-filtered: pooled training + evaluation, artist-disjoint folds",
}
METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1")
TEST_COLUMNS = ("protocol", "fold", "variant", "seed", "track_id", "split", "label", "predicted")


def read_protocol_table(path: Path) -> pd.DataFrame:
    """protocols.csv as :func:`protocol_table` wrote it (a variant may be called "NA"), checked for its columns."""
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [
        c
        for c in ("protocol", "variant", "n_seeds", *(f"{m}_{s}" for m in METRICS for s in ("mean", "std")))
        if c not in table.columns
    ]
    if missing:
        raise ValueError(f"{path}: missing columns {missing} (the protocol report writes it)")
    table["variant"] = table["variant"].astype(str)
    return table


@dataclass(frozen=True)
class ProtocolRun:
    """One run's test predictions: official runs test on the evaluation split, protocol runs on their test role."""

    protocol: str
    fold: int
    variant: str
    seed: int
    predictions: Path


def read_test_predictions(runs: Sequence[ProtocolRun]) -> pd.DataFrame:
    """Every run's test predictions in one table (TEST_COLUMNS plus ``correct``); a track tested twice by the same
    (protocol, variant, seed) is an error naming the files."""
    frames = []
    for run in runs:
        frame = read_predictions(run.predictions, "evaluation" if run.protocol == "official" else None)
        frames.append(frame.assign(protocol=run.protocol, fold=run.fold, variant=run.variant, seed=run.seed))
    table = pd.concat(frames, ignore_index=True).loc[:, list(TEST_COLUMNS)]
    twice = table.duplicated(["protocol", "variant", "seed", "track_id"], keep=False)
    if twice.any():
        first = table[twice].iloc[0]
        raise ValueError(
            f"track {first['track_id']} is tested more than once by {first['protocol']}/{first['variant']}/seed "
            f"{first['seed']}: the folds of an assignment must test each track once"
        )
    table["correct"] = table["label"] == table["predicted"]
    return table


def seed_scores(tests: pd.DataFrame) -> pd.DataFrame:
    """accuracy, balanced accuracy and macro-F1 of the pooled test predictions of each (protocol, variant, seed)."""
    rows = []
    for (protocol, variant, seed), group in tests.groupby(["protocol", "variant", "seed"], sort=False):
        k = len(LABEL2ID)
        codes = group["label"].map(LABEL2ID).to_numpy() * k + group["predicted"].map(LABEL2ID).to_numpy()
        scores = scores_from_confusion(np.bincount(codes, minlength=k * k).reshape(k, k))
        folds = int(group["fold"].nunique())
        rows.append(
            {"protocol": protocol, "variant": variant, "seed": int(seed), "folds": folds, "n_tracks": len(group)}
            | {metric: float(scores[metric]) for metric in METRICS}
        )
    return pd.DataFrame(rows)


def protocol_table(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (protocol, variant): mean, std and t-interval over seeds of each test metric."""
    rows = []
    for (protocol, variant), group in scores.groupby(["protocol", "variant"], sort=False):
        row = {
            "protocol": protocol,
            "variant": variant,
            "n_seeds": len(group),
            "seeds": ",".join(str(s) for s in sorted(group["seed"])),
            "folds": int(group["folds"].max()),
            "n_tracks": int(group["n_tracks"].max()),
        }
        for metric in METRICS:
            summary = proportion_summary(group[metric].to_numpy())
            row["few_seeds"] = summary["few_seeds"]
            for key in ("mean", "std", "ci_low", "ci_high", "ci_clipped"):
                row[f"{metric}_{key}"] = summary[key]
        rows.append(row)
    return pd.DataFrame(rows)


ARTIST_EFFECT_COLUMNS = (
    "variant",
    "n_seeds",
    "seeds",
    "n_tracks",
    "official_accuracy",
    "artist_filtered_accuracy",
    "effect",
    "ci_low",
    "ci_high",
    "few_seeds",
    "test",
    "statistic",
    "p_value",
    "discordant_filtered_only",
    "discordant_official_only",
    "note",
)
"""artist_effect.csv's columns, also when no variant ran under both protocols (a header without rows)."""


def artist_effect(tests: pd.DataFrame) -> pd.DataFrame:
    """Official minus artist-filtered accuracy on the evaluation-split tracks, per variant run under both.

    Per seed run by both, each protocol's accuracy on the same tracks; the effect is the mean over seeds of their
    difference, with a t-interval over seeds, and the exact paired permutation test over tracks with each track's
    seeds kept together (astgenre.report.stats.paired_permutation_test).
    """
    rows = []
    evaluation = tests[tests["split"] == "evaluation"]
    official = evaluation[evaluation["protocol"] == "official"]
    filtered = evaluation[evaluation["protocol"] == "artist_filtered"]
    for variant in sorted(set(official["variant"]) & set(filtered["variant"]), key=list(official["variant"]).index):
        a = official[official["variant"] == variant]
        b = filtered[filtered["variant"] == variant]
        seeds = sorted(set(a["seed"]) & set(b["seed"]))
        tracks = sorted(set(a["track_id"]) & set(b["track_id"]))
        correct_a = np.array([_correct(a, seed, tracks) for seed in seeds]).reshape(len(seeds), len(tracks))
        correct_b = np.array([_correct(b, seed, tracks) for seed in seeds]).reshape(len(seeds), len(tracks))
        differences = correct_a.mean(axis=1) - correct_b.mean(axis=1) if tracks else np.array([])
        low, high = t_interval(differences) if len(seeds) >= 2 else (np.nan, np.nan)
        test = paired_permutation_test(correct_b, correct_a) if seeds and tracks else None
        rows.append(
            {
                "variant": variant,
                "n_seeds": len(seeds),
                "seeds": ",".join(map(str, seeds)),
                "n_tracks": len(tracks),
                "official_accuracy": float(correct_a.mean()) if correct_a.size else np.nan,
                "artist_filtered_accuracy": float(correct_b.mean()) if correct_b.size else np.nan,
                "effect": float(differences.mean()) if differences.size else np.nan,
                "ci_low": low,
                "ci_high": high,
                "few_seeds": len(seeds) < MIN_SEEDS,
                "test": PERMUTATION_TEST,
                "statistic": np.nan if test is None else test.statistic,
                "p_value": np.nan if test is None else test.p_value,
                "discordant_filtered_only": None if test is None else test.discordant[0],
                "discordant_official_only": None if test is None else test.discordant[1],
                "note": "" if test is None else test.note,
            }
        )
    return pd.DataFrame(rows, columns=list(ARTIST_EFFECT_COLUMNS))


def _correct(tests: pd.DataFrame, seed: int, tracks: list[str]) -> np.ndarray:
    run = tests[tests["seed"] == seed].set_index("track_id")
    missing = sorted(set(tracks) - set(run.index))
    if missing:
        raise ValueError(f"seed {seed} has no test prediction for tracks {missing[:5]}")
    return run.loc[tracks, "correct"].to_numpy(dtype=bool)


def protocols_markdown(table: pd.DataFrame, effect: pd.DataFrame) -> str:
    """protocols.md: the test metrics under each protocol, then the artist effect, with how to read them."""
    headers = ["Protocol", "Variant", "Seeds", "Folds", "Test tracks", "Accuracy", "Balanced accuracy", "Macro-F1"]
    rows = [
        [
            row["protocol"],
            row["variant"],
            row["n_seeds"],
            row["folds"],
            row["n_tracks"],
            *[_cell(row, metric) for metric in METRICS],
        ]
        for row in table.to_dict("records")
    ]
    lines = [
        "# The study under each protocol (test tracks)",
        "",
        *[f"- {PROTOCOL_TITLES.get(p, p)}" for p in dict.fromkeys(table["protocol"])],
        "",
        "Cells: mean ± std over seeds, in percent, 95% t-interval over seeds in brackets; an artist-filtered seed is "
        "scored on its pooled test folds (every pooled track once). "
        f"† marks intervals over fewer than {MIN_SEEDS} seeds; (clipped) a bound cut to [0, 100].",
        "",
        fmt.markdown_table(rows, headers),
        "## The artist effect",
        "",
        "Official minus artist-filtered accuracy on the evaluation-split tracks, which both protocols test: the "
        "official runs have seen every evaluation artist in training, the artist-filtered runs never see the "
        "track's artist. Interval: t over seeds of the per-seed difference; test: exact paired permutation test "
        "over tracks, each track's seeds kept together. The artist-filtered runs train on more tracks (pooled folds), "
        "which if anything shrinks the effect.",
        "",
    ]
    if effect.empty:
        lines.append("Not measured: no variant ran under both the official and the artist-filtered protocol.")
    else:
        effect_rows = [
            [
                row["variant"],
                row["n_seeds"],
                row["n_tracks"],
                fmt.percent(row["official_accuracy"]),
                fmt.percent(row["artist_filtered_accuracy"]),
                _effect_cell(row),
                fmt.p_value(row["p_value"]),
            ]
            for row in effect.to_dict("records")
        ]
        headers = ["Variant", "Seeds", "Tracks", "Official (%)", "Artist-filtered (%)", "Effect (pp) [95% CI]", "p"]
        lines.append(fmt.markdown_table(effect_rows, headers))
    return "\n".join(lines) + "\n"


def _effect_cell(row: dict) -> str:
    interval = fmt.interval(row["ci_low"], row["ci_high"])
    mark = "†" if row["few_seeds"] and interval != fmt.MISSING else ""
    return f"{fmt.signed_points(row['effect'])} {interval}{mark}"


def _cell(row: dict, metric: str) -> str:
    return fmt.mean_std_interval(
        row[f"{metric}_mean"],
        row[f"{metric}_std"],
        row[f"{metric}_ci_low"],
        row[f"{metric}_ci_high"],
        clipped=bool(row[f"{metric}_ci_clipped"]),
        mark="†" if row["few_seeds"] and not pd.isna(row[f"{metric}_ci_low"]) else "",
    )


def protocols_figure(scores: pd.DataFrame, table: pd.DataFrame, path: Path) -> Figure:
    """Test accuracy by protocol: one dot per seed, the mean and its t-interval over seeds, one colour per variant."""
    from astgenre.report.figures import PERCENT
    from astgenre.report.style import SCREEN, save, style, variant_palette

    protocols_order = list(dict.fromkeys(table["protocol"]))
    variants = list(dict.fromkeys(table["variant"]))
    palette = variant_palette(variants, SCREEN)
    width = 0.8 / max(1, len(variants))
    with style(SCREEN):
        fig = Figure(figsize=(2.2 + 2.0 * len(protocols_order), 4.2), layout="constrained")
        ax = fig.add_subplot()
        for row in table.to_dict("records"):
            offset = (variants.index(row["variant"]) - (len(variants) - 1) / 2) * width
            x = protocols_order.index(row["protocol"]) + offset
            colour = palette[row["variant"]]
            seeds = scores[(scores["protocol"] == row["protocol"]) & (scores["variant"] == row["variant"])]
            ax.plot(np.full(len(seeds), x), seeds["accuracy"], "o", color=colour, alpha=0.6, markersize=4)
            if not pd.isna(row["accuracy_ci_low"]):
                style = "--" if row["few_seeds"] else "-"
                ax.vlines(x, row["accuracy_ci_low"], row["accuracy_ci_high"], color=colour, linestyles=style)
            ax.plot(x, row["accuracy_mean"], "D", color=colour, markeredgecolor="black", markersize=7)
        ax.set_xticks(range(len(protocols_order)), labels=[p.replace("_", "-") for p in protocols_order])
        ax.yaxis.set_major_formatter(PERCENT)
        low = max(0.0, float(np.floor(10 * scores["accuracy"].min()) / 10) - 0.05)
        ax.set(ylim=(low, 1.0), ylabel="test accuracy", xlabel="protocol")
        ax.set_title("Test accuracy by protocol (dot: seed; diamond and bar: mean, 95% t-interval over seeds)")
        handles = [Line2D([], [], marker="D", color=palette[v], linestyle="none", label=v) for v in variants]
        ax.legend(handles=handles, title="variant", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return save(fig, path, SCREEN)


def build_protocol_report(runs: Sequence[ProtocolRun], out_dir: Path) -> list[Path]:
    """Write every file of PROTOCOL_REPORT_FILES into out_dir; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / file_name for name, file_name in PROTOCOL_REPORT_FILES.items()}
    tests = read_test_predictions(runs)
    scores = seed_scores(tests)
    table = protocol_table(scores)
    effect = artist_effect(tests)
    table.to_csv(paths["protocols_csv"], index=False)
    effect.to_csv(paths["artist_effect_csv"], index=False)
    paths["protocols_md"].write_text(protocols_markdown(table, effect))
    protocols_figure(scores, table, paths["protocols_figure"])
    return list(paths.values())
