"""The training budget: each method declares the config keys that count its training,
``--budget B`` multiplies them (budget 1 is the preset itself, the same config hash),
every record stores its budget and the fit's core-seconds, a budget point has a record
file of its own, the Evaluator does not take a record of another budget for this run's,
and the leaderboard's headline cells read budget-1 records only."""

from __future__ import annotations

import shutil

import pytest

from neuronbench import registry
from neuronbench.cli import main
from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import MethodInfo, config_hash, scale_count
from neuronbench.protocol.evaluator import Evaluator
from neuronbench.protocol.record import iter_records, read_record
from neuronbench.reports.aggregate import build_aggregate
from neuronbench.runner import GridOptions, budget_notes, run_grid
from tests import plugin_example

DATASET = "synthetic-tiny"

DECLARED = {  # what each learned method's budget scales (docs/methods.md gives the why)
    "nuclr": ("epochs_spikes", "epochs_calcium"),
    "nuclr-nospatial": ("epochs_spikes", "epochs_calcium"),
    "neurpir": ("steps", "cebra_iterations"),
    "neurpir-nocebra": ("steps", "cebra_iterations"),
    "nemo": ("epochs",),
    "neuprint": ("epochs", "embed_steps"),
    "lolcat": ("epochs", "milestones"),
}


@pytest.fixture
def spies(monkeypatch):
    """The test spies registered next to the built-in methods, their call logs empty."""
    methods = {**registry.all_methods(), "spy": plugin_example.INFO, "spy-budget": plugin_example.BUDGETED}
    monkeypatch.setattr(registry, "all_methods", lambda: methods)
    for seen in plugin_example.SEEN.values():
        seen.clear()
    return plugin_example.SEEN


# ---------------------------------------------------------------- scaling a config


def test_every_learned_method_declares_its_budget_and_controls_none():
    methods = registry.all_methods()
    for name, info in methods.items():
        assert info.budget_keys == DECLARED.get(name, ()), name
        assert bool(info.budget_keys) == (info.kind != "control"), name


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_a_budget_multiplies_the_declared_counts_and_nothing_else(name):
    info = registry.get_method(name)
    for preset in info.presets:
        config = info.config(preset, device="cpu")
        assert info.scale_budget(config, 1) == config
        assert config_hash(info.scale_budget(config, 1.0)) == config_hash(config)  # the committed records' hash
        four, quarter = info.scale_budget(config, 4), info.scale_budget(config, 0.25)
        for key, value in config.items():
            if key not in info.budget_keys:
                assert four[key] == value and quarter[key] == value, (name, preset, key)
            elif key in info.fractional_keys:  # NuCLR's epochs: a fraction of one trains a prefix of it
                assert four[key] == 4 * value and quarter[key] == value / 4, (name, preset, key)
            elif isinstance(value, tuple):
                assert four[key] == tuple(4 * v for v in value), (name, preset, key)
                assert quarter[key] == tuple(max(1, int(v / 4 + 0.5)) for v in value), (name, preset, key)
            else:
                assert four[key] == 4 * value, (name, preset, key)
                assert quarter[key] == max(1, int(value / 4 + 0.5)), (name, preset, key)
        assert config_hash(four) != config_hash(config)


def test_counts_round_to_the_nearest_integer_halves_up_and_at_least_one():
    assert [scale_count(2, b) for b in (0.25, 0.5, 0.75, 1.25, 16)] == [1, 1, 2, 3, 32]
    assert [scale_count(300, b) for b in (0.25, 0.001)] == [75, 1]
    assert scale_count(5, 0.5) == 3  # 2.5 -> 3, not Python's round-half-to-even 2


def test_a_coarsely_rounded_budget_is_said():
    neuprint, neurpir, nuclr = (registry.get_method(n) for n in ("neuprint", "neurpir", "nuclr"))
    assert budget_notes([neuprint, neurpir, nuclr], GridOptions(budget=0.25)) == [
        "neuprint: --budget 0.25 trains epochs 3 (x0.3 of the cpu preset's 10: counts are whole, at least 1)"]
    assert budget_notes([neuprint, neurpir, nuclr], GridOptions(budget=4)) == []
    assert budget_notes([neuprint], GridOptions()) == []


def test_fractional_budget_keys_are_scaled_exactly_and_must_be_budget_keys():
    presets = {"cpu": {"epochs": 2, "lr": 0.1}}
    info = MethodInfo(name="m", kind="method", summary="", factory="x:y", presets=presets, budget_keys=("epochs",),
                      fractional_keys=("epochs",))
    assert [info.scale_budget(presets["cpu"], b)["epochs"] for b in (0.25, 0.3, 4)] == [0.5, 0.6, 8]
    assert type(info.scale_budget(presets["cpu"], 4)["epochs"]) is int  # 8, not 8.0: one config, one hash
    with pytest.raises(NeuronbenchError, match="field 'fractional_keys'"):
        MethodInfo(name="m", kind="method", summary="", factory="x:y", presets=presets, budget_keys=("epochs",),
                   fractional_keys=("lr",))


def test_a_method_without_a_budget_runs_at_budget_one_only():
    random = registry.get_method("random")
    config = random.config("cpu")
    assert random.scale_budget(config, 1) == config
    with pytest.raises(NeuronbenchError, match="random .control. declares no training budget"):
        random.scale_budget(config, 4)
    assert Evaluator.run_budget(random, 1.0) is None
    assert Evaluator.run_budget(registry.get_method("nemo"), 4) == 4.0
    with pytest.raises(NeuronbenchError, match=r"--budget 4: random \(control\) has no training budget"):
        Evaluator.run_budget(random, 4)
    for bad in (0, -1, float("nan"), float("inf"), True):
        with pytest.raises(NeuronbenchError, match="budget: expected a positive number"):
            Evaluator.run_budget(random, bad)


def test_a_declared_budget_key_must_be_a_count_in_every_preset():
    presets = {"cpu": {"epochs": 10, "lr": 0.1}, "tiny": {"epochs": 2, "lr": 0.1}}
    MethodInfo(name="m", kind="method", summary="", factory="x:y", presets=presets, budget_keys=("epochs",))
    for keys, presets_ in ((("lr",), presets), (("steps",), presets),
                           (("epochs",), {**presets, "tiny": {"epochs": 0, "lr": 0.1}})):
        with pytest.raises(NeuronbenchError, match="field 'budget_keys'"):
            MethodInfo(name="m", kind="method", summary="", factory="x:y", presets=presets_, budget_keys=keys)


# ---------------------------------------------------------------- the grid and its records


def test_run_budget_writes_its_own_records_with_budget_and_core_seconds(spies, tmp_path, capsys):
    results = tmp_path / "results"
    args = ["run", "--method", "spy-budget", "--setting", "inductive", "--dataset", DATASET, "--task", "cell_class",
            "--seeds", "0,", "--results", str(results), "--no-progress"]
    assert main(args) == 0
    assert main(args + ["--budget", "2"]) == 0
    assert "training budget x2" in capsys.readouterr().out
    assert spies["steps"] == [3, 6]  # the preset's 3 steps, then twice as many
    records = {r.budget: (path, r) for path, r in iter_records(results)}
    assert set(records) == {1.0, 2.0}
    (head_path, head), (point_path, point) = records[1.0], records[2.0]
    assert head.is_headline and not point.is_headline
    assert (head_path.name, point_path.name) == ("fold0-seed0.json", "fold0-seed0-budget2.json")
    assert head.method.config["steps"] == 3 and point.method.config["steps"] == 6
    assert point.method.config_hash != head.method.config_hash
    for r in (head, point):
        assert r.status == "ok" and r.timings["fit_core_s"] > 0 and r.timings["embed_core_s"] >= 0
    # each budget's record is done for its own budget only: a rerun fits nothing
    assert main(args + ["--budget", "2"]) == 0 and main(args) == 0
    assert spies["steps"] == [3, 6]
    split = _split(point)
    ev = Evaluator(("linear",), (0,))
    assert ev.matches(point, split, point.dataset.checksum, point.method.config_hash, 2.0)
    assert not ev.matches(point, split, point.dataset.checksum, point.method.config_hash, 1.0)
    assert not ev.matches(head, split, head.dataset.checksum, head.method.config_hash, 2.0)


def test_a_control_is_refused_a_budget_before_anything_is_written(spies, tmp_path, capsys):
    results = tmp_path / "results"
    code = main(["run", "--method", "spy-budget,random", "--setting", "inductive", "--dataset", DATASET,
                 "--seeds", "0,", "--results", str(results), "--no-progress", "--budget", "4"])
    assert code == 2
    assert "random (control) has no training budget" in capsys.readouterr().err
    assert not results.exists() and spies["fit"] == []
    for bad in ("0", "-1", "nan", "inf", "x"):
        with pytest.raises(SystemExit):
            main(["run", "--method", "spy-budget", "--setting", "inductive", "--budget", bad])
        assert "expected a positive multiple of the preset's training" in capsys.readouterr().err


def test_a_control_at_budget_one_records_no_budget(spies, tmp_path):
    (path,) = run_grid(["random"], DATASET, ["inductive"], [0], ["cell_class"], _opts(tmp_path))
    record = read_record(path)
    assert record.budget is None and record.is_headline
    ev, args = Evaluator(("linear",), (0,)), (_split(record), record.dataset.checksum, record.method.config_hash)
    assert ev.is_done(path, *args, None) and ev.is_done(path, *args, 1.0)  # its only budget is the headline's
    assert not ev.is_done(path, *args, 4.0)


def test_the_headline_cells_read_budget_one_records_only(spies, tmp_path):
    both, headline = tmp_path / "both", tmp_path / "headline"
    run_grid(["spy-budget", "random"], DATASET, ["inductive"], [0, 1], ["cell_class"], _opts(both))
    shutil.copytree(both, headline, ignore=shutil.ignore_patterns("cache"))
    run_grid(["spy-budget"], DATASET, ["inductive"], [0, 1, 2], ["cell_class"], _opts(both, budget=4))
    assert sum(r.budget == 4 for _, r in iter_records(both)) == 3
    mixed = build_aggregate(list(iter_records(both)), both)
    alone = build_aggregate(list(iter_records(headline)), headline)
    assert mixed.cells.equals(alone.cells)  # two seeds per cell, not five; the same numbers
    assert set(mixed.cells["n_seeds"]) == {2}
    assert mixed.curves.empty  # a budget point is not a point of the label or pretraining curves
    assert [e.path for e in mixed.records] == [e.path for e in alone.records]  # no -budget4 file listed


def _opts(results, **kw):
    return GridOptions(results=results, progress=False, probes=("linear",), probe_seeds=(0,), **kw)


def _split(record):
    from neuronbench.protocol.datasets import get_task, load_dataset
    from neuronbench.protocol.settings import get_split

    ds = load_dataset(record.dataset.name)
    return get_split(ds, get_task(ds.name, record.task.name), record.setting)
