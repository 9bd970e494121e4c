"""Snakemake adapter: copy the model of the best run (development metric) to results/<study>/best_model."""

import logging
from pathlib import Path

from astgenre.export import export_best_model
from astgenre.logs import log_to

log_to(snakemake.log[0])
best = export_best_model(
    [Path(path).parent for path in snakemake.input.metrics],  # the run directories, in the grid's order
    Path(snakemake.output[0]),
    metric=snakemake.params.metric,
)
logging.getLogger("export_best_model").info(
    "best run: %s seed %s, development %s %.4f", best["variant"], best["seed"], best["metric"], best["value"]
)
