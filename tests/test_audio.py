"""Tests for astgenre.audio: every audio file is generated here (PyAV encodes, tags are written by hand)."""

from __future__ import annotations

import logging
import pickle
import re
import struct
import wave
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import soundfile

from astgenre import audio
from astgenre.audio import DecodeError, DecodeFailures, Excerpt, decode, decode_chunks, decode_tracks

SR = 16000  # output rate used by most tests


# --------------------------------------------------------------------------- signals and files


def _mp3_codec() -> str:
    try:
        av.codec.Codec("libmp3lame", "w")
        return "libmp3lame"
    except Exception:
        return "mp3"


MP3_CODEC = _mp3_codec()


def tone(rate: int, seconds: float, segments=((0.0, 440.0),), channels: int = 2, amplitude: float = 0.5) -> np.ndarray:
    """Phase-continuous sine, (channels, n) float32; segments are (from_second, frequency_hz)."""
    t = np.arange(round(rate * seconds)) / rate
    freq = np.zeros_like(t)
    for begin, hz in segments:
        freq[t >= begin] = hz
    phase = 2 * np.pi * np.cumsum(freq) / rate
    return np.tile(amplitude * np.sin(phase), (channels, 1)).astype(np.float32)


def chirp(rate: int, seconds: float, channels: int = 2) -> np.ndarray:
    """100 Hz rising by 125 Hz/s: every excerpt looks different, so alignment is unambiguous."""
    t = np.arange(round(rate * seconds)) / rate
    return np.tile(0.5 * np.sin(2 * np.pi * (100 * t + 62.5 * t**2)), (channels, 1)).astype(np.float32)


def encode_mp3(
    path: Path, signal: np.ndarray, rate: int, *, bitrate: int = 128000, vbr_quality: int | None = None
) -> Path:
    """Encode (channels, n) float32 to a bare MP3 (no ID3 tag; LAME/Xing header, VBR when vbr_quality is set)."""
    channels = signal.shape[0]
    with av.open(str(path), "w", format="mp3", options={"id3v2_version": "0"}) as container:
        stream = container.add_stream(MP3_CODEC, rate=rate, layout="stereo" if channels == 2 else "mono")
        codec = stream.codec_context
        codec.format = "fltp"
        if vbr_quality is None:
            codec.bit_rate = bitrate
        else:
            codec.qscale = True
            codec.global_quality = vbr_quality
        step = codec.frame_size or 1152
        for begin in range(0, signal.shape[1], step):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(signal[:, begin : begin + step]), format="fltp", layout=stream.layout
            )
            frame.sample_rate = rate
            frame.pts = begin
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_wav(path: Path, signal: np.ndarray, rate: int) -> Path:
    pcm = np.round(np.clip(signal.T, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(signal.shape[0])
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())
    return path


def ffmpeg_decode(path: Path) -> tuple[int, int]:
    """(samples, source rate) of a plain PyAV decode of the whole file: the reference length."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(stream)), stream.sample_rate


def frame_samples_out(source_rate: int, frame: int = 1152) -> float:
    """One MPEG frame, in output samples at SR."""
    return frame * SR / source_rate


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spectrum)])


def best_lag(excerpt: np.ndarray, full: np.ndarray, expected: int, window: int) -> tuple[int, float]:
    """Offset into `full` (within expected +- window) where `excerpt` fits best, and the relative RMS error there."""
    piece = excerpt[:4000]
    errors = {
        lag: float(np.sqrt(np.mean((full[lag : lag + piece.size] - piece) ** 2)))
        for lag in range(max(0, expected - window), min(full.size - piece.size, expected + window) + 1)
    }
    lag = min(errors, key=errors.get)
    return lag, errors[lag] / float(np.sqrt(np.mean(piece**2)))


def synchsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def id3v2(version: int) -> bytes:
    """ID3v2.3 or 2.4 tag with a title frame and padding (frame sizes: plain in 2.3, synchsafe in 2.4)."""
    text = b"\x00A title"
    size = synchsafe(len(text)) if version == 4 else struct.pack(">I", len(text))
    body = b"TIT2" + size + b"\x00\x00" + text + b"\x00" * 300
    return b"ID3" + bytes([version, 0, 0]) + synchsafe(len(body)) + body


def id3v1() -> bytes:
    tag = b"TAG" + b"Title".ljust(30, b"\0") + b"Artist".ljust(30, b"\0") + b"Album".ljust(30, b"\0")
    tag += b"2004" + b"Comment".ljust(30, b"\0") + bytes([13])
    assert len(tag) == 128
    return tag


def apev2() -> bytes:
    items = b"".join(struct.pack("<II", len(v), 0) + k + b"\0" + v for k, v in [(b"Title", b"T"), (b"Artist", b"A")])
    size = len(items) + 32  # items + footer, as APEv2 counts it

    def header_or_footer(flags: int) -> bytes:
        return b"APETAGEX" + struct.pack("<IIII", 2000, size, 2, flags) + b"\0" * 8

    return header_or_footer(0xA0000000) + items + header_or_footer(0x80000000)


def mpeg_version(path: Path) -> str:
    """MPEG version from the first frame header after any ID3v2 tag."""
    data = path.read_bytes()
    at = 0
    while data[at] != 0xFF or data[at + 1] & 0xE0 != 0xE0:
        at += 1
    return {0b11: "1", 0b10: "2", 0b00: "2.5"}[(data[at + 1] >> 3) & 0b11]


class CountingContainer:
    """Wraps a PyAV input container and counts the packets demuxed from it."""

    def __init__(self, container, counts: dict) -> None:
        self._container = container
        self._counts = counts

    def __getattr__(self, name):
        return getattr(self._container, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._container.close()

    def demux(self, *args, **kwargs):
        for packet in self._container.demux(*args, **kwargs):
            self._counts["packets"] += 1
            yield packet


def count_packets(monkeypatch) -> dict:
    counts = {"packets": 0}
    real_open = av.open
    monkeypatch.setattr(audio.av, "open", lambda *a, **k: CountingContainer(real_open(*a, **k), counts))
    return counts


# --------------------------------------------------------------------------- shared files


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("audio")
    return {
        "cbr": encode_mp3(d / "cbr.mp3", tone(44100, 5.0), 44100),
        "chirp_cbr": encode_mp3(d / "chirp_cbr.mp3", chirp(44100, 4.0), 44100),
        "chirp_vbr": encode_mp3(d / "chirp_vbr.mp3", chirp(44100, 4.0), 44100, vbr_quality=4),
        "switch": encode_mp3(
            d / "switch.mp3", tone(22050, 4.0, ((0.0, 440.0), (2.0, 880.0)), channels=1), 22050, bitrate=64000
        ),
    }


# --------------------------------------------------------------------------- decode: basics


def test_cbr_stereo_mp3_decodes_to_mono_float32_of_the_right_length(files):
    x = decode(files["cbr"])
    assert x.dtype == np.float32 and x.ndim == 1 and x.flags.c_contiguous
    one_frame = frame_samples_out(44100)
    assert abs(x.size - 5.0 * SR) <= one_frame
    reference, rate = ffmpeg_decode(files["cbr"])
    assert abs(x.size - reference * SR / rate) <= one_frame
    assert dominant_hz(x, SR) == pytest.approx(440, abs=1)
    # Identical channels of amplitude 0.5 stay at 0.5: the downmix is the channel mean.
    assert np.abs(x[SR : 4 * SR]).max() == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_output_sample_rate(files, rate):
    x = decode(files["cbr"], sample_rate=rate)
    assert abs(x.size - 5.0 * rate) <= 1152 * rate / 44100
    assert dominant_hz(x, rate) == pytest.approx(440, abs=1)


def test_wav_file_decodes(tmp_path):
    path = write_wav(tmp_path / "tone.wav", tone(44100, 2.0, ((0.0, 440.0), (1.0, 880.0))), 44100)
    x = decode(path)
    assert x.size == 2 * SR  # PCM: no codec delay, exact
    assert dominant_hz(x[:SR], SR) == pytest.approx(440, abs=1)
    assert dominant_hz(decode(path, start=1.25, duration=0.5), SR) == pytest.approx(880, abs=2)


PCM_CODECS = {  # codec: quantisation step of the format (at least float32 resolution)
    "pcm_u8": 1 / 128,
    "pcm_s16le": 1 / 2**15,
    "pcm_s24le": 1 / 2**23,
    "pcm_s32le": 1e-7,  # below float32 resolution
    "pcm_f32le": 1e-7,
    "pcm_f64le": 1e-7,
    "pcm_s64le": 1e-7,
}


def write_pcm(path: Path, signal: np.ndarray, rate: int, codec: str, fmt: str = "wav") -> Path:
    """Encode a (channels, n) float signal with an FFmpeg PCM codec (each has its own sample format)."""
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[signal.shape[0]]
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(signal, dtype=np.float32), format="fltp", layout=layout)
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=rate)
        for converted in resampler.resample(frame):
            container.mux(stream.encode(converted))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("codec", sorted(PCM_CODECS))
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_every_sample_format_downmixes_to_the_channel_mean(tmp_path, codec, channels):
    """Integer and float, packed and planar formats all give floats in [-1, 1): the channel mean, sample for sample."""
    n = SR // 2
    t = np.arange(n) / SR
    signal = np.stack([(0.6 - 0.2 * c) * np.sin(2 * np.pi * (440 + 300 * c) * t) for c in range(channels)])
    fmt = "nut" if codec == "pcm_s64le" else "wav"  # WAV has no 64-bit integer PCM
    path = write_pcm(tmp_path / f"{codec}.{fmt}", signal, SR, codec, fmt=fmt)
    x = decode(path)  # already at SR: no resampling
    assert x.dtype == np.float32 and x.size == n
    np.testing.assert_allclose(x, signal.mean(axis=0), atol=2 * PCM_CODECS[codec])


def test_resampling_is_soxr_hq_and_keeps_time(tmp_path):
    """44.1 kHz to 16 kHz matches libsoxr's one-shot "HQ" resampling of the same samples (as librosa.load does)."""
    import soxr

    rate = 44100
    signal = tone(rate, 2.0, ((0.0, 440.0), (1.0, 3000.0)), channels=1)
    path = write_pcm(tmp_path / "float.wav", signal, rate, "pcm_f32le")
    x = decode(path)
    expected = soxr.resample(signal[0], rate, SR, quality="HQ")
    assert x.size == expected.size == 2 * SR
    np.testing.assert_allclose(x, expected, atol=1e-6)
    # An excerpt is the same samples as the slice of the whole (PCM: exact timestamps, soxr: no delay).
    excerpt = decode(path, start=0.75, duration=0.5)
    np.testing.assert_allclose(excerpt[100:-100], x[round(0.75 * SR) + 100 : round(1.25 * SR) - 100], atol=1e-4)


# --------------------------------------------------------------------------- excerpts


def test_excerpt_from_start_and_duration(files):
    first = decode(files["switch"], start=0.5, duration=1.0)
    second = decode(files["switch"], start=2.5, duration=1.0)
    assert first.size == second.size == SR
    assert dominant_hz(first, SR) == pytest.approx(440, abs=2)
    assert dominant_hz(second, SR) == pytest.approx(880, abs=2)


@pytest.mark.parametrize("kind", ["chirp_cbr", "chirp_vbr"])
@pytest.mark.parametrize("start", [0.05, 0.5, 1.0, 2.345])
def test_excerpt_is_the_matching_slice_of_the_full_decode(files, kind, start):
    """A seek must land on `start` (here within 2 samples; the contract is one MPEG frame) and decode cleanly."""
    full = decode(files[kind])
    excerpt = decode(files[kind], start=start, duration=1.0)
    assert excerpt.size == SR
    expected = round(start * SR)
    lag, error = best_lag(excerpt, full, expected, window=round(frame_samples_out(44100)) * 4)
    assert abs(lag - expected) <= 2
    assert error < 0.1


def test_middle(files):
    full = decode(files["chirp_cbr"])
    middle = decode(files["chirp_cbr"], start="middle", duration=2.0)
    assert middle.size == 2 * SR
    expected = (full.size - middle.size) // 2
    lag, error = best_lag(middle, full, expected, window=3000)
    assert abs(lag - expected) <= frame_samples_out(44100)
    assert error < 0.1


def test_middle_without_duration_or_longer_than_track_is_the_whole_track(files):
    full = decode(files["cbr"])
    np.testing.assert_array_equal(decode(files["cbr"], start="middle"), full)
    np.testing.assert_array_equal(decode(files["cbr"], start="middle", duration=60.0), full)


def test_excerpt_running_past_the_end_is_shorter(files):
    full = decode(files["cbr"])
    tail = decode(files["cbr"], start=4.0, duration=5.0)
    assert abs(tail.size - (full.size - 4 * SR)) <= 2


def test_start_past_the_end_raises(files):
    with pytest.raises(DecodeError, match="past the end"):
        decode(files["cbr"], start=7.5, duration=1.0)


def test_excerpt_stops_decoding_once_complete(tmp_path, monkeypatch):
    path = encode_mp3(tmp_path / "long.mp3", tone(22050, 20.0, channels=1), 22050, bitrate=32000)
    counts = count_packets(monkeypatch)
    decode(path)
    total = counts["packets"]
    counts["packets"] = 0
    x = decode(path, duration=0.5)
    assert x.size == SR // 2
    assert counts["packets"] < total / 20, (counts["packets"], total)


def test_wav_excerpt_seeks_instead_of_reading_everything(tmp_path, monkeypatch):
    path = write_wav(tmp_path / "long.wav", tone(16000, 30.0, ((0.0, 440.0), (20.0, 880.0)), channels=1), 16000)
    counts = count_packets(monkeypatch)
    decode(path)
    total = counts["packets"]
    counts["packets"] = 0
    x = decode(path, start=25.0, duration=0.5)
    assert x.size == SR // 2 and dominant_hz(x, SR) == pytest.approx(880, abs=2)
    assert counts["packets"] < total / 10, (counts["packets"], total)


# --------------------------------------------------------------------------- what real collections contain


def test_vbr_with_xing_header(files):
    path = files["chirp_vbr"]
    assert b"Xing" in path.read_bytes()[:512]  # VBR: "Xing" (CBR files carry "Info")
    x = decode(path)
    reference, rate = ffmpeg_decode(path)
    assert abs(x.size - reference * SR / rate) <= frame_samples_out(rate)
    assert abs(x.size - 4.0 * SR) <= frame_samples_out(rate)


@pytest.mark.parametrize(
    "name, wrap, marker",
    [
        ("id3v2.3", lambda raw: id3v2(3) + raw, lambda data: data[:4] == b"ID3\x03"),
        ("id3v2.4", lambda raw: id3v2(4) + raw, lambda data: data[:4] == b"ID3\x04"),
        ("id3v1", lambda raw: raw + id3v1(), lambda data: data[-128:-125] == b"TAG"),
        ("apev2", lambda raw: raw + apev2(), lambda data: data[-32:-24] == b"APETAGEX"),
        ("all", lambda raw: id3v2(3) + raw + apev2() + id3v1(), lambda data: b"APETAGEX" in data[-200:]),
    ],
)
def test_tagged_files_decode_like_the_bare_stream(files, tmp_path, name, wrap, marker):
    bare = decode(files["cbr"])
    path = tmp_path / f"{name}.mp3"
    path.write_bytes(wrap(files["cbr"].read_bytes()))
    assert marker(path.read_bytes())
    x = decode(path)
    reference, rate = ffmpeg_decode(path)
    assert abs(x.size - reference * SR / rate) <= frame_samples_out(rate)
    assert abs(x.size - bare.size) <= frame_samples_out(rate)
    n = min(x.size, bare.size)
    assert np.abs(x[:n] - bare[:n]).max() < 1e-3  # the tags are not decoded as audio


@pytest.mark.parametrize(
    "rate, version",
    [(24000, "2"), (22050, "2"), (16000, "2"), (12000, "2.5"), (11025, "2.5"), (8000, "2.5")],
)
def test_mpeg2_and_25_mono_streams(tmp_path, rate, version):
    path = encode_mp3(tmp_path / f"{rate}.mp3", tone(rate, 2.0, channels=1), rate, bitrate=32000)
    assert mpeg_version(path) == version
    x = decode(path)
    one_frame = frame_samples_out(rate, 576)  # MPEG-2/2.5 layer III frames hold 576 samples
    reference, source_rate = ffmpeg_decode(path)
    assert source_rate == rate
    assert abs(x.size - reference * SR / rate) <= one_frame
    assert abs(x.size - 2.0 * SR) <= one_frame
    assert dominant_hz(x, SR) == pytest.approx(440, abs=1)
    path = encode_mp3(tmp_path / f"chirp{rate}.mp3", chirp(rate, 2.0, channels=1), rate, bitrate=32000)
    full = decode(path)
    excerpt = decode(path, start=1.0, duration=0.5)
    lag, error = best_lag(excerpt, full, SR, window=round(2 * one_frame))
    assert abs(lag - SR) <= 2 and error < 0.1


def test_file_of_a_few_frames(tmp_path):
    path = encode_mp3(tmp_path / "short.mp3", tone(44100, 0.1), 44100)
    x = decode(path)
    reference, rate = ffmpeg_decode(path)
    assert x.size > 0
    assert abs(x.size - reference * SR / rate) <= frame_samples_out(rate)
    assert abs(x.size - 0.1 * SR) <= frame_samples_out(rate)


def test_truncated_file_decodes_what_is_there(files, tmp_path, caplog):
    data = files["cbr"].read_bytes()
    path = tmp_path / "truncated.mp3"
    path.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="astgenre.audio"):
        x = decode(path)
    reference, rate = ffmpeg_decode(path)
    assert abs(x.size - reference * SR / rate) <= frame_samples_out(rate)
    assert abs(x.size - 2.5 * SR) <= 2 * frame_samples_out(rate)
    assert "truncated" in caplog.text
    # "middle" must not trust the header's 5 s: the excerpt is centred on what decodes.
    middle = decode(path, start="middle", duration=1.0)
    lag, _ = best_lag(middle, x, (x.size - SR) // 2, window=3000)
    assert abs(lag - (x.size - SR) // 2) <= frame_samples_out(rate)


def test_stream_that_changes_rate_and_channels_midway(files, tmp_path):
    """Concatenated MP3s (44.1 kHz stereo, then 22.05 kHz mono): both parts come out, at the output rate."""
    second = encode_mp3(tmp_path / "second.mp3", tone(22050, 1.0, ((0.0, 880.0),), channels=1), 22050, bitrate=64000)
    path = tmp_path / "joined.mp3"
    path.write_bytes(files["cbr"].read_bytes() + second.read_bytes())
    x = decode(path)
    assert abs(x.size - 6.0 * SR) <= 4 * frame_samples_out(22050)
    assert dominant_hz(x[SR : 4 * SR], SR) == pytest.approx(440, abs=1)
    assert dominant_hz(x[-SR // 2 :], SR) == pytest.approx(880, abs=2)


# --------------------------------------------------------------------------- errors


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    with pytest.raises(DecodeError) as info:
        decode(path)
    assert info.value.path == path and "empty" in info.value.reason


@pytest.mark.parametrize(
    "content",
    [b"<html><body>404 Not Found</body></html>\n" * 40, np.random.default_rng(0).bytes(20000)],
    ids=["html", "random"],
)
def test_non_audio_bytes_named_mp3(tmp_path, capfd, content):
    path = tmp_path / "fake.mp3"
    path.write_bytes(content)
    with pytest.raises(DecodeError) as info:
        decode(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ") and info.value.reason
    captured = capfd.readouterr()
    assert "Failed to find" not in captured.err  # FFmpeg's own log lines are not printed
    assert av.logging.get_level() is None  # PyAV's logging setting is left as found


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError, match="no such file"):
        decode(tmp_path / "missing.mp3")


def test_file_without_audio_stream(tmp_path):
    path = tmp_path / "video.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    with pytest.raises(DecodeError, match="no audio stream"):
        decode(path)


@pytest.mark.parametrize(
    "kwargs",
    [{"start": "end"}, {"start": -1.0}, {"duration": 0.0}, {"duration": float("nan")}, {"sample_rate": 0}],
)
def test_invalid_arguments(files, kwargs):
    with pytest.raises(ValueError):
        decode(files["cbr"], **kwargs)


def test_decode_error_is_picklable():
    error = pickle.loads(pickle.dumps(DecodeError(Path("a.mp3"), "bad\nthing")))
    assert str(error) == "a.mp3: bad thing" and error.path == Path("a.mp3") and error.reason == "bad thing"


# --------------------------------------------------------------------------- libsndfile when FFmpeg cannot read a file


def write_sndfile(path: Path, signal: np.ndarray, rate: int, **kwargs) -> Path:
    soundfile.write(str(path), signal.T, rate, **kwargs)
    return path


def ffmpeg_rejects_headers(monkeypatch) -> None:
    """FFmpeg opens the file but its decoder refuses every packet, as with some real Ogg Vorbis files."""

    def refuse(self, packet):
        self._fail(av.error.InvalidDataError(1094995529, "Header processing failed"))
        return []

    monkeypatch.setattr(audio._Packets, "decode", refuse)


def test_ogg_vorbis_that_ffmpeg_rejects_is_read_with_libsndfile(tmp_path, monkeypatch, caplog):
    path = write_sndfile(tmp_path / "song.ogg", tone(44100, 3.0), 44100, format="OGG", subtype="VORBIS")
    ffmpeg_rejects_headers(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="astgenre.audio"):
        x = decode(path)
    assert x.dtype == np.float32 and abs(x.size - 3 * SR) <= 2
    assert dominant_hz(x[SR : 2 * SR], SR) == pytest.approx(440, abs=1)
    assert f"{path}: FFmpeg cannot read it" in caplog.text and "Header processing failed" in caplog.text
    assert "decoded with libsndfile instead" in caplog.text


def test_a_format_only_libsndfile_reads_decodes_in_the_decode_stage(tmp_path):
    """MATLAB 5 files: FFmpeg has no demuxer for them; the decode stage writes the track instead of an error row."""
    path = write_sndfile(tmp_path / "take.mat", tone(22050, 2.0, channels=1), 22050, format="MAT5", subtype="FLOAT")
    with pytest.raises(av.FFmpegError):
        av.open(str(path))
    errors = decode_tracks([("t", path)], tmp_path / "out")
    assert errors.empty
    x = np.load(tmp_path / "out" / "t.npy")
    assert abs(x.size - 2 * SR) <= 2 and dominant_hz(x, SR) == pytest.approx(440, abs=1)


@pytest.mark.parametrize("start, duration", [(0.0, None), (1.25, 1.0), ("middle", 1.5), ("middle", None), (2.5, 5.0)])
def test_libsndfile_excerpts_match_ffmpeg(tmp_path, monkeypatch, start, duration):
    path = write_sndfile(tmp_path / "chirp.wav", chirp(44100, 4.0), 44100, subtype="FLOAT")
    reference = decode(path, start=start, duration=duration)
    ffmpeg_rejects_headers(monkeypatch)
    fallback = decode(path, start=start, duration=duration)
    assert fallback.size == reference.size
    # Each decoder rounds the excerpt's start to an output sample from its own seek point: they may differ by half
    # a sample (up to 0.03 on this chirp); the resampler's warm-up at the start of the excerpt would show as ~0.1.
    np.testing.assert_allclose(fallback, reference, atol=0.04)
    assert np.sqrt(np.mean((fallback - reference) ** 2)) < 0.02


def test_when_both_decoders_fail_the_error_names_both_reasons(tmp_path):
    path = tmp_path / "noise.ogg"
    path.write_bytes(b"OggS" + np.random.default_rng(3).bytes(5000))
    with pytest.raises(DecodeError) as info:
        decode(path)
    reason = info.value.reason
    # e.g. "FFmpeg: cannot open: End of file (ogg: CRC mismatch!); libsndfile: cannot open: File contains data in an
    # unimplemented format."
    assert re.fullmatch(r"FFmpeg: cannot open: [^;]+; libsndfile: cannot open: [^;]+", reason), reason
    assert "\n" not in reason and str(path) not in reason  # the row names the file once, in its own column
    errors = decode_tracks([("x", path)], tmp_path / "out")
    assert errors["error"].tolist() == [reason]


def test_start_past_the_end_with_libsndfile(tmp_path, monkeypatch):
    path = write_sndfile(tmp_path / "short.wav", tone(16000, 1.0), 16000)
    ffmpeg_rejects_headers(monkeypatch)
    with pytest.raises(
        DecodeError, match=r"libsndfile: start 2\.000 s is at or past the end of the track \(1\.000 s\)"
    ):
        decode(path, start=2.0)


# --------------------------------------------------------------------------- pieces


@pytest.mark.parametrize("start, duration", [(0.0, None), (1.0, 2.0), ("middle", 2.5), ("middle", None), (0.3, 0.1)])
def test_decode_chunks_concatenate_to_decode(files, start, duration):
    chunks = list(decode_chunks(files["chirp_vbr"], start=start, duration=duration))
    assert all(c.dtype == np.float32 and c.ndim == 1 and c.size for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), decode(files["chirp_vbr"], start=start, duration=duration))


def test_decode_chunks_of_a_long_track_stay_small(tmp_path):
    """Ten minutes of audio come in pieces of a few thousand samples: nothing holds the whole track."""
    path = write_wav(tmp_path / "long.wav", tone(16000, 600.0, channels=1, amplitude=0.1), 16000)
    sizes = [chunk.size for chunk in decode_chunks(path)]
    assert sum(sizes) == 600 * SR and max(sizes) <= 1 << 16


def test_middle_of_a_track_whose_header_overstates_it_is_centred_on_what_decodes(files, tmp_path, caplog):
    data = files["cbr"].read_bytes()
    path = tmp_path / "truncated.mp3"
    path.write_bytes(data[: len(data) // 2])
    full = decode(path)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="astgenre.audio"):
        chunks = list(decode_chunks(path, start="middle", duration=1.0))
    offset = (full.size - SR) // 2
    np.testing.assert_array_equal(np.concatenate(chunks), full[offset : offset + SR])
    assert caplog.text.count("truncated file?") == 1


# --------------------------------------------------------------------------- decode_tracks


@pytest.fixture
def good_and_bad(files, tmp_path) -> list[tuple[str, Path]]:
    bad = tmp_path / "in" / "bad.mp3"
    bad.parent.mkdir()
    bad.write_bytes(b"not audio at all" * 100)
    return [("good", files["switch"]), ("bad", bad), ("genre/other", files["cbr"])]


def test_decode_tracks_skips_and_reports_errors(good_and_bad, tmp_path):
    out = tmp_path / "out" / "npy"
    (out).mkdir(parents=True)
    np.save(out / "bad.npy", np.ones(3, np.float32))  # stale output of a track that now fails
    errors = decode_tracks(good_and_bad, out, start=0.5, duration=1.0)
    assert list(errors.columns) == ["track_id", "path", "error"]
    assert errors["track_id"].tolist() == ["bad"]
    assert errors["path"].tolist() == [str(good_and_bad[1][1])] and errors["error"].iloc[0]
    good = np.load(out / "good.npy")
    assert good.dtype == np.float32 and good.ndim == 1
    np.testing.assert_array_equal(good, decode(good_and_bad[0][1], start=0.5, duration=1.0))
    assert np.load(out / "genre" / "other.npy").size == SR
    assert not (out / "bad.npy").exists()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "genre/other.npy",
        "good.npy",
    ]  # no temporary files left behind


def test_decode_tracks_fail_decodes_everything_then_raises(good_and_bad, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(DecodeFailures) as info:
        decode_tracks(good_and_bad, out, duration=0.5, on_error="fail")
    assert "bad.mp3" in str(info.value)
    assert isinstance(info.value.errors, pd.DataFrame) and info.value.errors["track_id"].tolist() == ["bad"]
    assert (out / "good.npy").exists() and (out / "genre" / "other.npy").exists()


def test_decode_tracks_all_good_returns_empty_frame(files, tmp_path):
    errors = decode_tracks([("a", files["switch"])], tmp_path / "out", duration=0.25, on_error="fail")
    assert errors.empty and list(errors.columns) == ["track_id", "path", "error"]
    assert np.load(tmp_path / "out" / "a.npy").size == SR // 4


@pytest.mark.parametrize(
    "tracks, kwargs",
    [
        ([("a", Path("x.mp3"))], {"on_error": "ignore"}),
        ([("a", Path("x.mp3")), ("a", Path("y.mp3"))], {}),
        ([("../a", Path("x.mp3"))], {}),
        ([("", Path("x.mp3"))], {}),
    ],
    ids=["on_error", "duplicate", "escapes", "empty"],
)
def test_decode_tracks_rejects_bad_arguments_before_decoding(tmp_path, tracks, kwargs):
    with pytest.raises(ValueError):
        decode_tracks(tracks, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_excerpt_counts_its_samples_and_checks_its_arguments():
    assert Excerpt(16000, "middle", 2.5).n_samples == 40000
    assert Excerpt(8000, 1.0, None).n_samples is None
    for bad in [{"start": "end"}, {"start": -1.0}, {"duration": 0.0}, {"sample_rate": 0}, {"duration": 1e-6}]:
        with pytest.raises(ValueError):
            Excerpt(**bad)
