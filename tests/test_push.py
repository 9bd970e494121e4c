"""`astgenre push`: the folder checks and what would be uploaded, offline up to the Hub call (patched here)."""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub.errors import HTTPError, OfflineModeIsEnabled
from safetensors.torch import load_file, save_file
from test_predict import make_model

from astgenre import cli
from astgenre.contracts import CARD, PREPROCESSOR_CONFIG, RUN_INFO
from astgenre.export import BEST_RUN, export_best_model
from astgenre.publish import EXIT_OK, EXIT_UPLOAD_FAILED, EXIT_USAGE

REPO_ID = "someone/ast-ismir2004-genre"
CARD_TEXT = """---
library_name: transformers
pipeline_tag: audio-classification
datasets: [ismir2004-genre]
metrics: [accuracy]
model-index:
- name: astgenre-test
  results:
  - task: {type: audio-classification}
    dataset: {name: ISMIR2004 Genre, type: ismir2004-genre, split: evaluation}
    metrics:
    - {type: accuracy, value: 0.8}
---

# A test card
"""
MODEL_FILES = ["model.safetensors", "config.json", PREPROCESSOR_CONFIG, RUN_INFO]


class FakeHub:
    """Records the Hub calls that push makes instead of sending them; ``fail`` makes the commit raise."""

    def __init__(self) -> None:
        self.repos: list[dict] = []
        self.commits: list[dict] = []
        self.fail: Exception | None = None

    def create_repo(self, api, repo_id, **kwargs):
        self.repos.append({"repo_id": repo_id, "token": api.token, **kwargs})
        return f"https://huggingface.co/{repo_id}"

    def create_commit(self, api, repo_id, operations, commit_message, **kwargs):
        if self.fail is not None:
            raise self.fail
        uploaded = {op.path_in_repo: Path(op.path_or_fileobj).read_bytes() for op in operations}
        self.commits.append({"repo_id": repo_id, "files": uploaded, "message": commit_message, **kwargs})
        return huggingface_hub.CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/abc123",
            commit_message=commit_message,
            commit_description="",
            oid="abc123",
        )


@pytest.fixture
def hub(monkeypatch) -> FakeHub:
    fake = FakeHub()
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda api, *a, **k: fake.create_repo(api, *a, **k))
    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", lambda api, *a, **k: fake.create_commit(api, *a, **k))
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    return fake


@pytest.fixture
def study(tmp_path) -> dict[str, Path]:
    """A run directory (model/ with training_args.bin as the Trainer leaves it, README.md beside it) and its export."""
    run = tmp_path / "runs" / "none" / "seed0"
    make_model(run / "model")
    (run / "model" / "training_args.bin").write_bytes(b"pickled TrainingArguments")
    (run / "metrics_development.json").write_text(json.dumps({"split": "development", "macro_f1": 0.5}))
    (run / CARD).write_text(CARD_TEXT.replace("astgenre-test", "astgenre-run"))
    best = tmp_path / "best_model"
    export_best_model([run], best, card_writer=lambda selection: CARD_TEXT)
    return {"run": run, "best": best}


def push(*args: str) -> int:
    return cli.main(["push", *args])


def test_the_exported_model_is_uploaded_in_one_commit_of_exactly_its_files(study, hub, capsys):
    assert push(str(study["best"]), "--repo-id", REPO_ID, "--private") == EXIT_OK
    assert hub.repos == [
        {"repo_id": REPO_ID, "token": "hf_test_token", "repo_type": "model", "private": True, "exist_ok": True}
    ]
    (commit,) = hub.commits
    assert commit["repo_id"] == REPO_ID and commit["message"] == "Upload best_model with astgenre push"
    assert list(commit["files"]) == [*MODEL_FILES, BEST_RUN, CARD]
    for name, data in commit["files"].items():
        assert data == (study["best"] / name).read_bytes(), name
    assert commit["files"][CARD].decode() == CARD_TEXT
    assert f"https://huggingface.co/{REPO_ID}/commit/abc123" in capsys.readouterr().out


def test_a_run_is_uploaded_with_the_card_beside_its_model(study, hub):
    assert push(str(study["run"]), "--repo-id", REPO_ID, "--commit-message", "seed 0") == EXIT_OK
    (commit,) = hub.commits
    assert list(commit["files"]) == [*MODEL_FILES, CARD] and commit["message"] == "seed 0"
    assert commit["files"][CARD] == (study["run"] / CARD).read_bytes()  # the run's card, not an export's
    assert hub.repos[0]["private"] is False
    assert push(str(study["run"] / "model"), "--repo-id", REPO_ID) == EXIT_OK  # its model/ folder: the same files
    assert hub.commits[1]["files"] == commit["files"]


def test_a_dry_run_checks_and_lists_without_token_or_network(study, hub, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    assert push(str(study["best"]), "--repo-id", REPO_ID, "--dry-run") == EXIT_OK
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines()[:-1]]
    assert listed == [*MODEL_FILES, BEST_RUN, CARD]
    assert f"{(study['best'] / 'model.safetensors').stat().st_size:,} bytes" in out
    assert "6 file(s) would be uploaded" in out and hub.repos == [] and hub.commits == []


def test_without_a_token_nothing_is_sent(study, hub, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    assert push(str(study["best"]), "--repo-id", REPO_ID) == EXIT_USAGE
    assert "astgenre push: error: no Hugging Face token: log in with `hf auth login`" in capsys.readouterr().err
    assert hub.repos == [] and hub.commits == []


def _drop(name):
    return lambda folder: (folder / name).unlink()


def _rename_a_tensor(folder: Path) -> None:
    tensors = load_file(str(folder / "model.safetensors"))
    key = next(k for k in tensors if k.endswith("query.weight"))
    tensors[key.replace("query", "quer")] = tensors.pop(key)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})


def _old_run_info(folder: Path) -> None:
    info = json.loads((folder / RUN_INFO).read_text())
    (folder / RUN_INFO).write_text(json.dumps({k: v for k, v in info.items() if k != "features"}))


def _contradict_features(folder: Path) -> None:
    path = folder / PREPROCESSOR_CONFIG
    path.write_text(json.dumps(dict(json.loads(path.read_text()), num_mel_bins=64)))


@pytest.mark.parametrize(
    "damage, message",
    [
        (_drop(PREPROCESSOR_CONFIG), f"lacks {PREPROCESSOR_CONFIG}: not a complete model folder"),
        (_drop("config.json"), "lacks config.json"),
        (_drop(CARD), "no model card: neither"),
        (lambda folder: (folder / CARD).write_text("# no metadata\n"), "does not start with a YAML metadata block"),
        (_contradict_features, "num_mel_bins is 64, but the model was trained with 128"),
        (_rename_a_tensor, "cannot load the model in"),
        (_drop(RUN_INFO), "is not a model of this project"),
        (_old_run_info, f"{RUN_INFO} lacks the feature settings or the window length"),
    ],
    ids=[
        "no-preprocessor",
        "no-config",
        "no-card",
        "bad-card",
        "wrong-features",
        "renamed-tensor",
        "no-run-info",
        "run-info-without-features",
    ],
)
def test_an_incomplete_or_broken_folder_is_refused_before_any_upload(study, hub, capsys, damage, message):
    damage(study["best"])
    assert push(str(study["best"]), "--repo-id", REPO_ID) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("astgenre push: error: ") and message in err
    assert hub.repos == [] and hub.commits == []


def test_bad_arguments_are_refused(study, hub, capsys, tmp_path):
    assert push(str(study["best"]), "--repo-id", "not a repo id") == EXIT_USAGE
    assert "is not a Hub repository id (user/name)" in capsys.readouterr().err
    assert push(str(tmp_path / "missing"), "--repo-id", REPO_ID) == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        push(str(study["best"]))  # --repo-id is required: argparse's own usage error
    assert usage.value.code == EXIT_USAGE and hub.repos == []


@pytest.mark.parametrize("error", [OfflineModeIsEnabled("HF_HUB_OFFLINE is set"), HTTPError("connection refused")])
def test_a_failed_upload_exits_1_and_says_so(study, hub, capsys, error):
    hub.fail = error
    assert push(str(study["best"]), "--repo-id", REPO_ID) == EXIT_UPLOAD_FAILED
    err = capsys.readouterr().err
    assert f"uploading to {REPO_ID} failed: {error}" in err
