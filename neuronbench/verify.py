"""`neuronbench verify`: recompute a sample of committed records and report agreement.

For each sampled record (status "ok") the run is done again from scratch, as the runner
does it: the method is built from the record's own config (its hash must match the
record's), fitted with the record's encoder seed on the fold's pretraining recordings
(supervised methods: on the probe-train labels), every recording is embedded, and the
probes of the record are refitted with the record's probe seeds on the same split (the
split and data checksums must match the record's; a curve point's record uses its fold as
the runner does, `neuronbench.protocol.evaluator.Evaluator.curve_fold`). Embeddings are cached in a temporary
folder for the duration of one call only, so a stale cache entry cannot vouch for a
record. Controls take seconds; learned methods take a full fit each.

A record *agrees* when its stored metrics are those of its own stored predictions (a
record whose numbers were edited by hand disagrees even before anything is recomputed)
and, for every probe entry (probe, probe seed), the recomputation meets one of two
criteria; each line says which one was applied and the numbers it rests on:

- **exact**: the recomputed macro-F1 is within ``METRIC_TOL`` of the stored one and at
  least ``AGREEMENT_MIN`` of the test predictions are the same. Applied to controls
  (deterministic: the linear probe is solved to convergence, so they reproduce across
  BLAS kernels, `neuronbench.probes`) and to learned methods when this environment is the
  record's (`ENVIRONMENT_KEYS`: the same torch, NumPy, scikit-learn and CPU model and
  SIMD flags, which pick the kernels whose last bits a training run amplifies).
- **seed spread**: for a learned method refitted in another environment (or one the
  record does not state: records before the ``cpu`` field, or made from a cached
  embedding without torch loaded), a refit is one more draw of the training, so it
  agrees when it is no further from the record than the committed encoder seeds of the
  same cell are from each other: |recomputed - stored| macro-F1 at most the range
  (max - min) of the stored macro-F1 over the record and its siblings (same method,
  config, task, setting, fold and curve point, other encoder seeds), and a share of same
  predictions at least the smallest share between the record and a sibling (never
  stricter than the exact rule). Without a sibling the exact rule applies.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.constants import MAIN_METRIC
from neuronbench.protocol.evaluator import Evaluator
from neuronbench.protocol.record import Record

METRIC_TOL: float = 1e-3
"""Largest accepted |recomputed - stored| macro-F1 of one probe entry."""

AGREEMENT_MIN: float = 0.99
"""Smallest accepted share of identical test predictions of one probe entry."""

ENVIRONMENT_KEYS: tuple[str, ...] = ("torch", "numpy", "scikit_learn", "cpu")
"""The fields of a record's ``environment`` that must equal this one's for a learned
method to be held to the exact rule."""


@dataclass(frozen=True)
class Criterion:
    """What "agree" means for one record: ``name`` is "exact" or "seed spread", ``why``
    says why it applies and what it rests on; per probe entry (probe, probe seed) the
    largest accepted macro-F1 difference and smallest share of same predictions
    (`METRIC_TOL`, `AGREEMENT_MIN` where not given)."""

    name: str
    why: str
    metric_tol: dict[tuple[str, int], float] = field(default_factory=dict)
    agreement_min: dict[tuple[str, int], float] = field(default_factory=dict)

    def limits(self, probe: str, probe_seed: int) -> tuple[float, float]:
        key = (probe, probe_seed)
        return self.metric_tol.get(key, METRIC_TOL), self.agreement_min.get(key, AGREEMENT_MIN)


EXACT = Criterion("exact", "the exact rule")
CONTROL = Criterion("exact", "a deterministic control")


@dataclass(frozen=True)
class Check:
    """The verdict on one record: ``status`` is "agree", "disagree" or "error" (could
    not be recomputed: missing dataset, changed split, unknown method...)."""

    path: Path
    status: str
    detail: str
    max_metric_diff: float | None = None
    min_agreement: float | None = None
    criterion: str | None = None


def sample_records(results: Path, n: int, seed: int) -> list[tuple[Path, Record]]:
    """``n`` records with status "ok" under ``results``, drawn without replacement by a
    generator seeded with ``seed`` (all of them if there are at most ``n``), in path order."""
    from neuronbench.protocol.record import iter_records

    if n < 1:
        raise NeuronbenchError(f"--sample: expected a positive number of records, got {n}")
    records = [(p, r) for p, r in iter_records(results) if r.status == "ok"]
    if not records:
        raise NeuronbenchError(f"{results}: no record with status 'ok' to verify")
    if len(records) <= n:
        return records
    picked = np.random.default_rng(seed).choice(len(records), size=n, replace=False)
    return [records[i] for i in sorted(picked)]


def self_consistency(record: Record) -> str | None:
    """Why the record's stored metrics are not those of its stored predictions (None if
    they are)."""
    from neuronbench.protocol.constants import METRICS
    from neuronbench.protocol.metrics import classification_metrics

    y_true = record.y_true["label"]
    for probe, entries in record.probes.items():
        for entry in entries:
            if len(entry["y_pred"]) != len(y_true):
                return (f"{probe} seed {entry['probe_seed']}: {len(entry['y_pred'])} predictions for "
                        f"{len(y_true)} test neurons")
            again = classification_metrics(y_true, entry["y_pred"], record.task.classes)
            for key in METRICS:
                stored, computed = entry["metrics"].get(key), again[key]
                if stored is None or not math.isclose(stored, computed, rel_tol=0, abs_tol=1e-12):
                    return (f"{probe} seed {entry['probe_seed']}: stored {key} {stored} is not that of its "
                            f"own predictions ({computed})")
    return None


def compare(stored: Record, again: dict[str, Any], criterion: Criterion = EXACT) -> tuple[bool, str, float, float]:
    """Compare a record's probe entries with recomputed ones (`score_fold` output) under
    ``criterion``: returns (agree, detail, largest macro-F1 difference, smallest
    prediction agreement)."""
    if stored.y_true["neuron_id"] != again["y_true"]["neuron_id"]:
        return False, "the test neurons differ", math.inf, 0.0
    metric, name = MAIN_METRIC, Evaluator.metric_name(MAIN_METRIC)
    worst_diff, worst_agree, notes = 0.0, 1.0, []
    for probe, entries in stored.probes.items():
        redone = {e["probe_seed"]: e for e in again["probes"][probe]}
        for entry in entries:
            new = redone[entry["probe_seed"]]
            diff = abs(new["metrics"][metric] - entry["metrics"][metric])
            agree = float(np.mean(np.asarray(new["y_pred"]) == np.asarray(entry["y_pred"])))
            worst_diff, worst_agree = max(worst_diff, diff), min(worst_agree, agree)
            tol, least = criterion.limits(probe, entry["probe_seed"])
            notes.append((diff > tol or agree < least,
                          f"{probe} seed {entry['probe_seed']}: {name} {entry['metrics'][metric]:.4f} stored, "
                          f"{new['metrics'][metric]:.4f} recomputed (|diff| {diff:.4f}, limit {tol:.4f}), "
                          f"{agree:.1%} same predictions (limit {least:.1%})"))
    bad = [text for failed, text in notes if failed]
    ok = not bad
    return ok, f"{criterion.name} criterion ({criterion.why}): " + "; ".join(bad or [t for _, t in notes]), \
        worst_diff, worst_agree


def seed_spread(path: Path, record: Record) -> Criterion | None:
    """The seed-spread criterion of ``record`` (module docstring) from its sibling records
    with other encoder seeds in its folder; None without any."""
    from neuronbench.protocol.record import iter_records

    siblings = [r for p, r in iter_records(Path(path).parent)
                if r.status == "ok" and r.encoder_seed != record.encoder_seed and r.fold == record.fold
                and r.label_fraction == record.label_fraction and r.pretrain_animals == record.pretrain_animals
                and r.budget == record.budget
                and r.method.config_hash == record.method.config_hash
                and r.y_true["neuron_id"] == record.y_true["neuron_id"]]
    if not siblings:
        return None
    tol, least, notes = {}, {}, []
    for probe, entries in record.probes.items():
        for entry in entries:
            key = (probe, entry["probe_seed"])
            others = [e for r in siblings for e in (r.probes or {}).get(probe, []) if e["probe_seed"] == key[1]]
            if not others:
                continue
            f1 = [entry["metrics"][MAIN_METRIC]] + [e["metrics"][MAIN_METRIC] for e in others]
            same = min(float(np.mean(np.asarray(e["y_pred"]) == np.asarray(entry["y_pred"]))) for e in others)
            tol[key], least[key] = max(METRIC_TOL, max(f1) - min(f1)), min(AGREEMENT_MIN, same)
            notes.append(f"{probe} seed {key[1]}: {Evaluator.metric_name(MAIN_METRIC)} range {max(f1) - min(f1):.4f}, >= {same:.1%} same "
                         f"predictions between seeds")
    seeds = sorted({record.encoder_seed} | {r.encoder_seed for r in siblings})
    return Criterion("seed spread", f"over encoder seeds {','.join(map(str, seeds))} of the cell: "
                     + "; ".join(notes), tol, least)


def criterion_for(path: Path, record: Record, kind: str, here: dict[str, Any]) -> Criterion:
    """The criterion ``record`` is held to (module docstring): ``kind`` is its method's
    kind, ``here`` this process's `neuronbench.protocol.record.environment`."""
    if kind == "control":
        return CONTROL
    recorded = record.environment or {}
    differ = [f"{k} {recorded.get(k)} in the record, {here.get(k)} here" for k in ENVIRONMENT_KEYS
              if recorded.get(k) is None or recorded.get(k) != here.get(k)]
    if not differ:
        return Criterion("exact", "a learned method in the record's environment: "
                         + ", ".join(f"{k} {here.get(k)}" for k in ENVIRONMENT_KEYS))
    spread = seed_spread(path, record)
    if spread is None:
        return Criterion("exact", f"another environment ({'; '.join(differ)}) but no sibling encoder seed "
                         "to measure the seed spread")
    return replace(spread, why=f"another environment ({'; '.join(differ)}); {spread.why}")


def recompute(record: Record, cache_dir: Path, data_root: Path | None = None) -> dict[str, Any]:
    """Redo the run of ``record``: fit + embed (cached in ``cache_dir``) and probe, with
    the record's config, seeds and split. Raises `NeuronbenchError` when the record's
    config, data or split is not the one available here."""
    from neuronbench.protocol.datasets import get_task, load_dataset
    from neuronbench.data.store import Dataset
    from neuronbench.embeddings import read_embeddings
    from neuronbench.plugin import config_hash
    from neuronbench.registry import get_method
    from neuronbench.runner import EncoderJob, encode
    from neuronbench.protocol.settings import get_split
    from neuronbench.protocol.tasks import task_table

    method = record.method
    if config_hash(method.config) != method.config_hash:
        raise NeuronbenchError(f"field 'method.config' does not hash to its config_hash {method.config_hash}")
    info = get_method(method.name)
    ds: Dataset = load_dataset(record.dataset.name, data_root)
    if ds.checksum != record.dataset.checksum:
        raise NeuronbenchError(f"dataset {ds.name!r} here has checksum {ds.checksum[:12]}, "
                               f"the record's is {str(record.dataset.checksum)[:12]}")
    task = get_task(ds.name, record.task.name)
    split = get_split(ds, task, record.setting, split_seed=record.split_seed, root=data_root)
    if split.checksum != record.split.checksum:
        raise NeuronbenchError(f"the {record.setting} split here has checksum {split.checksum[:12]}, "
                               f"the record's is {str(record.split.checksum)[:12]}")
    fold = next((f for f in split.folds if f.fold == record.fold), None)
    if fold is None:
        raise NeuronbenchError(f"the {record.setting} split here has no fold {record.fold}")
    table = task_table(ds, task)
    fold = Evaluator.curve_fold(fold, table, ds.recordings, split.seed, record.label_fraction, record.pretrain_animals)
    labels = table.set_index("neuron_id")["label"]
    job = EncoderJob(info, method.preset, method.config, fold.pretrain, record.encoder_seed,
                     labels.loc[list(fold.train)] if info.supervised else None)
    path, _, _ = encode(job, ds, cache_dir)
    table, _ = read_embeddings(path)
    seeds = sorted({e["probe_seed"] for entries in record.probes.values() for e in entries})
    evaluator = Evaluator(tuple(record.probes), tuple(seeds))
    return evaluator.score_fold(table, labels, fold.train, fold.val, fold.test, task.classes)


def chosen_records(paths: Sequence[Path]) -> list[tuple[Path, Record]]:
    """The records at ``paths`` (``verify --record``), each with status "ok"."""
    from neuronbench.protocol.record import read_record

    chosen = []
    for path in paths:
        if not Path(path).is_file():
            raise NeuronbenchError(f"{path}: no such record file")
        record = read_record(Path(path))
        if record.status != "ok":
            raise NeuronbenchError(f"{path}: status {record.status!r}: nothing to recompute")
        chosen.append((Path(path), record))
    return chosen


def verify(results: Path, sample: int = 5, seed: int = 0, data_root: Path | None = None,
           paths: Sequence[Path] = ()) -> Iterator[Check]:
    """Recompute ``sample`` records drawn with ``seed`` from ``results`` (or the records
    at ``paths``); yield one `Check` per record as it is done."""
    from neuronbench.protocol.record import environment
    from neuronbench.registry import get_method

    chosen = chosen_records(paths) if paths else sample_records(results, sample, seed)
    with tempfile.TemporaryDirectory(prefix="neuronbench-verify-") as cache:
        for path, record in chosen:
            problem = self_consistency(record)
            if problem is not None:
                yield Check(path, "disagree", problem)
                continue
            try:
                again = recompute(record, Path(cache), data_root)
            except NeuronbenchError as e:
                yield Check(path, "error", str(e))
                continue
            # after the recomputation: torch's version is known once the method loaded it
            criterion = criterion_for(path, record, get_method(record.method.name).kind, environment(None))
            ok, detail, diff, agree = compare(record, again, criterion)
            yield Check(path, "agree" if ok else "disagree", detail, diff, agree, criterion.name)


def line(check: Check) -> str:
    """The report line of one record."""
    return f"{check.status:8s} {check.path}: {check.detail}"


def summary(checks: Sequence[Check]) -> str:
    """The counts of a verify call and the tolerance used."""
    counts = {s: sum(c.status == s for c in checks) for s in ("agree", "disagree", "error")}
    return (f"{counts['agree']} agree, {counts['disagree']} disagree, {counts['error']} could not be "
            f"recomputed (exact criterion: macro-F1 within {METRIC_TOL:g}, >= {AGREEMENT_MIN:.0%} same "
            "predictions, for controls and for learned methods in the record's environment; seed-spread "
            "criterion for learned methods refitted elsewhere: no further from the record than its cell's "
            "encoder seeds are from each other)")
