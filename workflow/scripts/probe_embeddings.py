"""Snakemake adapter: frozen pretrained AST embeddings of one shard's features (the linear_probe baseline)."""

from pathlib import Path

from astgenre.baselines import probe
from astgenre.features import FbankSettings
from astgenre.logs import log_to
from astgenre.runtime import resolve_device

log_to(snakemake.log[0])
features = Path(snakemake.input.features)
probe.embed_shard(
    snakemake.params.checkpoint,
    [features],
    sorted(path.stem for path in features.glob("*.npy")),
    Path(snakemake.output[0]),
    hop=snakemake.params.hop,
    settings=FbankSettings(**snakemake.params.settings),
    batch_size=snakemake.params.batch_size,
    device=str(resolve_device(snakemake.params.device)),
    threads=snakemake.threads,
)
