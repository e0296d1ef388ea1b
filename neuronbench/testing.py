"""Plug-in conformance: the small named checks every method must pass.

After scikit-learn's ``check_estimator``: `check_method` runs every check of `CHECKS` on
a method and raises one `AssertionError` naming each failed check and what was wrong.
Each check is also importable on its own (``check_<what>(info, preset)``), raising an
`AssertionError` when the method breaks the contract of `neuronbench.plugin`::

    from neuronbench.testing import check_method
    from my_package.meta import INFO

    def test_my_method_conforms():
        check_method(INFO)  # the "tiny" preset if it has one, else "cpu"

From the command line, ``neuronbench check-method NAME [--preset P]`` reports each check.
The checks run the method on the device ``cpu`` on small simulated recordings: the two
recordings of one animal to fit on and those of an unseen animal, from
`neuronbench.data.synthetic` (its ``tiny`` configuration, whose constants are cited
there, with two animals), with silent units added where a check says so. Each check
builds its own model with ``info.build(info.config(preset, device="cpu"))``, so the checks
depend on the presets only, never on the defaults of a constructor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from neuronbench.data.recording import Recording
from neuronbench.data.synthetic import simulate, tiny_config
from neuronbench.embeddings import check_embeddings
from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import Method, MethodInfo, device_of, fitted
from neuronbench.testing_dataset import check_dataset  # noqa: F401  (re-exported beside check_method)

SEED = 0
FIT_ANIMALS = ("m0",)  # the animal fit sees
UNSEEN_ANIMALS = ("m1",)  # an animal fit does not see: embedded where the inductive setting is supported
LABEL = "region"  # the label handed to a supervised method's fit (synthetic: 4 regions)
OPTIONAL_FIELDS = ("waveforms", "behaviour")  # the names `MethodInfo.requires` uses
MIN_SPIKES = 10  # units with fewer are left out, except by `check_handles_silent_units`


# ----------------------------------------------------------------------------- data

@lru_cache(maxsize=1)
def _simulation() -> tuple[tuple[Recording, ...], tuple[Recording, ...]]:
    """The tiny synthetic dataset (spikes, calcium), simulated once per process; arrays
    read-only, so a method that writes into its input fails where it writes."""
    spikes, calcium = simulate(dataclasses.replace(tiny_config(seed=0), n_animals=2))
    for rec in (*spikes, *calcium):
        for name in ("spike_times", "spike_offsets", "traces", "frame_times", "waveforms"):
            array = getattr(rec, name)
            if array is not None:
                array.flags.writeable = False
    return tuple(spikes), tuple(calcium)


def recordings(modality: str, *, optional: Sequence[str] = OPTIONAL_FIELDS, silent: bool = False) -> list[Recording]:
    """The check recordings of ``modality`` with their labels, as a dataset holds them.

    Args:
        optional: the optional fields kept (`OPTIONAL_FIELDS`); the others are removed.
        silent: keep every unit and make the first two of every recording silent: for
            spikes, no spike and a single spike; for calcium, a constant trace and a trace
            of noise alone (the simulation's noise level, no event). Without it, units with
            fewer than `MIN_SPIKES` spikes are left out, so that only the check of silent
            units meets them.
    """
    spikes, calcium = _simulation()
    if modality not in ("spikes", "calcium"):
        raise NeuronbenchError(f"unknown modality {modality!r}; expected 'spikes' or 'calcium'")
    out = []
    for rec in spikes if modality == "spikes" else calcium:
        changes: dict[str, Any] = {"neurons": rec.neurons.copy(), "epochs": rec.epochs.copy(),
                                   "labels": None if rec.labels is None else rec.labels.copy()}
        if "behaviour" in optional and rec.behaviour is not None:
            changes["behaviour"] = rec.behaviour.copy()
        if silent:
            changes.update(_silenced(rec))
        elif rec.modality == "spikes":
            changes.update(_active_units(rec))
        changes.update({f: None for f in OPTIONAL_FIELDS if f not in optional})
        if "waveforms" not in optional:
            changes["waveform_rate"] = None
        out.append(dataclasses.replace(rec, **changes).validate("neuronbench.testing"))
    return out


def _silenced(rec: Recording) -> dict[str, np.ndarray]:
    """The arrays of ``rec`` with unit 0 silent and unit 1 (nearly) silent."""
    if rec.modality == "spikes":
        trains = [np.asarray(rec.unit_spikes(i)) for i in range(rec.n_units)]
        trains[0] = trains[0][:0]
        trains[1] = trains[1][len(trains[1]) // 2:][:1]
        return _spike_arrays(trains)
    traces = np.array(rec.traces, dtype=np.float32)
    traces[:, 0] = 0.0
    noise = np.random.default_rng(SEED).normal(0.0, tiny_config().calcium_noise, len(traces))
    traces[:, 1] = noise.astype(np.float32)
    return {"traces": traces}


def _spike_arrays(trains: list[np.ndarray]) -> dict[str, np.ndarray]:
    """``spike_times`` and ``spike_offsets`` (CSR by unit) of one spike train per unit."""
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in trains])]).astype(np.int64)
    return {"spike_times": np.concatenate(trains), "spike_offsets": offsets}


def _active_units(rec: Recording) -> dict[str, Any]:
    """The fields of ``rec`` restricted to its units with at least `MIN_SPIKES` spikes."""
    keep = np.flatnonzero(rec.spike_counts() >= MIN_SPIKES)
    rows = {"neurons": rec.neurons.iloc[keep].reset_index(drop=True),
            **_spike_arrays([np.asarray(rec.unit_spikes(i)) for i in keep])}
    if rec.labels is not None:
        rows["labels"] = rec.labels.iloc[keep].reset_index(drop=True)
    if rec.waveforms is not None:
        rows["waveforms"] = np.asarray(rec.waveforms)[keep]
    return rows


def _split(recs: list[Recording]) -> tuple[list[Recording], list[Recording]]:
    """(the recordings to fit on, the unseen ones)."""
    return [r for r in recs if r.animal in FIT_ANIMALS], [r for r in recs if r.animal in UNSEEN_ANIMALS]


def probe_train_labels(fit_recs: Sequence[Recording]) -> pd.Series:
    """What a supervised method gets as ``labels=``: the labels of every other neuron of
    the fit recordings (by neuron_id), the others left unlabelled as the probe's test
    neurons are."""
    table = pd.concat([r.labels for r in fit_recs if r.labels is not None]).sort_values("neuron_id")
    table = table.dropna(subset=[LABEL]).iloc[::2]
    return pd.Series(table[LABEL].to_numpy(), index=pd.Index(table["neuron_id"], name="neuron_id"), name=LABEL)


# ----------------------------------------------------------------------------- calls

def _preset(info: MethodInfo, preset: str | None) -> str:
    return preset if preset is not None else ("tiny" if "tiny" in info.presets else "cpu")


def _call(what: str, fn: Callable[[], Any]) -> Any:
    """``fn()``; an error of the method becomes an AssertionError saying where it happened."""
    try:
        return fn()
    except AssertionError:
        raise
    except Exception as e:
        raise AssertionError(f"{what} raised {type(e).__name__}: {e}") from e


def _build(info: MethodInfo, preset: str | None) -> Method:
    return _call("build", lambda: info.build(info.config(_preset(info, preset), device="cpu")))


def _fit(info: MethodInfo, model: Method, fit_recs: list[Recording]) -> object:
    """``fit`` as the harness calls it: recordings without labels; ``labels=`` (the
    probe-train labels) for a supervised method only. Returns what ``fit`` returned
    (`check_fit_returns_self` checks it; the other checks go on with ``model``)."""
    bare = [r.without_labels() for r in fit_recs]
    if info.supervised:
        labels = probe_train_labels(fit_recs)
        return _call("fit", lambda: model.fit(bare, seed=SEED, labels=labels))
    return _call("fit", lambda: model.fit(bare, seed=SEED))


def _embed(model: Method, recs: list[Recording], what: str = "embed") -> pd.DataFrame:
    """``model.embed(recs)``, required to be a DataFrame."""
    table = _call(what, lambda: model.embed([r.without_labels() for r in recs]))
    if not isinstance(table, pd.DataFrame):
        raise AssertionError(f"{what}: expected a pandas DataFrame indexed by neuron_id, got {type(table).__name__}")
    return table


def _rows(table: pd.DataFrame, ids: Sequence[str], what: str = "embed") -> pd.DataFrame:
    """The rows of ``table`` for ``ids`` (float64, ordered by id), required to be exactly
    one finite numeric row per id."""
    try:
        rows = check_embeddings(table, ids, what)
    except NeuronbenchError as e:
        raise AssertionError(str(e)) from None
    extra = pd.Index(table.index).difference(ids)
    if len(extra):
        raise AssertionError(f"{what}: {len(extra)} row(s) for neurons not in the recordings, e.g. {extra[:3].tolist()}")
    return rows.sort_index()


def _embedded(info: MethodInfo, fit_recs: list[Recording], unseen: list[Recording]) -> list[Recording]:
    """The recordings the harness embeds: the fitted ones, and the unseen animal's where the
    method supports the inductive setting."""
    return fit_recs + unseen if "inductive" in info.settings else fit_recs


def _first_modality(info: MethodInfo) -> str:
    if not info.modalities:
        raise AssertionError("MethodInfo.modalities is empty: a method declares the modalities it runs on")
    return info.modalities[0]


def _fit_and_embed(info: MethodInfo, preset: str | None, recs: list[Recording]) -> tuple[pd.DataFrame, list[Recording]]:
    """(the embedding of a model built and fitted as the harness does, the recordings embedded)."""
    fit_recs, unseen = _split(recs)
    embedded = _embedded(info, fit_recs, unseen)
    model = _build(info, preset)
    _fit(info, model, fit_recs)
    return _embed(model, embedded), embedded


def _ids(recs: Sequence[Recording]) -> list[str]:
    return [i for r in recs for i in r.neuron_ids]


# ----------------------------------------------------------------------------- checks

class _Labels:
    """Stands in for a recording's labels table: any use of it is recorded and raises."""

    def __init__(self, recording: str) -> None:
        self.recording = recording
        self.reads: list[str] = []

    def _read(self, how: str) -> Any:
        self.reads.append(f"{self.recording}: labels{how}")
        raise LookupError(f"neuronbench.testing: a method read the labels of recording {self.recording!r}")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # protocol probes (copy, pickle): not a read
            raise AttributeError(name)
        return self._read(f".{name}")

    def __getitem__(self, key: Any) -> Any:
        return self._read(f"[{key!r}]")

    def __len__(self) -> int:
        return self._read(" (len)")

    def __iter__(self) -> Any:
        return self._read(" (iter)")

    def __bool__(self) -> bool:
        return self._read(" (bool)")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        return self._read(" (array)")


def check_labels_never_reach_fit(info: MethodInfo, preset: str | None = None) -> None:
    """``fit`` and ``embed`` never read a recording's labels table (the harness removes
    it; here every recording carries one that records any read); a supervised method
    learns only from ``labels=``, which holds probe-train neurons alone; an unsupervised
    one is fitted without ``labels=``."""
    recs = recordings(_first_modality(info))
    fit_recs, unseen = _split(recs)
    tables = {r.recording: _Labels(r.recording) for r in recs}
    given = [dataclasses.replace(r, labels=tables[r.recording]) for r in _embedded(info, fit_recs, unseen)]
    model = _build(info, preset)
    error: Exception | None = None
    try:
        if info.supervised:
            model.fit(given[:len(fit_recs)], seed=SEED, labels=probe_train_labels(fit_recs))
        else:
            model.fit(given[:len(fit_recs)], seed=SEED)
        model.embed(given)
    except Exception as e:  # reported below, after any read of the labels
        error = e
    reads = [read for table in tables.values() for read in table.reads]
    if reads:
        raise AssertionError(f"the method read the labels of the recordings it was given ({len(reads)} time(s), "
                             f"e.g. {reads[0]}): methods never see labels; a supervised one gets the probe-train "
                             "labels as fit(..., labels=...) only")
    if error is not None:
        raise AssertionError(f"fit or embed raised {type(error).__name__}: {error}")


def check_fit_returns_self(info: MethodInfo, preset: str | None = None) -> None:
    """``fit`` returns the model itself (scikit-learn's rule; the harness refuses anything
    else), and a method that declares ``uses_torch`` exposes ``device_`` after ``fit``:
    here ``"cpu"``, where it was asked to run."""
    fit_recs, _ = _split(recordings(_first_modality(info)))
    model = _build(info, preset)
    try:
        fitted(info, model, _fit(info, model, fit_recs))
    except NeuronbenchError as e:
        raise AssertionError(str(e)) from None
    ran_on = device_of(info, model)
    if not ran_on.startswith("cpu"):
        raise AssertionError(f"built with device='cpu', the fitted model says it ran on {ran_on!r} (device_)")


def check_embeds_one_finite_row_per_neuron(info: MethodInfo, preset: str | None = None) -> None:
    """``embed`` returns a DataFrame indexed by neuron_id with exactly one row of finite
    numbers per neuron of the recordings given, unseen animals included where the method
    supports the inductive setting."""
    table, embedded = _fit_and_embed(info, preset, recordings(_first_modality(info)))
    _rows(table, _ids(embedded))


def check_same_seed_same_embedding(info: MethodInfo, preset: str | None = None) -> None:
    """Two models built from one config and fitted with one seed embed identically."""
    recs = recordings(_first_modality(info))
    first, _ = _fit_and_embed(info, preset, recs)
    second, _ = _fit_and_embed(info, preset, recs)
    if not first.sort_index().equals(second.sort_index()):
        a, b = first.sort_index().to_numpy(dtype=float), second.sort_index().to_numpy(dtype=float)
        diff = f"; largest difference {np.nanmax(np.abs(a - b)):.3g}" if a.shape == b.shape else ""
        raise AssertionError(f"two fits with seed {SEED} gave different embeddings (shapes {first.shape}, "
                             f"{second.shape}{diff}): draw every random number from fit's seed and use "
                             "deterministic operations")


def check_refuses_embed_before_fit(info: MethodInfo, preset: str | None = None) -> None:
    """``embed`` before ``fit`` raises, unless the method has nothing to learn: then it
    gives exactly what it gives after ``fit``."""
    fit_recs, unseen = _split(recordings(_first_modality(info)))
    embedded = _embedded(info, fit_recs, unseen)
    try:
        unfitted = _build(info, preset).embed([r.without_labels() for r in embedded])
    except Exception:
        return  # refused
    fitted, _ = _fit_and_embed(info, preset, fit_recs + unseen)
    if not (isinstance(unfitted, pd.DataFrame) and unfitted.sort_index().equals(fitted.sort_index())):
        raise AssertionError("embed before fit returned an embedding, without an error, that differs from the one "
                             "after fit: raise an error when embed is called before fit")


def check_handles_silent_units(info: MethodInfo, preset: str | None = None) -> None:
    """Units with no spike or a single one (calcium: a constant trace, a trace of noise
    alone) do not stop fit or embed and get a finite embedding, in every declared modality."""
    for modality in info.modalities or (_first_modality(info),):
        recs = recordings(modality, silent=True)
        try:
            table, embedded = _fit_and_embed(info, preset, recs)
            silent = [r.neuron_ids[i] for r in embedded for i in (0, 1)]
            _rows(table.loc[table.index.intersection(silent)], silent, "embed of the silent units")
        except AssertionError as e:
            raise AssertionError(f"{modality} recordings with silent units: {e}") from None


def check_declared_modalities(info: MethodInfo, preset: str | None = None) -> None:
    """The method runs on every modality it declares (`MethodInfo.modalities`), given only
    the optional fields it declares in `MethodInfo.requires` (no waveforms, no behaviour
    unless required)."""
    if not info.modalities or set(info.modalities) - {"spikes", "calcium"}:
        raise AssertionError(f"MethodInfo.modalities: expected 'spikes' and/or 'calcium', got {info.modalities}")
    unknown = sorted(set(info.requires) - set(OPTIONAL_FIELDS))
    if unknown:
        raise AssertionError(f"MethodInfo.requires: expected some of {OPTIONAL_FIELDS}, got {unknown}")
    for modality in info.modalities:
        try:
            _fit_and_embed(info, preset, recordings(modality, optional=info.requires))
        except AssertionError as e:
            given = " and ".join(info.requires) or "no optional field"
            raise AssertionError(f"{modality} recordings with {given}: {e}") from None


CHECKS: tuple[Callable[[MethodInfo, str | None], None], ...] = (
    check_fit_returns_self,
    check_labels_never_reach_fit,
    check_embeds_one_finite_row_per_neuron,
    check_same_seed_same_embedding,
    check_refuses_embed_before_fit,
    check_handles_silent_units,
    check_declared_modalities,
)


def run_check(check: Callable[[MethodInfo, str | None], None], info: MethodInfo,
              preset: str | None = None) -> str | None:
    """Run one check; None if it passed, else why it failed."""
    try:
        check(info, preset)
    except Exception as e:  # an AssertionError of a check, or a bug the check did not foresee
        return str(e) if isinstance(e, AssertionError) else f"raised {type(e).__name__}: {e}"
    return None


def check_method(info: MethodInfo, preset: str | None = None,
                 checks: Sequence[Callable[[MethodInfo, str | None], None]] = CHECKS) -> None:
    """Run every check of ``checks`` on the method of ``info`` with ``preset`` (default:
    ``"tiny"`` where the method has it, else ``"cpu"``; an unknown one is a
    NeuronbenchError); raise one AssertionError naming each check that failed and why."""
    info.config(_preset(info, preset))
    failures = [f"{check.__name__}: {why}" for check in checks if (why := run_check(check, info, preset))]
    if failures:
        raise AssertionError(f"method {info.name!r} (preset {_preset(info, preset)!r}) failed "
                             f"{len(failures)} of {len(checks)} conformance checks:\n- " + "\n- ".join(failures))

