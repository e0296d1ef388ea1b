"""Grids on Dask: same records as in-process, a dying worker loses nothing, failures
are recorded. Uses a local Dask cluster of 2 worker processes."""

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import MethodInfo
from neuronbench.executors import (InProcessExecutor, ProcessExecutor, load_cluster_config, local_dask,
                                  make_executor)
from neuronbench.protocol.record import iter_records
from neuronbench.runner import GridOptions, run_grid
from tests import plugin_example
from tests.test_runner import handmade  # noqa: F401 (the fixture registers the dataset and spies)

SETTINGS = ["transductive", "transductive-zero-shot", "inductive"]


def _numbers(root):
    """Each record without what legitimately differs between processes (timings, host)."""
    out = {}
    for path, r in iter_records(root):
        out[str(path.relative_to(root))] = {k: v for k, v in r.to_dict().items() if k not in ("timings", "environment")}
    return out


@pytest.fixture(scope="module")
def dask2():
    executor = local_dask(2)
    yield executor
    executor.close()


def test_dask_records_equal_in_process_records(tmp_path, dask2):
    opts = GridOptions(results=tmp_path / "a", progress=False, probes=("linear", "mlp"), probe_seeds=(0,))
    run_grid(["spy", "spy-failing"], "handmade", SETTINGS, [0], options=opts)
    run_grid(["spy", "spy-failing"], "handmade", SETTINGS, [0],
             options=dataclasses.replace(opts, results=tmp_path / "b"), executor=dask2)
    a, b = _numbers(tmp_path / "a"), _numbers(tmp_path / "b")
    assert a == b and len(a) == 2 * 5
    statuses = {r["method"]["name"]: r["status"] for r in a.values()}
    assert statuses == {"spy": "ok", "spy-failing": "failed"}  # a failing task does not stop the grid


def test_a_budget_run_on_dask_records_its_budget_and_the_fit_core_seconds(tmp_path, dask2):
    opts = GridOptions(results=tmp_path / "a", progress=False, probes=("linear",), probe_seeds=(0,), budget=2)
    run_grid(["spy-budget"], "handmade", ["inductive"], [0], options=opts)
    run_grid(["spy-budget"], "handmade", ["inductive"], [0], options=dataclasses.replace(opts, results=tmp_path / "b"),
             executor=dask2)
    assert _numbers(tmp_path / "a") == _numbers(tmp_path / "b")
    ((path, record),) = iter_records(tmp_path / "b")
    assert path.name == "fold0-seed0-budget2.json" and record.budget == 2.0 and record.method.config["steps"] == 6
    assert record.timings["fit_core_s"] > 0  # measured in the worker process that fitted


def test_a_worker_dying_mid_grid_loses_nothing_and_duplicates_nothing(tmp_path, dask2, monkeypatch):
    marker = tmp_path / "died"
    dying = dataclasses.replace(plugin_example.INFO, presets={"cpu": {"dim": 2, "fail": False, "die_once": str(marker)}})
    monkeypatch.setattr("neuronbench.runner.get_method", lambda name: dying)
    opts = GridOptions(results=tmp_path / "r", progress=False, probes=("linear",))
    paths = run_grid(["spy"], "handmade", SETTINGS, [0, 1, 2], options=opts, executor=dask2)
    assert marker.exists()  # a worker did die during the grid
    records = list(iter_records(tmp_path / "r"))
    assert sorted(p for p, _ in records) == sorted(paths) and len(set(paths)) == len(paths) == 3 * 5
    assert all(r.status == "ok" for _, r in records)
    before = {p: p.read_bytes() for p in paths}
    run_grid(["spy"], "handmade", SETTINGS, [0, 1, 2], options=opts, executor=dask2)  # rerun: nothing to do
    assert {p: p.read_bytes() for p in paths} == before


def test_executor_options_are_checked(tmp_path):
    with pytest.raises(NeuronbenchError, match="choose one of"):
        make_executor(jobs=2, scheduler="tcp://127.0.0.1:1")
    bad = tmp_path / "cluster.yaml"
    bad.write_text("kind: kubernetes\ncores: 4\nmemory: 8GB\n")
    with pytest.raises(NeuronbenchError, match="field 'kind'"):
        load_cluster_config(bad)
    good = tmp_path / "slurm.yaml"
    good.write_text("kind: slurm\njobs: 4\nqueue: gpu\ncores: 8\nmemory: 32GB\ngpus: 1\nwalltime: '04:00:00'\n")
    assert load_cluster_config(good)["queue"] == "gpu"


def test_local_workers_keep_glibc_default_trim_threshold() -> None:
    """Dask's nanny default (MALLOC_TRIM_THRESHOLD_=65536) made torch training ~2-4x
    slower in workers; our local workers drop it and pin BLAS/OpenMP threads."""
    from neuronbench.executors import worker_environ

    env = worker_environ(1)
    assert "MALLOC_TRIM_THRESHOLD_" not in env
    assert env["OMP_NUM_THREADS"] == 1 and env["MKL_NUM_THREADS"] == 1


def test_in_process_tasks_run_when_asked_and_let_ctrl_c_through() -> None:
    from neuronbench.executors import InProcessExecutor

    ran = []
    ex = InProcessExecutor()

    def task(x):
        ran.append(x)
        if x == "stop":
            raise KeyboardInterrupt
        if x == "bad":
            raise ValueError("bad input")
        return x

    first = ex.submit(task, "a")
    after = ex.submit(task, first)  # a dependency: receives the result of `first`
    bad, stop, never = ex.submit(task, "bad"), ex.submit(task, "stop"), ex.submit(task, "never")
    assert ran == []  # nothing runs at submission (the caller's progress bar comes first)
    assert after.result() == "a" and ran == ["a", "a"]
    with pytest.raises(ValueError, match="bad input"):  # an error is the task's result
        bad.result()
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C is not: it stops the caller
        for future in ex.as_completed([stop, never]):
            future.result()
    assert "never" not in ran


def test_local_workers_ignore_ctrl_c() -> None:
    """The terminal's Ctrl-C goes to the whole process group; only the main process
    reacts (and closes the cluster), so no worker prints a traceback."""
    import signal

    ours = signal.getsignal(signal.SIGINT)  # Python's default_int_handler, or SIG_IGN if started in the background
    executor = local_dask(1)
    try:
        handlers = executor.client.run(lambda: str(signal.getsignal(signal.SIGINT)))
    finally:
        executor.close()
    assert list(handlers.values()) == [str(signal.SIG_IGN)]
    assert signal.getsignal(signal.SIGINT) is ours  # this process's handler is given back (Ctrl-C stops it)


def _embeddings(root):
    """Every cached embedding of a results folder, by file name: its table as bytes."""
    from neuronbench.embeddings import read_embeddings

    return {p.name: read_embeddings(p)[0].to_numpy().tobytes() for p in (root / "cache").rglob("*.parquet")}


def test_process_pool_records_and_embeddings_equal_sequential_ones(tmp_path):
    """The default executor (a process per core) against one task at a time in this
    process: a torch method's records and embeddings bitwise equal (timings aside)."""
    opts = GridOptions(preset="tiny", device="cpu", results=tmp_path / "a", progress=False, probes=("linear",),
                       probe_seeds=(0,))
    grid = (["nuclr"], "synthetic-tiny", ["inductive"], [0, 1], ["cell_class"])
    run_grid(*grid, options=opts, executor=InProcessExecutor())
    pool = ProcessExecutor(2)
    try:
        run_grid(*grid, options=dataclasses.replace(opts, results=tmp_path / "b"), executor=pool)
    finally:
        pool.close()
    a, b = _numbers(tmp_path / "a"), _numbers(tmp_path / "b")
    assert a == b and len(a) == 2 and all(r["status"] == "ok" for r in a.values())
    ea, eb = _embeddings(tmp_path / "a"), _embeddings(tmp_path / "b")
    assert ea == eb and len(ea) == 2


def test_make_executor_default_is_a_worker_per_core(monkeypatch):
    monkeypatch.setattr("neuronbench.executors.available_cores", lambda: 3)
    pool = make_executor()
    try:
        assert isinstance(pool, ProcessExecutor) and pool.workers == 3
    finally:
        pool.close()
    assert isinstance(make_executor(jobs=1), InProcessExecutor)
    monkeypatch.setattr("neuronbench.executors.available_cores", lambda: 1)
    assert isinstance(make_executor(), InProcessExecutor)


class Sleeping(plugin_example.SpyMethod):
    """Each fit leaves a marker named by its process id in $NEURONBENCH_TEST_MARKER and
    sleeps (until stopped)."""

    def fit(self, recordings, *, seed, labels=None):
        (Path(os.environ["NEURONBENCH_TEST_MARKER"]) / f"{os.getpid()}-{seed}-{time.time_ns()}").touch()
        time.sleep(600)
        return super().fit(recordings, seed=seed, labels=labels)


SLEEPING = MethodInfo(name="sleeping", kind="method", summary="test", factory="tests.test_executors:Sleeping",
                      presets={"cpu": {"dim": 2}})


def test_sigint_stops_the_worker_pool_and_nothing_starts_after_it(tmp_path):
    """A real SIGINT (Ctrl-C) to `neuronbench run` on its default pool of 2 workers, both
    fitting: exit 130 without a traceback, no other fit starts, the workers are gone and
    no temporary file is left."""
    markers = tmp_path / "markers"
    markers.mkdir()
    code = (
        "import sys\n"
        "from importlib.metadata import EntryPoint\n"
        "from neuronbench import executors, registry\n"
        "from neuronbench.protocol import datasets\n"
        "executors.available_cores = lambda: 2\n"
        "dep = EntryPoint(name='handmade', value='tests.dataset_example:HANDMADE', group=datasets.ENTRY_POINT_GROUP)\n"
        "dbefore = datasets.entry_points\n"
        "datasets.entry_points = lambda group: list(dbefore(group=group)) + [dep] if group == datasets.ENTRY_POINT_GROUP "
        "else dbefore(group=group)\n"
        "ep = EntryPoint(name='sleeping', value='tests.test_executors:SLEEPING', group=registry.ENTRY_POINT_GROUP)\n"
        "before = registry.entry_points\n"
        "registry.entry_points = lambda group: list(before(group=group)) + [ep] if group == registry.ENTRY_POINT_GROUP "
        "else []\n"
        "from neuronbench.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = ["run", "--dataset", "handmade", "--probes", "linear", "--results", str(tmp_path / "results"),
            "--method", "sleeping", "--split", "inductive", "--seeds", "0,1,2", "--no-progress"]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "NEURONBENCH_TEST_MARKER": str(markers)}
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for _ in range(2400):  # until both workers are fitting (or the process ended)
            if len(list(markers.iterdir())) >= 2 or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert len(list(markers.iterdir())) == 2, proc.communicate()[1]
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: to the command and its workers
        _, err = proc.communicate(timeout=120)  # a guard only
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err and "interrupted" in err
    assert len(list(markers.iterdir())) == 2  # no fit started after Ctrl-C
    workers = {int(m.name.split("-")[0]) for m in markers.iterdir()}
    for _ in range(100):  # the workers are gone (once init has reaped them)
        if not any(_alive(pid) for pid in workers):
            break
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)
    assert not (tmp_path / "results").exists() or [p for p in (tmp_path / "results").rglob(".*") if p.is_file()] == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
