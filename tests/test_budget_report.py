"""The training budget in the leaderboard (`neuronbench.reports`): budget points scored like the
cells and paired with budget 1 (`budget_rows`), their CSV and one figure per task written only
when budget points exist, the convergence mark on a cell whose method is significantly better
at x4, and the committed leaderboards unchanged without budget records."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuronbench.protocol.constants import HEADLINE_PROBE, MAIN_METRIC
from neuronbench.protocol.metrics import classification_metrics
from neuronbench.protocol.record import Record, iter_records
from neuronbench.reports.aggregate import (
    CONVERGENCE_BUDGET,
    aggregate,
    budget_rows,
    build_aggregate,
)
from neuronbench.reports.build import build_leaderboard, render_folder
from neuronbench.reports.markdown import NOT_CONVERGED, render_markdown
from tests.test_leaderboard import (  # noqa: F401 (quick_figures: a fixture)
    CLASSES,
    PROBE_SEEDS,
    SEEDS,
    SETTINGS,
    TASK,
    make_record,
    quick_figures,
    save,
    snapshot,
    table_row,
    write_results,
)

REPO = Path(__file__).parents[1]
MARK_COLUMN = 5  # nuclr's column in a table row: task, # classes, setting, 2 chance levels


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """nuclr (method), neuprint (baseline, N/A inductive), random (control): 3 seeds, 2 settings."""
    return write_results(tmp_path / "results")


def budget_record(setting: str, fold: int, seed: int, budget: float, skill: float) -> Record:
    """nuclr's record at ``budget``: its own config hash, fit core-seconds 10 x budget, and
    predictions right with probability ``skill``."""
    data = make_record("nuclr", setting, fold, seed).to_dict()
    data["budget"] = budget
    data["method"]["config_hash"] = f"aaaa{int(budget * 100):08d}"
    data["timings"] = {**data["timings"], "fit_core_s": 10.0 * budget}
    labels = data["y_true"]["label"]
    for probe_seed, run in zip(PROBE_SEEDS, data["probes"][HEADLINE_PROBE]):
        rng = np.random.default_rng([int(budget * 100), len(setting), fold, seed, probe_seed])
        guess = rng.choice(CLASSES, size=len(labels))
        run["y_pred"] = [y if rng.random() < skill else str(g) for y, g in zip(labels, guess)]
        run["metrics"] = classification_metrics(labels, run["y_pred"], CLASSES)
    return Record.from_dict(data, "budget_record")


def add_budgets(root: Path, skills: dict[float, dict[str, float]]) -> None:
    """nuclr's budget points: budget -> setting -> skill (every seed and fold)."""
    for budget, by_setting in skills.items():
        for setting, skill in by_setting.items():
            for seed in SEEDS:
                for fold in range(SETTINGS[setting]):
                    save(root, budget_record(setting, fold, seed, budget, skill))


# x4 always right in the transductive setting (well above x1's 0.8), no better in the inductive one
SKILLS = {0.25: {"transductive": 0.4, "inductive": 0.4}, CONVERGENCE_BUDGET: {"transductive": 1.0, "inductive": 0.8}}


def point(df: pd.DataFrame, setting: str, budget: float) -> pd.Series:
    hit = df[(df["method"] == "nuclr") & (df["setting"] == setting) & (df["budget"] == budget)
             & (df["probe"] == HEADLINE_PROBE) & (df["metric"] == MAIN_METRIC)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_budget_points_are_scored_like_cells_and_paired_with_budget_one(results: Path) -> None:
    add_budgets(results, SKILLS)
    records = list(iter_records(results))
    rows = budget_rows(records)
    assert set(rows["method"]) == {"nuclr"}  # the control has no budget; the baseline has no budget point
    cells = aggregate([r for _, r in records if r.is_headline])
    for setting in SETTINGS:
        assert sorted(rows.loc[(rows["setting"] == setting) & (rows["probe"] == HEADLINE_PROBE)
                               & (rows["metric"] == MAIN_METRIC), "budget"]) == [0.25, 1.0, 4.0]
        head = point(rows, setting, 1.0)
        cell = cells[(cells["method"] == "nuclr") & (cells["setting"] == setting) & (cells["probe"] == HEADLINE_PROBE)
                     & (cells["metric"] == MAIN_METRIC)].iloc[0]
        assert (head["mean"], head["std"], head["seed_scores"]) == (cell["mean"], cell["std"], cell["seed_scores"])
        assert math.isnan(head["fit_core_s"]) and head["fit_s"] == 1.0  # version-3 style: wall seconds only
        assert head["n_paired_seeds"] == 0 and math.isnan(head["diff_vs_headline"])
        x4 = point(rows, setting, CONVERGENCE_BUDGET)
        alone = aggregate([r for _, r in records if r.budget == CONVERGENCE_BUDGET and r.setting == setting])
        alone = alone[(alone["probe"] == HEADLINE_PROBE) & (alone["metric"] == MAIN_METRIC)].iloc[0]
        assert (x4["mean"], x4["seed_scores"], x4["folds"]) == (alone["mean"], alone["seed_scores"], alone["folds"])
        assert x4["fit_core_s"] == 40.0 and point(rows, setting, 0.25)["fit_core_s"] == 2.5
        assert x4["n_paired_seeds"] == len(SEEDS)
        assert x4["diff_vs_headline"] == pytest.approx(x4["mean"] - head["mean"])  # the same seeds on both sides
        assert x4["ci_low"] <= x4["diff_vs_headline"] <= x4["ci_high"]
    assert point(rows, "transductive", CONVERGENCE_BUDGET)["significant"]
    assert not point(rows, "inductive", CONVERGENCE_BUDGET)["significant"]


def test_the_mark_is_on_a_cell_significantly_better_at_x4_only(results: Path) -> None:
    add_budgets(results, SKILLS)
    records = list(iter_records(results))
    agg = build_aggregate(records, results)
    text = render_markdown(agg.cells, "toy", paired=agg.paired, budget=agg.budget)
    gain = point(agg.budget, "transductive", CONVERGENCE_BUDGET)["diff_vs_headline"]
    assert table_row(text, "transductive")[MARK_COLUMN].endswith(f" {NOT_CONVERGED} {gain:+.3f} at x4")
    assert NOT_CONVERGED not in table_row(text, "inductive")[MARK_COLUMN]  # x4 there: not significantly better
    assert f"{NOT_CONVERGED} +g at x4: the method trained at 4 times its preset's budget" in text
    assert "toy-budget.csv" in text
    # without a x4 point nothing is said about convergence, even where x0.25 points exist
    no_x4 = build_aggregate([(p, r) for p, r in records if r.budget != CONVERGENCE_BUDGET], results)
    assert not no_x4.budget.empty
    text = render_markdown(no_x4.cells, "toy", paired=no_x4.paired, budget=no_x4.budget)
    assert NOT_CONVERGED not in text


@pytest.mark.usefixtures("quick_figures")
def test_the_budget_csv_and_figures_are_written_only_with_budget_points(results: Path, tmp_path: Path) -> None:
    reference = snapshot(build_leaderboard(results, tmp_path / "reference")[0].parent)
    assert not [name for name in reference if "budget" in name]
    assert NOT_CONVERGED.encode() not in reference["toy.md"] and b'id="budget"' not in reference["site/toy.html"]
    add_budgets(results, SKILLS)
    with_budget = snapshot(build_leaderboard(results, tmp_path / "with-budget")[0].parent)
    assert set(with_budget) - set(reference) == {"toy-budget.csv", "site/toy-budget.csv",
                                                 "site/toy-budget-cell_type.png"}
    unchanged = ["toy.csv", "toy-paired.csv", "toy-per-class.csv", "site/toy-linear.png",
                 "site/toy-linear-confusion-cell_type.png", "site/records-toy.html"]
    assert {n: with_budget[n] for n in unchanged} == {n: reference[n] for n in unchanged}
    assert with_budget["toy-budget.csv"] == with_budget["site/toy-budget.csv"]
    page = with_budget["site/toy.html"].decode()
    assert 'id="budget"' in page and 'src="toy-budget-cell_type.png"' in page and 'href="toy-budget.csv"' in page
    assert f"{NOT_CONVERGED} +" in page
    assert "(site/toy-budget-cell_type.png)" in with_budget["toy.md"].decode()


def test_the_figure_draws_learned_lines_on_a_log_axis_and_controls_flat(results: Path) -> None:
    from neuronbench.reports import figures

    add_budgets(results, SKILLS)
    agg = build_aggregate(list(iter_records(results)), results)
    keys = [(TASK, s) for s in SETTINGS]
    fig = figures.budget_figure(agg.budget, agg.cells, "toy", HEADLINE_PROBE, TASK, [("method", "nuclr", "cpu")], keys)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["nuclr (method)", "random (control)"] and "leaderboard budget (x1)" in labels
    assert any("wall-clock" in label for label in labels)  # the x1 points have no core-seconds
    control = agg.cells[(agg.cells["method"] == "random") & (agg.cells["setting"] == "transductive")
                        & (agg.cells["probe"] == HEADLINE_PROBE) & (agg.cells["metric"] == MAIN_METRIC)].iloc[0]
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == f"{TASK}, transductive"
    flat = [line.get_ydata() for line in ax.get_lines() if line.get_linestyle() == "-."]
    assert [list(y) for y in flat] == [[control["mean"], control["mean"]]]
    assert sorted(t.get_text() for t in ax.texts) == ["x0.25", "x1", "x4"]
    assert figures.png(fig)[:4] == b"\x89PNG"


def test_the_committed_leaderboard_pages_are_unchanged() -> None:
    """Without budget records the committed files come out byte for byte (one dataset's
    files: each depends on that dataset's records alone)."""
    dataset = "izhikevich"
    records = list(iter_records(REPO / "results" / dataset))
    assert all(r.budget in (None, 1.0) for _, r in records)
    files = render_folder(build_aggregate(records, REPO / "results"))
    mine = sorted(name for name in files if dataset in name)
    assert "izhikevich.md" in mine and "site/izhikevich.html" in mine and not [n for n in mine if "budget" in n]
    assert [n for n in mine if files[n] != (REPO / "leaderboards" / n).read_bytes()] == []
