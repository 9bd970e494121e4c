"""The literature table: published ISMIR2004 Genre accuracies grouped by evaluation protocol, this study's numbers
beside each group, and the chance and majority-class rows (literature.csv, literature.md and its LaTeX table).

The project's file ``workflow/report/literature_ismir2004.csv`` restates the facts of the shared survey
(``shared/literature/ismir2004.csv``), one row per published number: the method, its authors, year and venue
(the citation), the accuracy in percent and the metric as published, the protocol normalised to one of
:data:`PROTOCOLS` from the split the number was measured on, the protocol as described, where the number was read
(``source``) and ``verified``: ``yes`` (read in the paper or notebook itself), ``secondary`` (only as cited by
another paper: a secondhand number) or ``number only`` (the number was read, its protocol was not).

:func:`study_literature_table` puts beside each group the study's own numbers measured the same way
(:data:`STUDY_PROTOCOLS`): the official split from the report's variant table (the best variant, the replica, the
baseline systems); the literature protocol and the artist-filtered folds from the protocol report (protocols.csv),
when the study ran them. The chance and majority-class rows come from the class counts of the group's test split in
the study's own index (:data:`TEST_SPLITS`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from astgenre.labels import CLASSES
from astgenre.report import formatting as fmt
from astgenre.report.tables import METRIC_TITLES

COLUMNS: tuple[str, ...] = (
    "method",
    "authors",
    "year",
    "venue",
    "accuracy_percent",
    "metric",
    "protocol",
    "test_split",
    "protocol_detail",
    "source",
    "verified",
)
PROTOCOLS: dict[str, str] = {
    "official": "train on training, test on evaluation (the 2004 contest's split)",
    "literature": "train on training, test on development (most papers after 2005: '729 training / 729 test')",
    "cross-validation": "cross-validation over pooled tracks",
    "unknown": "not stated where the number was read",
}
"""Protocols in table order, with what each means."""
TEST_SPLIT_PROTOCOL: dict[str, str] = {
    "evaluation": "official",
    "development": "literature",
    "cross-validation": "cross-validation",
    "unknown": "unknown",
}
VERIFIED: tuple[str, ...] = ("yes", "secondary", "number only")
COMPUTED = "computed"
"""``verified`` of the chance and majority-class rows: computed from class counts, not read anywhere."""
TABLE_COLUMNS: tuple[str, ...] = ("protocol", "kind", *(c for c in COLUMNS if c != "protocol"))


def read_literature(path: Path) -> pd.DataFrame:
    """The literature file, checked: COLUMNS, accuracy a percentage, protocol consistent with test_split."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if tuple(table.columns) != COLUMNS:
        raise ValueError(f"{path}: columns {list(table.columns)} are not {list(COLUMNS)}")
    table["accuracy_percent"] = pd.to_numeric(table["accuracy_percent"], errors="raise")
    problems = []
    for row in table.itertuples(index=False):
        if not 1 < row.accuracy_percent <= 100:  # a six-class accuracy of 1% or less is a fraction, e.g. 0.84
            problems.append(f"{row.method!r}: accuracy {row.accuracy_percent} is not a percentage in (1, 100]")
        if TEST_SPLIT_PROTOCOL.get(row.test_split) != row.protocol:
            problems.append(f"{row.method!r}: protocol {row.protocol!r} does not follow test_split {row.test_split!r}")
        if row.verified not in VERIFIED:
            problems.append(f"{row.method!r}: verified {row.verified!r} is not one of {VERIFIED}")
        if not row.source:
            problems.append(f"{row.method!r}: no source")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return table


def reference_rows(protocol: str, test_counts: Mapping[str, int]) -> pd.DataFrame:
    """Chance (a uniform guess among the classes: 1 / len(CLASSES)) and majority-class accuracies on a test split
    with these class counts."""
    unknown = sorted(set(test_counts) - set(CLASSES))
    if unknown:
        raise ValueError(f"unknown classes {unknown} in the test counts; expected {CLASSES}")
    total = sum(test_counts.values())
    if total <= 0:
        raise ValueError("the test counts hold no track")
    majority = max(CLASSES, key=lambda cls: (test_counts.get(cls, 0), -CLASSES.index(cls)))
    counts = ", ".join(f"{cls} {test_counts.get(cls, 0)}" for cls in CLASSES)  # breaks between classes in LaTeX
    common = {"authors": "", "year": "", "venue": "", "metric": "accuracy", "verified": COMPUTED, "kind": "reference"}
    return pd.DataFrame(
        [
            {
                **common,
                "method": f"chance (uniform guess among {len(CLASSES)} classes)",
                "accuracy_percent": 100.0 / len(CLASSES),
                "protocol_detail": PROTOCOLS.get(protocol, protocol),
                "source": "1 / number of classes",
            },
            {
                **common,
                "method": f"majority class ({majority} for every track)",
                "accuracy_percent": 100.0 * test_counts[majority] / total,
                "protocol_detail": PROTOCOLS.get(protocol, protocol),
                "source": f"test split class counts: {counts}",
            },
        ]
    ).assign(protocol=protocol)


def literature_table(
    literature: pd.DataFrame, test_counts: Mapping[str, Mapping[str, int]], test_splits: Mapping[str, str]
) -> pd.DataFrame:
    """Published rows and, for each protocol in ``test_counts``, its chance and majority-class rows, grouped by
    protocol (PROTOCOLS order, then any other protocol given), published rows by descending accuracy.

    ``test_counts`` maps a protocol to its test split's class counts, ``test_splits`` a protocol to that split's
    name (e.g. {"official": "evaluation", "literature": "development"}). Column ``kind``: published or reference.
    """
    published = literature.assign(kind="published")
    references = [
        reference_rows(protocol, counts).assign(test_split=test_splits.get(protocol, ""))
        for protocol, counts in test_counts.items()
    ]
    table = pd.concat([published, *references], ignore_index=True)
    order = list(PROTOCOLS) + [p for p in test_counts if p not in PROTOCOLS]
    table["protocol"] = pd.Categorical(table["protocol"], categories=order, ordered=True)
    table["kind"] = pd.Categorical(table["kind"], categories=["published", "reference"], ordered=True)
    table = table.sort_values(["protocol", "kind", "accuracy_percent"], ascending=[True, True, False], kind="stable")
    table["protocol"] = table["protocol"].astype(str)
    table["kind"] = table["kind"].astype(str)
    return table[list(TABLE_COLUMNS)].reset_index(drop=True)


# --------------------------------------------------------------------------- the report's table

STUDY_PROTOCOLS: dict[str, str] = {
    "official": "official",
    "literature": "literature",
    "artist_filtered": "cross-validation",
}
"""This study's protocols (astgenre.protocols) -> the group of published numbers each one stands beside. The
artist-filtered folds are a cross-validation over pooled tracks, stricter than the published ones: no artist is in
both training and test."""
TEST_SPLITS: dict[str, tuple[str, ...]] = {
    "official": ("evaluation",),
    "literature": ("development",),
    "cross-validation": ("training", "evaluation"),
}
"""The index splits whose class counts give each group's chance and majority-class rows (cross-validation: the
tracks our artist-filtered folds pool)."""
GROUP_TITLES: dict[str, str] = {
    "official": "official split (test: evaluation)",
    "literature": "literature protocol (test: development)",
    "cross-validation": "cross-validation (pooled tracks; ours artist-filtered)",
    "unknown": "protocol not stated",
}
KINDS: tuple[str, ...] = ("published", "ours", "reference")
"""Row kinds in the order each group lists them: published numbers, this study's, chance and majority class."""
THIS_STUDY = "this study"
MEASURED = "measured"
"""``verified`` of this study's rows."""
REFERENCE_NOTEBOOK = "khalayli/ASTransformer-ft"
"""The reference notebook's published row is the one whose venue names this GitHub project."""
REPORT_COLUMNS: tuple[str, ...] = (
    "protocol",
    "kind",
    "variant",
    "method",
    "authors",
    "year",
    "venue",
    "accuracy",
    "accuracy_std",
    "n_runs",
    "metric",
    "test_split",
    "protocol_detail",
    "source",
    "verified",
)
"""literature.csv: like :data:`TABLE_COLUMNS`, with the accuracy as a fraction (as in every report CSV), its std
over seeds and the number of runs (this study's rows), and the variant of this study's rows."""
STUDY_PROTOCOL_DETAILS: dict[str, str] = {
    "literature": "train on training minus an artist-grouped part that chooses the {chosen}; test on development",
    "artist_filtered": "training and evaluation pooled, artist-disjoint folds (no artist in both training and "
    "test), each track tested once",
}


def _chosen(baseline_system: bool) -> str:
    """What the selection tracks choose: a baseline system's hyperparameters, AST's checkpoint."""
    return "hyperparameters" if baseline_system else "checkpoint"


def reference_accuracy(literature: pd.DataFrame) -> float | None:
    """The reference notebook's published accuracy (fraction) in a table of :func:`read_literature` or
    :func:`study_literature_table`; None when it has no such row."""
    rows = literature[literature["venue"].astype(str).str.contains(REFERENCE_NOTEBOOK, regex=False)]
    if "kind" in rows:
        rows = rows[rows["kind"] == "published"]
    if not len(rows):
        return None
    row = rows.iloc[0]
    return float(row["accuracy"]) if "accuracy" in row else float(row["accuracy_percent"]) / 100


def group_test_counts(per_split: Mapping[str, Mapping[str, int]]) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """Class counts of each group's test split (:data:`TEST_SPLITS`) from the index's counts per split and class,
    and the split's name; a group whose splits the index lacks is left out."""
    counts, names = {}, {}
    for group, splits in TEST_SPLITS.items():
        if all(split in per_split for split in splits):
            counts[group] = {cls: sum(int(per_split[split].get(cls, 0)) for split in splits) for cls in CLASSES}
            names[group] = " + ".join(splits)
    return counts, names


def study_rows(variants: pd.DataFrame, protocols: pd.DataFrame | None, replica: str) -> pd.DataFrame:
    """This study's rows of the literature table (kind ``ours``, REPORT_COLUMNS).

    ``variants`` is tables.variant_table: the best variant, the replica (when run) and the baseline systems on the
    evaluation split, and the replica on the development split, which also chose its checkpoint, as the reference
    notebook measured itself. ``protocols`` is the protocol report's protocols.csv (None when the study ran no
    protocol beyond the official split): every variant under the literature protocol and the artist-filtered folds.
    """
    metric = str(variants["selected_by"].iloc[0])
    shown = variants["best"] | (variants["variant"] == replica) | variants["baseline_system"]
    official = variants[shown].sort_values("best", ascending=False, kind="stable")  # the best variant first
    rows = []
    for row in official.to_dict("records"):
        detail = f"train on training, {_chosen(row['baseline_system'])} chosen on development, test on evaluation"
        if row["best"]:
            title = METRIC_TITLES[metric]
            detail += f"; the best variant by development {title[:1].lower()}{title[1:]}"
        rows.append(
            _study_row(
                "official",
                row,
                _study_method(row["variant"], bool(row["baseline_system"]), replica),
                row["eval_accuracy_mean"],
                row["eval_accuracy_std"],
                "evaluation",
                detail,
                "table.csv",
            )
        )
    baselines = set(variants.loc[variants["baseline_system"], "variant"])
    for row in [] if protocols is None else protocols.to_dict("records"):
        protocol = str(row["protocol"])
        if protocol == "official":
            continue  # from table.csv, above
        if protocol not in STUDY_PROTOCOLS:
            raise ValueError(f"protocols.csv: protocol {protocol!r} is not one of {list(STUDY_PROTOCOLS)}")
        group = STUDY_PROTOCOLS[protocol]
        rows.append(
            _study_row(
                group,
                row,
                _study_method(str(row["variant"]), row["variant"] in baselines, replica),
                row["accuracy_mean"],
                row["accuracy_std"],
                " + ".join(TEST_SPLITS[group]),
                STUDY_PROTOCOL_DETAILS[protocol].format(chosen=_chosen(row["variant"] in baselines)),
                "protocols.csv",
            )
        )
    for row in variants[variants["variant"] == replica].to_dict("records"):
        rows.append(
            _study_row(
                "literature",
                row,
                f"{_study_method(replica, False, replica)}, measured as the notebook measured itself",
                row["dev_accuracy_mean"],
                row["dev_accuracy_std"],
                "development",
                "train on training, checkpoint chosen on development, test on development (optimistic)",
                "table.csv",
            )
        )
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))


def _study_method(variant: str, baseline_system: bool, replica: str) -> str:
    if baseline_system:
        return f"baseline system {variant!r}"
    if variant == replica:
        return f"AST fine-tuned, {variant!r} (replica of the reference notebook)"
    return f"AST fine-tuned, variant {variant!r}"


def _study_row(
    group: str, row: Mapping, method: str, mean: float, std: float, test_split: str, detail: str, table: str
) -> dict:
    return {
        "protocol": group,
        "kind": "ours",
        "variant": str(row["variant"]),
        "method": method,
        "authors": "",
        "year": "",
        "venue": "",
        "accuracy": float(mean),
        "accuracy_std": float(std),
        "n_runs": int(row["n_seeds"]),
        "metric": "accuracy",
        "test_split": test_split,
        "protocol_detail": detail,
        "source": f"{THIS_STUDY} ({table})",
        "verified": MEASURED,
    }


def study_literature_table(
    literature: pd.DataFrame,
    variants: pd.DataFrame,
    protocols: pd.DataFrame | None,
    per_split: Mapping[str, Mapping[str, int]],
    replica: str,
) -> pd.DataFrame:
    """literature.csv (REPORT_COLUMNS): every published row of ``literature`` (:func:`read_literature`), this
    study's rows (:func:`study_rows`) and the chance and majority-class rows of each group with a test split in the
    index (``per_split``: class counts per split), grouped by protocol (PROTOCOLS order), in each group the
    published rows by descending accuracy, then ours, then majority class and chance."""
    counts, names = group_test_counts(per_split)
    grouped = literature_table(literature, counts, names)
    grouped = grouped.assign(
        variant="", accuracy=grouped["accuracy_percent"] / 100, accuracy_std=math.nan, n_runs=pd.NA
    )
    table = pd.concat([grouped[list(REPORT_COLUMNS)], study_rows(variants, protocols, replica)], ignore_index=True)
    rank = {"protocol": {p: i for i, p in enumerate(PROTOCOLS)}, "kind": {k: i for i, k in enumerate(KINDS)}}
    table = table.sort_values(["protocol", "kind"], key=lambda column: column.map(rank[column.name]), kind="stable")
    return table.reset_index(drop=True)


LITERATURE_TITLE = "Published results on ISMIR2004 Genre beside ours, by protocol"
LITERATURE_HEADERS: tuple[str, ...] = (
    "Protocol",
    "Method",
    "Citation",
    "Accuracy (%)",
    "Runs",
    "Measured as",
    "Number read in",
)
COMPARABILITY_NOTE = (
    "Compare numbers within a protocol only: the official split tests on evaluation, the literature protocol on "
    "development (most papers after 2005); they share no test track. A number whose test split also chose its "
    "checkpoint (the reference notebook) is optimistic. Published cross-validation pools tracks without an artist "
    "filter; our artist-filtered folds keep every artist out of its test fold's training, which lowers accuracy. "
    "Numbers whose protocol was not stated compare with none. Ours: mean ± std over seeds; chance and majority "
    "class from the class counts of the study's own test split."
)
VERIFIED_NOTES: dict[str, str] = {
    "secondary": " (secondhand)",
    "number only": " (number only: protocol not read)",
    "computed": " (computed)",
}
"""What the table adds to a row's source, by ``verified``: a secondhand number is marked as such."""


def literature_cells(table: pd.DataFrame) -> fmt.Table:
    """The cells of literature.md (and of its LaTeX table): one row per row of literature.csv, the protocol named on
    the first row of its group."""
    rows, previous = [], None
    for row in table.to_dict("records"):
        rows.append(
            [
                GROUP_TITLES.get(row["protocol"], row["protocol"]) if row["protocol"] != previous else "",
                row["method"],
                _citation(row),
                _accuracy_cell(row),
                fmt.MISSING if pd.isna(row["n_runs"]) else int(row["n_runs"]),
                _measured_as(row),
                f"{row['source']}{VERIFIED_NOTES.get(row['verified'], '')}",
            ]
        )
        previous = row["protocol"]
    return fmt.Table(
        name="literature",
        caption=f"{LITERATURE_TITLE}. {COMPARABILITY_NOTE}",
        headers=LITERATURE_HEADERS,
        rows=rows,
        columns="XXXnnXX",
    )


def literature_markdown(table: pd.DataFrame, replica: str, protocols_run: Sequence[str]) -> str:
    """literature.md: the table with notes on what may be compared with what, and on what the study did not run."""
    lines = [f"# {LITERATURE_TITLE}", "", COMPARABILITY_NOTE, "", literature_cells(table).markdown()]
    for protocol, group in STUDY_PROTOCOLS.items():
        if protocol != "official" and protocol not in protocols_run:
            lines.append(
                f"The study did not run the {protocol.replace('_', '-')} protocol (config protocols.{protocol}), so "
                f"the {GROUP_TITLES[group]} group has no number of ours from it.\n"
            )
    if not (table["variant"] == replica).any():
        lines.append(f"The replica variant {replica!r} was not run, so its rows are absent.\n")
    return "\n".join(lines)


def literature_summary(table: pd.DataFrame) -> list[str]:
    """summary.md's lines on the literature: per protocol group, ours, the published numbers, majority and chance."""
    lines = [
        "## Beside the literature",
        "",
        "Accuracy in percent by protocol (literature.md has every number, its citation and where it was read):",
        "",
    ]
    for group, rows in table.groupby("protocol", sort=False):
        parts = []
        ours = rows[rows["kind"] == "ours"].to_dict("records")
        if ours:
            parts.append("ours " + ", ".join(f"{_accuracy_cell(r)} ({_summary_label(r, r is ours[0])})" for r in ours))
        published = rows.loc[rows["kind"] == "published", "accuracy"]
        if len(published) == 1:
            parts.append(f"published {_published(published.iloc[0])}")
        elif len(published) > 1:
            low, high = _published(published.min()), _published(published.max())
            parts.append(f"published {len(published)} numbers from {low} to {high}")
        for row in rows[rows["kind"] == "reference"].to_dict("records"):
            parts.append(f"{row['method'].split(' (')[0]} {_accuracy_cell(row)}")
        lines.append(f"- {GROUP_TITLES.get(group, group)}: " + "; ".join(parts) + ".")
    return [*lines, ""]


def _summary_label(row: Mapping, first: bool) -> str:
    """Which of our numbers a summary cell is: the variant, the best one (the official group lists it first), or
    the replica measured as the notebook measured itself (official runs tested on development)."""
    if row["protocol"] == "official" and first:
        return f"best variant {row['variant']}"
    if row["protocol"] == "literature" and row["test_split"] == "development" and "table.csv" in row["source"]:
        return f"{row['variant']} on development, which chose its checkpoint"
    return str(row["variant"])


def _citation(row: Mapping) -> str:
    if row["kind"] == "ours":
        return THIS_STUDY
    if row["kind"] == "reference":
        return fmt.MISSING
    return f"{row['authors']} ({row['year']}), {row['venue']}"


def _measured_as(row: Mapping) -> str:
    if row["kind"] == "reference":
        return f"test: {row['test_split']}"
    metric = str(row["metric"])
    return row["protocol_detail"] if metric == "accuracy" else f"{row['protocol_detail']}; {metric}"


def _accuracy_cell(row: Mapping) -> str:
    """Ours: mean ± std with one decimal; published numbers as published (e.g. 86.15); chance and majority class
    with one decimal."""
    if row["kind"] == "published":
        return _published(row["accuracy"])
    return fmt.mean_std(row["accuracy"], row["accuracy_std"])


def _published(accuracy: float) -> str:
    return f"{round(100 * float(accuracy), 4):g}"
