"""track_metrics and friends against hand-computed values and scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, roc_auc_score

from astgenre.labels import CLASSES
from astgenre.metrics import (
    expected_calibration_error,
    predicted_labels,
    reliability_bins,
    scores_from_confusion,
    track_metrics,
)

# Six tracks, "world" absent; columns in CLASSES order.
HAND_LABELS = ["classical", "classical", "electronic", "jazz_blues", "metal_punk", "rock_pop"]
HAND_PROBS = np.array(
    [
        [0.70, 0.10, 0.05, 0.05, 0.05, 0.05],  # -> classical (right)
        [0.30, 0.40, 0.10, 0.10, 0.05, 0.05],  # -> electronic (wrong)
        [0.10, 0.60, 0.10, 0.10, 0.05, 0.05],  # -> electronic (right)
        [0.35, 0.05, 0.45, 0.05, 0.05, 0.05],  # -> jazz_blues (right)
        [0.05, 0.05, 0.10, 0.30, 0.45, 0.05],  # -> rock_pop (wrong)
        [0.10, 0.10, 0.05, 0.05, 0.60, 0.10],  # -> rock_pop (right)
    ]
)


def random_predictions(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.asarray(CLASSES)[rng.integers(0, len(CLASSES), n)]
    logits = rng.normal(size=(n, len(CLASSES)))
    logits[np.arange(n), [CLASSES.index(c) for c in labels]] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probs


def test_hand_computed_example():
    m = track_metrics(HAND_LABELS, HAND_PROBS)
    assert m["n_tracks"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 1 + 0 + 1) / 5)  # world has no tracks: left out
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1 + 0 + 2 / 3 + 0) / 6)  # over all six classes
    assert m["weighted_f1"] == pytest.approx((2 * 2 / 3 + 2 / 3 + 1 + 0 + 2 / 3) / 6)
    assert m["confusion"] == [
        [1, 1, 0, 0, 0, 0],
        [0, 1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0],
    ]
    classical = m["per_class"]["classical"]
    assert (classical["precision"], classical["recall"], classical["f1"], classical["support"]) == pytest.approx(
        (1, 0.5, 2 / 3, 2)
    )
    # classical positives score 0.70 and 0.30; negatives 0.10, 0.35, 0.05, 0.10: 7 of 8 pairs ordered
    assert classical["roc_auc"] == pytest.approx(7 / 8)
    assert m["per_class"]["metal_punk"]["precision"] == 0.0 and m["per_class"]["metal_punk"]["recall"] == 0.0
    assert m["per_class"]["world"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "roc_auc": None}
    assert m["macro_roc_auc"] == pytest.approx((7 / 8 + 4) / 5)


def test_result_is_plain_json():
    m = track_metrics(HAND_LABELS, HAND_PROBS)
    assert json.loads(json.dumps(m)) == m
    assert type(m["accuracy"]) is float and type(m["per_class"]["classical"]["support"]) is int
    assert set(m) == {
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "weighted_f1",
        "per_class",
        "macro_roc_auc",
        "confusion",
        "n_tracks",
    }


def test_agrees_with_sklearn_on_random_data():
    labels, probs = random_predictions()
    predicted = predicted_labels(probs)
    m = track_metrics(labels, probs)
    assert m["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, predicted))
    assert m["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    assert m["weighted_f1"] == pytest.approx(f1_score(labels, predicted, average="weighted"))
    assert m["macro_roc_auc"] == pytest.approx(roc_auc_score(labels, probs, multi_class="ovr", labels=list(CLASSES)))
    assert np.array_equal(m["confusion"], confusion_matrix(labels, predicted, labels=list(CLASSES)))


def test_single_class_has_no_auc():
    m = track_metrics(["world", "world"], HAND_PROBS[:2])
    assert all(entry["roc_auc"] is None for entry in m["per_class"].values())
    assert m["macro_roc_auc"] is None and m["accuracy"] == 0.0


@pytest.mark.parametrize(
    ("labels", "probs", "message"),
    [
        (HAND_LABELS, HAND_PROBS[:, :5], "shape"),
        (HAND_LABELS[:5], HAND_PROBS, "match"),
        (["blues"] + HAND_LABELS[1:], HAND_PROBS, "unknown labels"),
        ([], np.empty((0, 6)), "no tracks"),
        (HAND_LABELS, np.where(np.eye(6, dtype=bool), np.nan, HAND_PROBS), "NaN"),
    ],
)
def test_bad_input_is_named(labels, probs, message):
    with pytest.raises(ValueError, match=message):
        track_metrics(labels, probs)


def test_scores_from_confusion_match_sklearn():
    stacked, expected = [], []
    for seed in range(3):
        labels, probs = random_predictions(n=150, seed=seed)
        predicted = predicted_labels(probs)
        stacked.append(confusion_matrix(labels, predicted, labels=list(CLASSES)))
        expected.append(
            [
                accuracy_score(labels, predicted),
                balanced_accuracy_score(labels, predicted),
                f1_score(labels, predicted, labels=list(CLASSES), average="macro", zero_division=0),
            ]
        )
    scores = scores_from_confusion(np.stack(stacked))
    got = np.column_stack([scores["accuracy"], scores["balanced_accuracy"], scores["macro_f1"]])
    assert got == pytest.approx(np.array(expected))
    hand = scores_from_confusion(np.array(track_metrics(HAND_LABELS, HAND_PROBS)["confusion"]))
    assert (hand["accuracy"], hand["balanced_accuracy"], hand["macro_f1"]) == pytest.approx((4 / 6, 0.7, 0.5))


def test_expected_calibration_error_by_hand():
    confident, unsure = [0.9] + [0.02] * 5, [0.6] + [0.08] * 5
    probs = np.array([confident, confident, unsure, unsure])
    labels = ["classical", "world", "classical", "classical"]  # the 0.9 bin is half right, the 0.6 bin all right
    # |0.5 - 0.9| * 2/4 + |1.0 - 0.6| * 2/4
    assert expected_calibration_error(labels, probs, n_bins=10) == pytest.approx(0.4)
    bins = reliability_bins(labels, probs, n_bins=10)
    assert bins["count"].sum() == 4 and np.count_nonzero(bins["count"]) == 2
    assert np.isnan(bins["accuracy"][0])


def test_perfectly_calibrated_predictions_have_small_ece():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(len(CLASSES)) * 0.5, size=20000)
    labels = [CLASSES[rng.choice(len(CLASSES), p=p)] for p in probs]
    assert expected_calibration_error(labels, probs) < 0.02
