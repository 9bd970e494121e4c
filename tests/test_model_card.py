"""Model cards (README.md with Hub metadata) written from a run's results and from the study's exported best model."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest
from huggingface_hub import ModelCard
from test_report import LITERATURE, write_index_summary, write_runs

from astgenre.contracts import CARD, PREPROCESSOR_CONFIG, RUN_INFO
from astgenre.export import export_best_model
from astgenre.features import FbankSettings
from astgenre.labels import CLASSES
from astgenre.model_card import (
    DATASET,
    DEMO_DATASET,
    Study,
    best_model_card,
    card_metadata,
    card_problems,
    eval_results,
    hub_base_model,
    load_study_context,
    run_card,
)
from astgenre.report import build_report, runs_frame
from astgenre.report import formatting as fmt
from astgenre.report.runs import PATH_COLUMNS
from astgenre.report.stats import bootstrap_ci
from astgenre.report.tables import interval_cell

N_BOOT = 200
BASE = "MIT/ast-finetuned-audioset-10-10-0.4593"
VARIANTS, SEEDS = ["none", "inverse_frequency"], [0, 1, 2]
EXCERPTS = {"none": {"start": "middle", "duration": 30.0}, "inverse_frequency": {"start": "middle", "duration": 30.0}}


def write_model(run_dir: Path, variant: str, seed: int, checkpoint: str = BASE) -> None:
    """model/ with astgenre.json as train_run writes it (weights stand-in: the card reads none)."""
    model = run_dir / "model"
    model.mkdir()
    info = {
        "variant": variant,
        "seed": seed,
        "checkpoint": checkpoint,
        "window_frames": 1024,
        "eval_hop_frames": 512,
        "window": "random",
        "aggregate": "logits",
        "features": asdict(FbankSettings()),
        "labels": list(CLASSES),
        "select_metric": "macro_f1",
        "best_dev_metric": 0.5,
    }
    (model / RUN_INFO).write_text(json.dumps(info))
    (model / "model.safetensors").write_bytes(f"weights of {variant}/{seed}".encode())
    summary_path = run_dir / "train_summary.json"
    summary = json.loads(summary_path.read_text())
    recipe = {
        "weighting": summary["recipe"]["weighting"],
        "window": "random",
        "windows_per_track": 4,
        "epochs": 10,
        "batch_size": 8,
        "grad_accum": 1,
        "learning_rate": 1e-5,
        "scheduler": "cosine",
        "specaugment": {"freq_mask": 24, "time_mask": 96, "n_masks": 2},
        "mixup": 0.0,
    }
    summary.update(recipe=recipe, selected_epoch=3.0, epochs_run=6.0)
    summary_path.write_text(json.dumps(summary))


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> tuple[Path, pd.DataFrame, Study]:
    root = tmp_path_factory.mktemp("study")
    runs = write_runs(root, VARIANTS, SEEDS)
    for row in runs.itertuples():
        write_model(root / "runs" / row.variant / f"seed{row.seed}", row.variant, row.seed)
    index_summary = write_index_summary(root / "index_summary.json")
    url = "https://zenodo.org/records/1302992/files/ismir04_genre.zip"
    study = load_study_context("ismir2004", url, EXCERPTS, index_summary)
    return root, runs, study


def one_run(runs: pd.DataFrame, variant: str, seed: int) -> pd.DataFrame:
    row = runs[(runs["variant"] == variant) & (runs["seed"] == seed)]
    return runs_frame([variant], [seed], {name: [row[name].iloc[0]] for name in PATH_COLUMNS})


def section(text: str, title: str) -> str:
    """The Markdown section under a heading, up to the next heading."""
    return re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#)", text + "\n#", flags=re.DOTALL | re.MULTILINE).group(1)


def table_rows(text: str) -> dict[str, list[str]]:
    """First cell -> the other cells, for every row of the Markdown tables in text."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            rows[cells[0]] = cells[1:]
    return rows


def test_a_run_card_carries_the_runs_own_metrics_in_hub_metadata(study_dir):
    root, runs, study = study_dir
    text = run_card(one_run(runs, "inverse_frequency", 1), root / "runs/inverse_frequency/seed1/model", study, N_BOOT)
    assert card_problems(text) == []
    metadata = card_metadata(text)
    assert metadata["library_name"] == "transformers" and metadata["pipeline_tag"] == "audio-classification"
    assert metadata["base_model"] == BASE and metadata["datasets"] == [DATASET["id"]]
    assert metadata["metrics"] == ["accuracy", "balanced_accuracy", "f1"]
    assert metadata["model-index"][0]["name"] == "astgenre-ismir2004-inverse_frequency-seed1"

    card = ModelCard(text)  # the Hub's own parser
    assert card.data.library_name == "transformers" and card.data.base_model == BASE
    results = eval_results(text)
    assert set(results) == {(split, m) for split in ("evaluation", "development") for m in metadata["metrics"]}
    run = root / "runs/inverse_frequency/seed1"
    for split in ("evaluation", "development"):
        written = json.loads((run / f"metrics_{split}.json").read_text())
        assert results[(split, "accuracy")] == round(written["accuracy"], 4)
        assert results[(split, "balanced_accuracy")] == round(written["balanced_accuracy"], 4)
        assert results[(split, "f1")] == round(written["macro_f1"], 4)
    f1 = next(m for m in metadata["model-index"][0]["results"][0]["metrics"] if m["type"] == "f1")
    assert f1["args"] == {"average": "macro"} and f1["name"] == "Macro-F1 (evaluation)"


def test_a_run_card_states_intervals_recall_protocol_and_caveats(study_dir):
    root, runs, study = study_dir
    run = root / "runs/none/seed2"
    text = run_card(one_run(runs, "none", 2), run / "model", study, N_BOOT)
    evaluation = json.loads((run / "metrics_evaluation.json").read_text())
    development = json.loads((run / "metrics_development.json").read_text())
    predictions = pd.read_csv(run / "predictions_evaluation.tsv", sep="\t")
    intervals = bootstrap_ci(predictions["label"], predictions["predicted"], n_boot=N_BOOT, seed=2)

    results = table_rows(section(text, "Results"))
    assert results["evaluation"] == [
        str(evaluation["n_tracks"]),
        *[
            f"{fmt.percent(evaluation[m])} {fmt.interval(*intervals[m])}"
            for m in ("accuracy", "balanced_accuracy", "macro_f1")
        ],
    ]
    assert results["development"] == [
        str(development["n_tracks"]),
        *[fmt.percent(development[m]) for m in ("accuracy", "balanced_accuracy", "macro_f1")],
    ]
    recall = table_rows(section(text, "Per-class recall (evaluation split)"))
    for cls in CLASSES:
        entry = evaluation["per_class"][cls]
        assert recall[fmt.class_title(cls)] == [str(entry["support"]), fmt.percent(entry["recall"])]

    protocol = section(text, "Training and evaluation protocol")
    assert "Training learns, development selects, evaluation measures." in protocol
    assert "highest development macro_f1 (epoch 3 of 6" in protocol
    assert "30 s from the middle of each track" in protocol and BASE in protocol
    caveat = section(text, "Caveat: artists shared between splits")
    assert "97 of the 119 evaluation artists also appear in the training split" in caveat
    assert "the development split's artists are anonymised" in caveat
    usage = section(text, "How to use")
    assert 'pipeline("audio-classification"' in usage and "first 1024 frames (10.255 s)" in usage
    assert "astgenre predict --model path/to/this/folder --excerpt-start middle --excerpt-duration 30 song.mp3" in usage
    assert "--excerpt-start 0 --excerpt-duration 10.255" in usage
    for heading in ("Intended use", "Limitations"):
        assert section(text, heading).strip()
    weakest = min(CLASSES, key=lambda c: evaluation["per_class"][c]["recall"])
    assert f"The lowest evaluation recall is `{weakest}`'s" in section(text, "Limitations")


def test_the_best_model_card_is_the_exported_runs_with_its_variant_as_in_the_report(study_dir, tmp_path):
    root, runs, study = study_dir
    run_dirs = [root / "runs" / v / f"seed{s}" for v, s in zip(runs["variant"], runs["seed"], strict=True)]
    out = tmp_path / "best_model"
    best = export_best_model(run_dirs, out, card_writer=lambda chosen: best_model_card(runs, chosen, study, N_BOOT))
    text = (out / CARD).read_text()
    assert card_problems(text) == []
    assert card_metadata(text)["model-index"][0]["name"] == f"astgenre-ismir2004-{best['variant']}-seed{best['seed']}"
    chosen = json.loads((Path(best["run_dir"]) / "metrics_evaluation.json").read_text())
    assert eval_results(text)[("evaluation", "accuracy")] == round(chosen["accuracy"], 4)
    value = fmt.percent(best["value"])
    assert f"of its 6 runs (variants x seeds), the one with the highest development macro_f1 ({value}%)" in text

    report = tmp_path / "report"
    build_report(runs, root / "index_summary.json", report, LITERATURE, n_boot=N_BOOT)
    table = pd.read_csv(report / "table.csv").set_index("variant")
    row = table.loc[best["variant"]].to_dict()
    assert f"- Accuracy: {interval_cell(row, 'eval_accuracy')}" in text
    assert f"- Macro-F1: {interval_cell(row, 'eval_macro_f1')}" in text
    recall = table_rows(section(text, "Per-class recall (evaluation split)"))
    for cls in CLASSES:
        assert recall[fmt.class_title(cls)][-1] == interval_cell(row, f"eval_recall_{cls}")
    per_run = pd.read_csv(report / "runs.csv")
    mine = per_run[(per_run["variant"] == best["variant"]) & (per_run["seed"] == best["seed"])].iloc[0]
    evaluation_row = table_rows(section(text, "Results"))["evaluation"]
    assert evaluation_row[1].endswith(fmt.interval(mine["eval_accuracy_boot_low"], mine["eval_accuracy_boot_high"]))
    report_best = table.index[table["best"]][0]
    assert (f"The report's best variant (highest mean development macro-F1 over seeds) is `{report_best}`" in text) == (
        report_best != best["variant"]
    )
    # the run info lacked a preprocessor config: the export wrote one from its feature settings
    saved = json.loads((out / PREPROCESSOR_CONFIG).read_text())
    assert (saved["max_length"], saved["num_mel_bins"], saved["mean"]) == (1024, 128, FbankSettings().mean)


def test_a_demo_card_says_its_data_are_synthetic_and_names_no_hub_base_model(study_dir, tmp_path):
    root, runs, study = study_dir
    demo = Study("demo", "generated", EXCERPTS, study.index_summary)
    run = root / "runs/none/seed0"
    info = json.loads((run / "model" / RUN_INFO).read_text())
    local = tmp_path / "checkpoint"
    local.mkdir()
    model = tmp_path / "model"
    model.mkdir()
    (model / RUN_INFO).write_text(json.dumps(dict(info, checkpoint=str(local))))
    text = run_card(one_run(runs, "none", 0), model, demo, N_BOOT)
    metadata = card_metadata(text)
    assert "base_model" not in metadata and metadata["datasets"] == [DEMO_DATASET["id"]]
    assert "synthetic-data" in metadata["tags"]
    assert text.split("\n---\n", 1)[1].lstrip().startswith("> **Demo model.**")
    assert "a small AST created locally" in text


def test_hub_ids_are_told_from_local_folders(tmp_path):
    assert hub_base_model(BASE) == BASE
    assert hub_base_model("results/demo/checkpoint") is None and hub_base_model(str(tmp_path)) is None
    (tmp_path / "models" / "ast").mkdir(parents=True)
    assert hub_base_model(str(tmp_path / "models/ast")) is None and hub_base_model(None) is None


@pytest.mark.parametrize(
    "card, problem",
    [
        ("# no metadata\n", "does not start with a YAML metadata block"),
        ("---\n- a list\n---\n", "not a YAML mapping"),
        ("---\nlibrary_name: transformers\n---\n", "lacks 'pipeline_tag'"),
        (
            "---\nlibrary_name: transformers\npipeline_tag: image-classification\ndatasets: [x]\nmetrics: [accuracy]\n"
            "model-index:\n- name: m\n  results: []\n---\n",
            "pipeline_tag is 'image-classification'",
        ),
        (
            "---\nlibrary_name: transformers\npipeline_tag: audio-classification\ndatasets: [x]\nmetrics: [accuracy]\n"
            "model-index:\n- name: m\n  results:\n  - task: {type: audio-classification}\n---\n",
            "huggingface_hub cannot read the model-index",
        ),
    ],
)
def test_card_problems_name_what_the_hub_would_miss(card, problem):
    assert any(problem in found for found in card_problems(card)), card_problems(card)
