"""The embedded default dataset: a seeded, simulated, multi-animal population with known
cell types and regions, seen as spikes (Neuropixels-like) and as calcium (2-photon-like).

One simulation (`simulate`) produces both datasets: ``"synthetic"`` (spike times plus a
peak-channel waveform per unit) and ``"synthetic-calcium"`` (the same spikes through a
GCaMP6s-like indicator, dF/F at ~4.3 Hz, no waveforms), bit-identical for the same
`SyntheticConfig`. Cell type lives in the Izhikevich (2003) dynamics and the waveform;
region in slow co-variation, small single-neuron shifts and population rhythms.
The design, every parameter's published source (cited) and the measured placement of
each label's information: docs/simulation.md.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.special import ndtri
from scipy.stats import rankdata

from neuronbench.data import izhikevich
from neuronbench.data.recording import Recording, neuron_id

LABEL_COLUMNS: tuple[str, ...] = ("cell_class", "subclass", "region")
LAB_COLUMN = "lab"  # each neuron's lab: acquisition, never biology
DATASET_SPIKES = "synthetic"
DATASET_CALCIUM = "synthetic-calcium"
SUBCLASSES: tuple[str, ...] = izhikevich.FIRING_MODES
CELL_CLASS: dict[str, str] = {"RS": "excitatory", "IB": "excitatory", "CH": "excitatory",
                              "FS": "inhibitory", "LTS": "inhibitory"}
STIMULI: tuple[str, ...] = ("spontaneous", "gratings", "scenes")
WAVEFORM_SAMPLES = 90
WAVEFORM_RATE = 30000.0
N_ORIENTATIONS = 8
N_SCENES = 50

# Random streams (each a Generator seeded by (seed, key)): independent and stable.
(_POOL, _STIM_LIBRARY, _RECORDING, _LATENT, _NOISE, _SPIKE_JITTER, _WAVEFORM, _CALCIUM, _PRIVATE, _RHYTHM,
 _LAB, _CONTAMINATION) = range(12)
VERSION = 3  # the data version: records and caches of another version are never mixed with these
RHYTHM_STATES: tuple[str, ...] = ("running", "gratings", "none")
THETA_VECTOR_LENGTH = 0.25
"""Target spike-phase vector length of the median theta-locked HPF unit while running
(our choice inside the 0.1-0.3 of CA1 cells, Mizuseki et al. 2009, Neuron 64:267); the
tests and docs/simulation.md read this one number."""

# Waveform shape per subclass: trough-to-peak mean and sd (ms), peak/trough ratio.
_WAVEFORM_SHAPE: dict[str, tuple[float, float, float]] = {
    "RS": (0.70, 0.15, 0.25), "IB": (0.70, 0.15, 0.25), "CH": (0.70, 0.15, 0.25),
    "FS": (0.35, 0.08, 0.45), "LTS": (0.60, 0.13, 0.30),
}


@dataclass(frozen=True)
class SyntheticConfig:
    """Every size, rate and model constant of the simulation (plain types only, so
    ``dataclasses.asdict`` can go into a manifest). The default is the embedded default
    dataset: 6 animals x 3 recordings, pools of 160 neurons (120 per recording), 300 s."""

    seed: int = 0
    # sizes
    n_animals: int = 6
    n_recordings: int = 3
    pool_size: int = 160
    duration_s: float = 300.0
    regions: tuple[str, ...] = ("VIS", "HPF", "TH", "MB")
    # cell-type mix per region (docs/simulation.md, "Cell types per region")
    inhibitory_fraction: tuple[float, ...] = (0.18, 0.11, 0.05, 0.30)
    fs_of_inhibitory: float = 0.57  # PV : SST = 40 : 30 (Rudy et al. 2011)
    excitatory_mix: tuple[float, ...] = (0.40, 0.15, 0.15)  # RS IB CH, our choice
    # region drive: share of the stimulus and of running in each region's latent
    stimulus_share: tuple[float, ...] = (0.8, 0.1, 0.5, 0.1)
    running_share: tuple[float, ...] = (0.2, 0.1, 0.2, 0.6)
    tau_slow_s: float = 4.0
    tau_fast_s: float = 0.2
    slow_share: float = 0.5
    region_share: float = 0.10  # variance fraction of a neuron's drive shared with its region
    brainwide_share: float = 0.12  # variance fraction shared with every region (arousal, movement)
    brainwide_tau_s: float = 4.0  # timescale of its own part (slower than 1 s: Stringer et al. 2019)
    brainwide_running: float = 0.5  # variance fraction of the brain-wide latent that is running
    private_dt_ms: float = 50.0
    # intrinsic heterogeneity: a continuum within each cell class, then jitter
    continuum_sd: float = 0.4  # sd of a neuron's position between neighbouring modes
    jitter_a: float = 0.4
    jitter_b: float = 0.05
    jitter_c: float = 5.0
    jitter_d: float = 0.5
    refractory_ms: float = 1.0  # absolute refractory period (dead time)
    min_rate_hz: float = 0.1  # units below this rate are dropped, as unit QC would
    # labs: consecutive animals share a lab (`lab_of`); acquisition differences only
    n_labs: int = 3
    lab_observed_fraction: tuple[float, ...] = (0.65, 0.75, 0.85)  # unit yield
    lab_contamination: tuple[float, ...] = (0.01, 0.03, 0.06)  # other units' spikes, fraction of the rate
    lab_amplitude_sd: float = 0.15  # log-normal sigma of a lab's waveform amplitude factor
    lab_noise_sd: float = 0.15  # log-normal sigma of a lab's noise factor (waveform and calcium)
    lab_width_sd: float = 0.05  # log-normal sigma of a lab's trough-to-peak factor (filtering)
    # input current: neuron level, animal level, recording level
    base_mean: float = 0.0
    base_sd: float = 1.0
    gain_mean: float = 2.0
    gain_sd: float = 0.3  # log-normal sigma
    noise_mean: float = 3.0
    noise_sd: float = 0.2  # log-normal sigma
    animal_base_sd: float = 0.4
    animal_gain_sd: float = 0.2  # log-normal sigma
    animal_noise_sd: float = 0.15  # log-normal sigma
    recording_base_sd: float = 0.3
    recording_gain_sd: float = 0.1  # log-normal sigma
    coupling_weight: float = 2.0
    coupling_tau_ms: float = 20.0
    # region signatures in single neurons (sources: docs/simulation.md)
    region_base_shift: tuple[float, ...] = (0.0, -1.6, 1.0, 0.7)  # input offset: rate x1, ~x0.5, ~x2, ~x1.5
    region_reset_shift_mv: tuple[float, ...] = (0.0, 2.0, 4.0, 0.0)  # c + shift: burst propensity
    region_width_scale: tuple[float, ...] = (1.0, 1.1, 0.8, 0.9)  # waveform trough-to-peak factor
    # region rhythms (sources: docs/simulation.md)
    rhythm_hz: tuple[float, ...] = (30.0, 7.5, 0.0, 0.0)  # VIS gamma, HPF theta; TH, MB none (awake)
    rhythm_hz_sd: tuple[float, ...] = (3.0, 0.5, 0.0, 0.0)  # slow wander of the frequency
    rhythm_state: tuple[str, ...] = ("gratings", "running", "none", "none")
    rhythm_locked_fraction: tuple[float, ...] = (0.5, 0.8, 0.0, 0.0)
    rhythm_amplitude: tuple[float, ...] = (0.10, 0.24, 0.0, 0.0)  # in units of a neuron's gain
    rhythm_amplitude_sd: float = 0.5  # log-normal sigma of the per-neuron locking strength
    rhythm_fs_factor: float = 1.5  # FS units lock more deeply (Csicsvari et al. 1999, Fig. 5)
    theta_quiet_fraction: float = 0.3  # theta amplitude at rest relative to running
    # stimulus and behaviour
    grating_s: float = 2.0
    grating_tf_hz: float = 1.0
    scene_s: float = 0.25
    behaviour_rate_hz: float = 10.0
    # calcium
    frame_period_s: float = 0.233
    calcium_rise_s: float = 0.05
    calcium_decay_s: float = 1.0
    calcium_amplitude: float = 0.15  # dF/F of one spike (median)
    calcium_saturation: float = 20.0  # spikes-worth of kernel at half saturation
    calcium_noise: float = 0.1  # dF/F noise per frame (median)
    # numerics
    dt_ms: float = 1.0
    latent_dt_ms: float = 5.0
    segment_s: float = 30.0
    warmup_s: float = 1.0


def tiny_config(seed: int = 0) -> SyntheticConfig:
    """A tiny population for tests: 3 animals x 2 recordings, 30 neurons per recording,
    60 s, generated in about a second."""
    return SyntheticConfig(seed=seed, n_animals=3, n_recordings=2, pool_size=40, duration_s=60.0,
                           segment_s=10.0)


# ----------------------------------------------------------------------------- helpers

def _rng(config: SyntheticConfig, key: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, key, *more])


def _lowpass(x: np.ndarray, tau: float, dt: float) -> np.ndarray:
    """First-order low-pass (unit DC gain) along axis 0, starting from x[0]."""
    k = math.exp(-dt / tau)
    zi = (k * x[:1]).reshape((1,) + x.shape[1:])
    return lfilter([1.0 - k], [1.0, -k], x, axis=0, zi=zi)[0]


def _ou(rng: np.random.Generator, shape: tuple[int, ...], tau: float, dt: float, dtype: type = np.float64
        ) -> np.ndarray:
    """Stationary unit-variance Ornstein-Uhlenbeck samples (AR(1)) along axis 0."""
    k = math.exp(-dt / tau)
    w = rng.standard_normal(shape, dtype=dtype)
    w[1:] *= dtype(math.sqrt(1.0 - k * k))
    return lfilter(np.ones(1, dtype), np.array([1.0, -k], dtype), w, axis=0)


def _gaussianize(x: np.ndarray) -> np.ndarray:
    """Rank-transform a 1-D signal to standard normal marginals (ties keep one value)."""
    ranks = rankdata(x, method="average")
    return ndtri((ranks - 0.5) / x.size)


def _allocate(n: int, fractions: np.ndarray) -> np.ndarray:
    """Integer counts summing to n, proportional to fractions (largest remainder)."""
    raw = n * fractions / fractions.sum()
    counts = np.floor(raw).astype(int)
    counts[np.argsort(counts - raw)[: n - counts.sum()]] += 1
    return counts


# Each cell class's modes in order along a continuum of parameters (Scala et al. 2021,
# Nature 598:144: types within a family form a continuum, families do not overlap).
_CONTINUA: tuple[tuple[str, ...], ...] = (("RS", "IB", "CH"), ("FS", "LTS"))


def subclass_fractions(config: SyntheticConfig) -> np.ndarray:
    """(regions, subclasses) fraction of each subclass among a region's neurons."""
    inhibitory = np.asarray(config.inhibitory_fraction, dtype=np.float64)[:, None]
    excitatory = np.asarray(config.excitatory_mix, dtype=np.float64)
    inh_mix = np.array([config.fs_of_inhibitory, 1.0 - config.fs_of_inhibitory])
    return np.hstack([(1.0 - inhibitory) * excitatory / excitatory.sum(), inhibitory * inh_mix])


def continuum_parameters(subclass: np.ndarray, rng: np.random.Generator, sd: float) -> izhikevich.IzhikevichParameters:
    """Izhikevich parameters of each neuron at a random position along its class's
    continuum of modes (`_CONTINUA`): position = its mode's index + N(0, sd), clipped to
    the continuum, parameters interpolated linearly between neighbouring modes (a in
    log space), so that the modes of a class overlap and the classes do not."""
    out = np.empty((subclass.size, 4))
    for modes in _CONTINUA:
        member = np.isin(subclass, [SUBCLASSES.index(m) for m in modes])
        k = np.array([modes.index(SUBCLASSES[i]) for i in subclass[member]], dtype=np.float64)
        position = np.clip(k + sd * rng.standard_normal(k.size), 0.0, len(modes) - 1.0)
        table = np.array([izhikevich.CANONICAL_PARAMETERS[m] for m in modes])
        table[:, 0] = np.log(table[:, 0])
        grid = np.arange(len(modes))
        out[member] = np.stack([np.interp(position, grid, table[:, j]) for j in range(4)], axis=1)
    out[:, 0] = np.exp(out[:, 0])
    return izhikevich.IzhikevichParameters(*out.T)


@dataclass(frozen=True)
class _Lab:
    """A lab's acquisition factors (never biology)."""

    observed_fraction: float
    contamination: float
    amplitude: float
    noise: float
    width: float


def _labs(config: SyntheticConfig) -> list[_Lab]:
    rng = _rng(config, _LAB)
    factors = np.exp(np.array([config.lab_amplitude_sd, config.lab_noise_sd, config.lab_width_sd])[:, None]
                     * rng.standard_normal((3, config.n_labs)))
    return [_Lab(config.lab_observed_fraction[k], config.lab_contamination[k], *factors[:, k])
            for k in range(config.n_labs)]


def lab_name(k: int) -> str:
    return f"lab{k}"


def lab_of(config: SyntheticConfig, animal: int) -> int:
    """The lab that records an animal: consecutive animals in equal blocks (m0, m1 in
    lab0, ... by default). Blocks rather than round robin so that the inductive
    setting's held-out animals (hashed, `neuronbench.protocol.settings`) are not by
    construction one whole lab: the inductive and cross-lab settings must differ."""
    return animal * config.n_labs // max(config.n_animals, config.n_labs)


@dataclass
class _Pool:
    """The neurons of one animal (intrinsic, stable across its recordings)."""

    region: np.ndarray  # (P,) region index
    subclass: np.ndarray  # (P,) subclass index
    params: izhikevich.IzhikevichParameters
    base: np.ndarray
    gain: np.ndarray
    noise: np.ndarray
    trough_to_peak: np.ndarray  # ms
    peak_ratio: np.ndarray
    ca_amplitude: np.ndarray
    ca_noise: np.ndarray
    rhythm_weight: np.ndarray  # amplitude of the region rhythm in the input (0: not locked)


def _make_pool(config: SyntheticConfig, animal: int) -> _Pool:
    rng = _rng(config, _POOL, animal)
    n_reg = len(config.regions)
    p = config.pool_size
    region = rng.permutation(np.arange(p) % n_reg)
    subclass = np.empty(p, dtype=np.int64)
    fractions = subclass_fractions(config)
    for g in range(n_reg):
        idx = np.flatnonzero(region == g)
        subclass[idx] = rng.permutation(np.repeat(np.arange(len(SUBCLASSES)), _allocate(idx.size, fractions[g])))
    modes = [SUBCLASSES[k] for k in subclass]
    params = izhikevich.jitter_parameters(continuum_parameters(subclass, rng, config.continuum_sd), rng,
                                          a_sd=config.jitter_a, b_sd=config.jitter_b, c_sd=config.jitter_c,
                                          d_sd=config.jitter_d)
    params = dataclasses.replace(params, c=params.c + np.asarray(config.region_reset_shift_mv)[region])
    animal_base = config.animal_base_sd * rng.standard_normal()
    animal_gain = math.exp(config.animal_gain_sd * rng.standard_normal())
    animal_noise = math.exp(config.animal_noise_sd * rng.standard_normal())
    shape = np.array([_WAVEFORM_SHAPE[m] for m in modes])
    width = np.asarray(config.region_width_scale)[region]
    base = (animal_base + config.base_mean + np.asarray(config.region_base_shift)[region]
            + config.base_sd * rng.standard_normal(p))
    gain = animal_gain * config.gain_mean * np.exp(config.gain_sd * rng.standard_normal(p))
    noise = animal_noise * config.noise_mean * np.exp(config.noise_sd * rng.standard_normal(p))
    trough_to_peak = np.maximum(width * (shape[:, 0] + shape[:, 1] * rng.standard_normal(p)), 0.15)
    peak_ratio = shape[:, 2] * np.exp(0.2 * rng.standard_normal(p))
    ca_amplitude = config.calcium_amplitude * np.exp(0.3 * rng.standard_normal(p))
    ca_noise = config.calcium_noise * np.exp(0.4 * rng.standard_normal(p))
    locked = rng.random(p) < np.asarray(config.rhythm_locked_fraction)[region]
    strength = np.exp(config.rhythm_amplitude_sd * rng.standard_normal(p) - config.rhythm_amplitude_sd**2 / 2)
    strength *= np.where(subclass == SUBCLASSES.index("FS"), config.rhythm_fs_factor, 1.0)
    return _Pool(region=region, subclass=subclass, params=params, base=base, gain=gain, noise=noise,
                 trough_to_peak=trough_to_peak, peak_ratio=peak_ratio, ca_amplitude=ca_amplitude,
                 ca_noise=ca_noise,
                 rhythm_weight=locked * np.asarray(config.rhythm_amplitude)[region] * strength)


def _stimulus_library(config: SyntheticConfig) -> dict[str, np.ndarray]:
    """Response values of every grating orientation and scene (shared by all recordings)."""
    rng = _rng(config, _STIM_LIBRARY)
    return {
        "grating_level": rng.standard_normal(N_ORIENTATIONS),
        "grating_amplitude": np.exp(0.5 * rng.standard_normal(N_ORIENTATIONS)),
        "scene_slow": rng.standard_normal(N_SCENES),
        "scene_fast": rng.standard_normal(N_SCENES),
    }


def _recording_latents(config: SyntheticConfig, rec_index: int, library: dict[str, np.ndarray]
                       ) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Latent drive (T_L, n_regions + 1) of one recording (each region's, then the
    brain-wide one), its epochs, its behaviour and its running state (T_L,) in [0, 1]
    (0.5 at a running speed of ~4 cm/s). Every column has unit variance."""
    rng = _rng(config, _LATENT, rec_index)
    dt = config.latent_dt_ms / 1000.0
    n_lat = int(math.ceil(config.duration_s / dt))
    n_reg = len(config.regions)
    p = config.slow_share
    ts, tf = config.tau_slow_s, config.tau_fast_s

    def two_band(cols: int) -> tuple[np.ndarray, np.ndarray]:
        return _ou(rng, (n_lat, cols), ts, dt), _ou(rng, (n_lat, cols), tf, dt)

    slow, fast = two_band(n_reg)
    private = math.sqrt(p) * slow + math.sqrt(1 - p) * fast
    slow, fast = two_band(n_reg)
    spontaneous = math.sqrt(p) * slow + math.sqrt(1 - p) * fast
    run_slow, run_fast = two_band(1)
    running = (math.sqrt(p) * run_slow + math.sqrt(1 - p) * run_fast)[:, 0]

    # stimulus blocks: three of equal length, random order
    order = rng.permutation(len(STIMULI))
    bounds = np.linspace(0.0, config.duration_s, len(STIMULI) + 1)
    edges = np.minimum(np.round(bounds / dt).astype(int), n_lat)
    stim = spontaneous.copy()  # (n_lat, n_reg): the stimulus share of each region
    epochs = []
    for block, k in enumerate(order):
        kind = STIMULI[k]
        lo, hi = edges[block], edges[block + 1]
        epochs.append((float(bounds[block]), float(bounds[block + 1]), kind))
        if kind == "spontaneous":
            continue
        t = np.arange(hi - lo) * dt
        if kind == "gratings":
            pres = (t // config.grating_s).astype(int)
            ori = rng.integers(0, N_ORIENTATIONS, pres.max() + 1)[pres]
            phase0 = rng.uniform(0, 2 * np.pi, pres.max() + 1)[pres]  # drift phase at onset
            phase = phase0 + 2 * np.pi * config.grating_tf_hz * (t - pres * config.grating_s)
            slow_in = library["grating_level"][ori]
            fast_in = library["grating_amplitude"][ori] * np.sin(phase)
        else:
            pres = (t // config.scene_s).astype(int)
            img = rng.integers(0, N_SCENES, pres.max() + 1)[pres]
            slow_in, fast_in = library["scene_slow"][img], library["scene_fast"][img]
        drive = (math.sqrt(p) * _gaussianize(_lowpass(slow_in, ts, dt))
                 + math.sqrt(1 - p) * _gaussianize(_lowpass(fast_in, tf, dt)))
        stim[lo:hi] = _gaussianize(drive)[:, None]

    ws = np.asarray(config.stimulus_share, dtype=np.float64)
    wr = np.asarray(config.running_share, dtype=np.float64)
    wp = np.sqrt(np.clip(1.0 - ws**2 - wr**2, 0.0, None))
    latent = ws * stim + wr * running[:, None] + wp * private

    # behaviour at behaviour_rate_hz: running speed from the running component, pupil
    n_beh = int(math.floor(config.duration_s * config.behaviour_rate_hz))
    t_beh = np.arange(n_beh) / config.behaviour_rate_hz
    idx = np.minimum((t_beh / dt).astype(int), n_lat - 1)
    kappa, theta, v_max = 4.0, 0.5, 25.0
    smooth_run = _lowpass(running, 0.25, dt)
    speed = v_max / kappa * np.logaddexp(0.0, kappa * (smooth_run - theta))
    run_state = 1.0 / (1.0 + np.exp(-kappa * (smooth_run - theta)))  # d speed / d run, scaled to [0, 1]
    arousal = _ou(rng, (n_lat,), 10.0, dt)
    # brain-wide: running and a ~1 s arousal process of its own (Stringer et al. 2019)
    q = config.brainwide_running
    run_part = _lowpass(running, config.brainwide_tau_s, dt)
    brainwide = (math.sqrt(q) * run_part / run_part.std()
                 + math.sqrt(1 - q) * _ou(rng, (n_lat,), config.brainwide_tau_s, dt))
    brainwide /= brainwide.std()
    latent = np.column_stack([latent, brainwide])
    pupil = np.clip(0.4 + 0.06 * _lowpass(brainwide, 1.0, dt) + 0.06 * arousal, 0.05, None)
    behaviour = pd.DataFrame({"time": t_beh, "running_speed": speed[idx], "pupil": pupil[idx]})
    epochs_df = pd.DataFrame(epochs, columns=["start", "stop", "stimulus"])
    return latent.astype(np.float32), epochs_df, behaviour, run_state


def _recording_rhythms(config: SyntheticConfig, rec_index: int, run_state: np.ndarray, epochs: pd.DataFrame
                       ) -> np.ndarray:
    """Each region's rhythm (steps of ``dt_ms``, n_regions) float32: envelope x sin(phase),
    the envelope in [0, 1] set by the region's state (docs/simulation.md), the phase
    integrated from a frequency that wanders slowly (OU, 1 s) around the region's band."""
    rng = _rng(config, _RHYTHM, rec_index)
    dt = config.dt_ms / 1000.0
    n_steps = int(round(config.duration_s / dt))
    lat_steps = int(round(config.latent_dt_ms / config.dt_ms))
    run = np.repeat(run_state, lat_steps)[:n_steps]
    t = np.arange(n_steps) * dt
    out = np.zeros((n_steps, len(config.regions)), dtype=np.float32)
    for g, state in enumerate(config.rhythm_state):
        if state not in RHYTHM_STATES:
            raise ValueError(f"rhythm_state: expected one of {RHYTHM_STATES}, got {state!r}")
        freq = config.rhythm_hz[g] + config.rhythm_hz_sd[g] * np.repeat(
            _ou(rng, (len(run_state),), 1.0, config.latent_dt_ms / 1000.0), lat_steps)[:n_steps]
        phase = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(np.maximum(freq, 0.0)) * dt
        if state == "none" or config.rhythm_hz[g] <= 0:
            continue
        if state == "running":
            envelope = config.theta_quiet_fraction + (1.0 - config.theta_quiet_fraction) * run
        else:  # gratings
            envelope = np.zeros(n_steps)
            for start, stop, kind in epochs.itertuples(index=False):
                if kind == "gratings":
                    envelope[(t >= start) & (t < stop)] = 1.0
        out[:, g] = envelope * np.sin(phase)
    return out


def _waveforms(pool: _Pool, members: np.ndarray, lab: _Lab, rng: np.random.Generator) -> np.ndarray:
    """Peak-channel mean waveforms (units, 90) in microvolts, trough at 1 ms, as the lab
    records them (its amplitude, noise and filtering factors)."""
    amplitude = lab.amplitude * 80.0 * np.exp(0.4 * rng.standard_normal((len(members), 1)))
    return waveform_shapes(lab.width * pool.trough_to_peak[members], pool.peak_ratio[members], amplitude, rng,
                           noise_uv=4.0 * lab.noise)


def waveform_shapes(trough_to_peak_ms: np.ndarray, peak_ratio: np.ndarray, amplitude: np.ndarray,
                    rng: np.random.Generator, noise_uv: float = 4.0) -> np.ndarray:
    """(units, 90) float32 peak-channel waveforms in microvolts at 30 kHz, trough at 1 ms:
    a trough and a later peak Gaussian whose widths grow with the trough-to-peak time,
    scaled by ``amplitude`` (units, 1) and ``peak_ratio`` (peak / trough), plus smoothed
    noise (``noise_uv`` per sample before smoothing) drawn from ``rng``."""
    t = np.arange(WAVEFORM_SAMPLES) / WAVEFORM_RATE * 1000.0  # ms
    tp = np.asarray(trough_to_peak_ms)[:, None]
    trough = np.exp(-0.5 * ((t - 1.0) / (0.08 + 0.12 * tp)) ** 2)
    peak = np.exp(-0.5 * ((t - 1.0 - tp) / (0.05 + 0.35 * tp)) ** 2)
    wave = amplitude * (np.asarray(peak_ratio)[:, None] * peak - trough)
    noise = rng.standard_normal(wave.shape) * noise_uv
    noise = 0.25 * np.roll(noise, 1, axis=1) + 0.5 * noise + 0.25 * np.roll(noise, -1, axis=1)
    return (wave + noise).astype(np.float32)


def _calcium(times: np.ndarray, units: np.ndarray, n_units: int, pool: _Pool, members: np.ndarray,
             config: SyntheticConfig, lab: _Lab, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """dF/F traces (frames, units) float32 and frame times, from spikes (times, unit
    index), with the lab's noise factor."""
    period = config.frame_period_s
    n_frames = int(math.floor(config.duration_s / period))
    frame_times = (np.arange(n_frames) + 0.5) * period
    frame = np.ceil(times / period - 0.5).astype(np.int64)  # first frame at or after the spike
    keep = frame < n_frames
    frame, lag, units = frame[keep], frame_times[frame[keep]] - times[keep], units[keep]
    kernel = np.zeros((n_frames, n_units))
    for tau, sign in ((config.calcium_decay_s, 1.0), (config.calcium_rise_s, -1.0)):
        w = np.bincount(frame * n_units + units, weights=np.exp(-lag / tau), minlength=n_frames * n_units)
        k = math.exp(-period / tau)
        kernel += sign * lfilter([1.0], [1.0, -k], w.reshape(n_frames, n_units), axis=0)
    rise, decay = config.calcium_rise_s, config.calcium_decay_s
    t_peak = rise * decay / (decay - rise) * math.log(decay / rise)
    kernel /= math.exp(-t_peak / decay) - math.exp(-t_peak / rise)
    signal = pool.ca_amplitude[members] * kernel / (1.0 + kernel / config.calcium_saturation)
    fluo = 1.0 + signal + lab.noise * pool.ca_noise[members] * rng.standard_normal(signal.shape)
    f0 = np.percentile(fluo, 10, axis=0)
    return (fluo / f0 - 1.0).astype(np.float32), frame_times


# ----------------------------------------------------------------------------- simulate

def simulate(config: SyntheticConfig = SyntheticConfig()) -> tuple[list[Recording], list[Recording]]:
    """(spike recordings of dataset 'synthetic', calcium recordings of dataset
    'synthetic-calcium'), with labels; one simulation gives both."""
    n_reg = len(config.regions)
    per_region = ("inhibitory_fraction", "stimulus_share", "running_share", "region_base_shift",
                  "region_reset_shift_mv", "region_width_scale", "rhythm_hz", "rhythm_hz_sd", "rhythm_state",
                  "rhythm_locked_fraction", "rhythm_amplitude")
    wrong = [name for name in per_region if len(getattr(config, name)) != n_reg]
    if wrong:
        raise ValueError(f"{', '.join(wrong)}: need one value per region {config.regions}")
    per_lab = ("lab_observed_fraction", "lab_contamination")
    wrong = [name for name in per_lab if len(getattr(config, name)) != config.n_labs]
    if wrong:
        raise ValueError(f"{', '.join(wrong)}: need one value per lab (n_labs={config.n_labs})")
    if len(config.excitatory_mix) != 3:
        raise ValueError("excitatory_mix needs one value per excitatory subclass (RS, IB, CH)")
    dt = config.dt_ms
    lat_steps = int(round(config.latent_dt_ms / dt))
    n_steps = int(round(config.duration_s * 1000.0 / dt))
    seg_steps = int(math.ceil(config.segment_s * 1000.0 / dt / lat_steps)) * lat_steps
    warm_steps = int(math.ceil(config.warmup_s * 1000.0 / dt / lat_steps)) * lat_steps
    n_seg = int(math.ceil(n_steps / seg_steps))
    library = _stimulus_library(config)

    # recordings: which pool neurons, in which order, with which per-recording inputs
    pools = [_make_pool(config, a) for a in range(config.n_animals)]
    labs = _labs(config)
    recs = []  # (animal, session, members, base, gain, noise)
    for a, pool in enumerate(pools):
        n_obs = max(1, int(round(labs[lab_of(config, a)].observed_fraction * config.pool_size)))
        for s in range(config.n_recordings):
            rng = _rng(config, _RECORDING, a, s)
            members = rng.choice(config.pool_size, n_obs, replace=False)  # random unit order
            base = pool.base[members] + config.recording_base_sd * rng.standard_normal(n_obs)
            gain = pool.gain[members] * np.exp(config.recording_gain_sd * rng.standard_normal(n_obs))
            recs.append((a, s, members, base, gain, pool.noise[members]))
    latents, epochs, behaviours, run_states = zip(*(_recording_latents(config, r, library)
                                                    for r in range(len(recs))))
    latent_all = np.concatenate(latents, axis=1)  # (T_L, n_recordings * (n_reg + 1))
    rhythm_all = np.concatenate([_recording_rhythms(config, r, run_states[r], epochs[r])
                                 for r in range(len(recs))], axis=1)  # (steps, n_recordings * n_reg)
    n_lat = latent_all.shape[0]
    # each neuron's own slow drive, two bands like the latents, on a coarser grid
    priv_dt = config.private_dt_ms / 1000.0
    priv_ratio = int(round(config.private_dt_ms / config.latent_dt_ms))
    n_priv = -(-n_lat // priv_ratio)
    n_units = sum(len(r[2]) for r in recs)
    prng = _rng(config, _PRIVATE)
    f32 = np.float32
    own_slow = _ou(prng, (n_priv, n_units), config.tau_slow_s, priv_dt, f32)
    own_fast = _ou(prng, (n_priv, n_units), config.tau_fast_s, priv_dt, f32)
    private_all = f32(math.sqrt(config.slow_share)) * own_slow + f32(math.sqrt(1 - config.slow_share)) * own_fast
    del own_slow, own_fast
    unit_start = np.concatenate([[0], np.cumsum([len(r[2]) for r in recs])])

    # columns of the simulation: (recording, segment, unit)
    col = {k: [] for k in ("rec", "seg", "unit", "ucol", "lat", "brain", "rhy", "group", "base", "gain", "noise",
                           "rhythm", "a", "b", "c", "d")}
    for r, (a, _s, members, base, gain, noise) in enumerate(recs):
        pool, n = pools[a], len(members)
        for seg in range(n_seg):
            col["rec"].append(np.full(n, r))
            col["seg"].append(np.full(n, seg))
            col["unit"].append(np.arange(n))
            col["ucol"].append(unit_start[r] + np.arange(n))
            col["lat"].append(r * (n_reg + 1) + pool.region[members])
            col["brain"].append(np.full(n, r * (n_reg + 1) + n_reg))
            col["rhy"].append(r * n_reg + pool.region[members])
            col["group"].append((r * n_seg + seg) * n_reg + pool.region[members])
            col["base"].append(base)
            col["gain"].append(gain)
            col["noise"].append(noise)
            col["rhythm"].append(gain * pool.rhythm_weight[members])
            for name in "abcd":
                col[name].append(getattr(pool.params, name)[members])
    col = {k: np.concatenate(v) for k, v in col.items()}
    params = izhikevich.IzhikevichParameters(col["a"], col["b"], col["c"], col["d"])
    t0_lat = (col["seg"] * seg_steps - warm_steps) // lat_steps  # latent index of local step 0
    shared_w = np.float32(math.sqrt(config.region_share))
    brain_w = np.float32(math.sqrt(config.brainwide_share))
    private_w = np.float32(math.sqrt(1.0 - config.region_share - config.brainwide_share))
    base32, gain32 = col["base"].astype(np.float32), col["gain"].astype(np.float32)
    noise = izhikevich.GaussianNoise(_rng(config, _NOISE), col["noise"])
    rhythm32 = col["rhythm"].astype(np.float32)
    seg_first = np.arange(n_seg) * seg_steps - warm_steps  # global step of each segment's local step 0
    rhythm_col = col["seg"] * rhythm_all.shape[1] + col["rhy"]  # column in a chunk's (steps, segments x rhythms)
    rhythmic = bool(np.any(rhythm32))

    def current(k0: int, m: int) -> np.ndarray:
        m_lat = -(-m // lat_steps)
        li = np.clip(t0_lat[None, :] + k0 // lat_steps + np.arange(m_lat)[:, None], 0, n_lat - 1)
        drive = latent_all[li, col["lat"][None, :]]
        drive *= shared_w
        drive += brain_w * latent_all[li, col["brain"][None, :]]
        drive += private_w * private_all[li // priv_ratio, col["ucol"][None, :]]
        drive *= gain32
        drive += base32
        out = np.repeat(drive, lat_steps, axis=0)[:m]
        out += noise(m)
        if rhythmic:  # the rhythms of every segment for these steps, then one gather per column
            rows = np.clip(seg_first[None, :] + k0 + np.arange(m)[:, None], 0, n_steps - 1)
            out += rhythm_all[rows].reshape(m, -1)[:, rhythm_col] * rhythm32
        return out

    coupling = izhikevich.PopulationCoupling(col["group"], config.coupling_weight,
                                             tau_ms=config.coupling_tau_ms, dt_ms=dt)
    raster = izhikevich.simulate(params, warm_steps + seg_steps, current, dt_ms=dt, coupling=coupling,
                                 chunk_steps=50 * lat_steps,
                                 refractory_steps=int(math.ceil(config.refractory_ms / dt - 1e-9)))

    # stitch the segments back: global step of each spike, drop warm-up and overhang
    c = raster.neurons
    step = raster.steps - warm_steps + col["seg"][c] * seg_steps
    keep = (raster.steps >= warm_steps) & (step < n_steps)
    ucol, step = col["ucol"][c[keep]], step[keep]
    order = np.argsort(ucol * n_steps + step, kind="stable")  # by unit, then time
    ucol, step = ucol[order], step[order]
    # a neuron spikes at most once per step, so the jitter keeps each train sorted
    times = (step + _rng(config, _SPIKE_JITTER).random(step.size)) * (dt / 1000.0)
    # segments are simulated apart: a spike just after a boundary may fall in the dead
    # time of the previous segment's last spike; the refractory period wins
    too_soon = np.concatenate([[False], (ucol[1:] == ucol[:-1]) & (np.diff(times) < config.refractory_ms / 1000.0)])
    ucol, times = ucol[~too_soon], times[~too_soon]
    counts = np.bincount(ucol, minlength=n_units)
    spike_start = np.concatenate([[0], np.cumsum(counts)])

    spikes_out, calcium_out = [], []
    for r, (a, s, members, *_rest) in enumerate(recs):
        pool, animal, name, lab = pools[a], f"m{a}", f"m{a}-s{s}", labs[lab_of(config, a)]
        first = spike_start[unit_start[r]]
        trains = np.split(times[first : spike_start[unit_start[r] + len(members)]],
                          spike_start[unit_start[r] + 1 : unit_start[r] + len(members)] - first)
        sorted_trains = _contaminate(trains, lab.contamination, _rng(config, _CONTAMINATION, a, s))
        # unit QC: a sorter returns no silent unit, pipelines drop near-silent ones
        kept = np.flatnonzero([t.size >= config.min_rate_hz * config.duration_s for t in sorted_trains])
        members = members[kept]
        units = [f"u{j:03d}" for j in kept]
        tracks = [f"{animal}/n{i:03d}" for i in members]
        labels = {
            "cell_class": [CELL_CLASS[SUBCLASSES[k]] for k in pool.subclass[members]],
            "subclass": [SUBCLASSES[k] for k in pool.subclass[members]],
            "region": [config.regions[g] for g in pool.region[members]],
            LAB_COLUMN: lab_name(lab_of(config, a)),
        }
        for dataset, out in ((DATASET_SPIKES, spikes_out), (DATASET_CALCIUM, calcium_out)):
            common = dict(animal=animal, recording=name, t_start=0.0, t_stop=float(config.duration_s),
                          epochs=epochs[r].copy(), behaviour=behaviours[r].copy())
            ids = [neuron_id(dataset, name, u) for u in units]
            neurons = pd.DataFrame({"neuron_id": ids, "unit": units, "track_id": tracks,
                                    "x": np.nan, "y": np.nan, "z": np.nan})
            label_df = pd.DataFrame({"neuron_id": ids, **labels})
            if dataset == DATASET_SPIKES:  # as sorted: with the lab's contamination
                st, offsets = _concatenate([sorted_trains[j] for j in kept])
                rec = Recording(dataset=dataset, modality="spikes", neurons=neurons, spike_times=st,
                                spike_offsets=offsets,
                                waveforms=_waveforms(pool, members, lab, _rng(config, _WAVEFORM, a, s)),
                                waveform_rate=WAVEFORM_RATE, labels=label_df, **common)
            else:  # imaging sees the cell's own spikes
                st, offsets = _concatenate([trains[j] for j in kept])
                su = np.repeat(np.arange(len(kept)), np.diff(offsets))
                traces, frame_times = _calcium(st, su, len(kept), pool, members, config, lab,
                                               _rng(config, _CALCIUM, a, s))
                rec = Recording(dataset=dataset, modality="calcium", neurons=neurons, traces=traces,
                                frame_times=frame_times, labels=label_df, **common)
            out.append(rec.validate())
    return spikes_out, calcium_out


def _contaminate(trains: list[np.ndarray], fraction: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Each unit's train as a spike sorter returns it: plus Poisson(``fraction`` x its
    spike count) spikes drawn from the other units of the recording (their spikes, so
    contamination shows as refractory-period violations)."""
    everything = np.concatenate(trains)
    owner = np.repeat(np.arange(len(trains)), [t.size for t in trains])
    out = []
    for i, own in enumerate(trains):
        others = everything[owner != i]
        n = rng.poisson(fraction * own.size) if others.size else 0
        picked = rng.choice(others, min(n, others.size), replace=False)  # each foreign spike once
        out.append(np.sort(np.concatenate([own, picked])) if n else own)
    return out


def _concatenate(trains: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(spike times, offsets) of spike trains, one after the other."""
    offsets = np.concatenate([[0], np.cumsum([t.size for t in trains])]).astype(np.int64)
    return (np.concatenate(trains) if trains else np.zeros(0)), offsets
