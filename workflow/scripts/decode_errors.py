"""Snakemake adapter: gather the decode errors of every excerpt's shards: one table per excerpt (what its train and
evaluate jobs may lack) and one for the study, with an excerpt column."""

from pathlib import Path

import pandas as pd

from astgenre.files import atomic_path
from astgenre.logs import log_to

log_to(snakemake.log[0])
tables = [
    pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False).assign(excerpt=Path(path).parent.name)
    for path in snakemake.input
]
errors = pd.concat(tables, ignore_index=True)
for path in [snakemake.output.all, *snakemake.output.excerpts]:
    rows = errors if path == snakemake.output.all else errors[errors["excerpt"] == Path(path).parent.name]
    with atomic_path(Path(path)) as tmp:
        rows.to_csv(tmp, sep="\t", index=False)
