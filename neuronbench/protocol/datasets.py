"""Where datasets are found: entry points of the group ``neuronbench.datasets``, each
resolving to a `DatasetInfo`, the way methods are found through ``neuronbench.methods``.

A dataset's info is the one place that says everything the protocol needs: how to get
its recordings, its tasks, the settings it supports (and why not the others), its
published split and the field naming its labs. A third-party package adds a dataset
without editing neuronbench::

    [project.entry-points."neuronbench.datasets"]
    mydata = "my_package.data:INFO"

Light at import (no numpy/pandas): listing datasets and tasks is instant.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from neuronbench.entry_points import declared_by_neuronbench, load_registered
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.tasks import Task

if TYPE_CHECKING:
    from neuronbench.data.store import Dataset

ENTRY_POINT_GROUP = "neuronbench.datasets"
SETTINGS: tuple[str, ...] = ("transductive", "transductive-zero-shot", "inductive", "inductive-cross-lab")
"""The four settings (their rules: `neuronbench.protocol.settings`)."""
INDUCTIVE_SETTINGS: tuple[str, ...] = ("inductive", "inductive-cross-lab")
"""The settings whose held-out animals are absent from pretraining."""
CROSS_LAB = "inductive-cross-lab"
NEEDS_LABS = "a cross-lab split needs 2+ labs"
NO_LABS = {  # why a dataset without a lab column has no cross-lab setting, by kind
    "recorded": f"records one lab (no lab column): {NEEDS_LABS}",
    "simulated": f"simulated without labs (no lab column): {NEEDS_LABS}",
}
KINDS: tuple[str, ...] = ("simulated", "recorded")
MODALITIES: tuple[str, ...] = ("spikes", "calcium")


@dataclass(frozen=True)
class DatasetProtocol:
    """The published protocol facts of a dataset (or of one of its tasks).

    Attributes:
        test_animals: animals held out in the inductive setting; None: a hashed third of
            the animals (`neuronbench.protocol.settings.held_out_animals`).
        dev_recordings: recordings never used as test (Bugeon's development sessions).
        eval_animals: a published protocol that evaluates on these animals only, one at
            a time (NuCLR's Allen leave-one-session-out): only their neurons enter the
            task's splits, zero-shot folds leave one of them out and train the probe on
            the others, and the inductive setting keeps all of them out of pretraining.
        test_sessions: a published held-out set of sessions, matched to the label column
            ``session`` (BrainWideBench's eval sessions): the zero-shot settings test on
            them, one fold, and hold their animals out.
    """

    test_animals: tuple[str, ...] | None = None
    dev_recordings: tuple[str, ...] = ()
    eval_animals: tuple[str, ...] | None = None
    test_sessions: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset.

    Attributes:
        name: registry key, folder name and first part of every neuron id.
        summary: one line for ``neuronbench list datasets``.
        kind: ``"simulated"`` (made by ``generator``) or ``"recorded"`` (prepared from a
            download by ``loader``).
        modality: ``"spikes"`` or ``"calcium"``.
        tasks: the dataset's tasks, in listing order (each with ``dataset == name``).
        citation: the paper or source the data comes from (never read as a type).
        available: optional fields every recording has (``"waveforms"``, ``"behaviour"``).
        generator: ``"module:function"`` called as ``function(root, force=..., **generator_kwargs)``
            on first use; it writes the dataset folder ``root / name`` (and may write
            sibling datasets of the same simulation).
        loader: a module with ``download(to, *, progress)`` and ``load(raw_dir, report)``
            (`neuronbench.data.prepare`): ``neuronbench data download / prepare NAME``.
        unsupported: setting -> why the dataset cannot be evaluated in it; the other
            settings of `SETTINGS` are supported, but ``inductive-cross-lab`` needs
            ``labs`` (`na_reasons`).
        published: the dataset's published split (held-out animals, development
            recordings, evaluated animals); the default is none (hashed defaults).
        task_protocols: task name -> that task's own published protocol, in place of
            ``published`` (BrainWideBench's held-out sessions for ``ibl/region_bwb``).
        labs: the label column naming each neuron's lab (the ``inductive-cross-lab``
            setting holds whole labs out), or None when the data has none.
    """

    name: str
    summary: str
    kind: str
    modality: str
    tasks: tuple[Task, ...]
    citation: str = ""
    available: tuple[str, ...] = ()
    generator: str | None = None
    generator_kwargs: Mapping[str, object] = field(default_factory=dict)
    loader: str | None = None
    unsupported: Mapping[str, str] = field(default_factory=dict)
    published: DatasetProtocol = DatasetProtocol()
    task_protocols: Mapping[str, DatasetProtocol] = field(default_factory=dict)
    labs: str | None = None

    def __post_init__(self) -> None:
        def fail(name: str, expected: str, got: object) -> None:
            raise NeuronbenchError(f"dataset {self.name!r}: field {name!r}: expected {expected}, got {got!r}")

        if not self.name or "/" in self.name:
            fail("name", "a non-empty name without '/'", self.name)
        if self.kind not in KINDS:
            fail("kind", f"one of {', '.join(KINDS)}", self.kind)
        if self.modality not in MODALITIES:
            fail("modality", f"one of {', '.join(MODALITIES)}", self.modality)
        if (self.kind == "simulated") != (self.generator is not None) or (self.loader and self.generator):
            fail("generator", "a generator for a simulated dataset (and then no loader), none for a recorded one",
                 self.generator)
        if not self.tasks or any(not isinstance(t, Task) or t.dataset != self.name for t in self.tasks):
            fail("tasks", f"one or more Task objects of dataset {self.name!r}", self.tasks)
        names = [t.name for t in self.tasks]
        if len(set(names)) < len(names):
            fail("tasks", "tasks with distinct names", names)
        unknown = [s for s in self.unsupported if s not in SETTINGS]
        if unknown or len(self.na_reasons) == len(SETTINGS):
            fail("unsupported", f"some of {', '.join(SETTINGS)} (not all) mapped to a reason", dict(self.unsupported))
        stray = [t for t in self.task_protocols if t not in names]
        if stray:
            fail("task_protocols", f"names of its tasks ({', '.join(names)})", stray)

    @property
    def na_reasons(self) -> dict[str, str]:
        """Why not, for every setting the dataset does not support: those of
        ``unsupported``, and ``inductive-cross-lab`` without ``labs`` (with the reason
        ``unsupported`` gives, else that of its kind, `NO_LABS`)."""
        derived = {CROSS_LAB: NO_LABS[self.kind]} if self.labs is None else {}
        return {s: r for s in SETTINGS if (r := self.unsupported.get(s) or derived.get(s))}

    @property
    def settings(self) -> tuple[str, ...]:
        """The settings the dataset supports."""
        return tuple(s for s in SETTINGS if s not in self.na_reasons)

    def protocol(self, task: str | None = None) -> DatasetProtocol:
        """The published protocol of the dataset, or of ``task`` when it has its own."""
        return self.task_protocols.get(task, self.published) if task is not None else self.published


def is_builtin(ep: EntryPoint) -> bool:
    """Whether an entry point is declared by neuronbench itself."""
    return declared_by_neuronbench(ep)


@lru_cache(maxsize=1)
def all_datasets() -> dict[str, DatasetInfo]:
    """Every registered dataset by name, ordered by kind (`KINDS`: simulated, recorded),
    then name; a broken plug-in is skipped with a warning
    (`neuronbench.entry_points.load_registered`)."""
    return load_registered(list(entry_points(group=ENTRY_POINT_GROUP)), group=ENTRY_POINT_GROUP, cls=DatasetInfo,
                           what="dataset", is_builtin=is_builtin, kinds=KINDS)


def get_dataset_info(name: str) -> DatasetInfo:
    """The dataset called ``name``; an unknown name lists the valid ones."""
    datasets = all_datasets()
    if name not in datasets:
        raise NeuronbenchError(f"unknown dataset {name!r}; choose from: {', '.join(datasets)}")
    return datasets[name]


def all_tasks() -> dict[str, Task]:
    """Every task of every registered dataset by key (``<dataset>/<task>``)."""
    return {t.key: t for info in all_datasets().values() for t in info.tasks}


def tasks_for(dataset: str) -> list[Task]:
    """The tasks of a dataset, in their declared order."""
    return list(get_dataset_info(dataset).tasks)


def get_task(dataset: str, name: str) -> Task:
    """A task by dataset and name; an unknown name lists the valid ones."""
    tasks = {t.name: t for t in tasks_for(dataset)}
    if name not in tasks:
        raise NeuronbenchError(f"unknown task {name!r} for dataset {dataset!r}; choose from: {', '.join(tasks)}")
    return tasks[name]


def resolve(spec: str, what: str) -> object:
    """The object named ``module:attribute`` (a module alone without the colon)."""
    module, _, attribute = spec.partition(":")
    try:
        obj = importlib.import_module(module)
        return getattr(obj, attribute) if attribute else obj
    except (ImportError, AttributeError) as e:
        raise NeuronbenchError(f"{what}: cannot import {spec!r} ({type(e).__name__}: {e})") from None


def load_dataset(name: str, root: Path | None = None) -> Dataset:
    """Open a registered dataset, generating a simulated one on first use."""
    from neuronbench.data.store import Dataset, data_root

    info = get_dataset_info(name)
    root = Path(root) if root is not None else data_root()
    if info.generator:
        resolve(info.generator, f"dataset {name!r}: field 'generator'")(root, **info.generator_kwargs)
    path = root / name
    if not (path / "manifest.json").is_file():
        how = (f"run `neuronbench data download {name}` and `neuronbench data prepare {name} --raw DIR`"
               if info.loader else "its generator wrote no dataset there")
        raise NeuronbenchError(f"dataset {name!r} is not prepared in {path}; {how} (or set NEURONBENCH_DATA)")
    return Dataset(path)
