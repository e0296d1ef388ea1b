"""neuronbench.protocol.evaluator: one Evaluator, built from the protocol's constants,
decides the metrics, a task's main metric, the probes and seeds, the curve points and
which record counts as a run's result."""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from neuronbench.cli import build_parser
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol import constants
from neuronbench.protocol.evaluator import Evaluator
from neuronbench.protocol.record import Record, read_record
from neuronbench.protocol.datasets import all_tasks
from neuronbench.protocol.tasks import Task
from neuronbench.runner import GridOptions
from neuronbench.score import score_file

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "results" / "izhikevich" / "firing_mode" / "transductive" / "random-d49760f4d6d9" / "fold0-seed2.json"


def test_every_task_declares_a_main_metric_of_the_protocol():
    for task in all_tasks().values():
        assert Evaluator.main_metric(task) == task.main_metric
        assert task.main_metric in Evaluator.metrics == constants.METRICS
    assert all_tasks()["ibl/region_bwb"].main_metric == constants.BWB_METRIC
    with pytest.raises(NeuronbenchError, match="field 'main_metric': expected one of macro_f1"):
        Task("d", "t", "t", ("a", "b"), "x", main_metric="auc")


def test_metric_names_cover_every_metric():
    assert set(constants.METRIC_NAMES) == set(constants.METRIC_SHORT) == set(constants.METRICS)
    assert Evaluator.metric_name("macro_f1") == "macro-F1"
    assert Evaluator.metric_name("accuracy", short=True) == "accuracy"


def test_runner_score_and_cli_use_the_evaluators_seeds_and_probes():
    assert GridOptions().evaluator == Evaluator()
    assert Evaluator().probe_seeds == constants.PROBE_SEEDS and Evaluator().probes == constants.PROBES
    defaults = inspect.signature(score_file).parameters
    assert tuple(defaults["probe_seeds"].default) == Evaluator().probe_seeds
    assert tuple(defaults["probes"].default) == (Evaluator.headline_probe,)
    run = build_parser().parse_args(["run", "--method", "random", "--setting", "transductive"])
    assert tuple(run.seeds) == Evaluator.encoder_seeds and run.probes == [Evaluator.headline_probe]


def test_an_unknown_probe_or_no_probe_seed_is_refused():
    with pytest.raises(NeuronbenchError, match="unknown probe 'svm'; choose from: linear, mlp, xgboost"):
        Evaluator(("linear", "svm"))
    with pytest.raises(NeuronbenchError, match="probe seeds: expected at least one"):
        Evaluator(probe_seeds=())


@pytest.mark.parametrize("fractions, animals, settings, message", [
    ((0.5, 0.5), (), ["transductive"], "a fraction is given twice"),
    ((0.0,), (), ["transductive"], r"expected numbers in \(0, 1\]"),
    ((1.0,), (2, 2), ["inductive"], "expected distinct counts >= 1"),
    ((1.0,), "all", ["inductive", "transductive"], "inductive setting only"),
])
def test_curve_options_that_name_no_point_are_refused(fractions, animals, settings, message):
    with pytest.raises(NeuronbenchError, match=message):
        Evaluator.check_curve_options(fractions, animals, settings)


def test_curve_options_of_real_points_pass():
    Evaluator.check_curve_options((0.1, 1.0), (1, 2), ["inductive"])
    Evaluator.check_curve_options((1.0,), (), ["transductive", "inductive"])


@pytest.fixture
def committed() -> tuple[Record, SimpleNamespace]:
    """A committed record and a stand-in of the split it was made on."""
    record = read_record(COMMITTED)
    return record, SimpleNamespace(setting=record.setting, checksum=record.split.checksum)


def test_a_record_of_the_same_split_data_and_config_matches(committed):
    record, split = committed
    assert Evaluator(("linear",)).matches(record, split, record.dataset.checksum, record.method.config_hash)


def test_record_matching_refuses_another_split_data_config_or_setting(committed):
    record, split = committed
    ev, data, config = Evaluator(("linear",)), record.dataset.checksum, record.method.config_hash
    assert not ev.matches(record, SimpleNamespace(setting=split.setting, checksum="other"), data, config)
    assert not ev.matches(record, SimpleNamespace(setting="inductive", checksum=split.checksum), data, config)
    assert not ev.matches(record, split, "other-data", config)
    assert not ev.matches(record, split, data, "other-config")


def test_record_matching_refuses_a_failed_run_or_a_missing_probe(committed):
    record, split = committed
    data, config = record.dataset.checksum, record.method.config_hash
    assert not Evaluator(("linear", "xgboost")).matches(record, split, data, config)  # xgboost not in the record
    failed = record.failed("ValueError: boom")
    assert not Evaluator(("linear",)).matches(failed, split, data, config)
    not_applicable = replace(failed, status="not_applicable", reason="no waveforms")
    assert Evaluator(("linear",)).matches(not_applicable, split, data, config)


def test_a_missing_or_damaged_record_is_not_done(committed, tmp_path):
    record, split = committed
    ev, args = Evaluator(("linear",)), (split, record.dataset.checksum, record.method.config_hash)
    assert ev.is_done(COMMITTED, *args)
    assert not ev.is_done(tmp_path / "missing.json", *args)
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps({"schema_version": 3}))
    assert not ev.is_done(damaged, *args)


def test_no_metric_name_or_seed_list_outside_the_protocol():
    """The protocol owns the metrics and seeds: no other module names one."""
    literal = re.compile(r"""["'](macro_f1|accuracy|balanced_accuracy)["']|seeds?\b[^=\n]*=\s*[(\[]\d+,\s*\d+""",
                         re.IGNORECASE)
    files = [p for p in (REPO / "neuronbench").rglob("*.py") if "protocol" not in p.parts]
    files += list((REPO / "scripts").glob("*.py"))
    found = [f"{p.relative_to(REPO)}:{i}" for p in files
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if literal.search(line)]
    assert not found
