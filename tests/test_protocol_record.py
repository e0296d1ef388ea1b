"""neuronbench.protocol.record: the typed run record builds, validates, knows its path,
reads and writes itself atomically, carries its provenance, scores its own fold and
migrates schema versions 1 to 3 without loss."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from neuronbench.cli import main
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.metrics import classification_metrics
from neuronbench.protocol.record import (
    SCHEMA_VERSION, Record, RecordMethod, RecordSplit, RecordTask, check_comparable, iter_records, migrate,
    migrate_folder, read_record, record_path, write_record,
)

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "results" / "izhikevich" / "firing_mode" / "transductive" / "random-d49760f4d6d9" / "fold0-seed2.json"
CLASSES = ["a", "b", "c"]


def as_v4(data: dict) -> dict:
    """A version-3 record object as version 4 reads it: with the preset's training budget
    (1.0), or none for a control."""
    return {**data, "schema_version": 4, "budget": None if data["method"]["kind"] == "control" else 1.0}


def as_v2(data: dict) -> dict:
    """The version-2 form of a headline record object, written out by hand: no curve fields."""
    assert data["label_fraction"] == 1.0 and data["pretrain_animals"] is None
    dropped = ("label_fraction", "pretrain_animals", "budget")
    return {**{k: v for k, v in data.items() if k not in dropped}, "schema_version": 2}


def as_v1(data: dict) -> dict:
    """The version-1 form of a headline record object, written out by hand: the encoder
    seed was ``seed`` and the split seed ``split.seed``."""
    v1 = {k: v for k, v in as_v2(data).items() if k not in ("encoder_seed", "split_seed")}
    v1.update(schema_version=1, seed=data["encoder_seed"], split={**data["split"], "seed": data["split_seed"]})
    return v1


def committed_v1(tmp_path: Path) -> tuple[Path, dict]:
    """A real committed record, copied into ``tmp_path`` in its version-1 form."""
    data = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert data["schema_version"] == 3  # the committed records are version 3
    path = tmp_path / "results" / COMMITTED.relative_to(REPO / "results")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(as_v1(data), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path, data


def test_a_real_v1_record_is_migrated_on_read_without_loss(tmp_path):
    path, v3 = committed_v1(tmp_path)
    record = read_record(path)
    assert record.schema_version == SCHEMA_VERSION == 4
    assert (record.encoder_seed, record.split_seed) == (2, 0) and "seed" not in record.split.to_dict()
    assert record.to_dict() == as_v4(v3)  # every other field as it was
    assert record == read_record(COMMITTED)
    again, committed_again = tmp_path / "again.json", tmp_path / "committed-again.json"
    write_record(again, record)
    write_record(committed_again, read_record(COMMITTED))
    assert again.read_bytes() == committed_again.read_bytes()
    # nothing is lost the other way either: v1 -> v4 -> v1 is the file read
    assert as_v1(record.to_dict()) == json.loads(path.read_text(encoding="utf-8"))


def test_a_v2_record_is_read_as_a_headline_run(tmp_path):
    data = json.loads(COMMITTED.read_text(encoding="utf-8"))
    path = tmp_path / "fold0-seed2.json"
    path.write_text(json.dumps(as_v2(data)), encoding="utf-8")
    record = read_record(path)
    assert record.to_dict() == as_v4(data) and record.is_headline


def test_migrate_folder_rewrites_older_files_once(tmp_path, capsys):
    path, _ = committed_v1(tmp_path)
    v3 = path.with_name("fold0-seed0.json")
    shutil.copy(COMMITTED, v3)
    current = path.with_name("fold0-seed1.json")
    write_record(current, read_record(COMMITTED))  # already v4: left alone
    before = current.stat().st_mtime_ns
    assert migrate_folder(tmp_path / "results") == [v3, path]
    assert path.read_bytes() == current.read_bytes() == v3.read_bytes()
    assert current.stat().st_mtime_ns == before
    assert migrate_folder(tmp_path / "results") == []
    assert main(["migrate", "--results", str(tmp_path / "results")]) == 0
    assert "0 record(s)" in capsys.readouterr().out
    path.write_text("{not json")
    assert main(["migrate", "--results", str(tmp_path / "results")]) == 2
    assert f"{path}: not a valid JSON record" in capsys.readouterr().err
    assert main(["migrate", "--results", str(tmp_path / "nothing")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_migrate_does_not_modify_its_input_and_refuses_unknown_versions():
    v1 = as_v1(json.loads(COMMITTED.read_text(encoding="utf-8")))
    snapshot = json.dumps(v1, sort_keys=True)
    migrate(v1, "x.json")
    assert json.dumps(v1, sort_keys=True) == snapshot
    with pytest.raises(NeuronbenchError, match="x.json: field 'schema_version': expected 1, 2, 3 or 4, got 5"):
        migrate({**v1, "schema_version": 5}, "x.json")
    with pytest.raises(NeuronbenchError, match="x.json: a version-1 record needs the fields 'seed'"):
        migrate({k: v for k, v in v1.items() if k != "seed"}, "x.json")


def made_record(encoder_seed: int = 0, fold: int = 1, threads: int | None = None, **variant) -> Record:
    """A record built as the runner builds it, from stand-ins of the harness's objects."""
    info = SimpleNamespace(name="spy", kind="method", paper="A. Author 2026", supervised=False)
    ds = SimpleNamespace(name="toy", checksum="data-sum")
    task = SimpleNamespace(name="cell_class", label="cell_class", classes=("a", "b", "c"))
    folds = [SimpleNamespace(fold=k, train=["n0", "n1"], val=["n2"], test=["n3", "n4", "n5"], pretrain=("r0",),
                             test_animals=(f"m{k}",)) for k in range(3)]
    split = SimpleNamespace(setting="inductive", folds=folds, seed=7, version=2, checksum="split-sum")
    return Record.build(method=info, preset="cpu", config={"dim": 2, "threads": threads}, config_hash="abc123",
                        dataset=ds, task=task, split=split, fold=folds[fold], encoder_seed=encoder_seed,
                        status="ok", reason=None, **variant)


def fold_scores() -> dict:
    y_true = ["a", "b", "c"]
    entries = [{"probe_seed": s, "params": None, "y_pred": y_pred, "metrics": classification_metrics(y_true, y_pred, CLASSES)}
               for s, y_pred in ((0, ["a", "b", "b"]), (1, ["a", "a", "a"]))]
    return {"y_true": {"neuron_id": ["n3", "n4", "n5"], "label": y_true},
            "chance": {"uniform_macro_f1": 0.3, "majority_macro_f1": 0.2}, "probes": {"mlp": entries}}


def test_build_carries_identity_and_provenance_and_knows_its_path(tmp_path):
    record = made_record(encoder_seed=4, threads=1)
    assert (record.encoder_seed, record.split_seed, record.fold, record.n_folds) == (4, 7, 1, 3)
    assert record.split == RecordSplit(version=2, checksum="split-sum", n_train=2, n_val=1, n_test=3,
                                       n_pretrain_recordings=1, test_animals=("m1",))
    env = record.environment
    assert env["fit_threads"] == 1 and env["device"] is None and env["neuronbench"]
    assert {"git_commit", "python", "numpy", "scikit_learn", "torch", "platform", "cpu_count"} <= set(env)
    assert record.path(tmp_path) == tmp_path / "toy" / "cell_class" / "inductive" / "spy-abc123" / "fold1-seed4.json"
    assert record.path(tmp_path) == record_path(tmp_path, "toy", "cell_class", "inductive", "spy", "abc123", 1, 4)
    scored = record.scored(fold_scores(), "cpu", {"fit_s": 1.0, "embed_s": 0.5, "probe_s": 0.1})
    assert scored.status == "ok" and scored.environment["device"] == "cpu" and scored.environment["peak_rss_mb"] > 0
    assert scored.timings["probe_s"] == 0.1 and record.probes is None  # the first record is unchanged
    failed = scored.failed("ValueError: boom")
    assert failed.status == "failed" and failed.probes is None and failed.y_true is None


def test_write_then_read_is_the_same_record_byte_stable_and_nan_free(tmp_path):
    record = made_record().scored(fold_scores(), "cpu", {"fit_s": math.nan, "embed_s": 0.5, "probe_s": 0.1})
    path = record.path(tmp_path)
    write_record(path, record)
    first = path.read_bytes()
    back = read_record(path)
    assert back.timings["fit_s"] is None  # NaN is stored as null
    assert back.source == str(path) and back.where == str(path)
    write_record(path, back)
    assert path.read_bytes() == first
    assert [p for p, _ in iter_records(tmp_path)] == [path]
    assert set(json.loads(first)) == {"schema_version", "status", "reason", "method", "dataset", "task", "setting",
                                      "fold", "n_folds", "encoder_seed", "split_seed", "split", "environment",
                                      "timings", "label_fraction", "pretrain_animals", "budget", "chance",
                                      "y_true", "probes"}
    na = made_record().failed("needs calcium")
    write_record(na.path(tmp_path / "na"), na)
    assert not {"chance", "y_true", "probes"} & set(json.loads(na.path(tmp_path / "na").read_text()))


def test_fold_score_is_the_stored_metric_averaged_over_probe_seeds():
    record = made_record().scored(fold_scores(), "cpu", {})
    entries = fold_scores()["probes"]["mlp"]
    assert record.fold_score("mlp") == pytest.approx((entries[0]["metrics"]["macro_f1"] + entries[1]["metrics"]["macro_f1"]) / 2)
    assert record.fold_score("mlp", "accuracy") == pytest.approx((2 / 3 + 1 / 3) / 2)
    with pytest.raises(NeuronbenchError, match="no linear probe scores"):
        record.fold_score("linear")
    assert record.predictions("mlp") == (["a", "b", "c"], {0: ["a", "b", "b"], 1: ["a", "a", "a"]})


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("encoder_seed"), r"missing fields \['encoder_seed'\]"),
    (lambda d: d.update(seed=1), r"unknown fields \['seed'\]"),
    (lambda d: d.update(status="done"), "field 'status': expected one of"),
    (lambda d: d.update(encoder_seed="0"), "field 'encoder_seed': expected an integer, got '0'"),
    (lambda d: d.update(fold=True), "field 'fold': expected an integer"),
    (lambda d: d.update(method={"name": "x"}), "field 'method': expected an object with"),
    (lambda d: d.pop("probes"), "field 'probes': expected an object for a run with status 'ok'"),
    (lambda d: d.update(status="failed", reason=None), "field 'reason': required when status is 'failed'"),
    (lambda d: d.update(schema_version=0), "field 'schema_version': expected 1, 2, 3 or 4, got 0"),
    (lambda d: d.pop("budget"), r"missing fields \['budget'\]"),
    (lambda d: d.update(budget=0), "field 'budget': expected null or a positive number, got 0"),
    (lambda d: d.update(budget="4"), "field 'budget': expected null or a positive number, got '4'"),
    (lambda d: d.update(label_fraction=0), r"field 'label_fraction': expected a number in \(0, 1\], got 0"),
    (lambda d: d.update(label_fraction="1"), r"field 'label_fraction': expected a number in \(0, 1\], got '1'"),
    (lambda d: d.update(pretrain_animals=0), "field 'pretrain_animals': expected null or an integer >= 1, got 0"),
])
def test_a_broken_record_is_an_error_naming_the_file_and_field(tmp_path, change, message):
    data = made_record().scored(fold_scores(), "cpu", {}).to_dict()
    change(data)
    path = tmp_path / "fold0-seed0.json"
    path.write_text(json.dumps(data))
    with pytest.raises(NeuronbenchError, match=f"{path}: {message}"):
        read_record(path)
    assert path.read_text() == json.dumps(data)  # nothing rewritten


def test_records_that_must_not_be_scored_together_are_refused_naming_them():
    a = made_record()
    check_comparable([a, made_record(encoder_seed=1)])
    with pytest.raises(NeuronbenchError, match="two records of the same run") as err:
        check_comparable([a, made_record()])
    assert err.value.args[0].count(a.where) == 2
    other_split = made_record(encoder_seed=1)
    other_split = replace(other_split, split=replace(other_split.split, checksum="other"))
    with pytest.raises(NeuronbenchError, match="split checksums"):
        check_comparable([a, other_split])


def test_a_curve_point_has_its_own_file_and_is_not_a_headline_run(tmp_path):
    head = made_record()
    point = made_record(label_fraction=0.05)
    scale = made_record(pretrain_animals=2)
    assert head.is_headline and not point.is_headline and not scale.is_headline
    assert head.path(tmp_path).name == "fold1-seed0.json"
    assert point.path(tmp_path).name == "fold1-seed0-labels5.json"
    assert scale.path(tmp_path).name == "fold1-seed0-pretrain2.json"
    check_comparable([head, point, scale])  # three runs, not one run twice
    with pytest.raises(NeuronbenchError, match="label fraction: expected a number in"):
        made_record(label_fraction=1.5)


def test_a_budget_point_has_its_own_file_and_is_not_a_headline_run(tmp_path):
    head, four, quarter = made_record(), made_record(budget=4), made_record(budget=0.25)
    control = made_record(budget=None)  # a method without a training budget
    assert head.budget == 1.0 and four.budget == 4.0 and control.budget is None
    assert head.is_headline and control.is_headline and not four.is_headline and not quarter.is_headline
    assert four.path(tmp_path).name == "fold1-seed0-budget4.json"
    assert quarter.path(tmp_path).name == "fold1-seed0-budget0.25.json"
    assert control.path(tmp_path).name == head.path(tmp_path).name == "fold1-seed0.json"
    assert made_record(budget=4, label_fraction=0.05).path(tmp_path).name == "fold1-seed0-labels5-budget4.json"
    write_record(four.path(tmp_path), four.scored(fold_scores(), "cpu", {}))
    assert read_record(four.path(tmp_path)).budget == 4.0
    # another budget has another config hash: not a stale record of the headline's config
    check_comparable([head, quarter, replace(four, method=replace(four.method, config_hash="other"))])
    for bad in (0, -1, math.inf, math.nan, True):
        with pytest.raises(NeuronbenchError, match="budget: expected null or a positive number"):
            made_record(budget=bad)


def test_the_parts_of_a_record_are_typed():
    record = read_record(COMMITTED)
    assert isinstance(record.method, RecordMethod) and isinstance(record.task, RecordTask)
    assert (record.method.name, record.method.kind, record.dataset.name) == ("random", "control", "izhikevich")
    assert record.task.classes == ("RS", "IB", "CH", "FS", "LTS")
    assert isinstance(record.split, RecordSplit) and record.split.n_test == len(record.y_true["neuron_id"])
    assert record.dataset.to_dict() == json.loads(COMMITTED.read_text())["dataset"]
    with pytest.raises(AttributeError):
        record.method.name = "other"  # frozen


def test_keys_a_part_does_not_name_are_kept_and_written_back(tmp_path):
    data = json.loads(COMMITTED.read_text(encoding="utf-8"))
    data["split"]["test_groups"] = ["m1"]  # a key the schema does not name
    record = Record.from_dict(data, "x.json")
    assert record.split.extra == {"test_groups": ["m1"]}
    write_record(tmp_path / "x.json", record)
    assert json.loads((tmp_path / "x.json").read_text()) == as_v4(data)


def test_committed_records_read_as_the_presets_budget_and_write_back_without_loss(tmp_path):
    kinds = set()
    for path, record in iter_records(REPO / "results" / "izhikevich"):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["schema_version"] == 3 and "budget" not in data, path
        kinds.add(record.method.kind)
        assert record.budget == (None if record.method.kind == "control" else 1.0), path
        assert record.path(REPO / "results") == path  # no budget suffix: the same file
        write_record(tmp_path / "r.json", record)
        assert json.loads((tmp_path / "r.json").read_text()) == as_v4(data), path
        first = (tmp_path / "r.json").read_bytes()
        write_record(tmp_path / "r.json", read_record(tmp_path / "r.json"))
        assert (tmp_path / "r.json").read_bytes() == first, path
    assert {"control", "method"} <= kinds  # both migrations were exercised
