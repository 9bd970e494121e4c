"""Export the best run of a study (by a development-split metric) as a self-contained model directory."""

from __future__ import annotations

import filecmp
import json
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .contracts import BEST_RUN, CARD, MODEL_DIR, PREPROCESSOR_CONFIG, RUN_INFO, metrics_file
from .features import FbankSettings
from .files import make_temp_dir, share_like_umask
from .model import feature_extractor, feature_extractor_problems


def development_metric(run_dir: Path, metric: str = "macro_f1") -> dict[str, Any]:
    """{run_dir, variant, seed, value} of one run, read from its metrics_development.json (never the evaluation
    split)."""
    run_dir = Path(run_dir)
    path = run_dir / metrics_file("development")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: evaluate the run on the development split first")
    metrics = json.loads(path.read_text())
    if metrics.get("split", "development") != "development":
        raise ValueError(f"{path} holds metrics of split {metrics['split']!r}, not 'development'")
    if metric not in metrics:
        raise KeyError(f"{path} has no {metric!r} (keys: {', '.join(sorted(metrics))})")
    value = metrics[metric]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{path}: {metric} is {value!r}, not a finite number")
    info = _run_info(run_dir)
    return {
        "run_dir": str(run_dir),
        "variant": metrics.get("variant", info.get("variant")),
        "seed": metrics.get("seed", info.get("seed")),
        "value": float(value),
    }


def _run_info(run_dir: Path) -> dict[str, Any]:
    path = run_dir / MODEL_DIR / RUN_INFO
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {run_dir} has no trained model")
    return json.loads(path.read_text())


def export_best_model(
    run_dirs: Sequence[Path],
    out_dir: Path,
    metric: str = "macro_f1",
    *,
    card_writer: Callable[[dict[str, Any]], str] | None = None,
) -> dict[str, Any]:
    """Copy the model of the run with the highest development `metric` (ties: the first given) to out_dir.

    `metric` is a number in every run's metrics_development.json for which higher is better (macro_f1, accuracy,
    balanced_accuracy, weighted_f1, macro_roc_auc). Evaluation-split metrics are never read for the choice.

    out_dir receives the run's model/ (safetensors, config.json, preprocessor_config.json, astgenre.json with
    feature settings and labels) plus best_run.json (variant, seed, metric, value, run_dir, candidates: every run's
    value), whose content is returned, and README.md, the model card that ``card_writer(best_run)`` returns (none
    without a card_writer). A run saved before models carried a preprocessor_config.json gets one written from its
    astgenre.json. The directory is assembled beside out_dir and renamed into place, replacing an older export.
    """
    run_dirs = [Path(p) for p in run_dirs]
    if not run_dirs:
        raise ValueError("no run to choose from: the study's grid is empty")
    candidates = [development_metric(run_dir, metric) for run_dir in run_dirs]
    best = max(range(len(candidates)), key=lambda i: (candidates[i]["value"], -i))
    chosen = candidates[best]
    summary = {
        "variant": chosen["variant"],
        "seed": chosen["seed"],
        "metric": metric,
        "split": "development",
        "value": chosen["value"],
        "run_dir": chosen["run_dir"],
        "candidates": candidates,
    }
    extra_files = {BEST_RUN: json.dumps(summary, indent=2) + "\n", **_preprocessor_file(run_dirs[best] / MODEL_DIR)}
    if card_writer is not None:
        extra_files[CARD] = card_writer(summary)
    _copy_atomic(run_dirs[best] / MODEL_DIR, Path(out_dir), extra_files)
    return summary


def _preprocessor_file(model_dir: Path) -> dict[str, str]:
    """{preprocessor_config.json: text} for a model saved without one; {} when it has one that matches its
    astgenre.json (or the run info has no feature settings to write one from). Raises ValueError on a mismatch."""
    info = json.loads((model_dir / RUN_INFO).read_text())
    if not isinstance(info.get("features"), Mapping) or "window_frames" not in info:
        return {}
    if (model_dir / PREPROCESSOR_CONFIG).is_file():
        problems = feature_extractor_problems(model_dir)
        if problems:
            raise ValueError("; ".join(problems) + ": the model cannot be exported for transformers as it is")
        return {}
    extractor = feature_extractor(FbankSettings(**info["features"]), int(info["window_frames"]))
    return {PREPROCESSOR_CONFIG: extractor.to_json_string()}


def _check_copy(source: Path, copy: Path) -> None:
    """Raise unless copy holds every file of source with the same bytes (and nothing else)."""
    names = sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())
    copied = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file())
    differ = [name for name in names if not filecmp.cmp(source / name, copy / name, shallow=False)]
    if names != copied or differ:
        changed = differ or sorted(set(names) ^ set(copied))
        raise OSError(f"copying {source} to {copy} changed {changed}; check the disk and export again")


def _copy_atomic(source: Path, target: Path, extra_files: dict[str, str]) -> None:
    """Copy directory source to target with extra files, via a temporary sibling renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = make_temp_dir(target.parent, f".{target.name}.", ".tmp")
    old = None
    try:
        built = staging / target.name
        shutil.copytree(source, built)
        _check_copy(source, built)
        share_like_umask(built)  # copytree keeps the modes: weights of an older run may be 0600
        for name, text in extra_files.items():
            (built / name).write_text(text)
        if target.exists():
            old = staging / "previous"
            target.rename(old)
        built.rename(target)
    except BaseException:
        if old is not None and not target.exists():
            old.rename(target)  # put the previous export back
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
