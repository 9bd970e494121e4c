"""Fine-tuning one run (variant, seed) with the Hugging Face Trainer; selection on the development split."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import WeightedRandomSampler
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from . import gpu, protocols
from .contracts import DEV_METRICS, HISTORY_COLUMNS, TRACKS_FILE
from .data import EvaluationWindows, TrainingWindows, aggregate_tracks, collate_windows, load_split, model_inputs
from .dataset import read_index
from .features import FbankSettings
from .files import share_like_umask
from .labels import CLASSES, LABEL2ID
from .metrics import track_metrics
from .model import check_weights_equal, load_for_finetuning, load_weights_into, save_run_info, weights_file
from .recipe import Recipe
from .runtime import bf16_on, resolve_device
from .training_logs import reporting_callbacks
from .weighting import class_weights, sample_weights, weighted_cross_entropy

log = logging.getLogger(__name__)


def mixup(inputs: dict[str, torch.Tensor], alpha: float, n_classes: int = len(CLASSES)) -> dict[str, torch.Tensor]:
    """Mix pairs of windows of a training batch and their one-hot labels (Zhang et al., 2018); alpha <= 0: as is.

    Applied in the training step only: the development batches that select the checkpoint are never mixed.
    """
    x, y = inputs["input_values"], inputs["labels"]
    if alpha <= 0 or len(x) < 2:
        return inputs
    lam = float(np.random.beta(alpha, alpha))
    perm = torch.randperm(len(x)).to(x.device)
    onehot = torch.nn.functional.one_hot(y, n_classes).to(x.dtype)
    return {**inputs, "input_values": lam * x + (1 - lam) * x[perm], "labels": lam * onehot + (1 - lam) * onehot[perm]}


class EpochWeightedSampler(WeightedRandomSampler):
    """WeightedRandomSampler whose draws depend on (seed, epoch) only, so that a resumed run draws what an
    uninterrupted one would (the Trainer calls set_epoch before each epoch)."""

    def __init__(self, weights: np.ndarray, seed: int) -> None:
        super().__init__(torch.as_tensor(weights, dtype=torch.double), len(weights), generator=torch.Generator())
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + int(epoch))


class WindowTrainer(Trainer):
    """The Trainer with an optional class-balanced training sampler, mixup in the training step, and strict
    weight loading: the best-model reload and resume load every tensor through ``from_pretrained`` or fail
    (:func:`astgenre.model.load_weights_into`). Batches arrive in the features' dtype (float16) on the device and
    are made float32 there (:func:`astgenre.data.model_inputs`), before mixup.
    """

    def __init__(
        self, *args: Any, balanced_weights: np.ndarray | None = None, mixup_alpha: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.balanced_weights = balanced_weights
        self.mixup_alpha = mixup_alpha

    def training_step(self, model: torch.nn.Module, inputs: dict[str, torch.Tensor], *args: Any, **kwargs: Any):
        return super().training_step(model, mixup(model_inputs(inputs), self.mixup_alpha), *args, **kwargs)

    def prediction_step(self, model: torch.nn.Module, inputs: dict[str, torch.Tensor], *args: Any, **kwargs: Any):
        return super().prediction_step(model, model_inputs(inputs), *args, **kwargs)

    def _get_train_sampler(self, train_dataset=None):  # noqa: ANN001 - Trainer's signature
        if self.balanced_weights is None:
            return super()._get_train_sampler(train_dataset)
        return EpochWeightedSampler(
            self.balanced_weights, self.args.data_seed if self.args.data_seed is not None else self.args.seed
        )

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        target = self.accelerator.unwrap_model(model if model is not None else self.model)
        load_weights_into(target, resume_from_checkpoint)

    def _load_best_model(self) -> None:
        log.info("loading the selected checkpoint %s (%s)", self.state.best_model_checkpoint, self.state.best_metric)
        load_weights_into(self.accelerator.unwrap_model(self.model), self.state.best_model_checkpoint)


# Encoder layer of a parameter: `layers.N.` in memory (transformers 5), `encoder.layer.N.` in saved files.
_LAYER_NUMBER = re.compile(r"\.layers?\.(\d+)\.")


def layerwise_param_groups(
    model: torch.nn.Module, lr: float, decay: float, weight_decay: float
) -> list[dict[str, Any]]:
    """AdamW parameter groups with layer-wise learning-rate decay: the head gets lr, layer i of L gets
    lr * decay**(L - i), the embeddings lr * decay**(L + 1). Biases and norms get no weight decay."""
    n_layers = model.config.num_hidden_layers
    groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        layer = _LAYER_NUMBER.search(name)
        if ".embeddings." in name or name.startswith("audio_spectrogram_transformer.embeddings"):
            depth = n_layers + 1
        elif layer:
            depth = n_layers - int(layer.group(1))
        elif name.startswith("audio_spectrogram_transformer."):
            depth = 0  # final layernorm
        else:
            depth = 0  # classifier head
        wd = 0.0 if param.ndim == 1 else weight_decay
        groups.setdefault((lr * decay**depth, wd), []).append(param)
    return [{"params": params, "lr": group_lr, "weight_decay": wd} for (group_lr, wd), params in groups.items()]


def history_table(log_history: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The Trainer's log history as one row per logging step or evaluation (columns HISTORY_COLUMNS)."""
    rows = []
    for entry in log_history:
        if "loss" in entry:
            rows.append(
                {
                    "epoch": entry.get("epoch"),
                    "step": entry.get("step"),
                    "train_loss": entry["loss"],
                    "learning_rate": entry.get("learning_rate"),
                }
            )
        elif "eval_loss" in entry:
            row = {"epoch": entry.get("epoch"), "step": entry.get("step"), "dev_loss": entry["eval_loss"]}
            for key in DEV_METRICS:
                row[f"dev_{key}"] = entry.get(f"eval_{key}")
            rows.append(row)
    return pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))


def last_complete_checkpoint(work_dir: Path) -> str | None:
    """The newest checkpoint in work_dir that was written to the end, or None.

    The Trainer writes trainer_state.json last; a checkpoint without a readable one was cut short (the job was
    killed while saving) and is removed, so that the run resumes from the one before.
    """
    if not Path(work_dir).is_dir():
        return None
    candidates = sorted(
        (
            p
            for p in Path(work_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*")
            if p.is_dir() and p.name.split("-")[-1].isdigit()
        ),
        key=lambda p: int(p.name.split("-")[-1]),
        reverse=True,
    )
    for checkpoint in candidates:
        try:
            json.loads((checkpoint / "trainer_state.json").read_text())
            return str(checkpoint)
        except (OSError, ValueError):
            log.warning("removing %s: written only in part (the job was stopped while saving it)", checkpoint)
            shutil.rmtree(checkpoint, ignore_errors=True)
    return None


def _precision(setting: str, device: torch.device) -> bool:
    """Whether to train in bf16."""
    if setting == "bf16":
        return True
    return setting == "auto" and bf16_on(device)


def training_device() -> torch.device:
    """Where the Trainer trains: the GPU when torch sees one (the Trainer's own choice), else the CPU."""
    return resolve_device("auto")


@dataclass(frozen=True)
class RunSpec:
    """Everything one training run needs: its inputs, outputs, recipe and identity.

    ``to_json``/``from_json`` carry it to the torchrun ranks of a multi-GPU run unchanged.
    """

    index_path: Path
    feature_dirs: tuple[Path, ...]
    checkpoint: str
    model_dir: Path
    work_dir: Path
    history_path: Path
    summary_path: Path
    recipe: Recipe
    seed: int
    variant: str
    settings: FbankSettings = FbankSettings()
    threads: int | None = None
    progress: bool = False
    assignment: Path | None = None
    """A protocol's assignment (astgenre.protocols): train and select on its roles of ``fold``. None: the official
    split (train on training, select on development)."""
    fold: int = 0
    decode_errors: Path | None = None
    """The decode stage's decode_errors.tsv: the only tracks allowed to lack features (see data.load_split)."""
    tensorboard_dir: Path | None = None
    """Where the TensorBoard event files go when the recipe's report_to is tensorboard (astgenre.training_logs)."""

    _PATHS = ("index_path", "model_dir", "work_dir", "history_path", "summary_path")

    def to_json(self) -> str:
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        values.update(
            feature_dirs=[str(p) for p in self.feature_dirs],
            recipe=self.recipe.to_dict(),
            settings=asdict(self.settings),
            assignment=None if self.assignment is None else str(self.assignment),
            decode_errors=None if self.decode_errors is None else str(self.decode_errors),
            tensorboard_dir=None if self.tensorboard_dir is None else str(self.tensorboard_dir),
            **{name: str(values[name]) for name in self._PATHS},
        )
        return json.dumps(values, indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        values = json.loads(text)
        values.update(
            feature_dirs=tuple(Path(p) for p in values["feature_dirs"]),
            recipe=Recipe.from_mapping(values["recipe"]),
            settings=FbankSettings(**values["settings"]),
            assignment=None if values.get("assignment") is None else Path(values["assignment"]),
            decode_errors=None if values.get("decode_errors") is None else Path(values["decode_errors"]),
            tensorboard_dir=None if values.get("tensorboard_dir") is None else Path(values["tensorboard_dir"]),
            **{name: Path(values[name]) for name in cls._PATHS},
        )
        return cls(**values)


@dataclass
class RunData:
    """The windows a run trains and selects on, with the development tracks behind them."""

    train_set: TrainingWindows
    dev_set: EvaluationWindows
    dev_tracks: pd.DataFrame
    n_train_tracks: int


def load_run_data(spec: RunSpec, window_frames: int) -> RunData:
    """Training and selection windows of the run (never its test tracks): the training and development splits, or
    the train and select roles of the run's protocol fold."""
    recipe = spec.recipe
    index = read_index(spec.index_path)
    dirs = list(spec.feature_dirs)
    if spec.assignment is None:
        train_tracks, train_arrays = load_split(index, "training", dirs, spec.decode_errors)
        dev_tracks, dev_arrays = load_split(index, "development", dirs, spec.decode_errors)
    else:
        roles = protocols.roles_of(protocols.read(spec.assignment), spec.fold)
        train_tracks, train_arrays = load_split(index, "train", dirs, spec.decode_errors, roles["train"])
        dev_tracks, dev_arrays = load_split(index, "select", dirs, spec.decode_errors, roles["select"])
    augment = None if recipe.specaugment is None else asdict(recipe.specaugment)
    train_set = TrainingWindows(
        train_tracks,
        train_arrays,
        window_frames,
        mode=recipe.window,
        windows_per_track=recipe.windows_per_track,
        specaugment=augment,
        settings=spec.settings,
    )
    dev_set = EvaluationWindows(
        list(dev_tracks["track_id"]),
        dev_arrays,
        window_frames,
        recipe.eval_hop_frames,
        labels=[LABEL2ID[label] for label in dev_tracks["label"]],
        first_only=recipe.first_window_only,
        settings=spec.settings,
    )
    return RunData(train_set, dev_set, dev_tracks, len(train_tracks))


def training_arguments(spec: RunSpec, n_train_windows: int) -> TrainingArguments:
    """The Trainer's arguments for the run on :func:`training_device` (see :func:`trainer_settings`)."""
    return TrainingArguments(**trainer_settings(spec, n_train_windows, training_device()))


def trainer_settings(spec: RunSpec, n_train_windows: int, device: torch.device) -> dict[str, Any]:
    """TrainingArguments' keywords for the run on ``device``: epoch-wise evaluation and checkpoints, selection by
    the recipe's development metric, the best checkpoint loaded at the end.

    On a GPU, and only there, also what keeps it busy (docs/performance.md): loader workers from the job's threads
    (``dataloader_workers: auto``), kept between epochs, pinned memory, fused AdamW, TF32 for what stays in float32,
    and the GPU's evaluation batch. On the CPU the keywords are those the runs always had.
    """
    recipe = spec.recipe
    cuda = device.type == "cuda"
    ranks = int(os.environ.get("WORLD_SIZE", "1"))
    workers = gpu.loader_workers(recipe.dataloader_workers, spec.threads, device, ranks)
    settings = dict(
        output_dir=str(spec.work_dir),
        num_train_epochs=recipe.epochs,
        per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=gpu.eval_batch_size(recipe.eval_batch_size, recipe.eval_batch_size_gpu, device),
        gradient_accumulation_steps=recipe.grad_accum,
        learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay,
        warmup_steps=recipe.warmup_ratio,
        lr_scheduler_type=recipe.scheduler,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=recipe.select_metric,
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=max(1, n_train_windows // (recipe.effective_batch * 4)),
        seed=spec.seed,
        data_seed=spec.seed,
        bf16=_precision(recipe.precision, device),
        **_checkpointing_argument(recipe.gradient_checkpointing),
        dataloader_num_workers=workers,
        use_cpu=not cuda,
        report_to=[],
        disable_tqdm=not spec.progress,
        remove_unused_columns=False,
        ddp_find_unused_parameters=False,
    )
    if cuda:
        settings.update(
            optim="adamw_torch_fused",
            # TF32 where the recipe computes in bf16 anyway; an fp32 recipe (the replica's) trains in fp32.
            tf32=True if gpu.tf32_supported() and recipe.precision != "fp32" else None,
            dataloader_pin_memory=True,
            # Workers start afresh each epoch, seeded from the main generator: a resumed run then draws the same
            # windows and masks as an uninterrupted one (persistent workers would carry their streams across epochs).
            dataloader_persistent_workers=False,
        )
    return settings


def build_trainer(
    spec: RunSpec, model: torch.nn.Module, data: RunData, callbacks: Sequence[TrainerCallback] = ()
) -> WindowTrainer:
    """The Trainer of the run: class-weighted loss, development metrics at track level, optional layer decay,
    early stopping and balanced sampler."""
    recipe = spec.recipe
    counts = np.bincount(data.train_set.labels, minlength=len(CLASSES))
    weights = class_weights(counts, recipe.weighting, recipe.effective_number_beta)
    weight_tensor = None if weights is None else torch.tensor(weights, dtype=torch.float32)
    log.info(
        "run %s seed %d: %d training tracks %s, %d development tracks, window %d frames, class weights %s",
        spec.variant,
        spec.seed,
        data.n_train_tracks,
        dict(zip(CLASSES, counts.tolist(), strict=True)),
        len(data.dev_tracks),
        data.train_set.length,
        None if weights is None else np.round(weights, 3).tolist(),
    )
    dev_labels = list(data.dev_tracks["label"])

    def compute_loss(outputs, labels, num_items_in_batch=None):  # noqa: ANN001 - Trainer's signature
        w = None if weight_tensor is None else weight_tensor.to(outputs.logits.device)
        return weighted_cross_entropy(outputs.logits, labels, w)

    def compute_metrics(prediction) -> dict[str, float]:  # noqa: ANN001
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        probs = aggregate_tracks(logits, data.dev_set.track_of, data.dev_set.n_tracks, recipe.aggregate)
        metrics = track_metrics(dev_labels, probs)
        return {key: metrics[key] for key in DEV_METRICS}

    optimizers = (None, None)
    if recipe.layer_decay:
        groups = layerwise_param_groups(model, recipe.learning_rate, recipe.layer_decay, recipe.weight_decay)
        fused = {"fused": True} if training_device().type == "cuda" else {}  # as the Trainer's own on a GPU
        optimizers = (torch.optim.AdamW(groups, lr=recipe.learning_rate, **fused), None)
    callbacks = list(callbacks)
    if recipe.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=recipe.early_stopping_patience))
    balanced = None
    if recipe.weighting == "balanced_sampler":
        balanced = sample_weights([data.train_set.label_of(i) for i in range(len(data.train_set))], len(CLASSES))
    return WindowTrainer(
        model=model,
        args=training_arguments(spec, len(data.train_set)),
        data_collator=collate_windows,
        mixup_alpha=recipe.mixup,
        train_dataset=data.train_set,
        eval_dataset=data.dev_set,
        compute_loss_func=compute_loss,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
        optimizers=optimizers,
        balanced_weights=balanced,
    )


def train_run(spec: RunSpec) -> dict[str, Any]:
    """Fine-tune one run and save the selected (best on development) model to spec.model_dir; return its summary.

    Reads only the training and development splits. A run interrupted midway resumes from the last
    checkpoint in spec.work_dir when called again; the work_dir is removed after success.
    """
    logging_callbacks = reporting_callbacks(spec.recipe.to_dict(), spec.tensorboard_dir)  # before any data is read
    if spec.threads:
        torch.set_num_threads(spec.threads)
    set_seed(spec.seed)
    model = load_for_finetuning(spec.checkpoint)
    if model.config.num_mel_bins != spec.settings.num_mel_bins:
        raise ValueError(
            f"checkpoint {spec.checkpoint} expects {model.config.num_mel_bins} mel bins "
            f"but features.num_mel_bins is {spec.settings.num_mel_bins}"
        )
    data = load_run_data(spec, int(model.config.max_length))
    trainer = build_trainer(spec, model, data, logging_callbacks)
    resume = last_complete_checkpoint(spec.work_dir)
    if resume:
        log.info("resuming from %s", resume)
    started = time.time()
    result = trainer.train(resume_from_checkpoint=resume)
    selected = verify_selection(trainer, spec.recipe.select_metric)
    trainer.save_model(str(spec.model_dir))
    if not trainer.is_world_process_zero():
        return {}
    share_like_umask(spec.model_dir)  # safetensors writes the weights 0600
    timing = {
        "resumed_from": Path(resume).name if resume else None,
        "train_seconds": round(time.time() - started, 2),
        "train_samples_per_second": result.metrics.get("train_samples_per_second"),
    }
    summary = write_run_outputs(spec, trainer, data, selected, timing)
    shutil.rmtree(spec.work_dir, ignore_errors=True)
    return summary


def write_run_outputs(
    spec: RunSpec, trainer: WindowTrainer, data: RunData, selected: dict[str, Any], timing: dict[str, Any]
) -> dict[str, Any]:
    """Check the saved model against memory, then write its run info, history.tsv, train_summary.json and the
    tracks it trained and selected on (beside the summary, TRACKS_FILE)."""
    state, recipe = trainer.state, spec.recipe
    tracks = pd.DataFrame(
        {
            "track_id": [*data.train_set.track_ids, *data.dev_tracks["track_id"]],
            "role": ["train"] * len(data.train_set.track_ids) + ["select"] * len(data.dev_tracks),
        }
    )
    tracks.to_csv(Path(spec.summary_path).with_name(TRACKS_FILE), sep="\t", index=False)
    check_weights_equal(trainer.model, weights_file(spec.model_dir))
    save_run_info(
        spec.model_dir,
        {
            "variant": spec.variant,
            "seed": spec.seed,
            "checkpoint": str(spec.checkpoint),
            "window_frames": int(trainer.model.config.max_length),
            "eval_hop_frames": recipe.eval_hop_frames,
            "window": recipe.window,
            "aggregate": recipe.aggregate,
            "features": asdict(spec.settings),
            "labels": list(CLASSES),
            "select_metric": recipe.select_metric,
            "best_dev_metric": state.best_metric,
        },
    )
    history_table(state.log_history).to_csv(spec.history_path, sep="\t", index=False)
    summary = {
        "variant": spec.variant,
        "seed": spec.seed,
        "select_metric": recipe.select_metric,
        "best_dev_metric": state.best_metric,
        "best_checkpoint": Path(state.best_model_checkpoint).name,
        "selected_step": selected["step"],
        "selected_epoch": selected["epoch"],
        "selected_dev_metric": selected["value"],
        "epochs_run": state.epoch,
        "global_steps": state.global_step,
        **timing,
        "recipe": recipe.to_dict(),
        "device": str(trainer.args.device),
        "world_size": trainer.args.world_size,
        "bf16": bool(trainer.args.bf16),
    }
    Path(spec.summary_path).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


SELECTION_TOLERANCE = 1e-9
"""How far the saved model's development score may lie from the score that selected its checkpoint."""


def verify_selection(trainer: Trainer, metric: str) -> dict[str, Any]:
    """Evaluate the model the Trainer ended with on development and check that it scores what the selected
    checkpoint scored when it was chosen; return {step, epoch, value} of the selected checkpoint.

    Raises RuntimeError when the scores differ: the weights in memory are not those of the selected checkpoint.
    """
    state = trainer.state
    if state.best_model_checkpoint is None or state.best_metric is None:
        raise RuntimeError("training ended without a development evaluation: no checkpoint was selected")
    step = int(Path(state.best_model_checkpoint).name.rsplit("-", 1)[1])
    epoch = next((entry.get("epoch") for entry in state.log_history if entry.get("step") == step), None)
    value = trainer.evaluate(metric_key_prefix="selected")[f"selected_{metric}"]
    if abs(value - state.best_metric) > SELECTION_TOLERANCE:
        raise RuntimeError(
            f"the model after training scores development {metric} {value!r}, but the checkpoint it should be "
            f"({state.best_model_checkpoint}, step {step}) scored {state.best_metric!r} when it was selected: "
            "its weights were not restored completely"
        )
    return {"step": step, "epoch": epoch, "value": float(value)}


def _checkpointing_argument(enabled: bool) -> dict[str, bool]:
    """TrainingArguments' activation checkpointing switch: `activation_checkpointing` in newer transformers,
    `gradient_checkpointing` (now its deprecated alias) in older 5.x releases such as 5.17."""
    names = {field.name for field in fields(TrainingArguments)}
    return {"activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": enabled}


def launch_distributed(spec: RunSpec, n_processes: int, spec_path: Path) -> None:
    """Run train_run(spec) under torchrun with n_processes ranks (one per GPU) on this node.

    The Trainer runs distributed data parallel; rank 0 writes the outputs. The spec travels as JSON (spec_path).
    """
    Path(spec_path).parent.mkdir(parents=True, exist_ok=True)
    Path(spec_path).write_text(spec.to_json())
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={n_processes}",
        "-m",
        "astgenre.training",
        str(spec_path),
    ]
    log.info("launching %s", " ".join(command))
    subprocess.run(command, check=True)


def _main(spec_path: str) -> None:
    """Entry point of each torchrun rank: python -m astgenre.training SPEC.json."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    train_run(RunSpec.from_json(Path(spec_path).read_text()))


if __name__ == "__main__":
    _main(sys.argv[1])
