"""Analysis (not a test, not a method): where each label lives, in single-neuron
statistics or in population co-variation, and at which window length.

Each unit is described (a) by the single-neuron features control (`neuronbench_baselines.features`:
its own rate, ISI, autocorrelogram and waveform statistics) and (b) by the population
control's co-variation statistics (`neuronbench_baselines.population`: correlation with the other
units, with the population, and the spectrum of its most correlated partners; no
stimulus, no behaviour, no labels), computed in non-overlapping windows of
``--windows`` seconds (0 = the whole recording) and averaged over a unit's windows, as
NuCLR's read-out averages its windows. The harness's linear probe scores each
description for every label (``--task``, default all of the dataset's) in every
setting on the leaderboard's folds (split seed 0, probe seed 0; predictions pooled over
folds). The whole-recording row is the `population` control of the leaderboard, the
10 s row what simple statistics of NuCLR's 10 s windows hold, the 1 s row what one
second of co-activity holds. Each table also gives the single-neuron features' score
normalised above chance, (F1 - chance) / (1 - chance), chance being the uniform
macro-F1 of the test labels (the leaderboard's chance column).

A second table asks what a model that must re-identify a unit from one window to the
next (NuCLR's objective) can get from each statistic: its single-window reliability,
ICC = between-unit variance / total variance over a unit's windows of each length
(between-unit variance corrected for the noise of the window mean), next to the
activity level (log firing rate; calcium: mean dF/F), and each label's share of the
between-unit variance (eta^2 of the unit means across classes). A statistic with a low
ICC is mostly window noise in any one window.

    python scripts/population_ceiling.py [--dataset synthetic] [--task cell_class,subclass,region]
                                         [--windows 0,10,1]

`placement` returns the same tables as a JSON-able dict (scripts/realism_audit.py
``--placement`` adds them to the realism audit).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from neuronbench_baselines import FEATURES as FEATURES_INFO
from neuronbench_baselines import POPULATION
from neuronbench_baselines.population import COLUMNS, activity_windows, window_statistics
from neuronbench.data.recording import Recording
from neuronbench.protocol.constants import HEADLINE_PROBE
from neuronbench.protocol.datasets import get_dataset_info, get_task, load_dataset
from neuronbench.protocol.evaluator import Evaluator
from neuronbench.protocol.metrics import chance_by_metric
from neuronbench.protocol.scoring import predictions
from neuronbench.protocol.settings import SETTINGS, make_split
from neuronbench.protocol.tasks import task_table

FEATURES = "single-neuron features"


def score(embeddings: pd.DataFrame, dataset, task, setting: str) -> tuple[float, float]:
    """Linear-probe macro-F1 on the leaderboard's folds, the predictions of all folds
    pooled before scoring (as the leaderboard does), and the chance level (uniform
    macro-F1 of the pooled test labels, `neuronbench.protocol.metrics.chance_by_metric`).
    The linear probe is deterministic: it runs with the first probe seed only."""
    labels = task_table(dataset, task).set_index("neuron_id")["label"]
    evaluator = Evaluator((HEADLINE_PROBE,))
    scored = [evaluator.score_fold(embeddings, labels, fold.train, fold.val, fold.test, task.classes)
              for fold in make_split(dataset, task, setting, 0).folds]
    f1 = evaluator.pooled_score([predictions(fold, HEADLINE_PROBE) for fold in scored], task.classes)[task.main_metric]
    y_true = [y for fold in scored for y in fold["y_true"]["label"]]
    return f1, float(chance_by_metric(y_true, task.classes)[task.main_metric]["uniform"])


def reliability(recordings: list[Recording], labels: dict[str, pd.Series], window_s: float) -> pd.DataFrame:
    """Per statistic (and the activity level): single-window ICC and each label's eta^2,
    means over the recordings (see the module docstring)."""
    rows = []
    for rec in recordings:
        windows, step_s = activity_windows(rec, bin_s=0.1, window_s=window_s)
        level = ((lambda w: np.log((w.sum(0) + 0.5) / (len(w) * step_s))) if rec.modality == "spikes"
                 else (lambda w: w.mean(0)))
        stats = np.stack([np.column_stack([level(w), window_statistics(w, step_s, 10)])
                          for w in windows])  # (windows, units, statistics)
        within = stats.var(axis=0).mean(axis=0)
        means = stats.mean(axis=0)
        between = np.clip(means.var(axis=0) - within / len(windows), 0.0, None)
        with np.errstate(invalid="ignore"):  # a constant statistic (a band the window cannot hold): undefined
            cols = [between / (between + within)]
            for series in labels.values():
                y = series.reindex(rec.neuron_ids).to_numpy()
                keep = ~pd.isna(y)
                class_means = np.stack([means[keep][y[keep] == c].mean(axis=0) for c in np.unique(y[keep])])
                cols.append(class_means.var(axis=0) / means[keep].var(axis=0))
        rows.append(np.column_stack(cols))
    return pd.DataFrame(np.mean(rows, axis=0), index=["activity_level", *COLUMNS],
                        columns=["icc", *(f"eta2 {name}" for name in labels)])


def placement(dataset_name: str, task_names: list[str] | None = None,
              windows: tuple[float, ...] = (0.0, 10.0, 1.0)) -> dict:
    """The tables of the module docstring as a JSON-able dict: per task, each
    description's macro-F1 per setting, the chance level per setting and the features'
    score normalised above chance; per window length, the reliability table."""
    dataset = load_dataset(dataset_name)
    tasks = ([get_task(dataset_name, name) for name in task_names] if task_names
             else list(get_dataset_info(dataset_name).tasks))  # label columns such as `lab` are no task
    recordings = [r.without_labels() for r in dataset.load()]
    columns = {FEATURES: FEATURES_INFO.build(FEATURES_INFO.config("cpu")).embed(recordings)}
    for w in windows:
        name = "population, whole recording" if w <= 0 else f"population, {w:g} s windows"
        columns[name] = POPULATION.build(POPULATION.config("cpu", window_s=w)).embed(recordings)
    out: dict = {"dataset": dataset_name, "settings": list(SETTINGS), "tasks": {}, "reliability": {}}
    for task in tasks:
        scores = {name: [score(emb, dataset, task, s) for s in SETTINGS] for name, emb in columns.items()}
        chance = [c for _, c in scores[FEATURES]]
        out["tasks"][task.name] = {
            "scores": {name: [f1 for f1, _ in cells] for name, cells in scores.items()},
            "chance": chance,
            "features_normalised": [(f1 - c) / (1 - c) for (f1, _), c in zip(scores[FEATURES], chance)]}
    labels = {task.name: task_table(dataset, task).set_index("neuron_id")["label"] for task in tasks}
    for w in (w for w in windows if w > 0):
        table = reliability(recordings, labels, w)
        out["reliability"][f"{w:g}"] = {name: {col: (None if np.isnan(v) else float(v)) for col, v in row.items()}
                                        for name, row in table.iterrows()}
    return out


def placement_markdown(result: dict) -> str:
    """The tables of `placement` in Markdown."""
    lines, settings = [], result["settings"]
    for task, t in result["tasks"].items():
        lines += [f"\n{result['dataset']} / {task}: linear-probe macro-F1 (split seed 0, probe seed 0)\n",
                  "| description | " + " | ".join(settings) + " |", "|---|" + "---|" * len(settings)]
        lines += [f"| {name} | " + " | ".join(f"{f1:.3f}" for f1 in cells) + " |"
                  for name, cells in t["scores"].items()]
        lines.append("| chance (uniform macro-F1) | " + " | ".join(f"{c:.3f}" for c in t["chance"]) + " |")
        lines.append(f"| {FEATURES}, normalised above chance | "
                     + " | ".join(f"{v:.3f}" for v in t["features_normalised"]) + " |")
    for w, table in result["reliability"].items():
        cols = list(next(iter(table.values())))
        lines += [(f"\n{result['dataset']}, {w} s windows: single-window reliability (ICC) and each label's "
                   "share of between-unit variance (eta^2)\n"),
                  "| statistic | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        lines += [f"| {name} | " + " | ".join("–" if v is None else f"{v:.3f}" for v in row.values()) + " |"
                  for name, row in table.items()]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--task", default=None, help="label(s), comma-separated (default: all of the dataset's)")
    p.add_argument("--windows", default="0,10,1", help="window lengths in s, comma-separated; 0 = whole recording")
    args = p.parse_args()
    result = placement(args.dataset, args.task.split(",") if args.task else None,
                       tuple(float(x) for x in args.windows.split(",")))
    print(placement_markdown(result))

if __name__ == "__main__":
    main()
