"""Snakemake adapter: the study's test metrics under each protocol, and the artist effect."""

from pathlib import Path

from astgenre.logs import log_to
from astgenre.report.protocols import PROTOCOL_REPORT_FILES, ProtocolRun, build_protocol_report

log_to(snakemake.log[0])
keys = [*snakemake.params.official, *snakemake.params.protocols]
paths = [*snakemake.input.official, *snakemake.input.protocols]
runs = [ProtocolRun(p, int(f), v, int(s), Path(path)) for (p, f, v, s), path in zip(keys, paths, strict=True)]
out_dir = Path(snakemake.output.protocols_csv).parent
written = build_protocol_report(runs, out_dir)
expected = [out_dir / name for name in PROTOCOL_REPORT_FILES.values()]
if sorted(written) != sorted(expected) or sorted(written) != sorted(Path(p) for p in snakemake.output):
    raise ValueError(f"the rule's outputs must be PROTOCOL_REPORT_FILES in one folder: {list(snakemake.output)}")
