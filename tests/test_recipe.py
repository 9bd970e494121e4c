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


def test_the_full_study_trains_in_batches_of_64_the_replica_as_the_notebook(study):
    """The full study's recipe (docs/performance.md): batch 64 at 3e-5, evaluation batches of 256 on a GPU; the
    replica keeps the notebook's 6 x 4 at 3e-5."""
    none = Recipe.from_mapping(variant_training(study, "none"))
    assert (none.batch_size, none.grad_accum, none.learning_rate) == (64, 1, 3.0e-5)
    assert (none.eval_batch_size, none.eval_batch_size_gpu, none.dataloader_workers) == (32, 256, "auto")
    replica = Recipe.from_mapping(variant_training(study, "reference_replica"))
    assert (replica.batch_size, replica.grad_accum, replica.learning_rate) == (6, 4, 3.0e-5)


def test_the_demo_recipe_is_the_one_it_always_had():
    """The demo's results must not move: its batches, rates and epochs are those it had before the full study's
    recipe changed (dataloader_workers: auto is no worker on the CPU)."""
    demo = read_study(REPO, "demo")
    expected = {
        "inverse_frequency": dict(batch_size=16, grad_accum=1, eval_batch_size=32, learning_rate=1.0e-3, epochs=12),
        "reference_replica": dict(batch_size=6, grad_accum=1, eval_batch_size=32, learning_rate=1.0e-3, epochs=12),
    }
    for variant, values in expected.items():
        recipe = Recipe.from_mapping(variant_training(demo, variant))
        assert {key: getattr(recipe, key) for key in values} == values, variant


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
