"""Snakemake adapter: gather the decode errors of all shards into one table."""

from pathlib import Path

import pandas as pd

from astgenre.logs import log_to

log_to(snakemake.log[0])
# One table per excerpt and shard (audio/<excerpt>/shard<k>.errors.tsv); the excerpt column says which.
errors = pd.concat(
    [pd.read_csv(path, sep="\t", dtype=str).assign(excerpt=Path(path).parent.name) for path in snakemake.input],
    ignore_index=True,
)
errors.to_csv(snakemake.output[0], sep="\t", index=False)
