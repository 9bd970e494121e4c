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

from astgenre.labels import CLASSES
from astgenre.metrics import expected_calibration_error, reliability_bins
from astgenre.report.formatting import class_title
from astgenre.report.runs import PROB_COLUMNS

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


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, facecolor="white")
    return path


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


def roc_figure(tracks: pd.DataFrame, variant: str, path: Path) -> Path:
    """Per-class one-vs-rest ROC curves of one variant's evaluation tracks pooled over its seeds."""
    with _style():
        fig = Figure(figsize=(6.2, 5.6), layout="constrained")
        ax = fig.add_subplot()
        colours = class_palette()
        probs = tracks.loc[:, list(PROB_COLUMNS)].to_numpy(dtype=float)
        for k, (cls, title) in enumerate(zip(CLASSES, CLASS_TITLES, strict=False)):
            positive = (tracks["label"] == cls).to_numpy()
            if positive.all() or not positive.any():
                ax.plot([], [], color=colours[title], label=f"{title} (AUC undefined: no negatives/positives)")
                continue
            fpr, tpr, _ = roc_curve(positive, probs[:, k])
            ax.plot(fpr, tpr, color=colours[title], linewidth=1.8, label=f"{title} (AUC {auc(fpr, tpr):.3f})")
        ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1, label="chance")
        ax.set(
            xlim=(-0.01, 1.01),
            ylim=(-0.01, 1.01),
            xlabel="False positive rate",
            ylabel="True positive rate",
            aspect="equal",
        )
        ax.set_title(
            f"One-vs-rest ROC: {variant} (best variant)\nevaluation split, pooled over {_n_seeds(tracks)} seed(s)"
        )
        ax.legend(loc="lower right", fontsize="small", title="class (one vs rest)", title_fontsize="small")
        return _save(fig, path)


def confusion_figure(tracks: pd.DataFrame, variants: Sequence[str], path: Path, normalized: bool) -> Path:
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


def recall_figure(runs: pd.DataFrame, variants: Sequence[str], path: Path) -> Path:
    """Per-class evaluation recall by variant: bars = mean over seeds, error bars = std, dots = seeds."""
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
        layers = dict(
            data=long,
            x="class",
            y="recall",
            hue="variant",
            hue_order=list(variants),
            order=CLASS_TITLES,
            palette=palette,
            ax=ax,
        )
        sns.barplot(**layers, errorbar="sd", capsize=0.1, err_kws={"linewidth": 1})
        sns.stripplot(**layers, dodge=True, size=3.5, edgecolor="black", linewidth=0.5, legend=False)
        ax.yaxis.set_major_formatter(PERCENT)
        ax.set(ylim=(0, 1.05), xlabel="", ylabel="recall (evaluation split)")
        ax.set_title("Per-class recall by variant (bar: mean over seeds, error bar: std, dot: one seed)")
        ax.legend(title="variant", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return _save(fig, path)


def forest_figure(table: pd.DataFrame, reference: float | None, path: Path) -> Path:
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
                ax.hlines(y, row["eval_accuracy_ci_low"], row["eval_accuracy_ci_high"], color=colour, linewidth=2)
                ax.vlines(
                    [row["eval_accuracy_ci_low"], row["eval_accuracy_ci_high"]],
                    y - 0.15,
                    y + 0.15,
                    color=colour,
                    linewidth=2,
                )
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
        if reference is not None:
            ax.axvline(reference, color="firebrick", linestyle="--", linewidth=1.3)
            handles.append(
                Line2D([], [], color="firebrick", linestyle="--", label=f"{REFERENCE_LABEL}: {100 * reference:.2f}%")
            )
        if reference is not None:
            low, high = ax.get_xlim()
            ax.set_xlim(min(low, reference - 0.01), max(high, reference + 0.01))
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


def training_curves_figure(history: pd.DataFrame, variants: Sequence[str], path: Path) -> Path:
    """Training loss and development macro-F1 against epoch, one column per variant, one line per seed."""
    rows = (("train_loss", "training loss"), ("dev_macro_f1", "development macro-F1"))
    seeds = sorted(history["seed"].unique())
    seed_palette = dict(zip(seeds, sns.color_palette("viridis", len(seeds)), strict=False))
    history = history.assign(x=history["epoch"].where(history["epoch"].notna(), history["step"]))
    x_label = "epoch" if history["epoch"].notna().all() else "epoch (step where no epoch)"
    with _style():
        fig = Figure(figsize=(max(6.0, 3.4 * len(variants) + 1.2), 5.6), layout="constrained")
        axes = fig.subplots(len(rows), len(variants), squeeze=False, sharey="row")
        for column, variant in enumerate(variants):
            for r, (name, title) in enumerate(rows):
                ax = axes[r, column]
                data = history[(history["variant"] == variant) & history[name].notna()]
                if data.empty:
                    ax.text(0.5, 0.5, "no values logged", transform=ax.transAxes, ha="center", va="center", color="0.4")
                for seed, run in data.groupby("seed"):
                    ax.plot(
                        run["x"],
                        run[name],
                        color=seed_palette[seed],
                        linewidth=1.4,
                        marker="o" if name.startswith("dev_") else None,
                        markersize=3,
                    )
                if r == 0:
                    ax.set_title(variant)
                ax.set_xlabel(x_label if r == len(rows) - 1 else "")
                ax.set_ylabel(title if column == 0 else "")
                if name == "dev_macro_f1":
                    ax.yaxis.set_major_formatter(PERCENT)
        handles = [Line2D([], [], color=seed_palette[s], linewidth=2, label=f"seed {s}") for s in seeds]
        fig.legend(handles=handles, loc="outside right upper", frameon=False, title="run")
        fig.suptitle("Training curves per run")
        return _save(fig, path)


def calibration_figure(tracks: pd.DataFrame, variant: str, path: Path) -> Path:
    """Reliability diagram (accuracy against confidence) of one variant's evaluation tracks pooled
    over seeds, with the confidence histogram below and the ECE in the title."""
    probs = tracks.loc[:, list(PROB_COLUMNS)].to_numpy(dtype=float)
    bins = reliability_bins(tracks["label"], probs, CALIBRATION_BINS)
    ece = expected_calibration_error(tracks["label"], probs, CALIBRATION_BINS)
    edges = bins["edges"]
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    filled = bins["count"] > 0
    with _style():
        fig = Figure(figsize=(6.0, 6.6), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        top.bar(
            centres[filled],
            bins["accuracy"][filled],
            width=width[filled],
            color=sns.color_palette("colorblind")[0],
            edgecolor="white",
            label="accuracy in bin",
        )
        top.bar(
            centres[filled],
            bins["confidence"][filled] - bins["accuracy"][filled],
            bottom=bins["accuracy"][filled],
            width=width[filled],
            fill=False,
            hatch="//",
            edgecolor="firebrick",
            linewidth=0.8,
            label="gap to mean confidence in bin",
        )
        top.plot([0, 1], [0, 1], linestyle="--", color="0.4", label="perfect calibration")
        top.set(ylim=(0, 1), ylabel="accuracy")
        top.yaxis.set_major_formatter(PERCENT)
        fig.legend(
            *top.get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False, fontsize="small"
        )
        top.set_title(
            f"Reliability diagram: {variant} (best variant), evaluation split,\n"
            f"pooled over {_n_seeds(tracks)} seed(s); ECE = {100 * ece:.1f}% ({CALIBRATION_BINS} bins)"
        )
        bottom.bar(centres, bins["count"], width=width, color="0.55", edgecolor="white")
        bottom.set(xlim=(0, 1), xlabel="confidence (highest class probability)", ylabel="tracks")
        bottom.xaxis.set_major_formatter(PERCENT)
        return _save(fig, path)


def variants_figure(runs: pd.DataFrame, variants: Sequence[str], path: Path) -> Path:
    """Evaluation accuracy, balanced accuracy and macro-F1 of every run (dots) and the mean per variant (bar)."""
    metrics = {"eval_accuracy": "accuracy", "eval_balanced_accuracy": "balanced accuracy", "eval_macro_f1": "macro-F1"}
    long = runs.melt(id_vars=["variant", "seed"], value_vars=list(metrics), var_name="metric", value_name="value")
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
            ax.set_xlim(max(0.0, np.floor(10 * data["value"].min()) / 10 - 0.05), 1.0)
            ax.xaxis.set_major_formatter(PERCENT)
            ax.set(title=title, xlabel="", ylabel="")
        fig.suptitle("Variants compared on the evaluation split: black bar = mean over seeds, dot = one seed")
        return _save(fig, path)
