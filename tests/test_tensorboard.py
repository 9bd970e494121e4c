"""Training logs in TensorBoard (``training.report_to: tensorboard``): the event files hold what history.tsv holds."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_training import make_study, run

from astgenre.config import ConfigError, read_study, variant_training
from astgenre.training_logs import EVENT_FILE_PREFIX, reporting_callbacks

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

# history.tsv column -> TensorBoard tag written by the Trainer's TensorBoard callback
TAGS = {
    "train_loss": "train/loss",
    "learning_rate": "train/learning_rate",
    "dev_loss": "eval/loss",
    "dev_accuracy": "eval/accuracy",
    "dev_macro_f1": "eval/macro_f1",
    "dev_balanced_accuracy": "eval/balanced_accuracy",
    "dev_weighted_f1": "eval/weighted_f1",
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def recipe(repo):
    """test_training's recipe: the demo's, small."""
    cfg = read_study(repo, "demo")
    return dict(
        variant_training(cfg, "inverse_frequency"), epochs=3, batch_size=8, windows_per_track=2, eval_hop_frames=32
    )


def train(study, out: Path, recipe, seed: int = 0) -> dict:
    return run(study, out, recipe, seed=seed, tensorboard_dir=out / "tensorboard")


def scalars(log_dir: Path) -> dict[str, dict[int, float]]:
    """Every scalar tag of the folder's event files: {tag: {step: value}}, as TensorBoard shows them (purged
    steps of an interrupted job removed)."""
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0}, purge_orphaned_data=True)
    events.Reload()
    found = {}
    for tag in events.Tags()["scalars"]:
        values = events.Scalars(tag)
        steps = [event.step for event in values]
        # train/epoch comes with every log, of the loss and of the evaluation alike: twice at some steps
        assert tag not in TAGS.values() or len(steps) == len(set(steps)), f"{tag}: a step shown twice: {steps}"
        found[tag] = {event.step: event.value for event in values}
    return found


def expected_scalars(history: pd.DataFrame) -> dict[str, dict[int, float]]:
    """history.tsv as TensorBoard tags: {tag: {step: value}}."""
    return {
        tag: {int(row.step): float(getattr(row, column)) for row in history.dropna(subset=[column]).itertuples()}
        for column, tag in TAGS.items()
    }


def assert_same_as_history(log_dir: Path, history_path: Path) -> dict[str, dict[int, float]]:
    logged = scalars(log_dir)
    history = pd.read_csv(history_path, sep="\t")
    for tag, values in expected_scalars(history).items():
        assert values, f"history.tsv has no {tag}"
        assert sorted(logged[tag]) == sorted(values), tag
        for step, value in values.items():
            assert logged[tag][step] == pytest.approx(value, rel=1e-6, abs=1e-9), (tag, step)  # stored as float32
    return logged


def test_loss_and_development_metrics_reach_tensorboard_as_in_the_history(study, recipe, tmp_path):
    recipe = dict(recipe, epochs=3, early_stopping_patience=None, report_to="tensorboard")
    train(study, tmp_path, recipe)
    logged = assert_same_as_history(tmp_path / "tensorboard", tmp_path / "history.tsv")
    history = pd.read_csv(tmp_path / "history.tsv", sep="\t")
    assert len(logged["eval/macro_f1"]) == 3 and len(logged["train/loss"]) == history["train_loss"].notna().sum() > 3
    assert not [tag for tag in logged if "selected" in tag]  # the selection check after training is not a log
    assert not (tmp_path / "work").exists()  # the Trainer's default folder (inside work_dir) is not used

    # a run retrained from scratch replaces its log instead of mixing two runs
    train(study, tmp_path, recipe, seed=1)
    assert len(list((tmp_path / "tensorboard").glob(f"{EVENT_FILE_PREFIX}*"))) == 1
    assert_same_as_history(tmp_path / "tensorboard", tmp_path / "history.tsv")


def test_without_report_to_no_event_files_are_written(study, recipe, tmp_path):
    train(study, tmp_path, dict(recipe, epochs=1, report_to="none"))
    assert (tmp_path / "history.tsv").is_file() and not (tmp_path / "tensorboard").exists()


def test_report_to_is_off_by_default_and_validated(repo):
    assert variant_training(read_study(repo), "none")["report_to"] == "none"
    chosen = read_study(repo, "demo", [{"training": {"report_to": "tensorboard"}}])
    assert variant_training(chosen, "reference_replica")["report_to"] == "tensorboard"
    with pytest.raises(ConfigError, match=r"training\.report_to: 'wandb' is not one of \['none', 'tensorboard'\]"):
        read_study(repo, overlays=[{"training": {"report_to": "wandb"}}])


def test_a_missing_tensorboard_package_or_folder_fails_before_training(monkeypatch, tmp_path):
    assert reporting_callbacks({}, None) == [] and reporting_callbacks({"report_to": "none"}, None) == []
    with pytest.raises(ValueError, match="report_to is 'wandb'"):
        reporting_callbacks({"report_to": "wandb"}, tmp_path)
    with pytest.raises(ValueError, match="no folder"):
        reporting_callbacks({"report_to": "tensorboard"}, None)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'astgenre\[tensorboard\]'"):
        reporting_callbacks({"report_to": "tensorboard"}, tmp_path)


KILLER = """
import json, os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import astgenre.training as training
from test_tensorboard import train

args = json.loads(sys.argv[1])
original = training.WindowTrainer.log


def log_then_die(self, logs, *a, **k):
    original(self, logs, *a, **k)
    if "loss" in logs and self.state.epoch > args["kill_after_epoch"]:
        os.kill(os.getpid(), signal.SIGKILL)  # a training loss past the last checkpoint is already in TensorBoard


training.WindowTrainer.log = log_then_die
train((Path(args["index"]), Path(args["features"])), Path(args["out"]), args["recipe"])
"""


def test_a_killed_and_resumed_run_logs_each_step_once(study, recipe, tmp_path):
    """Killed at the first training-loss log after its epoch-2 checkpoint, then resumed from that checkpoint: the
    step logged by both jobs is shown once, with the resumed job's value, and the log equals history.tsv."""
    recipe = dict(recipe, epochs=4, early_stopping_patience=None, windows_per_track=3, report_to="tensorboard")
    script = tmp_path / "killer.py"
    script.write_text(KILLER.format(tests=str(Path(__file__).parent)))
    args = dict(index=str(study[0]), features=str(study[1]), out=str(tmp_path), recipe=recipe, kill_after_epoch=2)
    proc = subprocess.run([sys.executable, str(script), json.dumps(args)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    killed = scalars(tmp_path / "tensorboard")
    checkpoint_step = max(killed["eval/macro_f1"])
    past_checkpoint = [step for step in killed["train/loss"] if step > checkpoint_step]
    assert len(killed["eval/macro_f1"]) == 2 and past_checkpoint  # the interrupted job logged past its checkpoint

    # TensorBoard reads event files in name order, and a name starts with its creation second: a resumed job started
    # within the second its interrupted one did (only in a test) would come first and its purge would miss.
    time.sleep(1.0)
    summary = train(study, tmp_path, recipe)
    assert summary["resumed_from"] == f"checkpoint-{checkpoint_step}"
    assert len(list((tmp_path / "tensorboard").glob(f"{EVENT_FILE_PREFIX}*"))) == 2  # appended, not replaced
    logged = assert_same_as_history(tmp_path / "tensorboard", tmp_path / "history.tsv")
    assert len(logged["eval/macro_f1"]) == 4 and set(past_checkpoint) <= set(logged["train/loss"])
