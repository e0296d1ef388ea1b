"""Tasks: a dataset, a label column, the set of classes to predict and the metric that
ranks methods on it.

Neurons whose label is missing or outside ``classes`` are not part of the task (e.g.
Bugeon's ``unknown`` subclass). Listing tasks imports nothing heavy (pandas only inside
`task_table`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from neuronbench.data.catalog import DATASETS, get_dataset_info
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.constants import BWB_METRIC, MAIN_METRIC, METRICS

if TYPE_CHECKING:
    import pandas as pd

    from neuronbench.data.store import Dataset

@dataclass(frozen=True)
class Task:
    """A classification task on one dataset.

    Attributes:
        dataset: the dataset's registry name; name: the task's name within it.
        label: the label column of the dataset's ``labels.parquet``.
        classes: the classes predicted; neurons with another label are left out.
        summary: one line for ``neuronbench list tasks``.
        main_metric: the metric that ranks methods, one of `METRICS` (default
            `neuronbench.protocol.constants.MAIN_METRIC`, macro-F1; docs/protocol.md, "Metrics").
    """

    dataset: str
    name: str
    label: str
    classes: tuple[str, ...]
    summary: str
    main_metric: str = MAIN_METRIC

    def __post_init__(self) -> None:
        if self.main_metric not in METRICS:
            raise NeuronbenchError(f"task {self.key}: field 'main_metric': expected one of {', '.join(METRICS)}, "
                                   f"got {self.main_metric!r}")

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

TASKS.update({f"{name}/region": t for name, info in DATASETS.items() if info.source == "neuronbench.data.synthetic_scale"
              for t in _synthetic_tasks(name) if t.name == "region"})

REAL_TASKS: tuple[Task, ...] = (
    Task("bugeon", "cell_class", "cell_class", ("EC", "IN"), "Excitatory (EC) vs inhibitory (IN: every non-EC t-type)"),
    Task("bugeon", "subclass", "subclass", ("Lamp5", "Pvalb", "Sncg", "Sst", "Vip"),
         "Five inhibitory subclasses (t-type prefix; EC, IN and Serpinf1 left out)"),
    Task("steinmetz", "region", "region", ("MB", "VIS", "TH", "HPF"), "Four region groups (NuCLR's)"),
    Task("ibl", "region", "region", ("CB", "CNU", "CTXsp", "HB", "HPF", "HY", "Isocortex", "MB", "OLF", "TH"),
         "Ten Cosmos regions (void and root left out)"),
    # BrainWideBench TS3 unit_cosmos (`neuronbench.protocol.bwb`): its held-out sessions and unit filter
    Task("ibl", "region_bwb", "region_bwb", ("CB", "CNU", "CTXsp", "HB", "HPF", "HY", "Isocortex", "MB", "OLF", "TH"),
         "BWB TS3 unit_cosmos: 10 Cosmos regions, units > 1 Hz, its 29 held-out sessions (not comparable to region)",
         main_metric=BWB_METRIC),
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


def task_table(dataset: Dataset, task: Task) -> pd.DataFrame:
    """The task's neurons: neuron_id, recording, animal, group, label. Neurons without a
    label in ``task.classes`` are left out; a tracked neuron (one ``group``) must carry
    one label in every recording."""
    import pandas as pd

    from neuronbench.data.recording import group_keys

    if task.label not in dataset.labels.columns:
        raise NeuronbenchError(
            f"{dataset.path / 'labels.parquet'}: no label column {task.label!r} for task {task.key}"
        )
    neurons = dataset.neurons
    table = pd.DataFrame(
        {
            "neuron_id": neurons["neuron_id"].to_numpy(),
            "recording": neurons["recording"].to_numpy(),
            "animal": neurons["animal"].astype(str).to_numpy(),
            "label": dataset.labels[task.label].to_numpy(dtype=object),
        }
    )
    table["group"] = group_keys(table["animal"], neurons["track_id"], table["neuron_id"])
    table = table[table["label"].isin(task.classes)].reset_index(drop=True)
    if table.empty:
        raise NeuronbenchError(f"{dataset.path}: no neuron has a label in {task.classes} for task {task.key}")
    mixed = table.groupby("group")["label"].nunique()
    if (mixed > 1).any():
        raise NeuronbenchError(
            f"{dataset.path / 'labels.parquet'}: field {task.label!r}: tracked neuron(s) with different "
            f"labels across recordings, e.g. {mixed[mixed > 1].index[:3].tolist()}"
        )
    return table
