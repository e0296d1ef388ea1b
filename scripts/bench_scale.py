"""How each stage of the pipeline grows with the size of a dataset: wall time and peak
memory per method and stage on `synthetic-scale` data of growing sizes, with the fitted
growth exponent of each (the log-log slope over the sizes: 0 = flat, 1 = linear).

Sizes are a number of recordings (``--recordings``, at least 3, e.g. 3 6 12; one per
animal) of ``--units`` units and ``--duration`` seconds each; every size is built once with `neuronbench.data.synthetic_scale`
(streamed, one recording at a time) under ``--root``. Stages, as the runner does them
(`neuronbench.runner.encode` and `probe_task`), on the inductive split of the region task:

    generate  build the dataset (once per size, not per method; ~0 s when already built)
    load      open the dataset and load the pretraining recordings (memory-mapped, validated)
    split     make the three settings' splits of the region task
    fit       method.fit on the pretraining recordings (after load; the timing is fit only)
    embed     load every recording, method.embed, check and write the embedding
              (after a fit of the same small budget)
    probe     the linear probe of the inductive fold on that embedding (the protocol's scorer)

Each (size, method, stage) runs in a fresh subprocess. Memory: ``peak`` is the largest
resident set size sampled (every 5 ms, /proc/self/status) during the stage itself,
``anon`` the largest anonymous part of it (what cannot be dropped: file pages of
memory-mapped data can be reclaimed by the kernel), ``proc`` the subprocess's
``resource.getrusage`` high-water mark (the stage and what it needs before it). Peak
memory does not depend on the machine's load; times do (the load average is printed).

Learned methods run a fixed small budget so that ``fit`` measures the cost of a step (or
epoch), not convergence (`BUDGET`); ``fit /step`` is fit time divided by the steps or
epochs run. NuCLR has no step limit in its config: its epoch's pair list is cut to
``NUCLR_STEPS`` batches (the store of binned activity is built in full, as in a real fit).

    python scripts/bench_scale.py --recordings 3 6 12 --units 400 --duration 3600
    python scripts/bench_scale.py --recordings 3 6 --methods features,nuclr --stages fit,embed
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from neuronbench.memory import release_memory

METHODS = ("features", "population", "random", "nuclr", "neurpir-nocebra", "nemo", "neuprint", "lolcat")
STAGES = ("generate", "load", "split", "fit", "embed", "probe")
SHARED_STAGES = ("generate", "load", "split")  # measured once per size, not per method
NUCLR_STEPS = 10
BUDGET: dict[str, tuple[dict[str, Any], int]] = {
    # config overrides of the cpu preset, and the steps (or epochs) they run
    "nuclr": ({"epochs_spikes": 1, "warmup_epochs": 0}, NUCLR_STEPS),
    "neurpir-nocebra": ({"steps": 10}, 10),
    "nemo": ({"epochs": 1}, 1),
    "neuprint": ({"epochs": 1, "steps_per_epoch": 10, "val_steps": 1, "embed_steps": 10}, 10),
    "lolcat": ({"epochs": 1, "milestones": (10,)}, 1),
}
BUDGET_GIB = 24
TASK = "region"
SETTING = "inductive"


def growth_exponent(sizes: Sequence[float], values: Sequence[float]) -> float:
    """The least-squares slope of log(value) against log(size): ``values ~ c * size**k``
    gives k. NaN with fewer than two distinct sizes or a non-positive value."""
    x, y = np.asarray(sizes, dtype=float), np.asarray(values, dtype=float)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} sizes but {len(y)} values")
    if len(np.unique(x)) < 2 or not (np.all(np.isfinite(y)) and np.all(y > 0) and np.all(x > 0)):
        return math.nan
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def linear_growth(sizes: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line of value against size: peak memory
    is a fixed part (interpreter, libraries) plus what grows, so the slope is the cost
    of one more unit of size. NaN, NaN with fewer than two distinct sizes."""
    x, y = np.asarray(sizes, dtype=float), np.asarray(values, dtype=float)
    if len(np.unique(x)) < 2:
        return math.nan, math.nan
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(slope)


def largest_fitting(sizes: Sequence[float], values: Sequence[float], budget: float) -> float:
    """The size at which the fitted line (`linear_growth`) reaches ``budget``; inf when
    it does not grow."""
    intercept, slope = linear_growth(sizes, values)
    if math.isnan(slope):
        return math.nan
    return math.inf if slope <= 0 else (budget - intercept) / slope


# ------------------------------------------------------------------ measuring one stage

def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


@contextmanager
def measured(out: dict[str, float]):
    """Wall time and the largest sampled RSS / anonymous RSS (MB) of the block."""
    peak = {"VmRSS": _status_kb("VmRSS"), "RssAnon": _status_kb("RssAnon")}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            for k in peak:
                peak[k] = max(peak[k], _status_kb(k))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        out["seconds"] = time.perf_counter() - t0
        stop.set()
        thread.join()
        for k in peak:
            peak[k] = max(peak[k], _status_kb(k))
        out["peak_mb"], out["anon_mb"] = peak["VmRSS"] / 1024, peak["RssAnon"] / 1024


def _limit_nuclr_steps(batch_pairs: int) -> None:
    """Cut each NuCLR epoch's pair list to `NUCLR_STEPS` batches (see the docstring)."""
    import neuronbench_methods.nuclr.method as nuclr_method

    real = nuclr_method.epoch_pairs

    def first_pairs(*args, **kwargs):
        return real(*args, **kwargs)[: NUCLR_STEPS * batch_pairs]

    nuclr_method.epoch_pairs = first_pairs


def run_stage(method: str, stage: str, dataset_path: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Measure one stage in this (fresh) process; the stages it needs run first, unmeasured."""
    out: dict[str, Any] = {}
    if stage == "generate":
        from neuronbench.data import synthetic_scale

        with measured(out):
            synthetic_scale.build(dataset_path.parent, name=dataset_path.name, n_recordings=args.n_recordings,
                                  n_units=args.units, duration_s=args.duration, recordings_per_animal=1)
        return out

    from neuronbench.data.store import Dataset
    from neuronbench.protocol.settings import SETTINGS, get_split
    from neuronbench.protocol.datasets import get_task
    from neuronbench.protocol.tasks import task_table

    def split(setting: str = SETTING):
        ds = Dataset(dataset_path)
        return ds, get_split(ds, get_task(ds.name, TASK), setting, root=work / f"splits-{os.getpid()}")

    if stage == "split":
        with measured(out):
            for setting in SETTINGS:
                split(setting)
        return out
    ds, sp = split()
    fold = sp.folds[0]
    if stage == "load":
        with measured(out):
            recs = [ds.recording(r).without_labels() for r in fold.pretrain]
        out["units"] = sum(r.n_units for r in recs)
        return out

    emb_path = work / f"embedding-{method}.parquet"
    if stage == "probe":
        from neuronbench.embeddings import read_embeddings
        from neuronbench.protocol.constants import HEADLINE_PROBE
        from neuronbench.protocol.evaluator import Evaluator

        task = get_task(ds.name, TASK)
        with measured(out):
            table, _ = read_embeddings(emb_path)
            labels = task_table(ds, task).set_index("neuron_id")["label"]
            scored = Evaluator((HEADLINE_PROBE,)).score_fold(table, labels, fold.train, fold.val, fold.test,
                                                             task.classes)
        out["score"] = scored["probes"][HEADLINE_PROBE][0]["metrics"][task.main_metric]
        out["metric"] = Evaluator.metric_name(task.main_metric)
        return out

    from neuronbench.registry import get_method

    info = get_method(method)
    overrides, steps = BUDGET.get(method, ({}, 0))
    config = {**info.config("cpu", "cpu"), **overrides}
    if method == "nuclr":
        _limit_nuclr_steps(config["batch_pairs_spikes"])
    model = info.build(config)
    pretrain = [ds.recording(r).without_labels() for r in fold.pretrain]
    kwargs = {}
    if info.supervised:
        labels = task_table(ds, get_task(ds.name, TASK)).set_index("neuron_id")["label"]
        kwargs["labels"] = labels.loc[list(fold.train)].copy()
    if stage == "fit":
        with measured(out):
            model.fit(pretrain, seed=0, **kwargs)
        out["steps"] = steps
        return out
    model.fit(pretrain, seed=0, **kwargs)
    del pretrain
    release_memory()  # as the runner does between fit and embed
    from neuronbench.embeddings import check_embeddings, write_embeddings

    with measured(out):
        recs = [ds.recording(r).without_labels() for r in ds.recordings["recording"]]
        table = check_embeddings(model.embed(recs), ds.neurons["neuron_id"].tolist(), method)
        write_embeddings(emb_path, table, {"method": method})
    return out


# ------------------------------------------------------------------ driving the grid

def size_label(n_recordings: int, units: int, duration: float) -> str:
    return f"r{n_recordings}-u{units}-d{duration:g}"


def measure(method: str, stage: str, n_recordings: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run one stage in a fresh subprocess; its result with the process's getrusage peak."""
    folder = Path(args.root) / size_label(n_recordings, args.units, args.duration)
    cmd = [sys.executable, __file__, "--one", method, stage, str(folder), "--n-recordings", str(n_recordings),
           "--units", str(args.units), "--duration", str(args.duration)]
    env = {**os.environ, "NEURONBENCH_DATA": str(folder)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table_rows(results: dict[tuple[str, str, int], dict[str, Any]], sizes: Sequence[int],
               size_units: Sequence[float]) -> list[str]:
    """The printed table: per (method, stage), time and peak memory per size, then the
    growth exponents of time, peak and anonymous peak against ``size_units``."""
    head = " | ".join([f"r={n} s, peak/anon MB" for n in sizes])
    lines = [f"| method | stage | {head} | k time | k peak | k anon | anon MB per rec-h | rec-h in {BUDGET_GIB} GiB |",
             "|---" * (7 + len(sizes)) + "|"]
    keys = list(dict.fromkeys((m, s) for m, s, _ in results))
    for method, stage in keys:
        cells, t, p, a = [], [], [], []
        for n in sizes:
            r = results.get((method, stage, n), {})
            if "seconds" not in r:
                cells.append(r.get("error", "-")[:40])
                continue
            per = f" ({r['seconds'] / r['steps']:.2f}/step)" if r.get("steps") else ""
            cells.append(f"{r['seconds']:.1f}{per}, {r['peak_mb']:.0f}/{r['anon_mb']:.0f}")
            t.append(r["seconds"]), p.append(r["peak_mb"]), a.append(r["anon_mb"])
        ok = [u for n, u in zip(sizes, size_units) if "seconds" in results.get((method, stage, n), {})]
        ks = [growth_exponent(ok, v) for v in (t, p, a)]
        slope = linear_growth(ok, a)[1]
        fits = largest_fitting(ok, a, BUDGET_GIB * 1024)
        lines.append(f"| {method} | {stage} | " + " | ".join(cells) + " | "
                     + " | ".join("-" if math.isnan(k) else f"{k:.2f}" for k in ks)
                     + f" | {slope:.0f} | " + ("-" if math.isnan(fits) else "any" if math.isinf(fits) or slope < 1
                                                else f"{fits:,.0f}") + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", nargs="+", type=int, default=[3, 6, 12], help="sizes: recordings")
    parser.add_argument("--units", type=int, default=400, help="units per recording")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds per recording")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated")
    parser.add_argument("--root", default=None, help="where the datasets are built (default: "
                        "$NEURONBENCH_DATA/bench-scale)")
    parser.add_argument("--json", default=None, help="also write every measurement to this file")
    parser.add_argument("--one", nargs=3, metavar=("METHOD", "STAGE", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--n-recordings", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        method, stage, folder = args.one
        folder = Path(folder)
        out = run_stage(method, stage, folder / "synthetic-scale", folder / "work", args)
        out["proc_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return

    from neuronbench.data.root import data_root

    args.root = args.root or str(data_root() / "bench-scale")
    methods = [m for m in args.methods.split(",") if m]
    stages = [s for s in args.stages.split(",") if s]
    for name, given, known in (("method", methods, METHODS), ("stage", stages, STAGES)):
        bad = [g for g in given if g not in known]
        if bad:
            parser.error(f"unknown {name}(s) {bad}; choose from {', '.join(known)}")
    sizes = sorted(args.recordings)
    hours = [n * args.duration / 3600 for n in sizes]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; sizes: {sizes} recordings x "
          f"{args.units} units x {args.duration:g} s; data in {args.root}", flush=True)
    results: dict[tuple[str, str, int], dict[str, Any]] = {}
    for n in sizes:
        work = Path(args.root) / size_label(n, args.units, args.duration) / "work"
        if work.exists():  # never removed unless this run made it
            parser.error(f"{work} exists (left by an interrupted run?): remove it first")
        work.mkdir(parents=True)
        plan = [("-", s) for s in SHARED_STAGES if s in stages or s == "generate"]
        for m in methods:  # embed runs before probe, which reads its embedding
            plan += [(m, s) for s in ("fit", "embed", "probe") if s in stages or (s == "embed" and "probe" in stages)]
        for method, stage in plan:
            r = measure(method, stage, n, args)
            if stage in stages:
                results[(method, stage, n)] = r
            print(f"  r={n} {method} {stage}: " + ("failed: " + r["error"] if "error" in r else
                  f"{r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MB, anon {r['anon_mb']:.0f} MB, "
                  f"proc {r['proc_mb']:.0f} MB" + (f", {r['metric']} {r['score']:.3f}" if "score" in r else "")),
                  flush=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nrecording-hours per size: {', '.join(f'{h:g}' for h in hours)}; cells: seconds (per step), "
          "peak / anonymous peak RSS in MB; k: growth exponent against recording-hours; the last two "
          f"columns: the slope of the anonymous peak against recording-hours and where that line reaches "
          f"{BUDGET_GIB} GiB (extrapolated; 'any': it grows by < 1 MB per recording-hour)")
    print("\n".join(table_rows(results, sizes, hours)))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps([{"method": m, "stage": s, "recordings": n, **r}
                                               for (m, s, n), r in results.items()], indent=1))


if __name__ == "__main__":
    main()
