"""Snakemake adapter: create the small local AST checkpoint of the demo preset."""

from pathlib import Path

from astgenre.features import FbankSettings
from astgenre.logs import log_to
from astgenre.model import create_checkpoint

log_to(snakemake.log[0])
create_checkpoint(Path(snakemake.output[0]), snakemake.params.ast, FbankSettings(**snakemake.params.settings))
