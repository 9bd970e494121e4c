"""Snakemake adapter: MFCC and spectral statistics of one shard's decoded audio (the mfcc_svm baseline)."""

from pathlib import Path

from astgenre.baselines import mfcc
from astgenre.logs import log_to

log_to(snakemake.log[0])
audio = Path(snakemake.input.audio)
mfcc.featurize_shard(audio, sorted(path.stem for path in audio.glob("*.npy")), Path(snakemake.output[0]))
