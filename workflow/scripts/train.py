"""Snakemake adapter: fine-tune one (variant, seed) run; with more than one GPU, under torchrun on this node."""

from pathlib import Path

from astgenre.features import FbankSettings
from astgenre.logs import log_to
from astgenre.recipe import Recipe
from astgenre.training import RunSpec, launch_distributed, train_run
from astgenre.training_logs import TENSORBOARD_DIR

log_to(snakemake.log[0])
spec = RunSpec(
    index_path=Path(snakemake.input.index),
    feature_dirs=tuple(Path(p) for p in snakemake.input.features),
    checkpoint=str(snakemake.params.checkpoint),
    model_dir=Path(snakemake.output.model),
    work_dir=Path(snakemake.params.work_dir),
    history_path=Path(snakemake.output.history),
    summary_path=Path(snakemake.output.summary),
    recipe=Recipe.from_mapping(snakemake.params.recipe),
    seed=int(snakemake.wildcards.seed),
    variant=snakemake.wildcards.variant,
    settings=FbankSettings(**snakemake.params.settings),
    threads=snakemake.threads,
    assignment=Path(snakemake.input.assignment) if "assignment" in snakemake.input.keys() else None,
    fold=int(snakemake.wildcards.get("fold", 0)),
    decode_errors=Path(snakemake.input.decode_errors),
    # training.report_to: tensorboard writes event files into the run's folder (beside history.tsv)
    tensorboard_dir=Path(snakemake.output.history).parent / TENSORBOARD_DIR,
)
gpus = int(snakemake.resources.get("gpu", 0))
if gpus > 1:
    launch_distributed(spec, gpus, spec.work_dir / "spec.json")
else:
    train_run(spec)
