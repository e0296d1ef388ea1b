"""Tasks: a dataset, a label column and the set of classes to predict.

Neurons whose label is missing or outside ``classes`` are not part of the task (e.g.
Bugeon's ``unknown`` subclass). Listing tasks imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuronbench.data.catalog import DATASETS, get_dataset_info
from neuronbench.errors import NeuronbenchError


@dataclass(frozen=True)
class Task:
    """A classification task on one dataset."""

    dataset: str
    name: str
    label: str
    classes: tuple[str, ...]
    summary: str

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.name}"


def _synthetic_tasks(dataset: str) -> tuple[Task, ...]:
    return (
        Task(dataset, "cell_class", "cell_class", ("excitatory", "inhibitory"),
             "Excitatory (RS, IB, CH) vs inhibitory (FS, LTS) class"),
        Task(dataset, "subclass", "subclass", ("RS", "IB", "CH", "FS", "LTS"),
             "Five Izhikevich firing types (intrinsic dynamics)"),
        Task(dataset, "region", "region", ("VIS", "HPF", "TH", "MB"),
             "Four regions, each with its own shared input (population context)"),
    )


TASKS: dict[str, Task] = {
    t.key: t for name, info in DATASETS.items() if info.source == "neuronbench.data.synthetic" for t in _synthetic_tasks(name)
}

REAL_TASKS: tuple[Task, ...] = (
    Task("bugeon", "cell_class", "cell_class", ("EC", "IN"), "Excitatory (EC) vs inhibitory (IN: every non-EC t-type)"),
    Task("bugeon", "subclass", "subclass", ("Lamp5", "Pvalb", "Sncg", "Sst", "Vip"),
         "Five inhibitory subclasses (t-type prefix; EC, IN and Serpinf1 left out)"),
    Task("steinmetz", "region", "region", ("MB", "VIS", "TH", "HPF"), "Four region groups (NuCLR's)"),
    Task("ibl", "region", "region", ("CB", "CNU", "CTXsp", "HB", "HPF", "HY", "Isocortex", "MB", "OLF", "TH"),
         "Ten Cosmos regions (void and root left out)"),
    Task("allen", "cell_type", "cell_type", ("Pvalb", "Sst", "Vip"), "Opto-tagged Cre lines (VIS units)"),
)
TASKS.update({t.key: t for t in REAL_TASKS})
TASKS.update({f"{d}/firing_mode": Task(d, "firing_mode", "firing_mode", ("RS", "IB", "CH", "FS", "LTS"),
                                       "Five Izhikevich firing modes (NeurPIR's simulation)")
              for d in ("izhikevich", "izhikevich-tiny")})


def tasks_for(dataset: str) -> list[Task]:
    """The tasks of a dataset, in registry order."""
    get_dataset_info(dataset)
    return [t for t in TASKS.values() if t.dataset == dataset]


def get_task(dataset: str, name: str) -> Task:
    """A task by dataset and name; an unknown name lists the valid ones."""
    tasks = {t.name: t for t in tasks_for(dataset)}
    if name not in tasks:
        raise NeuronbenchError(f"unknown task {name!r} for dataset {dataset!r}; choose from: {', '.join(tasks)}")
    return tasks[name]
