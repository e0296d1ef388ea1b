"""The leaderboard's figures, drawn from the tables `neuronbench.reports.aggregate`
computes (never from records directly), as byte-stable PNGs: fixed size and dpi, the Agg
renderer, and no varying metadata (`png`).

- `bar_figure`: a probe's macro-F1 per method and (task, setting): bars coloured by
  kind (method / baseline / control) with ± std error bars, one dot per encoder seed,
  and the two chance levels.
- `confusion_figure`: the confusion matrices of each cell's best encoder seed, one
  panel per (setting, method column) of a task, rows normalised (recall).
- `curve_figure`: label-efficiency (macro-F1 against the fraction of labelled
  probe-training neurons, log axis) or pretraining-scale (against the number of
  pretraining animals) curves, mean ± std over encoder seeds, one panel per (task,
  setting), one line per method column.
- `budget_figure`: a task's macro-F1 against the fit's CPU core-seconds (log axis), one
  point per training budget, one panel per setting, one line per learned method column,
  the controls as flat lines at their score, the leaderboard's budget (x1) ringed.

This module imports matplotlib; `neuronbench.reports.build` imports it only when it draws.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from neuronbench.protocol.metrics import MAIN_METRIC
from neuronbench.protocol.constants import METRIC_NAMES
from neuronbench.protocol.constants import HEADLINE_BUDGET
from neuronbench.protocol.datasets import SETTINGS
from neuronbench.reports.aggregate import SEED_SCORE, seed_values
from neuronbench.reports.aggregate import column_header as header

FIGURE_DPI = 100
KIND_COLORS = {"method": "tab:blue", "baseline": "tab:orange", "control": "tab:gray"}
# curves: one colour per method column, one marker per kind (line styles are the chance levels')
KIND_MARKERS = {"method": "o", "baseline": "s", "control": "^"}
NOT_RUN_LABELS = {"not_applicable": "N/A", "failed": "failed", "incomplete": "incomplete", "missing": "not run"}
LABEL_FRACTION_TICKS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)

Column = tuple[str, str, str]  # (kind, method, preset) of a method column


def png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes: fixed dpi and no varying metadata, so the same figure gives
    the same bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _legend_columns(n_handles: int, width: float) -> int:
    return min(n_handles, max(3, int(width / 1.9)))


def _legend_on_top(fig: Figure, handles: list, title: str, width: float, height: float, legend_in: float) -> None:
    """The title and the legend above the panels, off the data; then the panels' layout."""
    fig.suptitle(title, fontsize=10, y=1 - 0.08 / height)
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.28 / height),
               ncol=_legend_columns(len(handles), width), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - legend_in / height), pad=0.6)


def _chance_lines(ax: Any, uniform: float, majority: float) -> None:
    if not math.isnan(uniform):
        ax.axhline(uniform, color="black", linestyle="--", linewidth=1)
        ax.axhline(majority, color="black", linestyle=":", linewidth=1)


def _chance_handles() -> list:
    return [Line2D([], [], color="black", linestyle="--", linewidth=1, label="chance: uniform guess"),
            Line2D([], [], color="black", linestyle=":", linewidth=1, label="chance: majority class")]


def _grid(keys: Sequence[tuple[str, str]], panel_w: float,
          min_width: float) -> tuple[int, int, float, dict[tuple[str, str], int]]:
    """Rows, columns, width and each key's subplot index of a figure of one panel per
    (task, setting) key: a row per task and a column per setting when the keys hold at
    most the four settings (so a column is one setting); else up to 3 panels a row."""
    tasks = list(dict.fromkeys(t for t, _ in keys))
    settings = list(dict.fromkeys(s for _, s in keys))
    if len(settings) <= len(SETTINGS):
        where = {(t, s): tasks.index(t) * len(settings) + settings.index(s) + 1 for t, s in keys}
        nrows, ncols = len(tasks), len(settings)
    else:
        ncols = 3
        nrows = math.ceil(len(keys) / ncols)
        where = {k: i + 1 for i, k in enumerate(keys)}
    return nrows, ncols, max(min_width, panel_w * ncols), where


def _legend_height(n_handles: int, width: float) -> float:
    """Inches above the panels for the title and a legend of ``n_handles`` entries."""
    return 0.3 + 0.17 * math.ceil(n_handles / _legend_columns(n_handles, width))


def bar_figure(df: pd.DataFrame, dataset: str, probe: str, columns: Sequence[Column],
               keys: Sequence[tuple[str, str]]) -> Figure:
    """Macro-F1 of ``probe`` on ``dataset`` (rows of `neuronbench.reports.aggregate.aggregate`),
    one panel per (task, setting) of ``keys``, one bar per method column of ``columns``:
    the mean over encoder seeds coloured by kind, ± std error bar, a dot per seed; dashed
    and dotted lines: uniform-guess and majority-class chance. A cell without a number
    (N/A, failed, incomplete, not run) is a hatched grey slot labelled as such, never an
    empty slot that reads as zero. The legend sits above the panels, off the bars."""
    sub = df[(df["dataset"] == dataset) & (df["probe"] == probe) & (df["metric"] == MAIN_METRIC)]
    kinds = [k for k in KIND_COLORS if any(c[0] == k for c in columns)]
    nrows, ncols, width, slot = _grid(keys, 1.0 + 0.6 * len(columns), 6.0)
    legend_in = _legend_height(len(kinds) + 4, width)
    height = 3.2 * nrows + legend_in
    fig = _new_figure(width, height)
    for task, setting in keys:
        ax = fig.add_subplot(nrows, ncols, slot[(task, setting)])
        panel = sub[(sub["task"] == task) & (sub["setting"] == setting)]
        for x, (kind, method, preset) in enumerate(columns):
            hit = panel[(panel["method"] == method) & (panel["preset"] == preset)]
            status = "missing" if hit.empty else hit.iloc[0]["status"]
            if status == "ok":
                r = hit.iloc[0]
                ax.bar(x, r["mean"], yerr=r["std"], color=KIND_COLORS.get(kind, "tab:purple"), capsize=3,
                       error_kw={"linewidth": 1})
                values = [v for _, v in seed_values(r["seed_scores"])]
                offsets = np.linspace(-0.18, 0.18, len(values)) if len(values) > 1 else [0.0]
                ax.scatter(x + np.asarray(offsets), values, s=7, color="black", zorder=3, linewidths=0)
                continue
            ax.bar(x, 1.0, color="0.95", edgecolor="0.6", hatch="///", linewidth=0.5)
            ax.text(x, 0.5, NOT_RUN_LABELS[status], ha="center", va="center", rotation=90, fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
        first = panel.iloc[0]
        _chance_lines(ax, first["chance_uniform"], first["chance_majority"])
        ax.set_xticks(range(len(columns)))
        ax.set_xticklabels([header(m, p) for _, m, p in columns], rotation=45, ha="right", fontsize=8)
        ax.set_xlim(-0.6, len(columns) - 0.4)
        ax.set_ylim(0, 1.05)  # room for the error bar of a score near 1
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.grid(axis="y", color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_ylabel(METRIC_NAMES[MAIN_METRIC])
        ax.set_title(f"{task}, {setting}", fontsize=9)
    handles = [Patch(color=KIND_COLORS[k], label=k) for k in kinds]
    handles += [Line2D([], [], color="black", marker="o", markersize=3, linestyle="", label="one encoder seed"),
                Patch(facecolor="0.95", edgecolor="0.6", hatch="///", label="no number (N/A, failed, ...)"),
                *_chance_handles()]
    _legend_on_top(fig, handles,
                   f"{dataset}: {probe} probe, {METRIC_NAMES[MAIN_METRIC]}, mean ± std over encoder seeds",
                   width, height, legend_in)
    return fig


def confusion_figure(per_class: pd.DataFrame, dataset: str, probe: str, task: str, classes: Sequence[str],
                     settings: Sequence[str], columns: Sequence[Column]) -> Figure:
    """The confusion matrices of ``task`` on ``dataset`` for ``probe`` (rows of
    `neuronbench.reports.aggregate.per_class_rows`): one row of panels per setting, one column
    per method column, each the best encoder seed's matrix pooled over folds, rows
    normalised to the share of each true class (recall) and printed in percent. A cell
    without per-class numbers is an empty panel saying so."""
    k = len(classes)
    side = min(3.0, max(1.5, 0.32 * k + 0.6))  # inches per panel; capped for tasks with many classes
    legend_in = 0.5
    width = 1.2 + side * len(columns)
    height = legend_in + 0.9 + (side + 0.5) * len(settings)
    fig = _new_figure(width, height)
    sub = per_class[(per_class["dataset"] == dataset) & (per_class["probe"] == probe) & (per_class["task"] == task)]
    image = None
    for i, setting in enumerate(settings):
        for j, (kind, method, preset) in enumerate(columns):
            ax = fig.add_subplot(len(settings), len(columns), i * len(columns) + j + 1)
            cell = sub[(sub["setting"] == setting) & (sub["method"] == method) & (sub["preset"] == preset)]
            ax.set_xticks([])
            ax.set_yticks([])
            if cell.empty:
                ax.text(0.5, 0.5, "no numbers", ha="center", va="center", fontsize=7, color="0.4",
                        transform=ax.transAxes)
                for spine in ax.spines.values():
                    spine.set_color("0.85")
            else:
                counts = np.array([[float(v) for v in row.split()] for row in cell["predicted_counts"]])
                totals = counts.sum(axis=1, keepdims=True)
                share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
                image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
                if k <= 8:
                    for (r, c), v in np.ndenumerate(share):
                        ax.text(c, r, f"{100 * v:.0f}", ha="center", va="center", fontsize=6,
                                color="white" if v > 0.6 else "black")
                first = cell.iloc[0]
                ax.set_title(f"{header(method, preset)}\nseed {first['encoder_seed']}: {first[SEED_SCORE]:.3f}",
                             fontsize=7, color=KIND_COLORS.get(kind, "black"))
            if j == 0:
                ax.set_ylabel(f"{setting}\ntrue class", fontsize=7)
                ax.set_yticks(range(k))
                ax.set_yticklabels(classes, fontsize=6)
            if i == len(settings) - 1:
                ax.set_xlabel("predicted", fontsize=7)
                ax.set_xticks(range(k))
                ax.set_xticklabels(classes, fontsize=6, rotation=90)
            if cell.empty:
                ax.set_title(header(method, preset), fontsize=7)
    fig.suptitle(f"{dataset}, {task}: {probe} probe, confusion matrix of each cell's best encoder seed "
                 "(folds pooled; % of each true class)", fontsize=9, y=1 - 0.08 / height)
    fig.tight_layout(rect=(0, 0, 1, 1 - legend_in / height), pad=0.5)
    if image is not None:
        bar_ax = fig.add_axes((0.4, 1 - 0.42 / height, 0.2, 0.1 / height))
        fig.colorbar(image, cax=bar_ax, orientation="horizontal")
        bar_ax.tick_params(labelsize=6)
    return fig


def _x_positions(curve: str, values: Sequence[Any]) -> tuple[dict[Any, float], list[float], list[str]]:
    """Where each x value of a curve sits, and the ticks: label fractions on a log axis;
    pretraining animals 1, 2, ... and "all" (the headline run) after the largest one."""
    if curve == "label_efficiency":
        ticks = sorted(set(LABEL_FRACTION_TICKS) | {float(v) for v in values})
        return ({v: float(v) for v in values}, ticks, [f"{100 * t:g}%" for t in ticks])
    numbers = sorted({int(v) for v in values if v != "all"})
    where: dict[Any, float] = {v: float(v) for v in numbers}
    where["all"] = float(max(numbers, default=0) + 1)
    ticks = [*map(float, numbers), where["all"]]
    return where, ticks, [*map(str, numbers), "all\n(headline)"]


def curve_figure(curves: pd.DataFrame, chance: pd.DataFrame, dataset: str, probe: str, curve: str,
                 columns: Sequence[Column], keys: Sequence[tuple[str, str]]) -> Figure:
    """Macro-F1 curves of ``probe`` on ``dataset`` (rows of
    `neuronbench.reports.aggregate.curve_rows` with ``curve`` "label_efficiency" or
    "pretraining_scale"): one panel per (task, setting) of ``keys``, one line per method
    column (colour per column, marker per kind), mean ± std band over encoder seeds;
    the 100 % (all animals) point is the headline cell. Points without a number are left
    out, and so is a line with fewer than two points. ``chance``: `aggregate` rows, for the chance lines of each panel."""
    sub = curves[(curves["dataset"] == dataset) & (curves["probe"] == probe) & (curves["curve"] == curve)
                 & (curves["metric"] == MAIN_METRIC)]
    x_field = "label_fraction" if curve == "label_efficiency" else "pretrain_animals"
    nrows, ncols, width, slot = _grid(keys, 4.0, 8.0)
    legend_in = _legend_height(len(columns) + 2, width)
    height = 3.0 * nrows + legend_in
    fig = _new_figure(width, height)
    colors = [f"C{i % 10}" for i in range(len(columns))]
    shown: dict[int, Any] = {}
    for task, setting in keys:
        ax = fig.add_subplot(nrows, ncols, slot[(task, setting)])
        panel = sub[(sub["task"] == task) & (sub["setting"] == setting)]
        where, ticks, labels = _x_positions(curve, list(panel[x_field]))
        for j, (kind, method, preset) in enumerate(columns):
            line = panel[(panel["method"] == method) & (panel["preset"] == preset) & (panel["status"] == "ok")]
            if len(line) < 2:  # the headline alone (e.g. the other points N/A) is no curve
                continue
            x = np.array([where[v] for v in line[x_field]])
            order = np.argsort(x)
            mean, std = line["mean"].to_numpy()[order], line["std"].to_numpy()[order]
            shown[j] = ax.plot(x[order], mean, marker=KIND_MARKERS.get(kind, "o"), markersize=4, color=colors[j],
                               linewidth=1.2, label=f"{header(method, preset)} ({kind})")[0]
            ax.fill_between(x[order], mean - std, mean + std, color=colors[j], alpha=0.15, linewidth=0)
        head = chance[(chance["dataset"] == dataset) & (chance["task"] == task) & (chance["setting"] == setting)
                      & (chance["probe"] == probe) & (chance["metric"] == MAIN_METRIC)]
        if not head.empty:
            _chance_lines(ax, head.iloc[0]["chance_uniform"], head.iloc[0]["chance_majority"])
        if curve == "label_efficiency":
            ax.set_xscale("log")
            ax.set_xlim(min(ticks) / 1.3, 1.3)
            ax.set_xlabel("labelled probe-training neurons")
        else:
            ax.set_xlim(min(ticks) - 0.4, max(ticks) + 0.4)
            ax.set_xlabel("pretraining animals")
        ax.set_xticks(ticks)
        ax.set_xticklabels(labels, fontsize=7)
        ax.minorticks_off()
        ax.set_ylim(0, 1.05)
        ax.grid(color="0.9", linewidth=0.6)
        ax.set_ylabel(METRIC_NAMES[MAIN_METRIC])
        ax.set_title(f"{task}, {setting}", fontsize=9)
    handles = [shown[j] for j in sorted(shown)] + _chance_handles()
    what = "label efficiency" if curve == "label_efficiency" else "pretraining scale"
    _legend_on_top(fig, handles,
                   f"{dataset}: {what}, {probe} probe, {METRIC_NAMES[MAIN_METRIC]}, mean ± std over encoder seeds",
                   width, height, legend_in)
    return fig


def budget_figure(budget: pd.DataFrame, cells: pd.DataFrame, dataset: str, probe: str, task: str,
                  columns: Sequence[Column], keys: Sequence[tuple[str, str]]) -> Figure:
    """Training-budget curves of ``task`` on ``dataset`` for ``probe`` (rows of
    `neuronbench.reports.aggregate.budget_rows`): one panel per (task, setting) of
    ``keys``, one line per learned method column of ``columns``, a point per budget at its
    mean fit CPU core-seconds (log axis; an open marker where the records store wall-clock
    seconds only, record schema 3), macro-F1 mean ± std over encoder seeds, each point labelled
    with its budget and the leaderboard's budget (x1) ringed; from ``cells``
    (`aggregate` rows): each control as a flat line at its score, and the chance lines.
    A point without a number or a time is left out."""
    sub = budget[(budget["dataset"] == dataset) & (budget["probe"] == probe) & (budget["task"] == task)
                 & (budget["metric"] == MAIN_METRIC) & (budget["status"] == "ok")]
    here = cells[(cells["dataset"] == dataset) & (cells["probe"] == probe) & (cells["task"] == task)
                 & (cells["metric"] == MAIN_METRIC)]
    controls = sorted({(r.method, r.preset) for r in here[(here["kind"] == "control") & (here["status"] == "ok")]
                       .itertuples()})
    nrows, ncols, width, slot = _grid(keys, 4.5, 8.0)
    legend_in = _legend_height(len(columns) + len(controls) + 4, width)
    height = 3.2 * nrows + legend_in
    fig = _new_figure(width, height)
    colors = [f"C{i % 10}" for i in range(len(columns))]
    control_colors = {c: str(0.25 + 0.5 * i / max(1, len(controls) - 1)) for i, c in enumerate(controls)}
    shown: dict[Any, Any] = {}
    wall = False
    for task_, setting in keys:
        ax = fig.add_subplot(nrows, ncols, slot[(task_, setting)])
        panel = sub[sub["setting"] == setting]
        for j, (kind, method, preset) in enumerate(columns):
            line = panel[(panel["method"] == method) & (panel["preset"] == preset)].sort_values("budget")
            core = line["fit_core_s"].to_numpy(dtype=float)
            x = np.where(np.isnan(core), line["fit_s"].to_numpy(dtype=float), core)
            keep = ~np.isnan(x) & (x > 0)
            if not keep.any():
                continue
            x, mean, std = x[keep], line["mean"].to_numpy()[keep], line["std"].to_numpy()[keep]
            budgets, measured = line["budget"].to_numpy()[keep], ~np.isnan(core[keep])
            marker = KIND_MARKERS.get(kind, "o")
            shown[j] = ax.errorbar(x, mean, yerr=std, color=colors[j], marker=marker, markersize=5, linewidth=1.2,
                                   capsize=2, label=f"{header(method, preset)} ({kind})")
            ax.plot(x[~measured], mean[~measured], linestyle="", marker=marker, markersize=5, color=colors[j],
                    markerfacecolor="white", zorder=3)  # open: wall-clock seconds
            wall = wall or not measured.all()
            for xi, yi, b in zip(x, mean, budgets):
                ax.annotate(f"x{b:g}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=6,
                            color=colors[j])
                if b == HEADLINE_BUDGET:
                    ax.plot([xi], [yi], linestyle="", marker="o", markersize=12, markerfacecolor="none",
                            markeredgecolor="black", markeredgewidth=1)
        for method, preset in controls:
            hit = here[(here["setting"] == setting) & (here["method"] == method) & (here["preset"] == preset)
                       & (here["status"] == "ok")]
            if not hit.empty:
                shown[(method, preset)] = ax.axhline(hit.iloc[0]["mean"], color=control_colors[(method, preset)],
                                                     linestyle="-.", linewidth=1.2,
                                                     label=f"{header(method, preset)} (control)")
        chance = here[here["setting"] == setting]
        if not chance.empty:
            _chance_lines(ax, chance.iloc[0]["chance_uniform"], chance.iloc[0]["chance_majority"])
        ax.set_xscale("log")
        ax.set_xlabel("fit CPU core-seconds (mean over records)", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.grid(color="0.9", linewidth=0.6)
        ax.set_ylabel(METRIC_NAMES[MAIN_METRIC])
        ax.set_title(f"{task}, {setting}", fontsize=9)
    handles = [shown[j] for j in range(len(columns)) if j in shown]
    handles += [shown[c] for c in controls if c in shown]
    handles.append(Line2D([], [], linestyle="", marker="o", markersize=10, markerfacecolor="none",
                          markeredgecolor="black", label=f"leaderboard budget (x{HEADLINE_BUDGET:g})"))
    if wall:
        handles.append(Line2D([], [], linestyle="", marker="o", markersize=5, markerfacecolor="white",
                              markeredgecolor="black", label="open: wall-clock s (record stores no core-s)"))
    handles += _chance_handles()
    _legend_on_top(fig, handles,
                   f"{dataset}, {task}: training budget, {probe} probe, {METRIC_NAMES[MAIN_METRIC]}, mean ± std "
                   "over encoder seeds", width, height, legend_in)
    return fig
