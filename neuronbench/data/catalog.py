"""The datasets neuronbench knows, and how to get each one as a `Dataset`.

Simulated datasets (the synthetic ground truth) are generated on first use by their
``generator`` and cached under `data_root()`; the others are prepared from their
downloads.
This module stays light (no numpy/pandas at import) so that listing is instant.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from neuronbench.errors import NeuronbenchError

if TYPE_CHECKING:
    from neuronbench.data.recording import Recording
    from neuronbench.data.store import Dataset


@dataclass(frozen=True)
class DatasetInfo:
    """What the harness needs to know about a dataset before loading it.

    Attributes:
        name: registry key and folder name.
        summary: one line; source: citation or where it comes from.
        modality: ``"spikes"`` or ``"calcium"``.
        available: optional fields every recording has (``"waveforms"``, ``"behaviour"``).
        generator: for datasets neuronbench simulates itself, ``"module:function"`` of
            the builder, called as ``function(root, force=..., **generator_kwargs)``; it
            writes the dataset (and may write sibling datasets of the same simulation)
            under ``root``. None for datasets prepared from downloads.
        generator_kwargs: keyword arguments of the builder.

    Data facts only: a dataset's published evaluation protocol (held-out animals,
    development sessions) is `neuronbench.protocol.settings.PUBLISHED`.
    """

    name: str
    summary: str
    source: str
    modality: str
    available: tuple[str, ...] = ()
    generator: str | None = None
    generator_kwargs: Mapping[str, Any] = field(default_factory=dict)


def _synthetic_pair(prefix: str, size: str, what: str) -> tuple[DatasetInfo, DatasetInfo]:
    return (
        DatasetInfo(
            name=prefix,
            summary=f"{what} simulated multi-animal Neuropixels-like population with known cell "
            "types and regions (spikes and waveforms), data version 2.",
            source="neuronbench.data.synthetic",
            modality="spikes",
            available=("waveforms", "behaviour"),
            generator="neuronbench.data.catalog:build_synthetic",
            generator_kwargs={"size": size},
        ),
        DatasetInfo(
            name=f"{prefix}-calcium",
            summary=f"{what} simulated population seen through a calcium indicator at ~4.3 Hz, data version 2.",
            source="neuronbench.data.synthetic",
            modality="calcium",
            available=("behaviour",),
            generator="neuronbench.data.catalog:build_synthetic",
            generator_kwargs={"size": size},
        ),
    )


def _izhikevich(name: str, size: str, summary: str) -> DatasetInfo:
    return DatasetInfo(name=name, summary=summary, source="neuronbench.data.izhikevich_dataset", modality="spikes",
                       generator="neuronbench.data.izhikevich_dataset:build", generator_kwargs={"size": size})


def _scale(name: str, summary: str, **sizes: Any) -> DatasetInfo:
    return DatasetInfo(name=name, summary=summary, source="neuronbench.data.synthetic_scale", modality="spikes",
                       available=("waveforms", "behaviour"), generator="neuronbench.data.synthetic_scale:build",
                       generator_kwargs={"name": name, **sizes})


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        *_synthetic_pair("synthetic", "default", "The embedded default:"),
        *_synthetic_pair("synthetic-tiny", "tiny", "A tiny (seconds to run) version of the"),
        _izhikevich("izhikevich", "default", "NeurPIR's Izhikevich benchmark: 2,000 neurons in five firing modes "
                    "(RS, IB, CH, FS, LTS), 5 coupled networks driven by noisy input, 2 sessions each (spikes)."),
        _izhikevich("izhikevich-tiny", "tiny", "A tiny (seconds to run) version of the Izhikevich benchmark, for tests."),
        _scale("synthetic-scale", "Real-size spike data for measuring cost (scripts/bench_scale.py), not for "
               "scores: 10 recordings x 400 units x 1 h of gamma renewal trains with region drives (about 1 GB).",
               n_recordings=10, n_units=400, duration_s=3600.0),
        _scale("synthetic-scale-tiny", "A tiny version of synthetic-scale (6 recordings x 24 units x 60 s), for tests.",
               n_recordings=6, n_units=24, duration_s=60.0),
        DatasetInfo(
            name="bugeon",
            summary="Bugeon et al. 2022: mouse V1 2-photon calcium (dF/F), coppaFISH t-types, 4 mice, 17 sessions.",
            source="figshare 19448531 (doi 10.6084/m9.figshare.19448531)",
            modality="calcium",
            available=("behaviour",),
        ),
        DatasetInfo(
            name="steinmetz",
            summary="Steinmetz et al. 2019: Neuropixels, 10 mice, 39 sessions, one recording per probe.",
            source="figshare 9598406",
            modality="spikes",
            available=("waveforms",),
        ),
        DatasetInfo(
            name="ibl",
            summary="IBL Brain Wide Map: Neuropixels, one recording per probe, 10 Cosmos regions.",
            source="IBL OpenAlyx via ONE-api (sessions of NuCLR's IBL experiments)",
            modality="spikes",
        ),
        DatasetInfo(
            name="allen",
            summary="Allen Visual Coding Neuropixels: VIS units, opto-tagged Pvalb / Sst / Vip cell types.",
            source="DANDI 000021 (Siegle et al. 2021)",
            modality="spikes",
            available=("waveforms",),
        ),
    )
}


def get_dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise NeuronbenchError(f"unknown dataset {name!r}; choose from: {', '.join(DATASETS)}")
    return DATASETS[name]


def build_synthetic(root: Path | None = None, *, force: bool = False, size: str = "default") -> list[Path]:
    """Simulate the population of a size once and write its spikes and calcium datasets
    (generated once, then read from the cache; regenerated when the generator changed)."""
    from neuronbench.data import synthetic
    from neuronbench.data.store import data_root, remove_stale

    root = Path(root) if root is not None else data_root()
    remove_stale(root)
    config = synthetic.SyntheticConfig() if size == "default" else synthetic.tiny_config()
    params = _synthetic_params(config)
    names = [i.name for i in DATASETS.values()
             if i.generator_kwargs.get("size") == size and i.generator and i.generator.endswith(":build_synthetic")]
    paths = [root / n for n in names]
    if not force and all(is_current(p, params) for p in paths):
        return paths
    by_modality = dict(zip(("spikes", "calcium"), synthetic.simulate(config)))
    for path in paths:
        if not force and is_current(path, params):
            continue
        info = DATASETS[path.name]
        write_simulated(path, info.name, [_renamed(r, info.name) for r in by_modality[info.modality]],
                        label_columns=synthetic.LABEL_COLUMNS, params=params, description=info.summary)
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


def _renamed(rec: Recording, dataset: str) -> Recording:
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


def load_dataset(name: str, root: Path | None = None) -> Dataset:
    """Open a dataset, generating the embedded ones on first use."""
    from neuronbench.data.store import Dataset, data_root

    info = get_dataset_info(name)
    root = Path(root) if root is not None else data_root()
    if info.generator:
        module, _, function = info.generator.partition(":")
        getattr(importlib.import_module(module), function)(root, **info.generator_kwargs)
    path = root / name
    if not (path / "manifest.json").is_file():
        raise NeuronbenchError(
            f"dataset {name!r} is not prepared in {path}; run `neuronbench data download {name}` "
            f"and `neuronbench data prepare {name} --raw DIR` (or set NEURONBENCH_DATA)"
        )
    return Dataset(path)
