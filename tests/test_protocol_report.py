"""The protocol report recomputed by an independent path from the prediction files."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from astgenre.contracts import PREDICTION_COLUMNS
from astgenre.labels import CLASSES
from astgenre.report.protocols import (
    PROTOCOL_REPORT_FILES,
    ProtocolRun,
    artist_effect,
    build_protocol_report,
    read_test_predictions,
)

SEEDS = (0, 1, 2)
N = 60  # tracks per split


def predictions(track_ids, split, labels, accuracy, rng) -> pd.DataFrame:
    right = rng.random(len(track_ids)) < accuracy
    wrong = np.asarray(CLASSES)[(np.asarray([CLASSES.index(x) for x in labels]) + 1) % len(CLASSES)]
    predicted = np.where(right, labels, wrong)
    frame = pd.DataFrame({"track_id": track_ids, "split": split, "label": labels, "predicted": predicted})
    frame["n_windows"] = 1
    for cls in CLASSES:
        frame[f"prob_{cls}"] = np.where(frame["predicted"] == cls, 0.5, 0.1)
    return frame.loc[:, list(PREDICTION_COLUMNS)]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocols")
    rng = np.random.default_rng(4)
    labels = {s: np.asarray(CLASSES)[np.arange(N) % len(CLASSES)] for s in ("training", "evaluation")}
    ids = {s: [f"{s[:3]}{i:03d}" for i in range(N)] for s in ("training", "evaluation")}
    runs = []
    for seed in SEEDS:
        path = root / f"official{seed}.tsv"
        predictions(ids["evaluation"], "evaluation", labels["evaluation"], 0.9, rng).to_csv(path, sep="\t", index=False)
        runs.append(ProtocolRun("official", 0, "none", seed, path))
        pooled = [(t, s, label) for s in ("training", "evaluation") for t, label in zip(ids[s], labels[s], strict=True)]
        order = rng.permutation(len(pooled))
        for fold in range(3):
            part = [pooled[i] for i in order[fold::3]]
            frame = pd.concat(
                [
                    predictions(
                        [t for t, s, _ in part if s == split],
                        split,
                        np.array([x for _, s, x in part if s == split]),
                        0.7,
                        rng,
                    )
                    for split in ("training", "evaluation")
                ]
            )
            path = root / f"af{seed}_{fold}.tsv"
            frame.to_csv(path, sep="\t", index=False)
            runs.append(ProtocolRun("artist_filtered", fold, "none", seed, path))
    return root, runs


def test_the_pooled_folds_score_as_one_prediction_set(study):
    root, runs = study
    build_protocol_report(runs, root / "report")
    table = pd.read_csv(root / "report" / PROTOCOL_REPORT_FILES["protocols_csv"]).set_index("protocol")
    per_seed = {"accuracy": [], "balanced_accuracy": [], "macro_f1": []}
    for seed in SEEDS:
        frames = [
            pd.read_csv(r.predictions, sep="\t") for r in runs if r.protocol == "artist_filtered" and r.seed == seed
        ]
        pooled = pd.concat(frames)
        assert len(pooled) == 2 * N and pooled["track_id"].is_unique
        per_seed["accuracy"].append(accuracy_score(pooled["label"], pooled["predicted"]))
        per_seed["balanced_accuracy"].append(balanced_accuracy_score(pooled["label"], pooled["predicted"]))
        per_seed["macro_f1"].append(
            f1_score(pooled["label"], pooled["predicted"], average="macro", labels=list(CLASSES))
        )
    row = table.loc["artist_filtered"]
    for metric, values in per_seed.items():
        assert row[f"{metric}_mean"] == pytest.approx(np.mean(values))
        assert row[f"{metric}_std"] == pytest.approx(np.std(values, ddof=1))
    half = stats.t.ppf(0.975, 2) * np.std(per_seed["accuracy"], ddof=1) / math.sqrt(3)
    assert row["accuracy_ci_low"] == pytest.approx(max(0, np.mean(per_seed["accuracy"]) - half))
    assert row["folds"] == 3 and row["n_tracks"] == 2 * N and not row["few_seeds"]


def test_the_artist_effect_recomputed_from_the_files(study):
    root, runs = study
    effect = artist_effect(read_test_predictions(runs)).iloc[0]
    official, filtered, signed = [], [], np.zeros(N, dtype=int)
    eval_ids = sorted(f"eva{i:03d}" for i in range(N))
    for seed in SEEDS:
        a = pd.read_csv(next(r.predictions for r in runs if r.protocol == "official" and r.seed == seed), sep="\t")
        b = pd.concat(pd.read_csv(r.predictions, sep="\t") for r in runs if r.protocol != "official" and r.seed == seed)
        a = a.set_index("track_id").loc[eval_ids]
        b = b[b["split"] == "evaluation"].set_index("track_id").loc[eval_ids]
        ca, cb = (a["label"] == a["predicted"]).to_numpy(), (b["label"] == b["predicted"]).to_numpy()
        official.append(ca.mean())
        filtered.append(cb.mean())
        signed += ca.astype(int) - cb.astype(int)
    differences = np.array(official) - np.array(filtered)
    assert effect["official_accuracy"] == pytest.approx(np.mean(official))
    assert effect["artist_filtered_accuracy"] == pytest.approx(np.mean(filtered))
    assert effect["effect"] == pytest.approx(differences.mean()) and effect["effect"] > 0.1
    low, high = stats.t.interval(0.95, 2, loc=differences.mean(), scale=stats.sem(differences))
    assert (effect["ci_low"], effect["ci_high"]) == pytest.approx((low, high))
    assert effect["statistic"] == signed.sum()
    nonzero = signed[signed != 0]
    rng = np.random.default_rng(1)  # Monte Carlo sign flips of each track's summed difference
    flips = rng.choice([-1, 1], size=(200_000, nonzero.size))
    assert effect["p_value"] == pytest.approx(np.mean(np.abs(flips @ nonzero) >= abs(signed.sum())), abs=0.003)


def test_a_track_tested_twice_by_one_run_is_refused(study, tmp_path):
    _, runs = study
    doubled = [*runs, ProtocolRun("artist_filtered", 3, "none", 0, runs[1].predictions)]
    with pytest.raises(ValueError, match="tested more than once"):
        read_test_predictions(doubled)


def test_without_artist_filtered_runs_the_artist_effect_is_a_header_and_the_macros_skip_it(study, tmp_path):
    """The official split beside the literature protocol only (or variants that never ran under both): the artist
    effect has no row, artist_effect.csv keeps its header, and numbers.tex quotes the protocols without it."""
    from astgenre.report.numbers import protocol_macros
    from astgenre.report.protocols import ARTIST_EFFECT_COLUMNS

    _, runs = study
    official = [run for run in runs if run.protocol == "official"]
    build_protocol_report(official, tmp_path)
    effect = pd.read_csv(tmp_path / PROTOCOL_REPORT_FILES["artist_effect_csv"])
    assert list(effect.columns) == list(ARTIST_EFFECT_COLUMNS) and effect.empty
    names = [macro.name for macro in protocol_macros(tmp_path)]
    assert "officialNoneTestAccuracy" in names and not [name for name in names if name.startswith("artistEffect")]
