import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from astgenre.baselines.runs import BASELINES
from astgenre.config import (
    ConfigError,
    check_resource_rules,
    coerce_overrides,
    deep_merge,
    excerpt_key,
    read_study,
    study_excerpts,
    variant_excerpt,
    variant_training,
)
from astgenre.contracts import BASELINE_NAMES


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
        ({"training": {"eval_batch_size_gpu": 0}}, "training.eval_batch_size_gpu"),
        ({"training": {"dataloader_workers": -1}}, "training.dataloader_workers"),
    ],
)
def test_bad_values_name_the_key(repo, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        study(repo, "ismir2004", override)


@pytest.mark.parametrize("value", [-1, "many", 1.5, True])
def test_a_bad_number_of_loader_workers_says_what_is_allowed(repo, value):
    allowed = "DataLoader worker processes: an integer >= 0, or auto"
    message = f"training.dataloader_workers: {value!r} is not allowed here: {allowed}"
    with pytest.raises(ConfigError, match=re.escape(message)):
        study(repo, "ismir2004", {"training": {"dataloader_workers": value}})
    assert study(repo, "ismir2004", {"training": {"dataloader_workers": "2"}})["training"]["dataloader_workers"] == 2


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
    file's grid.variants over the preset's while its seeds stay; --config over all."""
    work = copy_workflow(repo, tmp_path)
    assert planned(work)["train"] == 25
    assert planned(work, "--config", "study=demo")["train"] == 6
    (work / "user.yaml").write_text("grid:\n  variants: [none]\n")
    assert planned(work, "--configfile", "user.yaml", "--config", "study=demo")["train"] == 2
    seeds = "grid={seeds: [5, 6, 7]}"  # a nested --config value, typed by the schema, merged over both
    assert planned(work, "--configfile", "user.yaml", "--config", "study=demo", seeds)["train"] == 3


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


# --------------------------------------------------------------------------- nested --config values and rule names


@pytest.fixture
def schema(repo):
    return yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())


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


def test_nested_command_line_values_load(repo):
    overrides = {"training": {"epochs": "5", "learning_rate": "1e-4"}, "grid": {"seeds": ["3"]}}
    cfg = study(repo, "demo", overrides)
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
def test_real_type_errors_on_the_command_line_are_still_rejected(repo, override, message):
    with pytest.raises(ConfigError, match=message):
        study(repo, "demo", override)


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


def documented_overlays(page: Path) -> dict[str, str]:
    """The YAML overlay files shown on a documentation page (fenced blocks whose first line is '# <name>.yaml')."""
    blocks = re.findall(r"```yaml\n# (\S+\.yaml)\n(.*?)```", page.read_text(), re.DOTALL)
    return dict(blocks)


def test_the_documented_cluster_overlay_works_as_written(repo, tmp_path):
    overlays = documented_overlays(repo / "docs" / "cluster.md")
    assert "cluster.yaml" in overlays, "docs/cluster.md's cluster overlay example is gone: update this test"
    (tmp_path / "cluster.yaml").write_text(overlays["cluster.yaml"])
    proc = dry_run(repo, tmp_path, "--configfile", str(tmp_path / "cluster.yaml"), "--config", "study=demo")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_a_variant_named_like_a_baseline_is_refused(repo):
    """Both would write runs/<name>/seed0 (the rules' baseline wildcard takes every baseline name, configured or
    not); the names are the schema's."""
    schema = yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())
    assert tuple(schema["properties"]["baselines"]["items"]["enum"]) == BASELINE_NAMES == BASELINES
    for baselines in (["mfcc_svm"], ["linear_probe"], []):
        overlay = {"variants": {"mfcc_svm": {"weighting": "none"}}, "baselines": baselines}
        with pytest.raises(ConfigError, match=r"'mfcc_svm' is a baseline system's name.* rename the variant"):
            read_study(repo, "demo", [overlay])
