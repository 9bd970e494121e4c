"""Snakemake adapter: copy the model of the best run (development metric) to results/<study>/best_model, with its
model card."""

import logging
from pathlib import Path

from astgenre.export import export_best_model
from astgenre.logs import log_to
from astgenre.model_card import best_model_card, load_study_context
from astgenre.report import runs_frame
from astgenre.report.runs import PATH_COLUMNS

log_to(snakemake.log[0])
runs = runs_frame(
    variants=list(snakemake.params.variants),
    seeds=list(snakemake.params.seeds),
    paths={name: list(snakemake.input[name]) for name in PATH_COLUMNS},
)
study = load_study_context(
    snakemake.params.study, snakemake.params.dataset_url, snakemake.params.excerpts, snakemake.input.index_summary
)
best = export_best_model(
    [Path(path).parent for path in snakemake.input.metrics_development],  # the run directories, in the grid's order
    Path(snakemake.output[0]),
    metric=snakemake.params.metric,
    card_writer=lambda selection: best_model_card(runs, selection, study),
)
logging.getLogger("export_best_model").info(
    "best run: %s seed %s, development %s %.4f", best["variant"], best["seed"], best["metric"], best["value"]
)
