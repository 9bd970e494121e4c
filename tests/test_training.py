"""Training and evaluation of one run on tiny synthetic features (no audio involved)."""

import json
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import ASTConfig, ASTForAudioClassification, TrainingArguments

from astgenre.config import read_study, variant_training
from astgenre.data import EvaluationWindows, TrainingWindows
from astgenre.dataset import INDEX_COLUMNS, write_index
from astgenre.evaluation import evaluate_run
from astgenre.features import FbankSettings
from astgenre.files import umask
from astgenre.labels import CLASSES
from astgenre.model import CheckpointMismatch, create_checkpoint, load_classifier
from astgenre.recipe import Recipe
from astgenre.training import (
    RunSpec,
    _checkpointing_argument,
    last_complete_checkpoint,
    launch_distributed,
    layerwise_param_groups,
    train_run,
    trainer_settings,
)

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
    cfg = read_study(repo, "demo")
    r = variant_training(cfg, "inverse_frequency")
    r.update(epochs=3, batch_size=8, windows_per_track=2, eval_hop_frames=32, threads=1)
    return r


def run(study, out: Path, recipe, seed=0, variant="inverse_frequency", **spec):
    """train_run on the study with the recipe; ``spec``: more RunSpec fields (e.g. tensorboard_dir)."""
    index, features = study
    return train_run(
        RunSpec(
            index_path=index,
            feature_dirs=(features,),
            checkpoint=str(index.parent / "checkpoint"),
            model_dir=out / "model",
            work_dir=out / "work",
            history_path=out / "history.tsv",
            summary_path=out / "summary.json",
            recipe=Recipe.from_mapping(recipe),
            seed=seed,
            variant=variant,
            threads=1,
            **spec,
        )
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


class ScriptedSelection:
    """Stands in for the development metrics during training: the first distinct predictions score 0.9, each later
    distinct set 0.1 less, and predictions seen before score what they scored then. Epoch 1 is thus the best
    epoch whatever the data, and a model whose predictions equal epoch 1's scores 0.9 again."""

    def __init__(self) -> None:
        self.seen: list[tuple[np.ndarray, float]] = []

    def __call__(self, labels, probs) -> dict:
        probs = np.asarray(probs)
        value = next((v for p, v in self.seen if np.array_equal(p, probs)), None)
        if value is None:
            value = 0.9 - 0.1 * len(self.seen)
            self.seen.append((probs.copy(), value))
        return dict.fromkeys(("accuracy", "macro_f1", "balanced_accuracy", "weighted_f1"), value)


def test_the_saved_model_is_the_selected_checkpoint_not_the_last_epoch(study, recipe, tmp_path, monkeypatch):
    """Epoch 1 of 3 is selected; the saved model must predict development exactly as epoch 1 did (it was a hybrid
    of the last epoch's encoder and the best epoch's embeddings and head before the fix)."""
    import astgenre.training as training

    scripted = ScriptedSelection()
    monkeypatch.setattr(training, "track_metrics", scripted)
    summary = run(study, tmp_path, dict(recipe, epochs=3, early_stopping_patience=None))
    assert len(scripted.seen) == 3  # three distinct epochs; the final check saw epoch 1's predictions again
    assert summary["best_dev_metric"] == pytest.approx(0.9) and summary["selected_dev_metric"] == pytest.approx(0.9)
    assert summary["selected_epoch"] == pytest.approx(1) and summary["epochs_run"] == pytest.approx(3)
    history = pd.read_csv(tmp_path / "history.tsv", sep="\t")
    selected = history[history["step"] == summary["selected_step"]].dropna(subset=["dev_macro_f1"])
    assert selected["dev_macro_f1"].tolist() == pytest.approx([0.9])
    evaluate_run(
        index_path=study[0],
        feature_dirs=[study[1]],
        model_dir=tmp_path / "model",
        split="development",
        predictions_path=tmp_path / "dev.tsv",
        metrics_path=tmp_path / "dev.json",
        device="cpu",
    )
    saved = pd.read_csv(tmp_path / "dev.tsv", sep="\t")[[f"prob_{c}" for c in CLASSES]].to_numpy()
    epoch1, last = scripted.seen[0][0], scripted.seen[2][0]
    np.testing.assert_allclose(saved, epoch1, atol=1e-5)
    assert np.abs(saved - last).max() > 1e-3  # the test can tell the selected epoch from the last one


def test_a_checkpoint_with_a_missing_or_renamed_tensor_is_refused_naming_the_file(study, recipe, tmp_path):
    run(study, tmp_path, dict(recipe, epochs=1))
    path = tmp_path / "model" / "model.safetensors"
    tensors = load_file(str(path))
    key = next(k for k in tensors if k.endswith("output.dense.weight"))
    for damage in ("missing", "renamed"):
        broken = dict(tensors)
        value = broken.pop(key)
        if damage == "renamed":
            broken[key.replace("output.dense", "output.dens")] = value
        save_file(broken, str(path), metadata={"format": "pt"})
        with pytest.raises(CheckpointMismatch) as error:
            load_classifier(tmp_path / "model")
        assert str(path) in str(error.value) and "missing from the checkpoint (1)" in str(error.value)
        assert ("output.dens.weight" in str(error.value)) == (damage == "renamed")


def test_layer_decay_reaches_every_encoder_layer():
    model = ASTForAudioClassification(ASTConfig(**dict(TINY_AST, num_hidden_layers=3, num_labels=6)))
    groups = layerwise_param_groups(model, lr=1.0, decay=0.5, weight_decay=0.1)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    names = dict(model.named_parameters())
    assert len(lr_of) == len(names)
    for name, param in names.items():
        if name.startswith("classifier."):
            expected = 1.0
        elif ".embeddings." in name:
            expected = 0.5**4
        elif ".layers." in name:
            expected = 0.5 ** (3 - int(name.split(".layers.")[1].split(".")[0]))
        else:
            expected = 1.0  # the final layer norm
        assert lr_of[id(param)] == expected, name


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


KILLER = """
import json, os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import astgenre.training as training
from test_training import run

args = json.loads(sys.argv[1])
original = training.WindowTrainer._save_checkpoint


def save_then_die(self, *a, **k):
    original(self, *a, **k)
    if self.state.epoch >= args["kill_after_epoch"]:
        os.kill(os.getpid(), signal.SIGKILL)  # as a scheduler's kill: no clean-up of any kind


training.WindowTrainer._save_checkpoint = save_then_die
run((Path(args["index"]), Path(args["features"])), Path(args["out"]), args["recipe"], seed=args["seed"])
"""


def train_until_killed(study, out: Path, recipe, seed: int, kill_after_epoch: int) -> None:
    """Train in a subprocess that kills itself right after the checkpoint of epoch `kill_after_epoch`."""
    script = out / "killer.py"
    out.mkdir(parents=True, exist_ok=True)
    script.write_text(KILLER.format(tests=str(Path(__file__).parent)))
    args = dict(index=str(study[0]), features=str(study[1]), out=str(out), recipe=recipe, seed=seed)
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(dict(args, kill_after_epoch=kill_after_epoch))],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert not (out / "model").exists() and list((out / "work").glob("checkpoint-*"))


def killed_then_resumed(study, out: Path, recipe, seed: int, kill_after_epoch: int) -> dict:
    """Killed after the checkpoint of epoch `kill_after_epoch`, then train_run called again here: it resumes."""
    train_until_killed(study, out, recipe, seed, kill_after_epoch)
    return run(study, out, recipe, seed=seed)


def weights(model_dir: Path) -> dict:
    return load_file(str(model_dir / "model.safetensors"))


@pytest.mark.parametrize(
    "changes",
    [
        {"windows_per_track": 3},  # 9 steps an epoch, a log every 2 steps: a loss carried over the checkpoint
        {"weighting": "balanced_sampler", "mixup": 0.4, "layer_decay": 0.75},
    ],
    ids=["random-windows", "balanced-sampler-mixup-layer-decay"],
)
def test_a_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one(study, recipe, tmp_path, changes):
    """Killed right after its epoch-2 checkpoint and resumed: model, optimizer, scheduler, RNG and data order are
    restored, so the saved model equals an uninterrupted run's bit for bit (CPU, one thread), and so does the log."""
    recipe = dict(recipe, epochs=4, early_stopping_patience=None, **changes)
    resumed = killed_then_resumed(study, tmp_path / "resumed", recipe, seed=5, kill_after_epoch=2)
    whole = run(study, tmp_path / "whole", recipe, seed=5)
    assert resumed["resumed_from"] and resumed["resumed_from"].startswith("checkpoint-")
    assert whole["resumed_from"] is None
    assert resumed["epochs_run"] == pytest.approx(4) and resumed["global_steps"] == whole["global_steps"]
    a, b = weights(tmp_path / "resumed" / "model"), weights(tmp_path / "whole" / "model")
    assert a.keys() == b.keys()
    different = [key for key in a if not torch.equal(a[key], b[key])]
    assert not different, f"{len(different)} of {len(a)} tensors differ, e.g. {different[:3]}"
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "resumed" / "history.tsv", sep="\t"),
        pd.read_csv(tmp_path / "whole" / "history.tsv", sep="\t"),
        check_exact=True,
    )
    for key in ("best_dev_metric", "best_checkpoint", "selected_epoch", "selected_dev_metric"):
        assert resumed[key] == whole[key], key


def test_resuming_from_a_checkpoint_with_a_renamed_tensor_fails_naming_it(study, recipe, tmp_path):
    recipe = dict(recipe, epochs=3, early_stopping_patience=None)
    out = tmp_path / "run"
    train_until_killed(study, out, recipe, seed=0, kill_after_epoch=1)
    checkpoint = next((out / "work").glob("checkpoint-*"))
    tensors = load_file(str(checkpoint / "model.safetensors"))
    key = next(k for k in tensors if k.endswith("attention.attention.query.weight"))
    tensors[key.replace(".query.", ".quer.")] = tensors.pop(key)
    save_file(tensors, str(checkpoint / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(CheckpointMismatch) as error:
        run(study, out, recipe)
    message = str(error.value)
    assert str(checkpoint / "model.safetensors") in message
    assert "quer.weight" in message and "q_proj.weight" in message  # the unexpected and the missing key


def test_two_ranks_under_torchrun_train_data_parallel(study, recipe, tmp_path, monkeypatch):
    """What a rule with gpu > 1 does: torchrun on this node; here two CPU ranks (gloo) stand in for two GPUs."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # CPU ranks on a GPU machine too (two ranks cannot share one GPU)
    index, features = study
    spec = RunSpec(
        index_path=index,
        feature_dirs=(features,),
        checkpoint=str(index.parent / "checkpoint"),
        model_dir=tmp_path / "model",
        work_dir=tmp_path / "work",
        history_path=tmp_path / "history.tsv",
        summary_path=tmp_path / "summary.json",
        recipe=Recipe.from_mapping(dict(recipe, epochs=1)),
        seed=0,
        variant="none",
        settings=FbankSettings(),
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


# --------------------------------------------------------------------------- batched loading, CPU and GPU settings


def item_by_item(monkeypatch) -> None:
    """Make the DataLoader fetch window after window through __getitem__, as it did before __getitems__ existed (it
    calls __getitems__ only when the dataset has a true one)."""
    monkeypatch.setattr(TrainingWindows, "__getitems__", None)
    monkeypatch.setattr(EvaluationWindows, "__getitems__", None)


@pytest.mark.parametrize(
    "variant, extra",
    [
        ("inverse_frequency", {}),  # random windows, SpecAugment, development windows of every track
        ("balanced_sampler", {"weighting": "balanced_sampler", "mixup": 0.4, "layer_decay": 0.75}),
        ("reference_replica", {"weighting": "none", "window": "first", "specaugment": None, "grad_accum": 2}),
    ],
)
def test_batched_loading_trains_and_evaluates_exactly_as_item_by_item_loading(
    study, recipe, tmp_path, monkeypatch, variant, extra
):
    """The CPU results of a seed do not move: weights, training log and predictions equal bit for bit."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the claim is the CPU's, on a GPU machine too
    recipe = dict(recipe, **extra)
    outputs = {}
    for name in ("items", "batches"):
        with monkeypatch.context() as patch:
            if name == "items":
                item_by_item(patch)
            run(study, tmp_path / name, recipe, seed=2, variant=variant)
            evaluate_run(
                index_path=study[0],
                feature_dirs=[study[1]],
                model_dir=tmp_path / name / "model",
                split="evaluation",
                predictions_path=tmp_path / name / "pred.tsv",
                metrics_path=tmp_path / name / "metrics.json",
                device="cpu",
            )
        outputs[name] = tmp_path / name
    a, b = weights(outputs["items"] / "model"), weights(outputs["batches"] / "model")
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)
    for name in ("history.tsv", "pred.tsv"):
        assert (outputs["items"] / name).read_bytes() == (outputs["batches"] / name).read_bytes(), name


def test_loader_workers_train_the_same_model_for_the_same_seed(study, recipe, tmp_path, monkeypatch):
    """What a GPU run does with dataloader_workers: auto, here with an explicit worker on the CPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    recipe = dict(recipe, epochs=2, dataloader_workers=1)
    run(study, tmp_path / "a", recipe, seed=1)
    run(study, tmp_path / "b", recipe, seed=1)
    a, b = weights(tmp_path / "a" / "model"), weights(tmp_path / "b" / "model")
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_evaluation_with_loader_workers_predicts_what_the_main_process_predicts(study, recipe, tmp_path):
    run(study, tmp_path, dict(recipe, epochs=1))
    for workers in (0, 2):
        evaluate_run(
            index_path=study[0],
            feature_dirs=[study[1]],
            model_dir=tmp_path / "model",
            split="evaluation",
            predictions_path=tmp_path / f"pred{workers}.tsv",
            metrics_path=tmp_path / f"metrics{workers}.json",
            batch_size=5,
            device="cpu",
            workers=workers,
        )
    assert (tmp_path / "pred0.tsv").read_bytes() == (tmp_path / "pred2.tsv").read_bytes()


def test_evaluate_run_takes_the_gpu_batch_workers_and_tf32_on_a_gpu_only(study, recipe, tmp_path, monkeypatch):
    """The evaluate rule's wiring, decided without a GPU: the device is faked, the model stays on the CPU."""
    import astgenre.evaluation as evaluation

    run(study, tmp_path, dict(recipe, epochs=1))
    calls, tf32 = [], []
    predict = evaluation.predict_windows
    monkeypatch.setattr(
        evaluation,
        "predict_windows",
        lambda model, windows, batch, device, workers: (
            calls.append((batch, device.type, workers)) or predict(model, windows, batch, "cpu", 0)
        ),
    )
    monkeypatch.setattr(evaluation.gpu, "allow_tf32", lambda: tf32.append(True))
    monkeypatch.setattr(evaluation.gpu, "tf32_supported", lambda: True)
    load = evaluation.load_classifier
    monkeypatch.setattr(evaluation, "load_classifier", lambda model_dir, device: load(model_dir, "cpu"))
    for device in ("cpu", "cuda"):
        monkeypatch.setattr(evaluation, "resolve_device", lambda _, device=device: torch.device(device))
        evaluate_run(
            index_path=study[0],
            feature_dirs=[study[1]],
            model_dir=tmp_path / "model",
            split="evaluation",
            predictions_path=tmp_path / f"pred_{device}.tsv",
            metrics_path=tmp_path / f"metrics_{device}.json",
            batch_size=32,
            gpu_batch_size=256,
            workers="auto",
            threads=4,
            device=device,
        )
    assert calls == [(32, "cpu", 0), (256, "cuda", 3)] and tf32 == [True]


def spec_for(study, tmp_path, recipe, threads=2) -> RunSpec:
    index, features = study
    return RunSpec(
        index_path=index,
        feature_dirs=(features,),
        checkpoint=str(index.parent / "checkpoint"),
        model_dir=tmp_path / "model",
        work_dir=tmp_path / "work",
        history_path=tmp_path / "history.tsv",
        summary_path=tmp_path / "summary.json",
        recipe=Recipe.from_mapping(recipe),
        seed=4,
        variant="none",
        threads=threads,
    )


def test_the_cpu_trainer_settings_are_those_runs_always_had(study, recipe, tmp_path):
    """dataloader_workers: auto and the GPU-only settings leave a CPU run's TrainingArguments as they were."""
    spec = spec_for(study, tmp_path, recipe)
    before = dict(  # training_arguments before the GPU settings, with dataloader_workers: 0 (the old default)
        output_dir=str(spec.work_dir),
        num_train_epochs=3,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=32,
        gradient_accumulation_steps=1,
        learning_rate=1.0e-3,
        weight_decay=0.01,
        warmup_steps=0.1,
        lr_scheduler_type="cosine",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=max(1, 10 // (8 * 4)),
        seed=4,
        data_seed=4,
        bf16=False,
        **_checkpointing_argument(False),
        dataloader_num_workers=0,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        ddp_find_unused_parameters=False,
    )
    assert recipe["dataloader_workers"] == "auto" and recipe["eval_batch_size_gpu"] == 256
    assert trainer_settings(spec, 10, torch.device("cpu")) == before
    cpu = TrainingArguments(**trainer_settings(spec, 10, torch.device("cpu")))
    assert TrainingArguments(**before).to_dict() == cpu.to_dict()


def test_the_gpu_trainer_settings_keep_it_busy(study, recipe, tmp_path, monkeypatch):
    import astgenre.training as training

    monkeypatch.setattr(training.gpu, "tf32_supported", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cuda = torch.device("cuda")
    settings = trainer_settings(spec_for(study, tmp_path, recipe, threads=4), 10, cuda)
    cpu = trainer_settings(spec_for(study, tmp_path, recipe, threads=4), 10, torch.device("cpu"))
    gpu_only = {
        "dataloader_num_workers": 3,  # the job's 4 threads less the one that drives the GPU
        "dataloader_pin_memory": True,
        "dataloader_persistent_workers": False,  # a resumed run's workers draw what the first run's did
        "optim": "adamw_torch_fused",
        "tf32": True,
        "per_device_eval_batch_size": 256,
        "bf16": True,
        "use_cpu": False,
    }
    assert {key: settings[key] for key in gpu_only} == gpu_only
    assert {key: value for key, value in settings.items() if key not in gpu_only} == {
        key: value for key, value in cpu.items() if key not in gpu_only
    }
    monkeypatch.setenv("WORLD_SIZE", "2")  # two ranks share the job's threads
    assert trainer_settings(spec_for(study, tmp_path, recipe, threads=4), 10, cuda)["dataloader_num_workers"] == 1
    explicit = trainer_settings(spec_for(study, tmp_path, dict(recipe, dataloader_workers=0)), 10, cuda)
    assert explicit["dataloader_num_workers"] == 0 and explicit["dataloader_persistent_workers"] is False
    replica = trainer_settings(spec_for(study, tmp_path, dict(recipe, precision="fp32")), 10, cuda)
    assert replica["tf32"] is None and replica["bf16"] is False  # an fp32 recipe stays fp32 on a GPU
    monkeypatch.setattr(training.gpu, "tf32_supported", lambda: False)  # before Ampere: TrainingArguments refuses tf32
    assert trainer_settings(spec_for(study, tmp_path, recipe), 10, cuda)["tf32"] is None
