import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from astgenre.config import (
    ConfigError,
    deep_merge,
    excerpt_key,
    read_study,
    study_excerpts,
    variant_excerpt,
    variant_training,
)


def study(repo, name: str = "ismir2004", *overlays: dict) -> dict:
    return read_study(repo, name, overlays)


def test_full_study_defaults_are_valid(repo):
    cfg = study(repo)
    assert cfg["study"] == "ismir2004"
    assert cfg["model"]["checkpoint"] == "MIT/ast-finetuned-audioset-10-10-0.4593"
    assert cfg["dataset"]["url"].endswith("/records/1302992/files/ismir04_genre.zip")
    assert set(cfg["grid"]["variants"]) >= {"none", "inverse_frequency", "reference_replica"}


def test_demo_preset_applies_and_user_overrides_win(repo):
    cfg = study(repo, "demo", {"training": {"epochs": 3}})
    assert cfg["dataset"]["url"] == "generated"
    assert cfg["model"]["create"]["hidden_size"] == 64
    assert cfg["training"]["epochs"] == 3  # the user's overlay beats the preset
    assert cfg["training"]["learning_rate"] == 1.0e-3  # the preset beats the defaults


def test_overlay_sets_local_archive(repo):
    cfg = study(repo, "ismir2004", {"dataset": {"url": "file:///data/ismir04_genre.zip", "md5": "a" * 32}})
    assert cfg["dataset"]["url"] == "file:///data/ismir04_genre.zip"


@pytest.mark.parametrize(
    "override, key",
    [
        ({"training": {"epochs": 0}}, "training.epochs"),
        ({"training": {"epocs": 3}}, "training.epocs"),
        ({"bogus": 1}, "bogus"),
        ({"audio": {"on_error": "ignore"}}, "audio.on_error"),
        ({"dataset": {"md5": "xyz"}}, "dataset.md5"),
        ({"grid": {"variants": ["nope"]}}, "grid.variants"),
        ({"variants": {"none": {"weighting": "squared"}}}, "variants.none.weighting"),
    ],
)
def test_bad_values_name_the_key(repo, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        study(repo, "ismir2004", override)


def test_unknown_study(repo):
    with pytest.raises(ConfigError, match="unknown study 'dmeo'; choose one of: ismir2004, demo"):
        study(repo, "dmeo")


def test_merge():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 2}
    merged = deep_merge(base, {"a": {"b": 5}})
    assert merged == {"a": {"b": 5, "c": [1, 2]}, "d": 2}
    assert base["a"]["b"] == 1


def test_variant_training_overrides(repo):
    cfg = study(repo)
    replica = variant_training(cfg, "reference_replica")
    assert replica["learning_rate"] == 3.0e-5 and replica["batch_size"] == 6 and replica["grad_accum"] == 4
    assert replica["window"] == "first" and replica["specaugment"] is None and replica["select_metric"] == "weighted_f1"
    assert variant_training(cfg, "none")["learning_rate"] == cfg["training"]["learning_rate"]
    assert variant_training(cfg, "inverse_frequency")["weighting"] == "inverse_frequency"


def test_unquoted_numeric_md5_gets_a_hint(repo):
    with pytest.raises(ConfigError, match="dataset.md5.*quote it"):
        study(repo, "ismir2004", {"dataset": {"md5": 12345678901234567890123456789012}})


def test_explicit_override_equal_to_the_default_still_beats_the_preset(repo):
    """--configfile setting resources.train.gpu: 1 (the default) on the demo, whose preset says 0."""
    cfg = study(repo, "demo", {"resources": {"train": {"gpu": 1}}})
    assert cfg["resources"]["train"]["gpu"] == 1
    assert cfg["resources"]["evaluate"]["gpu"] == 0


def copy_workflow(repo: Path, dest: Path) -> Path:
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(repo / name, dest / name)
    shutil.copytree(repo / "workflow", dest / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def planned(workdir: Path, *args: str) -> dict[str, int]:
    """Jobs per rule of a dry run."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--quiet", "rules", "--cores", "1", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", proc.stdout, re.M) if m[1] != "total"}


def test_snakemake_applies_config_yaml_then_the_preset_then_the_users_values(repo, tmp_path):
    """Through Snakemake itself: the demo preset's grid (3 variants x 2 seeds) over config.yaml's (5 x 5); a user
    file's grid.variants over the preset's while its seeds stay."""
    work = copy_workflow(repo, tmp_path)
    assert planned(work)["train"] == 25
    assert planned(work, "--config", "study=demo")["train"] == 6
    (work / "user.yaml").write_text("grid:\n  variants: [none]\n")
    assert planned(work, "--configfile", "user.yaml", "--config", "study=demo")["train"] == 2


def test_the_replica_decodes_the_notebooks_excerpt_and_the_others_share_theirs(repo):
    cfg = study(repo)
    assert variant_excerpt(cfg, "reference_replica") == {"start": 0.0, "duration": 10.255}
    for variant in ("none", "inverse_frequency", "effective_number", "balanced_sampler"):
        assert variant_excerpt(cfg, variant) == {"start": "middle", "duration": 30.0}
    assert sorted(study_excerpts(cfg)) == ["0s_10.255s", "middle_30s"]
    replica = variant_training(cfg, "reference_replica")
    assert (replica["window"], replica["weight_decay"], replica["precision"]) == ("first", 0.0, "fp32")
    demo = study(repo, "demo")
    assert sorted(study_excerpts(demo)) == ["0s_whole"]  # the demo decodes whole tracks from 0 s once


def test_excerpt_keys_name_equal_excerpts_alike():
    assert excerpt_key({"start": 0, "duration": None}) == excerpt_key({"start": 0.0, "duration": None}) == "0s_whole"
    assert excerpt_key({"start": "middle", "duration": 30}) == "middle_30s"
    assert excerpt_key({"start": 12.5, "duration": 10.255}) == "12.5s_10.255s"


def test_a_dry_run_of_the_full_study_decodes_and_featurises_each_excerpt_once(repo, tmp_path):
    """The replica's excerpt adds one decode and one feature job per shard, and only those."""
    copy_workflow(repo, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--printshellcmds", "--cores", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = proc.stdout
    for excerpt in ("middle_30s", "0s_10.255s"):
        assert jobs.count(f"results/ismir2004/features/{excerpt}/shard") >= 16
    blocks = re.split(r"^(?:local)?rule (\w+):$", jobs, flags=re.MULTILINE)
    decode_jobs = [body for name, body in zip(blocks[1::2], blocks[2::2], strict=True) if name == "decode"]
    assert len(decode_jobs) == 2 * 16
    assert sum("excerpt=0s_10.255s" in block for block in decode_jobs) == 16
