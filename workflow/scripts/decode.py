"""Snakemake adapter: decode one shard of the tracks to 16 kHz mono .npy excerpts."""

from pathlib import Path

from astgenre.audio import decode_tracks
from astgenre.dataset import read_index, select_shard
from astgenre.logs import log_to

log_to(snakemake.log[0])
p = snakemake.params
root = Path(snakemake.input.root) / "ismir04_genre"
tracks = select_shard(read_index(Path(snakemake.input.index)), p.shard, p.shards)
errors = decode_tracks(
    ((row.track_id, root / row.path) for row in tracks.itertuples()),
    Path(snakemake.output.audio),
    sample_rate=p.sample_rate,
    start=p.start,
    duration=p.duration,
    on_error=p.on_error,
)
errors.to_csv(snakemake.output.errors, sep="\t", index=False)
