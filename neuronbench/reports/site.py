"""The static leaderboard site (``leaderboards/site/``): plain HTML and one CSS file that
open from disk (``file://``) or from any static host serving the folder alone: no
server code, no network, no framework; every figure, CSV and link stays inside the
folder (record links too, unless a base URL for them is given); a few lines of inline
JavaScript sort the tables, and everything reads without it.

- ``index.html``: every dataset with, per (task, setting), who wins: the best column
  overall, the best of kind "method" and its paired difference from the best baseline and
  the best control, and the winner against the runner-up
  (`neuronbench.reports.aggregate.paired_rows`).
- ``<dataset>.html``: the headline table (sortable by any column; the best cell of a
  row in bold, the cells not significantly different from it marked ≈; the winner; Δ
  columns with their 95 % interval, coloured when significant, "n.s."
  when not; N/A and failure reasons in a tooltip and a footnote), the bar figure, the
  other tables, the label-efficiency and pretraining-scale curves and the training-budget
  curves when there are any (a cell whose method scores significantly higher at x4 than
  at x1 carries the mark "† +gain at x4"), the per-class view (confusion matrices and
  per-class F1 of each cell's best seed) and
  links to the records behind every cell.
- ``records-<dataset>.html``: the record index: per record its file in ``results/``,
  SHA-256, cell, seed, fold, status and fold scores. A cell's record links point here, or
  to ``<records_url>/<file>`` when a base URL for the records is given.

Rendering only: the numbers come from `neuronbench.reports.aggregate.Aggregate`, the
figures' file names from `neuronbench.reports.build.render_folder`. Every text is
HTML-escaped; the same input gives the same bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote

import pandas as pd

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.metrics import MAIN_METRIC
from neuronbench.protocol.paired import LEVEL, N_BOOT
from neuronbench.protocol.constants import METRIC_NAMES
from neuronbench.reports.aggregate import (
    ALL_ANIMALS, CONVERGENCE_BUDGET, NOT_SIGNIFICANT, RUNNER_UP, SEED_SCORE, VERSUS, Aggregate, RecordEntry,
    best_cell, column_header, convergence_marks, deterministic, method_columns, page_tables, row_keys, seed_values,
    ties_with_winner,
)
from neuronbench.reports.markdown import (
    DETERMINISTIC_NOTE, SITE, TIE, WINNER_DELTA_HEADER, WINNER_HEADER, cells_note, convergence_note,
    convergence_text, paired_file, shared_seeds_note,
)

KIND_NAMES = {"method": "method", "baseline": "baseline", "control": "control"}
CURVE_TITLES = {"label_efficiency": "Label efficiency", "pretraining_scale": "Pretraining scale"}
STATUS_TEXT = {"not_applicable": "N/A", "failed": "failed", "incomplete": "incomplete", "missing": "not run"}

CSS = """\
:root { --method: #1f77b4; --baseline: #ff7f0e; --control: #7f7f7f; --line: #d8dde3; --muted: #5b6570; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1d2329; margin: 0; background: #fff; }
main { max-width: 1600px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin: .3rem 0 .4rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1.4rem 0 .4rem; }
a { color: #0b5cad; }
p, li { max-width: 75rem; }
.lead { color: var(--muted); }
nav.toc a { margin-right: .9rem; }
.crumb { font-size: .9rem; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: .4rem 0 .6rem; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .45rem; text-align: left; vertical-align: top; }
thead th { background: #f4f6f8; border-top: 3px solid transparent; font-weight: 600; vertical-align: bottom;
           min-width: 4.5em; }
th.k-method { border-top-color: var(--method); }
th.k-baseline { border-top-color: var(--baseline); }
th.k-control { border-top-color: var(--control); }
th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer; color: inherit; }
th button::after { content: " \\2195"; color: #9aa4ae; font-weight: 400; }
th[aria-sort="ascending"] button::after { content: " \\2191"; color: #1d2329; }
th[aria-sort="descending"] button::after { content: " \\2193"; color: #1d2329; }
td.num { text-align: right; white-space: nowrap; }
td.num a { color: inherit; text-decoration: none; }
td.num a:hover { text-decoration: underline; }
.sd, .ci, .pair { color: var(--muted); font-size: .82em; }
.ci, .pair, td.num .sd { display: block; }
td.nowrap, .records span { white-space: nowrap; }
td.best { font-weight: 700; background: #eef6ee; }
td.chance { color: var(--muted); }
td.none { color: var(--muted); font-style: italic; text-align: center; }
td.delta { white-space: nowrap; }
td.up { color: #1a7f37; }
td.down { color: #b3261e; }
td.ns { color: var(--muted); }
td.tie { background: #f3f8f3; }
.tie-mark { color: #1a7f37; font-weight: 700; margin-right: .15em; }
table.records-index td { font-size: .85em; }
.chip { display: inline-block; white-space: nowrap; padding: 0 .45em; border-radius: .7em; color: #fff;
        font-size: .85em; }
.chip.method { background: var(--method); }
.chip.baseline { background: var(--baseline); }
.chip.control { background: var(--control); }
.note { color: var(--muted); font-size: .85rem; }
ol.footnotes { font-size: .85rem; color: var(--muted); }
figure { margin: .6rem 0 1rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .85rem; }
details { margin: .4rem 0; }
summary { cursor: pointer; font-weight: 600; }
.records a { margin-right: .25em; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .2rem 1rem .6rem; margin: 1rem 0; }
tr:target { outline: 2px solid #0b5cad; }
"""

# Sorts a table by the clicked column: numbers (data-sort) high to low first, text A to Z
# first; a cell without a value sorts last both ways.
SORT_JS = """\
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    var button = th.querySelector("button");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var numeric = th.getAttribute("data-type") === "num";
      var first = numeric ? "descending" : "ascending";
      var order = th.getAttribute("aria-sort") === first ? (numeric ? "ascending" : "descending") : first;
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", order);
      var sign = order === "ascending" ? 1 : -1;
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-sort"), y = b.cells[col].getAttribute("data-sort");
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        if (numeric) { return sign * (parseFloat(x) - parseFloat(y)); }
        return sign * x.localeCompare(y);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


# ---------------------------------------------------------------- small pieces

def href(name: str) -> str:
    """The link from a page of the site to its file ``name`` (``site/x.png``): always
    inside the site folder, so that it deploys alone."""
    prefix = f"{SITE}/"
    if not name.startswith(prefix):
        raise ValueError(f"{name} is not a file of the site")
    return quote(name[len(prefix):])


def records_page(dataset: str) -> str:
    """The file of a dataset's record index, relative to the site folder."""
    return f"records-{dataset}.html"


def record_href(entry: RecordEntry, records_url: str | None) -> str:
    """Where a record's link points: ``<records_url>/<file in results/>`` when a base URL
    is given, else its row in the site's record index."""
    if records_url:
        return records_url.rstrip("/") + "/" + quote(entry.path)
    return f"{quote(records_page(entry.cell[0]))}#{record_id(entry)}"


def record_id(entry: RecordEntry) -> str:
    """The element id of a record's row in the record index."""
    return anchor("r", entry.path)


def anchor(*parts: str) -> str:
    """An element id made of ``parts`` (letters, digits, ``_`` and ``-`` only)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(parts))


def cell_id(probe: str, task: str, setting: str, method: str, preset: str) -> str:
    """The id of a cell's row in the per-class view."""
    return anchor("c", probe, task, setting, method, preset)


def _num(x: Any, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _signed(x: float) -> str:
    """A signed difference, 3 decimals; 4 when 3 would round a non-zero bound to 0."""
    digits = 4 if 0 < abs(x) < 0.0005 else 3
    return f"{x:+.{digits}f}".replace("-", "−")


def _chip(kind: str, text: str | None = None) -> str:
    return f'<span class="chip {escape(kind)}">{escape(text or KIND_NAMES.get(kind, kind))}</span>'


def _th(text: str, numeric: bool, kind: str | None = None, title: str | None = None) -> str:
    attrs = ' scope="col"' + (' data-type="num"' if numeric else "")
    attrs += f' class="k-{escape(kind)}"' if kind else ""
    attrs += f' title="{escape(title)}"' if title else ""
    return f"<th{attrs}><button type=\"button\">{escape(text)}</button></th>"


def _td(html: str, sort: str | float | None, cls: str = "", title: str | None = None) -> str:
    if isinstance(sort, float):
        sort = "" if math.isnan(sort) else f"{sort:.6f}"
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' data-sort="{escape(str(sort or ""))}"'
    attrs += f' title="{escape(title)}"' if title else ""
    return f"<td{attrs}>{html}</td>"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "sortable") -> str:
    body = "\n".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return (f'<div class="wrap"><table class="{cls}">\n<thead><tr>{"".join(head)}</tr></thead>\n'
            f"<tbody>\n{body}\n</tbody></table></div>")


def _page(title: str, body: str, crumb: bool) -> bytes:
    back = '<p class="crumb"><a href="index.html">← all datasets</a></p>\n' if crumb else ""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<link rel=\"icon\" href=\"data:,\">\n"
            "<link rel=\"stylesheet\" href=\"style.css\">\n</head>\n<body>\n<main>\n"
            f"{back}{body}\n</main>\n<script>\n{SORT_JS}</script>\n</body>\n</html>\n").encode("utf-8")


def _figure(name: str, alt: str, caption: str) -> str:
    return (f'<figure><a href="{href(name)}"><img src="{href(name)}" alt="{escape(alt)}"></a>'
            f"<figcaption>{caption}</figcaption></figure>")


class _Footnotes:
    """Numbered reasons of one table: each distinct reason once."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.reasons = prefix, {}

    def mark(self, reason: str) -> str:
        n = self.reasons.setdefault(reason, len(self.reasons) + 1)
        return f'<sup><a href="#{self.prefix}-{n}">{n}</a></sup>'

    def html(self) -> str:
        if not self.reasons:
            return ""
        items = "".join(f'<li id="{self.prefix}-{n}">{escape(r)}</li>' for r, n in self.reasons.items())
        return f'<ol class="footnotes">{items}</ol>'


# ---------------------------------------------------------------- the tables

def _score_cell(r: pd.Series | None, notes: _Footnotes, best: bool, probe: str, tie: bool = False,
                gain: float | None = None) -> str:
    """A method cell: mean ± std (the mean alone when `deterministic`) linking to the
    cell's per-class view, marked `TIE` when ``tie`` and with its convergence mark when
    ``gain`` (`convergence_marks`); or why there is no number."""
    if r is None:
        return _td("not run", None, "none")
    if r["status"] != "ok":
        text = STATUS_TEXT[r["status"]]
        if r["status"] == "incomplete":
            text += f" ({r['folds']} folds)"
        return _td(escape(text) + notes.mark(r["reason"]), None, "none", r["reason"])
    seeds = ", ".join(f"seed {s}: {v:.4f}" for s, v in seed_values(r["seed_scores"]))
    title = (f"{column_header(r['method'], r['preset'])}: {r['mean']:.4f} ± {r['std']:.4f} over "
             f"{r['n_seeds']} encoder seeds ({seeds}); folds {r['folds']}")
    link = f"#{cell_id(probe, r['task'], r['setting'], r['method'], r['preset'])}"
    spread = "" if deterministic(r) else f'<span class="sd">± {_num(r["std"])}</span>'
    mark = f'<span class="tie-mark">{TIE}</span>' if tie and not best else ""
    if tie and not best:
        title += "; not significantly different from the row's best (paired bootstrap)"
    html = f'{mark}<a href="{link}">{_num(r["mean"])}</a>{spread}'
    if gain is not None:
        html += f'<span class="pair budget-mark">{escape(convergence_text(gain))}</span>'
        title += (f"; scores {gain:+.4f} higher at x{CONVERGENCE_BUDGET:g} its preset's training (paired, "
                  "significant): not converged at x1")
    return _td(html, float(r["mean"]), "num best" if best else "num tie" if mark else "num", title)


def _delta_cell(pair: pd.DataFrame, row: pd.DataFrame) -> str:
    """A Δ cell: difference, 95 % interval, which two columns (and how many shared seeds
    when the two cells of ``row`` have more); coloured when significant."""
    if pair.empty or pair.iloc[0]["n_seeds"] == 0:
        return _td("–", None, "none", "no such pair with numbers in this row, or no shared encoder seed")
    p = pair.iloc[0]
    a, b = column_header(p["method"], p["preset"]), column_header(p["other"], p["other_preset"])
    significant = bool(p["significant"])
    cls = "delta " + ("ns" if not significant else "up" if p["diff"] > 0 else "down")
    marker = ("" if significant else f" {NOT_SIGNIFICANT}") + shared_seeds_note(p, row)
    role = ("the row's winner", "the runner-up") if p["versus"] == RUNNER_UP else \
        ("best method", f"best {p['versus']}")
    title = (f"{a} ({role[0]}) minus {b} ({role[1]}), paired over {p['n_seeds']} shared encoder "
             f"seeds and the same test neurons; {LEVEL:.0%} interval from a paired bootstrap ({N_BOOT} replicates)"
             + ("" if significant else "; the interval includes 0: not significant"))
    html = (f"{_signed(p['diff'])}{escape(marker)}<span class=\"ci\">[{_signed(p['ci_low'])}, "
            f"{_signed(p['ci_high'])}]</span><span class=\"pair\">{escape(a)} − {escape(b)}</span>")
    return _td(html, float(p["diff"]), cls, title)


def score_table(df: pd.DataFrame, paired: pd.DataFrame, dataset: str, probe: str, metric: str,
                notes_prefix: str, budget: pd.DataFrame | None = None) -> str:
    """One sortable table of a dataset, probe and metric: a row per (task, setting), the
    chance levels, a column per method (the row's best in bold; the convergence marks of
    ``budget``, `budget_rows`), and the two Δ columns; then its footnotes and how the
    cells are computed."""
    marks = None if budget is None else convergence_marks(budget, dataset, probe, metric)
    sub = df[(df["dataset"] == dataset) & (df["probe"] == probe) & (df["metric"] == metric)]
    pairs = paired[(paired["dataset"] == dataset) & (paired["probe"] == probe) & (paired["metric"] == metric)]
    columns = method_columns(df[df["dataset"] == dataset])
    name = METRIC_NAMES.get(metric, metric)
    head = [_th("Task", False), _th("Classes", True), _th("Setting", False),
            _th("Chance: uniform / majority", True, title=f"{name} of a uniform random guess (expected; above) and of always "
                                      "predicting the most frequent class (below); sorted by the first")]
    head += [_th(column_header(m, p), True, kind, f"{kind}") for kind, m, p in columns]
    head += [_th(WINNER_HEADER, False, title="the best cell of the row"),
             _th(WINNER_DELTA_HEADER, True,
                 title=f"the winner minus the second-best cell, paired; {LEVEL:.0%} interval")]
    head += [_th(f"Δ vs best {v}", True, title=f"best method minus best {v}, paired; {LEVEL:.0%} interval")
             for v in VERSUS]
    notes = _Footnotes(notes_prefix)
    rows = []
    for task, setting in row_keys(sub):
        row = sub[(sub["task"] == task) & (sub["setting"] == setting)]
        first, best = row.iloc[0], best_cell(row)
        here = pairs[(pairs["task"] == task) & (pairs["setting"] == setting)]
        ties = ties_with_winner(here)
        cells = [_td(escape(task), task), _td(str(int(first["n_classes"])), float(first["n_classes"]), "num"),
                 _td(escape(setting), setting),
                 _td(f'{_num(first["chance_uniform"])}<span class="sd">{_num(first["chance_majority"])}</span>',
                     float(first["chance_uniform"]), "num chance",
                     f"uniform guess {_num(first['chance_uniform'], 4)}, majority class "
                     f"{_num(first['chance_majority'], 4)}")]
        for kind, method, preset in columns:
            hit = row[(row["method"] == method) & (row["preset"] == preset)]
            r = None if hit.empty else hit.iloc[0]
            is_best = best is not None and r is not None and r.name == best.name
            cells.append(_score_cell(r, notes, is_best, probe, (method, preset) in ties,
                                     (marks or {}).get((task, setting, method, preset))))
        cells.append(_winner_cell(best))
        for versus in (RUNNER_UP, *VERSUS):
            cells.append(_delta_cell(here[here["versus"] == versus], row))
        rows.append(cells)
    note = cells_note(probe, metric, paired_file(dataset) if not pairs.empty else None)
    if marks is not None:
        note += " " + convergence_note(dataset)
    return (_table(head, rows) + notes.html()
            + f'<p class="note">Bold and shaded: the best cell of the row; {TIE}: not significantly different from it. '
            + f"{escape(DETERMINISTIC_NOTE)} "
            + ("" if marks is None else f"{escape(convergence_note(dataset))} ")
            + 'Click a column header to sort, a number for its per-class view and records.</p>'
            + f'<details class="note"><summary>How these numbers are computed</summary><p>{escape(note)}</p></details>')


def _winner_cell(best: pd.Series | None) -> str:
    if best is None:
        return _td("–", None, "none")
    label = column_header(best["method"], best["preset"])
    return _td(_chip(best["kind"], label), label, "nowrap")


# ---------------------------------------------------------------- per-class view and records

def _records_html(entries: Sequence[RecordEntry], records_url: str | None) -> str:
    """The records of a cell, per encoder seed: one link per fold (`record_href`)."""
    by_seed: dict[int, list[RecordEntry]] = {}
    for entry in entries:
        by_seed.setdefault(entry.encoder_seed, []).append(entry)
    parts = []
    for seed, seed_entries in by_seed.items():
        if len(seed_entries) == 1:
            parts.append(f'<span><a href="{escape(record_href(seed_entries[0], records_url))}">seed {seed}</a></span>')
        else:
            folds = " ".join(f'<a href="{escape(record_href(x, records_url))}">{x.fold}</a>' for x in seed_entries)
            parts.append(f"<span>seed {seed} (folds {folds})</span>")
    return '<span class="records">' + " · ".join(parts) + "</span>"


def per_class_table(df: pd.DataFrame, per_class: pd.DataFrame, links: dict[tuple, list[RecordEntry]],
                    dataset: str, probe: str, task: str, notes_prefix: str, records_url: str | None) -> str:
    """Per (setting, method column) of a task: the best encoder seed, its macro-F1, the F1
    of each class, and the links to every record of the cell (also the cells without a
    number: their records say why)."""
    sub = df[(df["dataset"] == dataset) & (df["probe"] == probe) & (df["metric"] == MAIN_METRIC) & (df["task"] == task)]
    pc = per_class[(per_class["dataset"] == dataset) & (per_class["probe"] == probe) & (per_class["task"] == task)]
    classes = list(dict.fromkeys(pc["class"])) if not pc.empty else []
    head = [_th("Setting", False), _th("Method", False), _th("Best seed", True), _th("Seed macro-F1", True)]
    head += [_th(f"F1 {c}", True) for c in classes] + ["<th scope=\"col\">Records</th>"]
    notes = _Footnotes(notes_prefix)
    rows = []
    for _, setting in row_keys(sub):
        row = sub[sub["setting"] == setting]
        for kind, method, preset in method_columns(df[df["dataset"] == dataset]):
            hit = row[(row["method"] == method) & (row["preset"] == preset)]
            if hit.empty:
                continue
            r = hit.iloc[0]
            name = column_header(method, preset)
            cid = cell_id(probe, task, setting, method, preset)
            cells = [_td(escape(setting), setting), _td(_chip(kind, name), name)]
            mine = pc[(pc["setting"] == setting) & (pc["method"] == method) & (pc["preset"] == preset)]
            if mine.empty:
                text = STATUS_TEXT[r["status"]] + notes.mark(r["reason"])
                cells += [_td(text, None, "none", r["reason"]), _td("–", None, "none")]
                cells += [_td("–", None, "none") for _ in classes]
            else:
                first = mine.iloc[0]
                cells += [_td(str(first["encoder_seed"]), float(first["encoder_seed"]), "num"),
                          _td(_num(first[SEED_SCORE]), float(first[SEED_SCORE]), "num")]
                by_class = {c["class"]: c for c in mine.to_dict("records")}
                for c in classes:
                    x = by_class.get(c)
                    f1 = math.nan if x is None else float(x["f1"])
                    title = None if x is None else (f"{c}: {x['n_true']} test neurons; predicted as "
                                                    f"{x['predicted_counts']}")
                    cells.append(_td(_num(f1), f1, "num", title))
            cells.append(_td(_records_html(links.get((dataset, task, setting, method, preset), []), records_url),
                             None))
            rows.append((cid, cells))
    body = "\n".join(f'<tr id="{cid}">' + "".join(cells) + "</tr>" for cid, cells in rows)
    return (f'<div class="wrap"><table class="sortable">\n<thead><tr>{"".join(head)}</tr></thead>\n'
            f"<tbody>\n{body}\n</tbody></table></div>" + notes.html())


# ---------------------------------------------------------------- curves

def _x_text(curve: str, x: Any) -> str:
    if curve == "label_efficiency":
        return f"{100 * float(x):g}%"
    return "all" if x == ALL_ANIMALS else str(x)


def curve_table(curves: pd.DataFrame, dataset: str, probe: str, curve: str) -> str:
    """The points of one curve as a table: a row per (task, setting, method column), a
    column per x (label fraction or pretraining animals), mean ± std over seeds."""
    sub = curves[(curves["dataset"] == dataset) & (curves["probe"] == probe) & (curves["curve"] == curve)
                 & (curves["metric"] == MAIN_METRIC)]
    x_field = "label_fraction" if curve == "label_efficiency" else "pretrain_animals"
    xs = sorted(set(sub[x_field]), key=lambda x: (x == ALL_ANIMALS, 0.0 if x == ALL_ANIMALS else float(x)))
    head = [_th("Task", False), _th("Setting", False), _th("Method", False)]
    head += [_th(_x_text(curve, x), True) for x in xs]
    rows = []
    for (task, setting, kind, method, preset), line in sub.groupby(["task", "setting", "kind", "method", "preset"],
                                                                    sort=False):
        name = column_header(method, preset)
        cells = [_td(escape(task), task), _td(escape(setting), setting), _td(_chip(kind, name), name)]
        for x in xs:
            hit = line[line[x_field] == x]
            if hit.empty:
                cells.append(_td("–", None, "none"))
            elif hit.iloc[0]["status"] != "ok":
                r = hit.iloc[0]
                cells.append(_td(STATUS_TEXT[r["status"]], None, "none", r["reason"]))
            else:
                r = hit.iloc[0]
                cells.append(_td(f'{_num(r["mean"])} <span class="sd">± {_num(r["std"])}</span>', float(r["mean"]),
                                 "num", f"{r['n_seeds']} encoder seeds; folds {r['folds']}"))
        rows.append(cells)
    return _table(head, rows)


def budget_section(budget: pd.DataFrame, df: pd.DataFrame, dataset: str, figures: dict[str, str],
                   csv_name: str) -> str:
    """The training-budget section of a dataset's page: per task its figure (``figures``:
    task -> file under `SITE`) and a table of the points of the headline probe (a row per
    setting and method column, a column per budget: mean ± std, fit core-seconds, and
    the paired difference from budget 1); ``csv_name``: the points' file."""
    probe = page_tables(df, dataset)[0][0]
    sub = budget[(budget["probe"] == probe) & (budget["metric"] == MAIN_METRIC)]
    xs = sorted(set(sub["budget"]))
    parts = ['<h2 id="budget">Training budget</h2>',
             f"<p>Each learned method trained at several multiples of its preset's training (x1: the leaderboard's "
             f"budget, ringed), {escape(METRIC_NAMES[MAIN_METRIC])} of the {escape(probe)} probe against the mean "
             "CPU core-seconds of the fit (log axis; an open marker where the records hold wall-clock seconds "
             "only), mean ± std over encoder seeds, folds pooled as in the tables; the controls, which do not "
             "train, as flat lines at their score. Under each point: its difference from x1, paired over shared "
             f"encoder seeds and test neurons ({LEVEL:.0%} interval, “{NOT_SIGNIFICANT}” when it includes 0). "
             f'Points: <a href="{href(f"{SITE}/{csv_name}")}">{escape(csv_name)}</a>.</p>']
    for task, name in figures.items():
        parts.append(f"<h3>{escape(task)}</h3>")
        parts.append(_figure(name, f"{dataset}, {task}: {METRIC_NAMES[MAIN_METRIC]} against fit core-seconds",
                             f"{escape(task)}: a line per learned method, a point per training budget."))
        head = [_th("Setting", False), _th("Method", False)] + [_th(f"x{b:g}", True) for b in xs]
        rows = []
        mine = sub[sub["task"] == task]
        for (setting, kind, method, preset), line in mine.groupby(["setting", "kind", "method", "preset"], sort=False):
            name_ = column_header(method, preset)
            cells = [_td(escape(setting), setting), _td(_chip(kind, name_), name_)]
            for b in xs:
                hit = line[line["budget"] == b]
                if hit.empty:
                    cells.append(_td("–", None, "none"))
                    continue
                r = hit.iloc[0]
                if r["status"] != "ok":
                    cells.append(_td(STATUS_TEXT[r["status"]], None, "none", r["reason"]))
                    continue
                seconds = r["fit_core_s"] if not math.isnan(r["fit_core_s"]) else r["fit_s"]
                unit = "core-s" if not math.isnan(r["fit_core_s"]) else "wall s"
                html = (f'{_num(r["mean"])} <span class="sd">± {_num(r["std"])}</span>'
                        f'<span class="pair">{"–" if math.isnan(seconds) else f"{seconds:.3g}"} {unit}</span>')
                if int(r["n_paired_seeds"]) > 0:
                    marker = "" if r["significant"] else f" {NOT_SIGNIFICANT}"
                    html += (f'<span class="ci">{_signed(r["diff_vs_headline"])}{escape(marker)} vs x1 '
                             f'[{_signed(r["ci_low"])}, {_signed(r["ci_high"])}]</span>')
                paired_with = f"; {r['n_paired_seeds']} seeds paired with x1" if int(r["n_paired_seeds"]) else ""
                cells.append(_td(html, float(r["mean"]), "num",
                                 f"{r['n_seeds']} encoder seeds; folds {r['folds']}{paired_with}"))
            rows.append(cells)
        parts.append(_table(head, rows))
    return "\n".join(parts)


# ---------------------------------------------------------------- pages

def _summary_table(df: pd.DataFrame, paired: pd.DataFrame, dataset: str) -> str:
    """Who wins where on a dataset's headline table (the first of `page_tables`)."""
    probe, metric = page_tables(df, dataset)[0]
    sub = df[(df["dataset"] == dataset) & (df["probe"] == probe) & (df["metric"] == metric)]
    pairs = paired[(paired["dataset"] == dataset) & (paired["probe"] == probe) & (paired["metric"] == metric)]
    head = [_th("Task", False), _th("Setting", False), _th("Best overall", False), _th(WINNER_DELTA_HEADER, True),
            _th("Best method", False)]
    head += [_th(f"Δ vs best {v}", True) for v in VERSUS]
    rows = []
    for task, setting in row_keys(sub):
        row = sub[(sub["task"] == task) & (sub["setting"] == setting)]
        here = pairs[(pairs["task"] == task) & (pairs["setting"] == setting)]
        cells = [_td(escape(task), task), _td(escape(setting), setting)]
        for kind in (None, "method"):
            b = best_cell(row, kind)
            if b is None:
                cells.append(_td("–", None, "none"))
            else:
                label = column_header(b["method"], b["preset"])
                spread = "" if deterministic(b) else f" <span class=\"sd\">± {_num(b['std'])}</span>"
                cells.append(_td(f"{_chip(b['kind'], label)} {_num(b['mean'])}{spread}", label, "nowrap"))
            if kind is None:
                cells.append(_delta_cell(here[here["versus"] == RUNNER_UP], row))
        for versus in VERSUS:
            cells.append(_delta_cell(here[here["versus"] == versus], row))
        rows.append(cells)
    return (f"<p>Headline: {escape(probe)} probe, {escape(METRIC_NAMES.get(metric, metric))}.</p>"
            + _table(head, rows))


def index_page(df: pd.DataFrame, paired: pd.DataFrame, pages: dict[str, str]) -> bytes:
    """The index: one card per dataset (``pages``: dataset -> its page's file name) with
    who wins where."""
    cards = []
    for dataset, page in pages.items():
        sub = df[df["dataset"] == dataset]
        counts = [(sub["task"].nunique(), "task"), (sub["setting"].nunique(), "setting"),
                  (len(method_columns(sub)), "method column")]
        what = ", ".join(f"{n} {name}{'' if n == 1 else 's'}" for n, name in counts)
        cards.append(f'<section class="card"><h2><a href="{href(page)}">{escape(dataset)}</a></h2>'
                     f'<p class="lead">{what}.</p>{_summary_table(df, paired, dataset)}</section>')
    intro = (
        "<h1>neuronbench leaderboards</h1>\n<p class=\"lead\">Which method best recovers a neuron's identity "
        "(cell type, brain region) from its recorded activity: a frozen embedding per neuron, a probe trained on "
        "labelled neurons, scored on held-out neurons. Generated by <code>neuronbench leaderboard</code> from the "
        "result records in <code>results/</code>; never edited by hand.</p>\n"
        f"<p>Columns are of three kinds: {_chip('method')} the methods under study, {_chip('baseline')} published "
        f"baselines, {_chip('control')} controls (hand-crafted features, random embeddings). "
        "Numbers are mean ± std over encoder seeds (the mean alone when every seed gives the same score). "
        f"{WINNER_DELTA_HEADER}: the best cell minus the second best; Δ: the best method minus the best baseline "
        f"(control); each paired over shared seeds and test neurons, with its {LEVEL:.0%} interval: green, "
        f"significantly above 0; red, significantly below; grey “{NOT_SIGNIFICANT}”, the interval includes 0.</p>"
    )
    return _page("neuronbench leaderboards", intro + "\n" + "\n".join(cards), crumb=False)


def dataset_page(agg: Aggregate, links: dict[tuple, list[RecordEntry]], dataset: str, files: dict[str, Any],
                 records_url: str | None) -> bytes:
    """A dataset's page. ``files`` names (relative to the leaderboard folder, all under
    `SITE`) its ``downloads`` ((file, what) pairs), its ``bars`` figures by probe,
    ``confusion`` figures by (probe, task) and ``curve_figures`` by (probe, curve) and the
    ``curves`` CSV (or None), ``budget_figures`` by task and the ``budget`` CSV (or None,
    a name relative to the folder); ``tasks`` lists the (probe, task) sections of the
    per-class view. ``links``: the records of each cell."""
    df, paired, per_class, curves = agg.cells, agg.paired, agg.per_class, agg.curves
    budget = agg.budget[agg.budget["dataset"] == dataset]
    tables = page_tables(df, dataset)
    (probe, metric), others = tables[0], tables[1:]
    sections = [("headline", "Headline"), ("figures", "Figures"), ("tables", "More tables")]
    if files["curve_figures"]:
        sections.append(("curves", "Curves"))
    if files.get("budget_figures"):
        sections.append(("budget", "Training budget"))
    sections += [("per-class", "Per-class view"), ("files", "Files")]
    parts = [f"<h1>{escape(dataset)}</h1>",
             '<nav class="toc">' + "".join(f'<a href="#{i}">{t}</a>' for i, t in sections) + "</nav>",
             f'<p class="lead">Columns: {_chip("method")} {_chip("baseline")} {_chip("control")}. Bold and shaded: '
             f"the best cell of the row (the winner); {TIE}: not significantly different from it. "
             f"{WINNER_DELTA_HEADER}: the winner minus the second-best cell; Δ: the best method minus the best "
             f"baseline (control); each paired, with its {LEVEL:.0%} interval: green, significantly above 0; red, "
             f"significantly below; grey “{NOT_SIGNIFICANT}”, the interval includes 0. Hover a cell for its seeds, "
             "a “N/A” for its reason.</p>",
             f'<h2 id="headline">Headline: {escape(probe)} probe, {escape(METRIC_NAMES.get(metric, metric))}</h2>',
             score_table(df, paired, dataset, probe, metric, "fn-0", budget)]
    parts.append('<h2 id="figures">Figures</h2>')
    for p, name in files["bars"].items():
        parts.append(_figure(name, f"{dataset}: {METRIC_NAMES[MAIN_METRIC]} of the {p} probe per method, task and "
                             "setting",
                             f"{escape(p)} probe: bars are the mean over encoder seeds (coloured by kind), whiskers "
                             "± std, dots single seeds; dashed and dotted lines: chance (uniform guess, majority "
                             "class)."))
    parts.append('<h2 id="tables">More tables</h2>')
    for i, (p, m) in enumerate(others, start=1):
        parts.append(f"<details><summary>{escape(p)} probe, {escape(METRIC_NAMES.get(m, m))}</summary>"
                     + score_table(df, paired, dataset, p, m, f"fn-{i}", budget) + "</details>")
    if not others:
        parts.append("<p>No other probe or metric.</p>")
    if files["curve_figures"]:
        parts.append('<h2 id="curves">Curves</h2>')
        parts.append(f"<p>{METRIC_NAMES[MAIN_METRIC]} as the share of labelled probe-training neurons shrinks (label "
                     "efficiency) and as the number of pretraining animals grows (pretraining scale), mean ± std "
                     "over encoder seeds, folds pooled as in the tables. The 100 % / “all” point is the headline "
                     f'cell. Points: <a href="{href(files["curves"])}">{escape(files["curves"])}</a>.</p>')
        for (p, curve), name in files["curve_figures"].items():
            title = f"{CURVE_TITLES[curve]}, {p} probe"
            parts.append(f"<h3>{escape(title)}</h3>")
            parts.append(_figure(name, f"{dataset}: {title}",
                                 escape(title) + ": lines per method column, band ± std."))
            parts.append(curve_table(curves, dataset, p, curve))
    if files.get("budget_figures"):
        parts.append(budget_section(budget, df, dataset, files["budget_figures"], files["budget"]))
    parts.append('<h2 id="per-class">Per-class view</h2>')
    parts.append("<p>Each cell's best encoder seed (highest macro-F1), its test predictions pooled over folds: the "
                 "F1 of each class and the confusion matrix, and every record behind the cell (one JSON file per "
                 "fold and seed"
                 + (f', at <a href="{escape(records_url)}">{escape(records_url)}</a>' if records_url else
                    f', listed in the <a href="{quote(records_page(dataset))}">record index</a>') + ").</p>")
    for i, (p, task) in enumerate(files["tasks"]):
        parts.append(f"<h3>{escape(task)}, {escape(p)} probe</h3>")
        if (p, task) in files["confusion"]:
            parts.append(_figure(files["confusion"][(p, task)], f"{dataset}, {task}: confusion matrices",
                                 "Rows: true class, columns: predicted class, % of each true class."))
        parts.append(per_class_table(df, per_class, links, dataset, p, task, f"pc-{i}", records_url))
    parts.append('<h2 id="files">Files</h2><ul>' + "".join(
        f'<li><a href="{href(n)}">{escape(n[len(SITE) + 1:])}</a>: {escape(what)}</li>'
        for n, what in files["downloads"])
        + f'<li><a href="{quote(records_page(dataset))}">{escape(records_page(dataset))}</a>: every record behind '
        "the tables</li></ul>")
    return _page(f"neuronbench: {dataset}", "\n".join(parts), crumb=True)


def _record_scores(entry: RecordEntry) -> str:
    return " ".join(f"{probe} {value:.4f}" for probe, value in entry.scores) or "–"


def records_index(entries: Sequence[RecordEntry], dataset: str, records_url: str | None) -> bytes:
    """The record index of a dataset: a row per headline record (id `record_id`), with
    what identifies it (its file in ``results/`` and the file's SHA-256, the cell, config
    hash, split checksum, commit) and what it holds (seed, fold, status or reason, test
    neurons, each probe's fold score)."""
    head = [_th(h, n) for h, n in (("Task", False), ("Setting", False), ("Method", False), ("Seed", True),
                                   ("Fold", True), ("Status", False), ("Test neurons", True),
                                   (f"Fold {METRIC_NAMES[MAIN_METRIC]} per probe", False), ("Record", False))]
    rows = []
    for e in entries:
        _, task, setting, method, preset = e.cell
        name = column_header(method, preset)
        file = (f'<a href="{escape(record_href(e, records_url))}">{escape(e.path)}</a>' if records_url
                else f"<code>{escape(e.path)}</code>")
        what = (f"{file}<br><span class=\"sd\">SHA-256 {e.sha256}; config {escape(e.config_hash)}; split "
                f"{escape(e.split_checksum[:12])}; commit {escape(e.git_commit[:10])}</span>")
        status = escape(e.status) + (f": {escape(e.reason)}" if e.reason else "")
        cells = [_td(escape(task), task), _td(escape(setting), setting), _td(_chip(e.kind, name), name),
                 _td(str(e.encoder_seed), float(e.encoder_seed), "num"),
                 _td(f"{e.fold + 1}/{e.n_folds}", float(e.fold), "num"), _td(status, e.status),
                 _td("–" if e.n_test is None else str(e.n_test), math.nan if e.n_test is None else float(e.n_test),
                     "num"),
                 _td(escape(_record_scores(e)), None), _td(what, e.path)]
        rows.append(f'<tr id="{record_id(e)}">' + "".join(cells) + "</tr>")
    where = (f'Each file links to <a href="{escape(records_url)}">{escape(records_url)}</a>.' if records_url else
             "The files are in the repository's <code>results/</code> folder; the SHA-256 identifies each one.")
    body = (f"<h1>{escape(dataset)}: records</h1>\n<p class=\"lead\">Every result record behind the tables of "
            f'<a href="{quote(dataset)}.html">{escape(dataset)}</a>, one per encoder seed and fold. {where}</p>\n'
            '<div class="wrap"><table class="sortable records-index">\n'
            f'<thead><tr>{"".join(head)}</tr></thead>\n<tbody>\n' + "\n".join(rows) + "\n</tbody></table></div>")
    return _page(f"neuronbench: {dataset} records", body, crumb=True)


def render_site(agg: Aggregate, files_of: dict[str, dict[str, Any]],
                records_url: str | None = None) -> dict[str, bytes]:
    """Every file of the site by name (relative to the leaderboard folder, under `SITE`):
    ``index.html``, ``style.css``, a page per dataset of ``files_of`` (see `dataset_page`)
    and its record index (`records_index`). Record links point into the index, or to
    ``records_url`` + the record's path in ``results/`` when given."""
    ids = [record_id(e) for e in agg.records]
    if len(set(ids)) < len(ids):  # a link must name one record
        twins = sorted(e.path for e in agg.records if ids.count(record_id(e)) > 1)
        raise NeuronbenchError(f"records {twins}: their file names map to the same anchor in the record index")
    links: dict[tuple, list[RecordEntry]] = {}
    for entry in agg.records:
        links.setdefault(entry.cell, []).append(entry)
    out = {f"{SITE}/style.css": CSS.encode("utf-8")}
    pages = {}
    for dataset, files in files_of.items():
        pages[dataset] = f"{SITE}/{dataset}.html"
        out[pages[dataset]] = dataset_page(agg, links, dataset, files, records_url)
        out[f"{SITE}/{records_page(dataset)}"] = records_index(
            [e for e in agg.records if e.cell[0] == dataset], dataset, records_url)
    out[f"{SITE}/index.html"] = index_page(agg.cells, agg.paired, pages)
    return out
