import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from astgenre.config import (
    ConfigError,
    changed_keys,
    check_resource_rules,
    coerce_overrides,
    deep_merge,
    load_study,
    variant_training,
)


@pytest.fixture
def paths(repo):
    return repo / "config.yaml", repo / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def defaults(paths):
    return yaml.safe_load(paths[0].read_text())


def test_full_study_defaults_are_valid(defaults, paths):
    cfg = load_study(defaults, *paths)
    assert cfg["study"] == "ismir2004"
    assert cfg["model"]["checkpoint"] == "MIT/ast-finetuned-audioset-10-10-0.4593"
    assert cfg["dataset"]["url"].endswith("/records/1302992/files/ismir04_genre.zip")
    assert set(cfg["grid"]["variants"]) >= {"none", "inverse_frequency", "reference_replica"}


def test_demo_preset_applies_and_user_overrides_win(defaults, paths):
    user = deep_merge(defaults, {"study": "demo", "training": {"epochs": 3}})
    cfg = load_study(user, *paths)
    assert cfg["dataset"]["url"] == "generated"
    assert cfg["model"]["create"]["hidden_size"] == 64
    assert cfg["training"]["epochs"] == 3  # the user's overlay beats the preset
    assert cfg["training"]["learning_rate"] == 1.0e-3  # the preset beats the defaults


def test_overlay_sets_local_archive(defaults, paths):
    user = deep_merge(defaults, {"dataset": {"url": "file:///data/ismir04_genre.zip", "md5": "a" * 32}})
    cfg = load_study(user, *paths)
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
def test_bad_values_name_the_key(defaults, paths, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_study(deep_merge(defaults, override), *paths)


def test_unknown_study(defaults, paths):
    with pytest.raises(ConfigError, match="unknown study 'dmeo'"):
        load_study(dict(defaults, study="dmeo"), *paths)


def test_changed_keys_and_merge():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 2}
    assert changed_keys({"a": {"b": 1, "c": [1]}, "d": 2}, base) == {"a": {"c": [1]}}
    merged = deep_merge(base, {"a": {"b": 5}})
    assert merged == {"a": {"b": 5, "c": [1, 2]}, "d": 2}
    assert base["a"]["b"] == 1


def test_variant_training_overrides(defaults, paths):
    cfg = load_study(defaults, *paths)
    replica = variant_training(cfg, "reference_replica")
    assert replica["learning_rate"] == 3.0e-5 and replica["batch_size"] == 6 and replica["grad_accum"] == 4
    assert replica["window"] == "first" and replica["specaugment"] is None and replica["select_metric"] == "weighted_f1"
    assert variant_training(cfg, "none")["learning_rate"] == cfg["training"]["learning_rate"]
    assert variant_training(cfg, "inverse_frequency")["weighting"] == "inverse_frequency"


def test_unquoted_numeric_md5_gets_a_hint(defaults, paths):
    with pytest.raises(ConfigError, match="dataset.md5.*quote it"):
        load_study(deep_merge(defaults, {"dataset": {"md5": 12345678901234567890123456789012}}), *paths)


def test_explicit_override_equal_to_the_default_still_beats_the_preset(defaults, paths):
    """--configfile setting resources.train.gpu: 1 (the default) on the demo, whose preset says 0."""
    overrides = {"study": "demo", "resources": {"train": {"gpu": 1}}}
    cfg = load_study(deep_merge(defaults, overrides), *paths, overrides=overrides)
    assert cfg["resources"]["train"]["gpu"] == 1
    assert cfg["resources"]["evaluate"]["gpu"] == 0


# --------------------------------------------------------------------------- nested --config values and rule names


@pytest.fixture
def schema(paths):
    return yaml.safe_load(paths[1].read_text())


def test_nested_command_line_strings_are_typed_by_the_schema(schema):
    """What Snakemake makes of `--config 'training={epochs: 5, learning_rate: 1e-5, specaugment: null}' ...`."""
    given = {
        "study": "demo",
        "training": {"epochs": "5", "learning_rate": "1e-5", "specaugment": "null", "gradient_checkpointing": "true"},
        "audio": {"start": "middle", "duration": "null", "shards": "4"},
        "dataset": {"md5": "null", "url": "123"},
        "grid": {"seeds": ["0", "1"], "variants": ["none"]},
        "model": {"create": {"hidden_size": "32", "hidden_act": "gelu"}},
        "variants": {"none": {"weighting": "none", "training": {"window": "first", "mixup": "0.5"}}},
        "resources": {"train": {"gpu": "0", "partition": "gpu"}},
        "presets": {"demo": {"dataset": {"md5": "12345678901234567890123456789012"}}},
    }
    assert coerce_overrides(given, schema) == {
        "study": "demo",
        "training": {"epochs": 5, "learning_rate": 1e-5, "specaugment": None, "gradient_checkpointing": True},
        "audio": {"start": "middle", "duration": None, "shards": 4},
        "dataset": {"md5": None, "url": "123"},  # url is a string: kept
        "grid": {"seeds": [0, 1], "variants": ["none"]},
        "model": {"create": {"hidden_size": 32, "hidden_act": "gelu"}},
        "variants": {"none": {"weighting": "none", "training": {"window": "first", "mixup": 0.5}}},
        "resources": {"train": {"gpu": 0, "partition": "gpu"}},
        "presets": {"demo": {"dataset": {"md5": "12345678901234567890123456789012"}}},  # no declared type: kept
    }
    assert given["training"]["epochs"] == "5"  # the input is not changed


def test_nested_command_line_values_load(defaults, paths):
    overrides = {"study": "demo", "training": {"epochs": "5", "learning_rate": "1e-4"}, "grid": {"seeds": ["3"]}}
    cfg = load_study(deep_merge(defaults, overrides), *paths, overrides=overrides)
    assert cfg["training"]["epochs"] == 5 and cfg["training"]["learning_rate"] == 1e-4 and cfg["grid"]["seeds"] == [3]
    assert cfg["training"]["batch_size"] == 16  # the rest of the preset's training section stays


@pytest.mark.parametrize(
    "override, message",
    [
        ({"training": {"epochs": "five"}}, "training.epochs: 'five' is not of type 'integer'"),
        ({"training": {"epochs": "5.5"}}, "training.epochs: '5.5' is not of type 'integer'"),
        ({"training": {"gradient_checkpointing": "maybe"}}, "training.gradient_checkpointing"),
        ({"audio": {"start": "end"}}, "audio.start"),
        ({"grid": {"seeds": ["0", "x"]}}, r"grid.seeds.1: 'x' is not of type 'integer'"),
    ],
)
def test_real_type_errors_on_the_command_line_are_still_rejected(defaults, paths, override, message):
    overrides = {"study": "demo", **override}
    with pytest.raises(ConfigError, match=message):
        load_study(deep_merge(defaults, overrides), *paths, overrides=overrides)


def test_resources_may_only_name_rules_that_read_them():
    check_resource_rules({"train": {"gpu": 1}}, {"train", "evaluate"})
    with pytest.raises(ConfigError, match=r"resources\.trian.*did you mean 'train'.*evaluate, train"):
        check_resource_rules({"train": {}, "trian": {"gpu": 0}}, {"train", "evaluate"})


def dry_run(repo: Path, work: Path, *args: str) -> subprocess.CompletedProcess:
    """A dry run of the demo in a copy of the workflow; args are --config values unless they start with '--'."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(repo / name, work / name)
    if not (work / "workflow").exists():
        shutil.copytree(repo / "workflow", work / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    if not args or not args[0].startswith("--"):
        args = ("--config", "study=demo", *args)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--quiet", "rules", *args],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_snakemake_accepts_nested_overrides_and_refuses_unknown_rules(repo, tmp_path):
    ok = dry_run(repo, tmp_path, "training={epochs: 5, learning_rate: 1e-4}", "resources={train: {runtime: 20}}")
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert re.search(r"^train\s+6$", ok.stdout, re.MULTILINE)
    typo = dry_run(repo, tmp_path, "resources={trian: {gpu: 0}}")
    assert typo.returncode != 0
    assert "config key 'resources.trian': no rule 'trian' takes resources from the config" in typo.stdout + typo.stderr
    assert "did you mean 'train'?" in typo.stdout + typo.stderr
    wrong = dry_run(repo, tmp_path, "training={epochs: five}")
    assert wrong.returncode != 0
    assert "training.epochs: 'five' is not of type 'integer'" in wrong.stdout + wrong.stderr


def readme_overlays(repo: Path) -> dict[str, str]:
    """The YAML overlay files shown in the README (fenced blocks whose first line is '# <name>.yaml')."""
    blocks = re.findall(r"```yaml\n# (\S+\.yaml)\n(.*?)```", (repo / "README.md").read_text(), re.DOTALL)
    return dict(blocks)


def test_the_readme_overlays_work_as_written(repo, tmp_path):
    overlays = readme_overlays(repo)
    assert "cluster.yaml" in overlays, "the README's cluster overlay example is gone: update this test"
    (tmp_path / "cluster.yaml").write_text(overlays["cluster.yaml"])
    proc = dry_run(repo, tmp_path, "--configfile", str(tmp_path / "cluster.yaml"), "--config", "study=demo")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
