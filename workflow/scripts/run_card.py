"""Snakemake adapter: the model card (README.md) of one run, from its own results."""

from pathlib import Path

from astgenre.logs import log_to
from astgenre.model_card import load_study_context, run_card
from astgenre.report import runs_frame
from astgenre.report.runs import PATH_COLUMNS

log_to(snakemake.log[0])
runs = runs_frame(
    variants=[snakemake.wildcards.variant],
    seeds=[int(snakemake.wildcards.seed)],
    paths={name: [snakemake.input[name]] for name in PATH_COLUMNS},
)
study = load_study_context(
    snakemake.params.study, snakemake.params.dataset_url, snakemake.params.excerpts, snakemake.input.index_summary
)
Path(snakemake.output[0]).write_text(run_card(runs, Path(snakemake.input.model), study))
