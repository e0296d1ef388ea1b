"""The plug-in conformance checks (neuronbench.testing): every registered method passes
them, and each deliberately broken plug-in fails exactly the check named after its defect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuronbench.plugin import MethodInfo
from neuronbench.registry import all_methods
from neuronbench.testing import CHECKS, check_method, check_same_seed_same_embedding


@pytest.mark.parametrize("name", list(all_methods()))
def test_every_registered_method_conforms(name):
    check_method(all_methods()[name])


class RateModel:
    """A small plug-in that is correct unless told to break (``defect``): a unit's log
    spike rate (calcium: log mean absolute trace) and its spike/trace irregularity,
    centred on the means learned in ``fit`` and shifted by a seeded offset."""

    def __init__(self, defect: str | None = None, device: str | None = None):
        self.defect = defect
        self.device = device  # a torch-declaring variant gets one (uses_torch=True)

    def _features(self, rec):
        if rec.modality == "calcium":
            if self.defect == "spikes-only":
                rec.spike_counts()  # the mistake: a spikes-only call on a method declared for calcium
            traces = np.asarray(rec.traces, dtype=float)
            return np.column_stack([np.log1p(np.abs(traces).mean(axis=0)), traces.std(axis=0)])
        rows = []
        for i in range(rec.n_units):
            spikes = rec.unit_spikes(i)
            isi = np.diff(spikes)
            if self.defect == "silent-crash":
                mean_isi = sum(isi) / len(isi)  # ZeroDivisionError below two spikes
            cv = float(isi.std() / isi.mean()) if len(isi) > 1 and isi.mean() > 0 else 0.0
            rows.append([np.log1p(len(spikes) / rec.duration), cv])
        feats = np.asarray(rows)
        if self.defect == "needs-waveforms":  # uses waveforms without declaring requires=("waveforms",)
            feats = np.column_stack([feats, np.asarray(rec.waveforms).min(axis=1)])
        return feats

    def fit(self, recordings, *, seed, labels=None):
        if self.defect == "reads-labels":
            self.classes_ = [sorted(r.labels["cell_class"].unique()) for r in recordings if r.labels is not None]
        self.mean_ = np.vstack([self._features(r) for r in recordings]).mean(axis=0)
        self.offset_ = np.random.default_rng(None if self.defect == "nondeterministic" else seed).normal()
        if self.device is not None and self.defect != "no-device_":
            self.device_ = "cpu" if self.device == "auto" else self.device
        return None if self.defect == "fit-returns-none" else self

    def embed(self, recordings):
        if self.defect == "no-fit-check":
            mean, offset = getattr(self, "mean_", 0.0), getattr(self, "offset_", 0.0)
        else:
            mean, offset = self.mean_, self.offset_  # AttributeError before fit
        values = np.vstack([self._features(r) for r in recordings]) - mean + offset
        table = pd.DataFrame(values, index=np.concatenate([r.neuron_ids for r in recordings]))
        if self.defect == "drops-a-neuron":
            table = table.iloc[:-1]
        if self.defect == "nan":
            table.iloc[int(np.argmax(values[:, 0])), 0] = np.nan
        return table


def plugin(defect: str | None, **fields) -> MethodInfo:
    device = {"device": "auto"} if fields.get("uses_torch") else {}
    return MethodInfo(name=f"rate-{defect}", kind="method", summary="test plug-in", factory=f"{__name__}:RateModel",
                      presets={"cpu": {"defect": defect, **device}}, **fields)


def test_a_correct_plugin_passes_every_check():
    check_method(plugin(None))
    check_method(plugin(None, supervised=True))
    check_method(plugin(None, uses_torch=True))  # runs where asked (cpu) and says so in device_


@pytest.mark.parametrize("defect, failed", [
    ("reads-labels", {"check_labels_never_reach_fit"}),
    ("drops-a-neuron", {"check_embeds_one_finite_row_per_neuron"}),
    ("nan", {"check_embeds_one_finite_row_per_neuron"}),
    ("nondeterministic", {"check_same_seed_same_embedding"}),
    ("no-fit-check", {"check_refuses_embed_before_fit"}),
    ("silent-crash", {"check_handles_silent_units"}),
    ("spikes-only", {"check_handles_silent_units", "check_declared_modalities"}),
    ("needs-waveforms", {"check_declared_modalities"}),
    ("fit-returns-none", {"check_fit_returns_self"}),
    ("no-device_", {"check_fit_returns_self"}),
])
def test_a_broken_plugin_fails_the_check_named_after_its_defect(defect, failed):
    with pytest.raises(AssertionError) as e:
        check_method(plugin(defect, uses_torch=defect == "no-device_"))
    report = str(e.value)
    assert f"method 'rate-{defect}' (preset 'cpu') failed {len(failed)} of {len(CHECKS)} conformance checks" in report
    assert {c.__name__ for c in CHECKS if f"- {c.__name__}:" in report} == failed


def test_failure_messages_say_what_is_wrong():
    def report(defect, **fields):
        with pytest.raises(AssertionError) as e:
            check_method(plugin(defect, **fields))
        return str(e.value)

    assert "read the labels" in report("reads-labels") and "m0-s0: labels['cell_class']" in report("reads-labels")
    assert "1 neuron(s) missing" in report("drops-a-neuron")
    assert "NaN or infinite values for 1 neuron(s)" in report("nan")
    assert "ZeroDivisionError" in report("silent-crash") and "spikes recordings with silent units" in report("silent-crash")
    assert "calcium recordings with no optional field: fit raised NeuronbenchError" in report("spikes-only")
    assert "fit returned NoneType, expected the model itself" in report("fit-returns-none")
    assert "declares uses_torch=True, but its fitted model has no device_" in report("no-device_", uses_torch=True)
    # declaring the field it uses makes the waveform plug-in conform, on spikes
    check_method(plugin("needs-waveforms", modalities=("spikes",), requires=("waveforms",)))


def test_a_check_runs_alone():
    check_same_seed_same_embedding(plugin(None))
    with pytest.raises(AssertionError, match="two fits with seed 0 gave different embeddings"):
        check_same_seed_same_embedding(plugin("nondeterministic"))
