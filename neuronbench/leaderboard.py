"""The leaderboard: tables and figures regenerated from the result records alone.

``neuronbench leaderboard`` reads every record under ``results/`` and regenerates the
folder ``leaderboards/``, replacing only files it wrote itself (`build_leaderboard`); a
second run changes no byte. How a cell is scored:

1. A *cell* is (dataset, task, setting, method name + preset). For each encoder seed, the
   ``y_true`` and each probe seed's ``y_pred`` of all folds of that seed are pooled and
   scored over the task's classes, and the scores of the probe seeds are averaged
   (`neuronbench.protocol.scoring.pooled_score`): one number per encoder seed.
2. The cell is the mean ± sample standard deviation (ddof=1) over encoder seeds; the
   std is 0 when there is a single seed.
3. In each row, the best method is compared with the best baseline and with the best
   control, paired over their shared encoder seeds and test neurons, with a 95 % interval
   and a marker where it includes 0 (`paired_rows`, `neuronbench.protocol.paired`).
4. Per cell, the per-class F1 and confusion matrix of its best encoder seed
   (`per_class_rows`).
5. Curve records (a label fraction below 1, or fewer pretraining animals:
   `Record.is_headline` false) are never table cells: they are scored like cells into the
   label-efficiency and pretraining-scale curves, which end at the headline cell
   (`curve_rows`).

The folder holds Markdown pages, CSVs and bar figures per dataset, and a static site
(``site/``: `neuronbench.site`, figures from `neuronbench.figures`) linking every cell
to its records.

A seed that lacks some of the expected folds (``n_folds`` in the records) makes the cell
"incomplete (k/n folds)", never a partial number. Records with status
``not_applicable`` make it "N/A" and ``failed`` makes it "failed", with the record's
reason as a footnote. Every metric has its own two chance levels, on the test labels
pooled over folds (`neuronbench.protocol.scoring.pooled_chance`): the expected score of a
uniform random guess over the task's classes and the score of always predicting the
majority class (CSV columns ``chance_uniform`` and ``chance_majority`` of the row's
``metric``).

The records are checked first (`neuronbench.protocol.record.check_comparable`); the
leaderboard refuses (`NeuronbenchError` naming the files) two records of the same run,
records of one method and preset with different config hashes (stale records), one
(dataset, task, setting) on different split versions or checksums, and one dataset with
different data checksums.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple
from urllib.parse import quote

import numpy as np
import pandas as pd

from neuronbench.atomic import atomic_write
from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import KINDS
from neuronbench.protocol.metrics import METRICS, classification_metrics
from neuronbench.protocol.paired import LEVEL, N_BOOT, PairedDifference, SeedPredictions, paired_difference
from neuronbench.protocol.record import Record, check_comparable, iter_records
from neuronbench.protocol.scoring import pool_folds, pooled_chance, pooled_score
from neuronbench.protocol.settings import SETTINGS

METRIC_NAMES = {"macro_f1": "macro-F1", "accuracy": "accuracy (top-1)", "balanced_accuracy": "balanced accuracy"}
METRIC_SHORT = {"macro_f1": "macro-F1", "accuracy": "accuracy", "balanced_accuracy": "balanced accuracy"}
PROBE_ORDER: tuple[str, ...] = ("linear", "mlp", "xgboost")
# (probe, metric) tables of a dataset's page, headline first; other probes follow (macro-F1).
TABLES: tuple[tuple[str, str], ...] = (
    ("linear", "macro_f1"), ("linear", "accuracy"), ("linear", "balanced_accuracy"),
    ("mlp", "macro_f1"), ("xgboost", "macro_f1"),
)
COLUMNS: tuple[str, ...] = (
    "dataset", "task", "n_classes", "setting", "method", "kind", "preset", "config_hash", "probe",
    "metric", "mean", "std", "seed_scores", "n_seeds", "folds", "status", "reason", "chance_uniform",
    "chance_majority",
)
# the paired comparisons (`paired_rows`), file <dataset>-paired.csv
PAIRED_COLUMNS: tuple[str, ...] = (
    "dataset", "task", "setting", "probe", "metric", "method", "preset", "versus", "other", "other_preset",
    "diff", "ci_low", "ci_high", "n_seeds", "significant",
)
VERSUS: tuple[str, ...] = ("baseline", "control")
NOT_SIGNIFICANT = "n.s."
# the per-class view (`per_class_rows`), file <dataset>-per-class.csv
PER_CLASS_COLUMNS: tuple[str, ...] = (
    "dataset", "task", "setting", "method", "kind", "preset", "probe", "encoder_seed", "seed_macro_f1", "class",
    "n_true", "f1", "predicted_counts",
)
# the points of the curves (`curve_rows`), file <dataset>-curves.csv
CURVES: tuple[str, ...] = ("label_efficiency", "pretraining_scale")
CURVE_COLUMNS: tuple[str, ...] = (
    "dataset", "task", "setting", "method", "kind", "preset", "probe", "metric", "curve", "label_fraction",
    "pretrain_animals", "n_pretrain_recordings", "mean", "std", "seed_scores", "n_seeds", "folds", "status",
    "reason",
)
ALL_ANIMALS = "all"  # pretrain_animals of the headline run in the curves
SITE = "site"  # the subfolder of the static site
MANIFEST = "leaderboard-manifest.json"
GENERATOR = "neuronbench leaderboard"
README_TITLE = "# Leaderboards"
README_INTRO = ("This folder is generated by `neuronbench leaderboard` from the result records in "
                "`results/` and is never edited by hand: rerun the command instead.")


# ---------------------------------------------------------------- ordering helpers

def _setting_key(setting: str) -> tuple[int, str]:
    return (SETTINGS.index(setting), "") if setting in SETTINGS else (len(SETTINGS), setting)


def _kind_key(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def _probe_key(probe: str) -> tuple[int, str]:
    return (PROBE_ORDER.index(probe), "") if probe in PROBE_ORDER else (len(PROBE_ORDER), probe)


def column_header(method: str, preset: str) -> str:
    """A method column's name: the method, with its preset unless it is the default "cpu"."""
    return method if preset == "cpu" else f"{method} [{preset}]"


def seed_values(seed_scores: str) -> list[tuple[int, float]]:
    """``[(encoder seed, score)]`` of a ``seed_scores`` cell (``"0:0.871234 1:0.880000"``)."""
    return [(int(seed), float(value)) for seed, value in (item.split(":") for item in str(seed_scores).split())]


# ---------------------------------------------------------------- scoring

def _seed_scores(folds: list[Record], probe: str, classes: list[Any]) -> dict[str, float]:
    """Scores of one encoder seed for one probe (`pooled_score` of its folds)."""
    return pooled_score([r.predictions(probe) for r in folds], classes, [r.where for r in folds])


def _chance(group: list[Record], n_folds: int, classes: list[Any]) -> dict[str, dict[str, float]]:
    """Each metric's chance levels of the test labels pooled over folds (`pooled_chance`;
    each fold's labels taken from the first ok record of that fold); NaN until every fold
    has a record."""
    labels_by_fold: dict[int, list[Any]] = {}
    for r in group:
        if r.status == "ok" and r.fold not in labels_by_fold:
            labels_by_fold[r.fold] = r.test_labels
    if len(labels_by_fold) < n_folds:
        return {m: {"uniform": math.nan, "majority": math.nan} for m in METRICS}
    return pooled_chance([labels_by_fold[fold] for fold in sorted(labels_by_fold)], classes)


def _reasons(records: list[Record]) -> str:
    return "; ".join(sorted({str(r.reason) for r in records}))


def _cell_rows(cell: list[Record], probes: list[str], n_folds: int) -> list[dict[str, Any]]:
    """The rows of one (dataset, task, setting, method, preset): one per probe and metric."""
    classes = list(cell[0].task["classes"])
    seeds = sorted({r.encoder_seed for r in cell})
    ok = [r for r in cell if r.status == "ok"]
    not_applicable = [r for r in cell if r.status == "not_applicable"]
    failed = [r for r in cell if r.status == "failed"]
    rows = []
    for probe in probes:
        # per seed, the ok records (one per fold) that hold this probe
        folds_of = {s: [r for r in ok if r.encoder_seed == s and probe in r.probes] for s in seeds}
        k = min(len({r.fold for r in folds}) for folds in folds_of.values())
        scores: dict[str, list[tuple[int, float]]] = {m: [] for m in METRICS}
        if not_applicable:
            status, reason = "not_applicable", _reasons(not_applicable)
        elif failed:
            status, reason = "failed", _reasons(failed)
        elif k < n_folds:
            short = [f"seed {s}: {len(folds_of[s])}/{n_folds}" for s in seeds if len(folds_of[s]) < n_folds]
            status, reason = "incomplete", f"folds with a {probe} probe missing ({', '.join(short)})"
        else:
            status, reason = "ok", ""
            for s in seeds:
                for metric, value in _seed_scores(folds_of[s], probe, classes).items():
                    scores[metric].append((s, value))
        for metric in METRICS:
            values = [v for _, v in scores[metric]]
            rows.append({
                "probe": probe, "metric": metric,
                "mean": float(np.mean(values)) if values else math.nan,
                "std": (float(np.std(values, ddof=1)) if len(values) > 1 else 0.0) if values else math.nan,
                "seed_scores": " ".join(f"{seed}:{v:.6f}" for seed, v in scores[metric]),
                "n_seeds": len(seeds), "folds": f"{k}/{n_folds}", "status": status, "reason": reason,
            })
    return rows


def _sorted_records(records: Iterable[Record | tuple[Path, Record]]) -> list[Record]:
    """The records, sorted by file (``(path, record)`` pairs as `iter_records` yields them)."""
    out = [item[1] if isinstance(item, tuple) else item for item in records]
    for i, r in enumerate(out):
        if not isinstance(r, Record):
            raise NeuronbenchError(f"record #{i}: expected a neuronbench.protocol.record.Record, "
                                   f"got {type(r).__name__}")
    return sorted(out, key=lambda r: r.where)


def aggregate(records: Iterable[Record | tuple[Path, Record]]) -> pd.DataFrame:
    """Long table, one row per (dataset, task, setting, method column, probe, metric): columns
    dataset, task, n_classes, setting, method, kind, preset, config_hash, probe, metric, mean,
    std, seed_scores (each encoder seed's score, "seed:score" separated by spaces; empty
    without a number), n_seeds, folds (e.g. "6/6"), status ("ok" | "not_applicable" | "failed" |
    "incomplete"), reason, chance_uniform, chance_majority (the row's metric for a uniform
    random guess, expected, and for always predicting the majority class).

    ``records`` are `Record`s or ``(path, record)`` pairs (as `iter_records` yields; a
    record names its file in errors). ``std`` is the sample std over encoder seeds (ddof=1),
    0 with one seed; mean and std are NaN unless the status is "ok". Every cell gets a row
    for every probe found in its dataset's records. Rows are sorted.
    """
    named = _sorted_records(records)
    check_comparable(named)
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for r in named:
        groups[(r.dataset["name"], r.task["name"], r.setting)].append(r)
    probes_of: dict[str, set[str]] = defaultdict(set)
    for r in named:
        if r.status == "ok":
            probes_of[r.dataset["name"]].update(r.probes)
    rows = []
    for (dataset, task, setting), group in groups.items():
        n_folds = max(r.n_folds for r in group)
        classes = list(group[0].task["classes"])
        chance = _chance(group, n_folds, classes)
        probes = sorted(probes_of[dataset] or {"linear"}, key=_probe_key)
        cells: dict[tuple[str, str], list[Record]] = defaultdict(list)
        for r in group:
            cells[(r.method["name"], r.preset)].append(r)
        for (method, preset), cell in cells.items():
            first = cell[0]
            for row in _cell_rows(cell, probes, n_folds):
                rows.append({
                    "dataset": dataset, "task": task, "n_classes": len(classes), "setting": setting,
                    "method": method, "kind": first.method["kind"], "preset": preset,
                    "config_hash": first.method["config_hash"], **row,
                    "chance_uniform": chance[row["metric"]]["uniform"],
                    "chance_majority": chance[row["metric"]]["majority"],
                })
    rows.sort(key=lambda r: (r["dataset"], r["task"], _setting_key(r["setting"]), _kind_key(r["kind"]),
                             r["method"], r["preset"], _probe_key(r["probe"]), METRICS.index(r["metric"])))
    return pd.DataFrame(rows, columns=list(COLUMNS))


# ---------------------------------------------------------------- paired comparisons

def _pooled_predictions(folds: list[Record], probe: str) -> SeedPredictions:
    """One encoder seed's test predictions for one probe, pooled over its folds
    (`pool_folds`): neurons keyed by (fold, neuron id), one list of predictions per probe
    seed, in probe-seed order."""
    folds = sorted(folds, key=lambda r: r.fold)
    y_true, y_pred = pool_folds([r.predictions(probe) for r in folds], [r.where for r in folds])
    ids: list[tuple[int, Any]] = []
    for record in folds:
        neuron_ids = (record.y_true or {}).get("neuron_id")
        if not isinstance(neuron_ids, list) or len(neuron_ids) != len(record.test_labels):
            raise NeuronbenchError(f"{record.where}: field 'y_true.neuron_id': expected a list of "
                                   f"{len(record.test_labels)} neuron ids aligned with y_true.label "
                                   "(needed to pair methods)")
        ids += [(record.fold, n) for n in neuron_ids]
    return SeedPredictions(ids, y_true, [y_pred[s] for s in sorted(y_pred)])


def _cell_key(r: Record) -> tuple[str, str, str, str, str]:
    """(dataset, task, setting, method, preset): the cell a record belongs to."""
    return (r.dataset["name"], r.task["name"], r.setting, r.method["name"], r.preset)


def _ok_cells(records: Iterable[Record | tuple[Path, Record]]) -> dict[tuple, list[Record]]:
    """The records with status "ok", by cell (`_cell_key`), in file order."""
    cells: dict[tuple, list[Record]] = defaultdict(list)
    for r in _sorted_records(records):
        if r.status == "ok":
            cells[_cell_key(r)].append(r)
    return cells


def best_cell(row: pd.DataFrame, kind: str | None = None) -> pd.Series | None:
    """The cell with status "ok" and the highest mean of a table row (of ``kind``, if
    given); the first in column order on a tie; None if there is none."""
    ok = row[(row["status"] == "ok") & ((row["kind"] == kind) if kind else True)]
    return None if ok.empty else ok.loc[ok["mean"].idxmax()]


def paired_rows(df: pd.DataFrame, records: Iterable[Record | tuple[Path, Record]]) -> pd.DataFrame:
    """The paired comparisons of `aggregate`'s table ``df``, built from the same ``records``
    (iterated again: not a spent iterator). In every (dataset, task, setting, probe,
    metric), the best cell of kind "method" (highest mean; the first in column order on a
    tie) against the best baseline and against the best control, scored by
    `paired_difference` over the encoder seeds both have. Only cells with status "ok" are
    compared. Columns `PAIRED_COLUMNS`: ``versus`` is the other's kind, ``diff`` the method
    minus the other, ``[ci_low, ci_high]`` its 95 % interval, ``n_seeds`` the shared encoder
    seeds (0: diff and interval NaN), ``significant`` whether the interval excludes 0.
    Rows are sorted (dataset, task, setting, probe, metric, versus), as ``df``."""
    cells = _ok_cells(records)
    ok = df[df["status"] == "ok"]
    # one bootstrap per pair of cells and probe, every metric at once
    done: dict[tuple, dict[str, PairedDifference]] = {}
    rows = []
    for (dataset, task, setting, probe, metric), sub in ok.groupby(
            ["dataset", "task", "setting", "probe", "metric"], sort=False):
        best = {kind: b for kind in ("method", *VERSUS) if (b := best_cell(sub, kind)) is not None}
        if "method" not in best:
            continue
        a = best["method"]
        for versus in VERSUS:
            if versus not in best:
                continue
            b = best[versus]
            key = (dataset, task, setting, probe, a["method"], a["preset"], b["method"], b["preset"])
            if key not in done:
                by_seed = []
                for method, preset in ((a["method"], a["preset"]), (b["method"], b["preset"])):
                    cell = [r for r in cells[(dataset, task, setting, method, preset)] if probe in r.probes]
                    by_seed.append({s: _pooled_predictions([r for r in cell if r.encoder_seed == s], probe)
                                    for s in sorted({r.encoder_seed for r in cell})})
                classes = list(cells[(dataset, task, setting, a["method"], a["preset"])][0].task["classes"])
                try:
                    done[key] = paired_difference(*by_seed, classes, metrics=METRICS)
                except NeuronbenchError as e:
                    raise NeuronbenchError(f"{dataset}, {task}, {setting}, {probe} probe: cannot pair "
                                           f"{column_header(a['method'], a['preset'])} with "
                                           f"{column_header(b['method'], b['preset'])}: {e}") from None
            d = done[key][metric]
            rows.append({"dataset": dataset, "task": task, "setting": setting, "probe": probe, "metric": metric,
                         "method": a["method"], "preset": a["preset"], "versus": versus, "other": b["method"],
                         "other_preset": b["preset"], "diff": d.diff, "ci_low": d.ci_low, "ci_high": d.ci_high,
                         "n_seeds": d.n_seeds, "significant": d.significant})
    rows.sort(key=lambda r: (r["dataset"], r["task"], _setting_key(r["setting"]), _probe_key(r["probe"]),
                             METRICS.index(r["metric"]), VERSUS.index(r["versus"])))
    return pd.DataFrame(rows, columns=list(PAIRED_COLUMNS))


# ---------------------------------------------------------------- per-class view

def per_class_rows(df: pd.DataFrame, records: Iterable[Record | tuple[Path, Record]]) -> pd.DataFrame:
    """The per-class view of `aggregate`'s table ``df``, from the same (headline) ``records``:
    for every cell with status "ok" and every probe, its best encoder seed (the highest
    macro-F1 in ``seed_scores``; the lowest seed on a tie), whose test predictions pooled
    over folds (`pool_folds`) give, per probe seed, the per-class F1 and the confusion
    matrix (`classification_metrics`), averaged over probe seeds. One row per true class,
    in the task's class order: columns `PER_CLASS_COLUMNS`; ``n_true`` the test neurons of
    the class, ``f1`` its F1 (NaN where undefined for every probe seed: the class neither
    occurs nor is predicted), ``predicted_counts`` the row of the confusion matrix (how
    often the class was predicted as each class, in the order of these rows), space
    separated."""
    cells = _ok_cells(records)
    rows = []
    ok = df[(df["status"] == "ok") & (df["metric"] == "macro_f1")]
    for r in ok.itertuples():
        seed, score = max(seed_values(r.seed_scores), key=lambda sv: (sv[1], -sv[0]))
        folds = sorted((x for x in cells[(r.dataset, r.task, r.setting, r.method, r.preset)]
                        if x.encoder_seed == seed and r.probe in x.probes), key=lambda x: x.fold)
        classes = list(folds[0].task["classes"])
        y_true, by_probe_seed = pool_folds([x.predictions(r.probe) for x in folds], [x.where for x in folds])
        scored = [classification_metrics(y_true, y_pred, classes) for y_pred in by_probe_seed.values()]
        confusion = np.mean([s["confusion_matrix"] for s in scored], axis=0)
        for i, c in enumerate(classes):
            f1 = [s["per_class_f1"][str(c)] for s in scored if s["per_class_f1"][str(c)] is not None]
            rows.append({"dataset": r.dataset, "task": r.task, "setting": r.setting, "method": r.method,
                         "kind": r.kind, "preset": r.preset, "probe": r.probe, "encoder_seed": seed,
                         "seed_macro_f1": score, "class": str(c), "n_true": int(confusion[i].sum()),
                         "f1": float(np.mean(f1)) if f1 else math.nan,
                         "predicted_counts": " ".join(f"{v:g}" for v in confusion[i])})
    return pd.DataFrame(rows, columns=list(PER_CLASS_COLUMNS))


# ---------------------------------------------------------------- curves

def curve_of(record: Record) -> str | None:
    """Which curve a record is a point of: "label_efficiency" (a label fraction below 1,
    all pretraining animals), "pretraining_scale" (fewer pretraining animals, all labels),
    None for a headline run or a point of both (not drawn)."""
    if record.is_headline:
        return None
    if record.pretrain_animals is None:
        return "label_efficiency"
    return "pretraining_scale" if record.label_fraction == 1 else None


def _x_key(x: Any) -> tuple[int, float]:
    """Sort key of a curve's x: numbers ascending, "all" (the headline) last."""
    return (1, 0.0) if x == ALL_ANIMALS else (0, float(x))


def curve_rows(df: pd.DataFrame, records: Iterable[Record | tuple[Path, Record]]) -> pd.DataFrame:
    """The points of the label-efficiency and pretraining-scale curves (`curve_of`), scored
    like the cells of `aggregate` (folds pooled per encoder seed, mean ± std over seeds,
    the same statuses), from ``records`` (headline and curve records together) and
    `aggregate`'s table ``df`` of the headline records: every (dataset, task, setting,
    method, preset) with curve records gets its points and, as the 100 % / all-animals
    point, its headline cell from ``df``. Columns `CURVE_COLUMNS`: ``label_fraction``
    (1.0 on the pretraining-scale curve), ``pretrain_animals`` (``"all"`` on the
    label-efficiency curve and for the headline), ``n_pretrain_recordings`` (from the
    records' split: what "all" means). Records that vary both are left out. Sorted."""
    named = _sorted_records(records)
    points: dict[tuple, list[Record]] = defaultdict(list)
    recordings: dict[tuple, int | None] = {}
    for r in named:
        curve = curve_of(r)
        if curve is not None:
            x = r.label_fraction if curve == "label_efficiency" else r.pretrain_animals
            points[(*_cell_key(r), curve, x)].append(r)
        n = r.split.get("n_pretrain_recordings")
        if n is not None:
            recordings.setdefault((*_cell_key(r), r.label_fraction, r.pretrain_animals), n)
    rows = []
    probes_of: dict[tuple, set[str]] = defaultdict(set)
    for (*cell, curve, x), group in points.items():
        probes = sorted({p for r in group if r.status == "ok" for p in r.probes} or {"linear"}, key=_probe_key)
        probes_of[(*cell, curve)].update(probes)
        fraction, animals = (x, ALL_ANIMALS) if curve == "label_efficiency" else (1.0, x)
        first = group[0]
        for row in _cell_rows(group, probes, max(r.n_folds for r in group)):
            rows.append({**dict(zip(("dataset", "task", "setting", "method", "preset"), cell)),
                         "kind": first.method["kind"], **row, "curve": curve, "label_fraction": fraction,
                         "pretrain_animals": animals,
                         "n_pretrain_recordings": recordings.get((*cell, first.label_fraction,
                                                                           first.pretrain_animals))})
    for (dataset, task, setting, method, preset, curve), probes in probes_of.items():
        head = df[(df["dataset"] == dataset) & (df["task"] == task) & (df["setting"] == setting)
                  & (df["method"] == method) & (df["preset"] == preset) & df["probe"].isin(probes)]
        for h in head.to_dict("records"):
            rows.append({**{c: h[c] for c in CURVE_COLUMNS if c in h}, "curve": curve, "label_fraction": 1.0,
                         "pretrain_animals": ALL_ANIMALS,
                         "n_pretrain_recordings": recordings.get((dataset, task, setting, method, preset, 1.0,
                                                                           None))})
    rows.sort(key=lambda r: (r["dataset"], r["task"], _setting_key(r["setting"]), _kind_key(r["kind"]), r["method"],
                             r["preset"], _probe_key(r["probe"]), METRICS.index(r["metric"]), CURVES.index(r["curve"]),
                             r["label_fraction"], _x_key(r["pretrain_animals"])))
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


# ---------------------------------------------------------------- markdown

def row_keys(df: pd.DataFrame) -> list[tuple[str, str]]:
    """The (task, setting) rows of a table of ``df``, by task then setting order."""
    return sorted({(r.task, r.setting) for r in df[["task", "setting"]].itertuples()},
                  key=lambda k: (k[0], _setting_key(k[1])))


def page_tables(df: pd.DataFrame, dataset: str) -> list[tuple[str, str]]:
    """The (probe, metric) tables of a dataset's page, the headline first (`TABLES`, then
    the macro-F1 of any other probe)."""
    probes = sorted(set(df.loc[df["dataset"] == dataset, "probe"]), key=_probe_key)
    return [t for t in TABLES if t[0] in probes] + [(p, "macro_f1") for p in probes if p not in PROBE_ORDER]


def method_columns(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(kind, method, preset) of every method column: kind "method" first, then "baseline",
    then "control"; alphabetical within a kind."""
    cols = {(r.kind, r.method, r.preset) for r in df[["kind", "method", "preset"]].itertuples()}
    return sorted(cols, key=lambda c: (_kind_key(c[0]), c[1], c[2]))


def _number(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.4f}"


def cells_note(probe: str, metric: str, paired_file: str | None = None) -> str:
    """The line under a table on how its cells (and, given ``paired_file``, the Δ columns) are computed."""
    name = METRIC_SHORT.get(metric, metric)
    delta = "" if paired_file is None else (
        "Δ vs best baseline, Δ vs best control: the best of kind \"method\" in the row minus the best "
        "baseline (control), paired over the encoder seeds both have: the mean of the per-seed differences "
        "(the difference of the two cells when they have the same seeds; \"k shared seeds\" when fewer), "
        f"with its {LEVEL:.0%} interval from a paired bootstrap ({N_BOOT} replicates, each drawing the shared "
        "encoder seeds and the test neurons with replacement, the same neurons for both methods and every seed); "
        f"{NOT_SIGNIFICANT}: the interval includes 0, the difference is not significant; –: no such pair with "
        f"numbers in the row, or no shared seed. Which cells were paired: {paired_file}. "
    )
    return (
        f"Cells: {METRIC_NAMES.get(metric, metric)} of the {probe} probe, mean ± sample std (ddof=1; "
        "0 with one seed) over encoder seeds. Each seed's score is computed on the predictions pooled "
        f"over all folds of the setting, averaged over probe seeds. {delta}"
        "The seeds and folds behind each cell: columns n_seeds and folds of the CSV. "
        f"Chance: the {name} of a uniform random guess over the task's classes (expected value) and of "
        "always predicting the most frequent class, on the test labels pooled over folds."
    )


def paired_file(dataset: str) -> str:
    """The name of a dataset's file of paired comparisons."""
    return f"{dataset}-paired.csv"


def _delta_cell(pair: pd.DataFrame, row: pd.DataFrame) -> str:
    """A Δ cell: ``+0.0123 [+0.0051, +0.0190]``, then the not-significant marker, and the
    number of shared seeds when the two cells (in ``row``) have more; "–" without a
    comparison."""
    if pair.empty or pair.iloc[0]["n_seeds"] == 0:
        return "–"
    p = pair.iloc[0]
    text = f"{p['diff']:+.4f} [{p['ci_low']:+.4f}, {p['ci_high']:+.4f}]"
    if not p["significant"]:
        text += f" {NOT_SIGNIFICANT}"
    return text + shared_seeds_note(p, row)


def shared_seeds_note(p: pd.Series, row: pd.DataFrame) -> str:
    """`` (k shared seeds)`` when the paired comparison ``p`` shares fewer encoder seeds
    than one of its two cells (in ``row``) has, else empty."""
    cell_seeds = max(int(row.loc[(row["method"] == m) & (row["preset"] == preset), "n_seeds"].iloc[0])
                     for m, preset in ((p["method"], p["preset"]), (p["other"], p["other_preset"])))
    return f" ({p['n_seeds']} shared seeds)" if p["n_seeds"] < cell_seeds else ""


def chance_headers(metric: str) -> list[str]:
    """The two chance columns of a table of ``metric``."""
    name = METRIC_SHORT.get(metric, metric)
    return [f"Chance: uniform guess ({name})", f"Chance: majority class ({name})"]


def render_markdown(df: pd.DataFrame, dataset: str, probe: str = "linear", metric: str = "macro_f1",
                    paired: pd.DataFrame | None = None) -> str:
    """One table of `aggregate`'s output for a dataset, probe and metric, with its
    footnotes (reasons for N/A and failed cells) and a line on how the cells are computed.
    Given ``paired`` (`paired_rows` of the same records), two columns "Δ vs best baseline"
    and "Δ vs best control" show the paired differences with their intervals."""
    sub = df[(df["dataset"] == dataset) & (df["probe"] == probe) & (df["metric"] == metric)]
    columns = method_columns(df[df["dataset"] == dataset])
    header = ["Task", "# Classes", "Setting", *chance_headers(metric)]
    header += [column_header(m, p) for _, m, p in columns]
    if paired is not None:
        header += [f"Δ vs best {versus}" for versus in VERSUS]
        paired = paired[(paired["dataset"] == dataset) & (paired["probe"] == probe) & (paired["metric"] == metric)]
    lines = [f"### {probe} probe, {METRIC_NAMES.get(metric, metric)}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    footnotes: dict[str, int] = {}
    for task, setting in row_keys(sub):
        row = sub[(sub["task"] == task) & (sub["setting"] == setting)]
        first = row.iloc[0]
        cells = [task, str(int(first["n_classes"])), setting, _number(first["chance_uniform"]),
                 _number(first["chance_majority"])]
        for kind, method, preset in columns:
            hit = row[(row["method"] == method) & (row["preset"] == preset)]
            if hit.empty:
                cells.append("not run")
                continue
            r = hit.iloc[0]
            if r["status"] == "ok":
                cells.append(f"{r['mean']:.4f} ± {r['std']:.4f}")
            elif r["status"] == "incomplete":
                cells.append(f"incomplete ({r['folds']} folds)")
            else:
                n = footnotes.setdefault(r["reason"], len(footnotes) + 1)
                cells.append(f"{'N/A' if r['status'] == 'not_applicable' else 'failed'} [{n}]")
        if paired is not None:
            for versus in VERSUS:
                pair = paired[(paired["task"] == task) & (paired["setting"] == setting) & (paired["versus"] == versus)]
                cells.append(_delta_cell(pair, row))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", cells_note(probe, metric, None if paired is None else paired_file(dataset))]
    if footnotes:
        lines += [""] + [f"- [{n}] {reason}" for reason, n in footnotes.items()]
    return "\n".join(lines) + "\n"


def _dataset_page(df: pd.DataFrame, dataset: str, paired: pd.DataFrame) -> str:
    """The whole page of a dataset: title and one table per (probe, metric), with the
    paired comparisons ``paired``."""
    parts = [f"# Leaderboard: {dataset}\n\nGenerated by `neuronbench leaderboard` from `results/`; "
             "do not edit by hand. The first table is the headline. Figures, curves, the per-class view and "
             f"links to every record: [{SITE}/{dataset}.html]({SITE}/{dataset}.html) (open it in a browser).\n"]
    parts += [render_markdown(df, dataset, probe, metric, paired) for probe, metric in page_tables(df, dataset)]
    return "\n".join(parts)


def _readme(files_of: dict[str, dict[str, Any]]) -> str:
    lines = [README_TITLE, "", README_INTRO, "",
             f"Browse them as a website: open [{SITE}/index.html]({SITE}/index.html) in a browser "
             "(no server needed).", ""]
    for dataset, f in files_of.items():
        names = [f["md"], f["csv"], f["paired"], f["per_class"], *([f["curves"]] if f["curves"] else []),
                 *f["bars"].values()]
        lines.append(f"- **{dataset}**: " + ", ".join(f"[{n}]({n})" for n in names)
                     + f", [{SITE}/{dataset}.html]({SITE}/{dataset}.html)")
    lines += ["", f"`{MANIFEST}` lists the files the command wrote, with their SHA-256: it replaces or "
              "removes only those, and refuses to touch one that was changed since."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- figures

def figure_png(kind: str, *args: Any) -> bytes:
    """The ``<kind>_figure`` of `neuronbench.figures` ("bar", "confusion", "curve") drawn
    with ``args``, as byte-stable PNG bytes (matplotlib is imported here, on first use:
    the tables need none)."""
    from neuronbench import figures

    return figures.png(getattr(figures, f"{kind}_figure")(*args))


# ---------------------------------------------------------------- the folder

class RecordLink(NamedTuple):
    """A record behind a cell, for the site: its encoder seed, fold, status and the link
    to its file from the site folder."""

    encoder_seed: int
    fold: int
    status: str
    href: str


def record_links(records: Iterable[tuple[Path, Record]], site_dir: Path) -> dict[tuple, list[RecordLink]]:
    """The records of every cell (`_cell_key`) with relative links from ``site_dir`` to
    their files (so a site committed next to ``results/`` links into it), by seed and fold."""
    links: dict[tuple, list[RecordLink]] = defaultdict(list)
    site_dir = Path(site_dir).resolve()
    for path, r in sorted(records, key=lambda pr: (pr[1].encoder_seed, pr[1].fold, str(pr[0]))):
        relative = Path(os.path.relpath(Path(path).resolve(), site_dir)).as_posix()
        links[_cell_key(r)].append(RecordLink(r.encoder_seed, r.fold, r.status, quote(relative)))
    return dict(links)


def _plain(name: str, what: str) -> str:
    """``name`` if it can be part of a file name, else a `NeuronbenchError`."""
    if Path(name).name != name or name in ("", ".", ".."):
        raise NeuronbenchError(f"{what} name {name!r} in the records is not a plain file name")
    return name


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, float_format="%.6f", lineterminator="\n").encode("utf-8")


def render_folder(df: pd.DataFrame, paired: pd.DataFrame, per_class: pd.DataFrame, curves: pd.DataFrame,
                  links: dict[tuple, list[RecordLink]]) -> dict[str, bytes]:
    """Every file of the leaderboard folder, by name relative to it, rendered in memory: per
    dataset a page (``<dataset>.md``), the long table (``<dataset>.csv``), the paired
    comparisons ``paired`` (`paired_rows`; ``<dataset>-paired.csv``), the per-class view
    ``per_class`` (`per_class_rows`; ``<dataset>-per-class.csv``), the curve points
    ``curves`` (`curve_rows`; ``<dataset>-curves.csv``, when there are any) and a bar
    figure per probe (``<dataset>-<probe>.png``); the index ``README.md``; and the static
    site under ``site/`` (`neuronbench.site`: pages, confusion-matrix and curve figures,
    ``links``: `record_links`)."""
    from neuronbench import site

    files: dict[str, bytes] = {}
    files_of: dict[str, dict[str, Any]] = {}
    for dataset in sorted(set(df["dataset"])):
        _plain(dataset, "dataset")
        sub = df[df["dataset"] == dataset]
        pc = per_class[per_class["dataset"] == dataset]
        cv = curves[curves["dataset"] == dataset]
        columns = method_columns(sub)
        names: dict[str, Any] = {"md": f"{dataset}.md", "csv": f"{dataset}.csv", "paired": paired_file(dataset),
                                 "per_class": f"{dataset}-per-class.csv",
                                 "curves": f"{dataset}-curves.csv" if not cv.empty else None,
                                 "bars": {}, "confusion": {}, "curve_figures": {}, "tasks": []}
        files[names["md"]] = _dataset_page(df, dataset, paired).encode("utf-8")
        files[names["csv"]] = _csv(sub)
        files[names["paired"]] = _csv(paired[paired["dataset"] == dataset])
        files[names["per_class"]] = _csv(pc)
        if names["curves"]:
            files[names["curves"]] = _csv(cv)
        probes = sorted(set(sub["probe"]), key=_probe_key)
        for probe in probes:
            keys = row_keys(sub[sub["probe"] == probe])
            names["bars"][probe] = f"{dataset}-{probe}.png"
            files[names["bars"][probe]] = figure_png("bar", df, dataset, probe, columns, keys)
            for task in sorted(set(sub["task"])):
                names["tasks"].append((probe, task))
                mine = pc[(pc["probe"] == probe) & (pc["task"] == task)]
                if mine.empty:
                    continue
                classes = list(dict.fromkeys(mine["class"]))  # the task's class order
                settings = [s for t, s in keys if t == task]
                name = f"{SITE}/{dataset}-{probe}-confusion-{_plain(task, 'task')}.png"
                names["confusion"][(probe, task)] = name
                files[name] = figure_png("confusion", per_class, dataset, probe, task, classes, settings, columns)
            for curve in CURVES:
                points = cv[(cv["probe"] == probe) & (cv["curve"] == curve)]
                if points.empty:
                    continue
                name = f"{SITE}/{dataset}-{probe}-{curve.replace('_', '-')}.png"
                names["curve_figures"][(probe, curve)] = name
                # a line for every column with curve points, with or without a headline cell
                lines = method_columns(pd.concat([sub, cv])[["kind", "method", "preset"]])
                files[name] = figure_png("curve", curves, df, dataset, probe, curve, lines, row_keys(points))
        files_of[dataset] = names
    files.update(site.render_site(df, paired, per_class, curves, links, files_of))
    files["README.md"] = _readme(files_of).encode("utf-8")
    return files


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest_text(hashes: dict[str, str]) -> str:
    return json.dumps({"generator": GENERATOR, "files": dict(sorted(hashes.items()))}, indent=2) + "\n"


def _relative_name(name: Any) -> bool:
    """Whether ``name`` is a file name the manifest may hold: a relative POSIX path inside
    the folder (``a.md``, ``site/a.html``), no ``..``, no absolute path, not the manifest."""
    if not isinstance(name, str) or "\\" in name or name == MANIFEST:
        return False
    path = PurePosixPath(name)
    return path.as_posix() == name and not path.is_absolute() and all(p not in (".", "..") for p in path.parts)


def _read_manifest(out_dir: Path) -> dict[str, str] | None:
    """``{file name: SHA-256}`` from the manifest of an earlier run; None without one."""
    path = out_dir / MANIFEST
    if not path.exists() and not path.is_symlink():
        return None
    refuse = (f"{path}: not a manifest written by `neuronbench leaderboard`; refusing to write into "
              f"{out_dir}, nothing was written (move the file away or choose another --out)")
    if path.is_symlink() or not path.is_file():
        raise NeuronbenchError(refuse)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NeuronbenchError(f"{refuse}: {e}") from None
    files = data.get("files") if isinstance(data, dict) else None
    if (not isinstance(data, dict) or data.get("generator") != GENERATOR or not isinstance(files, dict)
            or not all(isinstance(v, str) and _relative_name(k) for k, v in files.items())):
        raise NeuronbenchError(f"{refuse}: expected {{\"generator\": \"{GENERATOR}\", \"files\": "
                               "{file name inside the folder: sha256}}")
    return files


def _looks_generated(name: str, data: bytes) -> bool:
    """Whether a file of a folder from before manifests has the form this module writes."""
    if name.endswith(".png"):
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if name.endswith(".csv"):
        return data.startswith(tuple((",".join(c) + "\n").encode()
                                     for c in (COLUMNS, PAIRED_COLUMNS, PER_CLASS_COLUMNS, CURVE_COLUMNS)))
    if name == "README.md":
        return data.startswith(f"{README_TITLE}\n\n{README_INTRO}\n".encode())
    return name.endswith(".md") and data.startswith(b"# Leaderboard: ")


def _legacy_files(out_dir: Path) -> dict[str, str | None]:
    """The files of a folder written before manifests existed: its ``README.md`` if it is
    this module's index, and the files that index links to (no hashes known)."""
    readme = out_dir / "README.md"
    if readme.is_symlink() or not readme.is_file() or not _looks_generated("README.md", readme.read_bytes()):
        return {}
    linked = re.findall(r"\]\(([^()/\\]+\.(?:md|csv|png))\)", readme.read_text(encoding="utf-8"))
    return {name: None for name in ["README.md", *linked]}


def _check_out(out_dir: Path, files: dict[str, bytes], known: dict[str, str | None]) -> None:
    """Refuse (naming every file) to replace or remove a file the tool did not write or that
    was changed since it wrote it; a file byte-identical to the new content is fine."""
    problems = []
    folders = sorted({parent for name in files for parent in PurePosixPath(name).parents if parent.name})
    for folder in folders:
        path = out_dir / folder
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            problems.append(f"{path} is not a folder (the leaderboard writes files into it)")
    for name in sorted(set(files) | set(known)):
        path = out_dir / name
        if not path.exists() and not path.is_symlink():
            continue
        if path.is_symlink() or not path.is_file():
            problems.append(f"{path} is not a regular file")
            continue
        data = path.read_bytes()
        if data == files.get(name):
            continue
        if name not in known:
            problems.append(f"{path} was not written by `neuronbench leaderboard` (it is not in {MANIFEST})")
        elif known[name] is None and not _looks_generated(name, data):
            problems.append(f"{path} is listed in the folder's README.md but is not a file this tool writes")
        elif known[name] is not None and _sha256(data) != known[name]:
            problems.append(f"{path} was changed after `neuronbench leaderboard` wrote it (its SHA-256 "
                            f"differs from {MANIFEST})")
    if problems:
        raise NeuronbenchError(
            f"refusing to write the leaderboard into {out_dir}; nothing was written: " + "; ".join(problems)
            + ". Move or rename these files (or choose another --out), then rerun."
        )


def _write(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` by ``data`` unless it already holds exactly that."""
    if not (path.is_file() and path.read_bytes() == data):
        atomic_write(path, lambda f: f.write(data))


def build_leaderboard(results_dir: Path, out_dir: Path) -> list[Path]:
    """Write the tables and figures of every dataset in ``results_dir`` to ``out_dir``, plus
    a README index and the manifest ``leaderboard-manifest.json`` (the SHA-256 of every
    file written). Returns the written paths (manifest included), sorted.

    Nothing a user made is lost. Everything is rendered in memory first; a failure there
    writes nothing. The run then replaces or removes only files it generated, known from
    the manifest of the previous run:

    - a file whose name the leaderboard generates but that is not in the manifest is
      refused (the error names it, nothing is written), unless it is byte-identical to the
      new content (then nothing changes);
    - a file in the manifest whose SHA-256 differs from the recorded one (edited by hand)
      is refused in the same way, unless byte-identical to the new content (e.g. after an
      interrupted run);
    - a file in the manifest that the leaderboard no longer generates (e.g. a dataset
      whose records are gone) is removed, after the new files are in place, if unchanged.

    A folder written before manifests existed has none. Then its ``README.md`` counts as
    generated if it starts with this module's index header, and so do the files that index
    links to, provided each has the form this module writes (a page starting
    ``# Leaderboard:``, the CSV header, a PNG). Any other file is the user's. This is safe
    because a user's own README does not start with the generated header, and it lets the
    committed ``leaderboards/`` regenerate; edits to such a legacy file cannot be detected
    (no hash was recorded), which is why every later run checks the manifest.

    The static site lives in the subfolder ``site/`` (`neuronbench.site`); its files are
    generated files like the others, listed in the manifest by their path (``site/x.html``).
    Its links to the records are relative (`record_links`), so the site works from disk
    wherever the results and the leaderboard folders sit relative to each other.

    Files are written one by one atomically, then the manifest; files the run no longer
    generates are removed last. An interrupted run leaves each file whole, old or new: the
    rerun accepts the new ones as byte-identical.

    Raises:
        NeuronbenchError: ``results_dir`` missing or without records, ``out_dir`` a file or
            inside ``results_dir``, bad records, or a file in ``out_dir`` it may not replace.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if not results_dir.is_dir():
        raise NeuronbenchError(f"results folder {results_dir} does not exist or is not a folder "
                               "(check --results); nothing was written")
    records = list(iter_records(results_dir))
    if not records:
        raise NeuronbenchError(f"results folder {results_dir} holds no result record (*.json) "
                               "(check --results); nothing was written")
    if out_dir.exists() and not out_dir.is_dir():
        raise NeuronbenchError(f"--out {out_dir} exists and is not a folder; nothing was written")
    if out_dir.resolve().is_relative_to(results_dir.resolve()):
        raise NeuronbenchError(f"--out {out_dir} is inside the results folder {results_dir}: its files "
                               "would be read as records; choose another --out")
    check_comparable([r for _, r in records])
    headline = [(path, r) for path, r in records if r.is_headline]  # curve points are not table cells
    df = aggregate(headline)
    files = render_folder(df, paired_rows(df, headline), per_class_rows(df, headline), curve_rows(df, records),
                          record_links(headline, out_dir / SITE))
    known = _read_manifest(out_dir) if out_dir.is_dir() else None
    if known is None:
        known = _legacy_files(out_dir) if out_dir.is_dir() else {}
    _check_out(out_dir, files, known)

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        _write(out_dir / name, data)
    hashes = {name: _sha256(data) for name, data in files.items()}
    stale = {name: _sha256((out_dir / name).read_bytes()) for name in known
             if name not in files and (out_dir / name).is_file()}
    # the stale files stay listed until they are gone, so an interrupted run still removes them
    _write(out_dir / MANIFEST, _manifest_text(hashes | stale).encode("utf-8"))
    for name in sorted(stale):
        (out_dir / name).unlink()
        for parent in PurePosixPath(name).parents:  # a folder the run emptied goes too
            folder = out_dir / parent
            if parent.name and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    if stale:
        _write(out_dir / MANIFEST, _manifest_text(hashes).encode("utf-8"))
    return sorted([out_dir / name for name in files] + [out_dir / MANIFEST])
