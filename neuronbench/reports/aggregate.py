"""The leaderboard's numbers: result records to cells, chance levels, paired comparisons,
per-class views and curves, as pandas tables that every renderer reads
(`neuronbench.reports.markdown`, `.figures`, `.site`). Nothing here writes a file.

How a cell is scored:

1. A *cell* is (dataset, task, setting, method name + preset). For each encoder seed, the
   ``y_true`` and each probe seed's ``y_pred`` of all folds of that seed are pooled and
   scored over the task's classes, and the scores of the probe seeds are averaged
   (`neuronbench.protocol.scoring.pooled_score`): one number per encoder seed.
2. The cell is the mean ± sample standard deviation (ddof=1) over encoder seeds; the
   std is 0 when there is a single seed. A cell whose seeds all give the same score
   (a deterministic control) is `deterministic`.
3. In each row the best cell (the *winner*) is compared with every other cell, and the
   best method with the best baseline and the best control, paired over their shared
   encoder seeds and test neurons with a 95 % interval (`paired_rows`,
   `neuronbench.protocol.paired`).
4. Per cell, the per-class F1 and confusion matrix of its best encoder seed
   (`per_class_rows`).
5. Curve records (`Record.is_headline` false) are never table cells: they are scored like
   cells into the label-efficiency and pretraining-scale curves, which end at the
   headline cell (`curve_rows`). Records of a training budget other than the presets'
   (``--budget``) are neither cells nor points of these curves: they are the points of
   the training-budget curves (`budget_rows`), each paired with the cell's budget-1
   records, so that a cell can say its method had not converged (`convergence_marks`).

A seed that lacks some of the expected folds makes the cell "incomplete (k/n folds)",
never a partial number; ``not_applicable`` records make it "N/A" and ``failed`` ones
"failed", with the record's reason. Every metric has two chance levels on the test labels
pooled over folds (`neuronbench.protocol.scoring.pooled_chance`): a uniform random guess
(expected) and always predicting the majority class. BWB's tuning seed
(`neuronbench.protocol.bwb.SWEEP_SEED`) is never reported (`reported`).

The records are checked first (`neuronbench.protocol.record.check_comparable`): two
records of one run, stale config hashes, and mixed split or data checksums are refused.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import KINDS
from neuronbench.protocol import bwb
from neuronbench.protocol.constants import HEADLINE_BUDGET, HEADLINE_PROBE, MAIN_METRIC, METRICS, PROBES
from neuronbench.protocol.metrics import classification_metrics
from neuronbench.protocol.paired import PairedDifference, SeedPredictions, paired_difference
from neuronbench.protocol.record import Record, check_comparable
from neuronbench.protocol.scoring import pool_folds, pooled_chance, pooled_score
from neuronbench.protocol.settings import SETTINGS

PROBE_ORDER: tuple[str, ...] = (HEADLINE_PROBE, *(p for p in PROBES if p != HEADLINE_PROBE))
# (probe, metric) tables of a dataset's page, headline first; other probes follow (main metric).
TABLES: tuple[tuple[str, str], ...] = (
    *((PROBE_ORDER[0], m) for m in METRICS), *((p, MAIN_METRIC) for p in PROBE_ORDER[1:]),
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
VERSUS: tuple[str, ...] = ("baseline", "control")  # the best method against the best of each
RUNNER_UP = "runner-up"  # versus of the winner against the second-best cell
OTHER = "other"  # versus of the winner against every further cell
NOT_SIGNIFICANT = "n.s."
SEED_SCORE = f"seed_{MAIN_METRIC}"  # the best seed's score in the per-class view
# the per-class view (`per_class_rows`), file <dataset>-per-class.csv
PER_CLASS_COLUMNS: tuple[str, ...] = (
    "dataset", "task", "setting", "method", "kind", "preset", "probe", "encoder_seed", SEED_SCORE, "class",
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
# the points of the training-budget curves (`budget_rows`), file <dataset>-budget.csv
BUDGET_COLUMNS: tuple[str, ...] = (
    "dataset", "task", "setting", "method", "kind", "preset", "probe", "metric", "budget", "mean", "std",
    "seed_scores", "n_seeds", "folds", "status", "reason", "fit_core_s", "fit_s", "diff_vs_headline", "ci_low",
    "ci_high", "n_paired_seeds", "significant",
)
CONVERGENCE_BUDGET = 4.0  # a cell is marked when its method scores significantly higher at this budget


# ---------------------------------------------------------------- ordering helpers

def _setting_key(setting: str) -> tuple[int, str]:
    return (SETTINGS.index(setting), "") if setting in SETTINGS else (len(SETTINGS), setting)


def _kind_key(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def probe_key(probe: str) -> tuple[int, str]:
    return (PROBE_ORDER.index(probe), "") if probe in PROBE_ORDER else (len(PROBE_ORDER), probe)


def column_header(method: str, preset: str) -> str:
    """A method column's name: the method, with its preset unless it is the default "cpu"."""
    return method if preset == "cpu" else f"{method} [{preset}]"


def seed_values(seed_scores: str) -> list[tuple[int, float]]:
    """``[(encoder seed, score)]`` of a ``seed_scores`` cell (``"0:0.871234 1:0.880000"``)."""
    return [(int(seed), float(value)) for seed, value in (item.split(":") for item in str(seed_scores).split())]


def deterministic(cell: pd.Series) -> bool:
    """Whether an "ok" cell has one score for every one of its 2+ encoder seeds (a control
    whose embedding does not depend on the seed): its std is 0 by construction."""
    values = {v for _, v in seed_values(cell["seed_scores"])}
    return cell["status"] == "ok" and int(cell["n_seeds"]) > 1 and len(values) == 1


def reported(records: Iterable[Record | tuple[Path, Record]]) -> list:
    """The records (or ``(path, record)`` pairs) without BWB's tuning seed
    (`neuronbench.protocol.bwb.SWEEP_SEED` on `bwb.TASK`), which is never reported."""
    def tuning(r: Record) -> bool:
        return (r.dataset.name, r.task.name) == bwb.TASK and r.encoder_seed == bwb.SWEEP_SEED

    return [item for item in records if not tuning(item[1] if isinstance(item, tuple) else item)]


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
    classes = list(cell[0].task.classes)
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
        groups[(r.dataset.name, r.task.name, r.setting)].append(r)
    probes_of: dict[str, set[str]] = defaultdict(set)
    for r in named:
        if r.status == "ok":
            probes_of[r.dataset.name].update(r.probes)
    rows = []
    for (dataset, task, setting), group in groups.items():
        n_folds = max(r.n_folds for r in group)
        classes = list(group[0].task.classes)
        chance = _chance(group, n_folds, classes)
        probes = sorted(probes_of[dataset] or {HEADLINE_PROBE}, key=probe_key)
        cells: dict[tuple[str, str], list[Record]] = defaultdict(list)
        for r in group:
            cells[(r.method.name, r.preset)].append(r)
        for (method, preset), cell in cells.items():
            first = cell[0]
            for row in _cell_rows(cell, probes, n_folds):
                rows.append({
                    "dataset": dataset, "task": task, "n_classes": len(classes), "setting": setting,
                    "method": method, "kind": first.method.kind, "preset": preset,
                    "config_hash": first.method.config_hash, **row,
                    "chance_uniform": chance[row["metric"]]["uniform"],
                    "chance_majority": chance[row["metric"]]["majority"],
                })
    rows.sort(key=lambda r: (r["dataset"], r["task"], _setting_key(r["setting"]), _kind_key(r["kind"]),
                             r["method"], r["preset"], probe_key(r["probe"]), METRICS.index(r["metric"])))
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
    return (r.dataset.name, r.task.name, r.setting, r.method.name, r.preset)


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


def ranked_cells(row: pd.DataFrame) -> list[pd.Series]:
    """The cells with status "ok" of a table row, best first (highest mean; on a tie the
    first in column order, as `best_cell`)."""
    ok = row[row["status"] == "ok"].sort_values("mean", ascending=False, kind="stable")
    return [r for _, r in ok.iterrows()]


def cell_predictions(cell: list[Record], probe: str) -> dict[int, SeedPredictions]:
    """A cell's ok records holding ``probe``, as `paired_difference` takes them: encoder
    seed -> that seed's predictions pooled over its folds."""
    cell = [r for r in cell if r.status == "ok" and probe in r.probes]
    return {s: _pooled_predictions([r for r in cell if r.encoder_seed == s], probe)
            for s in sorted({r.encoder_seed for r in cell})}


def paired_rows(df: pd.DataFrame, records: Iterable[Record | tuple[Path, Record]]) -> pd.DataFrame:
    """The paired comparisons of `aggregate`'s table ``df``, built from the same ``records``
    (iterated again: not a spent iterator). In every (dataset, task, setting, probe,
    metric), among the cells with status "ok":

    - the winner (`best_cell`) against the runner-up (``versus`` `RUNNER_UP`) and against
      every further cell (`OTHER`): which cells are not significantly different from the
      best;
    - the best cell of kind "method" against the best baseline and the best control
      (``versus`` "baseline", "control").

    Each pair is scored by `paired_difference` over the encoder seeds both have (one
    bootstrap per pair of cells and probe, every metric at once). Columns
    `PAIRED_COLUMNS`: ``diff`` is the first (``method``) minus the other, ``[ci_low,
    ci_high]`` its 95 % interval, ``n_seeds`` the shared encoder seeds (0: diff and
    interval NaN), ``significant`` whether the interval excludes 0. Sorted as ``df``."""
    cells = _ok_cells(records)
    ok = df[df["status"] == "ok"]
    done: dict[tuple, dict[str, PairedDifference]] = {}
    predictions: dict[tuple, dict[int, SeedPredictions]] = {}

    def pair(dataset: str, task: str, setting: str, probe: str, a: pd.Series, b: pd.Series) -> dict:
        key = (dataset, task, setting, probe, a["method"], a["preset"], b["method"], b["preset"])
        if key not in done:
            by_seed = []
            for x in (a, b):
                cell = (dataset, task, setting, x["method"], x["preset"])
                if (*cell, probe) not in predictions:
                    predictions[(*cell, probe)] = cell_predictions(cells[cell], probe)
                by_seed.append(predictions[(*cell, probe)])
            classes = list(cells[(dataset, task, setting, a["method"], a["preset"])][0].task.classes)
            try:
                done[key] = paired_difference(*by_seed, classes, metrics=METRICS)
            except NeuronbenchError as e:
                raise NeuronbenchError(f"{dataset}, {task}, {setting}, {probe} probe: cannot pair "
                                       f"{column_header(a['method'], a['preset'])} with "
                                       f"{column_header(b['method'], b['preset'])}: {e}") from None
        return done[key]

    rows = []
    for (dataset, task, setting, probe, metric), sub in ok.groupby(
            ["dataset", "task", "setting", "probe", "metric"], sort=False):
        ranked = ranked_cells(sub)
        comparisons = [(ranked[0], b, RUNNER_UP if i == 1 else OTHER) for i, b in enumerate(ranked) if i > 0]
        best = {kind: b for kind in ("method", *VERSUS) if (b := best_cell(sub, kind)) is not None}
        if "method" in best:
            comparisons += [(best["method"], best[v], v) for v in VERSUS if v in best]
        for a, b, versus in comparisons:
            d = pair(dataset, task, setting, probe, a, b)[metric]
            rows.append({"dataset": dataset, "task": task, "setting": setting, "probe": probe, "metric": metric,
                         "method": a["method"], "preset": a["preset"], "versus": versus, "other": b["method"],
                         "other_preset": b["preset"], "diff": d.diff, "ci_low": d.ci_low, "ci_high": d.ci_high,
                         "n_seeds": d.n_seeds, "significant": d.significant})
    order = (*VERSUS, RUNNER_UP, OTHER)
    rows.sort(key=lambda r: (r["dataset"], r["task"], _setting_key(r["setting"]), probe_key(r["probe"]),
                             METRICS.index(r["metric"]), order.index(r["versus"])))
    return pd.DataFrame(rows, columns=list(PAIRED_COLUMNS))


def ties_with_winner(pairs: pd.DataFrame) -> set[tuple[str, str]]:
    """(method, preset) of the cells whose paired difference from the row's winner is not
    significant, from the rows of `paired_rows` of one table row."""
    against = pairs[pairs["versus"].isin((RUNNER_UP, OTHER)) & (pairs["n_seeds"] > 0) & ~pairs["significant"]]
    return {(r.other, r.other_preset) for r in against.itertuples()}


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
    ok = df[(df["status"] == "ok") & (df["metric"] == MAIN_METRIC)]
    for r in ok.itertuples():
        seed, score = max(seed_values(r.seed_scores), key=lambda sv: (sv[1], -sv[0]))
        folds = sorted((x for x in cells[(r.dataset, r.task, r.setting, r.method, r.preset)]
                        if x.encoder_seed == seed and r.probe in x.probes), key=lambda x: x.fold)
        classes = list(folds[0].task.classes)
        y_true, by_probe_seed = pool_folds([x.predictions(r.probe) for x in folds], [x.where for x in folds])
        scored = [classification_metrics(y_true, y_pred, classes) for y_pred in by_probe_seed.values()]
        confusion = np.mean([s["confusion_matrix"] for s in scored], axis=0)
        for i, c in enumerate(classes):
            f1 = [s["per_class_f1"][str(c)] for s in scored if s["per_class_f1"][str(c)] is not None]
            rows.append({"dataset": r.dataset, "task": r.task, "setting": r.setting, "method": r.method,
                         "kind": r.kind, "preset": r.preset, "probe": r.probe, "encoder_seed": seed,
                         SEED_SCORE: score, "class": str(c), "n_true": int(confusion[i].sum()),
                         "f1": float(np.mean(f1)) if f1 else math.nan,
                         "predicted_counts": " ".join(f"{v:g}" for v in confusion[i])})
    return pd.DataFrame(rows, columns=list(PER_CLASS_COLUMNS))


# ---------------------------------------------------------------- curves

def curve_of(record: Record) -> str | None:
    """Which curve a record is a point of: "label_efficiency" (a label fraction below 1,
    all pretraining animals), "pretraining_scale" (fewer pretraining animals, all labels),
    None for a headline run, a point of both or a point of another training budget (not
    drawn: `Record.budget`)."""
    if record.is_headline or record.budget not in (None, HEADLINE_BUDGET):
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
        n = r.split.n_pretrain_recordings
        if n is not None:
            recordings.setdefault((*_cell_key(r), r.label_fraction, r.pretrain_animals), n)
    rows = []
    probes_of: dict[tuple, set[str]] = defaultdict(set)
    for (*cell, curve, x), group in points.items():
        probes = sorted({p for r in group if r.status == "ok" for p in r.probes} or {HEADLINE_PROBE}, key=probe_key)
        probes_of[(*cell, curve)].update(probes)
        fraction, animals = (x, ALL_ANIMALS) if curve == "label_efficiency" else (1.0, x)
        first = group[0]
        for row in _cell_rows(group, probes, max(r.n_folds for r in group)):
            rows.append({**dict(zip(("dataset", "task", "setting", "method", "preset"), cell)),
                         "kind": first.method.kind, **row, "curve": curve, "label_fraction": fraction,
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
                             r["preset"], probe_key(r["probe"]), METRICS.index(r["metric"]), CURVES.index(r["curve"]),
                             r["label_fraction"], _x_key(r["pretrain_animals"])))
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))



# ---------------------------------------------------------------- training budget

def _budget_point(record: Record) -> bool:
    """Whether a record is a point of a training-budget curve (budget 1 included): all
    labels, full pretraining and a training budget (a control has none)."""
    return record.label_fraction == 1 and record.pretrain_animals is None and record.budget is not None


def _mean_timing(records: list[Record], key: str) -> float:
    """The mean of ``timings[key]`` over ``records``; NaN unless every one stores it
    (records of schema version 3 store no ``fit_core_s``)."""
    values = [(r.timings or {}).get(key) for r in records]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return math.nan
    return float(np.mean(values))


def budget_rows(records: Iterable[Record | tuple[Path, Record]]) -> pd.DataFrame:
    """The points of the training-budget curves: every (dataset, task, setting, method,
    preset) with records of a budget other than `HEADLINE_BUDGET` gets one point per budget
    (its budget-1 point is the headline cell), scored like the cells of `aggregate` (folds
    pooled per encoder seed, mean ± std over seeds, the same statuses). Columns
    `BUDGET_COLUMNS`: ``fit_core_s`` and ``fit_s``, the mean fit CPU core-seconds and wall
    seconds of the point's ok records (NaN unless all of them store it: records of schema
    version 3 have wall seconds only); ``diff_vs_headline``, ``[ci_low, ci_high]``,
    ``n_paired_seeds`` and ``significant``: the point minus the budget-1 point, paired over
    their shared encoder seeds and test neurons (`paired_difference`, as `paired_rows`),
    NaN / 0 / False at budget 1 or without two ok points. Sorted. Empty without budget
    records, at the cost of one pass over the records."""
    by_cell: dict[tuple, dict[float, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for r in _sorted_records(records):
        if _budget_point(r):
            by_cell[_cell_key(r)][r.budget].append(r)
    rows = []
    for cell, by_budget in by_cell.items():
        if set(by_budget) == {HEADLINE_BUDGET}:
            continue
        everything = [r for group in by_budget.values() for r in group]
        n_folds = max(r.n_folds for r in everything)
        probes = sorted({p for r in everything if r.status == "ok" for p in r.probes} or {HEADLINE_PROBE},
                        key=probe_key)
        classes = list(everything[0].task.classes)
        scored = {b: _cell_rows(group, probes, n_folds) for b, group in by_budget.items()}
        head_ok = {row["probe"] for row in scored.get(HEADLINE_BUDGET, []) if row["status"] == "ok"}
        for budget, group in sorted(by_budget.items()):
            ok = [r for r in group if r.status == "ok"]
            pairs: dict[str, dict[str, PairedDifference]] = {}
            if budget != HEADLINE_BUDGET:
                for probe in sorted(head_ok & {row["probe"] for row in scored[budget] if row["status"] == "ok"}):
                    try:
                        pairs[probe] = paired_difference(cell_predictions(group, probe),
                                                         cell_predictions(by_budget[HEADLINE_BUDGET], probe),
                                                         classes, metrics=METRICS)
                    except NeuronbenchError as e:
                        raise NeuronbenchError(f"{', '.join(cell[:3])}, {probe} probe: cannot pair "
                                               f"{column_header(*cell[3:])} at budget {budget:g} with budget 1: "
                                               f"{e}") from None
            for row in scored[budget]:
                d = pairs.get(row["probe"], {}).get(row["metric"])
                rows.append({**dict(zip(("dataset", "task", "setting", "method", "preset"), cell)),
                             "kind": group[0].method.kind, **row, "budget": budget,
                             "fit_core_s": _mean_timing(ok, "fit_core_s"), "fit_s": _mean_timing(ok, "fit_s"),
                             "diff_vs_headline": math.nan if d is None else d.diff,
                             "ci_low": math.nan if d is None else d.ci_low,
                             "ci_high": math.nan if d is None else d.ci_high,
                             "n_paired_seeds": 0 if d is None else d.n_seeds,
                             "significant": False if d is None else d.significant})
    rows.sort(key=lambda r: (r["dataset"], r["task"], _setting_key(r["setting"]), _kind_key(r["kind"]), r["method"],
                             r["preset"], probe_key(r["probe"]), METRICS.index(r["metric"]), r["budget"]))
    return pd.DataFrame(rows, columns=list(BUDGET_COLUMNS))


def convergence_marks(budget: pd.DataFrame, dataset: str, probe: str,
                      metric: str) -> dict[tuple[str, str, str, str], float] | None:
    """The cells of a table (``dataset``, ``probe``, ``metric``) whose method scores
    significantly higher at `CONVERGENCE_BUDGET` than at budget 1 (`budget_rows`): (task,
    setting, method, preset) -> the gain. None when the table has no point at that
    budget (then nothing is said about convergence)."""
    at = budget[(budget["dataset"] == dataset) & (budget["probe"] == probe) & (budget["metric"] == metric)
                & (budget["budget"] == CONVERGENCE_BUDGET) & (budget["status"] == "ok")]
    if at.empty:
        return None
    gains = at[at["significant"].astype(bool) & (at["diff_vs_headline"] > 0)]
    return {(r.task, r.setting, r.method, r.preset): float(r.diff_vs_headline) for r in gains.itertuples()}


# ---------------------------------------------------------------- table layout

def row_keys(df: pd.DataFrame) -> list[tuple[str, str]]:
    """The (task, setting) rows of a table of ``df``, by task then setting order."""
    return sorted({(r.task, r.setting) for r in df[["task", "setting"]].itertuples()},
                  key=lambda k: (k[0], _setting_key(k[1])))


def page_tables(df: pd.DataFrame, dataset: str) -> list[tuple[str, str]]:
    """The (probe, metric) tables of a dataset's page, the headline first (`TABLES`, then
    the macro-F1 of any other probe)."""
    probes = sorted(set(df.loc[df["dataset"] == dataset, "probe"]), key=probe_key)
    return [t for t in TABLES if t[0] in probes] + [(p, MAIN_METRIC) for p in probes if p not in PROBE_ORDER]


def method_columns(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(kind, method, preset) of every method column: kind "method" first, then "baseline",
    then "control"; alphabetical within a kind."""
    cols = {(r.kind, r.method, r.preset) for r in df[["kind", "method", "preset"]].itertuples()}
    return sorted(cols, key=lambda c: (_kind_key(c[0]), c[1], c[2]))




# ---------------------------------------------------------------- the records behind the cells

class RecordEntry(NamedTuple):
    """A headline record behind a cell, for the site's record index: its file relative to
    the results folder (POSIX), the file's SHA-256, and what the record says."""

    path: str
    sha256: str
    cell: tuple[str, str, str, str, str]  # (dataset, task, setting, method, preset)
    kind: str
    config_hash: str
    encoder_seed: int
    fold: int
    n_folds: int
    status: str
    reason: str
    split_checksum: str
    n_test: int | None
    scores: tuple[tuple[str, float], ...]  # (probe, the fold's main metric averaged over probe seeds)
    git_commit: str


def record_entries(records: Iterable[tuple[Path, Record]], results_dir: Path) -> list[RecordEntry]:
    """One `RecordEntry` per ``(path, record)``, sorted by cell, encoder seed, fold and path."""
    results_dir = Path(results_dir).resolve()
    entries = []
    for path, r in records:
        path = Path(path).resolve()
        name = path.relative_to(results_dir).as_posix() if path.is_relative_to(results_dir) else path.name
        scores = tuple((probe, r.fold_score(probe, MAIN_METRIC)) for probe in sorted(r.probes or {}, key=probe_key)) \
            if r.status == "ok" else ()
        entries.append(RecordEntry(
            name, hashlib.sha256(path.read_bytes()).hexdigest(), _cell_key(r), r.method.kind,
            r.method.config_hash, r.encoder_seed, r.fold, r.n_folds, r.status, str(r.reason or ""),
            str(r.split.checksum or ""), r.split.n_test, scores,
            str((r.environment or {}).get("git_commit") or "unknown")))
    return sorted(entries, key=lambda e: (e.cell[0], e.cell[1], _setting_key(e.cell[2]), e.cell[3], e.cell[4],
                                          e.encoder_seed, e.fold, e.path))


class Aggregate(NamedTuple):
    """Everything the renderers read: the cells (`aggregate`), the paired comparisons
    (`paired_rows`), the per-class view (`per_class_rows`), the curve points
    (`curve_rows`), the headline records behind the cells (`record_entries`) and the
    training-budget points (`budget_rows`)."""

    cells: pd.DataFrame
    paired: pd.DataFrame
    per_class: pd.DataFrame
    curves: pd.DataFrame
    records: list[RecordEntry]
    budget: pd.DataFrame


def build_aggregate(records: list[tuple[Path, Record]], results_dir: Path) -> Aggregate:
    """The `Aggregate` of ``records`` (headline and curve records, as `iter_records`
    yields them from ``results_dir``), without BWB's tuning seed (`reported`)."""
    records = reported(records)
    check_comparable([r for _, r in records])
    headline = [(path, r) for path, r in records if r.is_headline]  # curve points are not table cells
    df = aggregate(headline)
    return Aggregate(df, paired_rows(df, headline), per_class_rows(df, headline), curve_rows(df, records),
                     record_entries(headline, results_dir), budget_rows(records))
