"""The command line: Ctrl-C, signs of life, pipes, the seeds rule, the environment check
before a grid, reused runs, help and listings. Grids run on the hand-made dataset of
`tests.test_runner` with test plug-ins registered through the entry-point group."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import signal
import subprocess
import sys
import time
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from neuronbench import progress, registry
from neuronbench.cli import build_parser, main
from neuronbench.plugin import MethodInfo
from neuronbench.protocol.record import iter_records
from neuronbench.runner import GridOptions, run_grid
from tests import plugin_example
from tests.test_runner import handmade  # noqa: F401 (the fixture registers the dataset and the spies)

ROOT = Path(__file__).resolve().parents[1]
CALLS: dict[str, int] = {"fit": 0}
SEEN_DURING_FIT: list[str] = []


class Interrupting(plugin_example.SpyMethod):
    """Its second fit is interrupted (as by Ctrl-C); every fit is counted."""

    def fit(self, recordings, *, seed, labels=None):
        CALLS["fit"] += 1
        if CALLS["fit"] == 2:
            raise KeyboardInterrupt
        return super().fit(recordings, seed=seed, labels=labels)


class Phased(plugin_example.SpyMethod):
    """Reports its epochs with `progress.steps` and notes what the terminal shows meanwhile."""

    stream: io.StringIO | None = None

    def fit(self, recordings, *, seed, labels=None):
        for _ in progress.steps(3, "phased: fit epochs", unit="epoch"):
            SEEN_DURING_FIT.append(Phased.stream.getvalue() if Phased.stream else "")
        return super().fit(recordings, seed=seed, labels=labels)


class Sleepy(plugin_example.SpyMethod):
    """First fit: leaves a marker and sleeps (until Ctrl-C); a later fit leaves another.
    The markers' path comes from $NEURONBENCH_TEST_MARKER."""

    def fit(self, recordings, *, seed, labels=None):
        marker = os.environ["NEURONBENCH_TEST_MARKER"]
        if not Path(marker + ".started").exists():
            Path(marker + ".started").touch()
            time.sleep(600)
        Path(marker + ".second-fit").touch()
        return super().fit(recordings, seed=seed, labels=labels)


def _info(name: str, factory: str, **preset) -> MethodInfo:
    return MethodInfo(name=name, kind="method", summary="test", factory=f"tests.test_cli:{factory}",
                      presets={"cpu": {"dim": 2, **preset}})


INTERRUPTING = _info("interrupting", "Interrupting")
PHASED = _info("phased", "Phased")
SLEEPY = _info("sleepy", "Sleepy")
TORCHY = dataclasses.replace(_info("torchy", "Phased"), extras=("torch",))
GPU = dataclasses.replace(_info("gpu", "Phased", device="auto"), uses_torch=True)


@pytest.fixture(autouse=True)
def more_plugins(handmade, monkeypatch):  # noqa: F811
    eps = [EntryPoint(name=n, value=f"tests.test_cli:{n.upper()}", group=registry.ENTRY_POINT_GROUP)
           for n in ("interrupting", "phased", "sleepy", "torchy", "gpu")]
    before = registry.entry_points
    monkeypatch.setattr(registry, "entry_points", lambda group: list(before(group=group)) + eps
                        if group == registry.ENTRY_POINT_GROUP else [])
    registry.all_methods.cache_clear()
    CALLS["fit"] = 0
    SEEN_DURING_FIT.clear()
    yield
    registry.all_methods.cache_clear()


def _run(tmp_path, *extra: str) -> list[str]:
    return ["run", "--dataset", "handmade", "--probes", "linear", "--results", str(tmp_path / "results"), *extra]


def _leftovers(root: Path) -> list[Path]:
    """Temporary files of interrupted atomic writes."""
    return [p for p in root.rglob(".*") if p.is_file()]


# -- Ctrl-C -----------------------------------------------------------------------------

def test_ctrl_c_stops_an_in_process_grid_at_once_and_keeps_finished_runs(tmp_path, capsys):
    rc = main(_run(tmp_path, "--method", "interrupting", "--split", "transductive,inductive",
                   "--seeds", "0,1,2", "--no-progress"))
    assert rc == 130
    assert CALLS["fit"] == 2  # nothing ran after the interrupted fit (6 encoder jobs in the grid)
    records = list(iter_records(tmp_path / "results"))
    assert len(records) == 1 and records[0][1].status == "ok"  # the finished run stays
    assert _leftovers(tmp_path / "results") == []
    assert "interrupted" in capsys.readouterr().err
    # rerunning the same command finishes what is left, without redoing the finished run
    assert main(_run(tmp_path, "--method", "interrupting", "--split", "transductive,inductive",
                     "--seeds", "0,1,2", "--no-progress")) == 0
    assert CALLS["fit"] == 2 + 5
    assert len(list(iter_records(tmp_path / "results"))) == 6


def test_sigint_stops_the_command_and_nothing_runs_after_it(tmp_path):
    """A real SIGINT to a real process (as Ctrl-C in a terminal): exit 130 and one line,
    no traceback, and the next job never starts."""
    marker = tmp_path / "sleepy"
    code = (
        "import sys\n"
        "from importlib.metadata import EntryPoint\n"
        "from neuronbench import registry\n"
        "from neuronbench.protocol import datasets\n"
        "dep = EntryPoint(name='handmade', value='tests.dataset_example:HANDMADE', group=datasets.ENTRY_POINT_GROUP)\n"
        "dbefore = datasets.entry_points\n"
        "datasets.entry_points = lambda group: list(dbefore(group=group)) + [dep] if group == datasets.ENTRY_POINT_GROUP "
        "else dbefore(group=group)\n"
        "ep = EntryPoint(name='sleepy', value='tests.test_cli:SLEEPY', group=registry.ENTRY_POINT_GROUP)\n"
        "before = registry.entry_points\n"
        "registry.entry_points = lambda group: list(before(group=group)) + [ep] if group == registry.ENTRY_POINT_GROUP else []\n"
        "from neuronbench.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    # one job at a time: with the default pool of a worker per core both seeds' fits would
    # start together, and the second would not be "after" the first
    argv = _run(tmp_path, "--method", "sleepy", "--split", "inductive", "--seeds", "2", "--jobs", "1")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEURONBENCH_TEST_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for _ in range(1200):  # until the first fit is under way (or the process ended)
            if Path(str(marker) + ".started").exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert Path(str(marker) + ".started").exists(), proc.communicate()[1]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)  # a guard only: without the fix the grid would go on
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err and "interrupted" in err
    assert not Path(str(marker) + ".second-fit").exists()  # the other job never started
    assert not (tmp_path / "results").exists() or _leftovers(tmp_path / "results") == []


# -- signs of life ----------------------------------------------------------------------

def test_phase_bars_are_drawn_while_the_phases_run(tmp_path):
    stream = io.StringIO()
    Phased.stream = stream
    try:
        with progress.reporting(True, progress.Reporter(stream=stream, always=True)):
            run_grid(["phased"], "handmade", ["inductive"], [0],
                     options=GridOptions(results=tmp_path / "r", progress=True, probes=("linear",)))
    finally:
        Phased.stream = None
    assert len(SEEN_DURING_FIT) == 3
    during = SEEN_DURING_FIT[0]  # what the terminal showed when the first epoch began
    assert "handmade: 1 run(s), 1 encoder job(s)" in during  # the runs bar exists before the work
    assert "fit phased seed 0" in during  # the phase in progress is named
    assert re.search(r"phased: fit epochs: +0%.*0/3 \[00:00<\?", during)  # its epoch bar, ETA to come
    assert "load recordings" in during
    assert "probe phased cell_class inductive fold 0 seed 0" in stream.getvalue()


def test_no_progress_and_non_terminal_output_stay_quiet(tmp_path, capsys):
    assert main(_run(tmp_path, "--method", "phased", "--split", "inductive", "--seeds", "1")) == 0
    err = capsys.readouterr().err  # not a terminal: no bar
    assert "run(s)" not in err and "\r" not in err
    stream = io.StringIO()
    with progress.reporting(True, progress.Reporter(stream=stream, always=True)):
        run_grid(["phased"], "handmade", ["transductive"], [0],
                 options=GridOptions(results=tmp_path / "r2", progress=False, probes=("linear",)))
    assert stream.getvalue() == ""  # --no-progress: nothing, even on a terminal


def test_steps_is_the_iterable_itself_when_reporting_is_off():
    items = [1, 2, 3]
    assert progress.steps(items, "x") is items
    assert list(progress.steps(2, "x")) == [0, 1]
    progress.status("nothing to show")  # a no-op, not an error


# -- pipes ------------------------------------------------------------------------------

def test_a_closed_pipe_ends_the_command_quietly():
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line (as `| head` after its lines)
    try:
        proc = subprocess.run([sys.executable, "-m", "neuronbench", "list", "tasks"], stdout=write,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(write)
    assert proc.stderr == ""
    assert proc.returncode == 141  # 128 + SIGPIPE, as a tool killed by the broken pipe


# -- seeds ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seeds", [("3", [0, 1, 2]), ("1", [0]), ("0,", [0]), ("7,", [7]), ("0,5", [0, 5]),
                                         ("2, 1", [2, 1])])
def test_seeds_rule(text, seeds):
    args = build_parser().parse_args(["run", "--method", "x", "--split", "inductive", "--seeds", text])
    assert args.seeds == seeds


def test_setting_option_with_split_as_its_alias(capsys):
    parse = build_parser().parse_args
    assert parse(["run", "--method", "x", "--setting", "inductive"]).setting == ["inductive"]
    assert parse(["run", "--method", "x", "--split", "transductive,inductive"]).setting == ["transductive", "inductive"]
    both = parse(["run", "--method", "x", "--setting", "inductive", "--split", "transductive"])
    assert both.setting == ["inductive", "transductive"] and not hasattr(both, "split")
    with pytest.raises(SystemExit):
        parse(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--setting S[,S...], --split S[,S...]" in out
    assert ("setting(s), comma-separated: transductive, transductive-zero-shot, inductive, inductive-cross-lab "
            "(--split is an alias; inductive-cross-lab needs a dataset with labs") in out


@pytest.mark.parametrize("text, message", [("0", "for the single seed 0 write 0,"), ("-1,2", "must be >= 0"),
                                           ("-1", "must be >= 0"), ("-1,", "must be >= 0"),
                                           ("1,1", "seed 1 is given more than once"), ("a", "expected a count"),
                                           (",", "expected a count")])
def test_bad_seeds_are_refused_at_parse_time(text, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["run", "--method", "x", "--split", "inductive", f"--seeds={text}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "write -" not in err  # never suggests a negative seed, which is refused in turn


@pytest.mark.parametrize("text", ["0", "-3", "two", "1.5"])
def test_jobs_below_one_are_refused_at_parse_time(text, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["run", "--method", "x", "--split", "inductive", f"--jobs={text}"])
    assert exit_.value.code == 2
    assert "argument --jobs: expected a number of worker processes >= 1" in capsys.readouterr().err


def test_jobs_rule():
    parse = build_parser().parse_args
    assert parse(["run", "--method", "x", "--split", "inductive"]).jobs is None  # a worker per core
    assert parse(["run", "--method", "x", "--split", "inductive", "--jobs", "1"]).jobs == 1
    assert parse(["run", "--method", "x", "--split", "inductive", "--jobs", "2"]).jobs == 2


# -- the environment, checked before the grid -------------------------------------------

def test_a_missing_extra_stops_before_any_record(tmp_path, capsys, monkeypatch):
    import importlib.metadata
    import importlib.util

    real_find_spec, real_distribution = importlib.util.find_spec, importlib.metadata.distribution

    def find_spec(name, *a):
        return None if name == "torch" else real_find_spec(name, *a)

    def distribution(name):
        if name == "torch":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_distribution(name)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    assert main(_run(tmp_path, "--method", "phased,torchy", "--split", "inductive", "--seeds", "1")) == 2
    err = capsys.readouterr().err
    assert "method 'torchy' needs torch" in err and "pip install 'neuronbench[torch]'" in err
    assert not (tmp_path / "results").exists()


def test_cuda_without_cuda_stops_before_any_record(tmp_path, capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(_run(tmp_path, "--method", "gpu", "--split", "inductive", "--seeds", "1", "--device", "cuda")) == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
    # methods none of which uses torch: --device cuda places nothing, refused as well
    assert main(_run(tmp_path, "--method", "phased", "--split", "inductive", "--seeds", "1", "--device", "cuda")) == 2
    assert "phased does not use torch and runs on the CPU" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


# -- reused runs ------------------------------------------------------------------------

def test_reused_runs_are_announced_with_where_they_come_from(tmp_path, capsys):
    argv = _run(tmp_path, "--method", "phased", "--split", "transductive,inductive", "--seeds", "1", "--no-progress")
    assert main(argv) == 0
    assert "reused from" not in capsys.readouterr().err
    (one, _), *_ = list(iter_records(tmp_path / "results"))
    one.unlink()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"1 of 2 run(s) reused from existing records in {tmp_path / 'results'} (made at commit" in err
    assert "--results DIR to recompute" in err


# -- help and listings ------------------------------------------------------------------

def test_help_is_whole_and_describes_every_option(capsys):
    for argv, needles in ((["--help"], ["leaderboards from the records.", "examples:", "neuronbench run --method"]),
                          (["run", "--help"], ["--dataset NAME", "dataset name (default synthetic",
                                               "--no-progress", "no progress bars", "--results DIR",
                                               "runs already recorded there are reused", "single seed 0 is 0,",
                                               "examples:", "Exit status"]),
                          (["leaderboard", "--help"], ["--results DIR", "records to read", "--out DIR",
                                                       "write the leaderboards to", "examples:"])):
        with pytest.raises(SystemExit):
            build_parser().parse_args(argv)
        out = " ".join(capsys.readouterr().out.split())  # argparse wraps the option help
        for needle in needles:
            assert " ".join(needle.split()) in out, (argv, needle)


def test_list_methods_aligns_long_names(capsys, monkeypatch):
    long = dataclasses.replace(PHASED, name="a-method-with-a-rather-long-name")
    monkeypatch.setitem(globals(), "LONG", long)
    eps = [EntryPoint(name="long", value="tests.test_cli:LONG", group=registry.ENTRY_POINT_GROUP)]
    before = registry.entry_points
    monkeypatch.setattr(registry, "entry_points", lambda group: list(before(group=group)) + eps
                        if group == registry.ENTRY_POINT_GROUP else [])
    registry.all_methods.cache_clear()
    assert main(["list", "methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("a-method-with-a-rather-long-name  method  ") for line in lines)
    starts = {re.match(r"\S+\s+", line).end() for line in lines}
    assert len(lines) > 2 and len(starts) == 1  # the kind column starts at the same place on every line


def test_list_datasets_says_what_is_ready_here(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEURONBENCH_DATA", str(tmp_path))
    (tmp_path / "bugeon").mkdir()
    (tmp_path / "bugeon" / "manifest.json").write_text("{}")
    (tmp_path / "synthetic-tiny").mkdir()
    (tmp_path / "synthetic-tiny" / "manifest.json").write_text("{}")
    assert main(["list", "datasets"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.split("\n\n")[0].splitlines()[1:]}  # the table, then the N/A
    assert str(tmp_path) in out.splitlines()[0]
    assert "  prepared  " in rows["bugeon"] and "not prepared" in rows["steinmetz"]
    assert "  cached  " in rows["synthetic-tiny"] and "generated on first use" in rows["synthetic"]
    na = out.split("not supported (N/A):\n")[1]
    assert "  inductive-cross-lab on steinmetz: recorded in one lab (Steinmetz et al. 2019): a cross-lab split " \
           "needs 2+ labs" in na
    assert "inductive-cross-lab on allen: one institute's pipeline" in na and "ibl" not in na
