"""The realism audit measures what it says: on hand-made spike trains with a known answer
(planted short ISIs, units with a known count correlation, units locked to a known
sinusoid in one state only, class carried by timing alone) and on the tiny simulation."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuronbench import realism
from neuronbench.data.recording import Recording, neuron_id
from neuronbench.errors import NeuronbenchError

RATE = 30000.0


def waveform(trough_uv: float, trough_to_peak_ms: float, samples: int = 90) -> np.ndarray:
    """A noiseless waveform: trough at 1 ms of depth ``trough_uv``, a peak a quarter as
    high ``trough_to_peak_ms`` later."""
    t = np.arange(samples) / RATE * 1000.0
    return (0.25 * trough_uv * np.exp(-0.5 * ((t - 1.0 - trough_to_peak_ms) / 0.1) ** 2)
            - trough_uv * np.exp(-0.5 * ((t - 1.0) / 0.1) ** 2))


def make_recording(trains: list[np.ndarray], duration: float, *, name: str = "r0", animal: str = "a0",
                   labels: dict[str, list] | None = None, waveforms: np.ndarray | None = None,
                   speed: np.ndarray | None = None, epochs: list[tuple[float, float, str]] | None = None
                   ) -> Recording:
    units = [f"u{i}" for i in range(len(trains))]
    ids = [neuron_id("toy", name, u) for u in units]
    trains = [np.sort(np.asarray(t, dtype=np.float64)) for t in trains]
    behaviour = None
    if speed is not None:
        behaviour = pd.DataFrame({"time": np.arange(len(speed)) / 10.0, "running_speed": speed})
    return Recording(
        dataset="toy", animal=animal, recording=name, modality="spikes",
        neurons=pd.DataFrame({"neuron_id": ids, "unit": units, "track_id": None, "x": np.nan, "y": np.nan,
                              "z": np.nan}),
        t_start=0.0, t_stop=duration,
        epochs=pd.DataFrame(epochs or [(0.0, duration, "spontaneous")], columns=["start", "stop", "stimulus"]),
        spike_times=np.concatenate(trains), spike_offsets=np.concatenate([[0], np.cumsum([len(t) for t in trains])]),
        waveforms=waveforms, waveform_rate=RATE if waveforms is not None else None, behaviour=behaviour,
        labels=pd.DataFrame({"neuron_id": ids, **(labels or {"region": ["A"] * len(trains)})}),
    ).validate()


def poisson(rng: np.random.Generator, rate: float, duration: float) -> np.ndarray:
    return np.sort(rng.uniform(0.0, duration, rng.poisson(rate * duration)))


# ----------------------------------------------------------------------------- 1, 2, 6, 7

def test_rates_refractory_type_mix_and_labs_count_what_was_planted():
    regular = np.arange(0.005, 10.0, 0.01)  # 1000 spikes, every ISI 10 ms
    planted = np.sort(np.concatenate([regular, regular[[10, 20]] + 0.0008, regular[[30]] + 0.0012]))
    trains = [planted, regular, np.array([]), np.array([2.0, 5.0])]  # the last at 0.2 Hz
    wf = np.stack([waveform(50, 0.3), waveform(100, 0.7), waveform(100, 0.7), waveform(60, 0.7)])
    rec_a = make_recording(trains, 10.0, name="r0", waveforms=wf,
                           labels={"region": ["A", "A", "B", "B"], "cell_class": ["inhibitory", "excitatory"] * 2,
                                   "subclass": ["FS", "RS", "LTS", "RS"], "lab": ["L1"] * 4})
    rec_b = make_recording([regular, np.array([3.0])], 20.0, name="r1", waveforms=wf[:2],
                           labels={"region": ["A", "B"], "cell_class": ["excitatory"] * 2, "subclass": ["RS"] * 2,
                                   "lab": ["L2"] * 2})
    units = realism.unit_table([rec_a, rec_b])

    rates = realism.rates(units)
    assert rates["n_silent"] == 1 and rates["n_below_0_1hz"] == 2  # 0 spikes, and 1 spike in 20 s
    assert rates["median_hz_by_region"]["A"] == pytest.approx(100.0)

    ref = realism.refractory(units)
    n_isi = (1002 + 999 + 0 + 1) + (999 + 0)
    assert ref["n_isi_lt_1ms"] == 2  # the two planted at 0.8 ms; 1.2 ms is above 1 ms
    assert ref["pct_isi_lt_1_5ms"] == pytest.approx(100.0 * 3 / n_isi)
    assert ref["n_units_over_1pct"] == 0  # 3 of 1002 ISIs is 0.3 %
    assert ref["shortest_isi_ms"] == pytest.approx(0.8, abs=1e-6)
    assert ref["pct_isi_lt_1_5ms_by_lab"] == {"L1": pytest.approx(100.0 * 3 / 2002), "L2": 0.0}
    assert ref["pct_isi_lt_1_5ms_by_subclass"]["FS"] == pytest.approx(100.0 * 3 / 1002)

    mix = realism.type_mix(units)
    assert mix["A"]["inhibitory_share"] == pytest.approx(1 / 3) and mix["B"]["inhibitory_share"] == pytest.approx(1 / 3)
    assert mix["B"]["subclass_fractions"] == {"LTS": pytest.approx(1 / 3), "RS": pytest.approx(2 / 3)}

    labs = realism.labs(units)
    assert labs["L1"]["units_per_recording"] == 4.0 and labs["L2"]["n_recordings"] == 1
    assert labs["L1"]["median_trough_depth_uv"] == pytest.approx(80.0, abs=1.0)  # depths 50, 100, 100, 60
    assert labs["L2"]["median_trough_to_peak_ms"] == pytest.approx(0.5, abs=0.05)  # widths 0.3 and 0.7

    with_violator = realism.unit_table([make_recording([np.arange(0, 1, 0.1).tolist() + [0.5001]], 1.0)])
    assert realism.refractory(with_violator)["n_units_over_1pct"] == 1  # 1 of 10 ISIs


def test_count_correlation_within_and_across_regions():
    """A and B share half their count variance (r = 0.5 by construction); C is independent."""
    rng = np.random.default_rng(0)
    n_bins, bin_s = 3000, 0.1
    shared = rng.poisson(5, n_bins)
    counts = np.stack([shared + rng.poisson(5, n_bins), shared + rng.poisson(5, n_bins), rng.poisson(10, n_bins)])
    trains = [np.repeat(np.arange(n_bins) * bin_s, c) + rng.uniform(0, bin_s, c.sum()) for c in counts]
    rec = make_recording(trains, n_bins * bin_s, labels={"region": ["X", "X", "Y"]})
    out = realism.count_correlations([rec], bin_s)
    r = np.corrcoef(counts)
    assert out["within"] == pytest.approx(r[0, 1]) and out["within"] == pytest.approx(0.5, abs=0.05)
    assert out["across"] == pytest.approx((r[0, 2] + r[1, 2]) / 2) and abs(out["across"]) < 0.05
    assert (out["n_within_pairs"], out["n_across_pairs"]) == (1, 2)
    unlabelled = make_recording(trains + trains[:1], n_bins * bin_s, labels={"region": ["X", "X", "Y", None]})
    assert realism.count_correlations([unlabelled], bin_s) == out  # a unit without a region takes no part


def test_running_correlation_follows_a_rate_that_tracks_speed():
    """Region R fires at 5 + 2 x speed Hz, region S at a constant 10 Hz."""
    rng = np.random.default_rng(3)
    duration = 200.0
    speed = np.repeat(rng.uniform(0, 10, int(duration)), 10)  # 10 Hz samples, constant within each second
    trains = []
    for _ in range(3):
        counts = rng.poisson(5 + 2 * speed[::10])
        trains.append(np.repeat(np.arange(int(duration)), counts) + rng.uniform(0, 1, counts.sum()))
    trains += [poisson(rng, 10.0, duration) for _ in range(3)]
    rec = make_recording(trains, duration, labels={"region": ["R"] * 3 + ["S"] * 3}, speed=speed)
    out = realism.running_correlation([rec])["by_region"]
    assert out["R"] > 0.9 and abs(out["S"]) < 0.15


# ----------------------------------------------------------------------------- 4

def test_vector_length_and_rayleigh():
    phase = np.array([0.0, np.pi / 2, np.pi, 0.0])
    vl, p, n = realism.vector_length(np.array([3, 1, 1, 0]), phase)
    assert n == 5 and vl == pytest.approx(abs(3 + 1j - 1) / 5)
    vl, p, _ = realism.vector_length(np.full(400, 1), np.linspace(0, 2 * np.pi, 400, endpoint=False))
    assert vl == pytest.approx(0.0, abs=1e-9) and p == pytest.approx(1.0)
    vl, p, _ = realism.vector_length(np.full(100, 1), np.zeros(100))
    assert vl == pytest.approx(1.0) and p < 1e-20


def locked_train(rng: np.random.Generator, phase: np.ndarray, depth: np.ndarray, rate: float, dt: float
                 ) -> np.ndarray:
    """Inhomogeneous Poisson spikes at rate * (1 + depth cos(phase)) on a grid of dt."""
    p = rate * dt * (1.0 + depth * np.cos(phase))
    return (np.flatnonzero(rng.random(len(p)) < p) + rng.random()) * dt


def test_rhythm_locking_to_a_known_sinusoid_only_in_its_state():
    """Region H's units fire at rate x (1 + 0.8 cos(7.5 Hz phase)) while running (the first
    half), unmodulated at rest; region N's units are Poisson. Against the true phase the
    vector length is 0.8 / 2 = 0.4; estimated from the other H units it must come close."""
    rng = np.random.default_rng(1)
    duration, dt = 60.0, 0.0005
    t = np.arange(int(duration / dt)) * dt
    phase = 2 * np.pi * 7.5 * t
    running = t < duration / 2
    depth = 0.8 * running
    trains = [locked_train(rng, phase, depth, 20.0, dt) for _ in range(10)]
    trains += [poisson(rng, 20.0, duration) for _ in range(10)]
    speed = np.where(np.arange(int(duration * 10)) < duration * 5, 10.0, 0.0)
    rec = make_recording(trains, duration, labels={"region": ["H"] * 10 + ["N"] * 10}, speed=speed)
    out = realism.rhythms([rec])
    h_run, h_rest = out["theta_running"]["by_region"]["H"], out["theta_rest"]["by_region"]["H"]
    assert h_run["n_units"] == 10 and 0.33 < h_run["median_vector_length"] < 0.42
    assert h_run["fraction_locked"] == 1.0
    assert h_rest["median_vector_length"] < 0.1 and h_rest["fraction_locked"] <= 0.2
    assert h_run["median_vector_length_contrast"] == h_rest["median_vector_length"]
    assert h_run["median_excess_over_flanks"] > 0.25 and abs(h_rest["median_excess_over_flanks"]) < 0.05
    assert h_run["power_inside_over_outside"] > 3.0 and h_run["power_ratio_inside"] > 3.0
    n_run = out["theta_running"]["by_region"]["N"]
    assert n_run["median_vector_length"] < 0.1 and n_run["fraction_locked"] <= 0.2
    assert abs(n_run["median_excess_over_flanks"]) < 0.05
    assert 0.5 < n_run["power_inside_over_outside"] < 2.0
    # no gratings epoch: the gamma band has no units in its state and no power window
    assert out["gamma_gratings"]["by_region"]["H"]["n_units"] == 0
    assert out["gamma_gratings"]["by_region"]["H"]["power_ratio_inside"] is None


def test_state_masks():
    rec = make_recording([np.array([1.0])], 10.0, speed=np.r_[np.zeros(50), np.full(50, 5.0)],
                         epochs=[(0.0, 4.0, "spontaneous"), (4.0, 10.0, "gratings")])
    running = realism.state_mask(rec, 1000, "running", 0.01)
    assert not running[:490].any() and running[500:].all()  # 2 cm/s crossed near 4.94 s
    assert np.array_equal(realism.state_mask(rec, 1000, "rest", 0.01), ~running)
    gratings = realism.state_mask(rec, 1000, "gratings", 0.01)
    assert gratings.sum() == 600 and gratings[400:].all()
    assert np.array_equal(realism.state_mask(rec, 1000, "not_gratings", 0.01), ~gratings)
    assert realism.state_mask(rec, 1000, "all", 0.01).all()
    with pytest.raises(NeuronbenchError, match="unknown state"):
        realism.state_mask(rec, 10, "sleep")


# ----------------------------------------------------------------------------- 5

def test_probes_find_class_in_timing_and_region_in_rate():
    """Class A fires regularly (gamma ISIs, shape 20), class B as Poisson, with the same
    waveforms: timing alone separates them, the waveform cannot. Region sets the rate
    (5 vs 20 Hz): one feature alone gives it away."""
    rng = np.random.default_rng(2)
    duration, recs = 20.0, []
    for a in range(5):
        trains, cls, region, wf = [], [], [], []
        for k in range(16):
            rate = 5.0 if k % 2 else 20.0
            if k % 4 < 2:
                isi = rng.gamma(20.0, 1.0 / (20.0 * rate), int(rate * duration * 2))
                train = np.cumsum(isi)
                trains.append(train[train < duration])
                cls.append("excitatory")
            else:
                trains.append(poisson(rng, rate, duration))
                cls.append("inhibitory")
            region.append("slow" if k % 2 else "fast")
            wf.append(waveform(80.0, rng.uniform(0.3, 0.8)))
        recs.append(make_recording(trains, duration, name=f"r{a}", animal=f"a{a}", waveforms=np.stack(wf),
                                   labels={"region": region, "cell_class": cls}))
    out = realism.probes(recs)
    assert out["grouped_by_animal"] is True
    assert out["cell_class"]["timing_only"] > 0.95
    assert out["cell_class"]["waveform_only"] < 0.75 and out["cell_class"]["width_only"] < 0.75
    assert out["region"]["best_single_feature_f1"] > 0.95
    assert out["region"]["single_feature_f1"]["trough_to_peak_ms"] < 0.75


# ----------------------------------------------------------------------------- all

def test_audit_on_tiny_synthetic_and_bad_input():
    from neuronbench.data import synthetic

    spikes, calcium = synthetic.simulate(synthetic.tiny_config())
    result = realism.audit(spikes, with_probes=False)
    json.dumps(result, allow_nan=False)
    assert result["n_units"] == sum(r.n_units for r in spikes)
    assert set(result["rates"]["median_hz_by_region"]) == set(synthetic.tiny_config().regions)
    hpf = result["rhythms"]["theta_running"]["by_region"]["HPF"]["median_vector_length"]
    mb = result["rhythms"]["theta_running"]["by_region"]["MB"]["median_vector_length"]
    assert hpf > mb + 0.05  # hippocampal theta, seen without the true phase
    excess = {g: v["median_excess_over_flanks"] for g, v in result["rhythms"]["theta_running"]["by_region"].items()}
    assert excess["HPF"] > 0.05 and abs(excess["MB"]) < 0.03  # MB: co-variation only, no rhythm
    c = result["correlation"]["0.1s"]
    assert c["within"] > c["across"] > -0.05
    labs = result["labs"]  # v3: one animal per lab in the tiny population, yield 0.65 / 0.75 / 0.85
    assert sorted(labs) == ["lab0", "lab1", "lab2"] and all(v["n_recordings"] == 2 for v in labs.values())
    assert labs["lab0"]["units_per_recording"] < labs["lab2"]["units_per_recording"]
    with pytest.raises(NeuronbenchError, match="modality"):
        realism.audit(calcium)
    with pytest.raises(NeuronbenchError, match="'region'"):
        realism.audit([spikes[0].without_labels()])


def test_script_bad_dataset_dir_exits_2_without_writing(tmp_path, capsys):
    path = Path(__file__).resolve().parents[1] / "scripts" / "realism_audit.py"
    spec = importlib.util.spec_from_file_location("realism_audit", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "audit.json"
    assert script.main(["--dataset-dir", str(tmp_path / "missing"), "--json", str(out)]) == 2
    assert "manifest.json" in capsys.readouterr().err and not out.exists()
