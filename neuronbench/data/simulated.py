"""The cache of simulated datasets: the synthetic generator's entry point, and the helpers
every simulation shares (write once, regenerate when the simulation code changed).

Which datasets exist is the dataset registry's business (`neuronbench.protocol.datasets`).
Light at import (no numpy/pandas): the registry names the synthetic datasets from here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from neuronbench.errors import NeuronbenchError

if TYPE_CHECKING:
    from neuronbench.data.recording import Recording


SYNTHETIC_PREFIX = {"default": ("synthetic", "The embedded default:"),
                    "tiny": ("synthetic-tiny", "A tiny (seconds to run) version of the")}
"""Size -> (name of its spikes dataset, how its descriptions begin)."""


def synthetic_datasets(size: str) -> dict[str, tuple[str, str]]:
    """The datasets one synthetic simulation of a size writes: modality -> (name, description)."""
    prefix, what = SYNTHETIC_PREFIX[size]
    return {
        "spikes": (prefix, f"{what} simulated multi-animal Neuropixels-like population with known cell "
                           "types and regions (spikes and waveforms), data version 3."),
        "calcium": (f"{prefix}-calcium",
                    f"{what} simulated population seen through a calcium indicator at ~4.3 Hz, data version 3."),
    }


def build_synthetic(root: Path | None = None, *, force: bool = False, size: str = "default") -> list[Path]:
    """Simulate the population of a size once and write its spikes and calcium datasets
    (generated once, then read from the cache; regenerated when the generator changed)."""
    from neuronbench.data import synthetic
    from neuronbench.data.store import data_root, remove_stale

    root = Path(root) if root is not None else data_root()
    remove_stale(root)
    config = synthetic.SyntheticConfig() if size == "default" else synthetic.tiny_config()
    params = _synthetic_params(config)
    outputs = synthetic_datasets(size)
    paths = [root / name for name, _ in outputs.values()]
    if not force and all(is_current(p, params) for p in paths):
        return paths
    by_modality = dict(zip(("spikes", "calcium"), synthetic.simulate(config)))
    for modality, (name, description) in outputs.items():
        if not force and is_current(root / name, params):
            continue
        write_simulated(root / name, name, [renamed(r, name) for r in by_modality[modality]],
                        label_columns=(*synthetic.LABEL_COLUMNS, synthetic.LAB_COLUMN), params=params,
                        description=description)
    return paths


def write_simulated(path: Path, name: str, recordings: Sequence[Recording], *, label_columns: Sequence[str],
                    params: dict, description: str) -> None:
    """(Re)write a simulated dataset at ``path``; an older one there is replaced only once
    the new one is complete. A concurrent writer of the same (deterministic) dataset
    that finished first is used as it is."""
    from neuronbench.data.store import Dataset, write_dataset

    try:
        write_dataset(path, name, recordings, label_columns=label_columns, params=params, description=description,
                      replace=True)
    except OSError:
        if not is_current(path, params):
            raise
    Dataset(path)  # fail early if what is there is unreadable


def _synthetic_params(config: object) -> dict:
    """Manifest parameters of the synthetic datasets (see `generator_params`), with the
    data version (`synthetic.VERSION`): data of another version is regenerated."""
    from neuronbench.data import izhikevich, synthetic

    return {**generator_params("neuronbench.data.synthetic", (izhikevich, synthetic), config),
            "version": synthetic.VERSION}


def generator_params(generator: str, modules: Sequence[ModuleType], config: object) -> dict:
    """Manifest parameters of a simulated dataset: the generator's name, a hash of its
    modules' source (a change of the simulation code regenerates the cached dataset) and
    its config dataclass, in their JSON form (tuples as lists) so that they compare equal
    to what the manifest holds."""
    import hashlib

    source = b"".join(Path(m.__file__).read_bytes() for m in modules)
    return {
        "generator": generator,
        "source_sha256": hashlib.sha256(source).hexdigest(),
        "config": json.loads(json.dumps(dataclasses.asdict(config))),
    }


def renamed(rec: Recording, dataset: str) -> Recording:
    """The recording under another dataset name (its global neuron ids follow)."""
    from neuronbench.data.recording import neuron_id

    ids = [neuron_id(dataset, rec.recording, u) for u in rec.neurons["unit"]]
    neurons = rec.neurons.assign(neuron_id=ids)
    labels = rec.labels.assign(neuron_id=ids) if rec.labels is not None else None
    return dataclasses.replace(rec, dataset=dataset, neurons=neurons, labels=labels)


def is_current(path: Path, params: dict) -> bool:
    """Whether ``path`` holds a readable dataset written with these manifest ``params``."""
    from neuronbench.data.store import Dataset

    if not (path / "manifest.json").is_file():
        return False
    try:
        return Dataset(path).manifest.get("params") == params
    except NeuronbenchError:
        return False
