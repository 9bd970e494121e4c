"""Snakemake adapter: extract the archive safely."""

from pathlib import Path

from astgenre.dataset import extract_archive
from astgenre.logs import log_to

log_to(snakemake.log[0])
extract_archive(Path(snakemake.input.archive), Path(snakemake.output.root))
