"""The reference_replica variant sees what the reference notebook saw: the first 1024 frames of each track."""

from pathlib import Path

import numpy as np
import pytest
from test_audio import chirp, encode_mp3
from transformers import ASTFeatureExtractor

from astgenre.audio import decode
from astgenre.config import read_study, variant_excerpt, variant_training
from astgenre.features import FbankSettings, log_mel, window

NOTEBOOK_FRAMES = 1024  # ASTFeatureExtractor's max_length for MIT/ast-finetuned-audioset-10-10-0.4593


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def full_study() -> dict:
    return read_study(REPO)


def test_the_replicas_features_are_the_first_1024_frames_of_the_track(full_study, tmp_path):
    """Decoded with the full study's replica excerpt, a 40 s track yields the notebook's input: its first 10.255 s,
    whose 1024 frames equal the extractor's features of the whole track truncated to max_length."""
    path = encode_mp3(tmp_path / "track.mp3", chirp(44100, 40.0), 44100)
    excerpt = variant_excerpt(full_study, "reference_replica")
    replica = decode(path, sample_rate=16000, **excerpt)
    whole = decode(path, sample_rate=16000, start=0.0, duration=None)
    assert len(replica) == 164_080  # (1024 - 1) x 160 + 400 samples
    np.testing.assert_array_equal(replica, whole[: len(replica)])  # sample 0 of the track, not the middle
    features = log_mel(replica).numpy()
    assert features.shape == (NOTEBOOK_FRAMES, 128)
    extractor = ASTFeatureExtractor(max_length=NOTEBOOK_FRAMES)
    expected = extractor(whole, sampling_rate=16000, return_tensors="np")["input_values"][0]
    np.testing.assert_allclose(window(features, 0, NOTEBOOK_FRAMES, FbankSettings()), expected, atol=2e-3)
    middle = decode(path, sample_rate=16000, start="middle", duration=30.0)  # what the other variants decode
    assert not np.allclose(middle[:1000], replica[:1000])


def test_the_replica_recipe_is_the_notebooks(full_study):
    recipe = variant_training(full_study, "reference_replica")
    notebook = {
        "learning_rate": 3e-5,
        "batch_size": 6,
        "grad_accum": 4,
        "epochs": 10,
        "warmup_ratio": 0.1,
        "scheduler": "linear",
        "select_metric": "weighted_f1",
        "window": "first",
        "weight_decay": 0.0,  # the Trainer's default, which the notebook left
        "precision": "fp32",  # the Trainer's default (no fp16/bf16 flag in the notebook)
        "specaugment": None,
        "mixup": 0.0,
        "early_stopping_patience": None,
        "weighting": "none",
    }
    assert {key: recipe[key] for key in notebook} == notebook
