"""The built-in datasets, one `DatasetInfo` each, registered by neuronbench's own
``pyproject.toml`` (entry point group ``neuronbench.datasets``) as a plug-in's would be.

Light at import (no numpy/pandas): ``neuronbench list datasets`` reads these.
"""

from __future__ import annotations

from neuronbench.data.simulated import synthetic_datasets
from neuronbench.protocol import bwb
from neuronbench.protocol.datasets import CROSS_LAB, NEEDS_LABS, DatasetInfo, DatasetProtocol
from neuronbench.protocol.tasks import Task

COSMOS = ("CB", "CNU", "CTXsp", "HB", "HPF", "HY", "Isocortex", "MB", "OLF", "TH")


def _synthetic_tasks(dataset: str) -> tuple[Task, ...]:
    return (
        Task(dataset, "cell_class", "cell_class", ("excitatory", "inhibitory"),
             "Excitatory (RS, IB, CH) vs inhibitory (FS, LTS) class"),
        Task(dataset, "subclass", "subclass", ("RS", "IB", "CH", "FS", "LTS"),
             "Five Izhikevich firing types (intrinsic dynamics)"),
        Task(dataset, "region", "region", ("VIS", "HPF", "TH", "MB"),
             "Four regions, each with its own shared input (population context)"),
    )


def _synthetic(size: str, modality: str) -> DatasetInfo:
    name, summary = synthetic_datasets(size)[modality]
    return DatasetInfo(name=name, summary=summary, kind="simulated", modality=modality,
                       tasks=_synthetic_tasks(name), citation="neuronbench's simulation (neuronbench.data.synthetic)",
                       available=("waveforms", "behaviour") if modality == "spikes" else ("behaviour",),
                       generator="neuronbench.data.simulated:build_synthetic", generator_kwargs={"size": size},
                       labs="lab")


def _izhikevich(name: str, size: str, summary: str) -> DatasetInfo:
    task = Task(name, "firing_mode", "firing_mode", ("RS", "IB", "CH", "FS", "LTS"),
                "Five Izhikevich firing modes (NeurPIR's simulation)")
    return DatasetInfo(name=name, summary=summary, kind="simulated", modality="spikes", tasks=(task,),
                       citation="NeurPIR's Izhikevich benchmark (Wu et al. 2025)",
                       unsupported={CROSS_LAB: f"simulated networks without labs (NeurPIR's benchmark): {NEEDS_LABS}"},
                       generator="neuronbench.data.izhikevich_dataset:build", generator_kwargs={"size": size})


def _scale(name: str, summary: str, **sizes: object) -> DatasetInfo:
    (region,) = (t for t in _synthetic_tasks(name) if t.name == "region")
    return DatasetInfo(name=name, summary=summary, kind="simulated", modality="spikes", tasks=(region,),
                       citation="neuronbench's cost-measuring simulation (neuronbench.data.synthetic_scale)",
                       available=("waveforms", "behaviour"), generator="neuronbench.data.synthetic_scale:build",
                       generator_kwargs={"name": name, **sizes})


SYNTHETIC = _synthetic("default", "spikes")
SYNTHETIC_CALCIUM = _synthetic("default", "calcium")
SYNTHETIC_TINY = _synthetic("tiny", "spikes")
SYNTHETIC_TINY_CALCIUM = _synthetic("tiny", "calcium")
IZHIKEVICH = _izhikevich("izhikevich", "default", "NeurPIR's Izhikevich benchmark: 2,000 neurons in five firing modes "
                         "(RS, IB, CH, FS, LTS), 5 coupled networks driven by noisy input, 2 sessions each (spikes).")
IZHIKEVICH_TINY = _izhikevich("izhikevich-tiny", "tiny",
                              "A tiny (seconds to run) version of the Izhikevich benchmark, for tests.")
SYNTHETIC_SCALE = _scale("synthetic-scale", "Real-size spike data for measuring cost (scripts/bench_scale.py), not "
                         "for scores: 10 recordings x 400 units x 1 h of gamma renewal trains with region drives "
                         "(about 1 GB).", n_recordings=10, n_units=400, duration_s=3600.0)
SYNTHETIC_SCALE_TINY = _scale("synthetic-scale-tiny", "A tiny version of synthetic-scale (6 recordings x 24 units x "
                              "60 s), for tests.", n_recordings=6, n_units=24, duration_s=60.0)

BUGEON = DatasetInfo(
    name="bugeon",
    summary="Bugeon et al. 2022: mouse V1 2-photon calcium (dF/F), coppaFISH t-types, 4 mice, 17 sessions.",
    kind="recorded",
    modality="calcium",
    tasks=(
        Task("bugeon", "cell_class", "cell_class", ("EC", "IN"),
             "Excitatory (EC) vs inhibitory (IN: every non-EC t-type)"),
        Task("bugeon", "subclass", "subclass", ("Lamp5", "Pvalb", "Sncg", "Sst", "Vip"),
             "Five inhibitory subclasses (t-type prefix; EC, IN and Serpinf1 left out)"),
    ),
    citation="Bugeon et al. 2022, Nature; figshare 19448531 (doi 10.6084/m9.figshare.19448531)",
    available=("behaviour",),
    loader="neuronbench.data.bugeon",
    unsupported={CROSS_LAB: f"recorded in one lab (Bugeon et al. 2022): {NEEDS_LABS}"},
    # NuCLR's Bugeon protocol: SB028 held out; one development session per mouse
    published=DatasetProtocol(
        test_animals=("SB028",),
        dev_recordings=("sb025_20191004", "sb026_20191011", "sb028_20191106", "sb030_20200108"),
    ),
)

STEINMETZ = DatasetInfo(
    name="steinmetz",
    summary="Steinmetz et al. 2019: Neuropixels, 10 mice, 39 sessions, one recording per probe.",
    kind="recorded",
    modality="spikes",
    tasks=(Task("steinmetz", "region", "region", ("MB", "VIS", "TH", "HPF"), "Four region groups (NuCLR's)"),),
    citation="Steinmetz et al. 2019, Nature; figshare 9598406",
    available=("waveforms",),
    loader="neuronbench.data.steinmetz",
    unsupported={CROSS_LAB: f"recorded in one lab (Steinmetz et al. 2019): {NEEDS_LABS}"},
    published=DatasetProtocol(test_animals=("Cori", "Forssmann", "Hench")),  # NuCLR's inductive test mice
)

IBL = DatasetInfo(
    name="ibl",
    summary="IBL Brain Wide Map: Neuropixels, one recording per probe, 10 Cosmos regions.",
    kind="recorded",
    modality="spikes",
    tasks=(
        Task("ibl", "region", "region", COSMOS, "Ten Cosmos regions (void and root left out)"),
        # BrainWideBench TS3 unit_cosmos (`neuronbench.protocol.bwb`): its unit filter and held-out sessions
        Task("ibl", "region_bwb", "region", bwb.COSMOS_LABELS,
             "BWB TS3 unit_cosmos: 10 Cosmos regions, units > 1 Hz, its 29 held-out sessions (not comparable to "
             "region)", main_metric=bwb.METRIC, unit_filter=bwb.unit_filter),
    ),
    citation="IBL Brain Wide Map, OpenAlyx via ONE-api (the sessions of NuCLR's IBL experiments)",
    loader="neuronbench.data.ibl",
    task_protocols={"region_bwb": DatasetProtocol(test_sessions=bwb.eval_sessions())},
    labs="lab",
)

# NuCLR's Allen protocol: leave-one-session-out over the 16 labelled sessions (one mouse each)
ALLEN_EVALUATED = ("715093703", "719161530", "721123822", "746083955", "751348571", "755434585", "756029989",
                   "758798717", "760345702", "760693773", "762120172", "762602078", "773418906", "791319847",
                   "797828357", "798911424")
ALLEN = DatasetInfo(
    name="allen",
    summary="Allen Visual Coding Neuropixels: VIS units, opto-tagged Pvalb / Sst / Vip cell types.",
    kind="recorded",
    modality="spikes",
    tasks=(Task("allen", "cell_type", "cell_type", ("Pvalb", "Sst", "Vip"), "Opto-tagged Cre lines (VIS units)"),),
    citation="Siegle et al. 2021, Nature; DANDI 000021",
    available=("waveforms",),
    loader="neuronbench.data.allen",
    unsupported={CROSS_LAB: f"one institute's pipeline (Allen Institute, Siegle et al. 2021): {NEEDS_LABS}"},
    published=DatasetProtocol(eval_animals=ALLEN_EVALUATED),
)
