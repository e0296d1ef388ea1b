"""Analysis (not a test, not a method): how much of a task lives in population
co-variation alone, seen through windows of a given length.

Each unit is described by the population control's co-variation statistics
(`baselines.population`: correlation with the other units, with the population, and
the spectrum of its most correlated partners; no stimulus, no behaviour, no labels),
computed in non-overlapping windows of ``--windows`` seconds (0 = the whole recording)
and averaged over a unit's windows, as NuCLR's read-out averages its windows. The
harness's linear probe scores each description in every setting on the leaderboard's
folds (split seed 0, probe seed 0; predictions pooled over folds), next to the single-neuron features control. The
10 s row is what simple statistics of NuCLR's 10 s windows hold; the whole-recording
row is the `population` control of the leaderboard.

A second table asks what a model that must re-identify a unit from one window to the
next (NuCLR's objective) can get from each statistic: its single-window reliability,
ICC = between-unit variance / total variance over a unit's ``--windows`` windows
(between-unit variance corrected for the noise of the window mean), next to the
activity level (log firing rate; calcium: mean dF/F), and the task's share of the between-unit variance (eta^2 of the unit means
across classes). A statistic with a low ICC is mostly window noise in any one window.

    python scripts/population_ceiling.py [--dataset synthetic] [--task region] [--windows 0,30,10]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from baselines.features import SingleNeuronFeatures
from baselines.population import COLUMNS, PopulationCoupling, activity_windows, window_statistics
from neuronbench.data.catalog import load_dataset
from neuronbench.data.recording import Recording
from neuronbench.evaluate import evaluate_fold
from neuronbench.metrics import classification_metrics
from neuronbench.plugin import SETTINGS
from neuronbench.splits import make_split, task_table
from neuronbench.tasks import get_task


def score(embeddings: pd.DataFrame, dataset, task, setting: str) -> float:
    """Linear-probe macro-F1 on the leaderboard's folds, the predictions of all folds
    pooled before scoring (as the leaderboard does)."""
    labels = task_table(dataset, task).set_index("neuron_id")["label"]
    y_true, y_pred = [], []
    for fold in make_split(dataset, task, setting, 0).folds:
        out = evaluate_fold(embeddings, labels, fold.train, fold.val, fold.test, task.classes, ("linear",), (0,))
        y_true += out["y_true"]["label"]
        y_pred += out["probes"]["linear"][0]["y_pred"]
    return float(classification_metrics(y_true, y_pred, task.classes)["macro_f1"])


def reliability(recordings: list[Recording], labels: pd.Series, window_s: float) -> pd.DataFrame:
    """Per statistic (and the activity level): single-window ICC and the task's eta^2,
    means over the recordings with labels (see the module docstring)."""
    rows = []
    for rec in recordings:
        y = labels.reindex(rec.neuron_ids).to_numpy()
        keep = ~pd.isna(y)
        if not keep.any():
            continue
        windows, step_s = activity_windows(rec, bin_s=0.1, window_s=window_s)
        level = ((lambda w: np.log((w.sum(0) + 0.5) / (len(w) * step_s))) if rec.modality == "spikes"
                 else (lambda w: w.mean(0)))
        stats = np.stack([np.column_stack([level(w), window_statistics(w, step_s, 10)])
                          for w in windows])  # (windows, units, statistics)
        within = stats.var(axis=0).mean(axis=0)
        means = stats.mean(axis=0)
        between = np.clip(means.var(axis=0) - within / len(windows), 0.0, None)
        class_means = np.stack([means[keep][y[keep] == c].mean(axis=0) for c in np.unique(y[keep])])
        with np.errstate(invalid="ignore"):  # a constant statistic (a band above Nyquist): undefined
            rows.append(np.column_stack([between / (between + within),
                                         class_means.var(axis=0) / means[keep].var(axis=0)]))
    return pd.DataFrame(np.mean(rows, axis=0), index=["activity_level", *COLUMNS], columns=["icc", "eta2"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--task", default="region")
    p.add_argument("--windows", default="0,30,10", help="window lengths in s, comma-separated; 0 = whole recording")
    args = p.parse_args()
    dataset = load_dataset(args.dataset)
    task = get_task(args.dataset, args.task)
    recordings = [r.without_labels() for r in dataset.load()]
    columns = {"single-neuron features": SingleNeuronFeatures().embed(recordings)}
    for w in (float(x) for x in args.windows.split(",")):
        name = "population, whole recording" if w <= 0 else f"population, {w:g} s windows"
        columns[name] = PopulationCoupling(window_s=w).embed(recordings)
    print(f"{args.dataset} / {args.task}: linear-probe macro-F1 (split seed 0, probe seed 0)\n")
    print("| description | " + " | ".join(SETTINGS) + " |")
    print("|---|" + "---|" * len(SETTINGS))
    for name, emb in columns.items():
        print(f"| {name} | " + " | ".join(f"{score(emb, dataset, task, s):.3f}" for s in SETTINGS) + " |")
    labels = task_table(dataset, task).set_index("neuron_id")["label"]
    for w in (float(x) for x in args.windows.split(",") if float(x) > 0):
        table = reliability(recordings, labels, w)
        print(f"\n{w:g} s windows: single-window reliability (ICC) and {args.task} share of between-unit variance\n")
        print("| statistic | ICC | eta^2 |\n|---|---|---|")
        for name, row in table.iterrows():
            print(f"| {name} | " + " | ".join("–" if np.isnan(v) else f"{v:.3f}" for v in row) + " |")


if __name__ == "__main__":
    main()
