"""Model cards: the README.md of a model folder, with the YAML metadata block the Hugging Face Hub reads, written
from a run's results.

The numbers come from the report's own table functions (:func:`astgenre.report.tables.run_table` and
:func:`~astgenre.report.tables.variant_table`) over the same run files as the report, so a card agrees with
``report/runs.csv`` (the run's metrics and its bootstrap intervals over the evaluation tracks, seeded by the run's
seed) and ``report/table.csv`` (the variant's mean, std and t-interval over seeds) without depending on the report
job, whose figures may be redrawn at any time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .features import FRAME_LENGTH, HOP_LENGTH, FbankSettings
from .labels import CLASSES
from .model import RUN_INFO
from .report import formatting as fmt
from .report.runs import StudyRuns, load_runs
from .report.stats import BOOTSTRAP_METRICS
from .report.summary import read_index_summary
from .report.tables import INTERVAL_NOTES, interval_cell, run_table, select_best_variant, variant_table

N_BOOT = 1000
"""Bootstrap resamples of the evaluation tracks per run: the report's (build_report's default)."""
LIBRARY = "transformers"
PIPELINE_TAG = "audio-classification"
TASK_NAME = "Music genre classification"
DATASET = {"id": "ismir2004-genre", "name": "ISMIR2004 Genre", "url": "https://zenodo.org/records/1302992"}
"""The corpus of the full study. Not a dataset of the Hugging Face Hub: the id only names it in the metadata."""
DEMO_DATASET = {"id": "astgenre-demo-corpus", "name": "astgenre demo corpus (synthetic)", "url": None}
"""The corpus the demo preset generates (dataset.url: generated)."""
CARD_METRICS: tuple[tuple[str, str, str, dict[str, str] | None], ...] = (
    ("accuracy", "accuracy", "Accuracy", None),
    ("balanced_accuracy", "balanced_accuracy", "Balanced accuracy", None),
    ("macro_f1", "f1", "Macro-F1", {"average": "macro"}),
)
"""(column in the report's tables, Hub metric id, name, metric args) of the metrics in the card's metadata."""
CARD_SPLITS: tuple[str, ...] = ("evaluation", "development")
REQUIRED_METADATA: tuple[str, ...] = ("library_name", "pipeline_tag", "datasets", "metrics", "model-index")
_SPLIT_PREFIX = {"development": "dev", "evaluation": "eval"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class Study:
    """What a card says about the study beyond the run's own files (the workflow's configuration)."""

    name: str
    dataset_url: str
    """config dataset.url; "generated" is the demo's synthetic corpus."""
    excerpts: Mapping[str, Mapping[str, Any]]
    """Each variant's excerpt of every track, {start: seconds or "middle", duration: seconds or None}."""
    index_summary: Mapping[str, Any]
    """index_summary.json: tracks per split and class, artists per split and their overlap."""

    @property
    def synthetic(self) -> bool:
        return self.dataset_url == "generated"

    @property
    def dataset(self) -> dict[str, str | None]:
        return DEMO_DATASET if self.synthetic else DATASET


def load_study_context(
    name: str, dataset_url: str, excerpts: Mapping[str, Mapping[str, Any]], index_summary: Path
) -> Study:
    """The Study of a workflow run, its index summary read and checked."""
    return Study(name, dataset_url, dict(excerpts), read_index_summary(Path(index_summary)))


@dataclass(frozen=True)
class _Run:
    """Everything a card says about one run."""

    variant: str
    seed: int
    info: Mapping[str, Any]  # astgenre.json
    training: Mapping[str, Any]  # train_summary.json
    row: Mapping[str, Any]  # its row of the report's run table (runs.csv)
    support: Mapping[str, Mapping[str, int]]  # split -> class -> tracks


# --------------------------------------------------------------------------- the cards


def run_card(runs: pd.DataFrame, model_dir: Path, study: Study, n_boot: int = N_BOOT) -> str:
    """The card of one run: ``runs`` is its one-row runs table (:func:`astgenre.report.runs_frame`), model_dir its
    model/ folder (astgenre.json)."""
    if len(runs) != 1:
        raise ValueError(f"run_card takes the runs table of one run, got {len(runs)} rows")
    study_runs = load_runs(runs)
    per_run = run_table(study_runs, n_boot=n_boot)
    variant, seed = str(runs["variant"].iloc[0]), int(runs["seed"].iloc[0])
    return _render(_run(runs, study_runs, per_run, variant, seed, Path(model_dir)), study, n_boot)


def best_model_card(runs: pd.DataFrame, selection: Mapping[str, Any], study: Study, n_boot: int = N_BOOT) -> str:
    """The card of the study's exported model: the chosen run's card, how it was chosen (``selection``: the content
    of best_run.json) and its variant over seeds as the report's table.csv gives it."""
    study_runs = load_runs(runs)
    per_run = run_table(study_runs, n_boot=n_boot)
    per_variant = variant_table(per_run, study_runs.variants)
    variant, seed = str(selection["variant"]), int(selection["seed"])
    run = _run(runs, study_runs, per_run, variant, seed, Path(selection["run_dir"]) / "model")
    variant_row = per_variant[per_variant["variant"] == variant].iloc[0].to_dict()
    report_best = select_best_variant(per_variant)
    return _render(run, study, n_boot, selection=selection, variant_row=variant_row, report_best=report_best)


def _run(
    runs: pd.DataFrame, study_runs: StudyRuns, per_run: pd.DataFrame, variant: str, seed: int, model_dir: Path
) -> _Run:
    chosen = (runs["variant"] == variant) & (runs["seed"] == seed)
    if chosen.sum() != 1:
        raise ValueError(f"run {variant}/seed{seed} is not in the runs table once ({int(chosen.sum())} times)")
    paths = runs[chosen].iloc[0]
    row = per_run[(per_run["variant"] == variant) & (per_run["seed"] == seed)].iloc[0].to_dict()
    metrics = study_runs.metrics
    mine = metrics[(metrics["variant"] == variant) & (metrics["seed"] == seed)].set_index("split")
    support = {split: {cls: int(mine.loc[split, f"support_{cls}"]) for cls in CLASSES} for split in CARD_SPLITS}
    info = json.loads((model_dir / RUN_INFO).read_text())
    if (str(info.get("variant")), int(info.get("seed", -1))) != (variant, seed):
        raise ValueError(f"{model_dir / RUN_INFO} is the model of {info.get('variant')}/seed{info.get('seed')}")
    training = json.loads(Path(paths["train_summary"]).read_text())
    return _Run(variant, seed, info, training, row, support)


def _render(
    run: _Run,
    study: Study,
    n_boot: int,
    *,
    selection: Mapping[str, Any] | None = None,
    variant_row: Mapping[str, Any] | None = None,
    report_best: str | None = None,
) -> str:
    metadata = _metadata(run, study)
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    body = _body(run, study, n_boot, selection, variant_row, report_best)
    text = f"---\n{front}---\n\n{body}"
    problems = card_problems(text)
    if problems:  # a bug of this module, not of the run
        raise RuntimeError(f"the model card of {run.variant}/seed{run.seed} is not valid: {'; '.join(problems)}")
    return text


def _metadata(run: _Run, study: Study) -> dict[str, Any]:
    """The YAML metadata block: library, pipeline tag, base model, datasets, metrics and model-index results (the
    run's metrics on the evaluation and the development split, fractions rounded to 4 decimals)."""
    dataset = study.dataset
    metadata: dict[str, Any] = {
        "library_name": LIBRARY,
        "pipeline_tag": PIPELINE_TAG,
        "tags": ["audio", "music", "genre-classification", "audio-spectrogram-transformer", "astgenre"]
        + (["demo", "synthetic-data"] if study.synthetic else []),
    }
    base = hub_base_model(run.info.get("checkpoint"))
    if base:
        metadata["base_model"] = base
    metadata["datasets"] = [dataset["id"]]
    metadata["metrics"] = list(dict.fromkeys(hub_id for _, hub_id, _, _ in CARD_METRICS))
    metadata["model-index"] = [
        {
            "name": f"astgenre-{study.name}-{run.variant}-seed{run.seed}",
            "results": [
                {
                    "task": {"type": PIPELINE_TAG, "name": TASK_NAME},
                    "dataset": {"name": dataset["name"], "type": dataset["id"], "split": split},
                    "metrics": [
                        {
                            "type": hub_id,
                            "value": round(float(run.row[f"{_SPLIT_PREFIX[split]}_{column}"]), 4),
                            "name": f"{name} ({split})",
                            **({"args": dict(args)} if args else {}),  # a copy: no YAML anchors
                        }
                        for column, hub_id, name, args in CARD_METRICS
                    ],
                }
                for split in CARD_SPLITS
            ],
        }
    ]
    return metadata


def hub_base_model(checkpoint: str | None) -> str | None:
    """The checkpoint as a Hub model id, or None for a local folder (the demo's locally created model)."""
    if not checkpoint or not _HUB_ID.fullmatch(str(checkpoint)) or Path(str(checkpoint)).exists():
        return None
    return str(checkpoint)


# --------------------------------------------------------------------------- the text


def window_seconds(frames: int, sample_rate: int) -> float:
    """Seconds of audio that fill a window of ``frames`` frames exactly (400-sample frames every 160 samples)."""
    return (FRAME_LENGTH + (frames - 1) * HOP_LENGTH) / sample_rate


def excerpt_text(excerpt: Mapping[str, Any]) -> str:
    """The part of each track that the study read, in words ("30 s from the middle of each track")."""
    start, duration = excerpt.get("start", 0.0), excerpt.get("duration")
    if start == "middle":
        return "whole tracks" if duration is None else f"{float(duration):g} s from the middle of each track"
    if float(start) == 0:
        return "whole tracks" if duration is None else f"the first {float(duration):g} s of each track"
    length = "the rest" if duration is None else f"{float(duration):g} s"
    return f"{length} of each track from {float(start):g} s on"


def excerpt_arguments(excerpt: Mapping[str, Any]) -> str:
    """The ``astgenre predict`` options that read the same excerpt."""
    start, duration = excerpt.get("start", 0.0), excerpt.get("duration")
    parts = [] if start in (0, 0.0) else [f"--excerpt-start {start if start == 'middle' else f'{float(start):g}'}"]
    if duration is not None:
        parts.append(f"--excerpt-duration {float(duration):g}")
    return " ".join(parts)


def _body(
    run: _Run,
    study: Study,
    n_boot: int,
    selection: Mapping[str, Any] | None,
    variant_row: Mapping[str, Any] | None,
    report_best: str | None,
) -> str:
    info, recipe = run.info, run.training.get("recipe", {})
    settings = FbankSettings(**info["features"])
    frames, hop = int(info["window_frames"]), int(info["eval_hop_frames"])
    seconds = window_seconds(frames, settings.sample_rate)
    excerpt = study.excerpts.get(run.variant, {"start": 0.0, "duration": None})
    dataset = study.dataset
    dataset_link = f"[{dataset['name']}]({dataset['url']})" if dataset["url"] else dataset["name"]
    lines: list[str] = []
    if study.synthetic:
        lines += [
            "> **Demo model.** Trained and evaluated on the synthetic corpus that the workflow's demo preset generates "
            "(signals shaped like the real archive, not music). It checks the machinery; its numbers say nothing "
            "about music genre classification. Do not use or publish it as a genre classifier.",
            "",
        ]
    lines += [
        f"# AST music genre classifier ({study.name}: {run.variant}, seed {run.seed})",
        "",
        f"An Audio Spectrogram Transformer (AST) fine-tuned to classify music into six genres "
        f"({', '.join(f'`{c}`' for c in CLASSES)}) on {dataset_link}, by the astgenre Snakemake workflow: "
        f"study `{study.name}`, variant `{run.variant}` (class weighting `{recipe.get('weighting', 'none')}`), "
        f"seed {run.seed}.",
        "",
    ]
    if selection is not None:
        lines += [
            f"This is the study's exported model: of its {len(selection['candidates'])} runs (variants x seeds), the "
            f"one with the highest development {selection['metric']} ({fmt.percent(selection['value'])}%).",
            "",
        ]
    lines += _usage_section(frames, hop, seconds, excerpt)
    lines += _protocol_section(run, study, settings, frames, excerpt, selection)
    lines += _results_section(run, n_boot, selection, variant_row, report_best)
    lines += _artist_section(study.index_summary)
    lines += _use_and_limits(run, study, seconds)
    return "\n".join(lines)


def _usage_section(frames: int, hop: int, seconds: float, excerpt: Mapping[str, Any]) -> list[str]:
    arguments = excerpt_arguments(excerpt)
    return [
        "## How to use",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        'classifier = pipeline("audio-classification", model="path/to/this/folder")  # or its Hub repo id',
        'classifier("song.mp3")  # needs ffmpeg; or {"raw": mono_float32_array, "sampling_rate": 16000}',
        "```",
        "",
        f"The pipeline (like `AutoFeatureExtractor` with `AutoModelForAudioClassification`) classifies **one "
        f"window**: the first {frames} frames ({seconds:g} s) of the audio it is given; the rest is cut off. "
        f"The study classified whole excerpts instead, averaging the model's logits over windows of {frames} frames "
        f"every {hop} frames; `astgenre predict` does the same:",
        "",
        "```bash",
        " ".join(part for part in ("astgenre predict --model path/to/this/folder", arguments, "song.mp3") if part),
        "```",
        "",
        f"On audio of at most {seconds:g} s both see the same window; on longer tracks "
        f"`astgenre predict --excerpt-start 0 --excerpt-duration {seconds:g}` reads the pipeline's window.",
        "",
    ]


def _protocol_section(
    run: _Run,
    study: Study,
    settings: FbankSettings,
    frames: int,
    excerpt: Mapping[str, Any],
    selection: Mapping[str, Any] | None,
) -> list[str]:
    info, training, recipe = run.info, run.training, run.training.get("recipe", {})
    per_split = study.index_summary["per_split"]
    counts = ", ".join(f"{split} {sum(per_split[split].values())}" for split in per_split)
    base = hub_base_model(info.get("checkpoint"))
    base_text = f"[`{base}`](https://huggingface.co/{base})" if base else "a small AST created locally (demo preset)"
    windows = (
        "the first window of each track only"
        if recipe.get("window") == "first"
        else f"{recipe.get('windows_per_track')} random windows per track and epoch"
    )
    specaugment = recipe.get("specaugment")
    augment = (
        f"SpecAugment ({specaugment['n_masks']} mask(s), frequency {specaugment['freq_mask']}, time "
        f"{specaugment['time_mask']})"
        if specaugment
        else "no SpecAugment"
    )
    lines = [
        "## Training and evaluation protocol",
        "",
        f"- Data: {study.dataset['name']}, tracks per split: {counts}. Training learns, development selects, "
        "evaluation measures.",
        f"- Input: {excerpt_text(excerpt)}, mono {settings.sample_rate} Hz; log-mel features "
        f"({settings.num_mel_bins} bins, 25 ms frames every 10 ms) normalised with mean {settings.mean} and std "
        f"{settings.std}, exactly as `ASTFeatureExtractor` computes them (preprocessor_config.json); windows of "
        f"{frames} frames.",
        f"- Base model: {base_text}; a new 6-class head.",
        f"- Fine-tuning: {windows}; class weighting `{recipe.get('weighting', 'none')}`; up to "
        f"{recipe.get('epochs')} epochs, batch {recipe.get('batch_size')} x {recipe.get('grad_accum', 1)} "
        f"accumulation, learning rate {recipe.get('learning_rate')} ({recipe.get('scheduler')}), {augment}, "
        f"mixup {recipe.get('mixup', 0.0)}, seed {run.seed}.",
        f"- Checkpoint: the epoch with the highest development {training.get('select_metric')} (epoch "
        f"{_number(training.get('selected_epoch'))} of {_number(training.get('epochs_run'))}; track level: window "
        f"{info.get('aggregate')} averaged per track).",
    ]
    if selection is not None:
        lines.append(
            f"- Run: the highest development {selection['metric']} of the study's {len(selection['candidates'])} "
            "runs; the evaluation split was not used to choose it."
        )
    lines += [
        "- Evaluation: the evaluation split, read once per run by its final model; it chose nothing.",
        "",
    ]
    return lines


def _number(value: Any) -> str:
    return fmt.MISSING if value is None else f"{float(value):g}"


def _results_section(
    run: _Run,
    n_boot: int,
    selection: Mapping[str, Any] | None,
    variant_row: Mapping[str, Any] | None,
    report_best: str | None,
) -> list[str]:
    row = run.row
    table = []
    for split in ("development", "evaluation"):
        prefix = _SPLIT_PREFIX[split]
        cells = []
        for column, _, _, _ in CARD_METRICS:
            value = fmt.percent(row[f"{prefix}_{column}"])
            if split == "evaluation" and column in BOOTSTRAP_METRICS:
                value += " " + fmt.interval(row[f"eval_{column}_boot_low"], row[f"eval_{column}_boot_high"])
            cells.append(value)
        table.append([split, int(row[f"{prefix}_n_tracks"]), *cells])
    chosen = "the checkpoint and the run" if selection is not None else "the checkpoint"
    lines = [
        "## Results",
        "",
        "This model, in percent:",
        "",
        fmt.markdown_table(table, ["Split", "Tracks", *[name for _, _, name, _ in CARD_METRICS]]),
        f"Evaluation intervals: 95% percentile bootstrap over the evaluation tracks ({n_boot} resamples). The "
        f"development split chose {chosen}, so its numbers are optimistic; the evaluation split is the one to "
        "compare with other work.",
        "",
    ]
    if variant_row is not None:
        lines += [
            f"Its variant `{run.variant}` over {int(variant_row['n_seeds'])} seed(s) (seeds {variant_row['seeds']}), "
            "evaluation split, mean ± std [95% t-interval over seeds], as in the study's report/table.md:",
            "",
            *[
                f"- {name}: {interval_cell(variant_row, f'eval_{column}')}"
                for column, _, name, _ in CARD_METRICS
                if f"eval_{column}_mean" in variant_row
            ],
            "",
        ]
        if variant_row.get("few_seeds"):
            lines += [INTERVAL_NOTES, ""]
        if report_best is not None and report_best != run.variant:
            lines += [
                f"The report's best variant (highest mean development macro-F1 over seeds) is `{report_best}`; this "
                "model is the best single run by its own development score, which is a noisier choice.",
                "",
            ]
    recall_rows = []
    for cls in CLASSES:
        recall = row.get(f"eval_recall_{cls}", math.nan)
        cells = [fmt.class_title(cls), run.support["evaluation"][cls], fmt.percent(recall)]
        if variant_row is not None:
            cells.append(interval_cell(variant_row, f"eval_recall_{cls}"))
        recall_rows.append(cells)
    headers = ["Genre", "Tracks", "Recall"] + (["Variant over seeds"] if variant_row is not None else [])
    lines += [
        "### Per-class recall (evaluation split)",
        "",
        fmt.markdown_table(recall_rows, headers),
    ]
    return lines


def artist_overlap_text(index_summary: Mapping[str, Any]) -> str:
    """How many evaluation (and development) artists also appear in training, from the index summary."""
    artists, overlap = index_summary.get("artists", {}), index_summary.get("artist_overlap", {})
    parts = []
    for split in ("evaluation", "development"):
        shared, total = overlap.get(f"training-{split}"), artists.get(split)
        if f"training-{split}" not in overlap or total is None:
            continue
        if shared is None:
            parts.append(f"the {split} split's artists are anonymised, so its overlap with training is unknown")
        elif shared == total:
            parts.append(f"every one of the {total} {split} artists also appears in the training split")
        else:
            parts.append(f"{shared} of the {total} {split} artists also appear in the training split")
    return "; ".join(parts) + "." if parts else "unknown (the index summary does not say)."


def _artist_section(index_summary: Mapping[str, Any]) -> list[str]:
    text = artist_overlap_text(index_summary)
    return [
        "## Caveat: artists shared between splits",
        "",
        f"In this corpus {text} Tracks by an artist seen in training are easier to classify (the artist's and "
        "album's sound, not only the genre), so the evaluation numbers overstate how well the model recognises the "
        "genre of artists it has never heard.",
        "",
    ]


def _use_and_limits(run: _Run, study: Study, seconds: float) -> list[str]:
    training_counts = study.index_summary["per_split"].get("training", {})
    total = sum(training_counts.values())
    largest = max(training_counts, key=training_counts.get) if total else None
    recalls = {cls: run.row.get(f"eval_recall_{cls}", math.nan) for cls in CLASSES}
    known = {cls: value for cls, value in recalls.items() if not pd.isna(value)}
    weakest = min(known, key=known.get) if known else None
    lines = [
        "## Intended use",
        "",
        "- Research and teaching on music genre classification: a reproducible fine-tuned baseline whose numbers "
        "come with the study's protocol, intervals and report.",
        "- Rough tagging of recordings into these six broad genres, knowing its errors (per-class recall above).",
        "",
        "## Limitations",
        "",
        "- Six broad genres of one 2004 corpus; music of any other genre is still put into one of the six, and "
        "genre labels are a matter of taste at their borders.",
    ]
    if largest is not None:
        lines.append(
            f"- Class imbalance: `{largest}` holds {fmt.percent(training_counts[largest] / total)}% of the training "
            "tracks."
            + (
                f" The lowest evaluation recall is `{weakest}`'s ({fmt.percent(known[weakest])}%)."
                if weakest is not None
                else ""
            )
        )
    lines += [
        "- Artists shared between training and evaluation (above): the reported accuracy is optimistic for unseen "
        "artists.",
        f"- The `transformers` pipeline sees only the first {seconds:g} s of what it is given; cut the part to "
        "classify, or use `astgenre predict`, which averages the whole excerpt.",
        "- Not meant for decisions about people or their work (royalties, moderation, ranking artists).",
        "",
    ]
    return lines


# --------------------------------------------------------------------------- reading a card back


def card_metadata(text: str) -> dict[str, Any]:
    """The YAML metadata block at the top of a model card (between the first two '---' lines), parsed.

    Raises ValueError when the card has none or it is not a YAML mapping.
    """
    match = re.match(r"^---\n(.*?\n)---\n", text, flags=re.DOTALL)
    if not match:
        raise ValueError("the card does not start with a YAML metadata block between '---' lines")
    metadata = yaml.safe_load(match.group(1))
    if not isinstance(metadata, dict):
        raise ValueError("the card's metadata block is not a YAML mapping")
    return metadata


def card_problems(text: str) -> list[str]:
    """Why the Hub would not read this card as a model card of this project (empty when it would): metadata block,
    required keys, and a model-index that ``huggingface_hub.ModelCard`` parses into evaluation results."""
    try:
        metadata = card_metadata(text)
    except (ValueError, yaml.YAMLError) as error:
        return [str(error)]
    problems = [f"the metadata lacks {key!r}" for key in REQUIRED_METADATA if key not in metadata]
    if metadata.get("pipeline_tag", PIPELINE_TAG) != PIPELINE_TAG:
        problems.append(f"pipeline_tag is {metadata['pipeline_tag']!r}, not {PIPELINE_TAG!r}")
    if "model-index" in metadata:
        from huggingface_hub import ModelCard

        try:
            results = ModelCard(text).data.eval_results or []
        except Exception as error:  # noqa: BLE001 - any parsing error of the library is a problem of the card
            return [*problems, f"huggingface_hub cannot read the model-index: {error}"]
        if not results:
            problems.append("the model-index holds no evaluation results")
    return problems


def eval_results(text: str) -> dict[tuple[str, str], float]:
    """{(split, metric id): value} of the card's model-index, as ``huggingface_hub`` reads it."""
    from huggingface_hub import ModelCard

    return {
        (result.dataset_split, result.metric_type): float(result.metric_value)
        for result in ModelCard(text).data.eval_results or []
    }
