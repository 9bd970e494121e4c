"""The figures of the report, one drawing function per figure, for the screen and for print.

Every function draws on a ``matplotlib.figure.Figure`` (no pyplot state, no display needed) inside the style of its
:class:`~astgenre.report.style.Profile` (``SCREEN``: the HTML report's PNGs; ``PAPER``: column- or full-width
vector figures), so drawing never changes the caller's matplotlib settings. Each writes the paths it is given, in the
format of each suffix, and returns the Figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter
from sklearn.metrics import auc, roc_curve

from astgenre.contracts import PROB_COLUMNS
from astgenre.labels import CLASSES
from astgenre.metrics import expected_calibration_error, reliability_bins
from astgenre.report.formatting import class_title
from astgenre.report.style import (
    COLUMN_WIDTH,
    FULL_WIDTH,
    SCREEN,
    Profile,
    save,
    seed_palette,
    style,
    variant_hatches,
    variant_palette,
)

CALIBRATION_BINS = 15
CLASS_TITLES = [class_title(cls) for cls in CLASSES]
PERCENT = PercentFormatter(xmax=1.0, decimals=0)
REFERENCE_LABEL = "reference notebook (dev split)"
Paths = Path | Sequence[Path]
"""One output path, or several (one per format)."""


def class_palette(profile: Profile = SCREEN) -> dict[str, tuple | str]:
    """One colour per class (display names); the profile's ink for every class where it has one."""
    if profile.ink is not None:
        return dict.fromkeys(CLASS_TITLES, profile.ink)
    return dict(zip(CLASS_TITLES, sns.color_palette("Dark2", len(CLASSES)), strict=False))


def _title(fig: Figure, text: str, profile: Profile) -> None:
    """The figure's title, on the screen only: in print the caption says it."""
    if profile.titles:
        fig.suptitle(text)


def _grid(n_panels: int, max_columns: int) -> tuple[int, int]:
    columns = min(n_panels, max_columns)
    return math.ceil(n_panels / columns), columns


def _n_seeds(tracks: pd.DataFrame) -> int:
    return int(tracks["seed"].nunique())


def roc_figure(tracks: pd.DataFrame, variant: str, path: Paths, profile: Profile = SCREEN) -> Figure:
    """One-vs-rest ROC curve of each class (one panel per class, so that no curve hides another) for one variant's
    evaluation tracks pooled over its seeds."""
    probs = tracks.loc[:, list(PROB_COLUMNS)].to_numpy(dtype=float)
    colours = class_palette(profile)
    joiner = "\n" if profile.paper else ": "  # in print the panel is narrow: the AUC goes on a second line
    with style(profile):
        fig = Figure(figsize=profile.size(screen=(9.0, 6.4), paper=(FULL_WIDTH, 5.2)), layout="constrained")
        axes = fig.subplots(2, 3, sharex=True, sharey=True).ravel()
        for k, (ax, cls, title) in enumerate(zip(axes, CLASSES, CLASS_TITLES, strict=True)):
            positive = (tracks["label"] == cls).to_numpy()
            ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=profile.pt(1))
            if positive.all() or not positive.any():
                ax.set_title(f"{title}{joiner}AUC undefined", fontsize="medium")
                ax.text(0.5, 0.5, "no positives\nor no negatives", ha="center", va="center", color="0.4")
            else:
                fpr, tpr, _ = roc_curve(positive, probs[:, k])
                ax.plot(fpr, tpr, color=colours[title], linewidth=profile.pt(2), drawstyle="steps-post")
                ax.set_title(
                    f"{title}{joiner}AUC {auc(fpr, tpr):.3f} ({int(positive.sum())} positives)", fontsize="medium"
                )
            ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal")
        for ax in axes[3:]:
            ax.set_xlabel("false positive rate")
        for ax in axes[::3]:
            ax.set_ylabel("true positive rate")
        _title(
            fig,
            f"One-vs-rest ROC per class: {variant} (best variant)\n"
            f"evaluation split, pooled over {_n_seeds(tracks)} seed(s); dashed line: chance",
            profile,
        )
        return save(fig, path, profile)


def confusion_figure(
    tracks: pd.DataFrame, variants: Sequence[str], path: Paths, normalized: bool, profile: Profile = SCREEN
) -> Figure:
    """Confusion matrices of the evaluation tracks pooled over seeds, one panel per variant;
    counts, or rows normalised to fractions of the true class."""
    n_rows, n_cols = _grid(len(variants), 3)
    screen = (4.6 * n_cols + (0.8 if normalized else 0), 4.3 * n_rows + 0.4)
    paper_width = COLUMN_WIDTH if n_cols == 1 else FULL_WIDTH
    side = (paper_width - 0.9 - (0.6 if normalized else 0)) / n_cols  # a square panel beside the labels (and bar)
    joiner = "\n" if profile.paper else " "
    with style(profile):
        fig = Figure(figsize=profile.size(screen, (paper_width, n_rows * (side + 1.0) + 0.1)), layout="constrained")
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
            first_column = i % n_cols == 0
            sns.heatmap(
                matrix,
                ax=ax,
                annot=_cell_labels(matrix, normalized) if profile.paper else True,
                fmt="" if profile.paper else ".2f" if normalized else ".0f",
                cmap="Blues",
                cbar=False,
                square=True,
                vmin=0,
                vmax=1 if normalized else None,
                xticklabels=CLASS_TITLES,
                yticklabels=CLASS_TITLES if first_column or not profile.paper else False,
                linewidths=profile.pt(0.5),
                linecolor="white",
                annot_kws={"fontsize": 8},
            )
            image = ax.collections[0]
            ax.set_title(f"{variant}{joiner}({_n_seeds(subset)} seed(s))")
            ax.set_xlabel("predicted class" if i + n_cols >= len(variants) else "")  # bottom panel of its column
            ax.set_ylabel("true class" if first_column else "")
            ax.tick_params(axis="x", labelrotation=45)
            ax.tick_params(axis="y", labelrotation=0)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
                label.set_rotation_mode("anchor")
        for ax in axes[len(variants) :]:
            ax.set_visible(False)
        kind = "rows normalised: recall on the diagonal" if normalized else "track counts"
        _title(fig, f"Confusion matrices, evaluation split,\npooled over seeds ({kind})", profile)
        if normalized and image is not None:
            bar = fig.colorbar(image, ax=axes[: len(variants)].tolist(), shrink=0.8, label="fraction of the true class")
            if profile.paper:  # matplotlib rasterises a long colour bar: print keeps it vector, without seams
                bar.solids.set_rasterized(False)
                bar.solids.set_edgecolor("face")
        return save(fig, path, profile)


def _cell_labels(matrix: np.ndarray, normalized: bool) -> np.ndarray:
    """Compact cell labels for print: counts, or fractions without the leading zero (".69")."""
    if not normalized:
        return np.vectorize(lambda v: "" if np.isnan(v) else f"{v:.0f}")(matrix)
    return np.vectorize(lambda v: "" if np.isnan(v) else f"{v:.2f}".removeprefix("0"))(matrix)


def recall_figure(runs: pd.DataFrame, variants: Sequence[str], path: Paths, profile: Profile = SCREEN) -> Figure:
    """Per-class evaluation recall by variant: bars = mean over seeds, whiskers = range over seeds (min to max, so
    never past 0 or 100%), dots = seeds. In print each variant's bars also carry its hatch."""
    long = runs.melt(
        id_vars=["variant", "seed"],
        value_vars=[f"eval_recall_{cls}" for cls in CLASSES],
        var_name="class",
        value_name="recall",
    )
    long["class"] = long["class"].str.removeprefix("eval_recall_").map(class_title)
    palette = variant_palette(variants, profile)
    hatches = variant_hatches(variants, profile)
    screen = (4.0 + len(CLASSES) * (0.5 + 0.25 * len(variants)), 4.8)
    with style(profile):
        fig = Figure(figsize=profile.size(screen, (FULL_WIDTH, 2.6)), layout="constrained")
        ax = fig.add_subplot()
        layers = dict(data=long, x="class", y="recall", hue="variant", hue_order=list(variants), order=CLASS_TITLES)
        sns.barplot(
            **layers,
            palette=palette,
            ax=ax,
            alpha=1.0 if profile.opaque else 0.7,
            errorbar=("pi", 100),
            capsize=0.12,
            err_kws={"linewidth": profile.pt(1.3), "color": "0.1"},
            **({"edgecolor": "0.1", "linewidth": profile.pt(0.8)} if profile.hatches else {}),
        )
        if profile.hatches:
            for container, variant in zip(ax.containers, variants, strict=False):
                for bar in container:
                    bar.set_hatch(hatches[variant])
        # dots: dark with a white edge on the screen's pale bars; in print, over dark and light bars, white with a dark
        # edge; never read as hollow on one colour and solid on another
        fill, edge = ("white", "0.1") if profile.opaque else ("0.15", "white")
        sns.stripplot(
            **layers,
            palette=dict.fromkeys(variants, fill),
            ax=ax,
            dodge=True,
            size=profile.pt(3.2) * (1.4 if profile.opaque else 1),
            edgecolor=edge,
            linewidth=profile.pt(0.6),
            legend=False,
        )
        ax.yaxis.set_major_formatter(PERCENT)
        ax.set(ylim=(0, 1.04), xlabel="", ylabel="recall (evaluation split)")
        if profile.titles:
            ax.set_title("Per-class recall by variant (bar: mean over seeds, whisker: range over seeds, dot: one seed)")
        if profile.hatches:
            handles = [
                Patch(facecolor=palette[v], edgecolor="0.1", hatch=hatches[v], linewidth=profile.pt(0.8), label=v)
                for v in variants
            ]
            ax.legend(handles=handles, title="variant", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        else:
            ax.legend(title="variant", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return save(fig, path, profile)


def forest_figure(table: pd.DataFrame, reference: float | None, path: Paths, profile: Profile = SCREEN) -> Figure:
    """Evaluation accuracy by variant: mean with 95% t-interval over seeds, the mean per-run
    bootstrap interval behind it, development accuracy as an open circle, the reference line."""
    variants = list(table["variant"])
    palette = variant_palette(variants, profile)
    pt = profile.pt
    with style(profile):
        size = profile.size((8.0, 1.9 + 0.55 * len(variants)), (COLUMN_WIDTH, 1.75 + 0.24 * len(variants)))
        fig = Figure(figsize=size, layout="constrained")
        ax = fig.add_subplot()
        for y, row in enumerate(table.to_dict("records")):
            colour = palette[row["variant"]]
            lines = profile.interval_colour or colour
            ax.hlines(
                y,
                row["eval_accuracy_boot_low"],
                row["eval_accuracy_boot_high"],
                color=lines,
                alpha=0.3,
                linewidth=pt(9),
            )
            if not np.isnan(row["eval_accuracy_ci_low"]):
                _t_interval(ax, y, row, lines, profile)
            ax.plot(
                row["eval_accuracy_mean"],
                y,
                marker="D",
                color=colour,
                markersize=pt(7),
                markeredgecolor="black",
                markeredgewidth=pt(1),
                linestyle="none",
            )
            ax.plot(
                row["dev_accuracy_mean"],
                y,
                marker="o",
                markerfacecolor="none",
                markeredgecolor=lines,
                markersize=pt(8),
                markeredgewidth=pt(1.8),
                linestyle="none",
            )
        handles = [
            Line2D([], [], marker="D", color="0.3", markeredgecolor="black", linestyle="none", label="evaluation mean"),
            Line2D(
                [], [], color="0.3", alpha=0.3, linewidth=pt(9), label="95% bootstrap interval (tracks, mean over runs)"
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
            handles.insert(1, Line2D([], [], color="0.3", linewidth=pt(2), label="95% t-interval over seeds"))
        if (table["eval_accuracy_ci_low"].notna() & table["few_seeds"]).any():
            few = "t-interval over < 3 seeds: uninformative"
            handles.insert(2, Line2D([], [], color="0.3", linewidth=pt(2), linestyle="--", label=few))
        if table["eval_accuracy_ci_clipped"].any():
            clipped = "interval clipped at 100%"
            handles.insert(2, Line2D([], [], color="0.3", marker=">", linestyle="none", label=clipped))
        if reference is not None:
            ax.axvline(reference, color="firebrick", linestyle="--", linewidth=pt(1.3))
            handles.append(
                Line2D([], [], color="firebrick", linestyle="--", label=f"{REFERENCE_LABEL}: {100 * reference:.2f}%")
            )
        low, high = ax.get_xlim()
        if reference is not None:
            low, high = min(low, reference - 0.01), max(high, reference + 0.01)
        ax.set_xlim(max(low, -0.01), min(high, 1.01))  # accuracies live in [0, 100%]
        joiner = "\n" if profile.paper else " "  # a column is narrow: the seed count goes under the name
        labels = [f"{v}{joiner}(n={n})" for v, n in zip(variants, table["n_seeds"], strict=False)]
        ax.set_yticks(range(len(variants)), labels=labels)
        ax.set_ylim(len(variants) - 0.5, -0.5)
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0 if profile.paper else 1))
        ax.set_xlabel("accuracy")
        if profile.titles:
            ax.set_title("Accuracy by variant (n = seeds)")
        ax.grid(axis="y", visible=False)
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol=1 if profile.paper else 2,
            frameon=False,
            fontsize=profile.small,
            handlelength=2.5,
            handletextpad=0.8,
            columnspacing=1.5,
        )
        return save(fig, path, profile)


def _t_interval(ax, y: float, row: dict, colour, profile: Profile) -> None:  # noqa: ANN001 - Axes and colour
    """The t-interval over seeds: caps at real bounds, an arrow at a bound clipped to 0 or 100%, dashed over fewer
    than MIN_SEEDS seeds."""
    low, high = row["eval_accuracy_ci_low"], row["eval_accuracy_ci_high"]
    clipped = bool(row.get("eval_accuracy_ci_clipped", False))
    style_ = "--" if row.get("few_seeds") else "-"
    ax.hlines(y, low, high, color=colour, linewidth=profile.pt(2), linestyles=style_)
    for bound, at_edge, marker in ((low, low <= 0, "<"), (high, high >= 1, ">")):
        if clipped and at_edge:
            ax.plot(bound, y, marker=marker, color=colour, markersize=profile.pt(9), linestyle="none", clip_on=False)
        else:
            ax.vlines(bound, y - 0.15, y + 0.15, color=colour, linewidth=profile.pt(2))


METRIC_LABELS = {
    "macro_f1": "macro-F1",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "weighted_f1": "weighted F1",
}


def training_curves_figure(
    history: pd.DataFrame, training: pd.DataFrame, variants: Sequence[str], path: Paths, profile: Profile = SCREEN
) -> Figure:
    """Training loss and each run's own selection metric on development against epoch, one column per variant, one
    line per seed; a star marks the epoch each run selected.

    ``training``: one row per run with select_metric, selected_step and weighting (StudyRuns.training). Losses
    are not shared between panels: a class-weighted loss is on another scale than the plain one. In print, where
    columns are narrow, what the screen puts in each y label goes into the panel titles.
    """
    seeds = sorted(history["seed"].unique())
    colours = seed_palette(seeds, profile)
    history = history.assign(x=history["epoch"].where(history["epoch"].notna(), history["step"]))
    x_label = "epoch" if history["epoch"].notna().all() else "epoch (step where no epoch)"
    runs = training.set_index(["variant", "seed"])
    pt = profile.pt
    with style(profile):
        screen = (max(6.0, 3.4 * len(variants) + 1.2), 5.8)
        fig = Figure(figsize=profile.size(screen, (FULL_WIDTH, 3.8)), layout="constrained")
        axes = fig.subplots(2, len(variants), squeeze=False, sharex="col")
        for column, variant in enumerate(variants):
            of_variant = runs.loc[variant] if variant in runs.index.get_level_values(0) else runs.iloc[0:0]
            weighted = set(of_variant.get("weighting", [])) - {"none", "balanced_sampler"}
            metrics = " / ".join(METRIC_LABELS.get(m, m) for m in sorted(set(of_variant.get("select_metric", []))))
            loss_ax, metric_ax = axes[0, column], axes[1, column]
            if profile.paper:
                loss_ax.set_title(f"{variant}\n(class-weighted loss)" if weighted else variant)
                metric_ax.set_title(f"{metrics} (selects)")
                loss_ax.set_ylabel("training loss" if column == 0 else "")
                metric_ax.set_ylabel("development score" if column == 0 else "")
            else:
                loss_ax.set_title(variant)
                loss_ax.set_ylabel("training loss (class-weighted)" if weighted else "training loss")
                metric_ax.set_ylabel(f"development {metrics} (selects)")
            metric_ax.set_xlabel(x_label)
            metric_ax.yaxis.set_major_formatter(PERCENT)
            data = history[history["variant"] == variant]
            for seed, run in data.groupby("seed"):
                colour = colours[seed]
                losses = run.dropna(subset=["train_loss"])
                loss_ax.plot(losses["x"], losses["train_loss"], color=colour, linewidth=pt(1.4))
                if (variant, seed) not in runs.index:
                    continue
                chosen = runs.loc[(variant, seed)]
                column_name = f"dev_{chosen['select_metric']}"
                evaluations = run.dropna(subset=[column_name])
                metric_ax.plot(
                    evaluations["x"],
                    evaluations[column_name],
                    color=colour,
                    linewidth=pt(1.4),
                    marker="o",
                    markersize=pt(3),
                )
                selected = evaluations[evaluations["step"] == chosen["selected_step"]]
                metric_ax.plot(
                    selected["x"],
                    selected[column_name],
                    marker="*",
                    markersize=pt(13),
                    color=colour,
                    markeredgecolor="black",
                    markeredgewidth=pt(0.7),
                    linestyle="none",
                    zorder=4,
                )
            for ax in (loss_ax, metric_ax):
                if not ax.lines:
                    ax.text(0.5, 0.5, "no values logged", transform=ax.transAxes, ha="center", va="center", color="0.4")
        handles = [Line2D([], [], color=colours[s], linewidth=pt(2), label=f"seed {s}") for s in seeds]
        handles.append(
            Line2D(
                [],
                [],
                marker="*",
                markersize=pt(11),
                color="0.5",
                markeredgecolor="black",
                linestyle="none",
                label="selected epoch",
            )
        )
        if profile.paper:
            fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
        else:
            fig.legend(handles=handles, loc="outside right upper", frameon=False, title="run")
        _title(
            fig,
            "Training curves per run: training loss, and the development metric that selects the checkpoint",
            profile,
        )
        return save(fig, path, profile)


def calibration_figure(tracks: pd.DataFrame, variant: str, path: Paths, profile: Profile = SCREEN) -> Figure:
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
    with style(profile):
        fig = Figure(figsize=profile.size((6.0, 6.6), (COLUMN_WIDTH, 4.4)), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        blue, red = profile.accents or (sns.color_palette("colorblind")[0], sns.color_palette("colorblind")[3])
        x, w = centres[filled], width[filled] * 0.9
        low, high = np.minimum(accuracy, confidence), np.maximum(accuracy, confidence)
        top.bar(
            x,
            low,
            width=w,
            color=blue,
            alpha=1.0 if profile.opaque else 0.8,
            label="below both accuracy and confidence",
        )
        top.bar(
            x,
            high - low,
            bottom=low,
            width=w,
            color=red,
            alpha=1.0 if profile.opaque else 0.45,
            label="gap: accuracy to mean confidence",
        )
        top.hlines(
            confidence, x - w / 2, x + w / 2, color="black", linewidth=profile.pt(1.8), label="mean confidence in bin"
        )
        top.plot(
            x,
            accuracy,
            marker="o",
            markersize=profile.pt(5),
            color=blue,
            markeredgecolor="black",
            linestyle="none",
            label="accuracy in bin",
        )
        top.plot([0, 1], [0, 1], linestyle="--", color="0.4", linewidth=profile.pt(1), label="perfect calibration")
        top.text(
            0.04,
            0.95,
            f"ECE = {100 * ece:.1f}%",
            transform=top.transAxes,
            fontsize=profile.large,
            va="top",
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.6"},
        )
        top.set(ylim=(0, 1), ylabel="accuracy")
        top.yaxis.set_major_formatter(PERCENT)
        handles, labels = top.get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncol=1 if profile.paper else 2,
            frameon=False,
            fontsize=profile.small,
        )
        if profile.titles:
            top.set_title(
                f"Reliability diagram: {variant} (best variant), evaluation split,\n"
                f"pooled over {_n_seeds(tracks)} seed(s), {CALIBRATION_BINS} equal-width bins"
            )
        bottom.bar(centres, bins["count"], width=width * 0.9, color="0.55")
        bottom.set(xlim=(0, 1), xlabel="confidence (highest class probability)", ylabel="tracks")
        bottom.xaxis.set_major_formatter(PERCENT)
        return save(fig, path, profile)


def variants_figure(runs: pd.DataFrame, variants: Sequence[str], path: Paths, profile: Profile = SCREEN) -> Figure:
    """Evaluation accuracy, balanced accuracy and macro-F1 of every run (dots) and the mean per variant (bar)."""
    metrics = {"eval_accuracy": "accuracy", "eval_balanced_accuracy": "balanced accuracy", "eval_macro_f1": "macro-F1"}
    long = runs.melt(id_vars=["variant", "seed"], value_vars=list(metrics), var_name="metric", value_name="value")
    low = max(0.0, np.floor(10 * long["value"].min()) / 10 - 0.05)
    palette = variant_palette(variants, profile)
    with style(profile):
        size = profile.size((11.0, 1.6 + 0.5 * len(variants)), (FULL_WIDTH, 0.9 + 0.3 * len(variants)))
        fig = Figure(figsize=size, layout="constrained")
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
                size=profile.pt(6),
                edgecolor="black",
                linewidth=profile.pt(0.6),
                jitter=0.12,
                legend=False,
                ax=ax,
            )
            ax.scatter(
                means.to_numpy(),
                range(len(variants)),
                marker="|",
                s=(30 * profile.scale) ** 2,
                linewidths=profile.pt(2.5),
                color="black",
                zorder=3,
            )
            ax.set_xlim(low, 1.0)  # one range for every panel
            ax.xaxis.set_major_formatter(PERCENT)
            ax.set(title=title, xlabel="", ylabel="")
        _title(fig, "Variants compared on the evaluation split: black bar = mean over seeds, dot = one seed", profile)
        return save(fig, path, profile)
