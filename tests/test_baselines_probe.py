"""The linear probe's embeddings are the pooled output the classifier head reads, averaged over the study's
windows, and computing them or fitting the probe never changes the AST's weights."""

import hashlib

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from astgenre.baselines import probe
from astgenre.baselines.tables import read_feature_table, read_features
from astgenre.data import EvaluationWindows
from astgenre.features import window_starts
from astgenre.model import CheckpointMismatch, create_checkpoint, weights_file

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
FRAMES = {"training-0001": 150, "training-0002": 64, "evaluation-0003": 40}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ast") / "checkpoint"
    create_checkpoint(folder, TINY_AST, seed=3)
    return folder


@pytest.fixture(scope="module")
def feature_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("features") / "shard0"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for track_id, frames in FRAMES.items():
        np.save(folder / f"{track_id}.npy", rng.normal(0, 0.5, size=(frames, 128)).astype(np.float16))
    return folder


def arrays_of(feature_dir):
    return {t: np.load(feature_dir / f"{t}.npy") for t in FRAMES}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_embeddings_are_the_pooled_output_the_classifier_reads(checkpoint, feature_dir):
    model = probe.load_frozen(checkpoint)
    windows = EvaluationWindows(list(FRAMES), arrays_of(feature_dir), 64, 32)
    ours = probe.embed_windows(model, windows, batch_size=3)
    captured = []
    hook = model.classifier.register_forward_hook(lambda module, args, output: captured.append(args[0].detach()))
    try:
        with torch.no_grad():
            batch = torch.stack([windows[i]["input_values"] for i in range(len(windows))])
            model(input_values=batch)
    finally:
        hook.remove()
    assert ours.shape == (len(windows), TINY_AST["hidden_size"])
    np.testing.assert_allclose(ours, captured[0].numpy(), rtol=1e-5, atol=1e-6)
    # ... which is the mean of the [CLS] and distillation tokens after the encoder's final layer norm.
    with torch.no_grad():
        hidden = model.audio_spectrogram_transformer(input_values=batch).last_hidden_state
    np.testing.assert_allclose(ours, ((hidden[:, 0] + hidden[:, 1]) / 2).numpy(), rtol=1e-5, atol=1e-6)


def test_track_embeddings_average_the_study_windows(checkpoint, feature_dir):
    model = probe.load_frozen(checkpoint)
    arrays = arrays_of(feature_dir)
    ids = list(FRAMES)
    means, counts = probe.track_embeddings(model, ids, arrays, hop=32, batch_size=4)
    assert list(counts) == [len(window_starts(FRAMES[t], 64, 32)) for t in ids] == [4, 1, 1]
    windows = probe.embed_windows(model, EvaluationWindows(ids, arrays, 64, 32))
    np.testing.assert_allclose(means[0], windows[:4].astype(np.float64).mean(axis=0), rtol=1e-12)
    firsts, ones = probe.track_embeddings(model, ids, arrays, hop=32, first_only=True)
    assert list(ones) == [1, 1, 1]
    np.testing.assert_allclose(firsts[0], windows[0], rtol=1e-6)


def test_embed_shard_writes_a_table_and_leaves_the_checkpoint_untouched(checkpoint, feature_dir, tmp_path):
    weights = weights_file(checkpoint)
    before_file = sha256(weights)
    before_tensors = {name: t.clone() for name, t in load_file(str(weights)).items()}
    out = tmp_path / "probe" / "shard0.tsv"
    written = probe.embed_shard(checkpoint, [feature_dir], ["training-0002", "missing", "training-0001"], out, hop=32)
    assert written == ["training-0002", "training-0001"]
    table = read_feature_table(out)
    assert list(table["n_windows"]) == [1, 4]
    assert list(table.columns[2:]) == list(probe.embedding_names(TINY_AST["hidden_size"]))
    rows = read_features([out], written)
    model = probe.load_frozen(checkpoint)
    expected, _ = probe.track_embeddings(model, written, arrays_of(feature_dir), hop=32)
    np.testing.assert_array_equal(rows.values, expected)

    # Fit the probe on the embeddings: neither the file nor the tensors it holds change, nor the model in memory.
    state = {name: t.clone() for name, t in model.state_dict().items()}
    x = np.vstack([rows.values] * 3) + np.random.default_rng(0).normal(0, 0.1, (6, TINY_AST["hidden_size"]))
    probe.fit_select(x, ["world", "metal_punk"] * 3, x, ["world", "metal_punk"] * 3)
    assert sha256(weights) == before_file
    after_tensors = load_file(str(weights))
    assert after_tensors.keys() == before_tensors.keys()
    assert all(torch.equal(after_tensors[name], tensor) for name, tensor in before_tensors.items())
    assert all(torch.equal(model.state_dict()[name], tensor) for name, tensor in state.items())
    assert not any(p.requires_grad for p in model.parameters()) and not model.training


def test_the_checkpoint_is_loaded_strictly(checkpoint, tmp_path):
    from safetensors.torch import save_file

    broken = tmp_path / "broken"
    broken.mkdir()
    for path in checkpoint.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    tensors = load_file(str(weights_file(broken)))
    tensors.pop(next(name for name in tensors if "layernorm" in name))
    save_file(tensors, str(weights_file(broken)), metadata={"format": "pt"})
    with pytest.raises(CheckpointMismatch):
        probe.load_frozen(broken)
