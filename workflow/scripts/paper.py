"""Snakemake adapter: the paper bundle (figures, LaTeX tables, numbers.tex, preview.tex) from the report."""

import logging
from pathlib import Path

from astgenre.logs import log_to
from astgenre.report.paper import PAPER_FIGURES, build_paper, bundle_files

log_to(snakemake.log[0])
out_dir = Path(snakemake.output.numbers).parent
expected = {name: out_dir / relative for name, relative in bundle_files(snakemake.params.formats).items()}
if {name: Path(snakemake.output[name]) for name in expected} != expected:
    raise ValueError(f"the rule's outputs must be named by bundle_files inside one directory, expected {expected}")
written = build_paper(
    report_dir=Path(snakemake.input.tables[0]).parent,
    out_dir=out_dir,
    formats=list(snakemake.params.formats),
    baseline=snakemake.params.baseline,
    replica=snakemake.params.replica,
    captions={name: Path(path).read_text() for name, path in zip(PAPER_FIGURES, snakemake.input.captions, strict=True)},
)
logging.getLogger("paper").info("paper bundle: %d files in %s", len(written), out_dir)
