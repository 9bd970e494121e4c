"""The typed recipe and the run spec: built and checked once, carried to torchrun ranks unchanged."""

from dataclasses import replace
from pathlib import Path

import pytest

from astgenre.config import read_study, variant_training
from astgenre.features import FbankSettings
from astgenre.recipe import Recipe, SpecAugment
from astgenre.training import RunSpec

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def study() -> dict:
    return read_study(REPO)


def test_every_variant_of_the_full_study_has_a_typed_recipe(study):
    recipes = {variant: Recipe.from_mapping(variant_training(study, variant)) for variant in study["variants"]}
    assert recipes["none"].specaugment == SpecAugment(freq_mask=24, time_mask=96, n_masks=2)
    assert recipes["reference_replica"].specaugment is None and recipes["reference_replica"].first_window_only
    assert recipes["reference_replica"].effective_batch == 24
    assert Recipe.from_mapping(recipes["none"].to_dict()) == recipes["none"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"epocs": 3}, "unknown ['epocs']"),
        ({"select_metric": "f1"}, "select_metric: 'f1'"),
        ({"batch_size": 0}, "batch_size: 0"),
        ({"weighting": "squared"}, "weighting: 'squared'"),
        ({"eval_batch_size_gpu": 0}, "eval_batch_size_gpu: 0"),
        ({"dataloader_workers": -1}, "dataloader_workers: -1 is neither an integer >= 0 nor 'auto'"),
        ({"dataloader_workers": "many"}, "dataloader_workers: 'many'"),
    ],
)
def test_a_bad_recipe_is_refused_naming_the_field(study, change, message):
    values = dict(variant_training(study, "none"), **change)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Recipe.from_mapping(values)


def test_a_missing_field_is_named(study):
    values = variant_training(study, "none")
    del values["eval_hop_frames"]
    with pytest.raises(ValueError, match=r"missing \['eval_hop_frames'\]"):
        Recipe.from_mapping(values)


def test_the_run_spec_survives_the_trip_to_torchrun(study, tmp_path):
    spec = RunSpec(
        index_path=tmp_path / "index.tsv",
        feature_dirs=(tmp_path / "f0", tmp_path / "f1"),
        checkpoint="MIT/ast-finetuned-audioset-10-10-0.4593",
        model_dir=tmp_path / "model",
        work_dir=tmp_path / "work",
        history_path=tmp_path / "history.tsv",
        summary_path=tmp_path / "summary.json",
        recipe=Recipe.from_mapping(variant_training(study, "effective_number")),
        seed=3,
        variant="effective_number",
        settings=FbankSettings(num_mel_bins=64, mean=-1.0, std=2.0),
        threads=4,
    )
    assert RunSpec.from_json(spec.to_json()) == spec
    assert RunSpec.from_json(replace(spec, threads=None).to_json()).threads is None
