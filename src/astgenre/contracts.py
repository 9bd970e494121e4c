"""The contracts between stages: one home for every name that a file's writer and its readers share.

A run's files live in ``results/<study>/runs/<variant>/seed<seed>/`` (:data:`RUN_DIR`): the model folder, the
training history and summary (written by training), predictions and metrics per evaluation split (written by
evaluation), read by the report and the export.
"""

from __future__ import annotations

from .labels import CLASSES

EVALUATION_SPLITS: tuple[str, ...] = ("development", "evaluation")
"""The splits every run is evaluated on (development also selects; evaluation is held out)."""

EVALUATION_ROLES: tuple[str, ...] = ("select", "test")
"""What a protocol run is evaluated on (astgenre.protocols): the tracks that selected its checkpoint and its test
tracks. Official runs name their files by split (development, evaluation), protocol runs by role."""

DEV_METRICS: tuple[str, ...] = ("accuracy", "macro_f1", "balanced_accuracy", "weighted_f1")
"""Development metrics logged every epoch; a recipe's select_metric is one of them."""

BASELINE_NAMES: tuple[str, ...] = ("mfcc_svm", "linear_probe")
"""The baseline systems (config key baselines): their runs are runs/<name>/seed0, so no variant may take a name."""

SELECT_METRICS: tuple[str, ...] = ("macro_f1", "accuracy", "balanced_accuracy", "weighted_f1")
"""The metrics that may choose a checkpoint or a baseline's hyperparameters (training.select_metric), default first."""

HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch",
    "step",
    "train_loss",
    "learning_rate",
    "dev_loss",
    *(f"dev_{metric}" for metric in DEV_METRICS),
)
"""Columns of history.tsv: one row per logging step (train_loss) or per epoch's evaluation (dev_*)."""

PROB_COLUMNS: tuple[str, ...] = tuple(f"prob_{cls}" for cls in CLASSES)
PREDICTION_COLUMNS: tuple[str, ...] = ("track_id", "split", "label", "predicted", "n_windows", *PROB_COLUMNS)
"""Columns of predictions_<split>.tsv: one row per track, class probabilities in CLASSES order."""

RUN_DIR = "runs/{variant}/seed{seed}"
"""A run's folder under results/<study>/ (a Snakemake pattern with the variant and seed wildcards)."""
MODEL_DIR = "model"
HISTORY_FILE = "history.tsv"
TRAIN_SUMMARY_FILE = "train_summary.json"
SELECTION_FILE = "selection.json"
"""A baseline run's selection record (astgenre.baselines.runs): the grid, its scores, the tracks it read."""
TRACKS_FILE = "tracks.tsv"
"""The tracks a run trained on and selected its checkpoint on (columns track_id, role: train or select)."""
RUN_INFO = "astgenre.json"
"""File saved beside a fine-tuned model: feature settings, window length and hop, aggregation, labels."""
CARD = "README.md"
"""The model card of a model folder (Markdown with the YAML metadata block the Hugging Face Hub reads)."""
PREPROCESSOR_CONFIG = "preprocessor_config.json"
"""The feature extractor's settings beside a fine-tuned model (transformers' FEATURE_EXTRACTOR_NAME), read by
``AutoFeatureExtractor`` and ``pipeline("audio-classification")``: the features the model was trained on."""
BEST_RUN = "best_run.json"
"""File added to the exported model folder: which run was chosen, by which metric, among which candidates."""


def predictions_file(split: str) -> str:
    """A run's track-level predictions on one split."""
    return f"predictions_{split}.tsv"


def metrics_file(split: str) -> str:
    """A run's metrics on one split (astgenre.metrics.track_metrics plus variant, seed, split)."""
    return f"metrics_{split}.json"
