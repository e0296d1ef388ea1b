"""Tasks: a dataset, a label column, the set of classes to predict and the metric that
ranks methods on it. Each dataset declares its tasks (`neuronbench.protocol.datasets`).

Neurons whose label is missing or outside ``classes`` are not part of the task (e.g.
Bugeon's ``unknown`` subclass), nor those a task's ``unit_filter`` leaves out. Listing
tasks imports nothing heavy (pandas only inside `task_table`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.constants import MAIN_METRIC, METRICS

if TYPE_CHECKING:
    import numpy as np
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
        unit_filter: which neurons the task keeps besides its classes: a function of the
            dataset's label table and its file (for messages) returning a boolean mask
            (BrainWideBench's unit filter, `neuronbench.protocol.bwb.unit_filter`);
            None keeps every neuron.
    """

    dataset: str
    name: str
    label: str
    classes: tuple[str, ...]
    summary: str
    main_metric: str = MAIN_METRIC
    unit_filter: Callable[[pd.DataFrame, Path], np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.main_metric not in METRICS:
            raise NeuronbenchError(f"task {self.key}: field 'main_metric': expected one of {', '.join(METRICS)}, "
                                   f"got {self.main_metric!r}")

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.name}"


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
    keep = table["label"].isin(task.classes).to_numpy()
    if task.unit_filter is not None:
        keep = keep & task.unit_filter(dataset.labels, dataset.path / "labels.parquet")
    table = table[keep].reset_index(drop=True)
    if table.empty:
        raise NeuronbenchError(f"{dataset.path}: no neuron has a label in {task.classes} for task {task.key}")
    mixed = table.groupby("group")["label"].nunique()
    if (mixed > 1).any():
        raise NeuronbenchError(
            f"{dataset.path / 'labels.parquet'}: field {task.label!r}: tracked neuron(s) with different "
            f"labels across recordings, e.g. {mixed[mixed > 1].index[:3].tolist()}"
        )
    return table
