"""Snakemake adapter: check the archive is still the one fetch verified, then extract it safely."""

from pathlib import Path

from astgenre.dataset import extract_archive
from astgenre.download import verify_fetched
from astgenre.logs import log_to

log_to(snakemake.log[0])
archive = Path(snakemake.input.archive)
verify_fetched(archive)  # a linked local source may have been replaced since
extract_archive(archive, Path(snakemake.output.root))
