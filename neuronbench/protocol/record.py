"""The run record: one typed, self-describing JSON file per run, written atomically
(MTEB's ``TaskResult`` in spirit: it builds, validates, saves, loads and migrates itself).

A run is method x dataset x task x setting x fold x encoder seed. Its record lives at::

    results/<dataset>/<task>/<setting>/<method>-<config_hash>/fold<fold>-seed<encoder_seed><variant>.json

where ``<variant>`` is empty for a headline run and names a curve point otherwise
(`variant_suffix`: ``-labels5`` for 5 % of the probe-training labels, ``-pretrain2`` for
two pretraining animals, ``-budget4`` for four times the preset's training). The record
holds everything needed to trace and re-score the number (the contract of ``design.md``;
lm-evaluation-harness style). Schema version 4::

    schema_version   SCHEMA_VERSION (4)
    status           "ok" | "failed" | "not_applicable"
    reason           the error (failed) or why the method cannot run (not_applicable)
    method           name, kind, preset, config, config_hash, paper, supervised (`RecordMethod`)
    dataset          name, checksum of its manifest (`RecordDataset`)
    task             name, label, classes (`RecordTask`)
    setting          what ``--setting`` selects (transductive, inductive, ...)
    fold, n_folds    this fold and the number of folds of the setting
    encoder_seed     the seed of the method's fit
    split_seed       the seed of the split
    label_fraction   fraction of the probe-training neurons whose labels were used
                     (1.0: all, the headline; the label-efficiency curve otherwise)
    pretrain_animals how many of the training animals pretrained the encoder (null: all
                     the setting gives, the headline; the pretraining-scale curve otherwise)
    budget           the training budget, a multiple of the preset's training (1.0: the
                     headline; the budget curve otherwise; `neuronbench.plugin.MethodInfo.
                     scale_budget` made ``method.config``); null for a method without a
                     training budget (a control)
    split            version, checksum, n_train, n_val, n_test, n_pretrain_recordings, test_animals
                     (`RecordSplit`)
    chance           uniform_macro_f1, majority_macro_f1 (on this fold's test neurons)
    y_true           {neuron_id: [...], label: [...]}: this fold's test neurons
    probes           {probe: [{probe_seed, params, metrics, y_pred, proba}]}, where y_pred
                     is the list of predicted labels aligned with y_true.neuron_id, proba
                     (optional: headline runs of version 3 only) the class probabilities
                     of each test neuron with columns in task.classes order,
                     and metrics = macro_f1, accuracy, balanced_accuracy, per_class_f1,
                     confusion_matrix, n (`neuronbench.protocol.metrics`)
    environment      provenance: neuronbench version, git commit, python, numpy,
                     scikit_learn, torch, platform, cpu_count, cpu (model and SIMD
                     flags; absent in older records), device, fit_threads, peak_rss_mb
    timings          fit_s, embed_s, probe_s: wall-clock seconds (null when not run);
                     fit_core_s, embed_core_s: CPU core-seconds of the process during the
                     fit and the embedding (absent in older records)

``chance``, ``y_true`` and ``probes`` are present for status "ok" only. Missing values
are null, never NaN (JSON has no NaN).

Older versions are read without loss (`migrate`): version 1 named the encoder seed
``seed`` and kept the split seed in ``split.seed`` (a version-1 split without ``seed`` was
made with split seed 0, the only one the harness used); versions 1 and 2 knew headline runs
only (``label_fraction`` 1.0, ``pretrain_animals`` null) and stored no probabilities;
versions 1 to 3 knew the presets' own training only (``budget`` 1.0, null for a control).
``neuronbench migrate --results DIR`` rewrites a folder's older files (`migrate_folder`).

Settings with several folds are scored by pooling the predictions of all folds
(`neuronbench.protocol.scoring`); a record's own per-fold score is `Record.fold_score`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import neuronbench
from neuronbench.atomic import atomic_write_text
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.constants import HEADLINE_BUDGET, HEADLINE_PROBE, MAIN_METRIC
from neuronbench.protocol.scoring import FoldPredictions, predictions, test_labels

SCHEMA_VERSION = 4
STATUSES = ("ok", "failed", "not_applicable")
_SCORED = ("chance", "y_true", "probes")  # present for status "ok" only
_INTEGERS = ("fold", "n_folds", "encoder_seed", "split_seed")


class MethodIdentity(Protocol):
    """What a record needs to know of a method (`neuronbench.plugin.MethodInfo` has it)."""

    name: str
    kind: str
    paper: str
    supervised: bool


def variant_suffix(label_fraction: float = 1.0, pretrain_animals: int | None = None,
                   budget: float | None = HEADLINE_BUDGET) -> str:
    """The file-name suffix of a curve point: empty for a headline run, ``-labels<percent>``
    for a label fraction below 1, ``-pretrain<k>`` for k pretraining animals,
    ``-budget<B>`` for a training budget other than 1 (None: a method without one)."""
    if not 0 < label_fraction <= 1:
        raise NeuronbenchError(f"label fraction: expected a number in (0, 1], got {label_fraction!r}")
    if pretrain_animals is not None and pretrain_animals < 1:
        raise NeuronbenchError(f"pretraining animals: expected at least 1, got {pretrain_animals!r}")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                               or not 0 < budget < math.inf):
        raise NeuronbenchError(f"budget: expected null or a positive number, got {budget!r}")
    out = "" if label_fraction == 1 else f"-labels{label_fraction * 100:g}"
    out += "" if pretrain_animals is None else f"-pretrain{pretrain_animals}"
    return out + ("" if budget is None or budget == HEADLINE_BUDGET else f"-budget{budget:g}")


def record_path(root: Path, dataset: str, task: str, setting: str, method: str, config_hash: str,
                fold: int, encoder_seed: int, label_fraction: float = 1.0,
                pretrain_animals: int | None = None, budget: float | None = HEADLINE_BUDGET) -> Path:
    """Where the record of one run lives under the results folder ``root``."""
    name = f"fold{fold}-seed{encoder_seed}{variant_suffix(label_fraction, pretrain_animals, budget)}.json"
    return Path(root) / dataset / task / setting / f"{method}-{config_hash}" / name


class _Part:
    """A record's sub-object: typed fields read as attributes; keys the schema does not name
    are kept in ``extra``, so that a record reads and writes back without loss."""

    _TUPLES: tuple[str, ...] = ()  # fields stored as tuples, written as JSON lists

    @classmethod
    def required(cls) -> list[str]:
        """The keys the JSON object must have."""
        return [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _Part:
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: tuple(v) if k in cls._TUPLES and isinstance(v, list) else v
                 for k, v in data.items() if k in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (every field of the schema, null when unknown, and the extra keys)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**out, **self.extra}


@dataclass(frozen=True, eq=True)
class RecordMethod(_Part):
    """The method of a run: its registry name, kind, preset, config and its hash, paper and
    whether it is supervised."""

    name: str
    kind: str
    config_hash: str
    preset: str | None = None
    config: dict[str, Any] | None = None
    paper: str | None = None
    supervised: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, eq=True)
class RecordDataset(_Part):
    """The dataset of a run: its name and the checksum of its manifest."""

    name: str
    checksum: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, eq=True)
class RecordTask(_Part):
    """The task of a run: its name, label column and classes (in the order of ``proba``)."""

    _TUPLES = ("classes",)
    name: str
    classes: tuple[str, ...]
    label: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, eq=True)
class RecordSplit(_Part):
    """The split of a run: version, checksum and this fold's sizes and test animals."""

    _TUPLES = ("test_animals",)
    version: Any
    checksum: str | None = None
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    n_pretrain_recordings: int | None = None
    test_animals: tuple[str, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)


_OBJECTS: dict[str, type[_Part]] = {"method": RecordMethod, "dataset": RecordDataset, "task": RecordTask,
                                    "split": RecordSplit}


@dataclass(frozen=True)
class Record:
    """One run's record (fields: the module docstring). ``source`` (not stored) names
    the file it was read from, for messages."""

    status: str
    reason: str | None
    method: RecordMethod
    dataset: RecordDataset
    task: RecordTask
    setting: str
    fold: int
    n_folds: int
    encoder_seed: int
    split_seed: int
    split: RecordSplit
    environment: dict[str, Any] | None
    timings: dict[str, Any] | None
    label_fraction: float = 1.0
    pretrain_animals: int | None = None
    budget: float | None = HEADLINE_BUDGET
    chance: dict[str, Any] | None = None
    y_true: dict[str, Any] | None = None
    probes: dict[str, list[dict[str, Any]]] | None = None
    schema_version: int = SCHEMA_VERSION
    source: str | None = field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------ building

    @classmethod
    def build(cls, *, method: MethodIdentity, preset: str, config: dict[str, Any], config_hash: str,
              dataset: Any, task: Any, split: Any, fold: Any, encoder_seed: int, status: str,
              reason: str | None, label_fraction: float = 1.0, pretrain_animals: int | None = None,
              budget: float | None = HEADLINE_BUDGET) -> Record:
        """Everything a record says about a run's identity and provenance, before any number:
        ``dataset`` a `neuronbench.data.store.Dataset`, ``task`` a `Task`, ``split`` a `Split`
        and ``fold`` one of its `Fold`s; ``label_fraction``, ``pretrain_animals`` and
        ``budget`` name a curve point (defaults: the headline run; ``budget`` None: a method
        without a training budget)."""
        variant_suffix(label_fraction, pretrain_animals, budget)  # validates all three
        return cls(
            status=status, reason=reason,
            method=RecordMethod(name=method.name, kind=method.kind, preset=preset, config=config,
                                config_hash=config_hash, paper=method.paper, supervised=method.supervised),
            dataset=RecordDataset(name=dataset.name, checksum=dataset.checksum),
            task=RecordTask(name=task.name, label=task.label, classes=tuple(task.classes)),
            setting=split.setting, fold=fold.fold, n_folds=len(split.folds),
            encoder_seed=int(encoder_seed), split_seed=int(split.seed),
            split=RecordSplit(version=split.version, checksum=split.checksum, n_train=len(fold.train),
                              n_val=len(fold.val), n_test=len(fold.test), n_pretrain_recordings=len(fold.pretrain),
                              test_animals=tuple(fold.test_animals)),
            environment=environment(config.get("threads")),  # None: torch's setting / no torch
            timings=None, label_fraction=float(label_fraction), pretrain_animals=pretrain_animals,
            budget=None if budget is None else float(budget),
        )

    def scored(self, fold_scores: dict[str, Any], device: str, timings: dict[str, float]) -> Record:
        """This record with a fold's scores (`neuronbench.protocol.scoring.score_fold`), the
        device of the fit, its timings and this process's peak memory: status "ok"."""
        env = {**(self.environment or {}), "device": device, "peak_rss_mb": peak_rss_mb()}
        return replace(self, status="ok", reason=None, chance=fold_scores["chance"], y_true=fold_scores["y_true"],
                       probes=fold_scores["probes"], environment=env, timings=timings)

    def failed(self, reason: str) -> Record:
        """This record, marked failed with ``reason`` (no number)."""
        return replace(self, status="failed", reason=reason, chance=None, y_true=None, probes=None)

    # ------------------------------------------------------------ reading

    @property
    def where(self) -> str:
        """The file for messages: where it was read from, else where it would be under results/."""
        return self.source or str(self.path(Path("results")))

    def path(self, root: Path) -> Path:
        """Where this record lives under the results folder ``root``."""
        return record_path(root, self.dataset.name, self.task.name, self.setting, self.method.name,
                           self.method.config_hash, self.fold, self.encoder_seed, self.label_fraction,
                           self.pretrain_animals, self.budget)

    @property
    def is_headline(self) -> bool:
        """A headline run (all labels, full pretraining, the preset's training budget or
        none), not a point of a curve."""
        return (self.label_fraction == 1 and self.pretrain_animals is None
                and (self.budget is None or self.budget == HEADLINE_BUDGET))

    @property
    def preset(self) -> str:
        """The method's preset; records without one count as ``"cpu"``."""
        return self.method.preset or "cpu"

    @property
    def test_labels(self) -> list[str]:
        """This fold's test labels."""
        return test_labels({"y_true": self.y_true}, self.where)

    def predictions(self, probe: str) -> FoldPredictions:
        """This fold's test labels and each probe seed's predictions of ``probe``."""
        return predictions({"y_true": self.y_true, "probes": self.probes}, probe, self.where)

    def fold_score(self, probe: str = HEADLINE_PROBE, metric: str = MAIN_METRIC) -> float:
        """This fold's own score: the stored ``metric`` of ``probe``, mean over probe seeds
        (a setting's number pools the folds instead: `neuronbench.protocol.scoring`)."""
        if self.status != "ok" or not self.probes or not self.probes.get(probe):
            raise NeuronbenchError(f"{self.where}: no {probe} probe scores (status {self.status!r})")
        return float(sum(e["metrics"][metric] for e in self.probes[probe]) / len(self.probes[probe]))

    # ------------------------------------------------------------ (de)serialising

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this record (``source`` left out; the scores only when present)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}
        out.update({key: getattr(self, key).to_dict() for key in _OBJECTS})
        return _clean({k: v for k, v in out.items() if not (k in _SCORED and v is None)})

    @classmethod
    def from_dict(cls, data: Any, where: Path | str) -> Record:
        """Validate ``data`` (migrating a version-1 object first) and build the record;
        `NeuronbenchError` naming ``where`` and the field if it breaks the schema."""
        data = migrate(data, where)
        known = {f.name for f in fields(cls)} - {"source"}
        required = known - set(_SCORED)
        missing = sorted(required - set(data))
        if missing:
            raise NeuronbenchError(f"{where}: missing fields {missing}")
        unknown = sorted(set(data) - known)
        if unknown:
            raise NeuronbenchError(f"{where}: unknown fields {unknown} (schema version {SCHEMA_VERSION})")
        if data["status"] not in STATUSES:
            raise NeuronbenchError(f"{where}: field 'status': expected one of {STATUSES}, got {data['status']!r}")
        for key, part in _OBJECTS.items():
            if not isinstance(data[key], dict) or any(s not in data[key] for s in part.required()):
                raise NeuronbenchError(f"{where}: field {key!r}: expected an object with {part.required()}")
        if not isinstance(data["task"]["classes"], list):
            raise NeuronbenchError(f"{where}: field 'task.classes': expected a list, got {data['task']['classes']!r}")
        for key in _INTEGERS:
            if not isinstance(data[key], int) or isinstance(data[key], bool):
                raise NeuronbenchError(f"{where}: field {key!r}: expected an integer, got {data[key]!r}")
        fraction = data["label_fraction"]
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise NeuronbenchError(f"{where}: field 'label_fraction': expected a number in (0, 1], got {fraction!r}")
        animals = data["pretrain_animals"]
        if animals is not None and (isinstance(animals, bool) or not isinstance(animals, int) or animals < 1):
            raise NeuronbenchError(f"{where}: field 'pretrain_animals': expected null or an integer >= 1, "
                                   f"got {animals!r}")
        budget = data["budget"]
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                                   or not 0 < budget < math.inf):
            raise NeuronbenchError(f"{where}: field 'budget': expected null or a positive number, got {budget!r}")
        if data["status"] == "ok" and not isinstance(data.get("probes"), dict):
            raise NeuronbenchError(f"{where}: field 'probes': expected an object for a run with status 'ok'")
        if data["status"] != "ok" and not data.get("reason"):
            raise NeuronbenchError(f"{where}: field 'reason': required when status is {data['status']!r}")
        parts = {key: part.from_dict(data[key]) for key, part in _OBJECTS.items()}
        return cls(**{**data, **parts, "label_fraction": float(fraction),
                      "budget": None if budget is None else float(budget)})


def migrate(data: Any, where: Path | str) -> dict[str, Any]:
    """A record object at `SCHEMA_VERSION`: version 1 is renamed (``seed`` ->
    ``encoder_seed``, ``split.seed`` -> ``split_seed``, default 0); versions 1 and 2 get
    the headline variant (``label_fraction`` 1.0, ``pretrain_animals`` null); versions 1
    to 3 get the preset's training budget (``budget`` 1.0; null for a control, which has
    none); nothing else changes. The input is not modified."""
    if not isinstance(data, dict):
        raise NeuronbenchError(f"{where}: expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version == SCHEMA_VERSION:
        return data
    if version not in (1, 2, 3):
        raise NeuronbenchError(f"{where}: field 'schema_version': expected 1, 2, 3 or {SCHEMA_VERSION}, "
                               f"got {version!r}")
    out = dict(data)
    if version == 1:
        if "seed" not in data or not isinstance(data.get("split"), dict):
            raise NeuronbenchError(f"{where}: a version-1 record needs the fields 'seed' and 'split' (an object)")
        del out["seed"]
        out["split"] = {k: v for k, v in data["split"].items() if k != "seed"}
        out.update(encoder_seed=data["seed"], split_seed=data["split"].get("seed", 0))
    if version in (1, 2):
        out.update(label_fraction=1.0, pretrain_animals=None)
    kind = data["method"].get("kind") if isinstance(data.get("method"), dict) else None
    out.update(schema_version=SCHEMA_VERSION, budget=None if kind == "control" else HEADLINE_BUDGET)
    return out


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


def _text(record: Record) -> str:
    return json.dumps(record.to_dict(), indent=1, sort_keys=True, allow_nan=False) + "\n"


def write_record(path: Path, record: Record) -> None:
    """Validate and write one record atomically (sorted keys: byte-stable)."""
    text = _text(record)
    Record.from_dict(json.loads(text), path)  # what is written must read back
    atomic_write_text(path, text)


def read_record(path: Path) -> Record:
    """Load, migrate and validate one record; a damaged file is an error naming it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NeuronbenchError(f"{path}: not a valid JSON record ({e})") from None
    return replace(Record.from_dict(data, path), source=str(path))


def record_files(root: Path) -> Iterator[Path]:
    """Every record file under ``root`` (sorted by path, so the order is stable).
    Temporary files and the embedding cache are skipped."""
    root = Path(root)
    for path in sorted(root.rglob("*.json")):
        if path.relative_to(root).parts[0] == "cache" or path.name.startswith("."):
            continue
        yield path


def iter_records(root: Path) -> Iterator[tuple[Path, Record]]:
    """Every record under ``root`` with its path, in path order."""
    for path in record_files(root):
        yield path, read_record(path)


def migrate_folder(root: Path) -> list[Path]:
    """Rewrite every record under ``root`` older than `SCHEMA_VERSION` (atomically, one
    by one: an interrupted call leaves each file whole, old or new, and can be rerun).
    Returns the rewritten paths."""
    done = []
    for path in record_files(root):
        try:
            version = json.loads(path.read_text(encoding="utf-8")).get("schema_version")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise NeuronbenchError(f"{path}: not a valid JSON record ({e})") from None
        if version != SCHEMA_VERSION:
            write_record(path, read_record(path))
            done.append(path)
    return done


# ---------------------------------------------------------------- checks across records

def _refuse_if_differ(groups: dict[Any, dict[Any, list[str]]], what: str) -> None:
    """Raise if a group holds more than one value; name one file per value."""
    for key, by_value in groups.items():
        if len(by_value) > 1:
            files = "; ".join(f"{value!r}: {', '.join(paths)}" for value, paths in
                              sorted(by_value.items(), key=lambda kv: str(kv[0])))
            raise NeuronbenchError(f"{what} differ within {key}: {files}")


def _files_by_value() -> dict[Any, dict[Any, list[str]]]:
    """{group: {value: [files]}}, filled as the records are read."""
    return defaultdict(lambda: defaultdict(list))


def check_comparable(records: Iterable[Record]) -> None:
    """Refuse records that must not be scored together: two records of one run, records
    of one method, preset and budget with different config hashes (stale records), one (dataset,
    task, setting) on different split versions or checksums, one dataset with different
    data checksums, one task with different classes. Null checksums and versions (e.g. in
    records of runs that could not run) are ignored. Errors name the files."""
    runs: dict[tuple, list[str]] = defaultdict(list)
    hashes, split_versions, split_sums, data_sums, classes = (_files_by_value() for _ in range(5))
    for r in records:
        path, dataset, task, setting = r.where, r.dataset.name, r.task.name, r.setting
        cell = (dataset, task, setting, r.method.name, r.preset, r.budget)
        runs[cell + (r.fold, r.encoder_seed, r.label_fraction, r.pretrain_animals)].append(path)
        hashes[cell][r.method.config_hash].append(path)
        classes[(dataset, task)][tuple(r.task.classes)].append(path)
        if r.split.version is not None:
            split_versions[(dataset, task, setting)][r.split.version].append(path)
        if r.split.checksum is not None:
            split_sums[(dataset, task, setting)][r.split.checksum].append(path)
        if r.dataset.checksum is not None:
            data_sums[(dataset,)][r.dataset.checksum].append(path)
    for key, paths in runs.items():
        if len(paths) > 1:
            raise NeuronbenchError(
                f"two records of the same run (dataset, task, setting, method, preset, budget, fold, encoder seed, "
                f"label fraction, pretraining animals) = {key} "
                f"(stale records, remove one): {', '.join(paths)}"
            )
    _refuse_if_differ(hashes, "config hashes of one method, preset and budget (stale records, remove the old ones)")
    _refuse_if_differ(split_versions, "split versions (results on different splits are never mixed)")
    _refuse_if_differ(split_sums, "split checksums (results on different splits are never mixed)")
    _refuse_if_differ(data_sums, "dataset checksums (results on different data are never mixed)")
    _refuse_if_differ(classes, "task classes")


# ---------------------------------------------------------------- provenance

@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the neuronbench checkout, None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(neuronbench.__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment(fit_threads: int | None) -> dict[str, Any]:
    """The provenance of a run made in this process (``device`` is filled in once known)."""
    import numpy as np
    import sklearn

    torch = sys.modules.get("torch")  # never imported here: the version only if a method did
    return {
        "neuronbench": neuronbench.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit_learn": sklearn.__version__,
        "torch": getattr(torch, "__version__", None),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu(),
        "device": None,
        "fit_threads": fit_threads,
    }


SIMD_FLAGS: tuple[str, ...] = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile",
                                "asimd", "sve")
"""The instruction sets that pick BLAS / oneDNN kernels (x86 and Arm), hence the last bits of a fit."""


@lru_cache(maxsize=1)
def cpu() -> str | None:
    """This machine's CPU model and its `SIMD_FLAGS` (``"AMD EPYC [avx avx2 ...]"``), None
    where /proc/cpuinfo is not readable: learned methods refitted on the same CPU and
    library versions reproduce their records exactly (`neuronbench.verify`)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or None
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    model = info.get("model name") or info.get("CPU part") or platform.machine()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    return f"{model} [{' '.join(f for f in SIMD_FLAGS if f in flags)}]"


def peak_rss_mb() -> float:
    """This process's peak resident memory, MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
