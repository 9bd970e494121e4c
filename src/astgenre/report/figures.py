"""The figures of the report (PNG, one seaborn style, class names spelled for people).

Figures are drawn on ``matplotlib.figure.Figure`` objects (no pyplot state, no display needed)
inside a style context, so drawing never changes the caller's matplotlib settings.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter
from sklearn.metrics import auc, roc_curve

from astgenre.contracts import PROB_COLUMNS
from astgenre.labels import CLASSES
from astgenre.metrics import expected_calibration_error, reliability_bins
from astgenre.report.formatting import class_title

DPI = 150
CALIBRATION_BINS = 15
CLASS_TITLES = [class_title(cls) for cls in CLASSES]
PERCENT = PercentFormatter(xmax=1.0, decimals=0)
REFERENCE_LABEL = "reference notebook (dev split)"


@contextmanager
def _style() -> Iterator[None]:
    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.85), "savefig.dpi": DPI}
    with mpl.rc_context(rc):
        yield


def _save(fig: Figure, path: Path) -> Figure:
    """Write fig to path; return it, so that tests can read what was drawn."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, facecolor="white")
    return fig


def variant_palette(variants: Sequence[str]) -> dict[str, tuple]:
    """One colour per variant, the same in every figure."""
    return dict(zip(variants, sns.color_palette("colorblind", len(variants)), strict=False))


def class_palette() -> dict[str, tuple]:
    """One colour per class (display names)."""
    return dict(zip(CLASS_TITLES, sns.color_palette("Dark2", len(CLASSES)), strict=False))


def _grid(n_panels: int, max_columns: int) -> tuple[int, int]:
    columns = min(n_panels, max_columns)
    return math.ceil(n_panels / columns), columns


def _n_seeds(tracks: pd.DataFrame) -> int:
    return int(tracks["seed"].nunique())


def roc_figure(tracks: pd.DataFrame, variant: str, path: Path) -> Figure:
    """One-vs-rest ROC curve of each class (one panel per class, so that no curve hides another) for one variant's
    evaluation tracks pooled over its seeds."""
    probs = tracks.loc[:, list(PROB_COLUMNS)].to_numpy(dtype=float)
    colours = class_palette()
    with _style():
        fig = Figure(figsize=(9.0, 6.4), layout="constrained")
        axes = fig.subplots(2, 3, sharex=True, sharey=True).ravel()
        for k, (ax, cls, title) in enumerate(zip(axes, CLASSES, CLASS_TITLES, strict=True)):
            positive = (tracks["label"] == cls).to_numpy()
            ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1)
            if positive.all() or not positive.any():
                ax.set_title(f"{title}: AUC undefined", fontsize="medium")
                ax.text(0.5, 0.5, "no positives\nor no negatives", ha="center", va="center", color="0.4")
            else:
                fpr, tpr, _ = roc_curve(positive, probs[:, k])
                ax.plot(fpr, tpr, color=colours[title], linewidth=2, drawstyle="steps-post")
                ax.set_title(f"{title}: AUC {auc(fpr, tpr):.3f} ({int(positive.sum())} positives)", fontsize="medium")
            ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal")
        for ax in axes[3:]:
            ax.set_xlabel("false positive rate")
        for ax in axes[::3]:
            ax.set_ylabel("true positive rate")
        fig.suptitle(
            f"One-vs-rest ROC per class: {variant} (best variant)\n"
            f"evaluation split, pooled over {_n_seeds(tracks)} seed(s); dashed line: chance"
        )
        return _save(fig, path)


def confusion_figure(tracks: pd.DataFrame, variants: Sequence[str], path: Path, normalized: bool) -> Figure:
    """Confusion matrices of the evaluation tracks pooled over seeds, one panel per variant;
    counts, or rows normalised to fractions of the true class."""
    n_rows, n_cols = _grid(len(variants), 3)
    with _style():
        fig = Figure(figsize=(4.6 * n_cols + (0.8 if normalized else 0), 4.3 * n_rows + 0.4), layout="constrained")
        axes = np.atleast_1d(fig.subplots(n_rows, n_cols, squeeze=False)).ravel()
        image = None
        for i, (ax, variant) in enumerate(zip(axes, variants, strict=False)):
            subset = tracks[tracks["variant"] == variant]
            matrix = pd.crosstab(
                pd.Categorical(subset["label"], categories=CLASSES),
                pd.Categorical(subset["predicted"], categories=CLASSES),
                dropna=False,
            ).to_numpy(dtype=float)
            if normalized:
                totals = matrix.sum(axis=1, keepdims=True)
                matrix = np.divide(matrix, totals, out=np.full_like(matrix, np.nan), where=totals > 0)
            sns.heatmap(
                matrix,
                ax=ax,
                annot=True,
                fmt=".2f" if normalized else ".0f",
                cmap="Blues",
                cbar=False,
                square=True,
                vmin=0,
                vmax=1 if normalized else None,
                xticklabels=CLASS_TITLES,
                yticklabels=CLASS_TITLES,
                linewidths=0.5,
                linecolor="white",
                annot_kws={"fontsize": 8},
            )
            image = ax.collections[0]
            ax.set_title(f"{variant} ({_n_seeds(subset)} seed(s))")
            ax.set_xlabel("predicted class" if i + n_cols >= len(variants) else "")  # bottom panel of its column
            ax.set_ylabel("true class" if i % n_cols == 0 else "")
            ax.tick_params(axis="x", labelrotation=45)
            ax.tick_params(axis="y", labelrotation=0)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
                label.set_rotation_mode("anchor")
        for ax in axes[len(variants) :]:
            ax.set_visible(False)
        kind = "rows normalised: recall on the diagonal" if normalized else "track counts"
        fig.suptitle(f"Confusion matrices, evaluation split,\npooled over seeds ({kind})")
        if normalized and image is not None:
            fig.colorbar(image, ax=axes[: len(variants)].tolist(), shrink=0.8, label="fraction of the true class")
        return _save(fig, path)


def recall_figure(runs: pd.DataFrame, variants: Sequence[str], path: Path) -> Figure:
    """Per-class evaluation recall by variant: bars = mean over seeds, whiskers = range over seeds (min to max, so
    never past 0 or 100%), dots = seeds."""
    long = runs.melt(
        id_vars=["variant", "seed"],
        value_vars=[f"eval_recall_{cls}" for cls in CLASSES],
        var_name="class",
        value_name="recall",
    )
    long["class"] = long["class"].str.removeprefix("eval_recall_").map(class_title)
    palette = variant_palette(variants)
    with _style():
        fig = Figure(figsize=(4.0 + len(CLASSES) * (0.5 + 0.25 * len(variants)), 4.8), layout="constrained")
        ax = fig.add_subplot()
        layers = dict(data=long, x="class", y="recall", hue="variant", hue_order=list(variants), order=CLASS_TITLES)
        sns.barplot(
            **layers,
            palette=palette,
            ax=ax,
            alpha=0.7,
            errorbar=("pi", 100),
            capsize=0.12,
            err_kws={"linewidth": 1.3, "color": "0.1"},
        )
        dots = {variant: "0.15" for variant in variants}  # dark on every bar colour: never read as hollow
        sns.stripplot(
            **layers, palette=dots, ax=ax, dodge=True, size=3.2, edgecolor="white", linewidth=0.6, legend=False
        )
        ax.yaxis.set_major_formatter(PERCENT)
        ax.set(ylim=(0, 1.04), xlabel="", ylabel="recall (evaluation split)")
        ax.set_title("Per-class recall by variant (bar: mean over seeds, whisker: range over seeds, dot: one seed)")
        ax.legend(title="variant", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return _save(fig, path)


def forest_figure(table: pd.DataFrame, reference: float | None, path: Path) -> Figure:
    """Evaluation accuracy by variant: mean with 95% t-interval over seeds, the mean per-run
    bootstrap interval behind it, development accuracy as an open circle, the reference line."""
    variants = list(table["variant"])
    palette = variant_palette(variants)
    with _style():
        fig = Figure(figsize=(8.0, 1.9 + 0.55 * len(variants)), layout="constrained")
        ax = fig.add_subplot()
        for y, row in enumerate(table.to_dict("records")):
            colour = palette[row["variant"]]
            ax.hlines(
                y, row["eval_accuracy_boot_low"], row["eval_accuracy_boot_high"], color=colour, alpha=0.3, linewidth=9
            )
            if not np.isnan(row["eval_accuracy_ci_low"]):
                _t_interval(ax, y, row, colour)
            ax.plot(
                row["eval_accuracy_mean"],
                y,
                marker="D",
                color=colour,
                markersize=7,
                markeredgecolor="black",
                linestyle="none",
            )
            ax.plot(
                row["dev_accuracy_mean"],
                y,
                marker="o",
                markerfacecolor="none",
                markeredgecolor=colour,
                markersize=8,
                markeredgewidth=1.8,
                linestyle="none",
            )
        handles = [
            Line2D([], [], marker="D", color="0.3", markeredgecolor="black", linestyle="none", label="evaluation mean"),
            Line2D(
                [], [], color="0.3", alpha=0.3, linewidth=9, label="95% bootstrap interval (tracks, mean over runs)"
            ),
            Line2D(
                [],
                [],
                marker="o",
                markerfacecolor="none",
                markeredgecolor="0.3",
                linestyle="none",
                label="development mean",
            ),
        ]
        if table["eval_accuracy_ci_low"].notna().any():
            handles.insert(1, Line2D([], [], color="0.3", linewidth=2, label="95% t-interval over seeds"))
        if (table["eval_accuracy_ci_low"].notna() & table["few_seeds"]).any():
            few = "t-interval over < 3 seeds: uninformative"
            handles.insert(2, Line2D([], [], color="0.3", linewidth=2, linestyle="--", label=few))
        if table["eval_accuracy_ci_clipped"].any():
            clipped = "interval clipped at 100%"
            handles.insert(2, Line2D([], [], color="0.3", marker=">", linestyle="none", label=clipped))
        if reference is not None:
            ax.axvline(reference, color="firebrick", linestyle="--", linewidth=1.3)
            handles.append(
                Line2D([], [], color="firebrick", linestyle="--", label=f"{REFERENCE_LABEL}: {100 * reference:.2f}%")
            )
        low, high = ax.get_xlim()
        if reference is not None:
            low, high = min(low, reference - 0.01), max(high, reference + 0.01)
        ax.set_xlim(max(low, -0.01), min(high, 1.01))  # accuracies live in [0, 100%]
        ax.set_yticks(
            range(len(variants)), labels=[f"{v} (n={n})" for v, n in zip(variants, table["n_seeds"], strict=False)]
        )
        ax.set_ylim(len(variants) - 0.5, -0.5)
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=1))
        ax.set_xlabel("accuracy")
        ax.set_title("Accuracy by variant (n = seeds)")
        ax.grid(axis="y", visible=False)
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol=2,
            frameon=False,
            fontsize="small",
            handlelength=2.5,
            handletextpad=0.8,
            columnspacing=1.5,
        )
        return _save(fig, path)


def _t_interval(ax, y: float, row: dict, colour) -> None:  # noqa: ANN001 - matplotlib Axes and colour
    """The t-interval over seeds: caps at real bounds, an arrow at a bound clipped to 0 or 100%, dashed over fewer
    than MIN_SEEDS seeds."""
    low, high = row["eval_accuracy_ci_low"], row["eval_accuracy_ci_high"]
    clipped = bool(row.get("eval_accuracy_ci_clipped", False))
    style = "--" if row.get("few_seeds") else "-"
    ax.hlines(y, low, high, color=colour, linewidth=2, linestyles=style)
    for bound, at_edge, marker in ((low, low <= 0, "<"), (high, high >= 1, ">")):
        if clipped and at_edge:
            ax.plot(bound, y, marker=marker, color=colour, markersize=9, linestyle="none", clip_on=False)
        else:
            ax.vlines(bound, y - 0.15, y + 0.15, color=colour, linewidth=2)


METRIC_LABELS = {
    "macro_f1": "macro-F1",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "weighted_f1": "weighted F1",
}


def training_curves_figure(
    history: pd.DataFrame, training: pd.DataFrame, variants: Sequence[str], path: Path
) -> Figure:
    """Training loss and each run's own selection metric on development against epoch, one column per variant, one
    line per seed; a star marks the epoch each run selected.

    ``training``: one row per run with select_metric, selected_step and weighting (StudyRuns.training). Losses
    are not shared between panels: a class-weighted loss is on another scale than the plain one.
    """
    seeds = sorted(history["seed"].unique())
    seed_palette = dict(zip(seeds, sns.color_palette("viridis", len(seeds)), strict=True))
    history = history.assign(x=history["epoch"].where(history["epoch"].notna(), history["step"]))
    x_label = "epoch" if history["epoch"].notna().all() else "epoch (step where no epoch)"
    runs = training.set_index(["variant", "seed"])
    with _style():
        fig = Figure(figsize=(max(6.0, 3.4 * len(variants) + 1.2), 5.8), layout="constrained")
        axes = fig.subplots(2, len(variants), squeeze=False, sharex="col")
        for column, variant in enumerate(variants):
            of_variant = runs.loc[variant] if variant in runs.index.get_level_values(0) else runs.iloc[0:0]
            weighted = set(of_variant.get("weighting", [])) - {"none", "balanced_sampler"}
            metrics = sorted(set(of_variant.get("select_metric", [])))
            loss_ax, metric_ax = axes[0, column], axes[1, column]
            loss_ax.set_title(variant)
            loss_ax.set_ylabel("training loss (class-weighted)" if weighted else "training loss")
            metric_ax.set_ylabel(f"development {' / '.join(METRIC_LABELS.get(m, m) for m in metrics)} (selects)")
            metric_ax.set_xlabel(x_label)
            metric_ax.yaxis.set_major_formatter(PERCENT)
            data = history[history["variant"] == variant]
            for seed, run in data.groupby("seed"):
                colour = seed_palette[seed]
                losses = run.dropna(subset=["train_loss"])
                loss_ax.plot(losses["x"], losses["train_loss"], color=colour, linewidth=1.4)
                if (variant, seed) not in runs.index:
                    continue
                chosen = runs.loc[(variant, seed)]
                column_name = f"dev_{chosen['select_metric']}"
                evaluations = run.dropna(subset=[column_name])
                metric_ax.plot(
                    evaluations["x"], evaluations[column_name], color=colour, linewidth=1.4, marker="o", markersize=3
                )
                selected = evaluations[evaluations["step"] == chosen["selected_step"]]
                metric_ax.plot(
                    selected["x"],
                    selected[column_name],
                    marker="*",
                    markersize=13,
                    color=colour,
                    markeredgecolor="black",
                    markeredgewidth=0.7,
                    linestyle="none",
                    zorder=4,
                )
            for ax in (loss_ax, metric_ax):
                if not ax.lines:
                    ax.text(0.5, 0.5, "no values logged", transform=ax.transAxes, ha="center", va="center", color="0.4")
        handles = [Line2D([], [], color=seed_palette[s], linewidth=2, label=f"seed {s}") for s in seeds]
        handles.append(
            Line2D(
                [],
                [],
                marker="*",
                markersize=11,
                color="0.5",
                markeredgecolor="black",
                linestyle="none",
                label="selected epoch",
            )
        )
        fig.legend(handles=handles, loc="outside right upper", frameon=False, title="run")
        fig.suptitle("Training curves per run: training loss, and the development metric that selects the checkpoint")
        return _save(fig, path)


def calibration_figure(tracks: pd.DataFrame, variant: str, path: Path) -> Figure:
    """Reliability diagram (accuracy against confidence) of one variant's evaluation tracks pooled over seeds:
    accuracy per bin as bars, the bin's mean confidence as a black tick, the gap between them shaded; the ECE
    written on the plot; the confidence histogram below."""
    probs = tracks.loc[:, list(PROB_COLUMNS)].to_numpy(dtype=float)
    bins = reliability_bins(tracks["label"], probs, CALIBRATION_BINS)
    ece = expected_calibration_error(tracks["label"], probs, CALIBRATION_BINS)
    edges = bins["edges"]
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    filled = bins["count"] > 0
    accuracy, confidence = bins["accuracy"][filled], bins["confidence"][filled]
    with _style():
        fig = Figure(figsize=(6.0, 6.6), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        blue, red = sns.color_palette("colorblind")[0], sns.color_palette("colorblind")[3]
        x, w = centres[filled], width[filled] * 0.9
        low, high = np.minimum(accuracy, confidence), np.maximum(accuracy, confidence)
        top.bar(x, low, width=w, color=blue, alpha=0.8, label="below both accuracy and confidence")
        top.bar(x, high - low, bottom=low, width=w, color=red, alpha=0.45, label="gap: accuracy to mean confidence")
        top.hlines(confidence, x - w / 2, x + w / 2, color="black", linewidth=1.8, label="mean confidence in bin")
        top.plot(
            x,
            accuracy,
            marker="o",
            markersize=5,
            color=blue,
            markeredgecolor="black",
            linestyle="none",
            label="accuracy in bin",
        )
        top.plot([0, 1], [0, 1], linestyle="--", color="0.4", linewidth=1, label="perfect calibration")
        top.text(
            0.04,
            0.95,
            f"ECE = {100 * ece:.1f}%",
            transform=top.transAxes,
            fontsize="x-large",
            va="top",
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.6"},
        )
        top.set(ylim=(0, 1), ylabel="accuracy")
        top.yaxis.set_major_formatter(PERCENT)
        handles, labels = top.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False, fontsize="small")
        top.set_title(
            f"Reliability diagram: {variant} (best variant), evaluation split,\n"
            f"pooled over {_n_seeds(tracks)} seed(s), {CALIBRATION_BINS} equal-width bins"
        )
        bottom.bar(centres, bins["count"], width=width * 0.9, color="0.55")
        bottom.set(xlim=(0, 1), xlabel="confidence (highest class probability)", ylabel="tracks")
        bottom.xaxis.set_major_formatter(PERCENT)
        return _save(fig, path)


def variants_figure(runs: pd.DataFrame, variants: Sequence[str], path: Path) -> Figure:
    """Evaluation accuracy, balanced accuracy and macro-F1 of every run (dots) and the mean per variant (bar)."""
    metrics = {"eval_accuracy": "accuracy", "eval_balanced_accuracy": "balanced accuracy", "eval_macro_f1": "macro-F1"}
    long = runs.melt(id_vars=["variant", "seed"], value_vars=list(metrics), var_name="metric", value_name="value")
    low = max(0.0, np.floor(10 * long["value"].min()) / 10 - 0.05)
    palette = variant_palette(variants)
    with _style():
        fig = Figure(figsize=(11.0, 1.6 + 0.5 * len(variants)), layout="constrained")
        axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
        for ax, (column, title) in zip(axes, metrics.items(), strict=False):
            data = long[long["metric"] == column]
            means = data.groupby("variant", sort=False)["value"].mean().reindex(variants)
            sns.stripplot(
                data=data,
                x="value",
                y="variant",
                order=list(variants),
                hue="variant",
                hue_order=list(variants),
                palette=palette,
                size=6,
                edgecolor="black",
                linewidth=0.6,
                jitter=0.12,
                legend=False,
                ax=ax,
            )
            ax.scatter(
                means.to_numpy(), range(len(variants)), marker="|", s=900, linewidths=2.5, color="black", zorder=3
            )
            ax.set_xlim(low, 1.0)  # one range for every panel
            ax.xaxis.set_major_formatter(PERCENT)
            ax.set(title=title, xlabel="", ylabel="")
        fig.suptitle("Variants compared on the evaluation split: black bar = mean over seeds, dot = one seed")
        return _save(fig, path)
