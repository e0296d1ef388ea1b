"""The synthetic dataset: structure, determinism, and the documented design measured.

The design tests decode labels with a cross-validated, class-balanced logistic
regression from simple hand-made features and check that each label is where the module
docstring says it is, and measure each region signature of data version 3 as an
experimenter would: rates and waveform widths by region, and spike-phase locking to a
rhythm estimated from the other units of the region (no access to the true phase).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy.signal import butter, hilbert, sosfiltfilt
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuronbench import realism
from neuronbench.data import synthetic
from neuronbench.data.recording import Recording
from neuronbench.data.synthetic import LABEL_COLUMNS, SyntheticConfig, simulate, tiny_config

# A population large enough for stable statistics (~900 units), simulated in a few seconds.
DESIGN = dataclasses.replace(SyntheticConfig(seed=3), n_animals=2, pool_size=200, duration_s=120.0)
PHASE_BIN_S = 0.005  # spike counts for the rhythm analyses (Nyquist 100 Hz)


@pytest.fixture(scope="module")
def tiny() -> tuple[list[Recording], list[Recording]]:
    return simulate(tiny_config())


@pytest.fixture(scope="module")
def design() -> list[Recording]:
    return simulate(DESIGN)[0]


# ----------------------------------------------------------------------------- features

def isi_features(rec: Recording) -> np.ndarray:
    """Per unit: log rate, ISI CV, log-ISI quantiles (5, 25, 50, 75, 95 %), burst fraction."""
    rows = []
    for i in range(rec.n_units):
        spikes = rec.unit_spikes(i)
        isi = np.diff(spikes)
        if isi.size < 5:
            isi = np.concatenate([isi, np.full(5 - isi.size, rec.duration)])
        rows.append([np.log10((spikes.size + 1) / rec.duration), isi.std() / isi.mean(),
                     *np.quantile(np.log10(isi), [0.05, 0.25, 0.5, 0.75, 0.95]), np.mean(isi < 0.01)])
    return np.array(rows)


def binned(rec: Recording, bin_s: float = 0.25) -> np.ndarray:
    """Spike counts (bins, units), z-scored per unit."""
    edges = np.arange(0.0, rec.duration + 1e-9, bin_s)
    x = np.stack([np.histogram(rec.unit_spikes(i), edges)[0] for i in range(rec.n_units)], axis=1).astype(float)
    return (x - x.mean(0)) / np.maximum(x.std(0), 1e-9)


def region_correlations(rec: Recording, regions: tuple[str, ...]) -> np.ndarray:
    """Per unit, the correlation of its binned activity with each region's population
    mean (the unit itself left out of its own region's mean)."""
    x = binned(rec)
    region = rec.labels["region"].to_numpy()
    out = np.zeros((rec.n_units, len(regions)))
    for k, g in enumerate(regions):
        member = region == g
        total = x[:, member].sum(axis=1, keepdims=True)
        means = (total - x * member) / (member.sum() - member)  # leave-one-out for members
        means = (means - means.mean(0)) / means.std(0)
        out[:, k] = (x * means).mean(0)
    return out


def cv_macro_f1(x: np.ndarray, y: np.ndarray) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, class_weight="balanced"))
    pred = cross_val_predict(model, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    return float(f1_score(y, pred, average="macro"))


def labels_of(recs: list[Recording]) -> pd.DataFrame:
    return pd.concat([r.labels for r in recs], ignore_index=True)


# ----------------------------------------------------------------------------- structure

def test_tiny_structure(tiny):
    spikes, calcium = tiny
    cfg = tiny_config()
    n_rec = cfg.n_animals * cfg.n_recordings
    assert len(spikes) == len(calcium) == n_rec
    assert sorted({r.animal for r in spikes}) == [f"m{a}" for a in range(cfg.n_animals)]
    assert [r.recording for r in spikes] == [f"m{a}-s{s}" for a in range(cfg.n_animals)
                                             for s in range(cfg.n_recordings)]
    for rec in spikes + calcium:
        rec.validate()
        assert rec.t_start == 0.0 and rec.t_stop == cfg.duration_s
        assert list(rec.labels.columns) == ["neuron_id", *LABEL_COLUMNS, synthetic.LAB_COLUMN]
        assert list(rec.labels["neuron_id"]) == list(rec.neuron_ids)
        assert rec.neurons[["x", "y", "z"]].isna().all().all()
        lab = int(rec.labels["lab"].iloc[0].removeprefix("lab"))
        assert rec.neurons["unit"].is_unique and rec.n_units <= round(cfg.lab_observed_fraction[lab] * cfg.pool_size)
        assert set(rec.labels["region"]) == set(cfg.regions)  # every region in every recording
        assert set(rec.labels["subclass"]) <= set(synthetic.SUBCLASSES)
        assert all(rec.labels["cell_class"] == rec.labels["subclass"].map(synthetic.CELL_CLASS))
    assert {r.dataset for r in spikes} == {"synthetic"}
    assert {r.dataset for r in calcium} == {"synthetic-calcium"}


def test_tracking_and_labels_across_recordings(tiny):
    spikes, calcium = tiny
    labels = pd.concat([r.labels.assign(track=r.neurons["track_id"].to_numpy(), animal=r.animal,
                                        recording=r.recording) for r in spikes])
    assert labels["track"].str.match(r"^m\d/n\d{3}$").all()
    assert (labels["track"].str.split("/").str[0] == labels["animal"]).all()
    per_track = labels.groupby("track")[list(LABEL_COLUMNS)].nunique()
    assert (per_track == 1).all().all()  # a tracked neuron keeps its labels
    seen = labels.groupby("track")["recording"].nunique()
    assert (seen > 1).any() and (seen == 1).any()  # tracked, with partial overlap
    for a in ("m0", "m1", "m2"):
        s0, s1 = (set(r.neurons["track_id"]) for r in spikes if r.animal == a)
        assert 0 < len(s0 & s1) < len(s0)
    for sp, ca in zip(spikes, calcium):  # the two modalities show the same neurons
        assert list(sp.neurons["track_id"]) == list(ca.neurons["track_id"])
        assert sp.labels[list(LABEL_COLUMNS)].equals(ca.labels[list(LABEL_COLUMNS)])


def test_epochs_behaviour_waveforms_calcium(tiny):
    spikes, calcium = tiny
    cfg = tiny_config()
    for rec in spikes:
        ep = rec.epochs
        assert sorted(ep["stimulus"]) == sorted(synthetic.STIMULI)
        assert ep["start"].iloc[0] == 0.0 and ep["stop"].iloc[-1] == rec.t_stop
        assert np.allclose(ep["start"].to_numpy()[1:], ep["stop"].to_numpy()[:-1])
        beh = rec.behaviour
        assert list(beh.columns) == ["time", "running_speed", "pupil"]
        assert np.allclose(np.diff(beh["time"]), 1.0 / cfg.behaviour_rate_hz)
        assert (beh["running_speed"] >= 0).all() and (beh["pupil"] > 0).all()
        assert rec.waveforms.shape == (rec.n_units, 90) and rec.waveform_rate == 30000.0
        assert rec.waveforms.dtype == np.float32
        st = rec.spike_times
        assert all(np.all(np.diff(rec.unit_spikes(i)) > 0) for i in range(rec.n_units))
        assert st.min() >= 0 and st.max() < rec.t_stop
    assert len({tuple(r.epochs["stimulus"]) for r in spikes}) > 1  # the order varies
    for rec in calcium:
        assert rec.waveforms is None
        assert rec.traces.dtype == np.float32 and np.isfinite(rec.traces).all()
        assert np.allclose(np.diff(rec.frame_times), cfg.frame_period_s)
        assert abs(1.0 / np.diff(rec.frame_times).mean() - 4.3) < 0.05
        assert rec.traces.shape == (int(cfg.duration_s / cfg.frame_period_s), rec.n_units)
        assert (rec.traces.std(axis=0) > 0).all()


def test_calcium_follows_spikes(tiny):
    """Each unit's dF/F follows its own spike count of the preceding second, frame by frame."""
    spikes, calcium = tiny
    sp, ca = spikes[0], calcium[0]
    t = ca.frame_times
    counts = np.stack([np.searchsorted(s, t) - np.searchsorted(s, t - 1.0)
                       for s in (sp.unit_spikes(i) for i in range(sp.n_units))], axis=1)
    z = lambda a: (a - a.mean(0)) / np.maximum(a.std(0), 1e-9)  # noqa: E731
    corr = z(counts.astype(float)).T @ z(ca.traces.astype(float)) / len(counts)  # (spikes unit, trace unit)
    own = np.diag(corr)
    assert np.median(own) > 0.5
    assert np.median(own) > np.median(corr[~np.eye(len(own), dtype=bool)]) + 0.3


def test_deterministic_and_seeded():
    a_sp, a_ca = simulate(tiny_config(0))
    b_sp, b_ca = simulate(tiny_config(0))
    for x, y in zip(a_sp, b_sp):
        assert np.array_equal(x.spike_times, y.spike_times) and np.array_equal(x.spike_offsets, y.spike_offsets)
        assert np.array_equal(x.waveforms, y.waveforms)
        assert x.labels.equals(y.labels) and x.neurons.equals(y.neurons)
        assert x.epochs.equals(y.epochs) and x.behaviour.equals(y.behaviour)
    for x, y in zip(a_ca, b_ca):
        assert np.array_equal(x.traces, y.traces)
    c_sp, _ = simulate(tiny_config(1))
    assert not np.array_equal(a_sp[0].spike_times[:100], c_sp[0].spike_times[:100])
    assert not a_sp[0].neurons["track_id"].equals(c_sp[0].neurons["track_id"])


def test_config_is_plain_data():
    cfg = SyntheticConfig()
    json.dumps(dataclasses.asdict(cfg))
    assert (cfg.n_animals, cfg.n_recordings, cfg.pool_size, cfg.duration_s) == (6, 3, 160, 300.0)


def test_latents_match_in_variance_and_timescale():
    """Every region's drive (and the brain-wide one) has unit variance in every epoch,
    and the regions' about the same autocorrelation: they differ only in what they
    co-vary with."""
    cfg = SyntheticConfig()
    library = synthetic._stimulus_library(cfg)
    dt = cfg.latent_dt_ms / 1000.0
    acfs = []
    for r in range(6):
        latent, epochs, _, _ = synthetic._recording_latents(cfg, r, library)
        assert abs(latent[:, -1].var() - 1.0) < 1e-3  # the brain-wide latent, slow: over the recording
        latent = latent[:, : len(cfg.regions)]
        for start, stop in zip(epochs["start"], epochs["stop"]):
            seg = latent[int(start / dt) : int(stop / dt)]
            assert np.all(np.abs(seg.var(axis=0) - 1.0) < 0.5)
        x = latent - latent.mean(0)
        acfs.append([(x[:-k] * x[k:]).mean(0) / x.var(0) for k in (int(0.2 / dt), int(1.0 / dt), int(4.0 / dt))])
    acf = np.mean(acfs, axis=0)  # (lags, regions)
    assert np.all(acf.max(axis=1) - acf.min(axis=1) < 0.12)


# ----------------------------------------------------------------------------- design

def test_region_partly_in_single_neuron_statistics(design):
    """Version 2: a neuron's own statistics carry some region information (rate, bursts,
    rhythmic ISIs), far from all of it: the distributions overlap heavily."""
    x = np.concatenate([isi_features(r) for r in design])
    y = labels_of(design)["region"].to_numpy()
    f1 = cv_macro_f1(x, y)
    chance = 1.0 / len(DESIGN.regions)
    assert chance + 0.05 < f1 < 0.7


def test_region_rate_distributions_differ_and_overlap(design):
    rates = np.concatenate([r.spike_counts() / r.duration for r in design])
    region = labels_of(design)["region"].to_numpy()
    median = pd.Series(rates).groupby(region).median()
    assert median["HPF"] < median["VIS"] < min(median["TH"], median["MB"])
    # about x2 and x0.5 on the default population; the ratios depend on the animals' offsets
    assert 1.3 < median["TH"] / median["VIS"] < 4.0 and 0.15 < median["HPF"] / median["VIS"] < 0.8
    log_rate = np.log(rates + 0.01)
    for a in ("HPF", "TH", "MB"):  # overlap: a unit of one region often outranks one of the other
        x, v = log_rate[region == a], log_rate[region == "VIS"]
        auc = (x[:, None] > v[None, :]).mean()
        assert 0.2 < auc < 0.8


def test_waveform_width_by_region(design):
    width = np.concatenate([realism.trough_to_peak_ms(r.waveforms, r.waveform_rate) for r in design])
    labels = labels_of(design)
    excitatory = (labels["cell_class"] == "excitatory").to_numpy()
    median = pd.Series(width[excitatory]).groupby(labels["region"].to_numpy()[excitatory]).median()
    assert median["TH"] < median["MB"] < median["VIS"] < median["HPF"]


def counts_5ms(rec: Recording) -> np.ndarray:
    edges = np.arange(0.0, rec.duration + 1e-9, PHASE_BIN_S)
    return np.stack([np.histogram(rec.unit_spikes(i), edges)[0] for i in range(rec.n_units)], axis=1).astype(float)


def state_mask(rec: Recording, n_bins: int, state: str) -> np.ndarray:
    """Bins in a behavioural state: running (> 5 cm/s), quiet (< 1 cm/s), or a stimulus epoch."""
    t = (np.arange(n_bins) + 0.5) * PHASE_BIN_S
    if state in ("running", "quiet"):
        speed = np.interp(t, rec.behaviour["time"], rec.behaviour["running_speed"])
        return speed > 5.0 if state == "running" else speed < 1.0
    mask = np.zeros(n_bins, dtype=bool)
    for start, stop, kind in rec.epochs.itertuples(index=False):
        mask |= (kind == state) & (t >= start) & (t < stop)
    return mask


def ppc(spike_counts: np.ndarray, phase: np.ndarray) -> float:
    """Pairwise phase consistency (Vinck et al. 2010) of the spikes (counts per bin) at
    the bins' phases: an unbiased estimate of the squared spike-phase vector length."""
    n, same_bin = spike_counts.sum(), np.sum(spike_counts**2)
    resultant = np.abs(np.sum(spike_counts * np.exp(1j * phase))) ** 2
    return float((resultant - same_bin) / (n * n - same_bin)) if n * n > same_bin else 0.0


def phase_locking(recs: list[Recording], region: str, band: tuple[float, float], state: str,
                  min_spikes: int = 100) -> np.ndarray:
    """PPC of each unit of ``region`` (with ``min_spikes`` spikes in the state) to the
    band-passed summed activity of the region's other units (leave-one-out), as an
    experimenter without an LFP would measure it."""
    sos = butter(3, band, btype="band", fs=1.0 / PHASE_BIN_S, output="sos")
    out = []
    for rec in recs:
        x = counts_5ms(rec)
        member = (rec.labels["region"] == region).to_numpy()
        total = x[:, member].sum(axis=1)
        mask = state_mask(rec, len(x), state)
        for i in np.flatnonzero(member):
            if (x[:, i] * mask).sum() >= min_spikes:
                out.append(ppc(x[:, i] * mask, np.angle(hilbert(sosfiltfilt(sos, total - x[:, i])))))
    return np.array(out)


def test_hippocampal_theta_locking_strongest_in_running(design):
    """Seen as an experimenter without the true phase would: HPF units lock to the theta
    of their region's other units while running, much less at rest; MB units do not."""
    theta = (6.0, 10.0)
    hpf_run = np.median(phase_locking(design, "HPF", theta, "running"))
    assert hpf_run > 0.02  # vector length ~0.15 or more, against a phase estimated from ~35 units
    assert hpf_run > 3 * np.median(phase_locking(design, "HPF", theta, "quiet"))
    assert hpf_run > 3 * np.median(phase_locking(design, "MB", theta, "running"))


def true_rhythms(cfg: SyntheticConfig, rec_index: int) -> tuple[np.ndarray, np.ndarray]:
    """The regions' rhythm drive of a recording, as (phase, envelope) on the 5 ms grid."""
    _, epochs, _, run_state = synthetic._recording_latents(cfg, rec_index, synthetic._stimulus_library(cfg))
    analytic = hilbert(synthetic._recording_rhythms(cfg, rec_index, run_state, epochs).astype(float), axis=0)
    step = int(round(PHASE_BIN_S * 1000.0 / cfg.dt_ms))
    return np.angle(analytic[::step]), np.abs(analytic[::step])


def test_locking_strength_to_the_true_rhythm(design):
    """Against the drive's own phase, where its envelope is above 0.5: the spike-phase
    vector length of the median locked unit of each region (the quantile 1 - f/2 over
    all its units, f = the locked fraction) is the documented one (HPF theta
    `THETA_VECTOR_LENGTH`, VIS gamma ~0.1), and units of the other regions are not locked."""
    cfg = DESIGN
    own: dict[str, list[float]] = {g: [] for g in cfg.regions}
    other: list[float] = []
    for r, rec in enumerate(design):
        phase, envelope = true_rhythms(cfg, r)
        x = counts_5ms(rec)
        n = min(len(x), len(phase))
        region = rec.labels["region"].to_numpy()
        for g, name in enumerate(cfg.regions):
            active = envelope[:n, g] > 0.5
            if not active.any():
                continue
            for i in range(rec.n_units):
                counts = x[:n, i] * active
                if counts.sum() >= 30:
                    (own[name] if region[i] == name else other).append(ppc(counts, phase[:n, g]))
    locked = dict(zip(cfg.regions, cfg.rhythm_locked_fraction))
    vector_length = {g: np.sqrt(max(np.quantile(v, 1.0 - locked[g] / 2), 0.0)) for g, v in own.items() if v}
    assert set(vector_length) == {"VIS", "HPF"}  # TH and MB have none awake
    assert abs(vector_length["HPF"] - synthetic.THETA_VECTOR_LENGTH) < 0.05
    assert 0.05 < vector_length["VIS"] < 0.15
    assert np.sqrt(max(np.quantile(other, 0.75), 0.0)) < 0.05


def test_rhythm_envelopes_follow_state():
    """The drive itself: theta grows with running, gamma only in gratings, nothing in TH
    and MB (thalamic spindles are a NREM-sleep rhythm; the recordings are awake)."""
    cfg = tiny_config()
    library = synthetic._stimulus_library(cfg)
    _, epochs, _, run_state = synthetic._recording_latents(cfg, 0, library)
    rhythm = synthetic._recording_rhythms(cfg, 0, run_state, epochs)
    lat_steps = int(round(cfg.latent_dt_ms / cfg.dt_ms))
    run = np.repeat(run_state, lat_steps)[: len(rhythm)]
    t = np.arange(len(rhythm)) * cfg.dt_ms / 1000.0
    gratings = np.zeros(len(t), dtype=bool)
    for start, stop, kind in epochs.itertuples(index=False):
        gratings |= (kind == "gratings") & (t >= start) & (t < stop)
    power = rhythm.astype(float) ** 2
    vis, hpf, th, mb = (cfg.regions.index(g) for g in ("VIS", "HPF", "TH", "MB"))
    assert np.all(power[~gratings, vis] == 0) and power[gratings, vis].mean() > 0.3
    assert power[run > 0.8, hpf].mean() > 3 * power[run < 0.2, hpf].mean() > 0
    assert np.all(power[:, th] == 0) and np.all(power[:, mb] == 0)


def test_config_needs_one_value_per_region():
    with pytest.raises(ValueError, match="rhythm_hz"):
        simulate(dataclasses.replace(tiny_config(), rhythm_hz=(30.0, 7.5)))


def test_region_in_covariation_with_population(design):
    x = np.concatenate([region_correlations(r, DESIGN.regions) for r in design])
    y = labels_of(design)["region"].to_numpy()
    assert cv_macro_f1(x, y) > 0.7


def test_region_relations_consistent_across_animals(design):
    """What identifies a region zero-shot: in every animal, MB follows running most,
    and VIS co-varies more with TH (both stimulus-driven) than with HPF."""
    for animal in sorted({r.animal for r in design}):
        recs = [r for r in design if r.animal == animal]
        run, vis = [], []
        for rec in recs:
            x = binned(rec)
            edges = np.arange(0.0, rec.duration + 1e-9, 0.25)
            speed = np.interp(edges[:-1] + 0.125, rec.behaviour["time"], rec.behaviour["running_speed"])
            speed = (speed - speed.mean()) / speed.std()
            run.append(pd.Series((x * speed[:, None]).mean(0)).groupby(rec.labels["region"].to_numpy()).mean())
            corr = pd.DataFrame(region_correlations(rec, DESIGN.regions), columns=DESIGN.regions)
            vis.append(corr[rec.labels["region"].to_numpy() == "VIS"].mean())
        run_by_region, vis_with = pd.concat(run, axis=1).mean(axis=1), pd.concat(vis, axis=1).mean(axis=1)
        assert run_by_region.idxmax() == "MB"
        assert vis_with["TH"] > vis_with["HPF"]


def test_subclass_in_isi_statistics(design):
    x = np.concatenate([isi_features(r) for r in design])
    labels = labels_of(design)
    assert 0.4 < cv_macro_f1(x, labels["subclass"].to_numpy()) < 0.95
    assert cv_macro_f1(x, labels["cell_class"].to_numpy()) > 0.6


def test_cell_class_in_waveform_width(design):
    x = np.concatenate([realism.trough_to_peak_ms(r.waveforms, r.waveform_rate) for r in design])[:, None]
    labels = labels_of(design)
    f1 = cv_macro_f1(x, labels["cell_class"].to_numpy())
    assert 0.6 < f1 < 0.9  # informative but overlapping: LTS (inhibitory) waveforms are broad-ish
    width = pd.Series(x[:, 0]).groupby(labels["subclass"]).median()
    assert width["FS"] < width["LTS"] < min(width["RS"], width["IB"], width["CH"])


def test_rate_and_animal_variability(design):
    rates = np.concatenate([r.spike_counts() / r.duration for r in design])
    assert 1.0 < np.median(rates) < 15.0 and (rates > 0.05).mean() > 0.95
    by_animal = pd.Series(rates).groupby(np.concatenate([[r.animal] * r.n_units for r in design])).median()
    assert by_animal.nunique() == len(by_animal)



# ----------------------------------------------------------------------------- version 3

def all_isis(recs: list[Recording]) -> np.ndarray:
    return np.concatenate([np.diff(r.unit_spikes(i)) for r in recs for i in range(r.n_units)])


def test_refractory_period_holds_and_contamination_grows_with_the_lab():
    cfg = tiny_config()
    clean = simulate(dataclasses.replace(cfg, lab_contamination=(0.0, 0.0, 0.0)))[0]
    assert all_isis(clean).min() >= cfg.refractory_ms / 1000.0
    sorted_ = simulate(cfg)[0]
    short = {lab: np.mean(all_isis([r for r in sorted_ if r.labels["lab"].iloc[0] == lab]) < 0.0015)
             for lab in ("lab0", "lab1", "lab2")}
    assert 0 < short["lab0"] < short["lab2"]  # 1 % against 6 % contamination


def test_near_silent_units_are_dropped_as_unit_qc_would(tiny):
    cfg = tiny_config()
    spikes, calcium = tiny
    for rec in spikes:
        assert np.all(rec.spike_counts() >= cfg.min_rate_hz * cfg.duration_s)
    kept = sum(r.n_units for r in spikes)
    everyone = sum(r.n_units for r in simulate(dataclasses.replace(cfg, min_rate_hz=0.0))[0])
    assert kept < everyone
    assert [r.neurons["unit"].tolist() for r in spikes] == [r.neurons["unit"].tolist() for r in calcium]


def test_labs_in_blocks_of_animals_with_their_yield(tiny):
    spikes, _ = tiny
    lab_of = {r.animal: set(r.labels["lab"]) for r in spikes}
    assert lab_of == {"m0": {"lab0"}, "m1": {"lab1"}, "m2": {"lab2"}}
    default = SyntheticConfig()
    assert [synthetic.lab_of(default, a) for a in range(default.n_animals)] == [0, 0, 1, 1, 2, 2]
    units = pd.Series([r.n_units for r in spikes]).groupby([r.animal for r in spikes]).mean()
    assert units["m0"] < units["m2"]  # yield 0.65 against 0.85 of the pool


def test_type_mix_differs_by_region(design):
    labels = labels_of(design)
    inhibitory = (labels["cell_class"] == "inhibitory").groupby(labels["region"]).mean()
    for g, expected in zip(DESIGN.regions, DESIGN.inhibitory_fraction):
        assert abs(inhibitory[g] - expected) < 0.06, (g, inhibitory[g], expected)
    assert inhibitory["TH"] < inhibitory["HPF"] < inhibitory["VIS"] < inhibitory["MB"]


def test_brain_wide_component_sets_within_across_ratio(design):
    """Within-region correlation exceeds across-region correlation at sub-second bins
    and nearly equals it at longer ones (Delaney & O'Donnell 2023)."""
    fast, slow = realism.count_correlations(design, 0.1), realism.count_correlations(design, 1.0)
    assert 1.5 < fast["ratio"] < 3.0 and fast["across"] > 0.03
    assert 1.0 < slow["ratio"] < fast["ratio"]


def test_modes_of_a_class_form_a_continuum():
    subclass = np.repeat(np.arange(len(synthetic.SUBCLASSES)), 400)
    params = synthetic.continuum_parameters(subclass, np.random.default_rng(0), 0.4)
    d = pd.Series(params.d).groupby(subclass)
    rs, ib, ch, fs, lts = (synthetic.SUBCLASSES.index(m) for m in ("RS", "IB", "CH", "FS", "LTS"))
    assert d.max()[ib] > d.min()[rs] and d.max()[ch] > d.min()[ib]  # neighbours overlap
    a = pd.Series(params.a).groupby(subclass)
    assert a.min()[fs] < a.max()[lts] and a.max()[fs] <= 0.1 + 1e-12 and a.min()[lts] >= 0.02 - 1e-12
    b = pd.Series(params.b).groupby(subclass)
    assert b.max()[[rs, ib, ch]].max() <= 0.2 + 1e-12 < b.max()[lts]
