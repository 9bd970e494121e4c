"""The MFCC baseline's features equal librosa's own functions; short, silent and bad audio; shard tables."""

import logging

import librosa
import numpy as np
import pandas as pd
import pytest
import scipy.signal

from astgenre.baselines import mfcc
from astgenre.baselines.tables import load_tracks, read_feature_table, read_features

SR = mfcc.SAMPLE_RATE


def known_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """A logarithmic chirp 100 Hz -> 7 kHz plus white noise, float32 like the decoded audio cache."""
    t = np.arange(int(seconds * SR)) / SR
    chirp = scipy.signal.chirp(t, 100.0, t[-1], 7000.0, method="logarithmic")
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.5 * chirp + 0.05 * noise).astype(np.float32)


def librosa_frames(audio: np.ndarray) -> np.ndarray:
    """The frame features from librosa.feature called on the audio, each with the settings mfcc documents."""
    y = audio.astype(np.float64)
    s = mfcc.LIBROSA_SETTINGS
    coefficients = librosa.feature.mfcc(y=y, **s["mfcc"])
    return np.vstack(
        [
            coefficients,
            librosa.feature.delta(coefficients, order=1, **s["delta"]),
            librosa.feature.delta(coefficients, order=2, **s["delta"]),
            librosa.feature.spectral_centroid(y=y, **s["spectral_centroid"]),
            librosa.feature.spectral_bandwidth(y=y, **s["spectral_bandwidth"]),
            librosa.feature.spectral_contrast(y=y, **s["spectral_contrast"]),
            librosa.feature.spectral_rolloff(y=y, **s["spectral_rolloff"]),
            librosa.feature.zero_crossing_rate(y, **s["zero_crossing_rate"]),
            librosa.feature.chroma_stft(y=y, **s["chroma_stft"]),
        ]
    )


def assert_features_equal(ours: np.ndarray, reference: np.ndarray) -> None:
    """Equal to ~1e-9 relative, row by row (each row's scale sets its absolute tolerance)."""
    assert ours.shape == reference.shape
    for name, a, b in zip(mfcc.FRAME_FEATURES[: len(ours)], ours, reference, strict=True):
        scale = max(float(np.abs(b).max()), 1e-12)
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10 * scale, err_msg=name)


@pytest.mark.parametrize("n_samples", [int(3.3 * SR), 4 * SR, 4 * SR + 1, mfcc.MIN_SAMPLES])
def test_frame_features_equal_librosa_on_a_known_signal(n_samples):
    audio = known_signal(5.0)[:n_samples]
    ours = mfcc.frame_features(audio)
    assert ours.shape == (len(mfcc.FRAME_FEATURES), mfcc.n_frames(n_samples))
    assert_features_equal(ours, librosa_frames(audio))


def test_track_features_are_the_mean_and_std_of_librosas_frames():
    audio = known_signal(3.0, seed=1)
    reference = librosa_frames(audio)
    features = mfcc.track_features(audio)
    assert features.shape == (len(mfcc.FEATURE_NAMES),) == (2 * len(mfcc.FRAME_FEATURES),)
    np.testing.assert_allclose(features, np.concatenate([reference.mean(1), reference.std(1)]), rtol=1e-9, atol=1e-9)
    assert mfcc.FEATURE_NAMES[3] == "mfcc03_mean" and mfcc.FEATURE_NAMES[-1] == "chroma11_std"
    assert len(set(mfcc.FEATURE_NAMES)) == len(mfcc.FEATURE_NAMES)


def test_float32_and_float64_audio_give_the_same_features():
    audio = known_signal(2.0)
    np.testing.assert_array_equal(mfcc.track_features(audio), mfcc.track_features(audio.astype(np.float64)))


def test_silent_track_has_librosas_finite_values():
    silence = np.zeros(2 * SR, dtype=np.float32)
    ours = mfcc.frame_features(silence)
    assert np.isfinite(ours).all()
    assert_features_equal(ours, librosa_frames(silence))
    rows = {name: ours[k] for k, name in enumerate(mfcc.FRAME_FEATURES)}
    for name in ("centroid", "bandwidth", "rolloff", "zcr", "contrast0", "chroma00"):
        assert (rows[name] == 0).all(), name
    for name in ("mfcc00_delta", "mfcc01", "mfcc05_delta2"):  # 0 but for the DCT's and the filter's rounding
        assert np.allclose(rows[name], 0.0, atol=1e-9), name
    assert np.allclose(rows["mfcc00"], -100.0 * np.sqrt(mfcc.N_MELS))  # the -100 dB floor, orthonormal DCT
    assert np.allclose(mfcc.track_features(silence)[len(mfcc.FRAME_FEATURES) :], 0.0, atol=1e-9)  # every std


def test_short_track_is_zero_padded_to_min_samples():
    short = known_signal(0.01)  # 160 samples: less than one FFT frame
    padded = np.pad(short, (0, mfcc.MIN_SAMPLES - short.size))
    np.testing.assert_array_equal(mfcc.track_features(short), mfcc.track_features(padded))
    assert mfcc.frame_features(short).shape[1] == mfcc.DELTA_WIDTH == mfcc.n_frames(short.size)
    assert_features_equal(mfcc.frame_features(short), librosa_frames(padded))


@pytest.mark.parametrize(
    "audio, message",
    [
        (np.zeros(0, np.float32), "non-empty 1-D"),
        (np.zeros((2, 8000), np.float32), "non-empty 1-D"),
        (np.array([0.0, np.nan] * 4000, np.float32), "NaN"),
        (np.zeros(8000, np.int16), "float"),
    ],
)
def test_bad_audio_is_an_error(audio, message):
    with pytest.raises(ValueError, match=message):
        mfcc.track_features(audio)


def test_featurize_shard_writes_one_exact_table(tmp_path, caplog):
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    signals = {"training-0001": known_signal(1.0, 1), "evaluation-0002": known_signal(2.0, 2)}
    for track_id, audio in signals.items():
        np.save(audio_dir / f"{track_id}.npy", audio)
    out = tmp_path / "mfcc" / "shard0.tsv"
    written = mfcc.featurize_shard(audio_dir, ["evaluation-0002", "missing-0003", "training-0001"], out)
    assert written == ["evaluation-0002", "training-0001"]
    assert [p.name for p in out.parent.iterdir()] == ["shard0.tsv"]  # no temporary file left
    table = read_feature_table(out)
    assert list(table.columns) == ["track_id", "n_windows", *mfcc.FEATURE_NAMES]
    assert (table["n_windows"] == 1).all()
    rows = read_features([out], ["training-0001", "evaluation-0002"])
    assert rows.track_ids == ("training-0001", "evaluation-0002")
    for track_id, values in zip(rows.track_ids, rows.values, strict=True):
        np.testing.assert_array_equal(values, mfcc.track_features(signals[track_id]))  # bit for bit through the TSV

    tracks = pd.DataFrame({"track_id": ["training-0001", "missing-0003"], "label": ["jazz_blues", "world"]})
    with caplog.at_level(logging.WARNING):
        kept, features = load_tracks([out], tracks)
    assert list(kept["track_id"]) == ["training-0001"] and features.values.shape == (1, len(mfcc.FEATURE_NAMES))
    assert "missing-0003" in caplog.text
    with pytest.raises(ValueError, match="in no feature table"):
        read_features([out], ["missing-0003"])


def test_featurize_shard_names_the_bad_file(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match="bad.npy"):
        mfcc.featurize_shard(tmp_path, ["bad"], tmp_path / "out.tsv")
    assert not (tmp_path / "out.tsv").exists()
