"""Snakemake adapter: AST log-mel features of one shard."""

from pathlib import Path

import torch

from astgenre.features import FbankSettings, featurize_tracks
from astgenre.logs import log_to
from astgenre.runtime import resolve_device

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
audio = Path(snakemake.input.audio)
featurize_tracks(
    audio,
    sorted(path.stem for path in audio.glob("*.npy")),
    Path(snakemake.output.features),
    FbankSettings(**snakemake.params.settings),
    device=str(resolve_device(snakemake.params.device)),
    batch_size=snakemake.params.batch_size,
)
