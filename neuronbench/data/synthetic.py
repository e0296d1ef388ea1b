"""The embedded default dataset: a seeded, simulated, multi-animal population with known
cell types and regions, seen as spikes (Neuropixels-like) and as calcium (2-photon-like).

One simulation (`simulate`) produces both datasets: ``"synthetic"`` (spike times plus a
peak-channel waveform per unit) and ``"synthetic-calcium"`` (the same spikes through a
calcium indicator, dF/F at ~4.3 Hz, no waveforms). Everything is drawn from numpy
Generators keyed by ``config.seed``: the same config gives bit-identical output.

Population
    ``n_animals`` animals (ids ``m0``, ``m1``, ...), each with a pool of ``pool_size``
    neurons; each of its ``n_recordings`` recordings (``m0-s0``, ...) observes a random
    ``observed_fraction`` of the pool, so neurons are tracked across recordings with
    partial overlap (``track_id = "<animal>/n<idx>"``). A neuron keeps its type, region,
    intrinsic parameters, baseline, gain, indicator and waveform shape in every
    recording; its inputs (the latent processes, the noise, a small per-recording change
    of baseline and gain) and its waveform amplitude differ per recording. Units appear
    in a random order under ids ``u000``, ``u001``, ... (the order carries no label), and
    x, y, z are NaN: positions (depth) would give the region away.

Labels (`LABEL_COLUMNS`)
    ``subclass``: the Izhikevich (2003) firing type, RS / IB / CH / FS / LTS, in the
    proportions ``subclass_fractions`` (default 40/15/15/18/12 %), the same mix in every
    region (stratified per region); ``cell_class``: RS, IB, CH -> excitatory, FS, LTS ->
    inhibitory; ``region``: one of ``regions`` (default VIS, HPF, TH, MB), balanced in
    each pool; every recording holds neurons of every region (as a probe crossing them).

Where the identity information lives (data version 2, `VERSION`)
    Type lives in the intrinsic dynamics: canonical (a, b, c, d) per type with per-neuron
    jitter (a, b, d multiplied by exp(N(0, sd)), c + N(0, sd) mV), visible in ISI and
    burst statistics (CH/IB bursts, FS fast regular, LTS rebound bursts, RS adaptation),
    and in the waveform: narrow trough-to-peak for FS (0.35 +- 0.08 ms), broad for
    RS/IB/CH (0.70 +- 0.15 ms), LTS broad-ish in between (0.60 +- 0.13 ms), plus noise,
    so cell class is partly, not wholly, in the waveform. The jitter and the waveform
    overlap are set so that single-neuron features decode type well but not perfectly.
    The type mix is the same in every region (a deliberate simplification: the five
    Izhikevich firing modes are not the regions' own cell types; e.g. rodent thalamus has
    few local interneurons outside dLGN, Arcelli et al. 1997, which would need
    region-specific types).

    Region lives in three places, as in real recordings, each heavily overlapping:

    1. Slow co-variation (as in version 1). Each (recording, region) has a latent drive
       shared by its neurons, and the neurons of a region are coupled (a current
       proportional to the region's recent population spiking, `PopulationCoupling`).
       The regions differ consistently in what their latent follows, in every animal:
       ``latent = ws * stimulus + wr * running + wp * private`` with (ws, wr) from
       ``stimulus_share`` / ``running_share`` (default VIS 0.8/0.2: strongly
       stimulus-locked; TH 0.5/0.2: moderately; MB 0.1/0.75: follows running, as
       midbrain and superior colliculus activity does, Savier et al. 2019 Cell Rep;
       Stringer et al. 2019 Science; HPF 0.1/0.1: mostly internal) and
       wp = sqrt(1 - ws^2 - wr^2), so every latent has unit variance. Each component has
       the same two-band structure, sqrt(p) * slow + sqrt(1-p) * fast (time constants
       ``tau_slow_s`` and ``tau_fast_s``, p = ``slow_share``), each band with unit
       variance (stimulus bands are rank-transformed to Gaussian marginals), so every
       region's drive has the same Gaussian marginal and timescales up to the 1 Hz
       periodic grating drive; only what it co-varies with differs.

    2. Single-neuron properties, shifted per region by much less than their spread
       within a region (rates span ~2 orders of magnitude in every region, log-normally,
       Buzsaki & Mizuseki 2014 Nat Rev Neurosci; here the 5-95 % range is ~0.4-36 Hz):
       - ``region_base_shift`` (input offset; VIS 0, HPF -1.6, TH +1.0, MB +0.7) sets
         the median rate relative to VIS to about x0.5 (HPF), x2 (TH) and x1.5 (MB),
         with the other signatures included (measured in the simulation): thalamic (LGN, LP) units fire faster than
         visual-cortex units and hippocampal units slowest in the Allen Neuropixels
         survey (Siegle et al. 2021 Nature 592:86, rate distributions by area; CA1
         pyramidal cells' median rate is below ~1-2 Hz, Mizuseki & Buzsaki 2013 Cell
         Rep), midbrain units faster than cortex. The ratios are our reading of those
         plotted distributions, not tabulated values.
       - ``region_reset_shift_mv`` (VIS 0, HPF +2, TH +4, MB 0 mV added to the reset
         potential c): burst propensity within a type. A higher c moves an Izhikevich
         neuron towards bursting (IB has c = -55, CH c = -50 against RS -65,
         Izhikevich 2003); thalamic relay cells fire T-type Ca2+ bursts (McCormick &
         Bal 1997 Annu Rev Neurosci; Sherman 2001) and hippocampal pyramidal cells
         complex-spike bursts (Ranck 1973; Mizuseki et al. 2012 Hippocampus). The size
         of the shift in mV is our choice: no published figure maps onto it.
       - ``region_width_scale`` (waveform trough-to-peak x1.0 VIS, x1.1 HPF, x0.8 TH,
         x0.9 MB): thalamic units have narrower spikes than cortical ones in the Allen
         survey (Siegle et al. 2021, waveform duration by area), hippocampal pyramidal
         spikes are broad (Csicsvari et al. 1999 J Neurosci); the factors are our
         estimates from those distributions.

    3. Population rhythms (`_recording_rhythms`): a locked neuron (a fraction
       ``rhythm_locked_fraction`` of its region, drawn once per neuron) receives
       ``gain * w * envelope(t) * sin(phase(t))``, with the region's phase (frequency
       ``rhythm_hz`` + ``rhythm_hz_sd`` x a slow OU wander), its state-dependent
       envelope in [0, 1], and a per-neuron strength w = ``rhythm_amplitude`` x
       log-normal(``rhythm_amplitude_sd``, mean 1). Locked units of a region therefore
       fire together at its rhythm; the amplitudes are set so that the spike-phase
       vector length of the median locked unit, against the drive's own phase where its
       envelope is above 0.5, is the published value (measured in 5 ms bins on the test
       population of `tests/test_synthetic.py`, which checks it: HPF 0.28, TH 0.26,
       VIS 0.09):
       - HPF theta, 7.5 +- 0.5 Hz (6-10 Hz, Buzsaki 2002 Neuron), state "running":
         envelope 1 when running and ``theta_quiet_fraction`` = 0.3 at rest (theta
         power drops several-fold in immobility, Vanderwolf 1969; Buzsaki 2002; 0.3 in
         amplitude, ~1/10 in power, is our estimate); 80 % of units locked (most CA1
         units are theta-modulated, Csicsvari et al. 1999; Mizuseki et al. 2009
         Neuron); amplitude 0.35: vector length ~0.25-0.3 during running, in the range
         of CA1 pyramidal cells' mean resultant lengths (~0.1-0.3, our reading of
         Mizuseki et al. 2009).
       - TH spindle band, 10 +- 1 Hz (7-15 Hz, Steriade et al. 1993 Science; McCormick
         & Bal 1997), state "quiet": waxing-waning (sin^2) episodes of 0.5-3 s
         (``spindle_s``; spindle sequences last 1-3 s, Steriade et al. 1993) at
         ``spindle_rate_hz`` = 0.15 onsets per second (~9 per minute, the order of
         spindle density in mouse NREM sleep; an estimate for quiet wakefulness),
         scaled by (1 - running state); 70 % of units locked, amplitude 0.40: vector
         length ~0.3 inside a spindle (our estimate; relay cells fire on a subset of
         spindle cycles, Steriade et al. 1993).
       - VIS gamma, 30 +- 3 Hz, state "gratings" (grating-induced gamma of mouse V1 at
         ~30 Hz, Veit et al. 2017 Nat Neurosci; the ~60 Hz narrowband gamma of Saleem
         et al. 2017 Neuron, strongest on a grey screen, is not modelled): envelope 1 in
         gratings epochs; 50 % of units locked, amplitude 0.10: vector length ~0.1
         (weak, as spike-field gamma locking in mouse V1 is; our estimate). VIS is also
         stimulus-locked through the 1 Hz drifting-grating drive of its latent.
       - MB: no rhythm (``rhythm_state`` "none"); it follows running (1. above).
       The running state is a sigmoid of the smoothed running drive, 0.5 at ~4 cm/s.
       The rhythms are far faster than the calcium indicator and its 4.3 Hz frames, so
       ``synthetic-calcium`` keeps signatures 1 and 2 and loses most of 3, as real
       2-photon data does.

    Not informative of anything: per-animal gain, baseline and noise level (drawn per
    animal, so a new animal is a distribution shift, not free transfer), unit order,
    position (absent: depth would give the region away).

Input model (per neuron i of region g in recording r, in the model's current units)
    ``I_i(t) = base_i + gain_i * (sqrt(rho) * latent_rg(t) + sqrt(1 - rho) * own_i(t))
    + gain_i * w_i * rhythm_rg(t) + sigma_i * white noise + coupling``, with rho = ``region_share`` (default 0.15,
    which gives spike-count correlations of ~0.15 within a region and ~0.03 across
    regions in 250 ms bins); own_i is the neuron's own two-band process (same
    statistics as the latents, on a ``private_dt_ms`` grid); base = animal offset +
    region shift + neuron baseline + per-recording change, gain = animal factor x neuron gain x
    per-recording factor, sigma = animal factor x neuron noise level; the white noise
    is drawn per 1 ms step, as in Izhikevich's network code (`izhikevich.GaussianNoise`).
    Coupling: ``coupling_weight`` x the region's spikes per neuron filtered with
    ``coupling_tau_ms`` (within the recording). Median rate ~6 Hz (5-95 % range
    ~0.4-36 Hz; FS, LTS and CH faster than RS; about 1 % of units below 0.1 Hz).
    w_i = 0 for a neuron not locked to its region's rhythm (see 3. above).

Stimulus and behaviour
    Each recording has three blocks of equal length (spontaneous, gratings, scenes) in a
    random order (`Recording.epochs`). The stimulus drive (shared by the regions of a
    recording, with their own share) is a deterministic function of what is shown, from
    a stimulus library shared by all recordings: gratings are presentations of
    ``grating_s`` at one of 8 orientations, each with its own response level (slow band)
    and a drifting periodic drive at ``grating_tf_hz`` of orientation-dependent amplitude
    (fast band); scenes are random steps, ``scene_s`` per image drawn from 50 images,
    each with its own slow and fast response value. Each band is low-pass filtered with
    the band's time constant and rank-transformed to N(0, 1) within the epoch. Each
    presentation starts at a random drift phase. In spontaneous blocks the
    stimulus share of each region is taken by an independent process with the same
    statistics. The running component is a two-band process per recording; the running
    speed (cm/s, non-negative, slow bouts) is a smoothed softplus of it, and the pupil a
    slow function of running plus its own slow arousal process; both are sampled at
    ``behaviour_rate_hz`` (`Recording.behaviour`).

Modalities
    Spikes: times in seconds, with a uniform position inside the 1 ms step in which the
    model spiked (so ISIs are not quantised). Waveform: 90 samples at 30 kHz, the trough
    at 1 ms, difference of a trough and a later peak Gaussian (`_waveforms`), amplitude
    per recording, plus smoothed noise. Calcium: each spike adds a GCaMP6s-like kernel
    ``exp(-t/decay) - exp(-t/rise)`` (peak 1; rise ``calcium_rise_s``, decay
    ``calcium_decay_s``), computed exactly at the frame times (period
    ``frame_period_s``); a per-neuron amplitude (dF/F of one spike) with mild
    saturation, per-neuron noise, and a per-neuron baseline F0 estimated as the 10th
    percentile of the fluorescence (as imaging pipelines do), stored as float32 dF/F.

Simulation (cost)
    All neurons of all recordings are simulated together in one vectorised loop
    (`neuronbench.data.izhikevich.simulate`, 1 ms steps). To cut the number of Python
    steps, each recording is cut into segments of ``segment_s`` that run side by side as
    separate columns; each segment starts ``warmup_s`` early on the true input of that
    time, and spikes of the warm-up are discarded, so the stitched spike train is
    statistically continuous (the model forgets its initial state in ~100 ms). Latents
    are computed on a ``latent_dt_ms`` grid and held within it; the rhythms on the 1 ms
    grid.
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
_POOL, _STIM_LIBRARY, _RECORDING, _LATENT, _NOISE, _SPIKE_JITTER, _WAVEFORM, _CALCIUM, _PRIVATE, _RHYTHM = range(10)
VERSION = 2  # the data version: records and caches of another version are never mixed with these
RHYTHM_STATES: tuple[str, ...] = ("running", "quiet", "gratings", "none")

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
    observed_fraction: float = 0.75
    duration_s: float = 300.0
    regions: tuple[str, ...] = ("VIS", "HPF", "TH", "MB")
    subclass_fractions: tuple[float, ...] = (0.40, 0.15, 0.15, 0.18, 0.12)  # RS IB CH FS LTS
    # region drive: share of the stimulus and of running in each region's latent
    stimulus_share: tuple[float, ...] = (0.8, 0.1, 0.5, 0.1)
    running_share: tuple[float, ...] = (0.2, 0.1, 0.2, 0.75)
    tau_slow_s: float = 4.0
    tau_fast_s: float = 0.2
    slow_share: float = 0.5
    region_share: float = 0.15  # variance fraction of a neuron's drive shared with its region
    private_dt_ms: float = 50.0
    # intrinsic jitter (see izhikevich.jitter_parameters)
    jitter_a: float = 0.4
    jitter_b: float = 0.05
    jitter_c: float = 5.0
    jitter_d: float = 0.5
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
    # region signatures in single neurons (module docstring: sources)
    region_base_shift: tuple[float, ...] = (0.0, -1.6, 1.0, 0.7)  # input offset: rate x1, ~x0.5, ~x2, ~x1.5
    region_reset_shift_mv: tuple[float, ...] = (0.0, 2.0, 4.0, 0.0)  # c + shift: burst propensity
    region_width_scale: tuple[float, ...] = (1.0, 1.1, 0.8, 0.9)  # waveform trough-to-peak factor
    # region rhythms (module docstring: sources)
    rhythm_hz: tuple[float, ...] = (30.0, 7.5, 10.0, 0.0)  # VIS gamma, HPF theta, TH spindle band, MB none
    rhythm_hz_sd: tuple[float, ...] = (3.0, 0.5, 1.0, 0.0)  # slow wander of the frequency
    rhythm_state: tuple[str, ...] = ("gratings", "running", "quiet", "none")
    rhythm_locked_fraction: tuple[float, ...] = (0.5, 0.8, 0.7, 0.0)
    rhythm_amplitude: tuple[float, ...] = (0.10, 0.35, 0.40, 0.0)  # in units of a neuron's gain
    rhythm_amplitude_sd: float = 0.5  # log-normal sigma of the per-neuron locking strength
    theta_quiet_fraction: float = 0.3  # theta amplitude at rest relative to running
    spindle_rate_hz: float = 0.15  # spindle onsets per second of quiet
    spindle_s: tuple[float, float] = (0.5, 3.0)  # duration range (uniform)
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
    fractions = np.asarray(config.subclass_fractions, dtype=np.float64)
    for g in range(n_reg):
        idx = np.flatnonzero(region == g)
        subclass[idx] = rng.permutation(np.repeat(np.arange(len(SUBCLASSES)), _allocate(idx.size, fractions)))
    modes = [SUBCLASSES[k] for k in subclass]
    params = izhikevich.jitter_parameters(izhikevich.mode_parameters(modes), rng, a_sd=config.jitter_a,
                                          b_sd=config.jitter_b, c_sd=config.jitter_c, d_sd=config.jitter_d)
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
    """Latent drive (T_L, n_regions) of one recording, its epochs, its behaviour and its
    running state (T_L,) in [0, 1] (0.5 at a running speed of ~4 cm/s)."""
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
    pupil = np.clip(0.4 + 0.08 * _lowpass(run_slow[:, 0], 1.0, dt) + 0.06 * arousal, 0.05, None)
    behaviour = pd.DataFrame({"time": t_beh, "running_speed": speed[idx], "pupil": pupil[idx]})
    epochs_df = pd.DataFrame(epochs, columns=["start", "stop", "stimulus"])
    return latent.astype(np.float32), epochs_df, behaviour, run_state


def _recording_rhythms(config: SyntheticConfig, rec_index: int, run_state: np.ndarray, epochs: pd.DataFrame
                       ) -> np.ndarray:
    """Each region's rhythm (steps of ``dt_ms``, n_regions) float32: envelope x sin(phase),
    the envelope in [0, 1] set by the region's state (module docstring), the phase
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
        elif state == "gratings":
            envelope = np.zeros(n_steps)
            for start, stop, kind in epochs.itertuples(index=False):
                if kind == "gratings":
                    envelope[(t >= start) & (t < stop)] = 1.0
        else:  # quiet: waxing-waning spindles (sin^2 envelope) at random onsets, damped by running
            envelope = np.zeros(n_steps)
            n_events = rng.poisson(config.spindle_rate_hz * config.duration_s)
            onsets = rng.uniform(0.0, config.duration_s, n_events)
            lengths = rng.uniform(*config.spindle_s, n_events)
            for onset, length in zip(onsets, lengths):
                inside = (t >= onset) & (t < onset + length)
                envelope[inside] = np.maximum(envelope[inside], np.sin(np.pi * (t[inside] - onset) / length) ** 2)
            envelope *= 1.0 - run
        out[:, g] = envelope * np.sin(phase)
    return out


def _waveforms(pool: _Pool, members: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Peak-channel mean waveforms (units, 90) in microvolts, trough at 1 ms."""
    amplitude = 80.0 * np.exp(0.4 * rng.standard_normal((len(members), 1)))
    return waveform_shapes(pool.trough_to_peak[members], pool.peak_ratio[members], amplitude, rng)


def waveform_shapes(trough_to_peak_ms: np.ndarray, peak_ratio: np.ndarray, amplitude: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """(units, 90) float32 peak-channel waveforms in microvolts at 30 kHz, trough at 1 ms:
    a trough and a later peak Gaussian whose widths grow with the trough-to-peak time,
    scaled by ``amplitude`` (units, 1) and ``peak_ratio`` (peak / trough), plus smoothed
    noise drawn from ``rng``."""
    t = np.arange(WAVEFORM_SAMPLES) / WAVEFORM_RATE * 1000.0  # ms
    tp = np.asarray(trough_to_peak_ms)[:, None]
    trough = np.exp(-0.5 * ((t - 1.0) / (0.08 + 0.12 * tp)) ** 2)
    peak = np.exp(-0.5 * ((t - 1.0 - tp) / (0.05 + 0.35 * tp)) ** 2)
    wave = amplitude * (np.asarray(peak_ratio)[:, None] * peak - trough)
    noise = rng.standard_normal(wave.shape) * 4.0
    noise = 0.25 * np.roll(noise, 1, axis=1) + 0.5 * noise + 0.25 * np.roll(noise, -1, axis=1)
    return (wave + noise).astype(np.float32)


def _calcium(times: np.ndarray, units: np.ndarray, n_units: int, pool: _Pool, members: np.ndarray,
             config: SyntheticConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """dF/F traces (frames, units) float32 and frame times, from spikes (times, unit index)."""
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
    fluo = 1.0 + signal + pool.ca_noise[members] * rng.standard_normal(signal.shape)
    f0 = np.percentile(fluo, 10, axis=0)
    return (fluo / f0 - 1.0).astype(np.float32), frame_times


# ----------------------------------------------------------------------------- simulate

def simulate(config: SyntheticConfig = SyntheticConfig()) -> tuple[list[Recording], list[Recording]]:
    """(spike recordings of dataset 'synthetic', calcium recordings of dataset
    'synthetic-calcium'), with labels; one simulation gives both."""
    n_reg = len(config.regions)
    per_region = ("stimulus_share", "running_share", "region_base_shift", "region_reset_shift_mv",
                  "region_width_scale", "rhythm_hz", "rhythm_hz_sd", "rhythm_state", "rhythm_locked_fraction",
                  "rhythm_amplitude")
    wrong = [name for name in per_region if len(getattr(config, name)) != n_reg]
    if wrong:
        raise ValueError(f"{', '.join(wrong)}: need one value per region {config.regions}")
    if len(config.subclass_fractions) != len(SUBCLASSES):
        raise ValueError(f"subclass_fractions needs one value per subclass {SUBCLASSES}")
    dt = config.dt_ms
    lat_steps = int(round(config.latent_dt_ms / dt))
    n_steps = int(round(config.duration_s * 1000.0 / dt))
    seg_steps = int(math.ceil(config.segment_s * 1000.0 / dt / lat_steps)) * lat_steps
    warm_steps = int(math.ceil(config.warmup_s * 1000.0 / dt / lat_steps)) * lat_steps
    n_seg = int(math.ceil(n_steps / seg_steps))
    library = _stimulus_library(config)

    # recordings: which pool neurons, in which order, with which per-recording inputs
    pools = [_make_pool(config, a) for a in range(config.n_animals)]
    n_obs = max(1, int(round(config.observed_fraction * config.pool_size)))
    recs = []  # (animal, session, members, base, gain, noise)
    for a, pool in enumerate(pools):
        for s in range(config.n_recordings):
            rng = _rng(config, _RECORDING, a, s)
            members = rng.choice(config.pool_size, n_obs, replace=False)  # random unit order
            base = pool.base[members] + config.recording_base_sd * rng.standard_normal(n_obs)
            gain = pool.gain[members] * np.exp(config.recording_gain_sd * rng.standard_normal(n_obs))
            recs.append((a, s, members, base, gain, pool.noise[members]))
    latents, epochs, behaviours, run_states = zip(*(_recording_latents(config, r, library)
                                                    for r in range(len(recs))))
    latent_all = np.concatenate(latents, axis=1)  # (T_L, n_recordings * n_reg)
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
    col = {k: [] for k in ("rec", "seg", "unit", "ucol", "lat", "group", "base", "gain", "noise", "rhythm",
                           "a", "b", "c", "d")}
    for r, (a, _s, members, base, gain, noise) in enumerate(recs):
        pool, n = pools[a], len(members)
        for seg in range(n_seg):
            col["rec"].append(np.full(n, r))
            col["seg"].append(np.full(n, seg))
            col["unit"].append(np.arange(n))
            col["ucol"].append(unit_start[r] + np.arange(n))
            col["lat"].append(r * n_reg + pool.region[members])
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
    private_w = np.float32(math.sqrt(1.0 - config.region_share))
    base32, gain32 = col["base"].astype(np.float32), col["gain"].astype(np.float32)
    noise = izhikevich.GaussianNoise(_rng(config, _NOISE), col["noise"])
    rhythm32 = col["rhythm"].astype(np.float32)
    seg_first = np.arange(n_seg) * seg_steps - warm_steps  # global step of each segment's local step 0
    rhythm_col = col["seg"] * rhythm_all.shape[1] + col["lat"]  # column in a chunk's (steps, segments x lat)
    rhythmic = bool(np.any(rhythm32))

    def current(k0: int, m: int) -> np.ndarray:
        m_lat = -(-m // lat_steps)
        li = np.clip(t0_lat[None, :] + k0 // lat_steps + np.arange(m_lat)[:, None], 0, n_lat - 1)
        drive = latent_all[li, col["lat"][None, :]]
        drive *= shared_w
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
                                 chunk_steps=50 * lat_steps)

    # stitch the segments back: global step of each spike, drop warm-up and overhang
    c = raster.neurons
    step = raster.steps - warm_steps + col["seg"][c] * seg_steps
    keep = (raster.steps >= warm_steps) & (step < n_steps)
    ucol, step = col["ucol"][c[keep]], step[keep]
    order = np.argsort(ucol * n_steps + step, kind="stable")  # by unit, then time
    ucol, step = ucol[order], step[order]
    # a neuron spikes at most once per step, so the jitter keeps each train sorted
    times = (step + _rng(config, _SPIKE_JITTER).random(step.size)) * (dt / 1000.0)
    counts = np.bincount(ucol, minlength=n_units)
    spike_start = np.concatenate([[0], np.cumsum(counts)])

    spikes_out, calcium_out = [], []
    for r, (a, s, members, *_rest) in enumerate(recs):
        pool, animal, name = pools[a], f"m{a}", f"m{a}-s{s}"
        n = len(members)
        first, last = spike_start[unit_start[r]], spike_start[unit_start[r] + n]
        st, su = times[first:last], ucol[first:last] - unit_start[r]
        offsets = (spike_start[unit_start[r] : unit_start[r] + n + 1] - first).astype(np.int64)
        units = [f"u{j:03d}" for j in range(n)]
        tracks = [f"{animal}/n{i:03d}" for i in members]
        labels = {
            "cell_class": [CELL_CLASS[SUBCLASSES[k]] for k in pool.subclass[members]],
            "subclass": [SUBCLASSES[k] for k in pool.subclass[members]],
            "region": [config.regions[g] for g in pool.region[members]],
        }
        for dataset, out in ((DATASET_SPIKES, spikes_out), (DATASET_CALCIUM, calcium_out)):
            common = dict(animal=animal, recording=name, t_start=0.0, t_stop=float(config.duration_s),
                          epochs=epochs[r].copy(), behaviour=behaviours[r].copy())
            ids = [neuron_id(dataset, name, u) for u in units]
            neurons = pd.DataFrame({"neuron_id": ids, "unit": units, "track_id": tracks,
                                    "x": np.nan, "y": np.nan, "z": np.nan})
            label_df = pd.DataFrame({"neuron_id": ids, **labels})
            if dataset == DATASET_SPIKES:
                rec = Recording(dataset=dataset, modality="spikes", neurons=neurons, spike_times=st,
                                spike_offsets=offsets,
                                waveforms=_waveforms(pool, members, _rng(config, _WAVEFORM, a, s)),
                                waveform_rate=WAVEFORM_RATE, labels=label_df, **common)
            else:
                traces, frame_times = _calcium(st, su, n, pool, members, config, _rng(config, _CALCIUM, a, s))
                rec = Recording(dataset=dataset, modality="calcium", neurons=neurons, traces=traces,
                                frame_times=frame_times, labels=label_df, **common)
            out.append(rec.validate())
    return spikes_out, calcium_out
