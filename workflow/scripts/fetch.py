"""Snakemake adapter: download (or link) the archive and verify its checksum."""

from pathlib import Path

from astgenre.download import fetch_archive
from astgenre.logs import log_to

log_to(snakemake.log[0])
md5 = snakemake.params.md5
if not md5 and "source_md5" in snakemake.input.keys():
    md5 = Path(snakemake.input.source_md5).read_text().split()[0]
fetch_archive(snakemake.params.url, Path(snakemake.output.archive), md5=md5, record_api=snakemake.params.record_api)
