"""Run a grid: methods x tasks x settings x folds x seeds on one dataset.

The grid is cut into *encoder jobs*, one per (method config, pretraining set, seed)
(supervised methods: also per task, setting and fold, since they see labels). Each job
becomes one *encode task* (fit the method once on its pretraining recordings, labels
removed; embed every recording of the dataset once; cache the embedding atomically under
``results/cache/embeddings``) and one *probe task* per run (read that embedding, score it
with the probes, write the run's record). Tasks go to an executor
(`neuronbench.executors`: in-process, or Dask locally or on a cluster); the records and
the cache are the only shared state, and each record is written by exactly one task.

Every run writes one record (`neuronbench.protocol.record`); a run whose record is already there
(same split, same data, same config) is skipped, so an interrupted grid, or one whose
worker died, resumes where it stopped when the same command is run again. A job that
raises marks its runs "failed" with the error and the grid goes on.

Curves (`GridOptions.label_fractions`, `GridOptions.pretrain_animals`) are more runs of
the same grid, each with its own record (`neuronbench.protocol.record.variant_suffix`):

- label efficiency: the probe trains on a stratified, nested, hashed subset of the fold's
  probe-training neurons (`neuronbench.protocol.settings.label_subset`); validation and
  test neurons are unchanged. A self-supervised method's embedding does not depend on
  the labels, so one encoder job serves every fraction and only the probe reruns; a
  supervised method (LOLCAT) trains its encoder on the labelled subset only, so each
  fraction is its own encoder job. Fraction 1 is the headline run (the same record).
- pretraining scale (inductive settings only): the encoder pretrains on the recordings
  of the first k of the setting's pretraining animals in a nested, hashed order
  (`neuronbench.protocol.settings.pretrain_subset`); the probe is unchanged. k equal to
  the number of those animals is the headline run. Only methods that learn from
  unlabelled recordings take part (`pretrains`); for controls, which learn nothing from
  recordings, and supervised methods, whose encoder learns from labels, the point is
  recorded "not_applicable" with the reason.

The training budget (`GridOptions.budget`) is a point of another curve: each method's
declared training counts multiplied by it (`neuronbench.plugin.MethodInfo.scale_budget`),
so a budget other than 1 is another config (and hash) with records of its own
(``-budget<B>``); budget 1 is the preset itself, the headline. Methods without a
training budget (controls) run at budget 1 only. Every fit records its wall-clock and
CPU core-seconds (``time.process_time`` of the process around the fit, torch's threads
included: the fit is the only work of its process while it runs, in-process and in the
local Dask cluster's workers, one thread each; on a worker that runs several tasks at
once, its neighbours' work would count too).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from neuronbench import progress
from neuronbench.atomic import check_writable
from neuronbench.data.store import Dataset
from neuronbench.embeddings import check_embeddings, read_embeddings, write_embeddings
from neuronbench.errors import NeuronbenchError
from neuronbench.executors import InProcessExecutor
from neuronbench.memory import release_memory
from neuronbench.method_cache import method_cache
from neuronbench.plugin import MethodInfo, check_environment, config_hash, device_of, fitted
from neuronbench.protocol.constants import HEADLINE_BUDGET, PROBE_SEEDS, PROBES
from neuronbench.protocol.evaluator import Evaluator
from neuronbench.protocol.record import Record, read_record, record_path, write_record
from neuronbench.protocol.datasets import get_dataset_info, get_task, load_dataset, tasks_for
from neuronbench.protocol.settings import Fold, Split, check_supported, get_split
from neuronbench.protocol.tasks import Task, task_table
from neuronbench.registry import get_method


@dataclass(frozen=True)
class Run:
    """One result record to produce. ``fold`` is the fold as this run uses it: for a
    curve point, ``train`` holds the labelled subset and ``pretrain`` the k animals'
    recordings (`Evaluator.curve_fold`)."""

    task: Task
    split: Split
    fold: Fold
    encoder_seed: int
    path: Path
    label_fraction: float = 1.0
    pretrain_animals: int | None = None
    budget: float | None = HEADLINE_BUDGET


@dataclass
class EncoderJob:
    """One fit + embed, and the runs that reuse its embedding."""

    info: MethodInfo
    preset: str
    config: dict[str, Any]
    pretrain: tuple[str, ...]
    seed: int
    labels: pd.Series | None = None  # probe-train labels (supervised methods only)
    runs: list[Run] = field(default_factory=list)

    @property
    def cache_key(self) -> str:
        ident = {
            "method": self.info.name,
            "config": config_hash(self.config),
            "pretrain": sorted(self.pretrain),
            "seed": self.seed,
            "labels": None if self.labels is None else sorted(self.labels.items()),
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class GridOptions:
    preset: str = "cpu"
    device: str = "auto"
    probes: tuple[str, ...] = PROBES
    probe_seeds: tuple[int, ...] = PROBE_SEEDS
    results: Path = Path("results")
    data_root: Path | None = None
    progress: bool = True
    label_fractions: tuple[float, ...] = (1.0,)
    """Label-efficiency points: fractions of the probe-training labels (1.0: the headline)."""
    pretrain_animals: tuple[int, ...] | Literal["all"] = ()
    """Pretraining-scale points (inductive only): counts of pretraining animals; "all":
    every count from 1 to all of them; (): the headline only."""
    budget: float = HEADLINE_BUDGET
    """The training budget: a multiple of each method's preset training (1: the headline)."""

    @property
    def evaluator(self) -> Evaluator:
        """The evaluation of this grid's runs (its probes and probe seeds)."""
        return Evaluator(self.probes, self.probe_seeds)


def run_grid(
    methods: Sequence[str],
    dataset: str,
    settings: Sequence[str],
    seeds: Sequence[int],
    tasks: Sequence[str] | None = None,
    options: GridOptions = GridOptions(),
    executor: Any = None,
) -> list[Path]:
    """Run the grid on ``executor`` (default: in-process) and return the record paths it
    covers (new and already done)."""
    infos = [get_method(m) for m in methods]
    for s in settings:  # before any data is loaded or generated
        check_supported(dataset, s)
    evaluator = options.evaluator  # refuses an unknown probe
    evaluator.check_curve_options(options.label_fractions, options.pretrain_animals, settings)
    for info in infos:
        evaluator.run_budget(info, options.budget)  # refuses a budget for a method without one
    check_environment(infos, options.device)
    with progress.reporting(options.progress):
        ds = load_dataset(dataset, options.data_root)
        task_list = tasks_for(dataset) if not tasks else [get_task(dataset, t) for t in tasks]
        splits = {(t.name, s): get_split(ds, t, s, root=options.data_root) for t in task_list for s in settings}
        runs = plan_runs(ds, infos, task_list, settings, seeds, splits, options)
        check_writable(options.results, "results folder (--results)")  # before any record or fit
        for note in budget_notes(infos, options):
            print(f"neuronbench: note: {note}", file=sys.stderr)
        pending, reused = plan_jobs(ds, runs, options)
        paths = [run.path for _, run, _ in runs]
        if reused:
            print(reuse_notice(reused, len(paths), options.results), file=sys.stderr)
        if pending:
            submit_jobs(pending, ds.path, options, executor or InProcessExecutor())
    return paths


def reuse_notice(reused: Sequence[Path], total: int, results: Path) -> str:
    """Say how many runs were served by records already in ``results`` and from which
    commits, so that nobody takes committed numbers for a fresh run."""
    commits = sorted({(read_record(p).environment or {}).get("git_commit") or "unknown" for p in reused})
    shown = ", ".join(c[:10] for c in commits[:3]) + (f" and {len(commits) - 3} more" if len(commits) > 3 else "")
    return (f"neuronbench: {len(reused)} of {total} run(s) reused from existing records in {results} "
            f"(made at commit {shown}); delete them or use --results DIR to recompute")


def pretrains(info: MethodInfo) -> bool:
    """Whether a method learns from its pretraining recordings without labels (the
    methods of the pretraining-scale curve): not a control (they learn nothing from
    recordings) and not supervised (its encoder learns from the probe-train labels)."""
    return info.kind != "control" and not info.supervised


def run_config(info: MethodInfo, options: GridOptions) -> dict[str, Any]:
    """The config of ``info``'s runs in this grid: its preset on the device, at the grid's
    training budget (budget 1: the preset itself)."""
    config = info.config(options.preset, options.device)
    return config if options.budget == HEADLINE_BUDGET else info.scale_budget(config, options.budget)


def budget_notes(infos: Sequence[MethodInfo], options: GridOptions) -> list[str]:
    """Where rounding makes a method's trained budget differ from the asked one by more
    than 10 % (10 epochs at budget 0.25 train 3: x0.3), one line per count."""
    notes = []
    for info in infos:
        if options.budget == HEADLINE_BUDGET or not info.budget_keys:
            continue
        preset, scaled = info.config(options.preset), run_config(info, options)
        for key in info.budget_keys:
            counts = preset[key] if isinstance(preset[key], (tuple, list)) else (preset[key],)
            scaled_counts = scaled[key] if isinstance(scaled[key], (tuple, list)) else (scaled[key],)
            ratios = {n / c for c, n in zip(counts, scaled_counts)}
            if any(abs(r - options.budget) > 0.1 * options.budget for r in ratios):
                notes.append(f"{info.name}: --budget {options.budget:g} trains {key} {scaled[key]} "
                             f"(x{' x'.join(f'{r:.3g}' for r in sorted(ratios))} of the {options.preset} preset's "
                             f"{preset[key]}: counts are whole, at least 1)")
    return notes


def submit_jobs(jobs: Sequence[EncoderJob], dataset_path: Path, options: GridOptions, executor: Any) -> None:
    """Submit one encode task per job and one probe task per run (which waits for its
    job's embedding), and follow them with one progress bar (and, in this process, a bar
    per phase below it)."""
    futures = []
    for job in jobs:
        gpu = executor.gpus > 0 and job.info.uses_torch and job.config["device"] != "cpu"
        # the tasks get the job without its runs: a job's runs sent with each of its runs
        # would grow the submitted data with the square of the runs per job (curve grids)
        bare = replace(job, runs=[])
        encoded = executor.submit(encode_task, bare, dataset_path, options.results / "cache" / "embeddings",
                                  resources={"GPU": 1} if gpu else None, key=f"encode-{job.cache_key}")
        for run in job.runs:
            futures.append(executor.submit(probe_task, bare, run, dataset_path, encoded, options,
                                           key=f"probe-{run.path}"))
    n_runs = len(futures)
    failed = 0
    with progress.runs_bar(n_runs, f"{Path(dataset_path).name}: {n_runs} run(s), {len(jobs)} encoder job(s)") as bar:
        for done, future in enumerate(executor.as_completed(futures), start=1):
            failed += future.result() != "ok"
            bar.set_postfix_str(f"done {done}, running {n_runs - done}, failed {failed}", refresh=False)
            bar.update(1)


def plan_runs(
    ds: Dataset,
    infos: Sequence[MethodInfo],
    tasks: Sequence[Task],
    settings: Sequence[str],
    seeds: Sequence[int],
    splits: dict[tuple[str, str], Split],
    options: GridOptions,
) -> list[tuple[MethodInfo, Run, str | None]]:
    """Every run of the grid, curve points included, with the reason it cannot run (None
    if it can). Writes nothing: bad curve options are refused before any record is."""
    info_ds = get_dataset_info(ds.name)
    evaluator = options.evaluator
    points: dict[tuple[str, str, int], list[tuple[float, int | None, Fold]]] = {}
    for task in tasks:
        table = task_table(ds, task)
        for setting in settings:
            split = splits[(task.name, setting)]
            for fold in split.folds:
                where = f"the {setting} setting of {ds.name}/{task.name} (fold {fold.fold})"
                points[(task.name, setting, fold.fold)] = [
                    (f, k, evaluator.curve_fold(fold, table, ds.recordings, split.seed, f, k))
                    for k in evaluator.pretrain_points(options.pretrain_animals, fold, ds.recordings, where)
                    for f in options.label_fractions
                ]
    runs = []
    for info in infos:
        chash = config_hash(run_config(info, options))
        budget = evaluator.run_budget(info, options.budget)
        for task in tasks:
            for setting in settings:
                split = splits[(task.name, setting)]
                reason = info.why_not(setting, info_ds.modality, info_ds.available)
                for fold in split.folds:
                    for fraction, animals, curve in points[(task.name, setting, fold.fold)]:
                        why = reason
                        if why is None and animals is not None and not pretrains(info):
                            why = (f"{info.name} does not pretrain on recordings without labels "
                                   f"({'supervised' if info.supervised else 'a control'}): no pretraining-scale curve")
                        for seed in seeds:
                            path = record_path(options.results, ds.name, task.name, setting, info.name, chash,
                                               fold.fold, seed, fraction, animals, budget)
                            runs.append((info, Run(task, split, curve, seed, path, fraction, animals, budget), why))
    return runs


def plan_jobs(ds: Dataset, runs: Sequence[tuple[MethodInfo, Run, str | None]],
              options: GridOptions) -> tuple[list[EncoderJob], list[Path]]:
    """Group the runs still to do into encoder jobs; write N/A records on the way.
    Returns the jobs and the paths of the runs already done (reused as they are).
    Self-supervised runs share a job per (method, pretraining recordings, seed), so the
    label fractions of one pretraining share its embedding; a supervised method has a
    job per fold, seed and labelled subset, since its encoder sees the labelled neurons."""
    jobs: dict[tuple, EncoderJob] = {}
    reused: list[Path] = []
    labels_of: dict[str, pd.Series] = {}
    configs = {info.name: run_config(info, options) for info, _, _ in runs}
    hashes = {name: config_hash(config) for name, config in configs.items()}
    evaluator = options.evaluator
    for info, run, reason in runs:
        config = configs[info.name]
        if evaluator.is_done(run.path, run.split, ds.checksum, hashes[info.name], run.budget):
            reused.append(run.path)
            continue
        if reason is not None:
            write_record(run.path, new_record(info, options.preset, config, ds, run, "not_applicable", reason))
            continue
        if info.supervised:
            key = (info.name, run.task.name, run.split.setting, run.fold.fold, run.encoder_seed, run.fold.train)
            if run.task.name not in labels_of:
                labels_of[run.task.name] = task_table(ds, run.task).set_index("neuron_id")["label"]
            job_labels = labels_of[run.task.name].loc[list(run.fold.train)]
        else:
            key = (info.name, run.fold.pretrain, run.encoder_seed)
            job_labels = None
        if key not in jobs:
            jobs[key] = EncoderJob(info, options.preset, config, run.fold.pretrain, run.encoder_seed, job_labels)
        jobs[key].runs.append(run)
    return list(jobs.values()), reused


def encode_task(job: EncoderJob, dataset_path: Path, cache_dir: Path) -> dict[str, Any]:
    """Fit and embed (or find the cached embedding); never raises: an error is returned
    so that every run of the job records it."""
    try:
        with method_cache(cache_dir.parent / job.info.name):  # what a method computes once per grid
            path, timings, device = encode(job, Dataset(dataset_path), cache_dir)
    except Exception as e:  # the grid goes on; each run of the job records the error
        return {"error": _error_text(e)}
    return {"path": str(path), "timings": timings, "device": device}


def probe_task(job: EncoderJob, run: Run, dataset_path: Path, encoded: dict[str, Any], options: GridOptions) -> str:
    """Probe one run on its job's embedding and write its record; returns the status."""
    ds = Dataset(dataset_path)
    progress.status(f"probe {job.info.name} {run.task.name} {run.split.setting} fold {run.fold.fold} seed {run.encoder_seed}")
    if "error" in encoded:
        record = new_record(job.info, job.preset, job.config, ds, run, "failed", encoded["error"])
    else:
        t0 = time.perf_counter()
        record = new_record(job.info, job.preset, job.config, ds, run, "ok", None)
        try:
            table, _ = read_embeddings(Path(encoded["path"]))
            labels = task_table(ds, run.task).set_index("neuron_id")["label"]
            # probabilities for headline runs only (what `neuronbench export` reads): a
            # curve's many points keep their predictions, at about half the bytes
            scored = options.evaluator.score_fold(table, labels, run.fold.train, run.fold.val, run.fold.test,
                                                  run.task.classes, probabilities=record.is_headline)
        except Exception as e:
            record = record.failed(_error_text(e))
        else:
            record = record.scored(scored, encoded["device"],
                                   {**encoded["timings"], "probe_s": time.perf_counter() - t0})
    write_record(run.path, record)
    return record.status


def encode(job: EncoderJob, ds: Dataset, cache_dir: Path) -> tuple[Path, dict[str, float], str]:
    """The job's embedding of every recording, cached (written atomically): returns its
    path, the fit/embed timings and the device, from the cache or by fit + embed."""
    path = cache_dir / f"{job.info.name}-{config_hash(job.config)}" / f"{ds.checksum[:12]}-{job.cache_key}.parquet"
    all_ids = ds.neurons["neuron_id"].tolist()
    if path.is_file():
        try:
            table, meta = read_embeddings(path)
            check_embeddings(table, all_ids, str(path))
            return path, meta["timings"], meta["device"]
        except (NeuronbenchError, KeyError) as e:
            reason = str(e) if isinstance(e, NeuronbenchError) else f"field {e} missing"
            print(f"neuronbench: warning: the cached embedding {path} is damaged ({reason}); recomputing it",
                  file=sys.stderr)
            path.unlink(missing_ok=True)  # our own cache file: recomputed below
    model = job.info.build(job.config)
    what = f"{job.info.name} seed {job.seed}"
    progress.status(f"fit {what}")
    pretrain = [ds.recording(r).without_labels() for r in progress.steps(job.pretrain, "load recordings", unit="rec")]
    t0, c0 = time.perf_counter(), time.process_time()
    if job.info.supervised:
        model = fitted(job.info, model, model.fit(pretrain, seed=job.seed, labels=job.labels.copy()))
    else:
        model = fitted(job.info, model, model.fit(pretrain, seed=job.seed))
    t1, c1 = time.perf_counter(), time.process_time()
    release_memory()  # the fit's freed activations, before the embedding allocates its own
    progress.status(f"embed {what}")
    everything = progress.steps(list(ds.recordings["recording"]), "load recordings", unit="rec")
    raw = model.embed([ds.recording(r).without_labels() for r in everything])
    t2, c2 = time.perf_counter(), time.process_time()
    device = device_of(job.info, model)
    del model
    release_memory()  # so that the next job of this process does not start from this one's high-water mark
    table = check_embeddings(raw, all_ids, f"method {job.info.name!r} (embed)")
    timings = {"fit_s": t1 - t0, "embed_s": t2 - t1, "fit_core_s": c1 - c0, "embed_core_s": c2 - c1}
    write_embeddings(path, table, {"timings": timings, "device": device})
    return path, timings, device


def new_record(info: MethodInfo, preset: str, config: dict[str, Any], ds: Dataset, run: Run,
               status: str, reason: str | None) -> Record:
    """The record of ``run`` before any number (`Record.build`)."""
    return Record.build(method=info, preset=preset, config=config, config_hash=config_hash(config), dataset=ds,
                        task=run.task, split=run.split, fold=run.fold, encoder_seed=run.encoder_seed, status=status,
                        reason=reason, label_fraction=run.label_fraction, pretrain_animals=run.pretrain_animals,
                        budget=run.budget)


def _error_text(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {e}{where}"
