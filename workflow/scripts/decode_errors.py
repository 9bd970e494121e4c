"""Snakemake adapter: gather the decode errors of all shards into one table."""

import pandas as pd

from astgenre.logs import log_to

log_to(snakemake.log[0])
errors = pd.concat([pd.read_csv(path, sep="\t", dtype=str) for path in snakemake.input], ignore_index=True)
errors.to_csv(snakemake.output[0], sep="\t", index=False)
