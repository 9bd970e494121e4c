"""astgenre.features against transformers.ASTFeatureExtractor (numpy path, as installed)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch

from astgenre.features import (
    FRAME_LENGTH,
    FbankSettings,
    LogMelStream,
    featurize_tracks,
    log_mel,
    n_frames,
    pad_value,
    window,
    window_starts,
)

SR = 16000
CLIP = 163840  # 10.24 s
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def extractor():
    from transformers import ASTFeatureExtractor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its mel bank warns about an all-zero filter
        return ASTFeatureExtractor()


def reference(extractor, clip: np.ndarray) -> np.ndarray:
    return extractor(clip, sampling_rate=SR, return_tensors="np")["input_values"][0]


def synthetic(kind: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    if kind == "noise":
        x = 0.3 * rng.standard_normal(n)
    elif kind == "chirp":
        x = 0.5 * np.sin(2 * np.pi * (50 * t + (7000 - 50) / (2 * t[-1] + 1e-9) * t**2))
    elif kind == "sines":
        x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t) + 0.1 * np.sin(2 * np.pi * 30 * t)
    elif kind == "dc_offset":
        x = 0.3 * np.sin(2 * np.pi * 100 * t) + 0.5
    elif kind == "silence_ish":
        x = 1e-5 * rng.standard_normal(n)
    elif kind == "zeros":
        x = np.zeros(n)
    elif kind == "bursts":  # loud clicks in near silence: per-frame dynamics
        x = 1e-4 * rng.standard_normal(n)
        x[:: SR // 7] = 0.9
    else:
        raise ValueError(kind)
    return x.astype(np.float32)


KINDS = ["noise", "chirp", "sines", "dc_offset", "silence_ish", "zeros", "bursts"]


def mp3_roundtrip(signal: np.ndarray) -> np.ndarray:
    """Encode 16 kHz mono float audio as 44.1 kHz stereo MP3 with PyAV and decode it back to 16 kHz mono float32."""
    import av

    upsampled = np.interp(np.arange(0, len(signal), SR / 44100), np.arange(len(signal)), signal).astype(np.float32)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as container:
        stream = container.add_stream("mp3", rate=44100, layout="stereo")
        stream.bit_rate = 128000
        frame_size = 1152
        for start in range(0, len(upsampled), frame_size):
            chunk = upsampled[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
            frame.sample_rate = 44100
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    buffer.seek(0)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
    pieces = []
    with av.open(buffer) as container:
        for frame in container.decode(audio=0):
            pieces.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        pieces.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(pieces).astype(np.float32)


@pytest.mark.parametrize("kind", KINDS)
def test_clip_matches_extractor(extractor, kind):
    clip = synthetic(kind, CLIP)
    ours = log_mel(clip)
    assert ours.dtype == torch.float32
    assert ours.shape == (n_frames(CLIP), 128) == (1022, 128)
    expected = reference(extractor, clip)
    assert expected.shape == (1024, 128)
    assert np.abs(window(ours.numpy(), 0, 1024) - expected).max() < TOLERANCE


def test_decoded_mp3_matches_extractor(extractor):
    music = synthetic("sines", CLIP, seed=1) + 0.05 * synthetic("noise", CLIP, seed=2)
    decoded = mp3_roundtrip(music)
    assert abs(len(decoded) - CLIP) < 4000  # encoder delay/padding only
    clip = np.zeros(CLIP, dtype=np.float32)
    clip[: min(CLIP, len(decoded))] = decoded[:CLIP]
    assert np.abs(clip).max() > 0.1
    assert np.abs(window(log_mel(clip).numpy(), 0, 1024) - reference(extractor, clip)).max() < TOLERANCE


@pytest.mark.parametrize("n_samples", [400, 401, 559, 560, 16000, 100_003])
def test_short_clips_match_padded_extractor(extractor, n_samples):
    clip = synthetic("noise", n_samples, seed=n_samples)
    ours = log_mel(clip).numpy()
    assert ours.shape[0] == 1 + (n_samples - 400) // 160
    expected = reference(extractor, clip)
    assert np.abs(window(ours, 0, 1024) - expected).max() < TOLERANCE
    np.testing.assert_allclose(expected[ours.shape[0] :], pad_value(), atol=1e-6)


def test_long_clip_is_truncated_like_extractor(extractor):
    clip = synthetic("chirp", 12 * SR)
    ours = log_mel(clip).numpy()
    assert ours.shape[0] > 1024
    assert np.abs(window(ours, 0, 1024) - reference(extractor, clip)).max() < TOLERANCE


def test_other_settings_follow_extractor():
    from transformers import ASTFeatureExtractor

    settings = FbankSettings(num_mel_bins=64, mean=-1.5, std=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extractor = ASTFeatureExtractor(num_mel_bins=64, mean=-1.5, std=2.0)
    clip = synthetic("chirp", 3 * SR)
    ours = log_mel(clip, settings).numpy()
    assert ours.shape[1] == 64
    assert np.abs(window(ours, 0, 1024, settings) - reference(extractor, clip)).max() < TOLERANCE


def test_batch_equals_items():
    batch = np.stack([synthetic(kind, 3 * SR, seed=i) for i, kind in enumerate(["noise", "chirp", "bursts"])])
    together = log_mel(batch)
    assert together.shape == (3, n_frames(3 * SR), 128)
    for row, clip in zip(together, batch, strict=False):
        torch.testing.assert_close(row, log_mel(clip), rtol=0, atol=1e-5)
    torch.testing.assert_close(log_mel(torch.from_numpy(batch)), together, rtol=0, atol=1e-5)


def test_frame_slice_equals_sample_slice():
    clip = synthetic("sines", 5 * SR) + synthetic("noise", 5 * SR) * 0.1
    features = log_mel(clip)
    for start_frame, n_samples in [(0, 400), (37, 16000), (101, 12345), (n_frames(5 * SR) - 1, 400)]:
        piece = clip[start_frame * 160 : start_frame * 160 + n_samples]
        expected = features[start_frame : start_frame + n_frames(n_samples)]
        torch.testing.assert_close(log_mel(piece), expected, rtol=0, atol=1e-5)


def test_float64_input_is_rounded_like_extractor(extractor):
    clip = synthetic("chirp", SR).astype(np.float64) + 1e-9
    assert np.abs(window(log_mel(clip).numpy(), 0, 1024) - reference(extractor, clip)).max() < TOLERANCE


@pytest.mark.parametrize(
    "bad", [np.zeros(399, np.float32), np.zeros((2, 3, 400), np.float32), np.zeros(800, np.int16), np.zeros((0, 800))]
)
def test_log_mel_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        log_mel(bad)


def test_pad_value_is_normalised_zero():
    settings = FbankSettings(mean=-3.0, std=1.5)
    assert pad_value(settings) == pytest.approx(3.0 / 3.0)
    assert pad_value() == pytest.approx(4.2677393 / (2 * 4.5689974))


def test_window_slices_and_pads():
    features = np.arange(50 * 4, dtype=np.float16).reshape(50, 4)
    inside = window(features, 10, 20)
    np.testing.assert_array_equal(inside, features[10:30])
    inside[0, 0] = -1  # a copy, not a view
    assert features[10, 0] == 40
    tail = window(features, 40, 16)
    assert tail.shape == (16, 4) and tail.dtype == np.float16
    np.testing.assert_array_equal(tail[:10], features[40:])
    np.testing.assert_array_equal(tail[10:], np.float16(pad_value()))
    for start in (-1, 50):
        with pytest.raises(ValueError):
            window(features, start, 16)
    with pytest.raises(ValueError):
        window(features, 0, 0)


@pytest.mark.parametrize(
    ("n", "length", "hop", "expected"),
    [
        (1, 1024, 512, [0]),
        (500, 1024, 512, [0]),
        (1024, 1024, 512, [0]),
        (1025, 1024, 512, [0, 512]),
        (1536, 1024, 512, [0, 512]),
        (1537, 1024, 512, [0, 512, 1024]),
        (2048, 1024, 1024, [0, 1024]),
        (2049, 1024, 1024, [0, 1024, 2048]),
        (5, 1, 1, [0, 1, 2, 3, 4]),
    ],
)
def test_window_starts_cases(n, length, hop, expected):
    assert window_starts(n, length, hop) == expected


def test_window_starts_cover_every_frame():
    for n in range(1, 3000, 37):
        for length, hop in [(1024, 512), (1024, 1024), (300, 7), (100, 99)]:
            starts = window_starts(n, length, hop)
            assert starts[0] == 0 and all(b - a == hop for a, b in zip(starts, starts[1:], strict=False))
            assert all(s < n for s in starts)
            covered = np.zeros(n, bool)
            for s in starts:
                covered[s : s + length] = True
            assert covered.all()
            assert len(starts) == 1 or starts[-2] + length < n  # no redundant trailing window


@pytest.mark.parametrize(("n", "length", "hop"), [(0, 1024, 512), (10, 0, 1), (10, 4, 0), (10, 4, 5)])
def test_window_starts_rejects_bad_arguments(n, length, hop):
    with pytest.raises(ValueError):
        window_starts(n, length, hop)


def test_featurize_tracks(tmp_path):
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    tracks = {
        "tiny": synthetic("noise", 100, seed=1),
        "one_s": synthetic("chirp", SR, seed=2),
        "three_s": synthetic("bursts", 3 * SR, seed=3),
        "also_three_s": synthetic("sines", 3 * SR + 80, seed=4),
        "two_s": synthetic("noise", 2 * SR, seed=5),
        "genre/nested": synthetic("chirp", SR // 2, seed=6),
    }
    for track_id, audio in tracks.items():
        (audio_dir / track_id).parent.mkdir(parents=True, exist_ok=True)
        np.save(audio_dir / f"{track_id}.npy", audio)
    requested = ["three_s", "missing", "tiny", "one_s", "also_three_s", "two_s", "one_s", "genre/nested"]
    out_dir = tmp_path / "out" / "features"

    written = featurize_tracks(audio_dir, requested, out_dir, batch_size=2)

    assert written == ["three_s", "tiny", "one_s", "also_three_s", "two_s", "genre/nested"]
    files = [p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file()]
    assert sorted(files) == sorted(f"{i}.npy" for i in tracks)  # no temporary files left
    for track_id, audio in tracks.items():
        stored = np.load(out_dir / f"{track_id}.npy")
        assert stored.dtype == np.float16
        padded = np.pad(audio, (0, max(0, 400 - audio.size)))
        expected = log_mel(padded).numpy()
        assert stored.shape == expected.shape
        np.testing.assert_allclose(stored.astype(np.float32), expected, rtol=2e-3, atol=2e-3)


def test_featurize_tracks_rejects_bad_audio(tmp_path):
    np.save(tmp_path / "stereo.npy", np.zeros((2, 16000), np.float32))
    with pytest.raises(ValueError, match="stereo.npy"):
        featurize_tracks(tmp_path, ["stereo"], tmp_path / "out")
    np.save(tmp_path / "nan.npy", np.full(16000, np.nan, np.float32))
    with pytest.raises(ValueError, match="nan.npy"):
        featurize_tracks(tmp_path, ["nan"], tmp_path / "out")
    assert not list((tmp_path / "out").glob("*"))


def test_featurize_tracks_nothing_present(tmp_path):
    assert featurize_tracks(tmp_path, ["gone"], tmp_path / "out") == []
    assert (tmp_path / "out").is_dir()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    batch = np.stack([synthetic(kind, CLIP, seed=i) for i, kind in enumerate(KINDS)])
    on_gpu = log_mel(batch, device="cuda")
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), log_mel(batch), rtol=0, atol=1e-4)


@pytest.mark.parametrize("piece", [1000, 16384, 77777, 700_000])
def test_log_mel_stream_equals_the_whole_track_exactly(piece):
    """Pieces of any size give the features of the whole track, bit for bit (as float16 feature files hold them)."""
    audio = (0.3 * np.random.default_rng(0).standard_normal(16000 * 70)).astype(np.float32)
    stream = LogMelStream()
    parts = [stream.push(audio[i : i + piece]) for i in range(0, audio.size, piece)] + [stream.finish()]
    assert max(p.shape[0] for p in parts) <= stream.block  # never more than one block at a time
    np.testing.assert_array_equal(np.concatenate(parts), log_mel(audio).numpy().astype(np.float16))


def test_log_mel_stream_pads_audio_shorter_than_a_frame():
    stream = LogMelStream()
    assert stream.push(np.full(100, 0.1, np.float32)).shape == (0, 128)
    padded = np.pad(np.full(100, 0.1, np.float32), (0, FRAME_LENGTH - 100))
    np.testing.assert_array_equal(stream.finish(), log_mel(padded).numpy().astype(np.float16))
