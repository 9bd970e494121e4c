"""Snakemake adapter: index every track of the three splits with its tracklist label."""

import json
from pathlib import Path

from astgenre.dataset import build_index, format_summary, index_summary, write_index
from astgenre.logs import log_to

log_to(snakemake.log[0])
index, resolutions = build_index(Path(snakemake.input.root) / "ismir04_genre")
write_index(index, Path(snakemake.output.index))
resolutions.to_csv(snakemake.output.resolutions, sep="\t", index=False)
summary = index_summary(index)
Path(snakemake.output.summary).write_text(json.dumps(summary, indent=2) + "\n")
Path(snakemake.output.summary_md).write_text(format_summary(summary))
