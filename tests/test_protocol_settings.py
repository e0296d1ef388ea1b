"""The settings: the three settings' splits, their guarantees and files, the published
protocol facts, and the group k-fold of `neuronbench score`."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from neuronbench.data.store import Dataset, write_dataset
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol import settings
from neuronbench.protocol.datasets import DatasetProtocol, get_dataset_info
from neuronbench.protocol.settings import (GROUP_FOLDS, SETTINGS, check_split, cross_lab_holdout, get_split,
                                           group_kfold, held_out_labs, make_split, read_split, split_path,
                                           stratified_holdout, unit_hash)
from tests import dataset_example
from tests.conftest import LAB_OF, lab_recordings, small_recordings

HANDMADE = dataset_example.HANDMADE
TASK = HANDMADE.tasks[0]


@pytest.fixture()
def ds(tmp_path):
    return Dataset(write_dataset(tmp_path / "handmade", "handmade", small_recordings(), label_columns=["cell_class"]))


@pytest.fixture(autouse=True)
def _register(monkeypatch):
    dataset_example.register(monkeypatch, HANDMADE)


def _published(monkeypatch, **facts) -> None:
    """Register handmade anew with these published protocol facts."""
    dataset_example.register(monkeypatch, dataclasses.replace(HANDMADE, published=DatasetProtocol(**facts)))


def _groups(ds):
    n = ds.neurons
    return {i: (f"{a}/{t}" if pd.notna(t) else i) for i, a, t in zip(n["neuron_id"], n["animal"], n["track_id"])}


@pytest.mark.parametrize("setting", HANDMADE.settings)
def test_no_neuron_on_two_sides(ds, setting):
    group = _groups(ds)
    split = make_split(ds, TASK, setting)
    for f in split.folds:
        sides = [{group[i] for i in ids} for ids in (f.train, f.val, f.test)]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
        assert f.train and f.test


def test_inductive_held_out_animals_absent_from_pretraining_and_probe_training(ds):
    split = make_split(ds, TASK, "inductive")
    (fold,) = split.folds
    animal = dict(zip(ds.neurons["neuron_id"], ds.neurons["animal"]))
    rec_animal = dict(zip(ds.recordings["recording"], ds.recordings["animal"]))
    assert len(fold.test_animals) == 1  # a hashed third of 3 animals
    assert not {rec_animal[r] for r in fold.pretrain} & set(fold.test_animals)
    assert not {animal[i] for i in fold.train + fold.val} & set(fold.test_animals)
    assert {animal[i] for i in fold.test} == set(fold.test_animals)


def test_transductive_zero_shot_is_leave_one_animal_out(ds):
    split = make_split(ds, TASK, "transductive-zero-shot")
    animal = dict(zip(ds.neurons["neuron_id"], ds.neurons["animal"]))
    assert [f.test_animals for f in split.folds] == [("m0",), ("m1",), ("m2",)]
    for f in split.folds:
        assert {animal[i] for i in f.test} == set(f.test_animals)
        assert len(f.pretrain) == 6  # every recording, test animals included


def test_transductive_is_stratified_and_tracked_neurons_stay_together(ds):
    split = make_split(ds, TASK, "transductive")
    (f,) = split.folds
    labels = dict(zip(ds.labels["neuron_id"], ds.labels["cell_class"]))
    for cls in ("a", "b"):
        assert any(labels[i] == cls for i in f.test)
    group = _groups(ds)
    test_groups = {group[i] for i in f.test}
    # every recording of a tracked test neuron is on the test side
    assert all(i in f.test for i, g in group.items() if g in test_groups)


def test_split_is_deterministic_and_depends_on_the_seed_only_through_hashing(ds):
    assert make_split(ds, TASK, "transductive").checksum == make_split(ds, TASK, "transductive").checksum
    assert make_split(ds, TASK, "transductive", split_seed=1).checksum != make_split(ds, TASK, "transductive").checksum
    assert unit_hash("x", "0") == unit_hash("x", "0") != unit_hash("x", "1")


def test_split_file_is_written_with_a_checksum_and_verified(ds, tmp_path):
    split = get_split(ds, TASK, "transductive", root=tmp_path)
    path = split_path("handmade", "cell_class", "transductive", root=tmp_path)
    assert read_split(path) == split
    doc = json.loads(path.read_text())
    doc["split"]["folds"][0]["test"] = doc["split"]["folds"][0]["test"][1:]
    path.write_text(json.dumps(doc))
    with pytest.raises(NeuronbenchError, match="checksum"):
        read_split(path)


# Checksums of the hand-made splits as made before the settings moved into
# `neuronbench.protocol` (split version 1): result records carry these checksums, so a
# refactor that changes one byte of a split must fail here and bump `SPLIT_VERSION`.
PINNED = {
    ("transductive", 0): "04bad68ad84b08c991f55dec01e278cb9cc5127d500f95b264ce15c28b65c199",
    ("transductive", 1): "4d724e334845bc9c64c546cdc2a63dfed1fc3a4dfe87e5824bf3326f97da3d27",
    ("transductive-zero-shot", 0): "d334fa09e0d175da5ced2c7fb7011a0d968ccba385ed30d200581a7bdb807aca",
    ("transductive-zero-shot", 1): "3479d2bd2534285e3f3a2bca0a52da6de48db743b8436006bd9d69f67dae4bc4",
    ("inductive", 0): "1ef148fdfe9b25090749d6c4eb647e8d8fa01b8b7da6abcf9716a0a9581c2182",
    ("inductive", 1): "809f1a0b55c7917ed7d14e4e49a1eae4ec9c6270c7fd033f0824e77ef100603e",
}


@pytest.mark.parametrize("setting, split_seed", sorted(PINNED))
def test_split_checksums_are_those_of_split_version_1(ds, setting, split_seed):
    assert settings.SPLIT_VERSION == 1
    split = make_split(ds, TASK, setting, split_seed)
    assert split.seed == split_seed and split.version == 1
    assert split.checksum == PINNED[(setting, split_seed)]


def test_published_protocol_facts_are_where_the_settings_read_them(ds, monkeypatch):
    """The held-out animals, development recordings and evaluated animals come from each
    dataset's registered info."""
    assert get_dataset_info("bugeon").published.test_animals == ("SB028",)
    assert len(get_dataset_info("bugeon").published.dev_recordings) == 4
    assert get_dataset_info("steinmetz").published.test_animals == ("Cori", "Forssmann", "Hench")
    assert len(get_dataset_info("allen").published.eval_animals) == 16
    assert len(settings.protocol_of("ibl", "region_bwb").test_sessions) == 29  # a task's own protocol
    assert settings.protocol_of("ibl", "region") == DatasetProtocol()
    assert settings.protocol_of("handmade") == DatasetProtocol()  # none published: the hashed defaults

    hashed = make_split(ds, TASK, "inductive").folds[0].test_animals
    chosen = next(a for a in ("m0", "m1", "m2") if (a,) != hashed)
    _published(monkeypatch, test_animals=(chosen,), dev_recordings=("m0-s0",))
    (fold,) = make_split(ds, TASK, "inductive").folds
    assert fold.test_animals == (chosen,)
    assert not any(r.startswith(chosen + "-") for r in fold.pretrain)
    recording = dict(zip(ds.neurons["neuron_id"], ds.neurons["recording"]))
    for setting in HANDMADE.settings:
        for f in make_split(ds, TASK, setting).folds:
            assert "m0-s0" not in {recording[i] for i in f.test}  # a development recording is never tested

    _published(monkeypatch, eval_animals=("m1", "m2"))
    assert [f.test_animals for f in make_split(ds, TASK, "inductive").folds] == [("m1",), ("m2",)]


def test_unknown_setting_and_dataset_are_refused(ds):
    with pytest.raises(NeuronbenchError, match="unknown setting 'zero-shot'; choose from: transductive"):
        make_split(ds, TASK, "zero-shot")
    with pytest.raises(NeuronbenchError, match="unknown dataset 'nope'"):
        settings.protocol_of("nope")


def test_the_protocol_imports_no_harness_no_plug_in_and_nothing_heavy():
    """Layers: the protocol sits below the harness; listing settings and tasks is instant."""
    code = ("import sys, neuronbench.protocol.settings, neuronbench.protocol.tasks; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('neuronbench_methods', 'neuronbench_baselines', "
            "'pandas', 'numpy', 'torch') or m in ('neuronbench.plugin', 'neuronbench.registry', 'neuronbench.runner', "
            "'neuronbench.executors', 'neuronbench.reports.aggregate', 'neuronbench.cli', 'neuronbench.probes')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _generated_meta(n: int, n_groups: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"session": rng.choice([f"s{i}" for i in range(n_groups)], n),
                         "y": rng.choice(["p", "q", "r"], n)}, index=[f"n{i}" for i in range(n)])


@pytest.mark.parametrize("n_groups, split_seed", [(2, 0), (4, 1), (9, 0), (23, 2)])
def test_group_kfold_holds_out_whole_groups_and_tests_every_id_once(n_groups, split_seed):
    meta = _generated_meta(400, n_groups, split_seed)
    folds = group_kfold(meta.index.tolist(), meta["session"].tolist(), split_seed)
    groups_present = meta["session"].nunique()
    assert len(folds) == min(GROUP_FOLDS, groups_present)
    seen_test: set[str] = set()
    for train, val, test in folds:
        assert test and train
        assert not set(meta.loc[test, "session"]) & set(meta.loc[train + val, "session"])
        assert not set(meta.loc[val, "session"]) & set(meta.loc[train, "session"])  # validation: whole groups
        assert not seen_test & set(test)
        assert sorted(train + val + test) == sorted(meta.index)
        seen_test |= set(test)
    assert seen_test == set(meta.index)
    assert group_kfold(meta.index.tolist(), meta["session"].tolist(), split_seed) == folds


def test_group_kfold_needs_two_groups_and_matching_lengths():
    with pytest.raises(NeuronbenchError, match="expected 2\\+ groups"):
        group_kfold(["a", "b"], ["x", "x"])
    with pytest.raises(NeuronbenchError, match="2 ids but 1 group"):
        group_kfold(["a", "b"], ["x"])


def test_stratified_holdout_is_the_transductive_rule_on_bare_ids():
    meta = _generated_meta(300, 1, 0)
    ((train, val, test),) = stratified_holdout(meta.index.tolist(), meta["y"].tolist(), 0)
    assert sorted(train + val + test) == sorted(meta.index) and not set(train) & set(val)
    for label, g in meta.groupby("y"):  # per label: round(20 %) tested
        assert len(set(test) & set(g.index)) == round(0.2 * len(g))
    assert stratified_holdout(meta.index.tolist(), meta["y"].tolist(), 1) != [(train, val, test)]


def test_a_setting_the_dataset_does_not_support_is_refused_with_its_reason(ds, monkeypatch):
    dataset_example.register(monkeypatch, dataclasses.replace(
        HANDMADE, unsupported={"inductive": "every animal is needed to train the probe"}))
    assert get_dataset_info("handmade").settings == ("transductive", "transductive-zero-shot")
    with pytest.raises(NeuronbenchError, match="dataset 'handmade' does not support the inductive setting: every "
                       "animal is needed to train the probe \\(it supports: transductive, transductive-zero-shot\\)"):
        make_split(ds, TASK, "inductive")


def test_a_fold_with_an_empty_side_names_its_held_out_animal(ds, monkeypatch):
    _published(monkeypatch, test_animals=("m9",))  # published, but not in the prepared data
    with pytest.raises(NeuronbenchError, match="fold 0 \\(held-out animal\\(s\\) m9\\): empty test side: no labelled "
                       "neuron of the task is in the held-out animal"):
        make_split(ds, TASK, "inductive")


def test_a_fold_whose_probe_would_train_on_one_class_is_refused_up_front(tmp_path):
    recs = small_recordings()
    for rec in recs:  # class b only in animal m0: leaving m0 out trains the probe on a alone
        rec.labels["cell_class"] = "b" if rec.animal == "m0" else "a"
    one_class = Dataset(write_dataset(tmp_path / "handmade", "handmade", recs, label_columns=["cell_class"]))
    with pytest.raises(NeuronbenchError, match="task handmade/cell_class, transductive-zero-shot, fold 0 \\(held-out "
                       "m0\\): the probe-training side holds 1 class\\(es\\) \\(a 39\\): a probe needs 2\\+ classes"):
        make_split(one_class, TASK, "transductive-zero-shot")


def test_too_few_evaluated_animals_says_the_protocol_keeps_only_those(ds, monkeypatch):
    _published(monkeypatch, eval_animals=("m1", "x7", "x8"))
    with pytest.raises(NeuronbenchError) as e:
        make_split(ds, TASK, "transductive-zero-shot")
    assert ("the published protocol of 'handmade' evaluates only its 3 listed animals (m1, x7, x8), so this setting "
            "needs 2+ of them with a labelled neuron; of the 3 animal(s) prepared in") in str(e.value)
    assert str(e.value).endswith("(m0, m1, m2), 1 qualify (m1)")
    assert make_split(ds, TASK, "transductive").folds  # one evaluated animal is enough there
    _published(monkeypatch, eval_animals=("x7",))
    with pytest.raises(NeuronbenchError, match="so this setting needs 1\\+ of them .* 0 qualify \\(none\\)"):
        make_split(ds, TASK, "transductive")


# ---------------------------------------------------------------- inductive-cross-lab

CROSS_LAB = "inductive-cross-lab"
LABBED = dataclasses.replace(HANDMADE, labs="lab")
def labbed_dataset(path, recs=None) -> Dataset:
    return Dataset(write_dataset(path / "handmade", "handmade", recs or lab_recordings(),
                                 label_columns=["cell_class", "lab"]))


@pytest.fixture()
def labbed(tmp_path, monkeypatch):
    dataset_example.register(monkeypatch, LABBED)
    return labbed_dataset(tmp_path)


def test_cross_lab_holds_a_hashed_third_of_the_labs_out_of_pretraining_and_probe_training(labbed):
    split = make_split(labbed, TASK, CROSS_LAB)
    (fold,) = split.folds  # one fold: one pretraining per seed
    (lab,) = held_out_labs(LAB_OF.values())  # a third of 3 labs
    animal = dict(zip(labbed.neurons["neuron_id"], labbed.neurons["animal"]))
    rec_animal = dict(zip(labbed.recordings["recording"], labbed.recordings["animal"]))
    held = {a for a, x in LAB_OF.items() if x == lab}
    assert set(fold.test_animals) == held and len(held) == 2
    assert fold.test == tuple(sorted(n for n, a in animal.items() if a in held))  # every labelled neuron of them
    assert not {rec_animal[r] for r in fold.pretrain} & held
    assert {rec_animal[r] for r in fold.pretrain} == set(LAB_OF) - held
    assert {animal[n] for n in fold.train + fold.val} == set(LAB_OF) - held and fold.val


def test_cross_lab_split_is_deterministic_and_hashes_the_labs_with_the_split_seed(labbed):
    assert make_split(labbed, TASK, CROSS_LAB).checksum == make_split(labbed, TASK, CROSS_LAB).checksum
    chosen = {seed: held_out_labs(["west", "north", "south", "north"], seed) for seed in range(12)}
    assert all(held_out_labs(["south", "north", "west"], seed) == labs for seed, labs in chosen.items())  # order-free
    assert len(set(chosen.values())) > 1  # the seed, through the hash, picks the labs
    for seed in (0, 1, 2):
        lab_of_test = {LAB_OF[a] for a in make_split(labbed, TASK, CROSS_LAB, seed).folds[0].test_animals}
        assert lab_of_test == set(chosen[seed])
    ten = [f"lab{i}" for i in range(10)]
    assert len(held_out_labs(ten)) == 3 and len(held_out_labs(ten[:2])) == 1


PINNED_CROSS_LAB = "46256dcff57120ed907b333ebc9abffd7aaf7c2d703f2340c0b005c378d3af96"


def test_cross_lab_checksum_is_pinned(labbed):
    """A change of the cross-lab rule changes the checksum that records carry: it must
    bump `SPLIT_VERSION`."""
    assert make_split(labbed, TASK, CROSS_LAB).checksum == PINNED_CROSS_LAB


def test_cross_lab_score_rule_holds_out_the_labs_of_make_split():
    ids = [f"n{i}" for i in range(60)]
    labs = [("north", "south", "west")[i % 3] for i in range(60)]
    ((train, val, test),) = cross_lab_holdout(ids, ["a", "b"] * 30, labs, 0)
    lab_of = dict(zip(ids, labs))
    assert {lab_of[n] for n in test} == set(held_out_labs(labs)) == set(held_out_labs(LAB_OF.values()))
    assert not {lab_of[n] for n in train + val} & set(held_out_labs(labs))
    assert sorted(train + val + test) == sorted(ids) and val


def test_an_animal_in_two_labs_and_a_single_lab_are_refused(tmp_path, monkeypatch):
    dataset_example.register(monkeypatch, LABBED)
    recs = lab_recordings()
    recs[3].labels["lab"] = "west"  # m1's second recording: another lab
    with pytest.raises(NeuronbenchError, match="labels.parquet: field 'lab': animal 'm1' has neurons in 2 labs "
                       "\\(north, west\\); a cross-lab split needs each animal in exactly one lab"):
        make_split(labbed_dataset(tmp_path / "two", recs), TASK, CROSS_LAB)
    one = labbed_dataset(tmp_path / "one", lab_recordings(lab_of={a: "north" for a in LAB_OF}))
    with pytest.raises(NeuronbenchError, match="labels.parquet: field 'lab': a cross-lab split needs 2\\+ labs, got 1 "
                       "\\(north\\)"):
        make_split(one, TASK, CROSS_LAB)


def test_check_split_refuses_a_held_out_lab_in_pretraining_or_probe_training(labbed):
    split = make_split(labbed, TASK, CROSS_LAB)
    (fold,) = split.folds
    rec_animal = dict(zip(labbed.recordings["recording"], labbed.recordings["animal"]))
    held_rec = next(r for r, a in rec_animal.items() if a in fold.test_animals)
    leaked = dataclasses.replace(split, folds=(dataclasses.replace(fold, pretrain=fold.pretrain + (held_rec,)),))
    with pytest.raises(NeuronbenchError, match="a held-out animal is in pretraining"):
        check_split(leaked, labbed)
    # a same-lab animal not listed as held out, moved to the training side: the labs catch it
    moved = fold.test_animals[0]
    animal = dict(zip(labbed.neurons["neuron_id"], labbed.neurons["animal"]))
    train = fold.train + tuple(n for n in fold.test if animal[n] == moved)
    tampered = dataclasses.replace(fold, train=train, test=tuple(n for n in fold.test if animal[n] != moved),
                                   test_animals=tuple(a for a in fold.test_animals if a != moved))
    with pytest.raises(NeuronbenchError, match="an animal of a held-out lab .* pretrains or trains the probe"):
        check_split(dataclasses.replace(split, folds=(tampered,)), labbed)


def test_a_dataset_without_labs_says_why_it_has_no_cross_lab_setting(ds):
    assert HANDMADE.labs is None and CROSS_LAB not in HANDMADE.settings and CROSS_LAB in SETTINGS
    with pytest.raises(NeuronbenchError, match="dataset 'handmade' does not support the inductive-cross-lab setting: "
                       "records one lab \\(no lab column\\): a cross-lab split needs 2\\+ labs"):
        make_split(ds, TASK, CROSS_LAB)
    reasons = {name: get_dataset_info(name).na_reasons.get(CROSS_LAB, "") for name in
               ("steinmetz", "allen", "bugeon", "izhikevich", "ibl")}
    assert "one lab (Steinmetz et al. 2019)" in reasons["steinmetz"]
    assert "one institute's pipeline" in reasons["allen"] and "one lab (Bugeon" in reasons["bugeon"]
    assert "without labs" in reasons["izhikevich"] and reasons["ibl"] == ""
    assert CROSS_LAB in get_dataset_info("ibl").settings
    toy = dataclasses.replace(HANDMADE, kind="simulated", generator="tests.dataset_example:build")
    assert toy.na_reasons[CROSS_LAB].startswith("simulated without labs")
    with pytest.raises(NeuronbenchError, match="field 'unsupported'"):  # no setting left
        dataclasses.replace(HANDMADE, unsupported={s: "no" for s in SETTINGS if s != CROSS_LAB})
