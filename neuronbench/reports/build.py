"""``neuronbench leaderboard``: read every record under ``results/``, aggregate
(`neuronbench.reports.aggregate`), render in memory (`.markdown`, `.figures`, `.site`),
then write the folder (`.files`, guarded by its manifest). A second run changes no byte.

The folder holds per dataset a Markdown page, CSVs, and a static site (``site/``) that
deploys alone: its pages, figures, CSV copies and record index all live inside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.record import iter_records
from neuronbench.reports import markdown, site
from neuronbench.reports.aggregate import (
    CURVES, Aggregate, probe_key, build_aggregate, method_columns, page_tables, row_keys,
)
from neuronbench.reports.files import MANIFEST, write_folder
from neuronbench.reports.markdown import SITE, csv_bytes


def figure_png(kind: str, *args: Any) -> bytes:
    """The ``<kind>_figure`` of `neuronbench.reports.figures` ("bar", "confusion",
    "curve", "budget") drawn with ``args``, as byte-stable PNG bytes (matplotlib is imported here, on
    first use: the tables need none)."""
    from neuronbench.reports import figures

    return figures.png(getattr(figures, f"{kind}_figure")(*args))


def _plain(name: str, what: str) -> str:
    """``name`` if it can be part of a file name, else a `NeuronbenchError`."""
    if Path(name).name != name or name in ("", ".", ".."):
        raise NeuronbenchError(f"{what} name {name!r} in the records is not a plain file name")
    return name


def render_folder(agg: Aggregate, records_url: str | None = None) -> dict[str, bytes]:
    """Every file of the leaderboard folder, by name relative to it, rendered in memory: per
    dataset a page (``<dataset>.md``), the long table (``<dataset>.csv``), the paired
    comparisons (``<dataset>-paired.csv``), the per-class view (``<dataset>-per-class.csv``)
    the curve points (``<dataset>-curves.csv``) and the training-budget points
    (``<dataset>-budget.csv``), each when there are any; the index ``README.md``; and the
    static site under ``site/`` (`neuronbench.reports.site`): its pages, a copy of each
    CSV, the bar figure per probe, the confusion-matrix, curve and training-budget figures
    (one per task, headline probe), and the record index (record links go to
    ``records_url`` when given)."""
    df, paired, per_class, curves, budget = agg.cells, agg.paired, agg.per_class, agg.curves, agg.budget
    files: dict[str, bytes] = {}
    files_of: dict[str, dict[str, Any]] = {}
    for dataset in sorted(set(df["dataset"])):
        _plain(dataset, "dataset")
        sub = df[df["dataset"] == dataset]
        pc = per_class[per_class["dataset"] == dataset]
        cv = curves[curves["dataset"] == dataset]
        bg = budget[budget["dataset"] == dataset]
        columns = method_columns(sub)
        names: dict[str, Any] = {"md": f"{dataset}.md", "csv": f"{dataset}.csv",
                                 "paired": markdown.paired_file(dataset), "per_class": f"{dataset}-per-class.csv",
                                 "curves": f"{dataset}-curves.csv" if not cv.empty else None,
                                 "budget": markdown.budget_file(dataset) if not bg.empty else None,
                                 "bars": {}, "confusion": {}, "curve_figures": {}, "budget_figures": {},
                                 "tasks": []}
        if not bg.empty:  # one figure per task, of the headline probe
            headline_probe = page_tables(sub, dataset)[0][0]
            for task in sorted(set(bg["task"])):
                points = bg[(bg["task"] == task) & (bg["probe"] == headline_probe)]
                if points.empty:
                    continue
                name = f"{SITE}/{dataset}-budget-{_plain(task, 'task')}.png"
                names["budget_figures"][task] = name
                files[name] = figure_png("budget", budget, df, dataset, headline_probe, task,
                                         method_columns(points), row_keys(points))  # controls have no budget
        files[names["md"]] = markdown.dataset_page(
            df, dataset, paired, bg, names["budget_figures"]).encode("utf-8")
        files[names["csv"]] = csv_bytes(sub)
        files[names["paired"]] = csv_bytes(paired[paired["dataset"] == dataset])
        files[names["per_class"]] = csv_bytes(pc)
        if names["curves"]:
            files[names["curves"]] = csv_bytes(cv)
        if names["budget"]:
            files[names["budget"]] = csv_bytes(bg)
        # the site deploys alone: it holds a copy of each CSV it offers
        names["downloads"] = [(f"{SITE}/{names[key]}", what) for key, what in (
            ("csv", "every cell, one row per probe and metric"),
            ("paired", "the paired comparisons behind the marks and Δ columns"),
            ("per_class", "per-class F1 and confusion-matrix rows of each cell's best seed"),
            ("curves", "the points of the curves"),
            ("budget", "the points of the training-budget curves, each paired with the budget-1 cell")) if names[key]]
        for name, _ in names["downloads"]:
            files[name] = files[name[len(SITE) + 1:]]
        if names["curves"]:
            names["curves"] = f"{SITE}/{names['curves']}"
        probes = sorted(set(sub["probe"]), key=probe_key)
        for probe in probes:
            keys = row_keys(sub[sub["probe"] == probe])
            names["bars"][probe] = f"{SITE}/{dataset}-{probe}.png"
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
    files.update(site.render_site(agg, files_of, records_url))
    files["README.md"] = markdown.readme(files_of, MANIFEST).encode("utf-8")
    return files


def build_leaderboard(results_dir: Path, out_dir: Path, records_url: str | None = None) -> list[Path]:
    """Write the tables and figures of every dataset in ``results_dir`` to ``out_dir``, plus
    a README index and the manifest ``leaderboard-manifest.json``; returns the written
    paths (manifest included), sorted. Everything is rendered in memory first (a failure
    there writes nothing), then written by `neuronbench.reports.files.write_folder`, which
    never replaces or removes a file the command did not write.

    The site's record links point to its record index, or to ``records_url`` + each
    record's path inside ``results_dir`` when given (e.g. the ``results/`` folder of a
    repository on the web).

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
    files = render_folder(build_aggregate(records, results_dir), records_url)
    return write_folder(out_dir, files)
