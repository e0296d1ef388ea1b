"""neuronbench.protocol.metrics and neuronbench.protocol.scoring: the metrics and chance
levels on hand-computed examples, and the pooled score of folds."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.metrics import chance_by_metric, chance_levels, classification_metrics
from neuronbench.protocol.scoring import class_probabilities, pooled_chance, pooled_score, predictions, score_fold

CLASSES = ["a", "b", "c", "d"]
Y_TRUE = ["a", "a", "b", "b", "c"]
Y_PRED = ["a", "b", "b", "b", "a"]


def test_hand_computed_example():
    m = classification_metrics(Y_TRUE, Y_PRED, CLASSES)
    # a: TP 1, FP 1, FN 1 -> 2/4; b: TP 2, FP 1, FN 0 -> 4/5; c: TP 0, FN 1 -> 0;
    # d occurs nowhere -> None and left out of the mean.
    assert m["per_class_f1"] == {"a": 0.5, "b": 0.8, "c": 0.0, "d": None}
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 2 + 0 / 1) / 3)
    assert m["confusion_matrix"] == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    assert m["n"] == 5


def test_class_only_predicted_counts_in_macro_f1():
    m = classification_metrics(["a", "a"], ["a", "b"], ["a", "b", "c"])
    assert m["per_class_f1"] == {"a": pytest.approx(2 / 3), "b": 0.0, "c": None}
    assert m["macro_f1"] == pytest.approx(1 / 3)
    assert m["balanced_accuracy"] == pytest.approx(0.5)  # recall over classes in y_true


def test_values_are_json_ready_plain_types():
    m = classification_metrics(np.array(Y_TRUE), np.array(Y_PRED), tuple(CLASSES))
    json.dumps(m, allow_nan=False)
    for key in ("macro_f1", "accuracy", "balanced_accuracy"):
        assert type(m[key]) is float
    assert type(m["n"]) is int
    assert all(type(v) is int for row in m["confusion_matrix"] for v in row)
    assert all(v is None or type(v) is float for v in m["per_class_f1"].values())


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_agrees_with_sklearn_on_random_labels():
    rng = np.random.default_rng(0)
    classes = ["x", "y", "z", "w", "v"]
    for _ in range(20):
        t = rng.choice(classes[:4], size=30)
        p = rng.choice(classes, size=30)
        m = classification_metrics(t, p, classes)
        assert m["macro_f1"] == pytest.approx(f1_score(t, p, average="macro", zero_division=0))
        assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(t, p))


def test_perfect_predictions():
    m = classification_metrics(["a", "b", "b"], ["a", "b", "b"], ["a", "b"])
    assert m["macro_f1"] == m["accuracy"] == m["balanced_accuracy"] == 1.0


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        (["a", "e"], ["a", "a"], "'e'"),
        (["a", "b"], ["a", "zebra"], "'zebra'"),
        (["a", "b"], ["a"], "must match"),
        ([], [], "empty"),
    ],
)
def test_bad_input_raises(y_true, y_pred, message):
    with pytest.raises(NeuronbenchError, match=message):
        classification_metrics(y_true, y_pred, CLASSES)


def test_duplicate_classes_raise():
    with pytest.raises(NeuronbenchError, match="duplicates"):
        classification_metrics(["a"], ["a"], ["a", "a"])


def test_uniform_chance_hand_computed():
    # n=2, y=[a, b], K=2: the four equally likely guesses score 1/3, 1, 0, 1/3.
    levels = chance_levels(["a", "b"], ["a", "b"])
    assert levels["uniform_macro_f1"] == pytest.approx(5 / 12)


def _brute_force_uniform(y_true: list, classes: list) -> float:
    scores = [
        classification_metrics(y_true, list(guess), classes)["macro_f1"]
        for guess in itertools.product(classes, repeat=len(y_true))
    ]
    return float(np.mean(scores))


@pytest.mark.parametrize(
    "y_true, classes",
    [
        (["a", "a", "a", "b", "c"], ["a", "b", "c"]),
        (["a", "b", "b", "b", "b", "c"], ["c", "b", "a"]),
        (["a", "a", "b", "b"], ["a", "b"]),
    ],
)
def test_uniform_chance_is_the_exact_expectation(y_true, classes):
    expected = _brute_force_uniform(y_true, classes)
    assert chance_levels(y_true, classes)["uniform_macro_f1"] == pytest.approx(expected, abs=1e-12)


def test_uniform_chance_with_a_class_absent_from_y_true_is_within_the_bound():
    y_true, classes = ["a", "a", "b", "b", "b", "a", "b"], ["a", "b", "c"]
    exact = _brute_force_uniform(y_true, classes)
    bound = 1 * (1 - 1 / 3) ** len(y_true)
    value = chance_levels(y_true, classes)["uniform_macro_f1"]
    assert abs(value - exact) <= bound
    assert value != pytest.approx(exact, abs=1e-6)  # it is an approximation here


def test_uniform_chance_large_n_matches_the_frequency_limit():
    # For large n, E[F1_c] -> 2 p_c q / (p_c + q) with q = 1/K.
    y = ["a"] * 6000 + ["b"] * 3000 + ["c"] * 1000
    p, q = np.array([0.6, 0.3, 0.1]), 1 / 3
    limit = float(np.mean(2 * p * q / (p + q)))
    assert chance_levels(y, ["a", "b", "c"])["uniform_macro_f1"] == pytest.approx(limit, abs=1e-3)


def test_majority_chance():
    levels = chance_levels(["a", "a", "b", "c"], ["a", "b", "c"])
    # always "a": F1_a = 2*2 / (2*2 + 2) = 2/3; b, c score 0.
    assert levels["majority_macro_f1"] == pytest.approx(2 / 9)
    # a class absent from y_true is never predicted by the majority rule: not averaged
    levels = chance_levels(["a", "a", "b", "c"], ["a", "b", "c", "d"])
    assert levels["majority_macro_f1"] == pytest.approx(2 / 9)


def test_majority_tie_goes_to_first_listed_class():
    assert chance_levels(["b", "a"], ["b", "a"])["majority_macro_f1"] == pytest.approx(
        (2 / 3) / 2
    )


def test_chance_levels_plain_floats_and_errors():
    levels = chance_levels(["a", "b", "b"], ["a", "b"])
    assert set(levels) == {"uniform_macro_f1", "majority_macro_f1"}
    assert all(type(v) is float and math.isfinite(v) for v in levels.values())
    with pytest.raises(NeuronbenchError, match="'q'"):
        chance_levels(["a", "q"], ["a", "b"])
    with pytest.raises(NeuronbenchError, match="empty"):
        chance_levels([], ["a", "b"])


def test_single_class_task():
    assert chance_levels(["a", "a"], ["a"]) == {"uniform_macro_f1": 1.0, "majority_macro_f1": 1.0}


CHANCE_CASES = [
    (["a", "a", "a", "b", "c"], ["a", "b", "c"]),
    (["a", "b", "b", "b", "b", "c"], ["c", "b", "a"]),
    (["a", "a", "b", "b"], ["a", "b"]),
    (["b", "a", "b", "a", "b"], ["a", "b", "c"]),  # "c" absent from y_true
]


@pytest.mark.parametrize("y_true, classes", CHANCE_CASES)
@pytest.mark.parametrize("metric", ["accuracy", "balanced_accuracy", "macro_f1"])
def test_each_metrics_chance_matches_brute_force(y_true, classes, metric):
    """Uniform: the mean over every one of the K^n equally likely guesses. Majority: the
    constant prediction of the most frequent class (first listed on ties)."""
    guesses = [classification_metrics(y_true, list(g), classes)[metric]
               for g in itertools.product(classes, repeat=len(y_true))]
    counts = [y_true.count(c) for c in classes]
    majority = classes[counts.index(max(counts))]
    constant = classification_metrics(y_true, [majority] * len(y_true), classes)[metric]
    chance = chance_by_metric(y_true, classes)[metric]
    assert chance["majority"] == pytest.approx(constant, abs=1e-12)
    if metric == "macro_f1" and min(counts) == 0:  # the documented approximation
        assert abs(chance["uniform"] - np.mean(guesses)) <= (1 - 1 / len(classes)) ** len(y_true)
    else:
        assert chance["uniform"] == pytest.approx(float(np.mean(guesses)), abs=1e-12)


def test_chance_closed_forms_per_metric():
    y = ["a"] * 5 + ["b"] * 3 + ["c"] * 2
    chance = chance_by_metric(y, ["a", "b", "c", "d"])
    assert chance["accuracy"] == {"uniform": pytest.approx(1 / 4), "majority": pytest.approx(5 / 10)}
    # the majority rule recalls one of the three classes present
    assert chance["balanced_accuracy"] == {"uniform": pytest.approx(1 / 4), "majority": pytest.approx(1 / 3)}
    assert chance["macro_f1"]["majority"] == pytest.approx((2 * 5 / (10 + 5)) / 3)
    # the three metrics' chance levels differ: one metric's chance cannot stand for another's
    assert len({chance[m]["majority"] for m in chance}) == 3
    assert chance_levels(y, ["a", "b", "c", "d"]) == {
        "uniform_macro_f1": chance["macro_f1"]["uniform"], "majority_macro_f1": chance["macro_f1"]["majority"]}


def test_uniform_chance_matches_a_simulation():
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c"]
    y = list(rng.choice(classes, size=40, p=[0.6, 0.3, 0.1]))
    draws = [classification_metrics(y, list(rng.choice(classes, size=len(y))), classes) for _ in range(4000)]
    chance = chance_by_metric(y, classes)
    for metric in chance:
        values = [d[metric] for d in draws]
        standard_error = np.std(values) / np.sqrt(len(values))
        assert chance[metric]["uniform"] == pytest.approx(np.mean(values), abs=4 * standard_error)


def test_protocol_does_not_import_torch():
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, neuronbench.protocol.scoring, neuronbench.protocol.record; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


# -- the one scorer: a fold, folds pooled, probe seeds averaged ---------------------------


class MajorityProbe:
    """A stand-in probe: predicts its training set's most frequent label; records its calls."""

    calls: list = []

    def __init__(self, name, seed):
        self.name, self.seed = name, seed

    def fit(self, X, y, X_val=None, y_val=None):
        MajorityProbe.calls.append((self.name, self.seed, len(y), None if y_val is None else len(y_val)))
        values, counts = np.unique(y, return_counts=True)
        self.classes_, self.label_ = values, values[np.argmax(counts)]
        self.best_params_ = {"seed": self.seed}
        return self

    def predict(self, X):
        return np.full(len(X), self.label_)

    def predict_proba(self, X):
        return np.tile((self.classes_ == self.label_).astype(float), (len(X), 1))


def test_score_fold_runs_the_deterministic_probe_once_and_the_others_per_probe_seed():
    ids = [f"n{i}" for i in range(10)]
    emb = pd.DataFrame(np.arange(20.0).reshape(10, 2), index=ids)
    labels = pd.Series(["a"] * 6 + ["b"] * 4, index=ids)
    MajorityProbe.calls = []
    out = score_fold(emb, labels, ids[:5], ids[5:7], ids[7:], ["a", "b"], ("linear", "mlp"), (3, 4), MajorityProbe)
    assert MajorityProbe.calls == [("linear", 3, 5, 2), ("mlp", 3, 5, 2), ("mlp", 4, 5, 2)]
    assert out["y_true"] == {"neuron_id": ids[7:], "label": ["b", "b", "b"]}
    assert [e["probe_seed"] for e in out["probes"]["mlp"]] == [3, 4]
    entry = out["probes"]["linear"][0]
    assert entry["y_pred"] == ["a", "a", "a"] and entry["params"] == {"seed": 3}
    assert entry["proba"] == [[1.0, 0.0]] * 3  # columns in the task's class order
    assert entry["metrics"] == classification_metrics(["b"] * 3, ["a"] * 3, ["a", "b"])
    assert out["chance"] == chance_levels(["b"] * 3, ["a", "b"])
    MajorityProbe.calls = []
    score_fold(emb, labels, ids[:7], [], ids[7:], ["a", "b"], ("linear",), (0,), MajorityProbe)
    assert MajorityProbe.calls == [("linear", 0, 7, None)]  # no validation ids: fit without them


def test_class_probabilities_follow_the_task_classes_and_give_unseen_classes_zero():
    proba = np.array([[0.25, 0.75], [0.123456789, 0.876543211]])
    got = class_probabilities(proba, np.array(["c", "a"]), ["a", "b", "c"])
    assert got.tolist() == [[0.75, 0.0, 0.25], [0.876543, 0.0, 0.123457]]


def test_pooled_score_pools_the_folds_then_averages_the_probe_seeds():
    classes = ["a", "b"]
    fold1 = (["a", "a", "b"], {0: ["a", "a", "a"], 1: ["a", "b", "b"]})
    fold2 = (["b"], {0: ["b"], 1: ["a"]})
    got = pooled_score([fold1, fold2], classes)
    by_seed = [classification_metrics(["a", "a", "b", "b"], pred, classes) for pred in
               (["a", "a", "a", "b"], ["a", "b", "b", "a"])]
    for metric in ("macro_f1", "accuracy", "balanced_accuracy"):
        assert got[metric] == pytest.approx(np.mean([s[metric] for s in by_seed]), abs=1e-15)
    # pooled, not the mean of the folds' own scores (fold 2 alone scores 1.0 or 0.0)
    fold_mean = np.mean([classification_metrics(t, p[s], classes)["macro_f1"] for t, p in (fold1, fold2) for s in (0, 1)])
    assert got["macro_f1"] != pytest.approx(fold_mean)
    with pytest.raises(NeuronbenchError, match="probe seeds differ across folds: f1.json, f2.json"):
        pooled_score([fold1, (["b"], {0: ["b"]})], classes, ["f1.json", "f2.json"])


def test_predictions_are_checked_against_the_test_labels():
    scored = {"y_true": {"label": ["a", "b"]}, "probes": {"linear": [{"probe_seed": 0, "y_pred": ["a"]}]}}
    with pytest.raises(NeuronbenchError, match=r"r.json: field 'probes.linear\[probe_seed=0\].y_pred': expected a list of 2"):
        predictions(scored, "linear", "r.json")
    with pytest.raises(NeuronbenchError, match="r.json: field 'probes.mlp': expected at least one probe seed"):
        predictions(scored, "mlp", "r.json")
    with pytest.raises(NeuronbenchError, match="r.json: field 'y_true.label': expected a list"):
        predictions({"y_true": None, "probes": {}}, "linear", "r.json")


def test_pooled_chance_is_the_chance_of_the_concatenated_labels():
    assert pooled_chance([["a", "a"], ["b"], ["c", "a"]], ["a", "b", "c"]) == chance_by_metric(
        ["a", "a", "b", "c", "a"], ["a", "b", "c"])
