"""Curve points: label efficiency (probes on nested, stratified subsets of the
probe-training labels) and pretraining scale (the encoder pretrained on k animals), from
the protocol's subset functions to the grid's records and the command line."""

import json

import pandas as pd
import pytest

from neuronbench import registry
from neuronbench.cli import main
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.datasets import get_task, load_dataset
from neuronbench.protocol.record import iter_records, read_record, record_path
from neuronbench.protocol.settings import get_split, label_subset, pretrain_subset
from neuronbench.protocol.tasks import task_table
from neuronbench.runner import GridOptions, run_grid
from tests import plugin_example

DATASET = "synthetic-tiny"
FRACTIONS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)


@pytest.fixture
def spies(monkeypatch):
    """The test spies registered next to the built-in methods (a self-supervised one and
    a supervised one), their call logs empty."""
    methods = {**registry.all_methods(), "spy": plugin_example.INFO, "spy-supervised": plugin_example.SUPERVISED}
    monkeypatch.setattr(registry, "all_methods", lambda: methods)
    for seen in plugin_example.SEEN.values():
        seen.clear()
    return plugin_example.SEEN


def _opts(results, **kw):
    return GridOptions(results=results, progress=False, probes=("linear",), probe_seeds=(0,), **kw)


def _table(counts: dict[str, int]) -> pd.DataFrame:
    """A task table of untracked neurons (each its own group), ``counts`` per label."""
    ids = [f"{label}{i}" for label, n in counts.items() for i in range(n)]
    return pd.DataFrame({"neuron_id": ids, "group": ids, "label": [i.rstrip("0123456789") for i in ids]})


def _inductive(task: str = "cell_class"):
    ds = load_dataset(DATASET)
    t = get_task(DATASET, task)
    return ds, t, get_split(ds, t, "inductive").folds[0]


# ---------------------------------------------------------------- the subsets


def test_label_subsets_are_nested_stratified_and_keep_one_neuron_per_class():
    table = _table({"a": 40, "b": 7, "c": 1})
    train = tuple(table["neuron_id"])
    subsets = [label_subset(table, train, f, split_seed=0) for f in FRACTIONS]
    for small, large in zip(subsets, subsets[1:]):
        assert set(small) <= set(large)
    assert subsets[-1] == tuple(sorted(train))
    for f, subset in zip(FRACTIONS, subsets):
        per_class = table.set_index("neuron_id").loc[list(subset), "label"].value_counts().to_dict()
        assert per_class == {"a": max(1, round(40 * f)), "b": max(1, round(7 * f)), "c": 1}


def test_label_subsets_use_only_the_training_neurons_and_depend_on_the_split_seed_alone():
    ds, task, fold = _inductive()
    table = task_table(ds, task)
    subset = label_subset(table, fold.train, 0.25, split_seed=0)
    assert set(subset) < set(fold.train)
    assert subset == label_subset(table, list(reversed(fold.train)), 0.25, split_seed=0)  # not the order
    assert subset == label_subset(table.sample(frac=1, random_state=1), fold.train, 0.25, split_seed=0)
    assert subset != label_subset(table, fold.train, 0.25, split_seed=1)


def test_a_tracked_neuron_is_one_labelled_cell():
    table = pd.DataFrame({"neuron_id": ["r1/u0", "r2/u0", "r1/u1", "r1/u2", "r2/u3"],
                          "group": ["m/t0", "m/t0", "r1/u1", "r1/u2", "r2/u3"], "label": ["a", "a", "a", "b", "b"]})
    for seed in range(10):
        subset = set(label_subset(table, tuple(table["neuron_id"]), 0.5, split_seed=seed))
        assert {"r1/u0", "r2/u0"} <= subset or not {"r1/u0", "r2/u0"} & subset


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5, True])
def test_a_label_fraction_outside_zero_one_is_refused(fraction):
    with pytest.raises(NeuronbenchError, match=r"label fraction: expected a number in \(0, 1\]"):
        label_subset(_table({"a": 3}), ("a0", "a1", "a2"), fraction)


def test_pretraining_subsets_are_nested_whole_animals_and_depend_on_the_split_seed():
    ds, _, fold = _inductive()
    animal_of = dict(zip(ds.recordings["recording"], ds.recordings["animal"]))
    animals = {animal_of[r] for r in fold.pretrain}
    assert len(animals) == 2  # synthetic-tiny: 3 animals, one held out
    one, two = (pretrain_subset(ds.recordings, fold.pretrain, k, split_seed=0) for k in (1, 2))
    assert set(one) < set(two) == set(fold.pretrain)
    (animal,) = {animal_of[r] for r in one}
    assert set(one) == {r for r in fold.pretrain if animal_of[r] == animal}  # all of its recordings
    firsts = {animal_of[pretrain_subset(ds.recordings, fold.pretrain, 1, split_seed=s)[0]] for s in range(8)}
    assert firsts == animals  # the order is drawn by the split seed
    with pytest.raises(NeuronbenchError, match="expected 1 to 2"):
        pretrain_subset(ds.recordings, fold.pretrain, 3)


# ---------------------------------------------------------------- label efficiency in the grid


def _comparable(path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if k not in ("environment", "timings")}


def test_the_full_fraction_is_the_headline_run(spies, tmp_path):
    headline = run_grid(["spy"], DATASET, ["inductive"], [0], ["cell_class"], _opts(tmp_path / "a"))
    before = {p: p.read_bytes() for p in headline}
    curve = run_grid(["spy"], DATASET, ["inductive"], [0], ["cell_class"],
                     _opts(tmp_path / "a", label_fractions=(0.1, 1.0)))
    assert headline[0] in curve and {p: p.read_bytes() for p in headline} == before  # reused, untouched
    fresh = run_grid(["spy"], DATASET, ["inductive"], [0], ["cell_class"],
                     _opts(tmp_path / "b", label_fractions=(0.1, 1.0)))
    (full,) = [p for p in fresh if read_record(p).label_fraction == 1.0]
    assert full.relative_to(tmp_path / "b") == headline[0].relative_to(tmp_path / "a")
    assert read_record(full).is_headline
    assert _comparable(full) == _comparable(headline[0])  # same numbers, computed afresh


def test_a_self_supervised_embedding_is_fitted_once_for_every_fraction(spies, tmp_path):
    ds, task, fold = _inductive()
    paths = run_grid(["spy"], DATASET, ["inductive"], [0, 1], ["cell_class"],
                     _opts(tmp_path, label_fractions=FRACTIONS))
    assert len(paths) == len(set(paths)) == 2 * len(FRACTIONS)
    assert len(spies["fit"]) == 2  # one per encoder seed
    records = {(r.encoder_seed, r.label_fraction): r for _, r in iter_records(tmp_path)}
    assert {r.status for r in records.values()} == {"ok"}
    table = task_table(ds, task)
    for (seed, fraction), r in records.items():
        assert r.split.n_train == len(label_subset(table, fold.train, fraction, r.split_seed))
        assert (r.split.n_val, r.split.n_test) == (len(fold.val), len(fold.test))
        assert r.y_true == records[(seed, 1.0)].y_true  # the same test neurons
        assert r.split.n_pretrain_recordings == len(fold.pretrain)
        # class probabilities are kept for the headline run only (the export reads them)
        assert all(("proba" in e) == r.is_headline for e in r.probes["linear"])
    sizes = [records[(0, f)].split.n_train for f in FRACTIONS]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_a_deleted_curve_record_is_redone_alone_from_the_cached_embedding(spies, tmp_path):
    opts = _opts(tmp_path, label_fractions=(0.1, 0.5, 1.0))
    paths = run_grid(["spy"], DATASET, ["inductive"], [0], ["cell_class"], opts)
    before = {p: p.read_bytes() for p in paths}
    (lost,) = [p for p in paths if p.name.endswith("-labels50.json")]
    lost.unlink()
    assert run_grid(["spy"], DATASET, ["inductive"], [0], ["cell_class"], opts) == paths
    assert len(spies["fit"]) == 1  # the cached embedding serves the redone run
    assert _comparable(lost) == {k: v for k, v in json.loads(before[lost]).items()
                                 if k not in ("environment", "timings")}
    assert all(p.read_bytes() == before[p] for p in paths if p != lost)


def test_a_supervised_encoder_trains_on_the_labelled_subset_only(spies, tmp_path):
    ds, task, fold = _inductive()
    run_grid(["spy-supervised"], DATASET, ["inductive"], [0], ["cell_class"],
             _opts(tmp_path, label_fractions=(0.05, 0.5, 1.0)))
    table = task_table(ds, task)
    seen = sorted((sorted(labels.index) for labels in spies["labels"]), key=len)
    assert seen == [sorted(label_subset(table, fold.train, f, 0)) for f in (0.05, 0.5, 1.0)]


def test_lolcat_sees_only_the_labelled_subset(tmp_path, monkeypatch):
    from neuronbench_baselines.lolcat.method import Lolcat

    seen = []
    original = Lolcat.fit

    def spy(self, recordings, *, seed, labels=None):
        seen.append(sorted(labels.index))
        return original(self, recordings, seed=seed, labels=labels)

    monkeypatch.setattr(Lolcat, "fit", spy)
    options = GridOptions(preset="tiny", device="cpu", probes=("linear",), probe_seeds=(0,), results=tmp_path,
                          progress=False, label_fractions=(0.1, 1.0))
    run_grid(["lolcat"], DATASET, ["inductive"], [0], ["cell_class"], options)
    ds, task, fold = _inductive()
    table = task_table(ds, task)
    assert sorted(seen, key=len) == [sorted(label_subset(table, fold.train, f, 0)) for f in (0.1, 1.0)]
    records = {r.label_fraction: r for _, r in iter_records(tmp_path)}
    assert {r.status for r in records.values()} == {"ok"}, [r.reason for r in records.values()]
    assert records[0.1].split.n_train == len(seen[0]) < records[1.0].split.n_train


# ---------------------------------------------------------------- pretraining scale in the grid


def test_pretraining_scale_pretrains_on_k_animals_with_the_probe_unchanged(spies, tmp_path):
    ds, task, fold = _inductive()
    paths = run_grid(["spy", "spy-supervised", "random"], DATASET, ["inductive"], [0], ["cell_class"],
                     _opts(tmp_path, pretrain_animals="all"))
    records = {(r.method.name, r.pretrain_animals): r for r in map(read_record, paths)}
    assert set(records) == {(m, k) for m in ("spy", "spy-supervised", "random") for k in (1, None)}
    one, full = records[("spy", 1)], records[("spy", None)]
    assert record_path(tmp_path, DATASET, "cell_class", "inductive", "spy", one.method.config_hash, 0, 0,
                       pretrain_animals=1) in paths
    assert full.is_headline and one.status == "ok"
    animal_of = dict(zip(ds.recordings["recording"], ds.recordings["animal"]))
    fitted = [{animal_of[rec] for rec, _ in fit} for fit in spies["fit"] if len(fit) < len(fold.pretrain)]
    assert len(fitted) == 1 and len(fitted[0]) == 1  # exactly one animal's recordings
    assert one.split.n_pretrain_recordings == sum(animal_of[r] in fitted[0] for r in fold.pretrain) == 2
    assert full.split.n_pretrain_recordings == len(fold.pretrain) == 4
    assert (one.split.n_train, one.split.n_val, one.y_true) == (full.split.n_train, full.split.n_val,
                                                                       full.y_true)
    for name, why in (("spy-supervised", "supervised"), ("random", "a control")):
        assert records[(name, 1)].status == "not_applicable" and why in records[(name, 1)].reason
        assert records[(name, None)].status == "ok"


def test_too_many_pretraining_animals_are_refused_before_any_record(spies, tmp_path):
    with pytest.raises(NeuronbenchError, match="pretrains on 2 animal"):
        run_grid(["spy"], DATASET, ["inductive"], [0], ["cell_class"], _opts(tmp_path, pretrain_animals=(1, 3)))
    assert not list(tmp_path.rglob("fold*.json"))


def test_verify_recomputes_a_curve_point_as_it_was_run(spies, tmp_path):
    from neuronbench.verify import verify

    run_grid(["spy"], DATASET, ["inductive"], [0], ["cell_class"],
             _opts(tmp_path, label_fractions=(0.05,), pretrain_animals=(1,)))
    checks = list(verify(tmp_path, sample=5))
    assert [c.status for c in checks] == ["agree"], [c.detail for c in checks]


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize("option, value", [
    ("--label-fractions", "0"), ("--label-fractions", "1.5"), ("--label-fractions", "-0.1"),
    ("--label-fractions", "half"), ("--label-fractions", "0.1,0.1"), ("--label-fractions", ","),
    ("--label-fractions", "nan"), ("--label-fractions", "0.1234561,0.1234562"),
    ("--pretrain-animals", "0"), ("--pretrain-animals", "-1"), ("--pretrain-animals", "two"),
    ("--pretrain-animals", "1,1"), ("--pretrain-animals", "1.5"),
])
def test_bad_curve_values_exit_2_at_parse_time(option, value, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["run", "--method", "random", "--setting", "inductive", option, value, "--results", str(tmp_path)])
    assert e.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_pretraining_scale_outside_the_inductive_setting_exits_2(capsys, tmp_path):
    argv = ["run", "--method", "random", "--setting", "transductive,inductive", "--pretrain-animals", "1",
            "--dataset", DATASET, "--results", str(tmp_path)]
    assert main(argv) == 2
    assert "inductive setting only" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_command_line_runs_a_label_efficiency_curve(capsys, tmp_path):
    argv = ["run", "--method", "random", "--setting", "inductive", "--dataset", DATASET, "--task", "cell_class",
            "--seeds", "0,", "--label-fractions", "0.05,1", "--results", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    names = sorted(p.name for p in tmp_path.rglob("fold*.json"))
    assert names == ["fold0-seed0-labels5.json", "fold0-seed0.json"]
    assert "curve point: 5 % of the probe-training labels" in capsys.readouterr().out
