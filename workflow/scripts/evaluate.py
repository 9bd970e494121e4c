"""Snakemake adapter: predict one run's evaluation sets: the development and evaluation splits (official runs) or
the select and test roles of the run's protocol fold."""

from pathlib import Path

import torch

from astgenre import protocols
from astgenre.evaluation import evaluate_run
from astgenre.logs import log_to

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
roles = None
if "assignment" in snakemake.input.keys():
    roles = protocols.roles_of(protocols.read(Path(snakemake.input.assignment)), int(snakemake.wildcards.fold))
for name in snakemake.params.splits:
    evaluate_run(
        index_path=Path(snakemake.input.index),
        feature_dirs=[Path(p) for p in snakemake.input.features],
        model_dir=Path(snakemake.input.model),
        split=name,
        predictions_path=Path(snakemake.output[f"predictions_{name}"]),
        metrics_path=Path(snakemake.output[f"metrics_{name}"]),
        batch_size=snakemake.params.batch_size,
        gpu_batch_size=snakemake.params.gpu_batch_size,
        workers=snakemake.params.workers,
        threads=snakemake.threads,
        device=snakemake.params.device,
        track_ids=None if roles is None else roles[name],
        decode_errors=Path(snakemake.input.decode_errors),
    )
