"""Allen Visual Coding Neuropixels (Siegle et al. 2021) (docs/datasets.md).

Source: DANDI 000021 (Brain Observatory 1.1 sessions, which hold all 16 labelled
sessions), pinned version `DANDI_VERSION`; the session NWB files only (not the per-probe
LFP files), each verified against the sha256 DANDI publishes. Any other session file
(e.g. the functional-connectivity sessions of DANDI 000022) put in the raw folder is
read too.

Native layout: one NWB (HDF5) file per session, read with h5py: ``units/spike_times``
+ ``units/spike_times_index`` (unit i's spikes are ``spike_times[idx[i-1]:idx[i]]``),
``units/peak_channel_id``, ``units/quality``, ``units/waveform_mean`` (+ index: one row
per channel of the unit's probe); ``general/extracellular_ephys/electrodes`` (``id``,
``location``, ``probe_id``); stimulus tables ``intervals/<stim>_presentations``;
optotagging ``processing/optotagging/optogenetic_stimulation``; genotype in
``general/subject/genotype``.

Canonical form: one spikes `Recording` per probe, id ``<session>_p<i>`` (i = rank of the
probe id among the probes with kept units, NuCLR's ids), animal = the session id (every
mouse of this release was recorded in one session, so it names the mouse).
- Units: quality ``good`` and AllenSDK's default unit filter (amplitude_cutoff <= 0.1,
  presence_ratio >= 0.9, isi_violations <= 0.5; the units NuCLR read through AllenSDK),
  whose peak channel's ``location`` starts with ``VIS``; unit = the NWB unit id.
- Cell types are derived with the published rule: over the 10 ms light pulses
  (0.009 s < duration < 0.02 s), a unit is Cre+ when its evoked rate (spikes 1-9 ms after
  onset) / (baseline rate (-10 to -2 ms) + 1) > 2, rates in Hz averaged over pulses;
  ``cell_type`` = the session's Cre line (Pvalb, Sst, Vip) for Cre+ units, else None.
  ``area`` keeps the unit's VIS area.
- Spikes from 300 s before the first optotagging stimulus on are cut (after the
  labels are derived); the recording stops there. The published protocol labels and
  cuts every session by its optotagging stimuli and names no session without them, so a
  file without ``processing/optotagging`` is an error, not a silently unlabelled,
  uncut session.
- Epochs: runs of consecutive presentations of one stimulus (``intervals/*_presentations``).
- Waveforms: ``waveform_mean`` on the unit's largest-amplitude channel, 30 kHz.
- x, y, z stay NaN.

Published protocol (NuCLR; frozen as ``eval_animals`` in
`neuronbench.catalog`): leave-one-session-out over the 16 labelled
sessions; pretraining includes them (transductive zero-shot) or excludes all of them
(inductive).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from neuronbench.data.download import dandi_sources, download_all, require
from neuronbench.data.native import clip_epochs, merge_runs, spikes_csr
from neuronbench.data.recording import Recording, neuron_id
from neuronbench.errors import NeuronbenchError

NAME = "allen"
DANDISET = "000021"
DANDI_VERSION = "0.251116.2246"
CRE_LINES: tuple[str, ...] = ("Pvalb", "Sst", "Vip")
LABEL_COLUMNS: tuple[str, ...] = ("cell_type", "area")
QC_LIMITS = {"amplitude_cutoff": ("<=", 0.1), "presence_ratio": (">=", 0.9), "isi_violations": ("<=", 0.5)}
PULSE_DURATION_S = (0.009, 0.02)
BASELINE_S = (-0.010, -0.002)
EVOKED_S = (0.001, 0.009)
CRE_RATIO = 2.0
CUT_BEFORE_OPTO_S = 300.0
WAVEFORM_RATE = 30000.0
PARAMS = {"source": f"dandi:{DANDISET}/{DANDI_VERSION}", "qc": QC_LIMITS,
          "cut_before_optotagging_s": CUT_BEFORE_OPTO_S}
DESCRIPTION = "Allen Visual Coding Neuropixels: VIS units, opto-tagged Pvalb/Sst/Vip"
ELECTRODES = "general/extracellular_ephys/electrodes"
OPTO = "processing/optotagging/optogenetic_stimulation"


def _is_session_file(path: str) -> bool:
    return path.endswith(".nwb") and "_probe-" not in path


def download(to: Path, *, progress: bool = True) -> Path:
    """Fetch the session NWB files of the pinned DANDI version into ``to``."""
    pinned = {"dandiset": DANDISET, "version": DANDI_VERSION, "files": "session NWB (no _probe- LFP files)"}
    download_all(
        to,
        pinned,
        lambda: dandi_sources(DANDISET, DANDI_VERSION, keep=_is_session_file),
        progress=progress,
        unpack=False,
    )
    return Path(to)


def _strings(ds) -> np.ndarray:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(ds[()])], dtype=object)


def _dataset(f, key: str, path: Path):
    if key not in f:
        raise NeuronbenchError(f"{path}: field {key!r}: missing (expected an Allen ecephys session NWB file)")
    return f[key]


def _ragged_bounds(f, key: str, path: Path) -> np.ndarray:
    """Row bounds of a ragged NWB column: bounds[i]:bounds[i + 1] are unit i's rows."""
    index = _dataset(f, f"{key}_index", path)[()].astype(np.int64)
    if np.any(np.diff(index) < 0) or (len(index) and index[-1] != f[key].shape[0]):
        raise NeuronbenchError(f"{path}: field '{key}_index': expected non-decreasing ends up to {f[key].shape[0]}")
    return np.concatenate([[0], index])


def cre_positive(spikes: list[np.ndarray], onsets: np.ndarray) -> np.ndarray:
    """The opto-tagging rule per unit: evoked rate / (baseline rate + 1) > 2."""
    if len(onsets) == 0 or not spikes:
        return np.zeros(len(spikes), dtype=bool)
    lengths = np.array([len(s) for s in spikes])
    span = max(float(np.max(np.concatenate(spikes), initial=0.0)), float(onsets.max())) + 100.0
    unit = np.repeat(np.arange(len(spikes)), lengths)
    flat = np.concatenate(spikes) + unit * span  # each unit's sorted train in its own range
    base = (np.arange(len(spikes)) * span)[:, None] + onsets[None, :]

    def rate(window: tuple[float, float]) -> np.ndarray:
        counts = np.searchsorted(flat, base + window[1]) - np.searchsorted(flat, base + window[0])
        return counts.mean(axis=1) / (window[1] - window[0])

    return rate(EVOKED_S) / (rate(BASELINE_S) + 1.0) > CRE_RATIO


def _epochs(f) -> pd.DataFrame:
    starts, stops, names = [], [], []
    for key in sorted(f.get("intervals", {})):
        if key.endswith("_presentations"):
            g = f["intervals"][key]
            starts.append(g["start_time"][()])
            stops.append(g["stop_time"][()])
            names.append(np.full(len(starts[-1]), key[: -len("_presentations")], dtype=object))
    if not starts:
        return pd.DataFrame({"start": [], "stop": [], "stimulus": []})
    return merge_runs(np.concatenate(starts), np.concatenate(stops), np.concatenate(names))


def _keep_mask(f, path: Path, n: int) -> np.ndarray:
    keep = np.ones(n, dtype=bool)
    if "units/quality" in f:
        keep &= _strings(f["units/quality"]) == "good"
    for column, (op, limit) in QC_LIMITS.items():
        if f"units/{column}" in f:
            v = f[f"units/{column}"][()].astype(np.float64)
            keep &= (v <= limit) if op == "<=" else (v >= limit)
    return keep


def _waveforms(f, rows: np.ndarray) -> np.ndarray | None:
    """The largest-amplitude channel's mean waveform of the units at ``rows``."""
    if "units/waveform_mean" not in f:
        return None
    wm = f["units/waveform_mean"]
    if "units/waveform_mean_index" in f:
        bounds = np.concatenate([[0], f["units/waveform_mean_index"][()].astype(np.int64)])
        blocks = [wm[bounds[r] : bounds[r + 1]] for r in rows]  # (channels, samples) per unit
    else:
        blocks = [np.atleast_2d(wm[r]) for r in rows]
    out = [b[np.argmax(b.max(axis=1) - b.min(axis=1))] for b in blocks]
    return np.asarray(out, dtype=np.float32)


def load_session(path: Path) -> list[Recording]:
    """One session NWB file as one recording per probe (VIS units only)."""
    h5py = require("h5py")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise NeuronbenchError(f"{path}: not a readable NWB (HDF5) file ({e})") from None
    with f:
        session = next(
            (_strings(f[k])[0] for k in ("general/session_id", "identifier") if isinstance(f.get(k), h5py.Dataset)),
            path.stem,
        )  # NWB 2.x keeps `identifier` as a dataset at the root
        session = re.sub(r"[^A-Za-z0-9_.-]", "_", session)
        unit_ids = _dataset(f, "units/id", path)[()]
        n = len(unit_ids)
        bounds = _ragged_bounds(f, "units/spike_times", path)
        if len(bounds) != n + 1:
            raise NeuronbenchError(
                f"{path}: field 'units/spike_times_index': expected {n} entries, got {len(bounds) - 1}"
            )
        peak = _dataset(f, "units/peak_channel_id", path)[()].astype(np.int64)
        elec_ids = _dataset(f, f"{ELECTRODES}/id", path)[()].astype(np.int64)
        location = _strings(_dataset(f, f"{ELECTRODES}/location", path))
        probe_of = (
            f[f"{ELECTRODES}/probe_id"][()]
            if f"{ELECTRODES}/probe_id" in f
            else _strings(_dataset(f, f"{ELECTRODES}/group_name", path))
        )
        row_of = pd.Series(np.arange(len(elec_ids)), index=elec_ids)
        missing = ~np.isin(peak, elec_ids)
        if missing.any():
            raise NeuronbenchError(
                f"{path}: field 'units/peak_channel_id': channel id(s) {peak[missing][:5].tolist()} "
                f"not in {ELECTRODES}/id"
            )
        chan = row_of.loc[peak].to_numpy()
        area = location[chan]
        keep = np.flatnonzero(_keep_mask(f, path, n) & np.array([a.startswith("VIS") for a in area], dtype=bool))
        if len(keep) == 0:
            return []
        st = f["units/spike_times"]
        spikes = [np.sort(st[bounds[i] : bounds[i + 1]].astype(np.float64)) for i in keep]

        genotype = _strings(f["general/subject/genotype"])[0] if "general/subject/genotype" in f else ""
        cre = next((c for c in CRE_LINES if genotype.startswith(c)), None)
        t_stop = max(float(np.max(np.concatenate(spikes), initial=0.0)), 0.0)
        positive = np.zeros(len(keep), dtype=bool)
        start = _dataset(f, f"{OPTO}/start_time", path)[()].astype(np.float64)
        if len(start) == 0 or not np.isfinite(start).all():
            raise NeuronbenchError(f"{path}: field '{OPTO}/start_time': expected the finite onsets of the "
                                   f"optotagging stimuli, got {len(start)} value(s) (some not finite)")
        duration = (
            _dataset(f, f"{OPTO}/duration", path)[()] if f"{OPTO}/duration" in f
            else _dataset(f, f"{OPTO}/stop_time", path)[()] - start
        ).astype(np.float64)
        if duration.shape != start.shape:
            raise NeuronbenchError(f"{path}: field '{OPTO}/duration': expected {len(start)} values "
                                   f"(one per start_time), got {duration.shape}")
        pulses = np.sort(start[(duration > PULSE_DURATION_S[0]) & (duration < PULSE_DURATION_S[1])])
        if cre is not None:
            positive = cre_positive(spikes, pulses)
        t_stop = float(start.min()) - CUT_BEFORE_OPTO_S
        t_start = min(0.0, min((float(s[0]) for s in spikes if len(s)), default=0.0))
        if t_stop <= t_start:
            raise NeuronbenchError(
                f"{path}: field '{OPTO}/start_time': optotagging starts before "
                f"{CUT_BEFORE_OPTO_S} s: nothing is left before the cut"
            )
        spikes = [s[s < t_stop] for s in spikes]
        waveforms = _waveforms(f, keep)
        epochs = clip_epochs(_epochs(f), t_start, t_stop)
        probes = np.asarray(probe_of)[chan[keep]]

    recs = []
    for i, probe in enumerate(np.unique(probes)):
        sel = np.flatnonzero(probes == probe)
        rec_id = f"{session}_p{i}"
        names = [str(int(u)) for u in unit_ids[keep[sel]]]
        ids = [neuron_id(NAME, rec_id, u) for u in names]
        lengths = [len(spikes[j]) for j in sel]
        spike_times, offsets = spikes_csr(
            np.concatenate([spikes[j] for j in sel]),
            np.repeat(np.arange(len(sel)), lengths),
            len(sel),
        )
        rec = Recording(
            dataset=NAME,
            animal=session,
            recording=rec_id,
            modality="spikes",
            neurons=pd.DataFrame(
                {"neuron_id": ids, "unit": names, "track_id": None, "x": np.nan, "y": np.nan, "z": np.nan}
            ),
            t_start=t_start,
            t_stop=t_stop,
            epochs=epochs.copy(),
            spike_times=spike_times,
            spike_offsets=offsets,
            waveforms=None if waveforms is None else waveforms[sel],
            waveform_rate=None if waveforms is None else WAVEFORM_RATE,
            labels=pd.DataFrame(
                {
                    "neuron_id": ids,
                    "cell_type": [cre if p else None for p in positive[sel]],
                    "area": list(area[keep[sel]]),
                }
            ),
        )
        recs.append(rec.validate(where=str(path)))
    return recs


def session_files(raw_dir: Path) -> list[Path]:
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise NeuronbenchError(f"{raw_dir}: not a folder")
    files = sorted(p for p in raw_dir.rglob("*.nwb") if _is_session_file(p.name))
    if not files:
        raise NeuronbenchError(f"{raw_dir}: no session .nwb file found (run `neuronbench data download allen`)")
    return files


def load(raw_dir: Path, report: list[str] | None = None) -> list[Recording]:
    """Every session file under ``raw_dir`` as recordings (``report``: the prepare
    contract's; nothing here is skipped rather than fatal)."""
    recs = [r for p in session_files(raw_dir) for r in load_session(p)]
    if not recs:
        raise NeuronbenchError(f"{raw_dir}: no unit in a VIS area passes the unit filter in any session file")
    return recs
