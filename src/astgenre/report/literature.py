"""Published and reference numbers next to ours, with the protocol that makes them (in)comparable."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from astgenre.report import formatting as fmt

LITERATURE_COLUMNS: tuple[str, ...] = ("method", "year", "accuracy", "split_protocol", "source", "comparable")
REFERENCE_SOURCE = "reference notebook"
"""The ``source`` of the literature row holding the reference notebook's reported accuracy."""
THIS_STUDY = "this study"


def read_literature(path: Path) -> pd.DataFrame:
    """The curated literature CSV (accuracy in percent), checked; accuracy returned as a fraction."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"year": "string"}, keep_default_na=False, na_values={"accuracy": [""]})
    except FileNotFoundError:
        raise FileNotFoundError(f"literature file not found: {path}") from None
    missing = [c for c in LITERATURE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected {list(LITERATURE_COLUMNS)}")
    accuracy = pd.to_numeric(table["accuracy"], errors="coerce")
    bad = accuracy.isna() | (accuracy <= 1) | (accuracy > 100)
    if bad.any():
        raise ValueError(
            f"{path}: accuracy must be a percentage in (1, 100], e.g. 86.15; bad rows: "
            f"{table.loc[bad, 'method'].tolist()}"
        )
    table = table.loc[:, list(LITERATURE_COLUMNS)].copy()
    table["accuracy"] = accuracy / 100
    table["accuracy_std"] = math.nan
    table["n_runs"] = pd.NA
    return table


def reference_accuracy(literature: pd.DataFrame) -> float | None:
    """The reference notebook's reported accuracy (fraction), or None when the CSV has no such row."""
    rows = literature[literature["source"].str.strip().str.lower() == REFERENCE_SOURCE]
    return float(rows["accuracy"].iloc[0]) if len(rows) else None


def literature_table(literature: pd.DataFrame, variants: pd.DataFrame, replica: str) -> pd.DataFrame:
    """Literature rows followed by this study's best variant (evaluation split) and, when run, the
    replica on the development and the evaluation split. ``variants`` is tables.variant_table."""
    best = variants[variants["best"]].iloc[0]
    best_protocol = "evaluation split (held out); variant chosen by development macro-F1; mean ± std over seeds"
    rows = []
    if best["variant"] != replica:
        rows.append(
            _study_row(
                f"AST fine-tuned, best variant {best['variant']!r}",
                best["eval_accuracy_mean"],
                best["eval_accuracy_std"],
                best["n_seeds"],
                best_protocol,
                "yes",
            )
        )
    if replica in set(variants["variant"]):
        row = variants[variants["variant"] == replica].iloc[0]
        method = f"AST fine-tuned, {replica!r} (replica of the reference notebook)"
        rows.append(
            _study_row(
                method,
                row["dev_accuracy_mean"],
                row["dev_accuracy_std"],
                row["n_seeds"],
                "development split, the split the reference notebook reported on and selected its checkpoint with",
                "with the reference notebook only",
            )
        )
        rows.append(
            _study_row(
                f"{method}, best variant" if row["best"] else method,
                row["eval_accuracy_mean"],
                row["eval_accuracy_std"],
                row["n_seeds"],
                best_protocol if row["best"] else "evaluation split (held out)",
                "yes",
            )
        )
    return pd.concat([literature, pd.DataFrame(rows)], ignore_index=True)


def _study_row(method: str, mean: float, std: float, n_runs: int, protocol: str, comparable: str) -> dict:
    return {
        "method": method,
        "year": "",
        "accuracy": float(mean),
        "split_protocol": protocol,
        "source": THIS_STUDY,
        "comparable": comparable,
        "accuracy_std": float(std),
        "n_runs": int(n_runs),
    }


LITERATURE_HEADERS: tuple[str, ...] = (
    "Method",
    "Year",
    "Accuracy (%)",
    "Runs",
    "Split / protocol",
    "Comparable with our evaluation numbers",
    "Source",
)
COMPARABILITY_NOTE = (
    "Only numbers measured on the held-out evaluation split are comparable with ours. A number on the "
    "development split that also chose the checkpoint (the reference notebook) is optimistic and is "
    "comparable only with our replica measured the same way. Our numbers are mean ± std over seeds."
)
LITERATURE_TITLE = "Literature and reference numbers (ISMIR2004 Genre)"


def literature_cells(table: pd.DataFrame) -> fmt.Table:
    """The cells of literature.md (and of its LaTeX table)."""
    rows = [
        [
            row["method"],
            row["year"] or fmt.MISSING,
            _accuracy_cell(row),
            fmt.MISSING if pd.isna(row["n_runs"]) else int(row["n_runs"]),
            row["split_protocol"],
            row["comparable"],
            row["source"],
        ]
        for row in table.to_dict("records")
    ]
    return fmt.Table(
        name="literature",
        caption=f"{LITERATURE_TITLE}. {COMPARABILITY_NOTE}",
        headers=LITERATURE_HEADERS,
        rows=rows,
        columns="XnnnXXX",
    )


def literature_markdown(table: pd.DataFrame, replica: str) -> str:
    """literature.md: the table with a note on what may be compared with what."""
    has_replica = (table["method"].str.contains(repr(replica), regex=False) & (table["source"] == THIS_STUDY)).any()
    notes = [f"# {LITERATURE_TITLE}", "", COMPARABILITY_NOTE, "", literature_cells(table).markdown()]
    if not has_replica:
        notes.append(f"The replica variant {replica!r} was not run, so its rows are absent.\n")
    return "\n".join(notes)


def _accuracy_cell(row: dict) -> str:
    """Our means with one decimal (± std); published numbers as published (e.g. 86.15)."""
    if row["source"] == THIS_STUDY:
        return fmt.mean_std(row["accuracy"], row["accuracy_std"])
    return f"{round(100 * row['accuracy'], 4):g}"
