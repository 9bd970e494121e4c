"""`astgenre predict`: the prediction logic against the study's own pipeline; the command line on good and broken
files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tracemalloc
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_audio import chirp, encode_mp3, tone, write_wav
from test_training import TINY_AST

from astgenre import cli, predict
from astgenre.audio import decode, decode_tracks
from astgenre.contracts import PROB_COLUMNS as PROB_NAMES
from astgenre.contracts import RUN_INFO
from astgenre.data import aggregate_tracks
from astgenre.dataset import INDEX_COLUMNS, write_index
from astgenre.evaluation import evaluate_run
from astgenre.features import FbankSettings, featurize_tracks, log_mel, n_frames, window, window_starts
from astgenre.labels import CLASSES
from astgenre.model import create_checkpoint, load_for_finetuning, save_run_info
from astgenre.predict import (
    AUDIO_SUFFIXES,
    ModelError,
    Predictor,
    collect_audio_files,
    predict_files,
    prediction_columns,
    resolve_model_dir,
)

PROB_COLUMNS = list(PROB_NAMES)  # pandas selects several columns with a list, not a tuple

SR = 16000
WINDOW, HOP = TINY_AST["max_length"], 32
ASTGENRE = Path(sys.executable).with_name("astgenre")


def make_model(model_dir: Path, **info) -> Path:
    """A tiny 'fine-tuned' model: random AST with a 6-class head scaled up so that probabilities differ between
    inputs."""
    checkpoint = model_dir.parent / f"{model_dir.name}-checkpoint"
    create_checkpoint(checkpoint, TINY_AST)
    torch.manual_seed(0)
    model = load_for_finetuning(checkpoint)
    with torch.no_grad():
        model.classifier.dense.weight.mul_(200.0)
    model.save_pretrained(model_dir)
    save_run_info(
        model_dir,
        {
            "variant": "none",
            "seed": 0,
            "checkpoint": str(checkpoint),
            "window_frames": WINDOW,
            "eval_hop_frames": HOP,
            "window": "random",
            "aggregate": "logits",
            "features": asdict(FbankSettings()),
            "labels": list(CLASSES),
            "select_metric": "macro_f1",
            "best_dev_metric": 0.5,
            **info,
        },
    )
    return model_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run directory of the workflow's shape: runs/<variant>/seed<N>/model."""
    run = tmp_path_factory.mktemp("study") / "runs" / "none" / "seed0"
    make_model(run / "model")
    return run


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> dict[str, Path]:
    """Good files of several kinds in nested folders, broken files, and files a folder search must skip."""
    root = tmp_path_factory.mktemp("music")
    (root / "album" / "disc 2").mkdir(parents=True)
    (root / "broken").mkdir()
    (root / ".hidden").mkdir()
    noise = (0.3 * np.random.default_rng(1).standard_normal((1, 44100 * 2))).astype(np.float32)
    files = {
        "tone": encode_mp3(root / "album" / "01 tone.mp3", tone(44100, 2.0), 44100),
        "chirp": encode_mp3(root / "album" / "disc 2" / "02 chirp.MP3", chirp(22050, 3.0, channels=1), 22050),
        "noise": write_wav(root / "noise.wav", noise, 44100),
        "short": write_wav(root / "album" / "short.wav", tone(16000, 0.01, channels=1), 16000),  # < one frame
        "empty": root / "broken" / "empty.mp3",
        "garbage": root / "broken" / "garbage.mp3",
    }
    files["empty"].write_bytes(b"")
    files["garbage"].write_bytes(np.random.default_rng(0).bytes(20000))
    (root / "album" / "cover.jpg").write_bytes(b"\xff\xd8\xff not audio")
    (root / "album" / "._01 tone.mp3").write_bytes(b"AppleDouble junk")
    shutil.copy(files["tone"], root / ".hidden" / "secret.mp3")
    files["root"] = root
    return files


GOOD = ("tone", "chirp", "noise", "short")


def expected_windows(seconds: float) -> int:
    return len(window_starts(max(1, n_frames(round(seconds * SR))), WINDOW, HOP))


# --------------------------------------------------------------------------- inputs


def test_folders_are_searched_recursively_for_audio_only(music):
    found = collect_audio_files([music["root"]])
    names = sorted(p.relative_to(music["root"]).as_posix() for p in found)
    assert names == [
        "album/01 tone.mp3",
        "album/disc 2/02 chirp.MP3",
        "album/short.wav",
        "broken/empty.mp3",
        "broken/garbage.mp3",
        "noise.wav",
    ]
    assert {".mp3", ".wav", ".flac", ".ogg", ".m4a"} <= set(AUDIO_SUFFIXES)


def test_files_are_kept_in_order_once_whatever_their_suffix(music, tmp_path):
    odd = tmp_path / "song.data"
    shutil.copy(music["tone"], odd)
    found = collect_audio_files(
        [odd, music["noise"], music["root"] / "album", music["noise"], tmp_path / "missing.mp3"]
    )
    assert found[:2] == [odd, music["noise"]]
    assert found[-1] == tmp_path / "missing.mp3" and found.count(music["noise"]) == 1
    assert music["tone"] in found


def test_no_audio_found_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no music here")
    with pytest.raises(ValueError, match="no audio files found"):
        collect_audio_files([tmp_path])


def test_model_argument_accepts_run_dir_and_model_dir(run_dir, tmp_path):
    assert resolve_model_dir(run_dir) == run_dir / "model"
    assert resolve_model_dir(run_dir / "model") == run_dir / "model"
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model_dir(tmp_path / "nowhere")
    with pytest.raises(ModelError, match=RUN_INFO):
        resolve_model_dir(tmp_path)


# --------------------------------------------------------------------------- prediction logic


def test_predictions_equal_the_study_pipeline(music, run_dir, tmp_path):
    """decode_tracks -> featurize_tracks -> evaluate_run on the same files gives the same probabilities."""
    names = ["tone", "chirp", "noise"]
    decode_tracks([(n, music[n]) for n in names], tmp_path / "audio")
    featurize_tracks(tmp_path / "audio", names, tmp_path / "features")
    index = pd.DataFrame(
        [[n, "evaluation", CLASSES[0], "a", "b", n, "1", str(music[n])] for n in names], columns=INDEX_COLUMNS
    )
    write_index(index, tmp_path / "index.tsv")
    evaluate_run(
        index_path=tmp_path / "index.tsv",
        feature_dirs=[tmp_path / "features"],
        model_dir=run_dir / "model",
        split="evaluation",
        predictions_path=tmp_path / "pred.tsv",
        metrics_path=tmp_path / "m.json",
        batch_size=4,
        device="cpu",
    )
    study = pd.read_csv(tmp_path / "pred.tsv", sep="\t")

    ours = predict_files([music[n] for n in names], run_dir, device="cpu", batch_size=5, workers=0)
    assert (ours["status"] == "ok").all()
    np.testing.assert_allclose(ours[PROB_COLUMNS].to_numpy(), study[PROB_COLUMNS].to_numpy(), rtol=1e-4, atol=1e-6)
    assert ours["n_windows"].tolist() == study["n_windows"].tolist()
    assert ours["genre_1"].tolist() == study["predicted"].tolist()
    assert len(set(ours["genre_1"])) > 1 or ours[PROB_COLUMNS].std().max() > 0.01  # the inputs are told apart


def test_windows_are_aggregated_like_evaluation(music, run_dir):
    """Known input: the file's probabilities are aggregate_tracks of the model's logits on every window."""
    predictor = Predictor(run_dir, "cpu")
    features = log_mel(decode(music["chirp"]), FbankSettings()).numpy().astype(np.float16)
    starts = window_starts(features.shape[0], WINDOW, HOP)
    x = torch.from_numpy(np.stack([window(features, s, WINDOW) for s in starts]).astype(np.float32))
    with torch.inference_mode():
        logits = predictor.model(input_values=x).logits.numpy()
    expected = aggregate_tracks(logits, [0] * len(starts), 1, "logits")[0]
    row = predictor.predict([music["chirp"]], workers=0).iloc[0]
    assert row["n_windows"] == len(starts) == expected_windows(3.0)
    np.testing.assert_allclose(row[PROB_COLUMNS].to_numpy(float), expected, rtol=1e-4, atol=1e-6)
    top = np.argsort(-expected)[:3]
    assert [row[f"genre_{r + 1}"] for r in range(3)] == [CLASSES[i] for i in top]
    assert [row[f"prob_{r + 1}"] for r in range(3)] == pytest.approx(expected[top].tolist(), rel=1e-4)


def test_batching_across_files_and_workers_do_not_change_results(music, run_dir):
    predictor = Predictor(run_dir, "cpu")
    paths = [music[n] for n in GOOD]
    one = predictor.predict(paths, batch_size=1, workers=0)
    many = predictor.predict(paths, batch_size=7, workers=2)
    np.testing.assert_allclose(many[PROB_COLUMNS].to_numpy(), one[PROB_COLUMNS].to_numpy(), rtol=1e-4, atol=1e-6)
    assert many["n_windows"].tolist() == one["n_windows"].tolist()
    alone = predictor.predict([music["noise"]], workers=0)
    np.testing.assert_allclose(
        alone[PROB_COLUMNS].to_numpy(), one.iloc[[2]][PROB_COLUMNS].to_numpy(), rtol=1e-4, atol=1e-6
    )


def test_broken_files_are_reported_and_the_rest_go_on(music, run_dir, tmp_path):
    paths = [music["empty"], music["tone"], music["garbage"], tmp_path / "missing.mp3", music["short"]]
    table = predict_files(paths, run_dir, device="cpu", top_k=2, workers=2)
    assert list(table.columns) == prediction_columns(2)
    assert table["file"].tolist() == [str(p) for p in paths]
    assert table["status"].tolist() == ["error", "ok", "error", "error", "ok"]
    reasons = dict(zip(table["file"], table["error"], strict=False))
    assert "empty" in reasons[str(music["empty"])]
    assert reasons[str(music["garbage"])] and "no such file" in reasons[str(tmp_path / "missing.mp3")]
    failed = table[table["status"] == "error"]
    assert failed[PROB_COLUMNS].isna().all().all() and (failed["n_windows"] == 0).all()
    good = table[table["status"] == "ok"]
    np.testing.assert_allclose(good[PROB_COLUMNS].sum(axis=1), 1.0, rtol=1e-6)
    assert good["n_windows"].tolist() == [expected_windows(2.0), 1]  # the 10 ms file is padded to one frame


def test_excerpt_and_first_window_models(music, run_dir, tmp_path):
    table = predict_files([music["chirp"]], run_dir, device="cpu", start="middle", duration=1.0, workers=0)
    assert table["seconds"].iloc[0] == pytest.approx(1.0) and table["n_windows"].iloc[0] == expected_windows(1.0)
    first = make_model(tmp_path / "first", window="first", aggregate="probs")
    row = predict_files([music["chirp"]], first, device="cpu", workers=0).iloc[0]
    assert row["n_windows"] == 1
    predictor = Predictor(first, "cpu")
    features = log_mel(decode(music["chirp"]), FbankSettings()).numpy().astype(np.float16)
    with torch.inference_mode():
        logits = predictor.model(
            input_values=torch.from_numpy(window(features, 0, WINDOW)[None].astype(np.float32))
        ).logits
    np.testing.assert_allclose(
        row[PROB_COLUMNS].to_numpy(float), torch.softmax(logits, -1)[0].numpy(), rtol=1e-4, atol=1e-6
    )
    with pytest.raises(ValueError, match="duration"):
        predict_files([music["chirp"]], run_dir, device="cpu", duration=0.0, workers=0)


# --------------------------------------------------------------------------- command line


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ASTGENRE), *args], capture_output=True, text=True, timeout=300)


def test_console_script_help_documents_every_option():
    top = run_cli("--help")
    assert top.returncode == 0 and "predict" in top.stdout
    sub = run_cli("predict", "--help")
    assert sub.returncode == 0
    for option in (
        "--model",
        "--out",
        "--top-k",
        "--batch-size",
        "--device",
        "--excerpt-start",
        "--excerpt-duration",
        "--workers",
        "--progress",
        "--quiet",
        "FILE_OR_FOLDER",
        "exit status",
    ):
        assert option in sub.stdout, option


def test_console_script_on_a_folder_with_broken_files(music, run_dir, tmp_path):
    out = tmp_path / "predictions.json"
    result = run_cli(
        "predict",
        "--model",
        str(run_dir),
        str(music["root"]),
        "--out",
        str(out),
        "--top-k",
        "2",
        "--batch-size",
        "4",
        "--device",
        "cpu",
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["file", "top", "1", "top", "2"] and len(lines) == 1 + 6
    for name in GOOD:
        line = next(x for x in lines if x.startswith(str(music[name])))
        assert sum(genre in line for genre in CLASSES) == 2 and "ERROR" not in line
    for name in ("empty", "garbage"):
        assert "ERROR: " in next(x for x in lines if x.startswith(str(music[name])))
        assert str(music[name]) in result.stderr
    assert "4 of 6 file(s) classified" in result.stderr

    document = json.loads(out.read_text())
    assert document["model"] == str(run_dir / "model") and document["labels"] == list(CLASSES)
    records = {Path(r["file"]).name: r for r in document["files"]}
    assert len(records) == 6 and records["empty.mp3"]["status"] == "error" and records["empty.mp3"]["error"]
    tone_record = records["01 tone.mp3"]
    assert tone_record["status"] == "ok" and len(tone_record["top"]) == 2
    assert sum(tone_record["probabilities"].values()) == pytest.approx(1.0)
    assert tone_record["top"][0]["probability"] == max(tone_record["probabilities"].values())
    assert tone_record["n_windows"] == expected_windows(2.0)


def test_cli_writes_csv_and_exits_0_when_all_files_decode(music, run_dir, tmp_path, capsys):
    out = tmp_path / "sub" / "predictions.csv"
    status = cli.main(
        [
            "predict",
            "--model",
            str(run_dir / "model"),
            str(music["tone"]),
            str(music["noise"]),
            "--out",
            str(out),
            "--workers",
            "0",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert status == 0
    table = pd.read_csv(out)
    assert list(table.columns) == prediction_columns(3)
    assert table["file"].tolist() == [str(music["tone"]), str(music["noise"])]
    expected = predict_files([music["tone"], music["noise"]], run_dir, device="cpu", workers=0)
    np.testing.assert_allclose(table[PROB_COLUMNS].to_numpy(), expected[PROB_COLUMNS].to_numpy(), rtol=1e-5)
    assert table["genre_1"].tolist() == expected["genre_1"].tolist()
    printed = capsys.readouterr()
    assert str(music["tone"]) in printed.out and "2 of 2 file(s) classified" in printed.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "{tmp}/nowhere", "{tone}"], "does not exist"),
        (["--model", "{tmp}", "{tone}"], RUN_INFO),
        (["--model", "{run}", "{tmp}/empty_folder"], "no audio files found"),
        (["--model", "{run}", "{tone}", "--out", "{tmp}/x.xlsx"], ".csv"),
        (["--model", "{run}", "{tone}", "--top-k", "7"], "between 1 and 6"),
        (["--model", "{run}", "{tone}", "--excerpt-duration", "0"], "seconds > 0"),
        (["--model", "{run}", "{tone}", "--excerpt-start", "end"], "middle"),
        (["{tone}"], "--model"),
    ],
    ids=["missing-model", "not-a-model", "no-audio", "bad-out", "top-k", "duration", "start", "no-model-option"],
)
def test_usage_and_model_errors_exit_2(music, run_dir, tmp_path, capsys, args, message):
    (tmp_path / "empty_folder").mkdir()
    args = [a.format(tmp=tmp_path, tone=music["tone"], run=run_dir) for a in args]
    try:
        status = cli.main(["predict", *args])
    except SystemExit as exit_:  # argparse's own usage errors
        status = exit_.code
    assert status == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------- long, short, silent and oddly named files


def test_long_files_are_streamed_with_the_same_result_in_bounded_memory(run_dir, tmp_path, monkeypatch):
    """Five minutes of audio, streamed in pieces above 30 s: same probabilities, and no array holds the track."""
    path = write_wav(tmp_path / "long.wav", chirp(16000, 300.0, channels=1), 16000)
    predictor = Predictor(run_dir, "cpu")
    whole = predictor.predict([path], workers=0, batch_size=16)  # decoded ahead in one piece (under 300 s)
    monkeypatch.setattr(predict, "_STREAM_ABOVE_S", 30.0)
    tracemalloc.start()
    try:
        streamed = predictor.predict([path], workers=0, batch_size=16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert streamed["n_windows"].tolist() == whole["n_windows"].tolist() == [expected_windows(300.0)]
    assert streamed["seconds"].tolist() == whole["seconds"].tolist() == [300.0]
    np.testing.assert_array_equal(streamed[PROB_COLUMNS].to_numpy(), whole[PROB_COLUMNS].to_numpy())
    audio_bytes = 300 * SR * 4
    assert peak < audio_bytes / 2, f"peak {peak / 1e6:.1f} MB while streaming {audio_bytes / 1e6:.1f} MB of audio"


def test_streamed_files_give_the_same_results_with_workers(music, run_dir, monkeypatch):
    predictor = Predictor(run_dir, "cpu")
    paths = [music[n] for n in GOOD]
    whole = predictor.predict(paths, batch_size=7, workers=2)
    monkeypatch.setattr(predict, "_STREAM_ABOVE_S", 0.5)  # every file but the 10 ms one is streamed here
    streamed = predictor.predict(paths, batch_size=7, workers=2)
    pd.testing.assert_frame_equal(streamed, whole)


def test_short_and_silent_files_are_flagged(music, run_dir, tmp_path, capsys):
    silent = write_wav(tmp_path / "silence.wav", np.zeros((1, 3 * SR), np.float32), SR)
    whisper = write_wav(tmp_path / "whisper.wav", tone(SR, 3.0, channels=1, amplitude=0.0005), SR)
    table = predict_files([music["tone"], music["short"], silent, whisper], run_dir, device="cpu", workers=0)
    assert table["status"].tolist() == ["ok"] * 4  # classified, but flagged
    warnings = table["warning"].tolist()
    assert warnings[0] == ""
    assert warnings[1] == "too short: 0.010 s of audio (< 1 s); the genres are a guess"
    assert warnings[2] == "silent: RMS level -inf dBFS (< -60 dBFS); the genres are a guess"
    level = float(warnings[3].removeprefix("silent: RMS level ").split()[0])
    assert level == pytest.approx(20 * np.log10(0.0005 / np.sqrt(2)), abs=0.3)  # a sine of amplitude 5e-4: -69 dBFS
    out = tmp_path / "p.json"
    status = cli.main(["predict", "--model", str(run_dir), str(silent), str(music["tone"]), "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr()
    line = next(x for x in printed.out.splitlines() if x.startswith(str(silent)))
    assert "WARNING: silent: RMS level -inf dBFS" in line
    assert "2 of 2 file(s) classified; 1 flagged (too short or silent" in printed.err and str(silent) in printed.err
    records = json.loads(out.read_text())["files"]
    assert records[0]["warning"].startswith("silent") and records[1]["warning"] is None


def test_non_utf8_file_names_are_written_and_printed_escaped(music, run_dir, tmp_path):
    folder = tmp_path / os.fsdecode(b"m\xfcsica")
    folder.mkdir()
    path = folder / os.fsdecode(b"caf\xe9 \xff.wav")
    shutil.copy(music["noise"], path)
    shown = str(tmp_path / "m\\xfcsica" / "caf\\xe9 \\xff.wav")
    for suffix in (".csv", ".tsv", ".json"):
        out = tmp_path / f"predictions{suffix}"
        result = subprocess.run(
            [str(ASTGENRE), "predict", "--model", str(run_dir), str(folder), "--out", str(out), "--device", "cpu"],
            capture_output=True,
            timeout=300,
            env={**os.environ, "PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"},
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        assert shown in result.stdout.decode("utf-8")
        if suffix == ".json":
            assert [r["file"] for r in json.loads(out.read_text())["files"]] == [shown]
        else:
            table = pd.read_csv(out, sep="," if suffix == ".csv" else "\t")
            assert table["file"].tolist() == [shown] and table["status"].tolist() == ["ok"]


def _break_weights(model: Path) -> None:
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _five_labels(model: Path) -> None:
    config = json.loads((model / "config.json").read_text())
    config["id2label"] = {str(i): CLASSES[i] for i in range(5)}
    config["label2id"] = {CLASSES[i]: i for i in range(5)}
    (model / "config.json").write_text(json.dumps(config))


def _other_window(model: Path) -> None:
    info = json.loads((model / RUN_INFO).read_text())
    info["window_frames"] = 1024
    (model / RUN_INFO).write_text(json.dumps(info))


@pytest.mark.parametrize("damage", [_break_weights, _five_labels, _other_window], ids=["torn", "labels", "window"])
def test_unusable_model_exits_2_naming_it(music, run_dir, tmp_path, capsys, damage):
    model = tmp_path / "model"
    shutil.copytree(run_dir / "model", model)
    damage(model)
    status = cli.main(["predict", "--model", str(model), str(music["tone"]), "--device", "cpu"])
    assert status == 2
    err = capsys.readouterr().err
    assert str(model) in err and "export it again" in err and "Traceback" not in err


@pytest.mark.parametrize("where", ["under_a_file", "a_folder"])
def test_unwritable_out_is_refused_before_any_work(music, run_dir, tmp_path, capsys, monkeypatch, where):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    (tmp_path / "taken.csv").mkdir()
    out = tmp_path / "notes.txt" / "p.csv" if where == "under_a_file" else tmp_path / "taken.csv"

    def never(*args, **kwargs):
        raise AssertionError("predicted before checking --out")

    monkeypatch.setattr(predict.Predictor, "predict", never)
    monkeypatch.setattr(predict.Predictor, "__init__", never)
    status = cli.main(["predict", "--model", str(run_dir), str(music["tone"]), "--out", str(out)])
    assert status == 2
    assert f"--out {out}" in capsys.readouterr().err


def test_failed_csv_write_leaves_no_partial_file(music, run_dir, tmp_path, monkeypatch):
    table = predict_files([music["tone"]], run_dir, device="cpu", workers=0)
    out = tmp_path / "p.csv"
    out.write_text("previous predictions\n")

    def crash(self, path_or_buf, *args, **kwargs):  # as pandas does on a name it cannot encode: header first
        Path(path_or_buf).write_text("file,status,error\n")
        raise UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(pd.DataFrame, "to_csv", crash)
    with pytest.raises(UnicodeEncodeError):
        predict.write_predictions(table, out)
    assert out.read_text() == "previous predictions\n" and sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]


def test_a_file_only_libsndfile_reads_is_classified(run_dir, tmp_path):
    """MATLAB 5 audio: FFmpeg cannot open it, libsndfile can; predict goes through the same fallback."""
    import soundfile

    path = tmp_path / "take.mat"
    soundfile.write(str(path), chirp(22050, 3.0, channels=1).T, 22050, format="MAT5", subtype="FLOAT")
    row = predict_files([path], run_dir, device="cpu", workers=0).iloc[0]
    assert row["status"] == "ok" and row["seconds"] == pytest.approx(3.0, abs=1e-3)
    assert row["n_windows"] == expected_windows(3.0)
