"""End to end: the Snakemake workflow on the demo preset, in a temporary copy of the project."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from astgenre.labels import CLASSES

pytestmark = pytest.mark.e2e

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(
    workdir: Path, *args: str, config: tuple[str, ...] = (), check: bool = True
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [*SNAKEMAKE, "--cores", "2", "--resources", "gpu=1", "--config", "study=demo", *config, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-8000:]}")
    return proc


def planned_jobs(workdir: Path, *targets: str) -> dict[str, int]:
    """Rules a dry run (of the default target, or of ``targets``) would execute, with their job counts."""
    out = snakemake(workdir, "--dry-run", *targets, "--quiet", "rules").stdout
    jobs = {}
    for line in out.splitlines():
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if match and match.group(1) != "total":
            jobs[match.group(1)] = int(match.group(2))
    return jobs


def fine_tuned_runs(results: Path) -> list[Path]:
    """The official split's AST runs (runs/<variant>/seed<k>), without the baselines' runs beside them."""
    runs = sorted((results / "runs").glob("*/seed*"))
    return [run for run in runs if json.loads((run / "train_summary.json").read_text()).get("kind") != "baseline"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    repo = Path(__file__).resolve().parents[1]
    work = tmp_path_factory.mktemp("study")
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(repo / name, work / name)
    shutil.copytree(repo / "workflow", work / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    snakemake(work)
    return work


def test_index(demo):
    index = pd.read_csv(demo / "results/demo/index.tsv", sep="\t", dtype=str)
    assert {"track_id", "split", "label", "artist", "album", "path"} <= set(index.columns)
    assert set(index["split"]) == {"training", "development", "evaluation"}
    assert set(index["label"]) == set(CLASSES)
    counts = index[index["split"] == "training"]["label"].value_counts()
    assert counts["classical"] == counts.max() and counts["jazz_blues"] == counts.min()  # the real imbalance
    resolutions = pd.read_csv(demo / "results/demo/index_resolutions.tsv", sep="\t")
    assert len(resolutions) >= 1  # the deliberate tracklist/disk mismatch of the demo corpus is resolved, and logged


def test_predictions_and_metrics(demo):
    index = pd.read_csv(demo / "results/demo/index.tsv", sep="\t", dtype=str)
    n_eval = (index["split"] == "evaluation").sum()
    for variant in ("none", "inverse_frequency", "reference_replica"):
        for seed in (0, 1):
            run = demo / f"results/demo/runs/{variant}/seed{seed}"
            predictions = pd.read_csv(run / "predictions_evaluation.tsv", sep="\t")
            assert len(predictions) == n_eval
            probs = predictions[[f"prob_{c}" for c in CLASSES]].to_numpy()
            assert abs(probs.sum(axis=1) - 1).max() < 1e-4
            metrics = json.loads((run / "metrics_evaluation.json").read_text())
            assert metrics["split"] == "evaluation" and metrics["variant"] == variant and metrics["seed"] == seed
            for key in ("accuracy", "balanced_accuracy", "macro_f1"):
                assert 0 <= metrics[key] <= 1
            assert set(metrics["per_class"]) == set(CLASSES)
            assert {"precision", "recall", "roc_auc"} <= set(metrics["per_class"]["classical"])
            assert metrics["accuracy"] > 0.5, f"{variant}/seed{seed} is near chance: {metrics['accuracy']}"
            assert (run / "model" / "astgenre.json").exists()
            summary = json.loads((run / "train_summary.json").read_text())
            assert summary["best_dev_metric"] is not None


def test_every_run_saved_the_checkpoint_it_selected(demo):
    """The saved model's development score (evaluate rule, from the model files) equals the score of the selected
    epoch in history.tsv and best_dev_metric in train_summary.json, for every run: no hybrid models."""
    runs = fine_tuned_runs(demo / "results/demo")
    assert {run.parent.name for run in runs} == {"none", "inverse_frequency", "reference_replica"}
    for run in runs:
        summary = json.loads((run / "train_summary.json").read_text())
        metric = summary["select_metric"]
        saved = json.loads((run / "metrics_development.json").read_text())[metric]
        history = pd.read_csv(run / "history.tsv", sep="\t").dropna(subset=[f"dev_{metric}"])
        selected = history[history["step"] == summary["selected_step"]]
        assert len(selected) == 1, f"{run}: no single development row at step {summary['selected_step']}"
        assert summary["best_checkpoint"] == f"checkpoint-{summary['selected_step']}"
        assert history[f"dev_{metric}"].max() == pytest.approx(summary["best_dev_metric"], abs=1e-12)
        for value in (selected[f"dev_{metric}"].iloc[0], summary["best_dev_metric"], summary["selected_dev_metric"]):
            assert saved == pytest.approx(value, abs=1e-9), f"{run}: saved model {saved}, selected epoch {value}"


def test_no_run_trains_or_selects_on_its_test_tracks(demo):
    """From the files: each run's tracks.tsv (what it trained and selected on) against the tracks its predictions
    test, for the official runs and every protocol run; artist-filtered folds share no artist between roles."""
    results = demo / "results/demo"
    index = pd.read_csv(results / "index.tsv", sep="\t", dtype=str).set_index("track_id")
    runs = [(run, "evaluation") for run in (results / "runs").glob("*/seed*")]
    runs += [(run, "test") for run in (results / "protocols").glob("*/fold*/*/seed*")]
    assert {run.parts[-4] for run, role in runs if role == "test"} == {"literature", "artist_filtered"}
    for run, test_name in runs:
        used = pd.read_csv(run / "tracks.tsv", sep="\t", dtype=str)
        tested = set(pd.read_csv(run / f"predictions_{test_name}.tsv", sep="\t", dtype=str)["track_id"])
        trained = set(used.loc[used["role"] == "train", "track_id"])
        selected = set(used.loc[used["role"] == "select", "track_id"])
        assert trained and selected and tested, run
        assert not tested & (trained | selected) and not trained & selected, run
        if test_name == "evaluation":  # the official split
            assert {index.loc[t, "split"] for t in trained} == {"training"}, run
            assert {index.loc[t, "split"] for t in selected} == {"development"}, run
        elif run.parts[-4] == "literature":
            assert {index.loc[t, "split"] for t in tested} == {"development"}, run
            assert {index.loc[t, "split"] for t in trained | selected} == {"training"}, run
        else:
            artists = {
                name: {index.loc[t, "artist"] for t in ids}
                for name, ids in (("train", trained), ("select", selected), ("test", tested))
            }
            assert not artists["test"] & (artists["train"] | artists["select"]), run
            assert not artists["select"] & artists["train"], run
            for ids in (trained, selected, tested):
                assert {index.loc[t, "label"] for t in ids} == set(CLASSES), run
    pooled = pd.concat(
        pd.read_csv(run / "predictions_test.tsv", sep="\t", dtype=str).assign(system=run.parent.name, seed=run.name)
        for run, _ in runs
        if run.parts[-4] == "artist_filtered"
    )
    assert set(pooled["system"]) == {"none", "mfcc_svm", "linear_probe"}
    for _, group in pooled.groupby(["system", "seed"]):  # each run tests every pooled track once over its folds
        assert group["track_id"].is_unique
        assert set(group["track_id"]) == set(index.index[index["split"].isin(["training", "evaluation"])])


def test_the_protocol_report_shows_every_protocol_and_the_artist_effect(demo):
    report = demo / "results/demo/report"
    table = pd.read_csv(report / "protocols.csv")
    assert set(table["protocol"]) == {"official", "literature", "artist_filtered"}
    effect = pd.read_csv(report / "artist_effect.csv")
    assert list(effect["variant"]) == ["none", "mfcc_svm", "linear_probe"] and (effect["n_tracks"] > 0).all()
    assert list(effect["n_seeds"]) == [2, 1, 1]  # the baselines are deterministic: one run each
    official = table[(table["protocol"] == "official") & (table["variant"] == "none")].iloc[0]
    assert effect.loc[0, "official_accuracy"] == pytest.approx(official["accuracy_mean"])  # same tracks: the split
    assert "artist effect" in (report / "protocols.md").read_text()


def test_report(demo):
    report = demo / "results/demo/report"
    table = pd.read_csv(report / "table.csv")
    assert set(table.iloc[:, 0]) == {"none", "inverse_frequency", "reference_replica", "mfcc_svm", "linear_probe"}
    assert "±" in (report / "table.md").read_text()
    pngs = sorted(report.glob("*.png"))
    assert len(pngs) >= 5
    for png in pngs:
        with Image.open(png) as image:
            assert image.size[0] > 300 and image.size[1] > 200


def test_paper_bundle(demo, tmp_path):
    """`snakemake paper` is part of the default run: the bundle is there, its numbers are the report's."""
    from astgenre.report.paper import DEFAULT_FORMATS, bundle_files

    assert planned_jobs(demo, "paper") == {}
    paper = demo / "results/demo/paper"
    found = sorted(str(p.relative_to(paper)) for p in paper.rglob("*") if p.is_file())
    assert found == sorted(bundle_files(DEFAULT_FORMATS).values())
    table = pd.read_csv(demo / "results/demo/report/table.csv")
    best = table[table["best"]].iloc[0]
    replica = table[table["variant"] == "reference_replica"].iloc[0]
    numbers = (paper / "numbers.tex").read_text()
    assert f"\\newcommand{{\\bestEvalAccuracy}}{{\\num{{{100 * best['eval_accuracy_mean']:.1f}}}}}" in numbers
    assert f"\\newcommand{{\\replicaDevAccuracy}}{{\\num{{{100 * replica['dev_accuracy_mean']:.1f}}}}}" in numbers
    name = best["variant"].replace("_", "\\_")
    assert f"\\newcommand{{\\bestVariant}}{{{name}}}" in numbers
    for pdf in sorted((paper / "figures").glob("*.pdf")):
        width = float(re.search(rb"/MediaBox \[\s*0 0 ([\d.]+)", pdf.read_bytes()).group(1))
        assert width in (237.6, 504.0), (pdf.name, width)  # a column (3.3 in) or the full width (7 in)
    if shutil.which("pdflatex"):
        shutil.copytree(paper, tmp_path / "paper")
        proc = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "preview.tex"],
            cwd=tmp_path / "paper",
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout[-3000:]


def test_best_model_is_exported_and_predicts_the_demo_audio(demo, tmp_path):
    best = json.loads((demo / "results/demo/best_model/best_run.json").read_text())
    metrics = {
        (v, s): json.loads((demo / f"results/demo/runs/{v}/seed{s}/metrics_development.json").read_text())["macro_f1"]
        for v in ("none", "inverse_frequency", "reference_replica")
        for s in (0, 1)
    }
    assert max(metrics.values()) == pytest.approx(best["value"])
    audio = demo / "results/demo/data/ismir04_genre/audio/evaluation"
    out = tmp_path / "predictions.csv"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "astgenre"),
            "predict",
            "--model",
            str(demo / "results/demo/best_model"),
            str(audio),
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(out)
    assert len(table) == len(list(audio.rglob("*.mp3"))) and (table["status"] == "ok").all()
    assert set(table["genre_1"]) <= set(CLASSES)


def test_best_model_drops_into_transformers_and_agrees_with_astgenre_predict(demo, monkeypatch):
    """pipeline("audio-classification") and the Auto classes load the export offline with every tensor; on the
    demo's evaluation tracks the pipeline's genre is astgenre predict's on the same single window."""
    import huggingface_hub.constants
    from transformers import AutoModelForAudioClassification, pipeline

    from astgenre.audio import decode
    from astgenre.model_card import window_seconds
    from astgenre.predict import predict_files

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    best = demo / "results/demo/best_model"
    _, loading = AutoModelForAudioClassification.from_pretrained(best, output_loading_info=True)
    assert not any(loading.values()), loading
    info = json.loads((best / "astgenre.json").read_text())
    seconds = window_seconds(info["window_frames"], 16000)
    tracks = sorted((demo / "results/demo/data/ismir04_genre/audio/evaluation").rglob("*.mp3"))[::4][:12]
    classifier = pipeline("audio-classification", model=str(best), device="cpu")
    ours = predict_files(tracks, best, device="cpu", start=0.0, duration=seconds, workers=0)
    compared = 0
    for track, row in zip(tracks, ours.itertuples(), strict=True):
        scores = classifier({"raw": decode(track, duration=seconds), "sampling_rate": 16000}, top_k=6)
        assert row.n_windows == 1
        for entry in scores:
            assert getattr(row, f"prob_{entry['label']}") == pytest.approx(entry["score"], abs=1e-3), track
        if scores[0]["score"] - scores[1]["score"] > 0.01:  # not a near-tie
            assert row.genre_1 == scores[0]["label"], track
            compared += 1
    assert compared >= len(tracks) // 2


def test_model_cards_carry_the_reports_numbers(demo):
    from astgenre.model_card import card_metadata, card_problems, eval_results
    from astgenre.report.tables import interval_cell

    results = demo / "results/demo"
    best = json.loads((results / "best_model/best_run.json").read_text())
    text = (results / "best_model/README.md").read_text()
    assert card_problems(text) == [] and "> **Demo model.**" in text
    metadata = card_metadata(text)
    assert metadata["library_name"] == "transformers" and metadata["pipeline_tag"] == "audio-classification"
    runs = pd.read_csv(results / "report/runs.csv")
    row = runs[(runs["variant"] == best["variant"]) & (runs["seed"] == best["seed"])].iloc[0]
    values = eval_results(text)
    for split, prefix in (("evaluation", "eval"), ("development", "dev")):
        assert values[(split, "accuracy")] == pytest.approx(row[f"{prefix}_accuracy"], abs=5e-5)
        assert values[(split, "f1")] == pytest.approx(row[f"{prefix}_macro_f1"], abs=5e-5)
    low, high = 100 * row["eval_accuracy_boot_low"], 100 * row["eval_accuracy_boot_high"]
    assert f"[{low:.1f}, {high:.1f}]" in text  # the bootstrap interval of runs.csv
    table = pd.read_csv(results / "report/table.csv").set_index("variant")
    assert f"- Accuracy: {interval_cell(table.loc[best['variant']].to_dict(), 'eval_accuracy')}" in text
    for run in fine_tuned_runs(results):
        card = (run / "README.md").read_text()
        metrics = json.loads((run / "metrics_evaluation.json").read_text())
        assert card_problems(card) == []
        assert eval_results(card)[("evaluation", "accuracy")] == pytest.approx(metrics["accuracy"], abs=5e-5)
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "astgenre"),
            "push",
            str(results / "best_model"),
            "--repo-id",
            "a/b",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "6 file(s) would be uploaded to a/b" in proc.stdout, proc.stderr[-3000:]


def test_second_run_is_a_noop_and_report_script_reruns_alone(demo):
    """Editing the report's code reruns the report and the paper bundle built from it, nothing else; `paper` is part
    of `all`, so that the bundle never lags the report."""
    assert planned_jobs(demo) == {}
    script = demo / "workflow/scripts/paper.py"
    script.write_text(script.read_text() + "\n# edited\n")
    assert planned_jobs(demo) == {"paper": 1, "all": 1}
    script = demo / "workflow/scripts/report.py"
    script.write_text(script.read_text() + "\n# edited\n")
    assert planned_jobs(demo) == {"report": 1, "paper": 1, "all": 1}
    figures = Path(__import__("astgenre.report.figures").report.figures.__file__)
    touched = figures.stat()
    os.utime(figures)  # an edit of the plotting code (only its time: the content stays)
    try:
        assert planned_jobs(demo) == {"report": 1, "paper": 1, "all": 1}
        assert planned_jobs(demo, "paper") == {"report": 1, "paper": 1}
    finally:  # the protocol report reads the plotting code too: by time alone it would stay behind it
        os.utime(figures, ns=(touched.st_atime_ns, touched.st_mtime_ns))
    report = demo / "results/demo/report"
    before = (report / "table.csv").stat().st_mtime
    snakemake(demo, "--forcerun", "report")
    assert (report / "table.csv").stat().st_mtime > before
    assert planned_jobs(demo) == {}


def test_editing_the_card_code_reruns_the_cards_alone_and_plotting_code_the_report_alone(demo):
    """A touched file counts as edited once checksums are off (Snakemake 9 ignores a newer file of equal content)."""
    by_time = ("--max-checksum-file-size", "0")
    figures = Path(__import__("astgenre.report.figures").report.figures.__file__)
    before = figures.stat()
    os.utime(figures)
    try:
        # The report, the protocol report (it plots too) and the paper built from them; no card: none reads a figure
        assert planned_jobs(demo, *by_time) == {"report": 1, "protocol_report": 1, "paper": 1, "all": 1}
    finally:
        os.utime(figures, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.utime(Path(__import__("astgenre.model_card").model_card.__file__))
    assert planned_jobs(demo, *by_time) == {"run_card": 6, "export_best_model": 1, "all": 1}  # nothing upstream
    snakemake(demo, *by_time)
    assert planned_jobs(demo, *by_time) == {}


def test_same_seed_reproduces_a_workflow_run_to_the_last_digit(demo, tmp_path):
    """On CPU, retraining none/seed0 from the demo's own inputs gives the workflow's training log exactly."""

    from astgenre.config import read_study, variant_training
    from astgenre.recipe import Recipe
    from astgenre.training import RunSpec, train_run

    cfg = read_study(demo, "demo")
    results = demo / "results/demo"
    summary = train_run(
        RunSpec(
            index_path=results / "index.tsv",
            feature_dirs=tuple(sorted(results.glob("features/0s_whole/shard*"))),
            checkpoint=str(results / "checkpoint"),
            model_dir=tmp_path / "model",
            work_dir=tmp_path / "work",
            history_path=tmp_path / "history.tsv",
            summary_path=tmp_path / "summary.json",
            recipe=Recipe.from_mapping(variant_training(cfg, "none")),
            seed=0,
            variant="none",
            threads=cfg["training"]["threads"],
        )
    )
    expected = json.loads((results / "runs/none/seed0/train_summary.json").read_text())
    assert summary["best_dev_metric"] == expected["best_dev_metric"]
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "history.tsv", sep="\t"),
        pd.read_csv(results / "runs/none/seed0/history.tsv", sep="\t"),
        check_exact=True,
    )


def test_html_report(demo):
    snakemake(demo, "--report", "results/demo/report.html")
    html = (demo / "results/demo/report.html").read_text(errors="ignore")
    assert "table" in html.lower() and len(html) > 10000


def test_invalid_config_stops_before_any_job(demo):
    proc = snakemake(demo, "--dry-run", config=("training={'epocs': 3}",), check=False)
    assert proc.returncode != 0
    assert "training.epocs" in proc.stdout + proc.stderr


def test_full_study_offline_fails_at_download_with_a_clear_message(demo, tmp_path):
    overlay = tmp_path / "offline.yaml"
    overlay.write_text(
        "dataset:\n  url: http://127.0.0.1:9/ismir04_genre.zip\n  md5: '0123456789abcdef0123456789abcdef'\n"
    )
    proc = subprocess.run(
        [*SNAKEMAKE, "results/ismir2004/download/ismir04_genre.zip", "--cores", "1", "--configfile", str(overlay)],
        cwd=demo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    log = (demo / "results/ismir2004/logs/fetch.log").read_text()
    assert "http://127.0.0.1:9/ismir04_genre.zip" in log
    assert "study=demo" in log
    assert "http://127.0.0.1:9/ismir04_genre.zip" in proc.stderr and "study=demo" in proc.stderr
    assert not (demo / "results/ismir2004/download/ismir04_genre.zip").exists()


def test_deleted_or_damaged_features_stop_evaluation_naming_the_files(demo):
    """Feature files deleted or truncated after the features stage: no metrics from the tracks that are left.

    Damages the demo's features in place and restores them afterwards (a copy of the study would rerun it all: the
    demo's archive URL is an absolute path).
    """
    shards = sorted((demo / "results/demo/features/0s_whole").glob("shard*"))  # the excerpt of none
    times = {shard: shard.stat() for shard in shards}
    deleted, truncated = sorted(shards[0].glob("evaluation-*.npy"))[:2]
    saved = {path: path.read_bytes() for path in (deleted, truncated)}
    target = "results/demo/runs/none/seed0/metrics_evaluation.json"

    def evaluate_again() -> subprocess.CompletedProcess:
        for shard, before in times.items():  # only the files changed, as far as Snakemake's timestamps tell
            os.utime(shard, ns=(before.st_atime_ns, before.st_mtime_ns))
        return subprocess.run(
            [*SNAKEMAKE, target, "--cores", "2", "--forcerun", "evaluate", "--config", "study=demo"],
            cwd=demo,
            capture_output=True,
            text=True,
            timeout=900,
        )

    deleted.unlink()
    truncated.write_bytes(saved[truncated][:-100])
    try:
        proc = evaluate_again()
        assert proc.returncode != 0
        assert "rule evaluate:" in proc.stdout + proc.stderr and "rule train:" not in proc.stdout + proc.stderr
        log = (demo / "results/demo/logs/evaluate/none/seed0.log").read_text()
        shard = shards[0].relative_to(demo).as_posix()
        assert f"{deleted.stem}: no feature file {deleted.name} in {shard}" in log
        assert f"{truncated.stem}: {shard}/{truncated.name} cannot be read (mmap length is greater" in log
        assert "snakemake --forcerun features" in log
        assert not (demo / target).exists()
    finally:
        for path, data in saved.items():
            path.write_bytes(data)
        restored = evaluate_again()
    assert restored.returncode == 0, restored.stderr[-3000:]
    assert json.loads((demo / target).read_text())["split"] == "evaluation"


def test_other_variants_run_through_the_workflow(demo, tmp_path):
    """The remaining class-weighting variants, one seed each, through the same rules (run last: it replaces the
    report)."""
    overlay = tmp_path / "grid.yaml"
    overlay.write_text("grid:\n  variants: [effective_number, balanced_sampler]\n  seeds: [0]\nbaselines: []\n")
    snakemake(demo, "--configfile", str(overlay))
    for variant in ("effective_number", "balanced_sampler"):
        metrics = json.loads((demo / f"results/demo/runs/{variant}/seed0/metrics_evaluation.json").read_text())
        assert metrics["variant"] == variant and metrics["accuracy"] > 0.5
    table = pd.read_csv(demo / "results/demo/report/table.csv")
    assert set(table.iloc[:, 0]) == {"effective_number", "balanced_sampler"}
