"""The leaderboard: tables and figures regenerated from the result records alone.

``neuronbench leaderboard`` reads every record under ``results/`` and rewrites the folder
``leaderboards/``; a second run changes no byte. How a cell is scored:

1. A *cell* is (dataset, task, setting, method name + preset). For each encoder seed, the
   ``y_true`` and each probe seed's ``y_pred`` of all folds of that seed are pooled and
   scored with `neuronbench.metrics.classification_metrics` over the task's classes
   (NuCLR's protocol for leave-one-animal-out folds; one fold pools trivially).
2. The scores of the probe seeds are averaged: one number per encoder seed.
3. The cell is the mean ± sample standard deviation (ddof=1) over encoder seeds; the
   std is 0 when there is a single seed.

A seed that lacks some of the expected folds (``n_folds`` in the records) makes the cell
"incomplete (k/n folds)", never a partial number. Records with status
``not_applicable`` make it "N/A" and ``failed`` makes it "failed", with the record's
reason as a footnote. Chance is the uniform-guess macro-F1 of the pooled test labels.

The records are checked first; the leaderboard refuses (`NeuronbenchError` naming the
files) two records of the same run, records of one method and preset with different
config hashes (stale records), one (dataset, task, setting) on different split versions
or checksums, and one dataset with different data checksums.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuronbench.atomic import atomic_write, atomic_write_text
from neuronbench.errors import NeuronbenchError
from neuronbench.metrics import chance_levels, classification_metrics
from neuronbench.plugin import KINDS, SETTINGS
from neuronbench.results import iter_records, record_path, validate_record

METRICS: tuple[str, ...] = ("macro_f1", "accuracy", "balanced_accuracy")
METRIC_NAMES = {"macro_f1": "macro-F1", "accuracy": "accuracy (top-1)", "balanced_accuracy": "balanced accuracy"}
PROBE_ORDER: tuple[str, ...] = ("linear", "mlp", "xgboost")
# (probe, metric) tables of a dataset's page, headline first; other probes follow (macro-F1).
TABLES: tuple[tuple[str, str], ...] = (
    ("linear", "macro_f1"), ("linear", "accuracy"), ("linear", "balanced_accuracy"),
    ("mlp", "macro_f1"), ("xgboost", "macro_f1"),
)
COLUMNS: tuple[str, ...] = (
    "dataset", "task", "n_classes", "setting", "method", "kind", "preset", "config_hash", "probe",
    "metric", "mean", "std", "n_seeds", "folds", "status", "reason", "chance_uniform", "chance_majority",
)
GENERATED_SUFFIXES: tuple[str, ...] = (".md", ".csv", ".png")
FIGURE_DPI = 100

Named = tuple[str, dict[str, Any]]  # (file name for messages, record)


# ---------------------------------------------------------------- ordering helpers

def _setting_key(setting: str) -> tuple[int, str]:
    return (SETTINGS.index(setting), "") if setting in SETTINGS else (len(SETTINGS), setting)


def _kind_key(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def _probe_key(probe: str) -> tuple[int, str]:
    return (PROBE_ORDER.index(probe), "") if probe in PROBE_ORDER else (len(PROBE_ORDER), probe)


def _preset(record: dict[str, Any]) -> str:
    """The preset of a record's method; records without one count as ``"cpu"``."""
    return record["method"].get("preset") or "cpu"


def _header(method: str, preset: str) -> str:
    return method if preset == "cpu" else f"{method} [{preset}]"


# ---------------------------------------------------------------- checks

def _named(records: Iterable[dict[str, Any] | tuple[Path, dict[str, Any]]]) -> list[Named]:
    """Attach a file name to every record: its path when given as ``(path, record)`` (as
    `iter_records` yields), else the path it would have under ``results/``."""
    named: list[Named] = []
    for i, item in enumerate(records):
        if isinstance(item, tuple):
            path, record = item
            validate_record(record, path)
        else:
            record = validate_record(item, f"record #{i}")
            path = record_path(Path("results"), record["dataset"]["name"], record["task"]["name"],
                               record["setting"], record["method"]["name"], record["method"]["config_hash"],
                               record["fold"], record["seed"])
        named.append((str(path), record))
    return sorted(named, key=lambda n: n[0])


def _refuse_if_differ(groups: dict[Any, dict[Any, list[str]]], what: str) -> None:
    """Raise if a group holds more than one value; name one file per value."""
    for key, by_value in groups.items():
        if len(by_value) > 1:
            files = "; ".join(f"{value!r}: {', '.join(paths)}" for value, paths in
                              sorted(by_value.items(), key=lambda kv: str(kv[0])))
            raise NeuronbenchError(f"{what} differ within {key}: {files}")


def check_records(named: list[Named]) -> None:
    """Refuse duplicate runs, stale config hashes and mixed split or data versions.
    Null checksums and versions (e.g. in records of runs that could not run) are ignored."""
    runs: dict[tuple, list[str]] = defaultdict(list)
    hashes: dict[tuple, dict[Any, list[str]]] = defaultdict(lambda: defaultdict(list))
    split_versions: dict[tuple, dict[Any, list[str]]] = defaultdict(lambda: defaultdict(list))
    split_sums: dict[tuple, dict[Any, list[str]]] = defaultdict(lambda: defaultdict(list))
    data_sums: dict[tuple, dict[Any, list[str]]] = defaultdict(lambda: defaultdict(list))
    classes: dict[tuple, dict[Any, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path, r in named:
        dataset, task, setting = r["dataset"]["name"], r["task"]["name"], r["setting"]
        cell = (dataset, task, setting, r["method"]["name"], _preset(r))
        runs[cell + (r["fold"], r["seed"])].append(path)
        hashes[cell][r["method"]["config_hash"]].append(path)
        classes[(dataset, task)][tuple(r["task"]["classes"])].append(path)
        if r["split"].get("version") is not None:
            split_versions[(dataset, task, setting)][r["split"]["version"]].append(path)
        if r["split"].get("checksum") is not None:
            split_sums[(dataset, task, setting)][r["split"]["checksum"]].append(path)
        if r["dataset"].get("checksum") is not None:
            data_sums[(dataset,)][r["dataset"]["checksum"]].append(path)
    for key, paths in runs.items():
        if len(paths) > 1:
            raise NeuronbenchError(
                f"two records of the same run (dataset, task, setting, method, preset, fold, seed) = {key} "
                f"(stale records, remove one): {', '.join(paths)}"
            )
    _refuse_if_differ(hashes, "config hashes of one method and preset (stale records, remove the old ones)")
    _refuse_if_differ(split_versions, "split versions (results on different splits are never mixed)")
    _refuse_if_differ(split_sums, "split checksums (results on different splits are never mixed)")
    _refuse_if_differ(data_sums, "dataset checksums (results on different data are never mixed)")
    _refuse_if_differ(classes, "task classes")


# ---------------------------------------------------------------- scoring

def _test_labels(path: str, record: dict[str, Any]) -> list[Any]:
    y_true = record.get("y_true") or {}
    if not isinstance(y_true.get("label"), list):
        raise NeuronbenchError(f"{path}: field 'y_true.label': expected a list for a run with status 'ok'")
    return y_true["label"]


def _seed_scores(folds: list[Named], probe: str, classes: list[Any]) -> dict[str, float]:
    """Scores of one encoder seed for one probe: pool every fold's predictions per probe
    seed, score over ``classes``, average over probe seeds."""
    by_probe_seed: dict[Any, list[list[Any]]] = {}
    for path, record in folds:
        runs = {run["probe_seed"]: run for run in record["probes"][probe]}
        if not runs:
            raise NeuronbenchError(f"{path}: field 'probes.{probe}': expected at least one probe seed")
        if by_probe_seed and set(runs) != set(by_probe_seed):
            raise NeuronbenchError(
                f"probe seeds of the {probe} probe differ across folds: {', '.join(p for p, _ in folds)}"
            )
        labels = _test_labels(path, record)
        for probe_seed, run in runs.items():
            y_pred = run.get("y_pred")
            if not isinstance(y_pred, list) or len(y_pred) != len(labels):
                raise NeuronbenchError(
                    f"{path}: field 'probes.{probe}[probe_seed={probe_seed}].y_pred': expected a list of "
                    f"{len(labels)} labels aligned with y_true"
                )
            by_probe_seed.setdefault(probe_seed, [[], []])
            by_probe_seed[probe_seed][0].extend(labels)
            by_probe_seed[probe_seed][1].extend(y_pred)
    per_probe_seed = [classification_metrics(t, p, classes) for t, p in by_probe_seed.values()]
    return {m: float(np.mean([s[m] for s in per_probe_seed])) for m in METRICS}


def _chance(group: list[Named], n_folds: int, classes: list[Any]) -> dict[str, float]:
    """Chance levels of the test labels pooled over folds (each fold's labels taken from
    the first ok record of that fold); NaN until every fold has a record."""
    labels_by_fold: dict[int, list[Any]] = {}
    for path, r in group:
        if r["status"] == "ok" and r["fold"] not in labels_by_fold:
            labels_by_fold[r["fold"]] = _test_labels(path, r)
    if len(labels_by_fold) < n_folds:
        return {"uniform_macro_f1": math.nan, "majority_macro_f1": math.nan}
    pooled = [y for fold in sorted(labels_by_fold) for y in labels_by_fold[fold]]
    return chance_levels(pooled, classes)


def _reasons(records: list[Named]) -> str:
    return "; ".join(sorted({str(r["reason"]) for _, r in records}))


def _cell_rows(cell: list[Named], probes: list[str], n_folds: int) -> list[dict[str, Any]]:
    """The rows of one (dataset, task, setting, method, preset): one per probe and metric."""
    first = cell[0][1]
    classes = list(first["task"]["classes"])
    seeds = sorted({r["seed"] for _, r in cell})
    ok = [(p, r) for p, r in cell if r["status"] == "ok"]
    not_applicable = [(p, r) for p, r in cell if r["status"] == "not_applicable"]
    failed = [(p, r) for p, r in cell if r["status"] == "failed"]
    rows = []
    for probe in probes:
        # per seed, the ok records (one per fold) that hold this probe
        folds_of = {s: [(p, r) for p, r in ok if r["seed"] == s and probe in r["probes"]] for s in seeds}
        k = min(len({r["fold"] for _, r in folds}) for folds in folds_of.values())
        scores: dict[str, list[float]] = {m: [] for m in METRICS}
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
                    scores[metric].append(value)
        for metric in METRICS:
            values = scores[metric]
            rows.append({
                "probe": probe, "metric": metric,
                "mean": float(np.mean(values)) if values else math.nan,
                "std": (float(np.std(values, ddof=1)) if len(values) > 1 else 0.0) if values else math.nan,
                "n_seeds": len(seeds), "folds": f"{k}/{n_folds}", "status": status, "reason": reason,
            })
    return rows


def aggregate(records: Iterable[dict[str, Any] | tuple[Path, dict[str, Any]]]) -> pd.DataFrame:
    """Long table, one row per (dataset, task, setting, method column, probe, metric): columns
    dataset, task, n_classes, setting, method, kind, preset, config_hash, probe, metric, mean,
    std, n_seeds, folds (e.g. "6/6"), status ("ok" | "not_applicable" | "failed" |
    "incomplete"), reason, chance_uniform, chance_majority.

    ``records`` are record dicts or ``(path, record)`` pairs (as `iter_records` yields; the
    paths name the files in errors). ``std`` is the sample std over encoder seeds (ddof=1),
    0 with one seed; mean and std are NaN unless the status is "ok". Every cell gets a row
    for every probe found in its dataset's records. Rows are sorted.
    """
    named = _named(records)
    check_records(named)
    groups: dict[tuple[str, str, str], list[Named]] = defaultdict(list)
    for path, r in named:
        groups[(r["dataset"]["name"], r["task"]["name"], r["setting"])].append((path, r))
    probes_of: dict[str, set[str]] = defaultdict(set)
    for _, r in named:
        if r["status"] == "ok":
            probes_of[r["dataset"]["name"]].update(r["probes"])
    rows = []
    for (dataset, task, setting), group in groups.items():
        n_folds = max(int(r.get("n_folds") or 1) for _, r in group)
        classes = list(group[0][1]["task"]["classes"])
        chance = _chance(group, n_folds, classes)
        probes = sorted(probes_of[dataset] or {"linear"}, key=_probe_key)
        cells: dict[tuple[str, str], list[Named]] = defaultdict(list)
        for path, r in group:
            cells[(r["method"]["name"], _preset(r))].append((path, r))
        for (method, preset), cell in cells.items():
            first = cell[0][1]
            for row in _cell_rows(cell, probes, n_folds):
                rows.append({
                    "dataset": dataset, "task": task, "n_classes": len(classes), "setting": setting,
                    "method": method, "kind": first["method"]["kind"], "preset": preset,
                    "config_hash": first["method"]["config_hash"], **row,
                    "chance_uniform": chance["uniform_macro_f1"], "chance_majority": chance["majority_macro_f1"],
                })
    rows.sort(key=lambda r: (r["dataset"], r["task"], _setting_key(r["setting"]), _kind_key(r["kind"]),
                             r["method"], r["preset"], _probe_key(r["probe"]), METRICS.index(r["metric"])))
    return pd.DataFrame(rows, columns=list(COLUMNS))


# ---------------------------------------------------------------- markdown

def _method_columns(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(kind, method, preset) of every method column: kind "method" first, then "baseline",
    then "control"; alphabetical within a kind."""
    cols = {(r.kind, r.method, r.preset) for r in df[["kind", "method", "preset"]].itertuples()}
    return sorted(cols, key=lambda c: (_kind_key(c[0]), c[1], c[2]))


def _number(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.4f}"


def cells_note(probe: str, metric: str) -> str:
    return (
        f"Cells: {METRIC_NAMES.get(metric, metric)} of the {probe} probe, mean ± sample std (ddof=1; "
        "0 with one seed) over encoder seeds. Each seed's score is computed on the predictions pooled "
        "over all folds of the setting, averaged over probe seeds. Δ: best of kind \"method\" minus the "
        "best baseline or control. The seeds and folds behind each cell: columns n_seeds and folds of the CSV."
    )


def render_markdown(df: pd.DataFrame, dataset: str, probe: str = "linear", metric: str = "macro_f1") -> str:
    """One table of `aggregate`'s output for a dataset, probe and metric, with its
    footnotes (reasons for N/A and failed cells) and a line on how the cells are computed."""
    sub = df[(df["dataset"] == dataset) & (df["probe"] == probe) & (df["metric"] == metric)]
    columns = _method_columns(df[df["dataset"] == dataset])
    header = ["Task", "# Classes", "Setting", "Chance (uniform macro-F1)"]
    header += [_header(m, p) for _, m, p in columns] + ["Δ"]
    lines = [f"### {probe} probe, {METRIC_NAMES.get(metric, metric)}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    footnotes: dict[str, int] = {}
    keys = sorted({(r.task, r.setting) for r in sub[["task", "setting"]].itertuples()},
                  key=lambda k: (k[0], _setting_key(k[1])))
    for task, setting in keys:
        row = sub[(sub["task"] == task) & (sub["setting"] == setting)]
        first = row.iloc[0]
        cells = [task, str(int(first["n_classes"])), setting, _number(first["chance_uniform"])]
        best = {"method": [], "other": []}
        for kind, method, preset in columns:
            hit = row[(row["method"] == method) & (row["preset"] == preset)]
            if hit.empty:
                cells.append("not run")
                continue
            r = hit.iloc[0]
            if r["status"] == "ok":
                cells.append(f"{r['mean']:.4f} ± {r['std']:.4f}")
                best["method" if kind == "method" else "other"].append(r["mean"])
            elif r["status"] == "incomplete":
                cells.append(f"incomplete ({r['folds']} folds)")
            else:
                n = footnotes.setdefault(r["reason"], len(footnotes) + 1)
                cells.append(f"{'N/A' if r['status'] == 'not_applicable' else 'failed'} [{n}]")
        delta = max(best["method"]) - max(best["other"]) + 0.0 if best["method"] and best["other"] else None
        cells.append("–" if delta is None else f"{delta:+.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", cells_note(probe, metric)]
    if footnotes:
        lines += [""] + [f"- [{n}] {reason}" for reason, n in footnotes.items()]
    return "\n".join(lines) + "\n"


def _dataset_page(df: pd.DataFrame, dataset: str) -> str:
    """The whole page of a dataset: title and one table per (probe, metric)."""
    probes = sorted(set(df.loc[df["dataset"] == dataset, "probe"]), key=_probe_key)
    tables = [t for t in TABLES if t[0] in probes] + [(p, "macro_f1") for p in probes if p not in PROBE_ORDER]
    parts = [f"# Leaderboard: {dataset}\n\nGenerated by `neuronbench leaderboard` from `results/`; "
             "do not edit by hand. The first table is the headline.\n"]
    parts += [render_markdown(df, dataset, probe, metric) for probe, metric in tables]
    return "\n".join(parts)


def _readme(files_of: dict[str, list[str]]) -> str:
    lines = ["# Leaderboards", "",
             "This folder is generated by `neuronbench leaderboard` from the result records in "
             "`results/` and is never edited by hand: rerun the command instead.", ""]
    if not files_of:
        lines.append("No result records yet.")
    for dataset, files in files_of.items():
        lines.append(f"- **{dataset}**: " + ", ".join(f"[{f}]({f})" for f in files))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- figures

def write_figure(df: pd.DataFrame, dataset: str, probe: str, path: Path) -> None:
    """Macro-F1 per method (bars, ± std error bars, dashed uniform chance line), one panel per
    (task, setting); written atomically with fixed size, dpi and no varying metadata."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sub = df[(df["dataset"] == dataset) & (df["probe"] == probe) & (df["metric"] == "macro_f1")]
    columns = _method_columns(df[df["dataset"] == dataset])
    keys = sorted({(r.task, r.setting) for r in sub[["task", "setting"]].itertuples()},
                  key=lambda k: (k[0], _setting_key(k[1])))
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig = Figure(figsize=(1.0 + 0.6 * len(columns) * ncols + 0.8 * ncols, 3.2 * nrows))
    FigureCanvasAgg(fig)
    colors = {"method": "tab:blue", "baseline": "tab:orange", "control": "tab:gray"}
    for i, (task, setting) in enumerate(keys):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        panel = sub[(sub["task"] == task) & (sub["setting"] == setting)]
        for x, (kind, method, preset) in enumerate(columns):
            hit = panel[(panel["method"] == method) & (panel["preset"] == preset)]
            if hit.empty:
                continue
            r = hit.iloc[0]
            if r["status"] == "ok":
                ax.bar(x, r["mean"], yerr=r["std"], color=colors.get(kind, "tab:purple"), capsize=3)
            else:
                label = {"not_applicable": "N/A", "failed": "failed", "incomplete": "incompl."}[r["status"]]
                ax.text(x, 0.02, label, ha="center", va="bottom", rotation=90, fontsize=7)
        chance = panel["chance_uniform"].iloc[0]
        if not math.isnan(chance):
            ax.axhline(chance, color="black", linestyle="--", linewidth=1, label="chance (uniform)")
            ax.legend(loc="upper right", fontsize=7, frameon=False)
        ax.set_xticks(range(len(columns)))
        ax.set_xticklabels([_header(m, p) for _, m, p in columns], rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("macro-F1")
        ax.set_title(f"{task}, {setting}", fontsize=9)
    fig.suptitle(f"{dataset}: {probe} probe, mean ± std over encoder seeds", fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=FIGURE_DPI, metadata={"Software": None}))


# ---------------------------------------------------------------- the folder

def build_leaderboard(results_dir: Path, out_dir: Path) -> list[Path]:
    """Write the tables and figures of every dataset in ``results_dir`` to ``out_dir``,
    plus a README index; remove *.md, *.csv and *.png left in ``out_dir`` by an earlier run
    (nothing else). Returns the written paths, sorted."""
    out_dir = Path(out_dir)
    df = aggregate(iter_records(Path(results_dir)))
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    files_of: dict[str, list[str]] = {}
    for dataset in sorted(set(df["dataset"])):
        sub = df[df["dataset"] == dataset]
        md, csv = out_dir / f"{dataset}.md", out_dir / f"{dataset}.csv"
        atomic_write_text(md, _dataset_page(df, dataset))
        atomic_write_text(csv, sub.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
        pngs = []
        for probe in sorted(set(sub["probe"]), key=_probe_key):
            pngs.append(out_dir / f"{dataset}-{probe}.png")
            write_figure(df, dataset, probe, pngs[-1])
        written += [md, csv, *pngs]
        files_of[dataset] = [p.name for p in (md, csv, *pngs)]
    readme = out_dir / "README.md"
    atomic_write_text(readme, _readme(files_of))
    written.append(readme)
    for old in sorted(out_dir.iterdir()):
        if old.is_file() and old.suffix in GENERATED_SUFFIXES and old not in written:
            old.unlink()
    return sorted(written)
