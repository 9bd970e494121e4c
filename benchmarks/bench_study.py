"""One run of the full study at its shapes through train_run and evaluate_run, beside a plain torch loop; the grid's
wall time extrapolated from them; the window loader's rates per core and per worker.

Usage: python benchmarks/bench_study.py [--small] [--epochs N] [--variant V] [--threads N] [--workers N ...]
                                        [--dataloader-workers auto|N] [--peak-tflops X] [--json PATH]

Full size (needs a GPU): 729 training and 729 development tracks of 2,998 frames x 128 mel bins (30 s; float16 on
disk, synthetic, classes in the real training split's proportions), the AST-base shape (ASTConfig() defaults,
randomly initialised: nothing is downloaded), the variant's recipe from config.yaml (the full study's), --epochs
epochs (default 2) without early stopping. --small (the CPU mode, about a minute on 2 cores): the demo preset's
small AST (256-frame windows), 60 + 60 tracks of 2,998 frames, evaluation hop = the window, 1 torch thread.

Everything runs in this one process, in this order:
1. loader: TrainingWindows and EvaluationWindows of the study's tracks through a DataLoader at the recipe's training
   batch and the GPU's evaluation batch, 1024-frame windows (AST-base's) whatever the model: batched
   (``__getitems__``) and window by window (``__getitem__`` + stacking, the loading before batches), in this process
   (windows/s per core = per second of CPU time) and with --workers worker processes (wall clock, per worker).
2. train_run (loop, steps alone, development evaluation inside the loop, per-run fixed costs), then evaluate_run
   on the development split (windows/s of the predictions alone and of the whole call).
3. the plain torch loop: the same model (SDPA attention) on batches already on the device, bf16 autocast where
   the recipe trains in bf16, fused AdamW on a GPU; training samples/s at the recipe's batch and no-grad windows/s
   at the evaluation batch. It is the ceiling the Trainer's rates are compared with.
4. MFU: model FLOPs per sample (forward ~0.26 TFLOP per AST-base window, x3 for a training step) x rate / the GPU's
   dense bf16 peak (table below, or --peak-tflops); n/a on the CPU.
5. the grid (config.yaml: grid.variants x grid.seeds, each variant's epochs, windows per track and evaluation hop)
   at these rates: epochs x (training windows / step rate + development windows / evaluation rate) + the final
   evaluations + the measured fixed costs per run (two jobs' imports, model and data loading, saving).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import transformers
import yaml
from torch.utils.data import DataLoader, Dataset

import astgenre.evaluation as evaluation
import astgenre.training as training
from astgenre.config import read_study, variant_training
from astgenre.data import EvaluationWindows, TrainingWindows, collate_windows, load_split
from astgenre.dataset import INDEX_COLUMNS, read_index, write_index
from astgenre.features import window_starts
from astgenre.labels import CLASSES, LABEL2ID, TRAINING_COUNTS
from astgenre.model import create_checkpoint, load_for_finetuning
from astgenre.recipe import Recipe

STARTED = time.perf_counter()
REPO = Path(__file__).resolve().parents[1]
FRAMES = 2998  # a 30 s excerpt at 16 kHz: 1 + (480000 - 400) // 160
LOADER_WINDOW = 1024  # AST-base's max_length: the loader section's window whatever the model
FULL_TRACKS = sum(TRAINING_COUNTS.values())  # 729 per split
SMALL_TRACKS = 60
TARGET_LOADER = 3000  # windows/s per core (issue 14)
TARGET_GRID_MINUTES = 45
# Dense bf16 tensor-core peaks in TFLOP/s (NVIDIA's datasheets: half the "with sparsity" figure); the first name
# contained in torch.cuda.get_device_name() wins, so the more specific names come first.
PEAK_BF16_TFLOPS = (
    ("H200 NVL", 835.0),
    ("H200", 989.0),
    ("GH200", 989.0),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
)


# --------------------------------------------------------------------------- the synthetic study


def make_study(root: Path, n_tracks: int, frames: int, checkpoint_kwargs: dict[str, Any]) -> tuple[Path, Path, Path]:
    """index.tsv, one feature folder and a checkpoint: n_tracks training and n_tracks development tracks of `frames`
    frames, classes in the proportions of the real training split, each class lighting up its own mel band."""
    rng = np.random.default_rng(0)
    features = root / "features" / "shard0"
    features.mkdir(parents=True)
    counts = np.array(list(TRAINING_COUNTS.values()), dtype=float)
    per_class = np.maximum(1, np.round(counts / counts.sum() * n_tracks)).astype(int)
    labels = [label for label, n in zip(CLASSES, per_class, strict=True) for _ in range(n)][:n_tracks]
    labels += [CLASSES[0]] * (n_tracks - len(labels))
    rows = []
    for split in ("training", "development"):
        for k, label in enumerate(labels):
            track_id = f"{split}-{k:04d}"
            x = rng.standard_normal((frames, 128), dtype=np.float32) * 0.5
            c = LABEL2ID[label]
            x[:, c * 20 : c * 20 + 20] += 1.0
            np.save(features / f"{track_id}.npy", x.astype(np.float16))
            artist = f"artist{c}-{k % 7}"
            rows.append([track_id, split, label, artist, "album", f"t{k}", str(k), f"audio/{track_id}.mp3"])
    write_index(pd.DataFrame(rows, columns=INDEX_COLUMNS), root / "index.tsv")
    create_checkpoint(root / "checkpoint", checkpoint_kwargs)
    return root / "index.tsv", features, root / "checkpoint"


# --------------------------------------------------------------------------- 1. the loader


class ItemByItem(Dataset):
    """A dataset's windows one at a time (no ``__getitems__``): how the DataLoader fetched them before batches."""

    def __init__(self, windows: Dataset) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        return self.windows[item]


def loader_rate(windows: Dataset, batch: int, shuffle: bool, workers: int, n_windows: int) -> dict[str, float]:
    """Windows/s through a DataLoader over n_windows windows (epoch after epoch): per second of this process's CPU
    time (workers = 0) and of the wall clock, after the first batch (the workers' start; they persist)."""
    torch.manual_seed(0)
    loader = DataLoader(
        windows,
        batch_size=batch,
        shuffle=shuffle,
        collate_fn=collate_windows,
        num_workers=workers,
        persistent_workers=workers > 0,
        drop_last=True,
    )
    next(iter(loader))
    wall, cpu, n = time.perf_counter(), time.process_time(), 0
    while n < n_windows:
        for values in loader:
            n += len(values["labels"])
            if n >= n_windows:
                break
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"windows": n, "per_core": n / cpu if workers == 0 else math.nan, "wall": n / wall}


def import_seconds() -> float:
    """What a workflow job pays before its first line of work: a fresh interpreter importing the package."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import astgenre.training, astgenre.evaluation"], check=True)
    return time.perf_counter() - started


def bench_loader(
    index: Path, features: Path, recipe: Recipe, eval_batch: int, hop: int, workers: list[int], max_windows: int
) -> dict[str, Any]:
    table = read_index(index)
    train_tracks, train_arrays = load_split(table, "training", [features])
    dev_tracks, dev_arrays = load_split(table, "development", [features])
    augment = None if recipe.specaugment is None else asdict(recipe.specaugment)
    # An epoch holds at least the windows timed (more windows per track, the track list repeated: with few tracks,
    # as in --small); the rates do not depend on it, but restarting an epoch every few batches would.
    train = TrainingWindows(
        train_tracks,
        train_arrays,
        LOADER_WINDOW,
        mode=recipe.window,
        windows_per_track=max(recipe.windows_per_track, math.ceil(max_windows / len(train_tracks))),
        specaugment=augment,
    )
    dev_ids = list(dev_tracks["track_id"])
    one_pass = len(EvaluationWindows(dev_ids, dev_arrays, LOADER_WINDOW, hop))
    dev = EvaluationWindows(dev_ids * math.ceil(max_windows / one_pass), dev_arrays, LOADER_WINDOW, hop)
    for array in [*train_arrays.values(), *dev_arrays.values()]:
        np.asarray(array).sum()  # into the page cache, as after the first epoch
    torch.set_num_threads(1)
    results = {}
    for name, windows, batch, shuffle in (
        ("training", train, recipe.batch_size, True),
        ("evaluation", dev, eval_batch, False),
    ):
        results[name] = {
            "batch": batch,
            "batched": loader_rate(windows, batch, shuffle, 0, max_windows),
            "window by window": loader_rate(ItemByItem(windows), batch, shuffle, 0, max_windows),
            "workers": {n: loader_rate(windows, batch, shuffle, n, max_windows * n) for n in workers},
        }
    return results


# --------------------------------------------------------------------------- 2. train_run and evaluate_run


def bench_runs(
    index: Path, features: Path, checkpoint: Path, out: Path, recipe: Recipe, threads: int, device: torch.device
) -> dict[str, Any]:
    """train_run then evaluate_run on development; time inside the loop attributed as bench_training.py does."""
    spent = {"train": [0.0, 0], "evaluate": [0.0, 0], "_save_checkpoint": [0.0, 0], "_load_best_model": [0.0, 0]}

    def timed(owner, name, record):
        original = getattr(owner, name)
        own = vars(owner).get(name)  # None: inherited (restored by deleting the wrapper)

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                record[0] += time.perf_counter() - started
                record[1] += 1

        setattr(owner, name, wrapper)
        restore.append((owner, name, own))

    restore = []
    for name, record in spent.items():  # attribution only: the methods run unchanged
        timed(training.WindowTrainer, name, record)
    predict = [0.0, 0]
    timed(evaluation, "predict_windows", predict)
    try:
        spec = training.RunSpec(
            index_path=index,
            feature_dirs=(features,),
            checkpoint=str(checkpoint),
            model_dir=out / "model",
            work_dir=out / "work",
            history_path=out / "history.tsv",
            summary_path=out / "summary.json",
            recipe=recipe,
            seed=0,
            variant="benchmark",
            threads=threads,
        )
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its logs without a progress bar
            summary = training.train_run(spec)
        train_wall = time.perf_counter() - started
        started = time.perf_counter()
        evaluation.evaluate_run(
            index_path=index,
            feature_dirs=[features],
            model_dir=out / "model",
            split="development",
            predictions_path=out / "development.tsv",
            metrics_path=out / "development.json",
            batch_size=recipe.eval_batch_size,
            gpu_batch_size=recipe.eval_batch_size_gpu,
            workers=recipe.dataloader_workers,
            threads=threads,
            device=device.type,
        )
        evaluate_wall = time.perf_counter() - started
    finally:
        for owner, name, own in restore:
            if own is None:
                delattr(owner, name)
            else:
                setattr(owner, name, own)
    if device.type == "cuda":
        torch.cuda.synchronize()
    n_windows = int(pd.read_csv(out / "development.tsv", sep="\t")["n_windows"].sum())
    evals = spent["evaluate"]
    in_loop_evals = evals[1] - 1  # the last is verify_selection's, after the loop
    eval_per_call = evals[0] / max(1, evals[1])
    loop = spent["train"][0]  # Trainer.train: the epochs, their evaluations and checkpoints, the best-model reload
    steps = loop - eval_per_call * in_loop_evals - spent["_save_checkpoint"][0] - spent["_load_best_model"][0]
    samples = summary["global_steps"] * recipe.effective_batch
    return {
        "summary": summary,
        "samples": samples,
        "loop_samples_per_s": samples / loop,
        "steps_samples_per_s": samples / steps,
        "dev_windows": n_windows,
        "dev_eval_windows_per_s": n_windows / eval_per_call,
        "dev_evals_in_loop": in_loop_evals,
        "dev_eval_seconds_per_epoch": eval_per_call,
        "save_seconds": spent["_save_checkpoint"][0],
        "reload_seconds": spent["_load_best_model"][0],
        "train_fixed_seconds": train_wall - loop - eval_per_call,  # model and data loading, outputs; verify apart
        "predict_windows_per_s": n_windows / predict[0],
        "evaluate_windows_per_s": n_windows / evaluate_wall,
        "evaluate_fixed_seconds": evaluate_wall - predict[0],
    }


# --------------------------------------------------------------------------- 3. the plain torch loop


def bench_plain(checkpoint: Path, recipe: Recipe, eval_batch: int, device: torch.device, bf16: bool, steps: int):
    """Training steps and no-grad batches of the same model on random batches already on the device."""
    torch.manual_seed(0)
    model = load_for_finetuning(checkpoint).to(device)  # SDPA attention, as train_run loads it
    config = model.config
    shape = (recipe.batch_size, config.max_length, config.num_mel_bins)
    x = torch.randn(shape, device=device)
    y = torch.randint(0, len(CLASSES), (recipe.batch_size,), device=device)
    cuda = device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, **({"fused": True} if cuda else {}))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    def step():
        with autocast:
            loss = torch.nn.functional.cross_entropy(model(input_values=x).logits.float(), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def timed(function, n):
        for _ in range(2):  # warm-up: kernels chosen, memory allocated
            function()
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(n):
            function()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started

    model.train()
    train_seconds = timed(step, steps)
    model.eval()
    xe = torch.randn((eval_batch, config.max_length, config.num_mel_bins), device=device)

    @torch.inference_mode()
    def forward():
        with autocast:
            model(input_values=xe).logits.float()

    eval_seconds = timed(forward, max(2, steps // 2))
    return {
        "train_samples_per_s": steps * recipe.batch_size / train_seconds,
        "eval_windows_per_s": max(2, steps // 2) * eval_batch / eval_seconds,
    }


# --------------------------------------------------------------------------- 4. FLOPs and MFU


def forward_flops(config: transformers.ASTConfig, n_labels: int = len(CLASSES)) -> float:
    """Matrix-multiply FLOPs of one window's forward pass: patch embedding, per layer the q, k, v, output and MLP
    projections and the two attention products, the head (2 FLOPs per multiply-add)."""
    f = (config.num_mel_bins - config.patch_size) // config.frequency_stride + 1
    t = (config.max_length - config.patch_size) // config.time_stride + 1
    tokens, h = f * t + 2, config.hidden_size
    per_layer = 2 * tokens * (4 * h * h + 2 * h * config.intermediate_size) + 2 * 2 * tokens * tokens * h
    return 2 * f * t * config.patch_size**2 * h + config.num_hidden_layers * per_layer + 2 * h * n_labels


def peak_tflops(device: torch.device, override: float | None) -> tuple[float | None, str]:
    if override:
        return override, "--peak-tflops"
    if device.type != "cuda":
        return None, "n/a on the CPU"
    name = torch.cuda.get_device_name()
    for key, value in PEAK_BF16_TFLOPS:
        if key in name:
            return value, f"{name}: {key} dense bf16"
    return None, f"{name}: not in the table (--peak-tflops)"


def mfu(rate: float, flops: float, peak: float | None) -> str:
    return "n/a" if peak is None else f"{rate * flops / (peak * 1e12):.1%}"


# --------------------------------------------------------------------------- 5. the grid


def grid_minutes(study: dict[str, Any], rates: dict[str, float], window: int, fixed: float) -> dict[str, Any]:
    """Wall time of the official grid at these rates, run after run on one GPU: per variant, epochs x (training
    windows / step rate + development windows / evaluation rate in the loop), the selection check and the evaluate
    rule (development and evaluation splits), plus the fixed seconds per run; also the protocols' runs."""
    per_variant = {}
    for variant in dict.fromkeys(study["grid"]["variants"]):
        r = variant_training(study, variant)
        first = r["window"] == "first"
        train_windows = FULL_TRACKS * (1 if first else r["windows_per_track"])
        hop = min(r["eval_hop_frames"], window)
        dev_windows = FULL_TRACKS * (1 if first else len(window_starts(FRAMES, window, hop)))
        seconds = r["epochs"] * (train_windows / rates["steps"] + dev_windows / rates["dev_eval"])
        seconds += dev_windows / rates["dev_eval"] + 2 * dev_windows / rates["predict"] + fixed
        per_variant[variant] = seconds / 60
    seeds = len(study["grid"]["seeds"])
    official = seeds * sum(per_variant.values())
    protocol_runs = [
        (variant, len(p["seeds"]) * p.get("folds", 1))
        for p in (study.get("protocols") or {}).values()
        for variant in p["variants"]
    ]
    protocols = sum(n * per_variant.get(variant, np.mean(list(per_variant.values()))) for variant, n in protocol_runs)
    return {"per_run_minutes": per_variant, "seeds": seeds, "official_minutes": official, "protocol_minutes": protocols}


# --------------------------------------------------------------------------- report


def _row(name: str, value: str, note: str = "") -> str:
    return f"  {name:52s}{value:>16s}  {note}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument("--small", action="store_true", help="the CPU mode: the demo's small AST, 60 + 60 tracks")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the timed run (default 2)")
    parser.add_argument("--variant", default="none", help="variant of the full study whose recipe runs")
    parser.add_argument(
        "--tracks", type=int, default=None, help=f"tracks per split (default {FULL_TRACKS}; small {SMALL_TRACKS})"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="the job's threads (default: training.threads; 1 with --small)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=None,
        help="loader worker counts to time (default: 1, and 2 if there are 3 cores or more)",
    )
    parser.add_argument(
        "--dataloader-workers",
        default=None,
        help="training.dataloader_workers for train_run and evaluate_run: auto or a number (default: the recipe's)",
    )
    parser.add_argument(
        "--plain-steps", type=int, default=None, help="timed steps of the plain loop (default 20; 4 small)"
    )
    parser.add_argument(
        "--loader-windows", type=int, default=None, help="windows timed per loader figure (default 6000; 4000 small)"
    )
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, when not in the table"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    if not cuda and not args.small:
        parser.error("torch sees no GPU: the full size takes hours on a CPU; use --small")
    device = torch.device("cuda" if cuda else "cpu")
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message="At least one mel filter")  # the extractor saved with the checkpoint
    study = read_study(REPO)
    values = variant_training(study, args.variant)
    values.update(epochs=args.epochs, early_stopping_patience=None, report_to="none")
    if args.dataloader_workers is not None:
        workers_setting = args.dataloader_workers
        values["dataloader_workers"] = workers_setting if workers_setting == "auto" else int(workers_setting)
    demo = yaml.safe_load((REPO / "workflow/presets/demo.yaml").read_text())["model"]["create"]
    model_kwargs = demo if args.small else {}
    window = int(transformers.ASTConfig(**model_kwargs).max_length)
    if args.small:
        values["eval_hop_frames"] = min(values["eval_hop_frames"], window)  # a hop longer than the window is refused
    recipe = Recipe.from_mapping(values)
    threads = args.threads or (1 if args.small else recipe.threads)
    workers = args.workers if args.workers is not None else [1] + ([2] if (os.cpu_count() or 1) >= 3 else [])
    n_tracks = args.tracks or (SMALL_TRACKS if args.small else FULL_TRACKS)
    plain_steps = args.plain_steps or (4 if args.small else 20)
    loader_windows = args.loader_windows or (4000 if args.small else 6000)
    eval_batch = recipe.eval_batch_size_gpu if cuda else recipe.eval_batch_size
    imports = import_seconds()
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, {os.cpu_count()} CPUs, device "
        f"{torch.cuda.get_device_name() if cuda else 'cpu'}, load average {os.getloadavg()[0]:.2f} at start; "
        f"a job's imports {imports:.1f} s"
    )
    figures: dict[str, Any] = {"device": str(device), "small": args.small, "imports_seconds": imports}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        index, features, checkpoint = make_study(tmp / "study", n_tracks, FRAMES, model_kwargs)
        config = transformers.ASTConfig.from_pretrained(checkpoint)
        print(
            f"{'small' if args.small else 'full'} size: {n_tracks} training + {n_tracks} development tracks of {FRAMES}"
            f" frames, written in {time.perf_counter() - started:.1f} s; model {config.num_hidden_layers} layers, "
            f"hidden {config.hidden_size}, window {config.max_length}, strides {config.frequency_stride}/"
            f"{config.time_stride}; variant {args.variant}: batch {recipe.batch_size} x {recipe.grad_accum}, lr "
            f"{recipe.learning_rate:g}, eval batch {eval_batch}, {recipe.epochs} epochs, precision {recipe.precision}, "
            f"{threads} thread(s), dataloader_workers {recipe.dataloader_workers}\n"
        )

        hop = variant_training(study, args.variant)["eval_hop_frames"]  # the study's, whatever the model
        loader = bench_loader(index, features, recipe, recipe.eval_batch_size_gpu, hop, workers, loader_windows)
        figures["loader"] = loader
        print(f"1. loader, {LOADER_WINDOW}-frame windows (windows/s; target >= {TARGET_LOADER} per core)")
        for name, result in loader.items():
            batched, single = result["batched"]["per_core"], result["window by window"]["per_core"]
            verdict = "PASS" if batched >= TARGET_LOADER else "FAIL"
            print(_row(f"{name}, batch {result['batch']}, batched, per core", f"{batched:,.0f}", verdict))
            print(
                _row(
                    f"{name}, batch {result['batch']}, window by window (before)",
                    f"{single:,.0f}",
                    f"{batched / single:.1f}x",
                )
            )
            for n, rate in result["workers"].items():
                print(
                    _row(
                        f"{name}, {n} worker(s), per worker (wall)",
                        f"{rate['wall'] / n:,.0f}",
                        f"{rate['wall']:,.0f} in all",
                    )
                )

        torch.set_num_threads(threads)
        runs = bench_runs(index, features, checkpoint, tmp / "run", recipe, threads, device)
        figures["runs"] = {k: v for k, v in runs.items() if k != "summary"}
        bf16 = bool(runs["summary"]["bf16"])
        plain = bench_plain(checkpoint, recipe, eval_batch, device, bf16, plain_steps)
        figures["plain"] = plain
        flops = forward_flops(config)
        peak, peak_note = peak_tflops(device, args.peak_tflops)
        figures.update(forward_tflop=flops / 1e12, peak_tflops=peak)
        print(
            f"\n2.-4. train_run / evaluate_run and the plain torch loop ({device}, bf16 {bf16}; "
            f"MFU against {peak_note})"
        )
        print(f"  forward {flops / 1e9:,.1f} GFLOP per window, {3 * flops / 1e9:,.1f} per training sample")
        rows = [
            ("training loop (Trainer.train)", runs["loop_samples_per_s"], 3 * flops, "samples/s"),
            ("  steps alone", runs["steps_samples_per_s"], 3 * flops, "samples/s"),
            ("  plain torch loop (reference)", plain["train_samples_per_s"], 3 * flops, "samples/s"),
            ("development evaluation inside the loop", runs["dev_eval_windows_per_s"], flops, "windows/s"),
            ("evaluate_run, predictions alone", runs["predict_windows_per_s"], flops, "windows/s"),
            ("evaluate_run, whole call", runs["evaluate_windows_per_s"], flops, "windows/s"),
            ("  plain torch no-grad batches (reference)", plain["eval_windows_per_s"], flops, "windows/s"),
        ]
        for name, rate, per_sample, unit in rows:
            print(_row(name, f"{rate:,.1f} {unit}", f"MFU {mfu(rate, per_sample, peak)}"))
        print(_row("steps alone / plain loop", f"{runs['steps_samples_per_s'] / plain['train_samples_per_s']:.2f}x"))
        print(
            _row("predictions / plain no-grad", f"{runs['predict_windows_per_s'] / plain['eval_windows_per_s']:.2f}x")
        )
        print(
            _row(
                "per epoch: dev evaluation, checkpoint saving",
                f"{runs['dev_eval_seconds_per_epoch']:.1f} s",
                f"saving {runs['save_seconds'] / max(1, runs['dev_evals_in_loop']):.1f} s",
            )
        )
        fixed = 2 * imports + runs["train_fixed_seconds"] + runs["evaluate_fixed_seconds"]
        print(
            _row(
                "fixed per run: 2 jobs' imports, loading, saving",
                f"{fixed:.1f} s",
                f"imports {imports:.1f} s x 2, train_run {runs['train_fixed_seconds']:.1f} s, evaluate_run "
                f"{runs['evaluate_fixed_seconds']:.1f} s",
            )
        )

        rates = {"steps": runs["steps_samples_per_s"], "dev_eval": runs["dev_eval_windows_per_s"]}
        rates["predict"] = runs["predict_windows_per_s"]
        grid = grid_minutes(study, rates, window, fixed)
        figures["grid"] = grid
        shapes = "at the small model's rates: not the study's" if args.small else "one GPU, run after run"
        print(f"\n5. the full study's grid at these rates ({shapes}; every epoch run, no early stopping)")
        for variant, minutes in grid["per_run_minutes"].items():
            print(_row(f"{variant}, per run", f"{minutes:.1f} min"))
        runs_n = grid["seeds"] * len(grid["per_run_minutes"])
        verdict = "" if args.small else ("PASS" if grid["official_minutes"] <= TARGET_GRID_MINUTES else "FAIL")
        print(
            _row(
                f"official grid: {runs_n} runs",
                f"{grid['official_minutes']:.0f} min",
                f"target <= {TARGET_GRID_MINUTES} min {verdict}",
            )
        )
        print(_row("the protocols' runs on top", f"{grid['protocol_minutes']:.0f} min"))
        if "reference_replica" in grid["per_run_minutes"]:
            print("  (reference_replica at the measured recipe's rates: its fp32 batches of 6 x 4 are not timed here)")
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end; {time.perf_counter() - STARTED:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
