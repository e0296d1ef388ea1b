"""A third-party-style dataset used by the tests, and the way tests register datasets:
through entry points of the group ``neuronbench.datasets``, as an installed package would."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import EntryPoint
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from neuronbench.data.recording import Recording, neuron_id
from neuronbench.protocol import datasets
from neuronbench.protocol.datasets import DatasetInfo
from neuronbench.protocol.tasks import Task

NAME = "toy"


def recordings() -> list[Recording]:
    """3 animals x 2 recordings x 12 units; a unit's kind (fast / slow) sets its rate."""
    rng = np.random.default_rng(0)
    recs = []
    for a in range(3):
        for s in range(2):
            rec_id = f"m{a}-s{s}"
            units = [str(u) for u in range(12)]
            kinds = ["fast" if u % 2 else "slow" for u in range(12)]
            trains = [np.sort(rng.uniform(0, 30, 300 if k == "fast" else 40)) for k in kinds]
            ids = [neuron_id(NAME, rec_id, u) for u in units]
            recs.append(Recording(
                dataset=NAME, animal=f"m{a}", recording=rec_id, modality="spikes",
                neurons=pd.DataFrame({"neuron_id": ids, "unit": units, "track_id": None,
                                      "x": np.nan, "y": np.nan, "z": np.nan}),
                t_start=0.0, t_stop=30.0,
                epochs=pd.DataFrame({"start": [0.0], "stop": [30.0], "stimulus": ["spontaneous"]}),
                spike_times=np.concatenate(trains),
                spike_offsets=np.concatenate([[0], np.cumsum([len(t) for t in trains])]),
                labels=pd.DataFrame({"neuron_id": ids, "kind": kinds}),
            ))
    return recs


def build(root: Path, *, force: bool = False) -> list[Path]:
    """The generator: write the dataset under ``root`` unless it is there."""
    from neuronbench.data.store import write_dataset

    path = Path(root) / NAME
    if force or not (path / "manifest.json").is_file():
        write_dataset(path, NAME, recordings(), label_columns=["kind"], replace=force)
    return [path]


INFO = DatasetInfo(
    name=NAME, summary="A toy dataset of a third-party package", kind="simulated", modality="spikes",
    tasks=(Task(NAME, "kind", "kind", ("fast", "slow"), "Fast vs slow units"),),
    citation="tests/dataset_example.py", generator="tests.dataset_example:build",
    unsupported={"inductive": "three animals are too few to hold some out of pretraining (a toy)"},
)


HANDMADE = DatasetInfo(
    name="handmade", summary="hand-made", kind="recorded", modality="spikes", available=("waveforms",),
    tasks=(Task("handmade", "cell_class", "cell_class", ("a", "b"), "test task"),),
)
"""The dataset of `tests.conftest.small_recordings`, written by the tests that use it."""

REGISTERED = SimpleNamespace()
"""The infos `register` was given as objects, which its entry points name."""


def register(monkeypatch, *infos: DatasetInfo | str) -> None:
    """Register datasets through entry points beside the built-in ones for the duration of
    a test (a fresh registry cache, dropped after): each a `DatasetInfo`, or the
    ``module:attribute`` of one, as a package's metadata would name it. Call the
    registry through its module (``datasets.all_datasets()``), not a name imported
    before: that one is the cache of the built-ins."""
    eps = []
    for info in infos:
        if isinstance(info, DatasetInfo):
            monkeypatch.setattr(REGISTERED, info.name, info, raising=False)
            name, value = info.name, f"{__name__}:REGISTERED.{info.name}"
        else:
            name, value = info.rpartition(":")[2].lower(), info
        eps.append(EntryPoint(name=name, value=value, group=datasets.ENTRY_POINT_GROUP))
    before = datasets.entry_points
    monkeypatch.setattr(datasets, "entry_points", lambda group: list(before(group=group)) + eps
                        if group == datasets.ENTRY_POINT_GROUP else before(group=group))
    monkeypatch.setattr(datasets, "all_datasets", lru_cache(maxsize=1)(datasets.all_datasets.__wrapped__))
