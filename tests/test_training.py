"""Training and evaluation of one run on tiny synthetic features (no audio involved)."""

import json
import signal
import stat
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from astgenre.config import load_study, variant_training
from astgenre.dataset import INDEX_COLUMNS, write_index
from astgenre.evaluation import evaluate_run
from astgenre.features import FbankSettings
from astgenre.files import umask
from astgenre.labels import CLASSES
from astgenre.model import create_checkpoint, load_classifier
from astgenre.training import last_complete_checkpoint, launch_distributed, train_run

TINY_AST = dict(
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    patch_size=16,
    frequency_stride=16,
    time_stride=16,
    max_length=64,
    num_mel_bins=128,
    num_labels=527,
)


def make_study(root: Path, per_class: int = 4, frames: int = 150) -> tuple[Path, Path]:
    """An index and features where each class lights up its own band of mel bins."""
    rng = np.random.default_rng(0)
    features = root / "features" / "shard0"
    features.mkdir(parents=True)
    rows = []
    for split in ("training", "development", "evaluation"):
        for c, label in enumerate(CLASSES):
            for k in range(per_class):
                track_id = f"{split}-{c}{k:03d}"
                x = rng.normal(0, 0.5, size=(frames, 128))
                x[:, c * 20 : c * 20 + 20] += 1.5
                np.save(features / f"{track_id}.npy", x.astype(np.float16))
                rows.append([track_id, split, label, f"artist{c}", "album", f"t{k}", str(k), f"audio/{track_id}.mp3"])
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    write_index(index, root / "index.tsv")
    create_checkpoint(root / "checkpoint", TINY_AST)
    return root / "index.tsv", features


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def recipe(repo):
    cfg = load_study(
        yaml.safe_load((repo / "config.yaml").read_text()) | {"study": "demo"},
        repo / "config.yaml",
        repo / "workflow/schemas/config.schema.yaml",
    )
    r = variant_training(cfg, "inverse_frequency")
    r.update(epochs=3, batch_size=8, windows_per_track=2, eval_hop_frames=32, threads=1)
    return r


def run(study, out: Path, recipe, seed=0, variant="inverse_frequency"):
    index, features = study
    return train_run(
        index_path=index,
        feature_dirs=[features],
        checkpoint=index.parent / "checkpoint",
        model_dir=out / "model",
        work_dir=out / "work",
        history_path=out / "history.tsv",
        summary_path=out / "summary.json",
        recipe=recipe,
        seed=seed,
        variant=variant,
        threads=1,
    )


def test_train_then_evaluate(study, recipe, tmp_path):
    summary = run(study, tmp_path, recipe)
    assert summary["best_dev_metric"] is not None and summary["epochs_run"] == pytest.approx(3)
    assert not (tmp_path / "work").exists()  # checkpoints are removed after success
    history = pd.read_csv(tmp_path / "history.tsv", sep="\t")
    assert history["dev_macro_f1"].notna().sum() == 3 and history["train_loss"].notna().any()
    model, info = load_classifier(tmp_path / "model")
    assert model.config.num_labels == 6 and info["window_frames"] == 64 and info["variant"] == "inverse_frequency"
    weights = tmp_path / "model" / "model.safetensors"
    assert stat.S_IMODE(weights.stat().st_mode) == 0o666 & ~umask()  # like any other output, not 0600
    metrics = evaluate_run(
        index_path=study[0],
        feature_dirs=[study[1]],
        model_dir=tmp_path / "model",
        split="evaluation",
        predictions_path=tmp_path / "pred.tsv",
        metrics_path=tmp_path / "metrics.json",
        device="cpu",
    )
    predictions = pd.read_csv(tmp_path / "pred.tsv", sep="\t")
    assert len(predictions) == 24 and set(predictions["split"]) == {"evaluation"}
    assert (predictions["n_windows"] == 4).all()  # 150 frames, window 64, hop 32: starts 0, 32, 64, 96
    assert metrics["accuracy"] > 0.5  # the bands are easy to learn
    assert json.loads((tmp_path / "metrics.json").read_text())["split"] == "evaluation"


def test_training_never_reads_the_evaluation_split(study, recipe, tmp_path, monkeypatch):
    import astgenre.training as training

    seen = []
    original = training.load_split
    monkeypatch.setattr(
        training, "load_split", lambda index, split, *rest: seen.append(split) or original(index, split, *rest)
    )
    run(study, tmp_path, dict(recipe, epochs=1))
    assert seen == ["training", "development"]


def test_same_seed_same_metrics_other_seed_differs(study, recipe, tmp_path):
    a = run(study, tmp_path / "a", recipe, seed=3)
    b = run(study, tmp_path / "b", recipe, seed=3)
    run(study, tmp_path / "c", recipe, seed=4)
    ha, hb, hc = (pd.read_csv(p / "history.tsv", sep="\t") for p in (tmp_path / "a", tmp_path / "b", tmp_path / "c"))
    pd.testing.assert_frame_equal(ha, hb)
    assert a["best_dev_metric"] == b["best_dev_metric"]
    assert not ha["train_loss"].equals(hc["train_loss"])


@pytest.mark.parametrize(
    "variant, extra",
    [
        ("balanced_sampler", {"weighting": "balanced_sampler"}),
        (
            "effective_number",
            {"weighting": "effective_number", "mixup": 0.4, "layer_decay": 0.75, "gradient_checkpointing": True},
        ),
        (
            "reference_replica",
            {"weighting": "none", "window": "first", "specaugment": None, "select_metric": "weighted_f1"},
        ),
    ],
)
def test_variants_run(study, recipe, tmp_path, variant, extra):
    summary = run(study, tmp_path, dict(recipe, epochs=1, **extra), variant=variant)
    assert summary["select_metric"] == extra.get("select_metric", recipe["select_metric"])
    assert (tmp_path / "model" / "model.safetensors").exists()


def test_killed_run_resumes_from_its_last_checkpoint(study, recipe, tmp_path):
    """Kill a training process after its first checkpoint; calling again resumes instead of starting over."""
    args = dict(index=str(study[0]), features=str(study[1]), out=str(tmp_path), recipe=dict(recipe, epochs=40))
    script = tmp_path / "train.py"
    script.write_text(
        "import json, sys\nfrom pathlib import Path\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_training import run\n"
        "a = json.loads(sys.argv[1])\n"
        "run((Path(a['index']), Path(a['features'])), Path(a['out']), a['recipe'])\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script), json.dumps(args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    work = tmp_path / "work"
    deadline = time.time() + 120
    while time.time() < deadline and not list(work.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(work.glob("checkpoint-*")), "no checkpoint was written before the kill"
    assert not (tmp_path / "model").exists()
    summary = run(study, tmp_path, dict(recipe, epochs=40))
    assert summary["resumed_from"] and summary["resumed_from"].startswith("checkpoint-")
    assert summary["epochs_run"] == pytest.approx(40)


def test_two_ranks_under_torchrun_train_data_parallel(study, recipe, tmp_path, monkeypatch):
    """What a rule with gpu > 1 does: torchrun on this node; here two CPU ranks (gloo) stand in for two GPUs."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # CPU ranks on a GPU machine too (two ranks cannot share one GPU)
    index, features = study
    spec = dict(
        index_path=index,
        feature_dirs=[features],
        checkpoint=str(index.parent / "checkpoint"),
        model_dir=tmp_path / "model",
        work_dir=tmp_path / "work",
        history_path=tmp_path / "history.tsv",
        summary_path=tmp_path / "summary.json",
        recipe=dict(recipe, epochs=1),
        seed=0,
        variant="none",
        settings=asdict(FbankSettings()),
        threads=1,
    )
    launch_distributed(spec, 2, tmp_path / "spec.json")
    summary = json.loads((tmp_path / "summary.json").read_text())
    single = run(study, tmp_path / "single", dict(recipe, epochs=1))
    assert summary["world_size"] == 2
    assert summary["global_steps"] * 2 == pytest.approx(
        single["global_steps"], abs=1
    )  # each rank sees half the windows
    assert (tmp_path / "model" / "model.safetensors").exists() and summary["best_dev_metric"] is not None


def test_a_checkpoint_cut_short_is_skipped_and_removed(tmp_path):
    for step, state in ((10, "{}"), (20, "{}"), (30, None), (40, '{"trunc')):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-20")
    assert not (tmp_path / "checkpoint-30").exists() and not (tmp_path / "checkpoint-40").exists()
    assert (tmp_path / "checkpoint-10").exists()
    assert last_complete_checkpoint(tmp_path / "missing") is None
