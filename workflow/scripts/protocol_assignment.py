"""Snakemake adapter: one protocol's assignment of tracks to roles (train, select, test) per fold."""

from pathlib import Path

from astgenre import protocols
from astgenre.dataset import read_index
from astgenre.logs import log_to

log_to(snakemake.log[0])
index = read_index(Path(snakemake.input.index))
table = protocols.build(snakemake.wildcards.protocol, index, snakemake.params.settings)
protocols.write(table, Path(snakemake.output.assignment))
protocols.fold_summary(table).to_csv(snakemake.output.folds, sep="\t", index=False)
