"""Training and evaluation throughput of astgenre (train_run, evaluate_run) vs a plain Hugging Face Trainer.

Usage: python benchmarks/bench_training.py [--model demo|base] [--device cpu|cuda] [--batch-size N] [--steps N]
                                           [--epochs N] [--precision auto|bf16|fp32] [--threads N]

Both sides get the same synthetic study (tests/test_training.py: make_study; 30 s tracks = 2998 frames of 128 mel
bins, float16 on disk), the same windows (astgenre.data.TrainingWindows with the recipe's windows per track and
SpecAugment; EvaluationWindows of the evaluation split), the same model (the demo preset's small AST, or
`--model base`: ASTConfig() defaults, the AST-base shape: 12 layers, hidden 768, 1024 frames, strides 10), the same
batch sizes, epochs, precision, seed and torch threads. Everything else is each side's own:
- ours: astgenre.training.train_run with the preset's recipe (weighted loss, per-epoch development evaluation,
  checkpoint saving and best-model selection), then astgenre.evaluation.evaluate_run on the evaluation split;
- plain: Trainer(model, TrainingArguments(<the shared values above>, all else default)) .train() (the model's own
  loss, no sampler, no evaluation, no checkpoints before step 500), then Trainer.predict on the same windows (its
  collator makes the windows' float16 batches float32, as the default collator would get them).
Each phase runs in a fresh process, so its peak memory is its own: CUDA max_memory_allocated on a GPU, peak RSS
(VmHWM, including the ~0.4 GB of imported libraries; RSS after the imports is printed beside it) on the CPU.
--steps sets the optimizer steps per epoch (through the number of tracks), --epochs the epochs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FRAMES = 2998  # a 30 s excerpt at 16 kHz: 1 + (480000 - 400) // 160
PRESETS = {"demo": "demo", "base": "ismir2004"}  # --model -> study whose recipe is used
DEFAULT_STEPS = {"demo": 50, "base": 2}
DEFAULT_EPOCHS = {"demo": 2, "base": 1}


# --------------------------------------------------------------------------- helpers (parent and children)


def _rss_mib(field: str) -> float:
    """VmRSS or VmHWM (peak) of this process, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


class _Phase:
    """Times a phase and records its peak memory (CUDA when used, else the process's peak RSS)."""

    def __init__(self, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        self.rss_before = _rss_mib("VmRSS")
        self.started = time.perf_counter()

    def result(self, **values: Any) -> dict[str, Any]:
        import torch

        values["seconds"] = time.perf_counter() - self.started
        values["rss_before_mib"] = self.rss_before
        values["peak_rss_mib"] = _rss_mib("VmHWM")
        values["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20 if self.cuda else None
        values["device"] = torch.cuda.get_device_name() if self.cuda else "cpu"
        return values


def _load_recipe(model: str, overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recipe of the variant in the study of `model`, with the non-None overrides; and the study config."""
    from astgenre.config import read_study, variant_training

    study = read_study(REPO, PRESETS[model])
    recipe = variant_training(study, overrides.pop("variant"))
    recipe.update({k: v for k, v in overrides.items() if v is not None})
    return recipe, study


def _windows(study: dict[str, str], recipe: dict[str, Any], length: int):
    """The training windows and the evaluation-split windows of the synthetic study, as both sides see them."""
    from astgenre.data import EvaluationWindows, TrainingWindows, load_split
    from astgenre.dataset import read_index
    from astgenre.labels import LABEL2ID

    index = read_index(Path(study["index"]))
    tracks, arrays = load_split(index, "training", [Path(study["features"])])
    train = TrainingWindows(
        tracks,
        arrays,
        length,
        mode=recipe["window"],
        windows_per_track=recipe["windows_per_track"],
        specaugment=recipe.get("specaugment"),
    )
    eval_tracks, eval_arrays = load_split(index, "evaluation", [Path(study["features"])])
    evaluation = EvaluationWindows(
        list(eval_tracks["track_id"]),
        eval_arrays,
        length,
        recipe["eval_hop_frames"],
        labels=[LABEL2ID[label] for label in eval_tracks["label"]],
        first_only=recipe["window"] == "first",
    )
    return train, evaluation


# --------------------------------------------------------------------------- phases (each in its own process)


def ours_train(study: dict[str, str], recipe: dict[str, Any], out: str, threads: int) -> dict[str, Any]:
    """astgenre.training.train_run; time in dev evaluation, checkpoint saving and the best-model reload is apart."""
    import astgenre.training as training
    from astgenre.recipe import Recipe

    spent = {"evaluate": 0.0, "_save_checkpoint": 0.0, "_load_best_model": 0.0}

    def timed(name):
        original = getattr(training.WindowTrainer, name)

        def wrapper(self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    for name in spent:  # attribution only: the methods run unchanged
        setattr(training.WindowTrainer, name, timed(name))
    out = Path(out)
    phase = _Phase(threads)
    summary = training.train_run(
        training.RunSpec(
            index_path=Path(study["index"]),
            feature_dirs=(Path(study["features"]),),
            checkpoint=str(study["checkpoint"]),
            model_dir=out / "model",
            work_dir=out / "work",
            history_path=out / "history.tsv",
            summary_path=out / "summary.json",
            recipe=Recipe.from_mapping(recipe),
            seed=0,
            variant="benchmark",
            threads=threads,
        )
    )
    return phase.result(
        summary=summary,
        eval_seconds=spent["evaluate"],
        save_seconds=spent["_save_checkpoint"],
        reload_seconds=spent["_load_best_model"],
    )


def plain_train(study: dict[str, str], recipe: dict[str, Any], out: str, threads: int, bf16: bool) -> dict[str, Any]:
    """A plain Trainer with default TrainingArguments except the values both sides share."""
    import torch
    from transformers import Trainer, TrainingArguments, set_seed

    from astgenre.model import load_for_finetuning

    phase = _Phase(threads)
    set_seed(0)
    model = load_for_finetuning(study["checkpoint"])
    train, _ = _windows(study, recipe, int(model.config.max_length))
    args = TrainingArguments(
        output_dir=str(Path(out) / "plain"),
        num_train_epochs=recipe["epochs"],
        per_device_train_batch_size=recipe["batch_size"],
        gradient_accumulation_steps=recipe["grad_accum"],
        bf16=bf16,
        seed=0,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
    )
    result = Trainer(model=model, args=args, train_dataset=train, data_collator=_float32_batches).train()
    return phase.result(metrics=result.metrics, samples=len(train) * recipe["epochs"], steps=result.global_step)


def ours_evaluate(study: dict[str, str], model_dir: str, batch_size: int, threads: int, device: str) -> dict[str, Any]:
    """astgenre.evaluation.evaluate_run on the evaluation split (model loading and writing included)."""
    import pandas as pd

    from astgenre.evaluation import evaluate_run

    phase = _Phase(threads)
    out = Path(model_dir).parent
    evaluate_run(
        index_path=Path(study["index"]),
        feature_dirs=[Path(study["features"])],
        model_dir=Path(model_dir),
        split="evaluation",
        predictions_path=out / "pred.tsv",
        metrics_path=out / "metrics.json",
        batch_size=batch_size,
        device=device,
    )
    return phase.result(samples=int(pd.read_csv(out / "pred.tsv", sep="\t")["n_windows"].sum()))


def plain_evaluate(
    study: dict[str, str], recipe: dict[str, Any], model_dir: str, threads: int, bf16: bool
) -> dict[str, Any]:
    """Trainer.predict on the same windows with the same model (model loading included)."""
    import torch
    from transformers import ASTForAudioClassification, Trainer, TrainingArguments

    phase = _Phase(threads)
    model = ASTForAudioClassification.from_pretrained(model_dir)
    _, evaluation = _windows(study, recipe, int(model.config.max_length))
    args = TrainingArguments(
        output_dir=str(Path(model_dir).parent / "plain_eval"),
        per_device_eval_batch_size=recipe["eval_batch_size"],
        bf16=bf16,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
    )
    Trainer(model=model, args=args, data_collator=_float32_batches).predict(evaluation)
    return phase.result(samples=len(evaluation))


def _float32_batches(batch):
    """The plain side's collator: the windows' batches (float16, astgenre.data.WindowBatch) as float32 tensors, made
    in the loader as a plain Trainer's default collator would give them."""
    from astgenre.data import collate_windows, model_inputs

    return model_inputs(collate_windows(batch))


def _quiet(function, *args):
    """Run function(*args) without the Trainer's printed logs, progress bars and load reports."""
    import contextlib
    import io

    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args)


def _in_child(function, *args):
    """Run one phase in a fresh spawned process (its own peak memory, no state shared with the others)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_quiet, function, *args).result()


# --------------------------------------------------------------------------- setup and report


def make_synthetic_study(root: Path, model: str, recipe: dict[str, Any], steps: int, model_kwargs: dict) -> dict:
    """The synthetic study of tests/test_training.py with enough tracks for `steps` optimizer steps per epoch."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_training import make_study

    from astgenre.labels import CLASSES
    from astgenre.model import create_checkpoint

    per_step = recipe["batch_size"] * recipe["grad_accum"]
    windows_per_track = 1 if recipe["window"] == "first" else recipe["windows_per_track"]
    per_class = max(1, math.ceil(steps * per_step / (len(CLASSES) * windows_per_track)))
    index, features = make_study(root, per_class=per_class, frames=FRAMES)
    create_checkpoint(root / model, model_kwargs)
    return {"index": str(index), "features": str(features), "checkpoint": str(root / model), "per_class": per_class}


def _row(name: str, ours: float | None, plain: float | None, unit: str, ratio: bool = True) -> str:
    def cell(value):
        return f"{value:14.2f}" if value is not None else f"{'-':>14}"

    text = f"{name:38s}{cell(ours)}{cell(plain)}  {unit:10s}"
    if ratio and ours and plain:
        text += f"{ours / plain:6.2f}x"
    return text


def _memory(result: dict[str, Any]) -> tuple[float, str]:
    if result["peak_cuda_mib"] is not None:
        return result["peak_cuda_mib"], "MiB CUDA"
    return result["peak_rss_mib"], "MiB RSS"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[4:]),
    )
    parser.add_argument(
        "--model",
        choices=sorted(PRESETS),
        default="demo",
        help="demo: the demo preset's small AST (workflow/presets/demo.yaml model.create), with the demo "
        "recipe; base: ASTConfig() defaults (AST-base shape) with the full study's recipe",
    )
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="cpu hides the GPUs from the phases (CUDA_VISIBLE_DEVICES=''); cuda needs one",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="training batch size (default: the recipe's)")
    parser.add_argument(
        "--eval-batch-size", type=int, default=None, help="evaluation batch size (default: the recipe's)"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help=f"optimizer steps per epoch (default {DEFAULT_STEPS}); sets the number of tracks",
    )
    parser.add_argument("--epochs", type=int, default=None, help=f"epochs (default {DEFAULT_EPOCHS})")
    parser.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp32"],
        default=None,
        help="training precision (default: the recipe's, auto: bf16 on a GPU that has it, else fp32)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads in every phase (default: the recipe's training.threads, as the "
        "workflow's train jobs use: 1 for the demo preset, 2 for the full study)",
    )
    parser.add_argument("--variant", default="inverse_frequency", help="class-weighting variant of the recipe")
    parser.add_argument("--json", type=Path, default=None, help="also write every measurement to this JSON file")
    args = parser.parse_args()

    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # inherited by the spawned phases: train_run uses CUDA when it sees one
    import torch
    import transformers
    import yaml

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message="At least one mel filter")  # the extractor saved with the checkpoint
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no GPU")
    steps = args.steps or DEFAULT_STEPS[args.model]
    recipe, _ = _load_recipe(
        args.model,
        {
            "variant": args.variant,
            "batch_size": args.batch_size,
            "eval_batch_size": args.eval_batch_size,
            "epochs": args.epochs or DEFAULT_EPOCHS[args.model],
            "precision": args.precision,
            "dataloader_workers": 0,
            "early_stopping_patience": None,
        },
    )
    threads = args.threads or recipe["threads"]
    demo = yaml.safe_load((REPO / "workflow/presets/demo.yaml").read_text())["model"]["create"]
    model_kwargs = demo if args.model == "demo" else {}

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        study = make_synthetic_study(tmp / "study", args.model, recipe, steps, model_kwargs)
        config = transformers.ASTConfig.from_pretrained(study["checkpoint"])
        print(
            f"torch {torch.__version__}, transformers {transformers.__version__}, {os.cpu_count()} CPUs, "
            f"{threads} torch threads, load average {os.getloadavg()[0]:.2f} at start"
        )
        print(
            f"model {args.model}: {config.num_hidden_layers} layers, hidden {config.hidden_size}, window "
            f"{config.max_length} frames, strides {config.frequency_stride}/{config.time_stride}; variant "
            f"{args.variant}; batch {recipe['batch_size']} x grad_accum {recipe['grad_accum']}, eval batch "
            f"{recipe['eval_batch_size']}, {recipe['epochs']} epoch(s), precision {recipe['precision']}; "
            f"{study['per_class']} tracks per class and split of {FRAMES} frames, "
            f"{recipe['windows_per_track']} windows per track, eval hop {recipe['eval_hop_frames']}"
        )

        ours = _in_child(ours_train, study, recipe, str(tmp / "ours"), threads)
        summary = ours["summary"]
        plain = _in_child(plain_train, study, recipe, str(tmp / "ours"), threads, bool(summary["bf16"]))
        model_dir = str(tmp / "ours" / "model")
        ours_eval = _in_child(ours_evaluate, study, model_dir, recipe["eval_batch_size"], threads, args.device)
        plain_eval = _in_child(plain_evaluate, study, recipe, model_dir, threads, bool(summary["bf16"]))

        samples = plain["samples"]
        ours_loop = summary["train_seconds"]
        ours_steps_only = ours_loop - ours["eval_seconds"] - ours["save_seconds"] - ours["reload_seconds"]
        plain_loop = plain["metrics"]["train_runtime"]
        print(
            f"device {ours['device']}, bf16 {summary['bf16']}; {samples} training windows "
            f"({summary['global_steps']} steps) per side; {ours_eval['samples']} evaluation windows\n"
        )
        print(f"{'':38s}{'astgenre':>14s}{'plain Trainer':>14s}  {'unit':10s} ratio")
        print(_row("training loop (Trainer.train)", samples / ours_loop, samples / plain_loop, "samples/s"))
        print(
            _row("  without dev eval, saving, reloading", samples / ours_steps_only, samples / plain_loop, "samples/s")
        )
        print(_row("  dev evaluation inside the loop", ours["eval_seconds"], None, "s", ratio=False))
        print(_row("  checkpoint saving inside the loop", ours["save_seconds"], None, "s", ratio=False))
        print(_row("  best-model reload at the end", ours["reload_seconds"], None, "s", ratio=False))
        print(
            _row(
                "whole training phase (load to saved)",
                samples / ours["seconds"],
                samples / plain["seconds"],
                "samples/s",
            )
        )
        print(_row("peak memory, training", *(_memory(r)[0] for r in (ours, plain)), _memory(ours)[1]))
        print(
            _row(
                "evaluation (load model to predictions)",
                ours_eval["samples"] / ours_eval["seconds"],
                plain_eval["samples"] / plain_eval["seconds"],
                "windows/s",
            )
        )
        print(_row("peak memory, evaluation", *(_memory(r)[0] for r in (ours_eval, plain_eval)), _memory(ours_eval)[1]))
        if ours["peak_cuda_mib"] is None:
            print(
                _row(
                    "RSS after imports, before the phase",
                    ours["rss_before_mib"],
                    plain["rss_before_mib"],
                    "MiB",
                    ratio=False,
                )
            )
        print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
        if args.json:
            phases = {"ours_train": ours, "plain_train": plain, "ours_eval": ours_eval, "plain_eval": plain_eval}
            args.json.write_text(json.dumps(phases, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
