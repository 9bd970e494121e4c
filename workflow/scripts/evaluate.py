"""Snakemake adapter: predict the development and evaluation splits with one run's model."""

from pathlib import Path

import torch

from astgenre.evaluation import evaluate_run
from astgenre.logs import log_to

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
for split in snakemake.params.splits:
    evaluate_run(
        index_path=Path(snakemake.input.index),
        feature_dirs=[Path(p) for p in snakemake.input.features],
        model_dir=Path(snakemake.input.model),
        split=split,
        predictions_path=Path(snakemake.output[f"predictions_{split}"]),
        metrics_path=Path(snakemake.output[f"metrics_{split}"]),
        batch_size=snakemake.params.batch_size,
        device=snakemake.params.device,
        decode_errors=Path(snakemake.input.decode_errors),
    )
