"""Snakemake adapter: fit one baseline on its run's train tracks, choose its hyperparameters on the selection tracks,
and write predictions and metrics of its evaluation sets in the AST runs' files: the development and evaluation
splits (official), or the select and test roles of a protocol fold."""

from pathlib import Path

from astgenre.baselines.runs import write_run
from astgenre.logs import log_to

log_to(snakemake.log[0])
write_run(
    baseline=snakemake.wildcards.baseline,
    tables=[Path(p) for p in snakemake.input.tables],
    index_path=Path(snakemake.input.index),
    assignment=Path(snakemake.input.assignment) if "assignment" in snakemake.input.keys() else None,
    fold=int(snakemake.wildcards.get("fold", 0)),
    select_metric=snakemake.params.select_metric,
    outputs={name: Path(path) for name, path in snakemake.output.items()},
    sets=list(snakemake.params.sets),
)
