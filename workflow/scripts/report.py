"""Snakemake adapter: tables, statistics and figures over all runs of the study, and their paper versions."""

from pathlib import Path

from astgenre.logs import log_to
from astgenre.report import PAPER_DIR, REPORT_FILES, build_report, paper_files, runs_frame
from astgenre.report.runs import PATH_COLUMNS

log_to(snakemake.log[0])
out_dir = Path(snakemake.output.table_csv).parent
formats = list(snakemake.params.formats)
expected = {name: out_dir / file_name for name, file_name in REPORT_FILES.items()}
expected |= {name: out_dir / PAPER_DIR / relative for name, relative in paper_files(formats).items()}
declared = {name: Path(snakemake.output[name]) for name in expected}
if declared != expected:
    raise ValueError(
        "the rule's outputs must be named by REPORT_FILES and paper_files inside one directory: "
        f"got {declared}, expected {expected}"
    )
runs = runs_frame(
    variants=list(snakemake.params.variants),
    seeds=list(snakemake.params.seeds),
    paths={name: list(snakemake.input[name]) for name in PATH_COLUMNS},
)
build_report(
    runs,
    index_summary=Path(snakemake.input.index_summary),
    out_dir=out_dir,
    literature=Path(snakemake.input.literature),
    select_metric=snakemake.params.select_metric,
    formats=formats,
    protocols=Path(snakemake.input.protocols) if "protocols" in snakemake.input.keys() else None,
)
