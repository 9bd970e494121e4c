"""Baseline classifiers: grid selection on the selection tracks, final fit on the training tracks, probabilities in
CLASSES order, and files that show the test tracks were never read."""

import json

import numpy as np
import pandas as pd
import pytest

from astgenre.baselines import probe, runs, selection, svm
from astgenre.baselines.tables import read_features, write_feature_table
from astgenre.contracts import PREDICTION_COLUMNS, PROB_COLUMNS
from astgenre.labels import CLASSES
from astgenre.metrics import track_metrics

SMALL_SVM_GRID = tuple({"C": c, "gamma": g} for c in (0.5, 8.0) for g in (2.0**-9, 2.0**-5))


def blobs(per_class: dict[str, int], dim: int = 12, seed: int = 0, spread: float = 1.0):
    """Gaussian blobs, one centre per class (the same centres for every seed)."""
    centres = np.random.default_rng(123).normal(0, 1.5, size=(len(CLASSES), dim))
    rng = np.random.default_rng(seed)
    x, y = [], []
    for k, cls in enumerate(CLASSES):
        n = per_class.get(cls, 0)
        x.append(centres[k] + spread * rng.standard_normal((n, dim)))
        y += [cls] * n
    return np.vstack(x), y


COUNTS = dict.fromkeys(CLASSES, 12)


def test_selection_scores_follow_track_metrics():
    rng = np.random.default_rng(0)
    labels = list(rng.choice(CLASSES, 50))
    predictions = [list(rng.choice(CLASSES, 50)) for _ in range(4)] + [["classical"] * 50]
    for metric in ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1"):
        scores = selection.score_predictions(labels, predictions, metric)
        for score, predicted in zip(scores, predictions, strict=True):
            one_hot = (np.asarray(predicted)[:, None] == np.asarray(CLASSES)[None, :]).astype(float)
            assert score == pytest.approx(track_metrics(labels, one_hot)[metric], abs=1e-12), metric


def test_ties_go_to_the_first_grid_point_and_the_final_fit_uses_training_only():
    x_train, y_train = blobs(COUNTS, seed=1)
    x_select, y_select = blobs(COUNTS, seed=2)
    grid = [{"C": 0.01}, {"C": 1.0}, {"C": 100.0}]
    constant = ["classical"] * len(y_select)  # every grid point predicts the same: a three-way tie

    def predict_grid(x, codes, x_sel):
        return [(np.zeros(len(x_sel), dtype=int), True) for _ in grid]

    with pytest.raises(RuntimeError, match="final fit differs"):  # the real model does not predict a constant
        selection.select_and_fit("t", grid, predict_grid, probe.candidate, (x_train, y_train), (x_select, y_select))
    fitted = selection.select_and_fit("t", grid, predict_grid, _ConstantModel, (x_train, y_train), (x_select, y_select))
    assert fitted.chosen == {"C": 0.01} and list(fitted.selection_scores["chosen"]) == [True, False, False]
    expected = selection.score_predictions(y_select, [constant], "macro_f1")[0]
    assert (fitted.selection_scores["score"] == expected).all()
    assert fitted.estimator.n_seen == len(y_train)  # fitted on the training tracks, not training + selection


class _ConstantModel:
    """Predicts class code 0 with certainty; records how many tracks it was fitted on."""

    def __init__(self, C: float) -> None:  # noqa: N803
        self.n_seen = 0

    def fit(self, x, codes):
        self.n_seen = len(x)
        self.n_classes = int(codes.max()) + 1
        return self

    def predict_proba(self, x):
        probs = np.zeros((len(x), self.n_classes))
        probs[:, 0] = 1.0
        return probs


def test_svm_selects_fits_on_training_and_gives_six_probability_columns():
    counts = {**COUNTS, "jazz_blues": 0}  # a class absent from training
    x_train, y_train = blobs(counts, seed=1, spread=1.5)
    x_select, y_select = blobs(COUNTS, seed=2, spread=1.5)
    fitted = svm.fit_select(x_train, y_train, x_select, y_select, grid=SMALL_SVM_GRID)
    assert len(fitted.selection_scores) == 4 and fitted.selection_scores["chosen"].sum() == 1
    assert fitted.chosen in [dict(p) for p in SMALL_SVM_GRID]
    assert fitted.select_score == fitted.selection_scores["score"].max()
    probs = fitted.predict_proba(x_select)
    assert probs.shape == (len(y_select), len(CLASSES))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs[:, CLASSES.index("jazz_blues")] == 0).all()
    assert 0 < probs.max(axis=1).min() and probs.max() < 1  # temperature-scaled, not one-hot
    scaler = fitted.estimator.steps[0][1]
    np.testing.assert_allclose(scaler.mean_, x_train.mean(axis=0))  # standardised on the training tracks only
    # The predicted class is the SVM's own: arg-max of the probabilities = the candidate's prediction.
    k = fitted.selection_scores.index[fitted.selection_scores["chosen"]][0]
    codes, _ = selection.encode_labels(y_train)
    candidate_codes = svm.predict_grid(x_train, codes, x_select, [SMALL_SVM_GRID[k]])[0][0]
    assert (np.asarray(fitted.class_columns)[candidate_codes] == probs.argmax(axis=1)).all()


def test_svm_kernel_matches_libsvm_rbf():
    from sklearn.svm import SVC

    x, y = blobs(COUNTS, seed=3)
    codes, _ = selection.encode_labels(y)
    kernel = svm.RBFKernel(0.05).fit(x)
    ours = SVC(C=2.0, kernel="precomputed").fit(kernel.transform(x), codes).decision_function(kernel.transform(x))
    theirs = SVC(C=2.0, gamma=0.05, kernel="rbf").fit(x, codes).decision_function(x)
    np.testing.assert_allclose(ours, theirs, atol=1e-8)


def test_fits_are_deterministic():
    x_train, y_train = blobs(COUNTS, seed=1, spread=2.0)
    x_select, y_select = blobs(COUNTS, seed=2, spread=2.0)
    for fit in (
        lambda: svm.fit_select(x_train, y_train, x_select, y_select, grid=SMALL_SVM_GRID),
        lambda: probe.fit_select(x_train, y_train, x_select, y_select),
    ):
        first, second = fit(), fit()
        pd.testing.assert_frame_equal(first.selection_scores, second.selection_scores)
        np.testing.assert_array_equal(first.predict_proba(x_select), second.predict_proba(x_select))


def test_probe_classifier_chooses_c_on_the_selection_tracks():
    x_train, y_train = blobs(COUNTS, seed=1, spread=2.5)
    x_select, y_select = blobs(COUNTS, seed=2, spread=2.5)
    fitted = probe.fit_select(x_train, y_train, x_select, y_select, select_metric="balanced_accuracy")
    scores = fitted.selection_scores
    assert list(scores["C"]) == list(probe.C_GRID) and scores["converged"].dtype == bool
    assert fitted.select_metric == "balanced_accuracy"
    assert fitted.chosen["C"] == scores.loc[scores["score"].idxmax(), "C"]  # idxmax: the first maximum
    np.testing.assert_allclose(fitted.predict_proba(x_select).sum(axis=1), 1.0)


def test_bad_inputs_are_errors():
    x, y = blobs(COUNTS)
    with pytest.raises(ValueError, match="select_metric"):
        probe.fit_select(x, y, x, y, select_metric="roc")
    with pytest.raises(ValueError, match="at least 2"):
        probe.fit_select(x[:5], ["world"] * 5, x, y)
    with pytest.raises(ValueError, match="unknown labels"):
        probe.fit_select(x, y, x, ["blues"] * len(y))
    poisoned = x.copy()
    poisoned[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        probe.fit_select(poisoned, y, x, y)
    with pytest.raises(ValueError, match="one track"):
        svm.fit_select(x[:13], y[:13], x, y)  # electronic has a single training track


# ---------------------------------------------------------------------------------------------- files and leaks


def make_tables(folder, poison_test: bool = False):
    """Index rows of three splits and two shard tables mixing them; the evaluation rows NaN when poisoned."""
    rows, values = [], []
    for split, seed in (("training", 1), ("development", 2), ("evaluation", 3)):
        x, y = blobs(dict.fromkeys(CLASSES, 5), seed=seed, spread=1.5)
        for k, (vector, label) in enumerate(zip(x, y, strict=True)):
            rows.append({"track_id": f"{split}-{k:04d}", "split": split, "label": label})
            values.append(np.full_like(vector, np.nan) if poison_test and split == "evaluation" else vector)
    index = pd.DataFrame(rows)
    names = [f"f{k}" for k in range(len(values[0]))]
    tables = []
    for shard in range(2):
        ids = list(index["track_id"][shard::2])
        path = folder / f"shard{shard}.tsv"
        write_feature_table(path, ids, np.array(values[shard::2]), names, n_windows=[1] * len(ids))
        tables.append(path)
    return index, tables


def split(index, name):
    return index[index["split"] == name].reset_index(drop=True)


@pytest.mark.parametrize("baseline", runs.BASELINES)
def test_selection_never_reads_the_test_tracks(tmp_path, monkeypatch, baseline):
    index, clean = make_tables(tmp_path / "clean")
    _, poisoned = make_tables(tmp_path / "poisoned", poison_test=True)
    if baseline == "mfcc_svm":
        monkeypatch.setitem(runs.FIT_SELECT, baseline, lambda *a: svm.fit_select(*a, grid=SMALL_SVM_GRID))
    requested: list[str] = []
    original = runs.load_tracks

    def recording(tables, tracks):
        requested.extend(tracks["track_id"])
        return original(tables, tracks)

    monkeypatch.setattr(runs, "load_tracks", recording)
    train, select, test = (split(index, s) for s in ("training", "development", "evaluation"))
    fitted = runs.fit_from_tables(baseline, poisoned, train, select)  # NaN test rows: reading one would fail
    assert set(requested) == set(train["track_id"]) | set(select["track_id"])
    assert set(fitted.train_ids) == set(train["track_id"]) and set(fitted.select_ids) == set(select["track_id"])
    reference = runs.fit_from_tables(baseline, clean, train, select)
    pd.testing.assert_frame_equal(fitted.selection_scores, reference.selection_scores)

    record_path = tmp_path / "selection.json"
    runs.write_selection_record(fitted, record_path)
    runs.check_selection_record(record_path, test["track_id"])  # passes: read from the file
    record = json.loads(record_path.read_text())
    assert record["chosen"] == fitted.chosen and len(record["grid"]) == len(fitted.selection_scores)
    with pytest.raises(ValueError, match="test track"):
        runs.check_selection_record(record_path, [train["track_id"][0], "evaluation-0000"])
    with pytest.raises(ValueError, match="both in training and selection"):
        runs.fit_from_tables(baseline, clean, train, pd.concat([select, train.head(1)]))


def test_predictions_and_metrics_files_have_the_ast_runs_format(tmp_path, monkeypatch):
    monkeypatch.setitem(runs.FIT_SELECT, "mfcc_svm", lambda *a: svm.fit_select(*a, grid=SMALL_SVM_GRID))
    index, tables = make_tables(tmp_path)
    fitted = runs.fit_from_tables("mfcc_svm", tables, split(index, "training"), split(index, "development"))
    test = split(index, "evaluation")
    metrics = runs.write_predictions(
        fitted,
        tables,
        test,
        split="evaluation",
        predictions_path=tmp_path / "predictions_evaluation.tsv",
        metrics_path=tmp_path / "metrics_evaluation.json",
    )
    predictions = pd.read_csv(tmp_path / "predictions_evaluation.tsv", sep="\t")
    assert tuple(predictions.columns) == PREDICTION_COLUMNS
    assert list(predictions["track_id"]) == list(test["track_id"]) and (predictions["n_windows"] == 1).all()
    assert (predictions["predicted"] == np.asarray(CLASSES)[predictions[list(PROB_COLUMNS)].to_numpy().argmax(1)]).all()
    on_disk = json.loads((tmp_path / "metrics_evaluation.json").read_text())
    assert on_disk == metrics and (on_disk["variant"], on_disk["seed"], on_disk["split"]) == (
        "mfcc_svm",
        0,
        "evaluation",
    )
    recomputed = track_metrics(list(predictions["label"]), predictions[list(PROB_COLUMNS)].to_numpy())
    assert on_disk["accuracy"] == pytest.approx(recomputed["accuracy"]) and on_disk["n_tracks"] == len(test)


def test_tables_round_trip_ids_and_nan(tmp_path):
    path = tmp_path / "t.tsv"
    write_feature_table(path, ["NA", "a/b"], np.array([[np.nan, 0.1], [1e-300, -2.5]]), ["x", "y"], n_windows=[1, 3])
    rows = read_features([path], ["a/b", "NA", "gone"], missing="skip")
    assert rows.track_ids == ("a/b", "NA") and list(rows.n_windows) == [3, 1]
    assert np.isnan(rows.values[1, 0]) and rows.values[0, 0] == 1e-300 and rows.values[1, 1] == 0.1
    with pytest.raises(ValueError, match="in no feature table"):
        read_features([path], ["gone"])
    with pytest.raises(ValueError, match="more than one"):
        read_features([path, path], ["NA"])


def test_a_baseline_fit_job_imports_neither_torch_nor_transformers():
    """The fit jobs (one per baseline and protocol fold) are mostly start-up: their script imports scikit-learn only."""
    import subprocess
    import sys

    heavy = "{'torch', 'transformers'}"
    code = f"import sys, astgenre.baselines.runs, astgenre.logs; print(sorted({heavy} & sys.modules.keys()))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
