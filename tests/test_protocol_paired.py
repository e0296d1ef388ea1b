"""The paired comparison of two methods (`neuronbench.protocol.paired`) and its columns in
the leaderboard."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.metrics import classification_metrics
from neuronbench.protocol.paired import METRICS, SeedPredictions, _scores, paired_difference
from neuronbench.protocol.record import iter_records
from neuronbench.reports.aggregate import NOT_SIGNIFICANT, aggregate, paired_rows
from neuronbench.reports.markdown import render_markdown
from tests.test_leaderboard import DATASET, results, row, table_row  # noqa: F401 (the results fixture)

CLASSES = ["a", "b", "c", "d"]
N = 200
IDS = [f"m{i % 4}/u{i}" for i in range(N)]
Y_TRUE = [CLASSES[i % 4] for i in range(N)]


def predictions(skill: float, seed: int, n_probe_seeds: int = 2) -> SeedPredictions:
    """Right with probability ``skill`` per neuron and probe seed, else a random class."""
    runs = []
    for probe_seed in range(n_probe_seeds):
        rng = np.random.default_rng([seed, probe_seed, int(skill * 100)])
        guess = rng.choice(CLASSES, size=N)
        runs.append([y if rng.random() < skill else str(g) for y, g in zip(Y_TRUE, guess)])
    return SeedPredictions(IDS, Y_TRUE, runs)


def test_identical_predictions_differ_by_zero_and_are_not_significant() -> None:
    a = {s: predictions(0.6, s) for s in range(3)}
    result = paired_difference(a, dict(a), CLASSES, metrics=METRICS)
    for metric, d in result.items():
        assert d.diff == 0.0 and d.ci_low <= 0.0 <= d.ci_high and not d.significant, metric
        assert d.n_seeds == 3


def test_a_method_right_on_every_neuron_is_significantly_better() -> None:
    right = {s: SeedPredictions(IDS, Y_TRUE, [Y_TRUE]) for s in range(3)}
    wrong = {s: SeedPredictions(IDS, Y_TRUE, [[CLASSES[(i + 1) % 4] for i in range(N)]]) for s in range(3)}
    d = paired_difference(right, wrong, CLASSES)["macro_f1"]
    assert d.diff == 1.0 and d.ci_low == 1.0 and d.significant
    reverse = paired_difference(wrong, right, CLASSES)["macro_f1"]
    assert reverse.diff == -1.0 and reverse.ci_high < 0 and reverse.significant


def test_point_estimate_is_the_leaderboards_seed_score_difference() -> None:
    """Per shared seed: metric of each probe seed's predictions, averaged over probe seeds
    (the two methods may have different numbers of probe seeds); then averaged over seeds."""
    a = {s: predictions(0.7, s, n_probe_seeds=3) for s in range(3)}
    b = {s: predictions(0.5, 10 + s, n_probe_seeds=1) for s in range(3)}
    result = paired_difference(a, b, CLASSES, metrics=METRICS)
    for metric in METRICS:
        def score(p: SeedPredictions) -> float:
            return float(np.mean([classification_metrics(p.y_true, y, CLASSES)[metric] for y in p.y_pred]))
        expected = np.mean([score(a[s]) - score(b[s]) for s in range(3)])
        assert result[metric].diff == pytest.approx(expected, abs=1e-12)
        assert result[metric].ci_low < result[metric].diff < result[metric].ci_high


def test_batched_scores_follow_classification_metrics() -> None:
    """The bootstrap's confusion-matrix scoring has the one scorer's definitions, including a
    class absent from y_true (recall left out) and one never seen (F1 left out)."""
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "b", "c", "b", "b", "a"]  # "c" is predicted and true, "d" neither: its F1 is undefined
    for true, pred in ((y_true, y_pred), (y_true[:3], ["a", "d", "a"])):
        expected = classification_metrics(true, pred, CLASSES)
        cm = np.array(expected["confusion_matrix"], dtype=float)
        assert _scores(cm, METRICS).tolist() == pytest.approx([expected[m] for m in METRICS], abs=1e-12)


def test_same_input_same_interval_and_the_bootstrap_seed_is_used() -> None:
    a = {s: predictions(0.7, s) for s in range(3)}
    b = {s: predictions(0.65, 10 + s) for s in range(3)}
    first = paired_difference(a, b, CLASSES, metrics=METRICS)
    assert paired_difference(a, b, CLASSES, metrics=METRICS) == first
    other = paired_difference(a, b, CLASSES, seed=1)["macro_f1"]
    assert other.diff == first["macro_f1"].diff and other.ci_low != first["macro_f1"].ci_low


def test_a_consistent_paired_gain_is_significant_though_the_seed_spreads_overlap() -> None:
    """Encoder seeds of very different quality (shared by both methods, e.g. a good and a
    bad pretraining run) make the two cells' mean ± std overlap; method a is right on every
    neuron b gets right and on 10 % more, so the paired difference is consistently positive."""
    a, b = {}, {}
    for s, base in enumerate((0.4, 0.6, 0.8)):
        n_right = int(base * N)
        b_pred = [y if i < n_right else CLASSES[(CLASSES.index(y) + 1) % 4] for i, y in enumerate(Y_TRUE)]
        a_pred = [y if i < n_right + N // 10 else p for i, (y, p) in enumerate(zip(Y_TRUE, b_pred))]
        a[s], b[s] = SeedPredictions(IDS, Y_TRUE, [a_pred]), SeedPredictions(IDS, Y_TRUE, [b_pred])
    cell = {name: [classification_metrics(Y_TRUE, p[s].y_pred[0], CLASSES)["macro_f1"] for s in range(3)]
            for name, p in (("a", a), ("b", b))}
    mean = {k: np.mean(v) for k, v in cell.items()}
    std = {k: np.std(v, ddof=1) for k, v in cell.items()}
    assert mean["a"] - std["a"] < mean["b"] + std["b"]  # unpaired error bars overlap
    d = paired_difference(a, b, CLASSES)["macro_f1"]
    assert d.diff == pytest.approx(mean["a"] - mean["b"]) and d.ci_low > 0 and d.significant


def test_only_shared_seeds_are_compared() -> None:
    a = {s: predictions(0.7, s) for s in (0, 1, 2)}
    a[0] = SeedPredictions(IDS, Y_TRUE, [Y_TRUE])  # a perfect seed 0 that b lacks
    b = {s: predictions(0.6, 10 + s) for s in (1, 2, 3)}
    d = paired_difference(a, b, CLASSES)["macro_f1"]
    assert d.n_seeds == 2
    assert d == paired_difference({s: a[s] for s in (1, 2)}, {s: b[s] for s in (1, 2)}, CLASSES)["macro_f1"]
    none = paired_difference({0: a[0]}, {3: b[3]}, CLASSES)["macro_f1"]
    assert none.n_seeds == 0 and math.isnan(none.diff) and not none.significant


def test_seeds_tested_on_the_same_neurons_share_the_neuron_draw() -> None:
    """Crossed seeds x neurons: the test set is one sample, so more seeds of the same
    quality must not narrow the interval; seeds on different neurons (nested) average."""
    a, b = predictions(0.7, 0), predictions(0.6, 10)
    single = paired_difference({0: a}, {0: b}, CLASSES)["macro_f1"]
    crossed = paired_difference({s: a for s in range(4)}, {s: b for s in range(4)}, CLASSES)["macro_f1"]
    assert crossed.n_seeds == 4 and crossed.diff == pytest.approx(single.diff)
    assert (crossed.ci_low, crossed.ci_high) == pytest.approx((single.ci_low, single.ci_high))

    def renamed(p: SeedPredictions, s: int) -> SeedPredictions:
        return SeedPredictions([f"seed{s}/{i}" for i in p.neuron_ids], p.y_true, p.y_pred)
    nested = paired_difference({s: renamed(a, s) for s in range(4)}, {s: renamed(b, s) for s in range(4)},
                               CLASSES)["macro_f1"]
    assert nested.diff == pytest.approx(single.diff)
    assert nested.ci_high - nested.ci_low < 0.8 * (single.ci_high - single.ci_low)


def test_neurons_are_paired_by_id_not_position() -> None:
    a = {s: predictions(0.7, s) for s in range(2)}
    b = {s: predictions(0.6, 10 + s) for s in range(2)}
    order = np.random.default_rng(0).permutation(N)
    shuffled = {s: SeedPredictions([IDS[i] for i in order], [Y_TRUE[i] for i in order],
                                   [[y[i] for i in order] for y in p.y_pred]) for s, p in b.items()}
    assert paired_difference(a, shuffled, CLASSES) == paired_difference(a, b, CLASSES)
    fewer = {s: SeedPredictions(IDS[1:], Y_TRUE[1:], [y[1:] for y in p.y_pred]) for s, p in b.items()}
    with pytest.raises(NeuronbenchError, match="different neurons"):
        paired_difference(a, fewer, CLASSES)
    relabelled = {s: SeedPredictions(IDS, Y_TRUE[1:] + Y_TRUE[:1], p.y_pred) for s, p in b.items()}
    with pytest.raises(NeuronbenchError, match="different labels"):
        paired_difference(a, relabelled, CLASSES)


# ---------------------------------------------------------------- in the leaderboard

def test_paired_rows_compare_the_best_method_with_the_best_baseline_and_control(results: Path) -> None:
    records = list(iter_records(results))
    df = aggregate(records)
    paired = paired_rows(df, records)
    assert paired_rows(df, records).equals(paired)  # byte-stable
    for setting, versus, other in (("transductive", "baseline", "neuprint"), ("transductive", "control", "random"),
                                   ("inductive", "control", "random")):
        p = paired[(paired["setting"] == setting) & (paired["versus"] == versus) & (paired["metric"] == "macro_f1")]
        assert len(p) == 1 and p.iloc[0]["method"] == "nuclr" and p.iloc[0]["other"] == other
        # every seed shared: the paired difference is the difference of the two cells
        assert p.iloc[0]["diff"] == pytest.approx(row(df, "nuclr", setting)["mean"] - row(df, other, setting)["mean"])
        assert p.iloc[0]["n_seeds"] == 3
        assert p.iloc[0]["significant"] == (p.iloc[0]["ci_low"] > 0 or p.iloc[0]["ci_high"] < 0)
    # the baseline is N/A in the inductive setting: nothing to pair
    assert paired[(paired["setting"] == "inductive") & (paired["versus"] == "baseline")].empty


def test_markers_in_the_rendered_table(results: Path) -> None:
    # a seed of neuprint is missing: its cell has 2 seeds, the comparison 2 shared seeds
    for path in results.rglob("*seed2.json"):
        if "neuprint" in str(path):
            path.unlink()
    records = list(iter_records(results))
    df = aggregate(records)
    paired = paired_rows(df, records)
    md = render_markdown(df, DATASET, paired=paired)
    assert "| random | Winner | Winner − runner-up | Δ vs best baseline | Δ vs best control |" in md
    assert f"{NOT_SIGNIFICANT}: the interval includes 0" in md
    for setting in ("transductive", "inductive"):
        cells = table_row(md, setting)
        for versus, text in zip(("baseline", "control"), cells[-2:]):
            p = paired[(paired["setting"] == setting) & (paired["versus"] == versus) & (paired["metric"] == "macro_f1")]
            if p.empty:
                assert text == "–"
                continue
            p = p.iloc[0]
            expected = f"{p['diff']:+.4f} [{p['ci_low']:+.4f}, {p['ci_high']:+.4f}]"
            expected += "" if p["significant"] else f" {NOT_SIGNIFICANT}"
            expected += " (2 shared seeds)" if versus == "baseline" else ""
            assert text == expected
    # a hand-made pair that is not significant gets the marker, a significant one does not
    forged = paired.copy()
    forged["significant"] = [i % 2 == 0 for i in range(len(forged))]
    md = render_markdown(df, DATASET, paired=forged)
    for setting in ("transductive", "inductive"):
        for versus, text in zip(("baseline", "control"), table_row(md, setting)[-2:]):
            p = forged[(forged["setting"] == setting) & (forged["versus"] == versus) & (forged["metric"] == "macro_f1")]
            if not p.empty:
                assert (NOT_SIGNIFICANT in text) != bool(p.iloc[0]["significant"]), text
    methods = df[df["kind"] == "method"]
    only_methods = render_markdown(methods, DATASET, paired=paired_rows(methods, records))
    assert table_row(only_methods, "transductive")[-2:] == ["–", "–"]


def test_without_paired_rows_the_table_has_no_delta_columns(results: Path) -> None:
    md = render_markdown(aggregate(iter_records(results)), DATASET)
    assert "Δ" not in md and "| nuclr | neuprint | random | Winner |\n" in md
