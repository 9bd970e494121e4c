"""The study report: tables, statistics and figures over all runs (variant x seed).

``build_report`` reads the run files, writes every file of :data:`REPORT_FILES` into one
directory and returns their paths. Modules: runs (reading), stats, tables, literature,
summary, figures, formatting.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from astgenre.report import figures
from astgenre.report.literature import literature_markdown, literature_table, read_literature, reference_accuracy
from astgenre.report.runs import load_runs, runs_frame
from astgenre.report.summary import read_index_summary, summary_markdown
from astgenre.report.tables import comparison_markdown, comparison_table, run_table, variant_markdown, variant_table

__all__ = ["REPORT_FILES", "REPORT_CAPTIONS", "BASELINE_VARIANT", "REPLICA_VARIANT", "build_report", "runs_frame"]

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
) -> list[Path]:
    """Write every table and figure of REPORT_FILES into ``out_dir``; return the paths written.

    runs: one row per run with columns variant, seed, predictions_development,
    predictions_evaluation, metrics_development, metrics_evaluation, history (paths).
    Raises FileNotFoundError/ValueError naming the file when an input is missing or malformed.
    """
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
    per_variant = variant_table(per_run, study.variants, select_metric=select_metric)
    best = str(per_variant.loc[per_variant["best"], "variant"].iloc[0])
    log.info("best variant by development %s: %s", select_metric, best)
    comparison = comparison_table(study, per_run, baseline)
    references = read_literature(Path(literature))
    reference = reference_accuracy(references)
    literature_rows = literature_table(references, per_variant, replica)

    per_run.to_csv(paths["runs_csv"], index=False)
    per_variant.to_csv(paths["table_csv"], index=False)
    paths["table_md"].write_text(variant_markdown(per_variant, n_boot))
    comparison.to_csv(paths["comparison_csv"], index=False)
    paths["comparison_md"].write_text(comparison_markdown(comparison, baseline, study.variants))
    literature_rows.to_csv(paths["literature_csv"], index=False)
    paths["literature_md"].write_text(literature_markdown(literature_rows, replica))
    paths["summary_md"].write_text(summary_markdown(index, per_variant, comparison, baseline, replica, reference))

    evaluation = study.predictions[study.predictions["split"] == "evaluation"]
    best_tracks = evaluation[evaluation["variant"] == best]
    figures.roc_figure(best_tracks, best, paths["roc"])
    figures.confusion_figure(evaluation, study.variants, paths["confusion"], normalized=False)
    figures.confusion_figure(evaluation, study.variants, paths["confusion_normalized"], normalized=True)
    figures.recall_figure(per_run, study.variants, paths["recall_by_variant"])
    figures.forest_figure(per_variant, reference, paths["forest"])
    figures.training_curves_figure(study.history, study.training, study.variants, paths["training_curves"])
    figures.calibration_figure(best_tracks, best, paths["calibration"])
    figures.variants_figure(per_run, study.variants, paths["variants"])

    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise RuntimeError(f"build_report did not write {missing}")
    return list(paths.values())
