"""`neuronbench verify`: recompute a sample of committed records and report agreement.

For each sampled record (status "ok") the run is done again from scratch, as the runner
does it: the method is built from the record's own config (its hash must match the
record's), fitted with the record's encoder seed on the fold's pretraining recordings
(supervised methods: on the probe-train labels), every recording is embedded, and the
probes of the record are refitted with the record's probe seeds on the same split (the
split and data checksums must match the record's; a curve point's record uses its fold as
the runner does, `neuronbench.runner.curve_fold`). Embeddings are cached in a temporary
folder for the duration of one call only, so a stale cache entry cannot vouch for a
record. Controls take seconds; learned methods take a full fit each.

A record *agrees* when, for every probe entry (probe, probe seed):

- its stored metrics are those of its own stored predictions (a record whose numbers
  were edited by hand disagrees even before anything is recomputed);
- the recomputed macro-F1 is within ``METRIC_TOL`` of the stored one;
- at least ``AGREEMENT_MIN`` of the test predictions are the same.

The tolerance is the one the probes are built to meet across machines with the same
library versions (`neuronbench.probes`, "Reproducibility across machines"): the linear
probe is solved to convergence, so on one machine every control record here reproduces
exactly and across BLAS kernels it did too; a learned method refitted on another machine
(other CPU or GPU kernels) may move by more, which verify reports as a disagreement.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.record import Record

METRIC_TOL: float = 1e-3
"""Largest accepted |recomputed - stored| macro-F1 of one probe entry."""

AGREEMENT_MIN: float = 0.99
"""Smallest accepted share of identical test predictions of one probe entry."""


@dataclass(frozen=True)
class Check:
    """The verdict on one record: ``status`` is "agree", "disagree" or "error" (could
    not be recomputed: missing dataset, changed split, unknown method...)."""

    path: Path
    status: str
    detail: str
    max_metric_diff: float | None = None
    min_agreement: float | None = None


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
    from neuronbench.protocol.metrics import METRICS, classification_metrics

    y_true = record.y_true["label"]
    for probe, entries in record.probes.items():
        for entry in entries:
            if len(entry["y_pred"]) != len(y_true):
                return f"{probe} seed {entry['probe_seed']}: {len(entry['y_pred'])} predictions for {len(y_true)} test neurons"
            again = classification_metrics(y_true, entry["y_pred"], record.task["classes"])
            for key in METRICS:
                stored, computed = entry["metrics"].get(key), again[key]
                if stored is None or not math.isclose(stored, computed, rel_tol=0, abs_tol=1e-12):
                    return (f"{probe} seed {entry['probe_seed']}: stored {key} {stored} is not that of its "
                            f"own predictions ({computed})")
    return None


def compare(stored: Record, again: dict[str, Any]) -> tuple[bool, str, float, float]:
    """Compare a record's probe entries with recomputed ones (`score_fold` output):
    returns (agree, detail, largest macro-F1 difference, smallest prediction agreement)."""
    if stored.y_true["neuron_id"] != again["y_true"]["neuron_id"]:
        return False, "the test neurons differ", math.inf, 0.0
    worst_diff, worst_agree, notes = 0.0, 1.0, []
    for probe, entries in stored.probes.items():
        redone = {e["probe_seed"]: e for e in again["probes"][probe]}
        for entry in entries:
            new = redone[entry["probe_seed"]]
            diff = abs(new["metrics"]["macro_f1"] - entry["metrics"]["macro_f1"])
            agree = float(np.mean(np.asarray(new["y_pred"]) == np.asarray(entry["y_pred"])))
            worst_diff, worst_agree = max(worst_diff, diff), min(worst_agree, agree)
            if diff > METRIC_TOL or agree < AGREEMENT_MIN:
                notes.append(f"{probe} seed {entry['probe_seed']}: macro-F1 {entry['metrics']['macro_f1']:.4f} "
                             f"stored, {new['metrics']['macro_f1']:.4f} recomputed, {agree:.1%} same predictions")
    if notes:
        return False, "; ".join(notes), worst_diff, worst_agree
    return True, f"macro-F1 within {worst_diff:.1e}, {worst_agree:.1%} same predictions", worst_diff, worst_agree


def recompute(record: Record, cache_dir: Path, data_root: Path | None = None) -> dict[str, Any]:
    """Redo the run of ``record``: fit + embed (cached in ``cache_dir``) and probe, with
    the record's config, seeds and split. Raises `NeuronbenchError` when the record's
    config, data or split is not the one available here."""
    from neuronbench.protocol.datasets import get_task, load_dataset
    from neuronbench.data.store import Dataset
    from neuronbench.embeddings import read_embeddings
    from neuronbench.plugin import config_hash
    from neuronbench.probes import make_probe
    from neuronbench.protocol.scoring import score_fold
    from neuronbench.registry import get_method
    from neuronbench.runner import EncoderJob, curve_fold, encode
    from neuronbench.protocol.settings import get_split
    from neuronbench.protocol.tasks import task_table

    method = record.method
    if config_hash(method["config"]) != method["config_hash"]:
        raise NeuronbenchError(f"field 'method.config' does not hash to its config_hash {method['config_hash']}")
    info = get_method(method["name"])
    ds: Dataset = load_dataset(record.dataset["name"], data_root)
    if ds.checksum != record.dataset.get("checksum"):
        raise NeuronbenchError(f"dataset {ds.name!r} here has checksum {ds.checksum[:12]}, "
                               f"the record's is {str(record.dataset.get('checksum'))[:12]}")
    task = get_task(ds.name, record.task["name"])
    split = get_split(ds, task, record.setting, split_seed=record.split_seed, root=data_root)
    if split.checksum != record.split.get("checksum"):
        raise NeuronbenchError(f"the {record.setting} split here has checksum {split.checksum[:12]}, "
                               f"the record's is {str(record.split.get('checksum'))[:12]}")
    fold = next((f for f in split.folds if f.fold == record.fold), None)
    if fold is None:
        raise NeuronbenchError(f"the {record.setting} split here has no fold {record.fold}")
    table = task_table(ds, task)
    fold = curve_fold(fold, table, ds.recordings, split.seed, record.label_fraction, record.pretrain_animals)
    labels = table.set_index("neuron_id")["label"]
    job = EncoderJob(info, method["preset"], method["config"], fold.pretrain, record.encoder_seed,
                     labels.loc[list(fold.train)] if info.supervised else None)
    path, _, _ = encode(job, ds, cache_dir)
    table, _ = read_embeddings(path)
    probes = list(record.probes)
    seeds = sorted({e["probe_seed"] for entries in record.probes.values() for e in entries})
    return score_fold(table, labels, fold.train, fold.val, fold.test, task.classes, probes, seeds, make_probe)


def verify(results: Path, sample: int = 5, seed: int = 0, data_root: Path | None = None) -> Iterator[Check]:
    """Recompute ``sample`` records drawn with ``seed`` from ``results``; yield one `Check`
    per record as it is done."""
    chosen = sample_records(results, sample, seed)
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
            ok, detail, diff, agree = compare(record, again)
            yield Check(path, "agree" if ok else "disagree", detail, diff, agree)


def line(check: Check) -> str:
    """The report line of one record."""
    return f"{check.status:8s} {check.path}: {check.detail}"


def summary(checks: Sequence[Check]) -> str:
    """The counts of a verify call and the tolerance used."""
    counts = {s: sum(c.status == s for c in checks) for s in ("agree", "disagree", "error")}
    return (f"{counts['agree']} agree, {counts['disagree']} disagree, {counts['error']} could not be "
            f"recomputed (tolerance: macro-F1 within {METRIC_TOL:g}, >= {AGREEMENT_MIN:.0%} same predictions)")
