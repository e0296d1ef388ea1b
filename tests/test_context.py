"""A finished run in context (`neuronbench.reports.context`): the run's score, the best
control's with the paired difference, and the committed leaderboard's best, per cell."""

from __future__ import annotations

from pathlib import Path

from neuronbench.protocol.record import iter_records
from neuronbench.reports.aggregate import aggregate, paired_rows
from neuronbench.reports.context import committed_records, run_context
from tests.test_leaderboard import SEEDS, SETTINGS, TASK, make_record, row, save, write_results


def records_of(root: Path, method: str) -> list:
    return [r for _, r in iter_records(root) if r.method.name == method]


def test_each_cell_of_the_run_gets_its_score_the_control_and_the_leaderboard_best(tmp_path: Path) -> None:
    committed = write_results(tmp_path / "results")  # nuclr, neuprint (N/A inductive), random control
    run = tmp_path / "run"
    for seed in SEEDS:  # a fresh nuclr run with a control of its own, on the committed splits
        for fold in range(SETTINGS["inductive"]):
            for method in ("nuclr", "random"):
                save(run, make_record(method, "inductive", fold, seed))
    new = [r for _, r in iter_records(run)]
    lines = run_context(new, committed_records(new, committed))
    assert lines[0].startswith("In context (linear probe, macro-F1")
    df = aggregate(new)
    pair = paired_rows(df, new)
    p = pair[(pair["versus"] == "control") & (pair["metric"] == "macro_f1")].iloc[0]
    nuclr, control = row(df, "nuclr", "inductive"), row(df, "random", "inductive")
    board = row(aggregate(iter_records(committed)), "nuclr", "inductive")  # the committed best there
    verdict = "significant" if p["significant"] else "n.s."
    assert lines[1] == (f"{TASK}, inductive: nuclr {nuclr['mean']:.3f} ± {nuclr['std']:.3f}; random control "
                        f"{control['mean']:.3f} ± {control['std']:.3f} (Δ {p['diff']:+.3f} [{p['ci_low']:+.3f}, "
                        f"{p['ci_high']:+.3f}], {verdict}); leaderboard best: nuclr {board['mean']:.3f} ± "
                        f"{board['std']:.3f}")
    assert lines[2].startswith(f"{TASK}, inductive: random ") and "no control on this cell" in lines[2]
    assert len(lines) == 3


def test_without_a_control_in_the_run_the_committed_control_is_paired(tmp_path: Path) -> None:
    committed = write_results(tmp_path / "results")
    run = tmp_path / "run"
    for seed in SEEDS:
        save(run, make_record("nuclr", "transductive", 0, seed))
    new = [r for _, r in iter_records(run)]
    (line,) = run_context(new, committed_records(new, committed))[1:]
    both = [*new, *records_of(committed, "random")]
    p = paired_rows(aggregate(both), both)
    p = p[(p["versus"] == "control") & (p["metric"] == "macro_f1") & (p["setting"] == "transductive")].iloc[0]
    assert "random control" in line and f"(Δ {p['diff']:+.3f} [{p['ci_low']:+.3f}, {p['ci_high']:+.3f}]" in line
    # another split: the committed control is not paired, and the line says there is none
    other = [make_record("nuclr", "transductive", 0, seed, split_checksum="split-sum-2") for seed in SEEDS]
    (line,) = run_context(other, committed_records(other, committed))[1:]
    assert "no control on this cell" in line and "leaderboard best: nuclr" in line


def test_no_committed_results_and_no_headline_records(tmp_path: Path) -> None:
    new = [make_record("nuclr", "transductive", 0, seed) for seed in SEEDS]
    (line,) = run_context(new, committed_records(new, tmp_path / "missing"))[1:]
    assert line.endswith("no control on this cell; not on the committed leaderboard")
    assert run_context([make_record("nuclr", "transductive", 0, 0, label_fraction=0.5)], []) == []


def test_run_prints_the_context_after_the_tables(monkeypatch, tmp_path: Path, capsys) -> None:
    import neuronbench.cli as cli
    import neuronbench.runner as runner

    run = tmp_path / "run"
    paths = [save(run, make_record(m, "transductive", 0, seed)) for seed in SEEDS for m in ("nuclr", "random")]
    monkeypatch.setattr(runner, "run_grid", lambda *args, **kwargs: paths)
    monkeypatch.setattr("neuronbench.reports.context.committed_results", lambda: None)
    assert cli.main(["run", "--method", "nuclr", "--dataset", "toy", "--setting", "transductive",
                     "--results", str(run), "--no-progress"]) in (0, None)
    out = capsys.readouterr().out
    assert out.index("### linear probe") < out.index("In context") and f"{TASK}, transductive: nuclr" in out


def test_an_unreadable_committed_record_is_left_out_and_said(tmp_path: Path, capsys) -> None:
    committed = write_results(tmp_path / "results")
    bad = committed / "toy" / TASK / "transductive" / "broken.json"
    bad.write_text("{not json")
    new = [make_record("nuclr", "transductive", 0, seed) for seed in SEEDS]
    assert committed_records(new, committed) == []
    assert str(bad.parent) in capsys.readouterr().err
