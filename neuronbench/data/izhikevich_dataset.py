"""The NeurPIR Izhikevich benchmark: 2,000 simulated neurons in five firing modes.

NeurPIR's population (Wu et al., ICLR 2025, Fig. 2: 400 Izhikevich (2003) neurons per
mode RS, IB, CH, FS, LTS, coupled and driven by noisy input) as the dataset
``"izhikevich"``, on the shared core `neuronbench.data.izhikevich`: 5 independent
networks ("animals") of 400 neurons, each recorded in 2 sessions of 60 s with blocks of
three input levels as stimulus epochs. The layout, network, input and simulation
choices, with their reasons: docs/simulation.md ("The Izhikevich benchmark").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neuronbench.data import izhikevich
from neuronbench.data.recording import Recording, neuron_id

DATASET = "izhikevich"
DATASET_TINY = "izhikevich-tiny"
LABEL_COLUMNS: tuple[str, ...] = ("firing_mode",)
FIRING_MODES: tuple[str, ...] = izhikevich.FIRING_MODES
EXCITATORY: tuple[str, ...] = ("RS", "IB", "CH")

# Random streams (each a Generator seeded by (seed, key, ...)): independent and stable.
_NETWORK, _CONDITIONS, _NOISE, _SPIKE_JITTER, _UNIT_ORDER = range(5)


@dataclass(frozen=True)
class IzhikevichDatasetConfig:
    """Every size and constant of the simulation (plain types, for the manifest)."""

    seed: int = 0
    n_animals: int = 5
    n_recordings: int = 2
    neurons_per_mode: int = 80  # per animal: 5 x 80 = 400; over 5 animals 400 per mode
    duration_s: float = 60.0
    warmup_s: float = 1.0
    w_exc: float = 0.5
    w_inh: float = 1.0
    jitter_a: float = 0.1
    jitter_b: float = 0.02
    jitter_c: float = 1.0
    jitter_d: float = 0.1
    base_sd: float = 1.0
    noise_sd: float = 5.0
    block_s: float = 10.0
    conditions: tuple[str, ...] = ("spontaneous", "weak", "strong")
    condition_levels: tuple[float, ...] = (0.0, 2.0, 4.0)
    dt_ms: float = 1.0


def tiny_config(seed: int = 0) -> IzhikevichDatasetConfig:
    """3 networks x 2 sessions of 30 neurons (6 per mode), 20 s: a few seconds."""
    return IzhikevichDatasetConfig(seed=seed, n_animals=3, neurons_per_mode=6, duration_s=20.0, block_s=4.0)


class NetworkCopies:
    """`izhikevich.MatrixCoupling` for many independent copies of a few networks.

    The simulation's columns are ``n_copies`` blocks of ``n`` neurons; copy c is an
    instance of network ``network_of_copy[c]`` with weights ``weights[k]`` (k, post, pre
    as in MatrixCoupling: neuron i receives ``W[i, j]`` after j spikes). The currents
    equal those of MatrixCoupling on the block-diagonal matrix of all copies, without its
    (n_copies n)^2 memory and per-step cost.
    """

    def __init__(self, weights: np.ndarray, network_of_copy: np.ndarray) -> None:
        w = np.asarray(weights, dtype=np.float32)
        if w.ndim != 3 or w.shape[1] != w.shape[2]:
            raise ValueError(f"weights: expected shape (networks, n, n), got {w.shape}")
        self.n = w.shape[1]
        self.network_of_copy = np.asarray(network_of_copy, dtype=np.int64)
        self.n_copies = self.network_of_copy.size
        self._pre_rows = np.ascontiguousarray(w.transpose(0, 2, 1))  # [k, j] = what j sends

    def reset(self) -> None:
        pass

    def current(self, fired: np.ndarray) -> np.ndarray | None:
        if fired.size == 0:
            return None
        copy, j = np.divmod(fired, self.n)
        rows = self._pre_rows[self.network_of_copy[copy], j]  # (spikes, n)
        one_hot = np.zeros((self.n_copies, fired.size), dtype=np.float32)
        one_hot[copy, np.arange(fired.size)] = 1.0
        return (one_hot @ rows).ravel()


def _rng(config: IzhikevichDatasetConfig, key: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, key, *more])


def _network(config: IzhikevichDatasetConfig, animal: int
             ) -> tuple[np.ndarray, izhikevich.IzhikevichParameters, np.ndarray, np.ndarray]:
    """(mode index per neuron, parameters, input offset, weights (post, pre)) of one
    network; neurons in a random order."""
    rng = _rng(config, _NETWORK, animal)
    n = config.neurons_per_mode * len(FIRING_MODES)
    mode = rng.permutation(np.repeat(np.arange(len(FIRING_MODES)), config.neurons_per_mode))
    names = [FIRING_MODES[k] for k in mode]
    params = izhikevich.jitter_parameters(izhikevich.mode_parameters(names), rng, a_sd=config.jitter_a,
                                          b_sd=config.jitter_b, c_sd=config.jitter_c, d_sd=config.jitter_d)
    base = config.base_sd * rng.standard_normal(n)
    excitatory = np.isin(names, EXCITATORY)
    weights = rng.random((n, n)) * (1000.0 / n)
    weights[:, excitatory] *= config.w_exc
    weights[:, ~excitatory] *= -config.w_inh
    np.fill_diagonal(weights, 0.0)
    return mode, params, base, weights


def _conditions(config: IzhikevichDatasetConfig, rec_index: int) -> tuple[np.ndarray, pd.DataFrame]:
    """(input level per block, epochs table) of one session."""
    n_blocks = int(math.ceil(config.duration_s / config.block_s))
    which = _rng(config, _CONDITIONS, rec_index).integers(0, len(config.conditions), n_blocks)
    start = np.arange(n_blocks) * config.block_s
    epochs = pd.DataFrame({"start": start, "stop": np.minimum(start + config.block_s, config.duration_s),
                           "stimulus": [config.conditions[k] for k in which]})
    return np.asarray(config.condition_levels, dtype=np.float32)[which], epochs


def simulate(config: IzhikevichDatasetConfig = IzhikevichDatasetConfig(), dataset: str = DATASET
             ) -> list[Recording]:
    """The recordings of the dataset, with labels (see the module docstring)."""
    if len(config.conditions) != len(config.condition_levels):
        raise ValueError("conditions and condition_levels need the same length")
    networks = [_network(config, a) for a in range(config.n_animals)]
    n = config.neurons_per_mode * len(FIRING_MODES)
    sessions = [(a, s) for a in range(config.n_animals) for s in range(config.n_recordings)]
    levels, epochs = zip(*(_conditions(config, r) for r in range(len(sessions))))
    n_copies = len(sessions)
    animal_of_copy = np.array([a for a, _ in sessions])

    dt = config.dt_ms
    warm = int(round(config.warmup_s * 1000.0 / dt))
    n_steps = int(round(config.duration_s * 1000.0 / dt))
    block_steps = int(round(config.block_s * 1000.0 / dt))
    params = izhikevich.IzhikevichParameters(
        *(np.concatenate([getattr(networks[a][1], k) for a in animal_of_copy]) for k in "abcd"))
    base = np.concatenate([networks[a][2] for a in animal_of_copy]).astype(np.float32)
    level = np.stack(levels)  # (copies, blocks)
    noise = izhikevich.GaussianNoise(_rng(config, _NOISE), np.full(n_copies * n, config.noise_sd))

    def current(k0: int, m: int) -> np.ndarray:
        block = np.clip((np.arange(k0, k0 + m) - warm) // block_steps, 0, level.shape[1] - 1)
        out = noise(m)
        out += base
        out += np.repeat(level[:, block].T, n, axis=1)  # the warm-up runs in the first condition
        return out

    coupling = NetworkCopies(np.stack([net[3] for net in networks]), animal_of_copy)
    raster = izhikevich.simulate(params, warm + n_steps, current, dt_ms=dt, coupling=coupling)

    # unit u of session r is network neuron unit_order[r][u]: renumber columns by unit
    unit_order = [_rng(config, _UNIT_ORDER, r).permutation(n) for r in range(n_copies)]
    unit_of_column = np.concatenate([r * n + np.argsort(order) for r, order in enumerate(unit_order)])
    keep = raster.steps >= warm
    unit, step = unit_of_column[raster.neurons[keep]], raster.steps[keep] - warm
    order = np.lexsort((step, unit))  # by (session, unit), then time
    unit, step = unit[order], step[order]
    times = (step + _rng(config, _SPIKE_JITTER).random(step.size)) * (dt / 1000.0)
    bounds = np.searchsorted(unit, np.arange(n_copies * n + 1))

    recordings = []
    for r, (a, s) in enumerate(sessions):
        mode, order_u = networks[a][0], unit_order[r]
        first, last = bounds[r * n], bounds[(r + 1) * n]
        name, units = f"m{a}-s{s}", [f"u{u:03d}" for u in range(n)]
        ids = [neuron_id(dataset, name, u) for u in units]
        neurons = pd.DataFrame({"neuron_id": ids, "unit": units, "track_id": [f"m{a}/n{i:03d}" for i in order_u],
                                "x": np.nan, "y": np.nan, "z": np.nan})
        labels = pd.DataFrame({"neuron_id": ids, "firing_mode": [FIRING_MODES[k] for k in mode[order_u]]})
        rec = Recording(dataset=dataset, animal=f"m{a}", recording=name, modality="spikes", neurons=neurons,
                        t_start=0.0, t_stop=float(config.duration_s), epochs=epochs[r].copy(),
                        spike_times=times[first:last],
                        spike_offsets=(bounds[r * n:(r + 1) * n + 1] - first).astype(np.int64), labels=labels)
        recordings.append(rec.validate())
    return recordings


def build(root: Path | None = None, *, force: bool = False, size: str = "default") -> list[Path]:
    """Simulate and write ``izhikevich`` (``size="default"``) or ``izhikevich-tiny``
    (``size="tiny"``) under ``root`` once; later calls read the cache (regenerated when
    the config or the simulation code changed)."""
    import sys

    from neuronbench.data.simulated import generator_params, is_current, write_simulated
    from neuronbench.data.store import data_root, remove_stale

    if size not in ("default", "tiny"):
        raise ValueError(f"size: expected 'default' or 'tiny', got {size!r}")
    config = IzhikevichDatasetConfig() if size == "default" else tiny_config()
    name = DATASET if size == "default" else DATASET_TINY
    path = (Path(root) if root is not None else data_root()) / name
    params = generator_params(__name__, (izhikevich, sys.modules[__name__]), config)
    remove_stale(path.parent)
    if not force and is_current(path, params):
        return [path]
    write_simulated(path, name, simulate(config, name), label_columns=LABEL_COLUMNS, params=params,
                    description="NeurPIR's Izhikevich benchmark: five firing modes in coupled networks.")
    return [path]
