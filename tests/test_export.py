"""Exporting the best run of a study (by a development metric) to results/<study>/best_model."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_audio import encode_mp3, tone
from test_predict import make_model

from astgenre.contracts import BEST_RUN, RUN_INFO
from astgenre.export import export_best_model
from astgenre.predict import Predictor, predict_files, resolve_model_dir


def make_run(
    root: Path, variant: str, seed: int, dev: dict, evaluation: dict | None = None, model: bool = False
) -> Path:
    """runs/<variant>/seed<seed> with a model/ (a real tiny one when model=True) and its metrics files."""
    run = root / "runs" / variant / f"seed{seed}"
    if model:
        make_model(run / "model", variant=variant, seed=seed)
    else:
        (run / "model").mkdir(parents=True)
        (run / "model" / RUN_INFO).write_text(json.dumps({"variant": variant, "seed": seed}))
        (run / "model" / "model.safetensors").write_bytes(f"weights of {variant}/{seed}".encode())
    (run / "metrics_development.json").write_text(
        json.dumps({"variant": variant, "seed": seed, "split": "development", **dev})
    )
    if evaluation is not None:
        (run / "metrics_evaluation.json").write_text(
            json.dumps({"variant": variant, "seed": seed, "split": "evaluation", **evaluation})
        )
    return run


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_best_development_run_is_exported_and_evaluation_is_never_used(tmp_path):
    runs = [
        make_run(tmp_path, "none", 0, {"macro_f1": 0.50, "accuracy": 0.9}, {"macro_f1": 0.99}),
        make_run(tmp_path, "none", 1, {"macro_f1": 0.70, "accuracy": 0.6}, {"macro_f1": 0.10}),
        make_run(tmp_path, "inverse_frequency", 0, {"macro_f1": 0.65, "accuracy": 0.8}, {"macro_f1": 0.98}),
    ]
    out = tmp_path / "best_model"
    best = export_best_model(runs, out)
    assert (best["variant"], best["seed"], best["metric"], best["value"]) == ("none", 1, "macro_f1", 0.70)
    assert [c["value"] for c in best["candidates"]] == [0.50, 0.70, 0.65]
    assert [(c["variant"], c["seed"]) for c in best["candidates"]] == [
        ("none", 0),
        ("none", 1),
        ("inverse_frequency", 0),
    ]
    assert json.loads((out / BEST_RUN).read_text()) == best
    exported = files_of(out)
    assert exported.pop(BEST_RUN) and exported == files_of(runs[1] / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_model", "runs"]  # no temporary folder left

    by_accuracy = export_best_model(runs, tmp_path / "by_accuracy", metric="accuracy")
    assert (by_accuracy["variant"], by_accuracy["seed"]) == ("none", 0)


def test_ties_go_to_the_first_run_in_order(tmp_path):
    runs = [
        make_run(tmp_path, "b", 3, {"macro_f1": 0.8}),
        make_run(tmp_path, "a", 0, {"macro_f1": 0.8}),
        make_run(tmp_path, "c", 1, {"macro_f1": 0.2}),
    ]
    assert export_best_model(runs, tmp_path / "out")["variant"] == "b"
    assert export_best_model(runs[::-1], tmp_path / "out")["variant"] == "a"
    assert json.loads((tmp_path / "out" / RUN_INFO).read_text())["variant"] == "a"  # replaced, not merged


@pytest.mark.parametrize(
    "breakage, error, message",
    [
        (lambda run: (run / "metrics_development.json").unlink(), FileNotFoundError, "metrics_development.json"),
        (lambda run: (run / "metrics_development.json").write_text('{"accuracy": 1.0}'), KeyError, "macro_f1"),
        (lambda run: (run / "metrics_development.json").write_text('{"macro_f1": NaN}'), ValueError, "finite"),
        (
            lambda run: (run / "metrics_development.json").write_text('{"macro_f1": 1.0, "split": "evaluation"}'),
            ValueError,
            "evaluation",
        ),
        (lambda run: (run / "model" / RUN_INFO).unlink(), FileNotFoundError, "no trained model"),
    ],
    ids=["no-metrics", "no-metric", "nan", "wrong-split", "no-model"],
)
def test_bad_runs_fail_clearly_and_keep_the_previous_export(tmp_path, breakage, error, message):
    runs = [make_run(tmp_path, "none", 0, {"macro_f1": 0.4}), make_run(tmp_path, "none", 1, {"macro_f1": 0.3})]
    out = tmp_path / "best_model"
    export_best_model(runs, out)
    before = files_of(out)
    breakage(runs[1])
    with pytest.raises(error, match=message) as info:
        export_best_model(runs, out)
    assert "seed1" in str(info.value)  # names the run's file
    assert files_of(out) == before
    with pytest.raises(ValueError, match="no run"):
        export_best_model([], out)


def test_exported_model_is_what_predict_loads(tmp_path):
    runs = [
        make_run(tmp_path, "none", 0, {"macro_f1": 0.2}, model=True),
        make_run(tmp_path, "effective_number", 2, {"macro_f1": 0.9}, model=True),
    ]
    out = tmp_path / "results" / "best_model"
    export_best_model(runs, out)
    assert resolve_model_dir(out) == out
    predictor = Predictor(out, "cpu")
    assert (predictor.info["variant"], predictor.info["seed"]) == ("effective_number", 2)
    song = encode_mp3(tmp_path / "song.mp3", tone(44100, 1.0), 44100)
    exported = predict_files([song], out, device="cpu", workers=0)
    original = predict_files([song], runs[1], device="cpu", workers=0)
    exported, original = exported.drop(columns="file"), original.drop(columns="file")
    numbers = list(exported.select_dtypes("number").columns)
    assert [c for c in numbers if c.startswith("prob_")] and exported.drop(columns=numbers).equals(
        original.drop(columns=numbers)
    )
    # Same weights, same window: the probabilities agree up to the float rounding of multithreaded CPU kernels.
    pd.testing.assert_frame_equal(exported[numbers], original[numbers], check_exact=False, atol=1e-6, rtol=0)


def test_an_export_whose_copy_differs_from_the_run_is_refused(tmp_path, monkeypatch):
    import shutil

    import astgenre.export as export

    runs = [make_run(tmp_path, "none", 0, {"macro_f1": 0.5})]
    original = shutil.copytree

    def corrupting_copytree(source, target, **kwargs):
        original(source, target, **kwargs)
        weights = Path(target) / "model.safetensors"
        data = bytearray(weights.read_bytes())
        data[-1] ^= 1
        weights.write_bytes(bytes(data))

    monkeypatch.setattr(export.shutil, "copytree", corrupting_copytree)
    with pytest.raises(OSError, match="model.safetensors"):
        export.export_best_model(runs, tmp_path / "best")
    assert not (tmp_path / "best").exists()
