"""Snakemake adapter: generate the synthetic demo archive."""

from pathlib import Path

from astgenre.demo import generate_corpus
from astgenre.logs import log_to

log_to(snakemake.log[0])
archive = Path(snakemake.output.archive)
md5 = generate_corpus(archive, **snakemake.params.generate)
Path(snakemake.output.md5).write_text(f"{md5}  {archive.name}\n")
