"""Result records out as another benchmark's submission files.

``bwb-ts3``: IBL BrainWideBench TS3 (``unit_cosmos``) prediction files, the format of
``ibl_bwb_eval.predictions.PredictionsWriter`` (`neuronbench.protocol.bwb`), from the
records of the task ``ibl/region_bwb``: one file per encoder seed and read-out scope,
``<out>/<label>_<probe>_<scope>/ts3-unit_cosmos/seed_<seed>.safetensors`` (BWB's own
``ts3/eval.py`` names its submissions ``<label>_<probe>_<scope>`` too), holding

- ``entity_ids``: the test units' ids (the IBL cluster uuids BWB aligns by), ASCII, as an
  (N, width) uint8 matrix padded with NUL;
- ``pred_proba``: (N, 10) float32 class probabilities, columns in ``COSMOS_LABELS`` order:
  the record's stored probabilities (``single``) or their multi-unit average (``multi``);

and the metadata ``label``, ``task``, ``seed``, ``ibl_bwb_eval_version``, ``label_names``
plus ``source`` (what made it). Every file is built and checked before the first is
written; each is written atomically. An existing file is replaced only with ``force``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import neuronbench
from neuronbench.atomic import atomic_write
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol import bwb
from neuronbench.protocol.constants import HEADLINE_PROBE
from neuronbench.protocol.metrics import classification_metrics
from neuronbench.protocol.record import Record, check_comparable, iter_records
from neuronbench.protocol.scoring import pooled_score

SCOPES: tuple[str, ...] = ("single", "multi")


@dataclass(frozen=True)
class SeedScores:
    """One encoder seed's export: its test units and BWB's metric (`bwb.METRIC`, macro-F1)
    per scope (None: N/A)."""

    seed: int
    n_units: int
    macro_f1: dict[str, float | None]


@dataclass(frozen=True)
class Export:
    """What `export_bwb_ts3` wrote: the files, each seed's scores, and why a scope was
    not exported (scope -> reason)."""

    files: list[Path]
    seeds: list[SeedScores]
    not_applicable: dict[str, str]


def _records(results: Path, method: str, setting: str, seeds: Sequence[int],
             preset: str | None) -> dict[int, list[Record]]:
    """The headline records of ``method`` (of ``preset``, needed when there are several)
    on ibl/region_bwb in ``setting``, by encoder seed, each seed's folds complete and in order."""
    dataset, task = bwb.TASK
    folder = Path(results) / dataset / task / setting
    run = (f"neuronbench run --method {method} --dataset {dataset} --task {task} --setting {setting} "
           f"--seeds {','.join(str(s) for s in bwb.EVAL_SEEDS)}")
    records = [r for _, r in iter_records(folder) if r.method.name == method and r.is_headline] \
        if folder.is_dir() else []
    if not records:
        raise NeuronbenchError(f"no records of method {method!r} for {dataset}/{task} ({setting}) in {results}; "
                               f"make them with: {run}")
    check_comparable(records)
    presets = sorted({r.preset for r in records})
    if preset is None and len(presets) > 1:
        raise NeuronbenchError(f"{folder}: records of method {method!r} with presets {presets}; choose one with --preset")
    records = [r for r in records if preset is None or r.preset == preset]
    if not records:
        raise NeuronbenchError(f"{folder}: no record of method {method!r} with preset {preset!r} (found {presets})")
    by_seed: dict[int, list[Record]] = {}
    for r in records:
        if r.task.classes != bwb.COSMOS_LABELS:
            raise NeuronbenchError(f"{r.where}: field 'task.classes': expected BWB's COSMOS_LABELS "
                                   f"{list(bwb.COSMOS_LABELS)} in that order, got {list(r.task.classes)}")
        if r.encoder_seed in seeds:
            by_seed.setdefault(r.encoder_seed, []).append(r)
    missing = [s for s in seeds if s not in by_seed]
    if missing:
        raise NeuronbenchError(f"{folder}: no record of method {method!r} for encoder seed(s) {missing}; "
                               f"BWB reports seeds {list(bwb.EVAL_SEEDS)}: {run}")
    for seed, recs in by_seed.items():
        recs.sort(key=lambda r: r.fold)
        for r in recs:
            if r.status != "ok":
                raise NeuronbenchError(f"{r.where}: status {r.status!r} ({r.reason}): nothing to export")
        if [r.fold for r in recs] != list(range(recs[0].n_folds)):
            raise NeuronbenchError(f"{folder}: encoder seed {seed} has folds {[r.fold for r in recs]}, "
                                   f"expected 0..{recs[0].n_folds - 1}")
    return by_seed


def _probabilities(recs: Sequence[Record], probe: str) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """The test neuron ids, true labels, predicted labels and class probabilities of
    ``probe`` over a seed's folds, in fold order."""
    ids, y_true, y_pred, proba = [], [], [], []
    for r in recs:
        entries = (r.probes or {}).get(probe) or []
        if len(entries) != 1:
            raise NeuronbenchError(f"{r.where}: field 'probes.{probe}': expected one probe seed (BWB takes one "
                                   f"prediction per encoder seed), got {len(entries)}")
        entry = entries[0]
        if entry.get("proba") is None:
            raise NeuronbenchError(f"{r.where}: field 'probes.{probe}[0].proba': missing (a record made before "
                                   "schema version 3 keeps no class probabilities); rerun the run to export it")
        p = np.asarray(entry["proba"], dtype=np.float64)
        n = len(r.y_true["neuron_id"])
        if p.shape != (n, len(bwb.COSMOS_LABELS)):
            raise NeuronbenchError(f"{r.where}: field 'probes.{probe}[0].proba': expected shape "
                                   f"({n}, {len(bwb.COSMOS_LABELS)}), got {p.shape}")
        ids += r.y_true["neuron_id"]
        y_true += r.test_labels
        y_pred += entry["y_pred"]
        proba.append(p)
    return ids, y_true, y_pred, np.concatenate(proba)


def _units(dataset: Any, ids: Sequence[str], where: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, str]:
    """The BWB unit ids, depths (None with a reason when any is unknown) and recordings
    (one per recording probe) of the neurons ``ids``."""
    labels = dataset.labels.set_index("neuron_id")
    absent = [i for i in ids if i not in labels.index]
    if absent:
        raise NeuronbenchError(f"{dataset.path}: the test neuron(s) {absent[:3]} of {where} are not in the dataset")
    if "uuid" not in labels.columns or labels.loc[list(ids), "uuid"].isna().any():
        raise NeuronbenchError(f"{dataset.path / 'labels.parquet'}: field 'uuid': missing for test neurons of "
                               f"{where}; BWB aligns predictions by IBL cluster uuid (clusters.uuids.csv): "
                               "download and prepare the ibl dataset again")
    uuids = labels.loc[list(ids), "uuid"].astype(str).to_numpy()
    recordings = dataset.neurons.set_index("neuron_id").loc[list(ids), "recording"].astype(str).to_numpy()
    depths, reason = None, ""
    if "depth" in labels.columns:
        depths = labels.loc[list(ids), "depth"].to_numpy(dtype=np.float64)
    if depths is None or not np.isfinite(depths).all():
        n = len(ids) if depths is None else int((~np.isfinite(depths)).sum())
        depths, reason = None, (f"no depth on the probe for {n} of {len(ids)} test units (clusters.depths.npy); "
                                "the multi-unit read-out pools units by depth")
    return uuids, depths, recordings, reason


def entity_ids(ids: Sequence[str]) -> np.ndarray:
    """ASCII ids as BWB's (N, width) uint8 matrix, each row padded with NUL."""
    rows = [str(i).encode("ascii") for i in ids]
    if not rows or not all(rows):
        raise NeuronbenchError("entity ids: expected non-empty ids")
    out = np.zeros((len(rows), max(map(len, rows))), dtype=np.uint8)
    for k, row in enumerate(rows):
        out[k, : len(row)] = np.frombuffer(row, dtype=np.uint8)
    return out


def submission_bytes(ids: Sequence[str], proba: np.ndarray, *, label: str, seed: int, source: str) -> bytes:
    """One BWB TS3 prediction file (safetensors) as bytes."""
    from neuronbench.data.download import require

    st = require("safetensors.numpy", extra="bwb")
    metadata = {"label": label, "task": bwb.SUITE_TASK, "seed": str(seed),
                "ibl_bwb_eval_version": bwb.CONTRACT_VERSION, "label_names": ",".join(bwb.COSMOS_LABELS),
                "source": source}
    tensors = {"entity_ids": entity_ids(ids), "pred_proba": np.ascontiguousarray(proba, dtype=np.float32)}
    return st.save(tensors, metadata=metadata)


def export_bwb_ts3(results: Path, method: str, out: Path, *, dataset: Any = None, label: str | None = None,
                   setting: str = "inductive", probe: str = HEADLINE_PROBE, seeds: Sequence[int] = bwb.EVAL_SEEDS,
                   scopes: Sequence[str] = SCOPES, preset: str | None = None, force: bool = False) -> Export:
    """Write the BWB TS3 submission of ``method``'s records under ``results`` to ``out``
    (module docstring); ``dataset`` is the prepared ``ibl`` dataset the records were made
    on (unit uuids and depths; default: loaded from the data folder once the records are
    found, so that missing records are reported first). The multi-unit scope is not applicable (skipped, with its
    reason) when a test unit has no depth, unless it is the only scope asked for (error)."""
    label = label or method
    if not label or any(c in label for c in "/\\") or label.startswith("."):
        raise NeuronbenchError(f"label: expected a plain name (no '/', not starting with '.'), got {label!r}")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise NeuronbenchError(f"scope: expected some of {', '.join(SCOPES)}, got {list(scopes)}")
    if bwb.SWEEP_SEED in seeds:
        raise NeuronbenchError(f"seed {bwb.SWEEP_SEED} is BWB's tuning seed and never reported; "
                               f"its reported seeds are {list(bwb.EVAL_SEEDS)}")
    by_seed = _records(results, method, setting, seeds, preset)
    if dataset is None:
        from neuronbench.protocol.datasets import load_dataset

        dataset = load_dataset(bwb.TASK[0])
    files: dict[Path, bytes] = {}
    scores: list[SeedScores] = []
    not_applicable: dict[str, str] = {}
    source = (f"neuronbench {neuronbench.__version__}: method {method} ({by_seed[seeds[0]][0].preset}), "
              f"setting {setting}, probe {probe}")
    for seed in seeds:
        recs = by_seed[seed]
        where = f"{method} seed {seed}"
        if recs[0].dataset.checksum != dataset.checksum:
            raise NeuronbenchError(f"{recs[0].where}: field 'dataset.checksum': made on other data than "
                                   f"{dataset.path} (checksum {dataset.checksum[:12]}...)")
        ids, y_true, y_pred, proba = _probabilities(recs, probe)
        uuids, depths, recordings, reason = _units(dataset, ids, where)
        by_scope = {"single": proba}
        if depths is None:
            not_applicable["multi"] = reason
        else:
            by_scope["multi"] = bwb.multi_unit_proba(proba, depths, recordings)
        macro = {"single": pooled_score([(y_true, {0: y_pred})], bwb.COSMOS_LABELS)[bwb.METRIC], "multi": None}
        if "multi" in by_scope:
            names = np.asarray(bwb.COSMOS_LABELS)[by_scope["multi"].argmax(axis=1)]
            macro["multi"] = classification_metrics(y_true, names.tolist(), bwb.COSMOS_LABELS)[bwb.METRIC]
        scores.append(SeedScores(seed, len(ids), macro))
        for scope in scopes:
            if scope not in by_scope:
                continue
            name = f"{label}_{probe}_{scope}"
            path = Path(out) / name / bwb.SUITE_TASK / f"seed_{seed}.safetensors"
            files[path] = submission_bytes(uuids, by_scope[scope], label=name, seed=seed, source=source)
    if not files:
        raise NeuronbenchError(f"nothing to export: multi-unit read-out not applicable ({not_applicable['multi']})")
    existing = [p for p in files if p.exists()]
    if existing and not force:
        raise NeuronbenchError(f"{existing[0]}: already exists ({len(existing)} file(s) would be replaced); "
                               "rerun with --force to replace them")
    for path, data in files.items():
        atomic_write(path, lambda f, data=data: f.write(data))
    return Export(sorted(files), scores, {k: v for k, v in not_applicable.items() if k in scopes})
