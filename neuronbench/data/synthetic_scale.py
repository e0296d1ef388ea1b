"""``synthetic-scale``: cheap spike data of real size, for measuring cost, never for scores.

The embedded ``synthetic`` dataset simulates Izhikevich neurons at 1 ms steps: about 20 s
of CPU for 18 recordings x 120 units x 300 s, far too slow for the sizes of IBL's
brain-wide map (hundreds of insertions of about an hour with hundreds of units). This
generator makes data of that shape in about a second per recording-hour of 400 units, so
that `scripts/bench_scale.py` can measure how each stage of the pipeline grows with the
size of a dataset. Its labels are a workload, not a benchmark: no leaderboard is built on it.

Model (per recording; sizes are parameters: recordings, units per recording, duration)
    Units belong to one of `REGIONS` (equal shares, in a random order: a probe crossing
    four regions). Each region has a slow shared drive d_g(t), a stationary
    Ornstein-Uhlenbeck process of unit variance (time constant ``drive_tau_s``) on a
    ``dt_s`` grid. Unit i of region g fires as a gamma renewal process of shape k_i
    (time-rescaled: gamma intervals of mean 1 in operational time, mapped back through
    the cumulative intensity) with intensity
    ``rate_i * exp(gain_i * d_g(t) - gain_i**2 / 2)`` (mean rate ``rate_i``).
    - ``rate_i`` log-normal, median ``median_rate_hz`` (4 Hz, mean ~9 Hz) x the region's factor
      (`REGION_RATE_FACTOR`: x0.56 HPF, x2.1 TH, x1.4 MB relative to VIS, the median-rate
      ratios `neuronbench.data.synthetic` takes from the Allen Neuropixels survey,
      Siegle et al. 2021 Nature 592:86), log-sd ``rate_log_sd`` = 1.1 (rates spanning
      about two orders of magnitude within a region, Buzsaki & Mizuseki 2014 Nat Rev
      Neurosci), clipped to [0.05, 80] Hz.
    - ``k_i`` log-uniform in ``gamma_shape`` = [0.5, 3]: ISI coefficients of variation
      0.6-1.4 around the Poisson value 1 of cortical spike trains (Softky & Koch 1993
      J Neurosci).
    - ``gain_i`` uniform in ``drive_gain``: how strongly the unit follows its region.
    - A peak-channel waveform per unit (`neuronbench.data.synthetic.waveform_shapes`,
      trough-to-peak 0.35-0.8 ms, 30 kHz, 90 samples), so that methods reading
      waveforms (NEMO) run.
    Every recording has three stimulus epochs of equal length (spontaneous, gratings,
    scenes) in a random order and behaviour (running speed, pupil) at 10 Hz, as the
    other datasets: methods that read epochs or behaviour do their real work.
    Recordings go to animals ``a0``, ``a1``, ... (``recordings_per_animal`` each), units are
    not tracked across recordings.

Deliberately not calibrated beyond that: nothing here is tuned to make a label
decodable or hard. The drive makes region visible in co-variation only.

Streaming: `iter_recordings` draws each recording from its own seed (`recording`), so
`build` writes one recording at a time (`neuronbench.data.store.write_dataset` consumes
an iterator): memory is bounded by one recording whatever the number of recordings.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from neuronbench.data.recording import Recording, neuron_id
from neuronbench.data.synthetic import WAVEFORM_RATE, waveform_shapes

DATASET = "synthetic-scale"
REGIONS: tuple[str, ...] = ("VIS", "HPF", "TH", "MB")
REGION_RATE_FACTOR: tuple[float, ...] = (1.0, 0.56, 2.1, 1.4)
LABEL_COLUMNS: tuple[str, ...] = ("region",)
STIMULI: tuple[str, ...] = ("spontaneous", "gratings", "scenes")
BEHAVIOUR_RATE_HZ = 10.0


@dataclass(frozen=True)
class ScaleConfig:
    """Sizes and parameters of a `synthetic-scale` dataset (see the module docstring)."""

    n_recordings: int = 10
    n_units: int = 400
    duration_s: float = 3600.0
    recordings_per_animal: int = 2
    seed: int = 0
    dt_s: float = 0.05  # grid of the drives and of the cumulative intensity
    drive_tau_s: float = 1.0
    drive_gain: tuple[float, float] = (0.2, 0.8)
    median_rate_hz: float = 4.0
    rate_log_sd: float = 1.1
    gamma_shape: tuple[float, float] = (0.5, 3.0)

    def __post_init__(self) -> None:
        for field in ("n_recordings", "n_units", "recordings_per_animal"):
            if int(getattr(self, field)) < 1:
                raise ValueError(f"synthetic-scale: {field} must be >= 1, got {getattr(self, field)}")
        if not self.duration_s > 10 * self.dt_s:
            raise ValueError(f"synthetic-scale: duration_s must be > {10 * self.dt_s} s, got {self.duration_s}")


def tiny_config(seed: int = 0) -> ScaleConfig:
    """6 recordings (3 animals) x 24 units x 60 s: for tests."""
    return ScaleConfig(n_recordings=6, n_units=24, duration_s=60.0, seed=seed)


def _ou(rng: np.random.Generator, n_steps: int, n: int, tau: float, dt: float) -> np.ndarray:
    """(n_steps, n) stationary unit-variance Ornstein-Uhlenbeck samples."""
    k = math.exp(-dt / tau)
    w = rng.standard_normal((n_steps, n))
    w[1:] *= math.sqrt(1.0 - k * k)
    return lfilter([1.0], [1.0, -k], w, axis=0)


def gamma_renewal(rng: np.random.Generator, cum_intensity: np.ndarray, grid: np.ndarray, shape: float) -> np.ndarray:
    """Spike times of a gamma renewal process of ``shape`` with the time-varying
    intensity whose integral is ``cum_intensity`` at the times ``grid`` (time rescaling:
    gamma intervals of mean 1 in operational time, mapped back by linear interpolation)."""
    total = float(cum_intensity[-1])
    n = int(total + 6.0 * math.sqrt(total / shape + 1.0) + 10)
    ops = np.cumsum(rng.gamma(shape, 1.0 / shape, n))
    while ops[-1] < total:  # rare: draw more
        ops = np.concatenate([ops, ops[-1] + np.cumsum(rng.gamma(shape, 1.0 / shape, n))])
    ops = ops[ops < total]
    return np.interp(ops, cum_intensity, grid)


def recording(config: ScaleConfig, index: int) -> Recording:
    """Recording ``index`` of the dataset, with labels (drawn from its own seed, so any
    recording can be made without the others)."""
    rng = np.random.default_rng([config.seed, index])
    n, duration, dt = config.n_units, float(config.duration_s), config.dt_s
    rec_id = f"s{index:04d}"
    animal = f"a{index // config.recordings_per_animal}"
    region = rng.permutation(np.arange(n) % len(REGIONS))
    rate = np.clip(config.median_rate_hz * np.asarray(REGION_RATE_FACTOR)[region]
                   * np.exp(config.rate_log_sd * rng.standard_normal(n)), 0.05, 80.0)
    lo, hi = config.gamma_shape
    shape = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
    gain = rng.uniform(*config.drive_gain, n)

    n_steps = int(math.ceil(duration / dt))
    grid = np.minimum(np.arange(n_steps + 1) * dt, duration)
    drive = _ou(rng, n_steps, len(REGIONS), config.drive_tau_s, dt)  # (steps, regions)
    trains = []
    for i in range(n):
        lam = rate[i] * np.exp(gain[i] * drive[:, region[i]] - gain[i] ** 2 / 2)
        cum = np.concatenate([[0.0], np.cumsum(lam * np.diff(grid))])
        trains.append(gamma_renewal(rng, cum, grid, shape[i]))
    spike_times = np.concatenate(trains)
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in trains])]).astype(np.int64)
    del trains

    units = [f"u{i:04d}" for i in range(n)]
    ids = [neuron_id(DATASET, rec_id, u) for u in units]
    third = duration / 3
    order = rng.permutation(len(STIMULI))
    epochs = pd.DataFrame({"start": np.arange(3) * third, "stop": np.r_[np.arange(1, 3) * third, duration],
                           "stimulus": [STIMULI[j] for j in order]})
    t_beh = np.arange(0.0, duration, 1.0 / BEHAVIOUR_RATE_HZ)
    beh = _ou(rng, len(t_beh), 2, 5.0, 1.0 / BEHAVIOUR_RATE_HZ)
    behaviour = pd.DataFrame({"time": t_beh, "running_speed": 10.0 * np.log1p(np.exp(2.0 * beh[:, 0] - 1.0)),
                              "pupil": 0.5 + 0.1 * beh[:, 1]})
    trough = rng.uniform(0.35, 0.8, n)
    waveforms = waveform_shapes(trough, rng.uniform(0.2, 0.6, n), 80.0 * np.exp(0.4 * rng.standard_normal((n, 1))), rng)
    return Recording(
        dataset=DATASET, animal=animal, recording=rec_id, modality="spikes",
        neurons=pd.DataFrame({"neuron_id": ids, "unit": units, "track_id": None, "x": np.nan, "y": np.nan, "z": np.nan}),
        t_start=0.0, t_stop=duration, epochs=epochs, spike_times=spike_times, spike_offsets=offsets,
        waveforms=waveforms, waveform_rate=WAVEFORM_RATE, behaviour=behaviour,
        labels=pd.DataFrame({"neuron_id": ids, "region": np.asarray(REGIONS, dtype=object)[region]}),
    )


def iter_recordings(config: ScaleConfig, dataset: str = DATASET) -> Iterator[Recording]:
    """The dataset's recordings one at a time, under the name ``dataset``."""
    from neuronbench.data.simulated import renamed

    for index in range(config.n_recordings):  # never bound to a name: freed before the next one is made
        yield recording(config, index) if dataset == DATASET else renamed(recording(config, index), dataset)


def build(root: Path | None = None, *, force: bool = False, name: str = DATASET, n_recordings: int = 10,
          n_units: int = 400, duration_s: float = 3600.0, recordings_per_animal: int = 2, seed: int = 0
          ) -> list[Path]:
    """Write the dataset ``name`` of these sizes under ``root`` (default: the data
    folder), streaming one recording at a time; nothing is done if it is already there
    with the same parameters (and generator source). Built aside, swapped in on success."""
    from neuronbench.data import synthetic, synthetic_scale
    from neuronbench.data.simulated import generator_params, is_current, write_simulated
    from neuronbench.data.store import data_root, remove_stale

    root = Path(root) if root is not None else data_root()
    remove_stale(root)
    config = ScaleConfig(n_recordings=n_recordings, n_units=n_units, duration_s=duration_s,
                         recordings_per_animal=recordings_per_animal, seed=seed)
    params = generator_params("neuronbench.data.synthetic_scale", (synthetic_scale, synthetic), config)
    path = root / name
    if force or not is_current(path, params):
        write_simulated(path, name, iter_recordings(config, name), label_columns=LABEL_COLUMNS, params=params,
                        description=f"synthetic-scale: {n_recordings} recordings x {n_units} units x {duration_s:g} s "
                                    "(for measuring cost; see neuronbench.data.synthetic_scale)")
    return [path]

