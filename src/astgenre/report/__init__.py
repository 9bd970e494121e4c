"""The study report: tables, statistics and figures over all runs (variant x seed).

``build_report`` reads the run files, writes every file of :data:`REPORT_FILES` into one directory (the HTML
report's tables and screen PNGs) and the paper versions of its figures and tables into its ``paper`` folder
(:func:`~astgenre.report.paper.paper_files`), and returns their paths; ``paper.build_paper`` assembles the paper
bundle from them. Modules: runs (reading), stats, tables, literature, summary, figures, style, formatting, latex,
numbers, paper.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pandas as pd

from astgenre.report import figures
from astgenre.report.latex import latex_table
from astgenre.report.literature import (
    literature_cells,
    literature_markdown,
    literature_summary,
    read_literature,
    reference_accuracy,
    study_literature_table,
)
from astgenre.report.paper import DEFAULT_FORMATS, PAPER_DIR, PAPER_FIGURES, PAPER_TABLES, check_formats, paper_files
from astgenre.report.protocols import read_protocol_table
from astgenre.report.runs import load_runs, runs_frame
from astgenre.report.style import PAPER, SCREEN
from astgenre.report.summary import data_table, read_index_summary, replica_table, summary_markdown
from astgenre.report.tables import (
    comparison_markdown,
    comparison_table,
    comparison_tables,
    run_table,
    variant_markdown,
    variant_table,
    variant_tables,
)

__all__ = [
    "REPORT_FILES",
    "REPORT_CAPTIONS",
    "BASELINE_VARIANT",
    "REPLICA_VARIANT",
    "PAPER_DIR",
    "build_report",
    "paper_files",
    "runs_frame",
]

log = logging.getLogger(__name__)

BASELINE_VARIANT = "none"
"""The variant every other variant is compared with."""
REPLICA_VARIANT = "reference_replica"
"""The replica of the reference notebook, reported on both the development and the evaluation split."""

REPORT_FILES: dict[str, str] = {
    "table_csv": "table.csv",
    "table_md": "table.md",
    "runs_csv": "runs.csv",
    "comparison_csv": "comparison.csv",
    "comparison_md": "comparison.md",
    "literature_csv": "literature.csv",
    "literature_md": "literature.md",
    "summary_md": "summary.md",
    "roc": "roc.png",
    "confusion": "confusion.png",
    "confusion_normalized": "confusion_normalized.png",
    "recall_by_variant": "recall_by_variant.png",
    "forest": "forest.png",
    "training_curves": "training_curves.png",
    "calibration": "calibration.png",
    "variants": "variants.png",
}
"""Output name -> file name inside the report directory (fixed, so a rule can declare them)."""

REPORT_CAPTIONS: dict[str, str] = {name: f"{file_name.split('.')[0]}.rst" for name, file_name in REPORT_FILES.items()}
"""Output name -> caption file in workflow/report/ (table.csv and table.md share table.rst)."""


def build_report(
    runs: pd.DataFrame,
    index_summary: Path,
    out_dir: Path,
    literature: Path,
    baseline: str = BASELINE_VARIANT,
    replica: str = REPLICA_VARIANT,
    n_boot: int = 1000,
    select_metric: str = "macro_f1",
    formats: Sequence[str] = DEFAULT_FORMATS,
    protocols: Path | None = None,
) -> list[Path]:
    """Write every table and figure of REPORT_FILES into ``out_dir``, and their paper versions (figures in each of
    ``formats``, tables in LaTeX) into ``out_dir/paper``; return the paths written.

    runs: one row per run with columns variant, seed, predictions_development,
    predictions_evaluation, metrics_development, metrics_evaluation, history (paths).
    literature: the published numbers (workflow/report/literature_ismir2004.csv); protocols: the protocol report's
    protocols.csv when the study ran protocols beyond the official split (the literature table shows them).
    Raises FileNotFoundError/ValueError naming the file when an input is missing or malformed.
    """
    formats = check_formats(formats)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / file_name for name, file_name in REPORT_FILES.items()}

    study = load_runs(runs)
    index = read_index_summary(Path(index_summary))
    log.info(
        "report over %d run(s) of variants %s",
        study.metrics[["variant", "seed"]].drop_duplicates().shape[0],
        study.variants,
    )

    per_run = run_table(study, n_boot=n_boot)
    per_variant = variant_table(per_run, study.variants, select_metric=select_metric, baselines=study.baselines)
    best = str(per_variant.loc[per_variant["best"], "variant"].iloc[0])
    log.info("best variant by development %s: %s", select_metric, best)
    comparison = comparison_table(study, per_run, baseline)
    published = read_literature(Path(literature))
    reference = reference_accuracy(published)
    protocol_rows = None if protocols is None else read_protocol_table(Path(protocols))
    literature_rows = study_literature_table(published, per_variant, protocol_rows, index["per_split"], replica)
    protocols_run = [] if protocol_rows is None else sorted(set(protocol_rows["protocol"]))

    per_run.to_csv(paths["runs_csv"], index=False)
    per_variant.to_csv(paths["table_csv"], index=False)
    paths["table_md"].write_text(variant_markdown(per_variant, n_boot))
    comparison.to_csv(paths["comparison_csv"], index=False)
    paths["comparison_md"].write_text(comparison_markdown(comparison, baseline, study.variants))
    literature_rows.to_csv(paths["literature_csv"], index=False)
    paths["literature_md"].write_text(literature_markdown(literature_rows, replica, protocols_run))
    paths["summary_md"].write_text(
        summary_markdown(
            index, per_variant, comparison, baseline, replica, reference, literature_summary(literature_rows)
        )
    )

    paper_dir = out_dir / PAPER_DIR
    paper_paths = {name: paper_dir / relative for name, relative in paper_files(formats).items()}
    tables = [
        *variant_tables(per_variant, n_boot),
        *comparison_tables(comparison, baseline, study.variants)[:2],
        literature_cells(literature_rows),
        data_table(index),
        replica_table(per_variant, replica, reference),
    ]
    if sorted(table.name for table in tables) != sorted(PAPER_TABLES):
        raise RuntimeError(f"build_report: tables {[t.name for t in tables]} differ from PAPER_TABLES {PAPER_TABLES}")
    for table in tables:
        paper_paths[f"table_{table.name}"].parent.mkdir(parents=True, exist_ok=True)
        paper_paths[f"table_{table.name}"].write_text(latex_table(table))

    evaluation = study.predictions[study.predictions["split"] == "evaluation"]
    best_tracks = evaluation[evaluation["variant"] == best]
    drawings = {  # figure name -> its drawing function, waiting for a path and a profile
        "roc": partial(figures.roc_figure, best_tracks, best),
        "confusion": partial(figures.confusion_figure, evaluation, study.variants, normalized=False),
        "confusion_normalized": partial(figures.confusion_figure, evaluation, study.variants, normalized=True),
        "recall_by_variant": partial(figures.recall_figure, per_run, study.variants),
        "forest": partial(figures.forest_figure, per_variant, reference),
        "training_curves": partial(
            figures.training_curves_figure,
            study.history,
            study.training,
            [v for v in study.variants if v not in study.baselines],  # baselines are fitted, not trained
        ),
        "calibration": partial(figures.calibration_figure, best_tracks, best),
        "variants": partial(figures.variants_figure, per_run, study.variants),
    }
    if list(drawings) != list(PAPER_FIGURES):
        raise RuntimeError(f"build_report: figures {list(drawings)} differ from PAPER_FIGURES {PAPER_FIGURES}")
    for name, draw in drawings.items():
        draw(path=paths[name], profile=SCREEN)
        draw(path=[paper_paths[f"figure_{name}_{fmt}"] for fmt in formats], profile=PAPER)

    written = [*paths.values(), *paper_paths.values()]
    missing = [str(path) for path in written if not path.is_file()]
    if missing:
        raise RuntimeError(f"build_report did not write {missing}")
    return written
