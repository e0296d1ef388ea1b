"""The grid runner end to end on a hand-made dataset, with spy plug-ins registered
through the entry-point group as a third-party package would."""

import json
import re
from importlib.metadata import EntryPoint

import pytest

from neuronbench import registry
from neuronbench.cli import main
from neuronbench.data.store import data_root, write_dataset
from neuronbench.protocol.datasets import DatasetInfo
from neuronbench.protocol.record import iter_records
from neuronbench.protocol.settings import held_out_labs
from neuronbench.protocol.tasks import Task
from neuronbench.runner import GridOptions, run_grid
from tests import dataset_example, plugin_example
from tests.conftest import LAB_OF, lab_recordings, small_recordings

SETTINGS = ["transductive", "transductive-zero-shot", "inductive"]
LABBED = DatasetInfo(name="labbed", summary="hand-made, 3 labs", kind="recorded", modality="spikes",
                     available=("waveforms",), labs="lab",
                     tasks=(Task("labbed", "cell_class", "cell_class", ("a", "b"), "test task"),))


@pytest.fixture(autouse=True)
def handmade(monkeypatch):
    dataset_example.register(monkeypatch, dataset_example.HANDMADE)
    path = data_root() / "handmade"
    if not path.exists():
        write_dataset(path, "handmade", small_recordings(), label_columns=["cell_class"])
    eps = [EntryPoint(name=n, value=f"tests.plugin_example:{v}", group=registry.ENTRY_POINT_GROUP)
           for n, v in (("spy", "INFO"), ("spy-supervised", "SUPERVISED"), ("spy-failing", "FAILING"),
                        ("spy-calcium", "CALCIUM_ONLY"), ("spy-budget", "BUDGETED"))]
    before = registry.entry_points  # the built-in methods stay registered
    monkeypatch.setattr(registry, "entry_points", lambda group: list(before(group=group)) + eps
                        if group == registry.ENTRY_POINT_GROUP else [])
    registry.all_methods.cache_clear()
    for v in plugin_example.SEEN.values():
        v.clear()
    yield
    registry.all_methods.cache_clear()


def _opts(tmp_path, **kw):
    return GridOptions(results=tmp_path / "results", progress=False, probes=("linear",), **kw)


def test_plugin_from_entry_point_runs_every_setting_and_never_sees_labels(tmp_path):
    paths = run_grid(["spy"], "handmade", SETTINGS, [0, 1], options=_opts(tmp_path))
    records = [r for _, r in iter_records(tmp_path / "results")]
    assert len(paths) == len(records) == 2 * (1 + 3 + 1)  # seeds x folds (LOAO has 3 animals)
    assert {r.status for r in records} == {"ok"}
    assert all(labels is None for fit in plugin_example.SEEN["fit"] for _, labels in fit)
    assert all(labels is None for _, labels in plugin_example.SEEN["embed"])
    assert plugin_example.SEEN["labels"] == [None] * len(plugin_example.SEEN["labels"])
    # one pretraining per (pretraining set, seed): all recordings, and the inductive subset
    assert len(plugin_example.SEEN["fit"]) == 2 * 2
    inductive = [r for r in records if r.setting == "inductive"]
    for r in inductive:
        held = set(r.split.test_animals)
        assert r.split.n_pretrain_recordings == 6 - 2 * len(held)


def test_cross_lab_grid_pretrains_once_per_seed_without_the_held_out_labs(tmp_path, monkeypatch):
    dataset_example.register(monkeypatch, dataset_example.HANDMADE, LABBED)
    if not (data_root() / "labbed").exists():
        write_dataset(data_root() / "labbed", "labbed", lab_recordings("labbed"), label_columns=["cell_class", "lab"])
    paths = run_grid(["spy"], "labbed", ["inductive-cross-lab"], [0, 1], options=_opts(tmp_path))
    records = [r for _, r in iter_records(tmp_path / "results")]
    assert len(paths) == len(records) == 2 and {r.status for r in records} == {"ok"}  # one fold per seed
    (lab,) = held_out_labs(LAB_OF.values())
    held = {a for a, x in LAB_OF.items() if x == lab}
    assert all(set(r.split.test_animals) == held and r.setting == "inductive-cross-lab" for r in records)
    assert len(plugin_example.SEEN["fit"]) == 2  # one pretraining per seed
    for fit in plugin_example.SEEN["fit"]:
        assert not {rec.split("-")[0] for rec, _ in fit} & held and len(fit) == 2 * (len(LAB_OF) - len(held))


def test_supervised_method_gets_probe_train_labels_only(tmp_path):
    from neuronbench.data.store import Dataset
    from neuronbench.protocol.settings import get_split

    run_grid(["spy-supervised"], "handmade", ["inductive"], [0], options=_opts(tmp_path))
    (labels,) = plugin_example.SEEN["labels"]
    ds = Dataset(data_root() / "handmade")
    split = get_split(ds, dataset_example.HANDMADE.tasks[0], "inductive")
    assert sorted(labels.index) == sorted(split.folds[0].train)
    assert not set(labels.index) & set(split.folds[0].test + split.folds[0].val)


def test_rerun_does_nothing_and_a_deleted_record_is_redone_alone(tmp_path):
    opts = _opts(tmp_path)
    paths = run_grid(["spy"], "handmade", ["transductive", "inductive"], [0], options=opts)
    before = {p: p.read_bytes() for p in paths}
    n_fits = len(plugin_example.SEEN["fit"])
    run_grid(["spy"], "handmade", ["transductive", "inductive"], [0], options=opts)
    assert len(plugin_example.SEEN["fit"]) == n_fits  # nothing redone
    assert {p: p.read_bytes() for p in paths} == before
    paths[0].unlink()
    run_grid(["spy"], "handmade", ["transductive", "inductive"], [0], options=opts)
    assert len(plugin_example.SEEN["fit"]) == n_fits  # the cached embedding serves the redone run
    redone = json.loads(paths[0].read_text())
    old = json.loads(before[paths[0]])
    assert redone["probes"] == old["probes"]  # same seed, same numbers
    assert all(before[p] == p.read_bytes() for p in paths[1:])


def test_a_damaged_cached_embedding_is_recomputed_with_a_warning_naming_it(tmp_path, capsys):
    opts = _opts(tmp_path)
    paths = run_grid(["spy"], "handmade", ["inductive"], [0], options=opts)
    (cached,) = (tmp_path / "results" / "cache" / "embeddings").rglob("*.parquet")
    cached.write_bytes(cached.read_bytes()[:100])
    paths[0].unlink()
    n_fits = len(plugin_example.SEEN["fit"])
    capsys.readouterr()
    run_grid(["spy"], "handmade", ["inductive"], [0], options=opts)
    assert len(plugin_example.SEEN["fit"]) > n_fits  # recomputed
    err = capsys.readouterr().err
    assert err.count(f"cached embedding {cached} is damaged") == 1


def test_failing_method_is_recorded_and_the_grid_goes_on(tmp_path, capsys):
    rc = main(["run", "--method", "spy-failing,spy", "--split", "inductive", "--dataset", "handmade",
               "--seeds", "1", "--probes", "linear", "--results", str(tmp_path / "results"), "--no-progress"])
    assert rc == 1
    records = {r.method.name: r for _, r in iter_records(tmp_path / "results")}
    assert records["spy-failing"].status == "failed"
    assert "this method always fails" in records["spy-failing"].reason
    assert records["spy"].status == "ok"
    assert "always fails" in capsys.readouterr().err


def test_unsupported_modality_is_recorded_as_not_applicable(tmp_path):
    run_grid(["spy-calcium"], "handmade", ["transductive"], [0], options=_opts(tmp_path))
    (rec,) = [r for _, r in iter_records(tmp_path / "results")]
    assert rec.status == "not_applicable" and "calcium" in rec.reason


@pytest.mark.parametrize("argv, message", [
    (["run", "--method", "nope", "--split", "inductive"], "unknown method 'nope'; choose from:"),
    (["run", "--method", "spy", "--split", "sideways", "--dataset", "handmade"], "unknown setting 'sideways'"),
    (["run", "--method", "spy", "--split", "inductive", "--dataset", "handmade", "--task", "x"],
     "unknown task 'x' for dataset 'handmade'; choose from: cell_class"),
    (["run", "--method", "spy", "--split", "inductive", "--dataset", "nowhere"], "unknown dataset 'nowhere'"),
    (["run", "--method", "spy", "--split", "inductive,inductive-cross-lab", "--dataset", "handmade"],
     ("dataset 'handmade' does not support the inductive-cross-lab setting: records one lab (no lab column): a "
      "cross-lab split needs 2+ labs (it supports: transductive, transductive-zero-shot, inductive)")),
])
def test_bad_names_give_the_valid_ones(argv, message, capsys, tmp_path):
    assert main(argv + ["--results", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_corrupt_data_file_fails_cleanly_and_damages_no_record(tmp_path, capsys, monkeypatch):
    import shutil

    results = tmp_path / "results"
    argv = ["run", "--method", "spy", "--split", "inductive", "--dataset", "handmade", "--probes", "linear",
            "--results", str(results), "--no-progress"]
    assert main(argv + ["--seeds", "1"]) == 0
    before = {p: p.read_bytes() for p in results.rglob("fold*.json")}
    broken = tmp_path / "data"
    shutil.copytree(data_root() / "handmade", broken / "handmade")
    target = broken / "handmade" / "arrays" / "m0-s1" / "spike_times.npy"
    target.write_bytes(target.read_bytes()[:100])
    monkeypatch.setenv("NEURONBENCH_DATA", str(broken))
    assert main(argv + ["--seeds", "0,1"]) == 1
    err = capsys.readouterr().err
    assert "m0-s1/spike_times.npy" in err and "truncated" in err
    assert {p: p.read_bytes() for p in before} == before  # the finished record is untouched




def test_asking_for_another_probe_redoes_the_run_from_the_cached_embedding(tmp_path):
    opts = _opts(tmp_path)
    (path,) = run_grid(["spy"], "handmade", ["inductive"], [0], options=opts)
    n_fits = len(plugin_example.SEEN["fit"])
    run_grid(["spy"], "handmade", ["inductive"], [0], options=GridOptions(
        results=opts.results, progress=False, probes=("linear", "xgboost"), probe_seeds=(0,)))
    assert set(json.loads(path.read_text())["probes"]) == {"linear", "xgboost"}
    assert len(plugin_example.SEEN["fit"]) == n_fits


def test_submitted_tasks_carry_one_run_each_not_every_run_of_their_job(tmp_path, monkeypatch):
    """What a Dask client pickles per task holds one run: a job's list of runs sent with
    each of its runs grew a curve grid's submission to gigabytes."""
    from neuronbench import executors

    submitted: list[str] = []
    submit = executors.InProcessExecutor.submit

    def spying_submit(self, fn, *args, **kw):
        jobs = [a for a in args if hasattr(a, "runs")]
        assert jobs and all(j.runs == [] for j in jobs)
        submitted.append(fn.__name__)
        return submit(self, fn, *args, **kw)

    monkeypatch.setattr(executors.InProcessExecutor, "submit", spying_submit)
    run_grid(["spy"], "handmade", ["transductive"], [0], options=_opts(tmp_path, label_fractions=(0.5, 1.0)))
    records = [r for _, r in iter_records(tmp_path / "results")]
    assert len(records) == 2 and {r.status for r in records} == {"ok"}
    assert sorted(submitted) == ["encode_task", "probe_task", "probe_task"]


# -- a results folder that cannot be written --------------------------------------------

def _run_argv(results):
    return ["run", "--method", "spy", "--split", "inductive", "--dataset", "handmade", "--seeds", "1",
            "--probes", "linear", "--results", str(results), "--no-progress"]


def _refuse_files_under(monkeypatch, folder, code):
    """Creating a file under ``folder`` fails with ``code`` (as on a read-only or full
    file system; root ignores permission bits, so chmod alone cannot show it)."""
    import os

    real_open = os.open

    def fake_open(path, flags, *a, **kw):
        if str(path).startswith(str(folder)) and flags & os.O_CREAT:
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", fake_open)


@pytest.mark.parametrize("code", ["EROFS", "EACCES", "ENOSPC"])
def test_an_unwritable_results_folder_is_refused_before_any_fit(tmp_path, capsys, monkeypatch, code):
    import errno
    import os

    results = tmp_path / "results"
    _refuse_files_under(monkeypatch, results, getattr(errno, code))
    assert main(_run_argv(results)) == 2
    err = capsys.readouterr().err
    assert f"{results}: the results folder (--results) cannot be written ({os.strerror(getattr(errno, code))})" in err
    assert "Traceback" not in err
    assert plugin_example.SEEN["fit"] == []  # checked before anything ran
    assert not [p for p in results.rglob("*") if p.is_file()]


def test_a_results_path_that_cannot_be_a_folder_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("in the way")
    for results in (tmp_path / "file", tmp_path / "file" / "results"):
        assert main(_run_argv(results)) == 2
        assert f"{results}: the results folder (--results) cannot be written" in capsys.readouterr().err
    assert plugin_example.SEEN["fit"] == []


def test_a_missing_results_folder_is_created_and_the_check_leaves_nothing(tmp_path):
    results = tmp_path / "new" / "results"
    assert main(_run_argv(results)) == 0
    assert not [p for p in results.rglob(".*") if p.is_file()]  # no write-check or temporary file left


@pytest.mark.skipif(hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0,
                    reason="root ignores permission bits (the monkeypatched variant covers it)")
def test_a_read_only_results_folder_is_refused_before_any_fit(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    results.chmod(0o555)
    try:
        assert main(_run_argv(results)) == 2
        assert f"{results}: the results folder (--results) cannot be written" in capsys.readouterr().err
        assert plugin_example.SEEN["fit"] == []
    finally:
        results.chmod(0o755)


def test_a_full_disk_while_writing_a_record_names_the_file_and_leaves_nothing_half_written(
        tmp_path, capsys, monkeypatch):
    import errno
    import os

    from neuronbench import atomic
    from neuronbench.protocol import record

    def full(f):
        f.write(b'{"partial": ')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(record, "atomic_write_text", lambda path, text: atomic.atomic_write(path, full))
    results = tmp_path / "results"
    assert main(_run_argv(results)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.search(rf"{re.escape(str(results))}/handmade/cell_class/inductive/spy-\w+/fold0-seed0\.json: "
                     rf"cannot write \(No space left on device\); nothing was written to it", err)
    assert not list(results.rglob("*.json")) and not [p for p in results.rglob(".*") if p.is_file()]
