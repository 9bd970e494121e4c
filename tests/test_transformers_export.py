"""A fine-tuned model folder in transformers as it is: pipeline("audio-classification"), AutoFeatureExtractor and
AutoModelForAudioClassification load it offline and agree with ``astgenre predict`` on the same window."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
import soundfile
import torch
from safetensors.torch import load_file
from test_audio import chirp, tone, write_wav
from test_training import TINY_AST
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

from astgenre import cli
from astgenre.export import export_best_model
from astgenre.features import FbankSettings, log_mel, window_starts
from astgenre.labels import CLASSES
from astgenre.model import (
    PREPROCESSOR_CONFIG,
    RUN_INFO,
    check_weights_equal,
    create_checkpoint,
    feature_extractor_problems,
    load_classifier,
    load_for_finetuning,
    save_run_info,
    weights_file,
)
from astgenre.model_card import window_seconds

SR = 16000
FRAMES = 1024  # the real AST window: 10.24 s of frames, filled exactly by 10.255 s of audio
HOP = 512
SETTINGS = FbankSettings(mean=-4.5, std=4.25)  # not the extractor's defaults: the saved values must be used


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Nothing may come from the model hub: transformers and huggingface_hub run in offline mode."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def make_run(run_dir: Path) -> Path:
    """runs/<variant>/seed<N> with a tiny fine-tuned model of the real window length and its metrics file."""
    checkpoint = run_dir.parent / f"{run_dir.name}-checkpoint"
    create_checkpoint(checkpoint, dict(TINY_AST, max_length=FRAMES), SETTINGS)
    torch.manual_seed(0)
    model = load_for_finetuning(checkpoint)
    with torch.no_grad():
        model.classifier.dense.weight.mul_(20.0)  # probabilities spread out, with no near-ties on the clips below
    model.save_pretrained(run_dir / "model")
    info = {
        "variant": "none",
        "seed": 0,
        "checkpoint": str(checkpoint),
        "window_frames": FRAMES,
        "eval_hop_frames": HOP,
        "window": "random",
        "aggregate": "logits",
        "features": asdict(SETTINGS),
        "labels": list(CLASSES),
        "select_metric": "macro_f1",
        "best_dev_metric": 0.5,
    }
    save_run_info(run_dir / "model", info)
    (run_dir / "metrics_development.json").write_text(json.dumps({"split": "development", "macro_f1": 0.5}))
    return run_dir


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study")
    run = make_run(root / "runs" / "none" / "seed0")
    out = root / "best_model"
    export_best_model([run], out)
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """20 s, 16 kHz mono WAVs: a tone, a chirp, noise; and a track whose first window differs from the rest."""
    root = tmp_path_factory.mktemp("clips")
    noise = (0.3 * np.random.default_rng(0).standard_normal((1, SR * 20))).astype(np.float32)
    changing = np.concatenate([tone(SR, 10.5, channels=1), noise[:, : SR * 20]], axis=1)
    return {
        "tone": write_wav(root / "tone.wav", tone(SR, 20.0, channels=1), SR),
        "chirp": write_wav(root / "chirp.wav", chirp(SR, 20.0, channels=1), SR),
        "noise": write_wav(root / "noise.wav", noise, SR),
        "changing": write_wav(root / "changing.wav", changing, SR),
    }


def read(path: Path) -> np.ndarray:
    """The clip's samples as the pipeline gets them from a user: read by soundfile, not by astgenre's decoder."""
    audio, rate = soundfile.read(path, dtype="float32")
    assert rate == SR
    return audio


def astgenre_predict(model: Path, clip: Path, out: Path, *options: str) -> dict:
    """The command line's JSON record of one file."""
    code = cli.main(["predict", "--model", str(model), "--out", str(out), "--workers", "0", "-q", *options, str(clip)])
    assert code == 0
    return json.loads(out.read_text())["files"][0]


def test_every_saved_model_carries_the_extractor_of_the_features_it_was_trained_on(exported):
    run_model = exported.parent / "runs/none/seed0/model"
    saved = json.loads((run_model / PREPROCESSOR_CONFIG).read_text())
    info = json.loads((run_model / RUN_INFO).read_text())
    assert saved["feature_extractor_type"] == "ASTFeatureExtractor"
    assert (saved["sampling_rate"], saved["num_mel_bins"], saved["mean"], saved["std"]) == (
        info["features"]["sample_rate"],
        info["features"]["num_mel_bins"],
        SETTINGS.mean,
        SETTINGS.std,
    )
    assert saved["max_length"] == info["window_frames"] == FRAMES and saved["do_normalize"] is True
    assert (exported / PREPROCESSOR_CONFIG).read_bytes() == (run_model / PREPROCESSOR_CONFIG).read_bytes()
    assert feature_extractor_problems(exported) == []

    extractor = AutoFeatureExtractor.from_pretrained(exported)
    audio = np.sin(2 * np.pi * 440 * np.arange(SR * 3) / SR).astype(np.float32)
    theirs = extractor(audio, sampling_rate=SR, return_tensors="np")["input_values"][0]
    ours = log_mel(audio, SETTINGS).numpy()
    assert theirs.shape == (FRAMES, 128)
    np.testing.assert_allclose(theirs[: len(ours)], ours, atol=1e-4)  # the study's features, then the padding
    np.testing.assert_allclose(theirs[len(ours) :], (0 - SETTINGS.mean) / (2 * SETTINGS.std), atol=1e-6)


def test_auto_classes_load_the_export_offline_with_every_tensor(exported):
    model, loading = AutoModelForAudioClassification.from_pretrained(exported, output_loading_info=True)
    assert {key: sorted(value) for key, value in loading.items()} == {
        "missing_keys": [],
        "unexpected_keys": [],
        "mismatched_keys": [],
        "error_msgs": [],
    }
    check_weights_equal(model, weights_file(exported))  # every tensor of the file, byte for byte
    ours, _ = load_classifier(exported)
    theirs = model.state_dict()
    assert ours.state_dict().keys() == theirs.keys()
    assert all(torch.equal(tensor, theirs[key]) for key, tensor in ours.state_dict().items())
    assert list(model.config.id2label.values()) == list(CLASSES)
    assert (
        load_file(str(weights_file(exported))).keys()
        == load_file(str(exported.parent / "runs/none/seed0/model/model.safetensors")).keys()
    )


@pytest.mark.parametrize("name", ["tone", "chirp", "noise"])
def test_the_pipelines_top_label_is_astgenre_predicts_on_the_same_window(exported, clips, name, tmp_path):
    classifier = pipeline("audio-classification", model=str(exported), device="cpu")
    scores = {r["label"]: r["score"] for r in classifier({"raw": read(clips[name]), "sampling_rate": SR}, top_k=6)}
    assert set(scores) == set(CLASSES)
    ranked = sorted(scores.values(), reverse=True)
    assert ranked[0] - ranked[1] > 0.1  # no near-tie: the comparison below tests agreement, not luck

    # the issue's command: 10.24 s (1022 frames, padded by 2) - the same label, probabilities within a few points
    issue = astgenre_predict(
        exported, clips[name], tmp_path / "a.json", "--excerpt-start=0", "--excerpt-duration=10.24"
    )
    assert issue["n_windows"] == 1 and issue["top"][0]["genre"] == max(scores, key=scores.get)
    assert max(abs(issue["probabilities"][c] - scores[c]) for c in CLASSES) < 0.05

    # exactly the pipeline's window (1024 frames): the same probabilities up to astgenre's float16 feature rounding
    seconds = f"--excerpt-duration={window_seconds(FRAMES, SR):g}"
    exact = astgenre_predict(exported, clips[name], tmp_path / "b.json", "--excerpt-start=0", seconds)
    assert exact["top"][0]["genre"] == max(scores, key=scores.get)
    assert max(abs(exact["probabilities"][c] - scores[c]) for c in CLASSES) < 1e-3

    # transformers without the pipeline: the Auto classes give the pipeline's numbers
    extractor = AutoFeatureExtractor.from_pretrained(exported)
    model = AutoModelForAudioClassification.from_pretrained(exported).eval()
    with torch.no_grad():
        probs = model(**extractor(read(clips[name]), sampling_rate=SR, return_tensors="pt")).logits.softmax(-1)[0]
    assert np.allclose([scores[model.config.id2label[i]] for i in range(len(CLASSES))], probs.numpy(), atol=1e-6)


def test_on_a_longer_track_the_pipeline_sees_the_first_window_and_astgenre_predict_all(exported, clips, tmp_path):
    classifier = pipeline("audio-classification", model=str(exported), device="cpu")
    audio = read(clips["changing"])
    scores = {r["label"]: r["score"] for r in classifier({"raw": audio, "sampling_rate": SR}, top_k=6)}
    window = audio[: round(window_seconds(FRAMES, SR) * SR)]  # the first 1024 frames' samples
    first = {r["label"]: r["score"] for r in classifier({"raw": window, "sampling_rate": SR}, top_k=6)}
    whole = astgenre_predict(exported, clips["changing"], tmp_path / "whole.json")
    frames = 1 + (audio.size - 400) // 160
    assert whole["n_windows"] == len(window_starts(frames, FRAMES, HOP)) == 5
    # the pipeline cut the track to its first 10.255 s: what follows did not change its answer ...
    assert max(abs(scores[c] - first[c]) for c in CLASSES) < 1e-6
    # ... while astgenre predict averaged five windows, four of them mostly noise
    assert max(abs(whole["probabilities"][c] - scores[c]) for c in CLASSES) > 0.05


def test_a_run_saved_before_preprocessor_configs_is_exported_pipeline_ready(tmp_path):
    run = make_run(tmp_path / "runs" / "none" / "seed0")
    written = (run / "model" / PREPROCESSOR_CONFIG).read_text()
    (run / "model" / PREPROCESSOR_CONFIG).unlink()
    export_best_model([run], tmp_path / "best_model")
    assert (tmp_path / "best_model" / PREPROCESSOR_CONFIG).read_text() == written
    classifier = pipeline("audio-classification", model=str(tmp_path / "best_model"), device="cpu")
    assert classifier.feature_extractor.mean == SETTINGS.mean


def test_a_preprocessor_config_that_contradicts_the_training_features_is_refused(tmp_path):
    run = make_run(tmp_path / "runs" / "none" / "seed0")
    path = run / "model" / PREPROCESSOR_CONFIG
    path.write_text(json.dumps(dict(json.loads(path.read_text()), std=1.0, max_length=512)))
    problems = feature_extractor_problems(run / "model")
    assert any("std is 1.0, but the model was trained with 4.25" in p for p in problems)
    assert any("max_length is 512, but the model was trained with 1024" in p for p in problems)
    with pytest.raises(ValueError, match="std is 1.0"):
        export_best_model([run], tmp_path / "best_model")
    assert not (tmp_path / "best_model").exists()
