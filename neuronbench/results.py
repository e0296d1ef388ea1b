"""Result records: one self-describing JSON file per run, written atomically.

A run is method x dataset x task x setting x fold x encoder seed. Its record lives at::

    results/<dataset>/<task>/<setting>/<method>-<config_hash>/fold<fold>-seed<seed>.json

and holds everything needed to trace and re-score the number (the contract of
``design.md``; lm-evaluation-harness style)::

    schema_version   RECORD_SCHEMA_VERSION
    status           "ok" | "failed" | "not_applicable"
    reason           the error (failed) or why the method cannot run (not_applicable)
    method           name, kind, preset, config, config_hash, paper, supervised
    dataset          name, checksum (of its manifest)
    task             name, label, classes
    setting, fold, n_folds, seed
    split            version, checksum, n_train, n_val, n_test, test_groups
    chance           uniform_macro_f1, majority_macro_f1 (on this fold's test neurons)
    y_true           {neuron_id: [...], label: [...]}: this fold's test neurons
    probes           {probe: [{probe_seed, params, metrics, y_pred}]}, where y_pred is
                     the list of predicted labels aligned with y_true.neuron_id and
                     metrics = macro_f1, accuracy, balanced_accuracy, per_class_f1,
                     confusion_matrix, n (see `neuronbench.metrics`)
    environment      neuronbench version, git commit, python, numpy, torch, device, host cores
    timings          fit_s, embed_s, probe_s, total_s (null when served from cache)

Missing values are null, never NaN (JSON has no NaN). Settings with several folds are
scored by pooling the predictions of all folds (NuCLR's protocol); the leaderboard does
that from these records, which keep per-fold metrics too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from neuronbench.atomic import atomic_write_text
from neuronbench.errors import NeuronbenchError

RECORD_SCHEMA_VERSION = 1
STATUSES = ("ok", "failed", "not_applicable")
_REQUIRED = ("schema_version", "status", "method", "dataset", "task", "setting", "fold", "seed", "split")


def record_path(root: Path, dataset: str, task: str, setting: str, method: str, config_hash: str,
                fold: int, seed: int) -> Path:
    """Where the record of one run lives under the results folder ``root``."""
    return Path(root) / dataset / task / setting / f"{method}-{config_hash}" / f"fold{fold}-seed{seed}.json"


def _clean(value: Any) -> Any:
    """JSON-ready copy: NaN/inf become null, numpy scalars and arrays become Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Validate and write one record atomically (sorted keys: byte-stable)."""
    record = _clean(record)
    validate_record(record, path)
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True, allow_nan=False) + "\n")


def validate_record(record: Any, where: Path | str) -> dict[str, Any]:
    """Raise `NeuronbenchError` naming the file and field if ``record`` breaks the schema."""
    if not isinstance(record, dict):
        raise NeuronbenchError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        raise NeuronbenchError(f"{where}: missing fields {missing}")
    if record["schema_version"] != RECORD_SCHEMA_VERSION:
        raise NeuronbenchError(
            f"{where}: field 'schema_version': expected {RECORD_SCHEMA_VERSION}, got {record['schema_version']!r}"
        )
    if record["status"] not in STATUSES:
        raise NeuronbenchError(f"{where}: field 'status': expected one of {STATUSES}, got {record['status']!r}")
    for key, sub in (("method", ("name", "kind", "config_hash")), ("dataset", ("name",)),
                     ("task", ("name", "classes")), ("split", ("version",))):
        if not isinstance(record[key], dict) or any(s not in record[key] for s in sub):
            raise NeuronbenchError(f"{where}: field {key!r}: expected an object with {list(sub)}")
    if record["status"] == "ok" and not isinstance(record.get("probes"), dict):
        raise NeuronbenchError(f"{where}: field 'probes': expected an object for a run with status 'ok'")
    if record["status"] != "ok" and not record.get("reason"):
        raise NeuronbenchError(f"{where}: field 'reason': required when status is {record['status']!r}")
    return record


def read_record(path: Path) -> dict[str, Any]:
    """Load and validate one record; a damaged file is an error naming it."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NeuronbenchError(f"{path}: not a valid JSON record ({e})") from None
    return validate_record(record, path)


def iter_records(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every record under ``root`` (sorted by path, so the order is stable).
    Temporary files and the embedding cache are skipped."""
    root = Path(root)
    for path in sorted(root.rglob("*.json")):
        rel = path.relative_to(root).parts
        if rel[0] == "cache" or path.name.startswith("."):
            continue
        yield path, read_record(path)
