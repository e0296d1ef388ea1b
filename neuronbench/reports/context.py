"""A finished run in context: one line per task and setting with the run's score, the
best control's on the same cell with their paired difference, and the best on the
committed leaderboard, e.g.

    region, inductive: nuclr 0.382 ± 0.010; features control 0.405 (Δ -0.023 [-0.060, +0.010], n.s.);
    leaderboard best: population 0.764

Scored as the leaderboard scores cells (`neuronbench.reports.aggregate`): the first probe
of the run, the main metric, mean ± std over encoder seeds, the difference paired over
shared encoder seeds and test neurons (`neuronbench.protocol.paired`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

import neuronbench
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.metrics import MAIN_METRIC
from neuronbench.protocol.paired import LEVEL, paired_difference
from neuronbench.protocol.record import Record, iter_records
from neuronbench.protocol.constants import METRIC_NAMES
from neuronbench.reports.aggregate import (
    NOT_SIGNIFICANT, PROBE_ORDER, aggregate, best_cell, cell_predictions, column_header,
    deterministic, method_columns, probe_key, reported, row_keys,
)

STATUS_TEXT = {"not_applicable": "N/A", "failed": "failed", "incomplete": "incomplete"}


def committed_results() -> Path | None:
    """The repository's ``results/`` folder (beside the installed package's source tree),
    or None when this is not a checkout that has one."""
    root = Path(neuronbench.__file__).resolve().parent.parent
    results = root / "results"
    return results if (root / "pyproject.toml").is_file() and results.is_dir() else None


def committed_records(run: Iterable[Record], results: Path | None = None) -> list[Record]:
    """The records of ``results`` (default `committed_results`) on the (dataset, task,
    setting) cells of ``run``: only those folders are read. A folder with an unreadable
    record is left out, saying so on stderr (the run itself has finished by then)."""
    results = committed_results() if results is None else results
    if results is None:
        return []
    out = []
    for dataset, task, setting in sorted({(r.dataset.name, r.task.name, r.setting) for r in run}):
        folder = results / dataset / task / setting
        if folder.is_dir():
            try:
                out += [r for _, r in iter_records(folder)]
            except NeuronbenchError as e:
                print(f"neuronbench: the committed records in {folder} are left out of the context: {e}",
                      file=sys.stderr)
    return out


def _score(r: pd.Series) -> str:
    if r["status"] != "ok":
        return STATUS_TEXT.get(r["status"], r["status"])
    return f"{r['mean']:.3f}" if deterministic(r) else f"{r['mean']:.3f} ± {r['std']:.3f}"


def _cell(records: list[Record], r: pd.Series) -> list[Record]:
    return [x for x in records if (x.dataset.name, x.task.name, x.setting, x.method.name, x.preset)
            == (r["dataset"], r["task"], r["setting"], r["method"], r["preset"])]


def _versus(a: list[Record], b: list[Record], probe: str) -> str:
    """`` (Δ d [lo, hi], n.s.)``: the paired difference a - b, or why there is none."""
    checksums = {x.split.checksum for x in a + b if x.status == "ok"}
    if len(checksums) > 1:
        return " (not paired: another split)"
    try:
        d = paired_difference(cell_predictions(a, probe), cell_predictions(b, probe), list(a[0].task.classes),
                              metrics=(MAIN_METRIC,))[MAIN_METRIC]
    except NeuronbenchError as e:
        return f" (not paired: {e})"
    if d.n_seeds == 0:
        return " (not paired: no shared encoder seed)"
    verdict = "significant" if d.significant else NOT_SIGNIFICANT
    return f" (Δ {d.diff:+.3f} [{d.ci_low:+.3f}, {d.ci_high:+.3f}], {verdict})"


def run_context(new_records: Iterable[Record], committed: Iterable[Record]) -> list[str]:
    """A heading, then per (task, setting) of the run's headline records and per method
    column of the run, one line: its score; the best control on the same cell (among the
    run's records, else the committed ones on the same split) with the paired difference
    and its interval; and the best cell of the committed leaderboard (``committed``:
    records, e.g. `committed_records`; BWB's tuning seed left out). Empty without
    headline records."""
    new = [r for r in new_records if r.is_headline]
    if not new:
        return []
    old = [r for r in reported(committed) if r.is_headline]
    table = aggregate(new)
    probes = sorted(set(table["probe"]), key=probe_key)
    probe = next((p for p in PROBE_ORDER if p in probes), probes[0])
    pick = (table["probe"] == probe) & (table["metric"] == MAIN_METRIC)
    try:
        board = aggregate(old) if old else table.iloc[0:0]
    except NeuronbenchError as e:
        board, problem = None, str(e)
    datasets = sorted(set(table["dataset"]))
    lines = [f"In context ({probe} probe, {METRIC_NAMES[MAIN_METRIC]}, mean ± std over encoder seeds; "
             f"Δ paired over shared seeds and test neurons, {LEVEL:.0%} interval):"]
    for dataset in datasets:
        sub = table[pick & (table["dataset"] == dataset)]
        for task, setting in row_keys(sub):
            row = sub[(sub["task"] == task) & (sub["setting"] == setting)]
            where = (f"{dataset}/" if len(datasets) > 1 else "") + f"{task}, {setting}"
            committed_row = None if board is None else board[
                (board["dataset"] == dataset) & (board["task"] == task) & (board["setting"] == setting)
                & (board["probe"] == probe) & (board["metric"] == MAIN_METRIC)]
            for kind, method, preset in method_columns(row):
                r = row[(row["method"] == method) & (row["preset"] == preset)].iloc[0]
                text = f"{where}: {column_header(method, preset)} {_score(r)}"
                mine = _cell(new, r)
                control, source = best_cell(row[(row["method"] != method) | (row["preset"] != preset)], "control"), new
                others = None if committed_row is None else committed_row[
                    (committed_row["method"] != method) | (committed_row["preset"] != preset)]
                if control is None and others is not None and not others.empty:
                    split = {x.split.checksum for x in mine}
                    same = [x for x in old if x.split.checksum in split]
                    candidates = others[[bool(_cell(same, c)) for _, c in others.iterrows()]]
                    control, source = best_cell(candidates, "control"), same
                if control is None:
                    text += "; no control on this cell"
                else:
                    text += f"; {column_header(control['method'], control['preset'])} control {_score(control)}"
                    if r["status"] == "ok":
                        text += _versus(mine, _cell(source, control), probe)
                if board is None:
                    text += f"; leaderboard unreadable ({problem})"
                else:
                    best = best_cell(committed_row)
                    text += ("; not on the committed leaderboard" if best is None else
                             f"; leaderboard best: {column_header(best['method'], best['preset'])} {_score(best)}")
                lines.append(text)
    return lines
